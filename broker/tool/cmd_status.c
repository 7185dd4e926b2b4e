/* refbus-broker status: the running broker's state as JSON, from its admin socket. */
#include "broker/tool/cli.h"

static const char usage_text[] =
    "usage: refbus-broker status [-c FILE | -d DIR | -a ENDPOINT]\n"
    "  Prints the running broker's state as JSON (peers, queue depth per agency, audit size,\n"
    "  last checkpoint, storage, process).\n" CLI_ADMIN_HELP;

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {CLI_ADMIN_OPTS, {NULL, 0, NULL, 0}};
    refbus_broker_config cfg;
    cli_conf cc = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_ADMIN_SHORT, opts, NULL)) != -1)
        if (!cli_conf_opt(&cc, c, usage_text))
            return cli_bad_option("status", c, argv, opts);
    if (optind != argc)
        return cli_misuse("status", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_conf_apply("status", &cc, &cfg, 1)) != 0)
        return rc;
    return cli_admin("status", &cfg, NULL, 0, 5000);
}
