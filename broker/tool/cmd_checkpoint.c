/* refbus-broker checkpoint: ask the running broker, through its admin socket, for a signed
 * audit checkpoint now. */
#include "broker/tool/cli.h"

static const char usage_text[] =
    "usage: refbus-broker checkpoint [-c FILE | -d DIR | -a ENDPOINT]\n"
    "  Asks the running broker for a signed audit checkpoint now.\n" CLI_ADMIN_HELP;

int cmd_checkpoint(int argc, char **argv)
{
    static const struct option opts[] = {CLI_ADMIN_OPTS, {NULL, 0, NULL, 0}};
    refbus_broker_config cfg;
    cli_conf cc = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_ADMIN_SHORT, opts, NULL)) != -1)
        if (!cli_conf_opt(&cc, c, usage_text))
            return cli_bad_option("checkpoint", c, argv, opts);
    if (optind != argc)
        return cli_misuse("checkpoint", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_conf_apply("checkpoint", &cc, &cfg, 1)) != 0)
        return rc;
    return cli_admin("checkpoint", &cfg, NULL, 0, 5000);
}
