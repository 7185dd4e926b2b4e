/* refbus-node init: create the agency's new, empty encrypted store in the data directory —
 * the one explicit act that starts a store (`run` never makes one). */
#include <stdio.h>

#include "nodes/client/cli.h"
#include "nodes/daemon/daemon.h"

static const char usage_text[] =
    "usage: refbus-node init [-c FILE] [options]\n"
    "  Creates a new, empty store in DATA_DIR (once); its records are sealed with a key\n"
    "  derived from the bundle's storage key.\n" CLI_DAEMON_HELP;

int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {CLI_DAEMON_OPTS, {NULL, 0, NULL, 0}};
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_DAEMON_SHORT, opts, NULL)) != -1)
        if ((rc = cli_opt(&st, "init", c, argv, opts, usage_text)) != 0)
            return rc;
    if (optind != argc)
        return cli_misuse("init", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_ready(&st, "init")) != 0)
        return rc;
    if ((rc = cli_daemon_ready(&st, "init")) != 0)
        return rc;
    if ((rc = refbus_node_daemon_init(&st.cfg)) != 0) {
        fprintf(stderr, "refbus-node init: %s (%s)\n", refbus_strerror(rc), refbus_errname(rc));
        return REFBUS_EXIT_FAIL;
    }
    return 0;
}
