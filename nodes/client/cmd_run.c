/* refbus-node run: the agency daemon in the foreground — its broker session, outbox, inbox,
 * receipts and control socket — on a store made by init, until SIGTERM or SIGINT. */
#include <stdio.h>

#include "nodes/client/cli.h"
#include "nodes/daemon/daemon.h"

static const char usage_text[] =
    "usage: refbus-node run [-c FILE] [options]\n"
    "  Runs the node daemon in the foreground on the store made by init, until SIGTERM\n"
    "  or SIGINT.\n" CLI_DAEMON_HELP;

int cmd_run(int argc, char **argv)
{
    static const struct option opts[] = {CLI_DAEMON_OPTS, {NULL, 0, NULL, 0}};
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_DAEMON_SHORT, opts, NULL)) != -1)
        if ((rc = cli_opt(&st, "run", c, argv, opts, usage_text)) != 0)
            return rc;
    if (optind != argc)
        return cli_misuse("run", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_ready(&st, "run")) != 0)
        return rc;
    if ((rc = cli_daemon_ready(&st, "run")) != 0)
        return rc;
    if ((rc = refbus_node_daemon_run(&st.cfg)) != 0) {
        fprintf(stderr, "refbus-node run: %s (%s)\n", refbus_strerror(rc), refbus_errname(rc));
        return REFBUS_EXIT_FAIL;
    }
    return 0;
}
