/* refbus-node: parse the command line and call the subcommands (cli.h). GNU getopt permutes
 * the arguments, so options may come before or after the command. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/harden.h"
#include "nodes/client/cli.h"

#ifndef REFBUS_VERSION
#define REFBUS_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fputs("usage: refbus-node [options] COMMAND [arguments]\n"
          "\n"
          "commands:\n"
          "  init                             create a new, empty store in DATA_DIR (once)\n"
          "  run                              run the node daemon (foreground) on an existing\n"
          "                                   store (see init)\n"
          "  send [FILE|-] --to A[,B...]      queue a referral (JSON) for one or more agencies\n"
          "       [--urgency U] [--expires-in D] [--msg-id HEX] [--wait[=SECONDS]]\n"
          "  inbox [list] [--after SEQ] [--limit N]   received messages, oldest first\n"
          "  inbox show ID                    one message (sequence number or msg id)\n"
          "  reply MSGID --status S [--reason-code X] [--text T | --text-file F]\n"
          "                                   answer in the thread of message MSGID\n"
          "  thread show THREAD_ID            a thread's state per agency and its history\n"
          "  outbox [--after SEQ] [--limit N] what waits for the broker (paged: \"more\")\n"
          "  outbox MSGID                     one message: pending, failed, or accepted\n"
          "  status                           the node's state\n"
          "  check [--max-down SECONDS]       one line; exit 0 healthy, 1 degraded (e.g. no\n"
          "                                   broker session for longer, default 300), 2 failing\n"
          "  metrics                          the status in Prometheus text format\n"
          "\n"
          "options (each also a key of the [node] section of the config file; -o for others):\n"
          "  -c, --config FILE          config file (default $REFBUS_NODE_CONFIG)\n"
          "  -d, --data-dir DIR         data directory (store, control socket)\n"
          "  -s, --socket ENDPOINT      control socket (default ipc://DATA_DIR/control.sock)\n"
          "  -k, --keystore FILE        the agency's key bundle            (run)\n"
          "  -p, --passphrase-file FILE its passphrase                     (run)\n"
          "  -D, --directory FILE       signed agency directory            (run)\n"
          "  -b, --broker ENDPOINT      broker endpoint                    (run)\n"
          "  -a, --agency ID            this agency's id                   (run)\n"
          "  -l, --log-level LEVEL      error, warn, info, debug           (run)\n"
          "  -o, --set KEY=VALUE        any other config key\n"
          "      --compact              one-line JSON output\n"
          "      --timeout MS           how long to wait for the daemon's answer\n"
          "  -h, --help                 this help;  -V, --version  the version\n"
          "\n"
          "status values for reply: received, accepted, declined (needs --reason-code),\n"
          "in_progress, completed, note (needs --text); the referring agency: cancelled,\n"
          "consent_withdrawn. Output is JSON. Exit: 0 ok, 1 refused or failed, 2 usage.\n"
          "See refbus-node(1) and docs/NODE.md.\n",
          f);
}

__attribute__((format(printf, 1, 2))) static int misuse(const char *fmt, ...)
{
    va_list ap;
    fputs("refbus-node: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n\n", stderr);
    usage(stderr);
    return 2;
}

enum {
    OPT_COMPACT = 256,
    OPT_TIMEOUT,
    OPT_MSG_ID,
    OPT_AFTER,
    OPT_LIMIT,
    OPT_TEXT_FILE,
    OPT_MAX_DOWN,
    OPT_STATUS,
};

/* Command-specific options seen, to refuse them with another command. */
typedef struct cmd_opts {
    const char *to, *urgency, *expires, *msg_id, *status, *reason, *text, *text_file;
    int wait_s, has_after, has_limit;
    unsigned long long after, max_down;
    unsigned long limit;
} cmd_opts;

static int set_cfg(refbus_node_cli *g, const char *key, const char *value)
{
    char err[512];
    if (refbus_node_config_set(&g->cfg, key, value, err, sizeof err) == 0)
        return 0;
    fprintf(stderr, "refbus-node: %s\n", err);
    return 2;
}

