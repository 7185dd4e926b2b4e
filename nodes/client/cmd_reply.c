/* refbus-node reply: answer in the thread of a received message (or, for the referring agency,
 * cancel it): a status, a reason code when declining, a note's text. */
#include <stdlib.h>
#include <string.h>

#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node reply MSGID --status S [--reason-code X] [--text T | --text-file F]\n"
    "                         [--msg-id HEX] [options]\n"
    "  Answers in the thread of message MSGID.\n"
    "  -S, --status S             received, accepted, declined (needs --reason-code),\n"
    "                             in_progress, completed, note (needs --text); the\n"
    "                             referring agency: cancelled, consent_withdrawn\n"
    "  -r, --reason-code X        why it was declined\n"
    "  -T, --text T               a note's text\n"
    "      --text-file F          the note's text from a file ('-': standard input)\n"
    "      --msg-id HEX           the answer's own id (32 hex digits) chosen by the caller,\n"
    "                             so that a retry cannot answer twice\n" CLI_CLIENT_HELP;

static int send_reply(cli_state *g, const char *msg_id, const char *status, const char *reason_code,
                      const char *text, const char *text_file, const char *reply_id)
{
    refbus_node *n = NULL;
    char *reply = NULL, *ftext = NULL;
    int rc;
    if (text_file) {
        if ((rc = cli_read_input(&ftext, text_file)))
            return cli_fail(g, "reply", rc, "--text-file: cannot read it");
        size_t l = strlen(ftext);
        while (l && (ftext[l - 1] == '\n' || ftext[l - 1] == '\r'))
            ftext[--l] = 0;
        text = ftext;
    }
    if ((rc = cli_connect(g, &n, "reply")) == 0) {
        rc = refbus_node_reply_id(n, msg_id, reply_id, status, reason_code, text, &reply);
        rc = cli_finish(g, &n, "reply", rc, reply);
    }
    free(ftext);
    return rc;
}

int cmd_reply(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS,
                                         {"status", required_argument, NULL, OPT_STATUS},
                                         {"reason-code", required_argument, NULL, 'r'},
                                         {"text", required_argument, NULL, 'T'},
                                         {"text-file", required_argument, NULL, OPT_TEXT_FILE},
                                         {"msg-id", required_argument, NULL, OPT_MSG_ID},
                                         {NULL, 0, NULL, 0}};
    const char *status = NULL, *reason = NULL, *text = NULL, *text_file = NULL, *reply_id = NULL;
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT "S:r:T:", opts, NULL)) != -1) {
        switch (c) {
        case 'S':
        case OPT_STATUS: status = optarg; break;
        case 'r': reason = optarg; break;
        case 'T': text = optarg; break;
        case OPT_TEXT_FILE: text_file = optarg; break;
        case OPT_MSG_ID: reply_id = optarg; break;
        default:
            if ((rc = cli_opt(&st, "reply", c, argv, opts, usage_text)) != 0)
                return rc;
        }
    }
    if (optind == argc)
        return cli_misuse("reply", "which message? (MSGID)");
    if (optind != argc - 1)
        return cli_misuse("reply", "unexpected argument '%s'", argv[optind + 1]);
    if (!status)
        return cli_misuse("reply", "--status is required");
    if (text && text_file)
        return cli_misuse("reply", "--text or --text-file, not both");
    if ((rc = cli_ready(&st, "reply")) != 0)
        return rc;
    return send_reply(&st, argv[optind], status, reason, text, text_file, reply_id);
}
