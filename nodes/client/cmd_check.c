/* refbus-node check: the running daemon's health for monitoring, one line and the exit status
 * 0 healthy, 1 degraded, 2 failing (health.c judges its status). */
#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node check [--max-down SECONDS] [options]\n"
    "  Prints one line, OK:, DEGRADED: or FAILED: with every reason found, and exits 0, 1 or 2\n"
    "  (2 also for a usage error). Failing: no daemon answers, a checkpoint alarm, this\n"
    "  agency's key is not active. Degraded: no session with the broker for more than\n"
    "  --max-down seconds (default 300), an unproven checkpoint, outbox entries "
    "failed.\n" CLI_CLIENT_HELP "      --max-down SECONDS     see above\n";

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS,
                                         {"max-down", required_argument, NULL, OPT_MAX_DOWN},
                                         {NULL, 0, NULL, 0}};
    cli_state st = {0};
    unsigned long long max_down = 300;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT, opts, NULL)) != -1) {
        if (c == OPT_MAX_DOWN)
            rc = cli_number("check", "--max-down", optarg, 1, 100000000ull, &max_down);
        else
            rc = cli_opt(&st, "check", c, argv, opts, usage_text);
        if (rc != 0)
            return rc;
    }
    if (optind != argc)
        return cli_misuse("check", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_ready(&st, "check")) != 0)
        return rc;
    return cli_node_check(&st, max_down);
}