static int number(const char *s, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    *out = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'},
        {"data-dir", required_argument, 0, 'd'},
        {"socket", required_argument, 0, 's'},
        {"keystore", required_argument, 0, 'k'},
        {"passphrase-file", required_argument, 0, 'p'},
        {"directory", required_argument, 0, 'D'},
        {"broker", required_argument, 0, 'b'},
        {"agency", required_argument, 0, 'a'},
        {"log-level", required_argument, 0, 'l'},
        {"set", required_argument, 0, 'o'},
        {"compact", no_argument, 0, OPT_COMPACT},
        {"timeout", required_argument, 0, OPT_TIMEOUT},
        {"to", required_argument, 0, 't'},
        {"urgency", required_argument, 0, 'u'},
        {"expires-in", required_argument, 0, 'e'},
        {"msg-id", required_argument, 0, OPT_MSG_ID},
        {"wait", optional_argument, 0, 'w'},
        {"after", required_argument, 0, OPT_AFTER},
        {"limit", required_argument, 0, OPT_LIMIT},
        {"status", required_argument, 0, OPT_STATUS},
        {"reason-code", required_argument, 0, 'r'},
        {"text", required_argument, 0, 'T'},
        {"text-file", required_argument, 0, OPT_TEXT_FILE},
        {"max-down", required_argument, 0, OPT_MAX_DOWN},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    static const char shorts[] = "c:d:s:k:p:D:b:a:l:o:t:u:e:w::r:T:S:hV";
    refbus_node_cli g;
    cmd_opts o;
    const char *config = getenv("REFBUS_NODE_CONFIG");
    int c, rc, cmd_specific = 0;
    unsigned long long v;
    memset(&g, 0, sizeof g);
    memset(&o, 0, sizeof o);
    /* Before anything is read: no core file may hold the keys or referral text, and every
     * block jansson frees (requests, answers, decrypted referrals as JSON, the parser's own
     * buffers) is wiped. A free that wipes by malloc_usable_size is used rather than a walk
     * over each json_t before json_decref, because a walk cannot reach jansson's internal
     * copies (the lexer's string buffer, the dump buffer as it grows, hashtable keys). */
    if (refbus_harden_process() != 0)
        return 1;
    refbus_harden_heap_wipe(); /* libzmq's buffers too: they hold each control answer */
    refbus_harden_heap_return(); /* and big ones go back to the system when freed */
    json_set_alloc_funcs(malloc, refbus_wipe_free);
    refbus_node_config_init(&g.cfg);

    /* Pass 1: the config file, so that every other option overrides it. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1)
        if (c == 'c')
            config = optarg;
    if (config) {
        char err[512];
        if (refbus_node_config_load(&g.cfg, config, err, sizeof err)) {
            fprintf(stderr, "refbus-node: %s\n", err);
            return 2;
        }
    }
    opterr = 1;
    optind = 0;
    while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
        rc = 0;
        switch (c) {
        case 'c': break;
        case 'd': rc = set_cfg(&g, "data_dir", optarg); break;
        case 's': rc = set_cfg(&g, "control", optarg); break;
        case 'k': rc = set_cfg(&g, "keystore", optarg); break;
        case 'p': rc = set_cfg(&g, "passphrase_file", optarg); break;
        case 'D': rc = set_cfg(&g, "directory", optarg); break;
        case 'b': rc = set_cfg(&g, "broker", optarg); break;
        case 'a': rc = set_cfg(&g, "agency", optarg); break;
        case 'l': rc = set_cfg(&g, "log_level", optarg); break;
        case 'o': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                return misuse("-o wants KEY=VALUE, got \"%s\"", optarg);
            *eq = 0;
            rc = set_cfg(&g, optarg, eq + 1);
            break;
        }
        case OPT_COMPACT: g.compact = 1; break;
        case OPT_TIMEOUT:
            if (number(optarg, &v) || v == 0 || v > 3600000)
                return misuse("--timeout: milliseconds, got \"%s\"", optarg);
            g.timeout_ms = (int)v;
            break;
        case 't': o.to = optarg; cmd_specific |= 1; break;
        case 'u': o.urgency = optarg; cmd_specific |= 1; break;
        case 'e': o.expires = optarg; cmd_specific |= 1; break;
        case OPT_MSG_ID: o.msg_id = optarg; cmd_specific |= 8; break;
        case 'w':
            o.wait_s = 30;
            if (optarg && (number(optarg, &v) || v == 0 || v > 86400))
                return misuse("--wait: seconds, got \"%s\"", optarg);
            if (optarg)
                o.wait_s = (int)v;
            cmd_specific |= 1;
            break;
        case OPT_AFTER:
            if (number(optarg, &o.after))
                return misuse("--after: a sequence number, got \"%s\"", optarg);
            o.has_after = 1;
            cmd_specific |= 2;
            break;
        case OPT_LIMIT:
            if (number(optarg, &v) || v == 0 || v > 1000)
                return misuse("--limit: 1 to 1000, got \"%s\"", optarg);
            o.limit = (unsigned long)v;
            o.has_limit = 1;
            cmd_specific |= 2;
            break;
        case 'S':
        case OPT_STATUS: o.status = optarg; cmd_specific |= 4; break;
        case 'r': o.reason = optarg; cmd_specific |= 4; break;
        case 'T': o.text = optarg; cmd_specific |= 4; break;
        case OPT_TEXT_FILE: o.text_file = optarg; cmd_specific |= 4; break;
        case OPT_MAX_DOWN:
            if (number(optarg, &o.max_down))
                return misuse("--max-down: seconds, got \"%s\"", optarg);
            cmd_specific |= 16;
            break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("refbus-node %s\n", REFBUS_VERSION); return 0;
        default: usage(stderr); return 2;
        }
        if (rc)
            return rc;
    }
    int na = argc - optind;
    char **a = argv + optind;
    if (na < 1)
        return misuse("a command is required");
    const char *cmd = a[0];
    int allowed = strcmp(cmd, "send") == 0    ? 1 | 8
                  : strcmp(cmd, "inbox") == 0 ? 2
                  : strcmp(cmd, "reply") == 0 ? 4 | 8 /* --msg-id: the answer's own id */
                  : strcmp(cmd, "outbox") == 0 ? 2 /* --after, --limit: paging */
                  : strcmp(cmd, "check") == 0  ? 16
                                              : 0;
    if (cmd_specific & ~allowed)
        return misuse("an option given does not belong to \"%s\"", cmd);

    if (strcmp(cmd, "run") == 0 && na == 1)
        return refbus_node_cli_run(&g);
    if (strcmp(cmd, "init") == 0 && na == 1)
        return refbus_node_cli_init(&g);
    if (strcmp(cmd, "send") == 0 && na <= 2 && !o.to)
        return misuse("send: --to AGENCY[,AGENCY...] is required");
    if (strcmp(cmd, "send") == 0 && na <= 2)
        return refbus_node_cli_send(&g, na == 2 ? a[1] : "-", o.to, o.urgency, o.expires,
                                    o.msg_id, o.wait_s);
    if (strcmp(cmd, "inbox") == 0 && (na == 1 || (na == 2 && strcmp(a[1], "list") == 0)))
        return refbus_node_cli_inbox_list(&g, o.after, (unsigned)o.limit);
    if (strcmp(cmd, "inbox") == 0 && na == 3 && strcmp(a[1], "show") == 0 && !cmd_specific)
        return refbus_node_cli_inbox_show(&g, a[2]);
    if (strcmp(cmd, "reply") == 0 && na == 2) {
        if (!o.status)
            return misuse("reply: --status is required");
        if (o.text && o.text_file)
            return misuse("reply: --text or --text-file, not both");
        return refbus_node_cli_reply(&g, a[1], o.status, o.reason, o.text, o.text_file,
                                     o.msg_id);
    }
    if (strcmp(cmd, "thread") == 0 && na == 3 && strcmp(a[1], "show") == 0)
        return refbus_node_cli_thread_show(&g, a[2]);
    if (strcmp(cmd, "outbox") == 0 && na == 2 && cmd_specific)
        return misuse("outbox MSGID: --after and --limit page the list, not one message");
    if (strcmp(cmd, "outbox") == 0 && na <= 2)
        return refbus_node_cli_outbox(&g, na == 2 ? a[1] : NULL, o.after, (unsigned)o.limit);
    if (strcmp(cmd, "status") == 0 && na == 1)
        return refbus_node_cli_status(&g);
    if (strcmp(cmd, "metrics") == 0 && na == 1)
        return refbus_node_cli_metrics(&g);
    if (strcmp(cmd, "check") == 0 && na == 1)
        return refbus_node_cli_check(&g, (cmd_specific & 16) ? o.max_down : 300);
    return misuse("unknown command or wrong arguments: \"%s\"", cmd);
}
