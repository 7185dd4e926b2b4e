/* refbus-node: an agency's node — the daemon (init, run) and the command line for agency
 * systems (send, inbox, reply, thread, outbox, status: clients of the daemon's control socket).
 * main() hardens the process, finds the subcommand in the table below and hands it the command
 * line, options given before the command included; each cmd_<name>.c parses its own options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/harden.h"
#include "nodes/client/cli.h"

/* One entry per subcommand; a new one is a line here and its cmd_<name>.c. */
static const cli_cmd commands[] = {
    {"init", cmd_init, "init                             create a new, empty store (once)"},
    {"run", cmd_run, "run                              run the daemon on a store made by init"},
    {"send", cmd_send,
     "send [FILE|-] --to A[,B...]      queue a referral (JSON) for one or more agencies\n"
     "       [--urgency U] [--expires-in D] [--msg-id HEX] [--wait[=SECONDS]]"},
    {"inbox", cmd_inbox,
     "inbox [list] [--after SEQ] [--limit N]   received messages, oldest first\n"
     "  inbox show ID                    one message (sequence number or msg id)"},
    {"reply", cmd_reply,
     "reply MSGID --status S [--reason-code X] [--text T | --text-file F] [--msg-id HEX]\n"
     "                                   answer in the thread of message MSGID"},
    {"thread", cmd_thread, "thread show THREAD_ID            a thread's state and its history"},
    {"outbox", cmd_outbox,
     "outbox [--after SEQ] [--limit N] what waits for the broker (paged: \"more\")\n"
     "  outbox MSGID                     one message: pending, failed, or accepted"},
    {"status", cmd_status, "status                           the node's state"},
    {"check", cmd_check,
     "check [--max-down SECONDS]       health in one line; exit 0 ok, 1 degraded, 2 failing"},
    {"metrics", cmd_metrics,
     "metrics                          the state in Prometheus text format"},
};

static void usage(FILE *f)
{
    fputs("usage: refbus-node [options] COMMAND [options] [arguments]\n"
          "       refbus-node COMMAND --help | --help | --version\n\ncommands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fputs("\n"
          "Options may come before or after the command; each command takes its own (see\n"
          "'refbus-node COMMAND --help'): -c FILE, -d DIR, -s ENDPOINT and -o KEY=VALUE every\n"
          "one; -k, -p, -D, -b, -a, -l init and run; --compact, --timeout MS the others.\n"
          "Output is JSON. Exit: 0 ok, 1 refused or failed, 2 usage.\n"
          "See refbus-node(1) and docs/NODE.md.\n",
          f);
}

int main(int argc, char **argv)
{
    int c;
    /* Before anything is read: no core file may hold the keys or referral text, and every
     * block jansson frees (requests, answers, decrypted referrals as JSON, the parser's own
     * buffers) is wiped. A free that wipes by malloc_usable_size is used rather than a walk
     * over each json_t before json_decref, because a walk cannot reach jansson's internal
     * copies (the lexer's string buffer, the dump buffer as it grows, hashtable keys). */
    if (refbus_harden_process() != 0)
        return REFBUS_EXIT_FAIL;
    refbus_harden_heap_wipe();   /* libzmq's buffers too: they hold each control answer */
    refbus_harden_heap_return(); /* and big ones go back to the system when freed */
    json_set_alloc_funcs(malloc, refbus_wipe_free);

    /* Up to the command: any command's option may come first (checked by the command). */
    while ((c = getopt_long(argc, argv, "+" CLI_ALL_SHORT, cli_all_opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V') {
#ifdef REFBUS_TEST_HOOKS
            printf("refbus-node %s-testhooks\n", refbus_version());
            return fflush(stdout) == 0 ? 0 : REFBUS_EXIT_FAIL;
#else
            return refbus_cli_version("refbus-node");
#endif
        }
        if (c == '?' || c == ':')
            return refbus_cli_bad_option("refbus-node", NULL, c, argv, cli_all_opts);
    }
    if (optind >= argc)
        return cli_misuse(NULL, "a command is required");
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        /* The command's own argv: its name, the options that came before it, the rest. */
        char **sub = calloc((size_t)argc + 1, sizeof *sub);
        if (!sub) {
            fprintf(stderr, "refbus-node: out of memory\n");
            return REFBUS_EXIT_FAIL;
        }
        int n = 0, at = optind;
        sub[n++] = argv[at];
        for (int j = 1; j < at; j++)
            sub[n++] = argv[j];
        for (int j = at + 1; j < argc; j++)
            sub[n++] = argv[j];
        optind = 0; /* glibc: restart getopt for the command's own arguments */
        int rc = commands[i].run(n, sub);
        free(sub);
        return rc;
    }
    return cli_misuse(NULL, "unknown command '%s'", name);
}
