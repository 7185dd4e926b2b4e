/* refbus-node: what every subcommand shares — the dispatch entry type, the options that set
 * configuration keys or shape the output, and error reporting. Each cmd_<name>.c is one
 * subcommand: it parses its own options with getopt_long and calls the C API (refbus_node.h)
 * or, for init and run, the daemon. main.c moves the options given before the command after
 * it, so that they are the command's too (`refbus-node -c FILE status`). */
#ifndef REFBUS_NODES_CLIENT_CLI_H
#define REFBUS_NODES_CLIENT_CLI_H

#include <getopt.h>

#include "common/cli.h"
#include "nodes/client/refbus_node.h"
#include "nodes/daemon/config.h"

typedef struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *synopsis;              /* a line or two of `refbus-node --help` */
} cli_cmd;

/* Long options without a short one. */
enum {
    OPT_COMPACT = 256,
    OPT_TIMEOUT,
    OPT_MSG_ID,
    OPT_AFTER,
    OPT_LIMIT,
    OPT_TEXT_FILE,
    OPT_STATUS,
    OPT_MAX_DOWN,
};

/* Every command's: where the configuration, data directory and control socket are. */
#define CLI_CONF_OPTS                                                                     \
    {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'}, \
        {"socket", required_argument, NULL, 's'}, {"set", required_argument, NULL, 'o'},  \
    {                                                                                     \
        "help", no_argument, NULL, 'h'                                                    \
    }
#define CLI_CONF_SHORT REFBUS_CLI_OPTS "c:d:s:o:h"
#define CLI_CONF_HELP                                                                     \
    "  -c, --config FILE          config file (default $REFBUS_NODE_CONFIG)\n"            \
    "  -d, --data-dir DIR         data directory (store, control socket)\n"               \
    "  -s, --socket ENDPOINT      control socket (default ipc://DATA_DIR/control.sock)\n" \
    "  -o, --set KEY=VALUE        any other config key\n"                                 \
    "  -h, --help                 this help\n"

/* The daemon's (init, run): its keys, directory, broker and logging. */
#define CLI_DAEMON_OPTS                                                                        \
    CLI_CONF_OPTS, {"keystore", required_argument, NULL, 'k'},                                 \
        {"passphrase-file", required_argument, NULL, 'p'},                                     \
        {"directory", required_argument, NULL, 'D'}, {"broker", required_argument, NULL, 'b'}, \
        {"agency", required_argument, NULL, 'a'},                                              \
    {                                                                                          \
        "log-level", required_argument, NULL, 'l'                                              \
    }
#define CLI_DAEMON_SHORT CLI_CONF_SHORT "k:p:D:b:a:l:"
#define CLI_DAEMON_HELP                                                                   \
    "options (each also a key of the [node] section of the config file):\n" CLI_CONF_HELP \
    "  -k, --keystore FILE        the agency's key bundle\n"                              \
    "  -p, --passphrase-file FILE its passphrase\n"                                       \
    "  -D, --directory FILE       signed agency directory\n"                              \
    "  -b, --broker ENDPOINT      broker endpoint\n"                                      \
    "  -a, --agency ID            this agency's id\n"                                     \
    "  -l, --log-level LEVEL      error, warn, info, debug\n"

/* The clients' (every command that asks the running daemon): how to print and how long to
 * wait. */
#define CLI_CLIENT_OPTS                                         \
    CLI_CONF_OPTS, {"compact", no_argument, NULL, OPT_COMPACT}, \
    {                                                           \
        "timeout", required_argument, NULL, OPT_TIMEOUT         \
    }
#define CLI_CLIENT_SHORT CLI_CONF_SHORT
#define CLI_CLIENT_HELP                                                              \
    "options:\n" CLI_CONF_HELP "      --compact              one-line JSON output\n" \
    "      --timeout MS           how long to wait for the daemon's answer\n"

/* Every option of every command, and --version: what may come before the command. */
extern const struct option cli_all_opts[];
#define CLI_ALL_SHORT CLI_DAEMON_SHORT "t:u:e:w::r:T:S:V"

#define CLI_MAX_FLAGS 64

/* A command line's configuration options in the order given, applied over the config file by
 * cli_ready into cfg, and what the output options set. */
typedef struct cli_state {
    const char *config; /* -c, else $REFBUS_NODE_CONFIG */
    struct {
        const char *key; /* a config key; NULL: `val` is KEY=VALUE (-o) */
        const char *val;
    } flags[CLI_MAX_FLAGS];
    int n;
    refbus_node_config cfg;
    int compact;    /* --compact: one JSON document per line instead of indented */
    int timeout_ms; /* --timeout: per answer from the daemon; 0 the API's default */
} cli_state;

/* Take one option getopt_long returned that the command does not handle itself: a
 * configuration or output option (0), -h (`usage` on stdout, exit 0), or anything else
 * (a usage error naming it: REFBUS_EXIT_USAGE). */
int cli_opt(cli_state *st, const char *cmd, int c, char **argv, const struct option *opts,
            const char *usage);
/* A listing's page: --after SEQ and --limit N (1..1000) for `cmd`. */
typedef struct {
    unsigned long long after, limit;
    int given; /* either option was given */
} cli_page;
/* The options of a paged listing command (the client options, --after, --limit): parses all
 * of argv into st and page, leaving optind at the first operand. 0, or an exit code after a
 * message (or after -h). */
int cli_paged_opts(cli_state *st, cli_page *page, const char *cmd, int argc, char **argv,
                   const char *usage);
/* The config file, then the options over it, into st->cfg. 0, or an exit code after a
 * message. */
int cli_ready(cli_state *st, const char *cmd);
/* A decimal number from 1 to max ("--limit: 1 to 1000"), or a usage error naming `what`.
 * 0 or REFBUS_EXIT_USAGE. */
int cli_number(const char *cmd, const char *what, const char *arg, unsigned long long min,
               unsigned long long max, unsigned long long *out);

/* The one-line usage error "refbus-node CMD: <msg>. Try 'refbus-node CMD --help'." on
 * stderr; returns REFBUS_EXIT_USAGE. */
int cli_misuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What every command prints: JSON on stdout (the daemon's answer, or {"ok":false,...}) and,
 * on failure, a sentence on stderr; the exit status is 0 done, 1 refused or failed. */

/* Print a JSON text, indented or (--compact) on one line. */
void cli_print_json(const cli_state *g, const char *text);
/* Report a failure both ways: a JSON document for programs, a sentence for people. When the
 * referral was queued before the failure (`send --wait` timing out), `queued_id` names it in
 * the document's "msg_id" field so that a program looks it up instead of sending it again.
 * Returns 1. */
int cli_fail_queued(const cli_state *g, const char *what, int code, const char *msg,
                    const char *queued_id);
int cli_fail(const cli_state *g, const char *what, int code, const char *msg);
/* Connect to the running daemon's control socket. 0, or 1 after cli_fail. On success the
 * caller owns *n (refbus_node_close, or cli_finish). */
int cli_connect(cli_state *g, refbus_node **n, const char *what);
/* Print the answer of a finished call (the daemon's own {"ok":false,...} when it refused),
 * free `reply` and close *n. Returns the exit status. */
int cli_finish(cli_state *g, refbus_node **n, const char *what, int rc, char *reply);
/* A whole file, or standard input for NULL or "-", at most 8 MiB, NUL-terminated. 0 or a
 * REFBUS_E* code; the caller frees *out with refbus_wipe_free (it may hold referral text). */
int cli_read_input(char **out, const char *file);
/* For init and run: the configuration checked for the daemon, then logging set up from it.
 * 0, or 1 after a message. */
int cli_daemon_ready(cli_state *g, const char *cmd);

int cmd_init(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_reply(int argc, char **argv);
int cmd_thread(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_metrics(int argc, char **argv);

/* health.c: `refbus-node check` (one line; returns 0 healthy, 1 degraded: no broker session
 * for more than max_down_s, an unproven checkpoint, failed outbox entries; 2 failing: not
 * running, checkpoint alarm, our key not active) and `metrics` (the status as Prometheus text;
 * 1 when no daemon answers), on a configuration made ready by cli_ready. */
int cli_node_check(cli_state *g, uint64_t max_down_s);
int cli_node_metrics(cli_state *g);

#endif
