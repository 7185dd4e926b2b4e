/* refbus-node outbox: what waits for the broker, paged, or where one message stands
 * (pending, failed, or accepted). */
#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node outbox [--after SEQ] [--limit N] [options]\n"
    "       refbus-node outbox MSGID [options]\n"
    "  Lists what waits for the broker (a page: \"more\" says whether there is more), or\n"
    "  shows one message: pending, failed (with the broker's reason), or accepted.\n"
    "      --after SEQ            entries with a sequence number above SEQ\n"
    "      --limit N              at most N (1 to 1000)\n" CLI_CLIENT_HELP;

static int outbox_show(cli_state *g, const char *msg_id, uint64_t after, unsigned limit)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = cli_connect(g, &n, "outbox");
    if (rc)
        return rc;
    rc = msg_id ? refbus_node_outbox(n, msg_id, &reply)
                : refbus_node_outbox_list(n, after, limit, &reply);
    return cli_finish(g, &n, "outbox", rc, reply);
}

int cmd_outbox(int argc, char **argv)
{
    cli_page page = {0};
    cli_state st = {0};
    int rc = cli_paged_opts(&st, &page, "outbox", argc, argv, usage_text);
    if (rc)
        return rc;
    if (optind < argc - 1)
        return cli_misuse("outbox", "unexpected argument '%s'", argv[optind + 1]);
    if (optind < argc && page.given)
        return cli_misuse("outbox", "MSGID: --after and --limit page the list, not one message");
    if ((rc = cli_ready(&st, "outbox")) != 0)
        return rc;
    return outbox_show(&st, optind < argc ? argv[optind] : NULL, page.after, (unsigned)page.limit);
}
