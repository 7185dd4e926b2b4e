/* refbus-broker metrics: the running broker's Prometheus text (format 0.0.4), from its admin
 * socket, for a scraper (docs/ADMIN-GUIDE.md "Health check and metrics"). */
#include <stdio.h>
#include <stdlib.h>

#include "broker/tool/cli.h"

static const char usage_text[] =
    "usage: refbus-broker metrics [-c FILE | -d DIR | -a ENDPOINT]\n"
    "  Prints the running broker's metrics in the Prometheus text format: counters since it\n"
    "  started, the commit latency histogram, queues and their oldest referral per agency,\n"
    "  peers, storage, audit trail and checkpoint. Exit 1 when the broker does not "
    "answer.\n" CLI_ADMIN_HELP;

int cmd_metrics(int argc, char **argv)
{
    static const struct option opts[] = {CLI_ADMIN_OPTS, {NULL, 0, NULL, 0}};
    refbus_broker_config cfg;
    cli_conf cc = {0};
    char *text = NULL;
    size_t len = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_ADMIN_SHORT, opts, NULL)) != -1)
        if (!cli_conf_opt(&cc, c, usage_text))
            return cli_bad_option("metrics", c, argv, opts);
    if (optind != argc)
        return cli_misuse("metrics", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_conf_apply("metrics", &cc, &cfg, 1)) != 0)
        return rc;
    if ((rc = refbus_broker_admin_fetch(cfg.admin, "metrics", &text, &len, 5000)) != 0) {
        fprintf(stderr, "refbus-broker metrics: no answer from %s (is the broker running?)\n",
                cfg.admin);
        return REFBUS_EXIT_FAIL;
    }
    fwrite(text, 1, len, stdout);
    free(text);
    return fflush(stdout) == 0 ? 0 : REFBUS_EXIT_FAIL;
}
