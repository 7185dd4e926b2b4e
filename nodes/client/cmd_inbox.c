/* refbus-node inbox: the messages received, oldest first and paged, or one of them. */
#include <string.h>

#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node inbox [list] [--after SEQ] [--limit N] [options]\n"
    "       refbus-node inbox show ID [options]\n"
    "  Lists the received messages, oldest first (a page of them: \"more\" says whether there\n"
    "  are others after), or shows one, by sequence number or msg id.\n"
    "      --after SEQ            those with a sequence number above SEQ\n"
    "      --limit N              at most N (1 to 1000)\n" CLI_CLIENT_HELP;

static int inbox_list(cli_state *g, uint64_t after, unsigned limit)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = cli_connect(g, &n, "inbox list");
    if (rc)
        return rc;
    rc = refbus_node_inbox_poll(n, after, limit, &reply);
    return cli_finish(g, &n, "inbox list", rc, reply);
}

static int inbox_show(cli_state *g, const char *id)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = cli_connect(g, &n, "inbox show");
    if (rc)
        return rc;
    rc = refbus_node_inbox_show(n, id, &reply);
    return cli_finish(g, &n, "inbox show", rc, reply);
}

int cmd_inbox(int argc, char **argv)
{
    cli_page page = {0};
    cli_state st = {0};
    int rc = cli_paged_opts(&st, &page, "inbox", argc, argv, usage_text);
    if (rc)
        return rc;
    const char *verb = optind < argc ? argv[optind] : "list";
    int nargs = argc - optind - (optind < argc);
    if (strcmp(verb, "list") == 0 && nargs > 0)
        return cli_misuse("inbox", "unexpected argument '%s'", argv[optind + 1]);
    if (strcmp(verb, "show") == 0 && nargs != 1)
        return nargs ? cli_misuse("inbox", "unexpected argument '%s'", argv[optind + 2])
                     : cli_misuse("inbox", "show: which message? (ID)");
    if (strcmp(verb, "show") == 0 && page.given)
        return cli_misuse("inbox", "show: --after and --limit page the list, not one message");
    if (strcmp(verb, "list") != 0 && strcmp(verb, "show") != 0)
        return cli_misuse("inbox", "expected 'list' or 'show', got '%s'", verb);
    if ((rc = cli_ready(&st, "inbox")) != 0)
        return rc;
    if (strcmp(verb, "show") == 0)
        return inbox_show(&st, argv[optind + 1]);
    return inbox_list(&st, page.after, (unsigned)page.limit);
}
