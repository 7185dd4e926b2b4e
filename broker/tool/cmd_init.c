/* refbus-broker init: create a new, empty store — the one explicit act that starts one (`run`
 * never does, so that a lost store is noticed instead of silently replaced). */
#include <stdio.h>

#include "broker/tool/cli.h"
#include "common/log.h"

static const char usage_text[] =
    "usage: refbus-broker init [-c FILE] [-d DIR] [options]\n"
    "  Creates a new, empty store in the data directory (made mode 0700 if missing); refuses\n"
    "  when a data.mdb is already there.\n" CLI_DAEMON_HELP;

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {CLI_DAEMON_OPTS, {NULL, 0, NULL, 0}};
    refbus_broker_config cfg;
    cli_conf cc = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_DAEMON_SHORT, opts, NULL)) != -1)
        if (!cli_conf_opt(&cc, c, usage_text))
            return cli_bad_option("init", c, argv, opts);
    if (optind != argc)
        return cli_misuse("init", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_conf_apply("init", &cc, &cfg, 0)) != 0)
        return rc;
    refbus_log_init("refbus-broker", (enum refbus_log_level)cfg.log_level, cfg.syslog);
    if ((rc = refbus_broker_init(&cfg)) != 0) {
        log_error("init: %s", refbus_strerror(rc));
        return REFBUS_EXIT_FAIL;
    }
    return 0;
}
