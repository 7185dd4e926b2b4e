/* refbus-node status: the node's state (broker session, queues, key epoch, audit anchor). */
#include "nodes/client/cli.h"

static const char usage_text[] = "usage: refbus-node status [options]\n"
                                 "  Prints the running node's state as JSON.\n" CLI_CLIENT_HELP;

static int node_status(cli_state *g)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = cli_connect(g, &n, "status");
    if (rc)
        return rc;
    rc = refbus_node_status(n, &reply);
    return cli_finish(g, &n, "status", rc, reply);
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS, {NULL, 0, NULL, 0}};
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT, opts, NULL)) != -1)
        if ((rc = cli_opt(&st, "status", c, argv, opts, usage_text)) != 0)
            return rc;
    if (optind != argc)
        return cli_misuse("status", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_ready(&st, "status")) != 0)
        return rc;
    return node_status(&st);
}
