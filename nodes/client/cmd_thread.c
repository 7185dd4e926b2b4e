/* refbus-node thread show: a referral thread's state per agency and its history. */
#include <string.h>

#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node thread show THREAD_ID [options]\n"
    "  Shows a thread's state per agency and its history.\n" CLI_CLIENT_HELP;

static int thread_show(cli_state *g, const char *thread_id)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = cli_connect(g, &n, "thread show");
    if (rc)
        return rc;
    rc = refbus_node_thread_show(n, thread_id, &reply);
    return cli_finish(g, &n, "thread show", rc, reply);
}

int cmd_thread(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS, {NULL, 0, NULL, 0}};
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT, opts, NULL)) != -1)
        if ((rc = cli_opt(&st, "thread", c, argv, opts, usage_text)) != 0)
            return rc;
    if (optind == argc)
        return cli_misuse("thread", "expected 'show THREAD_ID'");
    if (strcmp(argv[optind], "show") != 0)
        return cli_misuse("thread", "expected 'show', got '%s'", argv[optind]);
    if (optind + 1 == argc)
        return cli_misuse("thread", "show: which thread? (THREAD_ID)");
    if (optind + 2 != argc)
        return cli_misuse("thread", "unexpected argument '%s'", argv[optind + 2]);
    if ((rc = cli_ready(&st, "thread")) != 0)
        return rc;
    return thread_show(&st, argv[optind + 1]);
}
