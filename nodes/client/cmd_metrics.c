/* refbus-node metrics: the running daemon's state in the Prometheus text format, for a scraper
 * (health.c turns its status into it). */
#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node metrics [options]\n"
    "  Prints the node's counters (refbus_node_*_total) and gauges (outbox, inbox, broker\n"
    "  session and how long it has been down, audit alarm, checkpoint, directory serial) in\n"
    "  the Prometheus text format. Exit 1 when no daemon answers.\n" CLI_CLIENT_HELP;

int cmd_metrics(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS, {NULL, 0, NULL, 0}};
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT, opts, NULL)) != -1)
        if ((rc = cli_opt(&st, "metrics", c, argv, opts, usage_text)) != 0)
            return rc;
    if (optind != argc)
        return cli_misuse("metrics", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_ready(&st, "metrics")) != 0)
        return rc;
    return cli_node_metrics(&st);
}
