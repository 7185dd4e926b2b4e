/* refbus-broker run (also what `refbus-broker` with no command does): the broker's lifecycle —
 * open the existing store, serve until SIGTERM or SIGINT, close. */
#include <signal.h>
#include <string.h>

#include "broker/tool/cli.h"
#include "common/log.h"

static const char usage_text[] =
    "usage: refbus-broker [run] [-c FILE] [options]\n"
    "  Runs the broker in the foreground on an existing store (see init) until SIGTERM or\n"
    "  SIGINT.\n" CLI_DAEMON_HELP;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {CLI_DAEMON_OPTS, {NULL, 0, NULL, 0}};
    refbus_broker_config cfg;
    cli_conf cc = {0};
    refbus_broker *b = NULL;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_DAEMON_SHORT, opts, NULL)) != -1)
        if (!cli_conf_opt(&cc, c, usage_text))
            return cli_bad_option("run", c, argv, opts);
    if (optind != argc)
        return cli_misuse("run", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_conf_apply("run", &cc, &cfg, 0)) != 0)
        return rc;
    refbus_log_init("refbus-broker", (enum refbus_log_level)cfg.log_level, cfg.syslog);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = refbus_broker_open(&b, &cfg, &stop_flag)) != 0) {
        log_error("cannot start: %s", refbus_strerror(rc));
        return REFBUS_EXIT_FAIL;
    }
    rc = refbus_broker_run(b);
    refbus_broker_close(&b);
    if (rc != 0) {
        /* Exit non-zero with the reason: the supervisor restarts us, and a store that cannot
         * be opened again is then refused with its file named. */
        log_error("stopping: %s", refbus_strerror(rc));
        return REFBUS_EXIT_FAIL;
    }
    return 0;
}
