/* refbus-broker: what every subcommand shares — the dispatch entry type, the options that set
 * configuration keys, and error reporting. Each cmd_<name>.c is one subcommand: it parses its
 * own options with getopt_long and calls the broker library. */
#ifndef REFBUS_BROKER_TOOL_CLI_H
#define REFBUS_BROKER_TOOL_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/cli.h"

typedef struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *synopsis;              /* one line of `refbus-broker --help` */
} cli_cmd;

/* The options every command that talks to a running broker takes (status, publish,
 * checkpoint): where its configuration, data directory or admin socket is. */
#define CLI_ADMIN_OPTS                                                                    \
    {"config", required_argument, NULL, 'c'}, {"data-dir", required_argument, NULL, 'd'}, \
        {"admin", required_argument, NULL, 'a'},                                          \
    {                                                                                     \
        "help", no_argument, NULL, 'h'                                                    \
    }
#define CLI_ADMIN_SHORT REFBUS_CLI_OPTS "c:d:a:h"
#define CLI_ADMIN_HELP                                                                      \
    "  -c, --config FILE          the broker's ini file (for its admin socket)\n"           \
    "  -d, --data-dir DIR         its data directory (admin socket ipc://DIR/admin.sock)\n" \
    "  -a, --admin ENDPOINT       its admin socket\n"

/* The options of the commands that open the store (init, run): every one is also a key of the
 * [broker] section of the config file, and overrides it. */
#define CLI_DAEMON_OPTS                                                                     \
    CLI_ADMIN_OPTS, {"bind", required_argument, NULL, 'b'},                                 \
        {"keystore", required_argument, NULL, 'k'},                                         \
        {"passphrase-file", required_argument, NULL, 'p'},                                  \
        {"directory", required_argument, NULL, 'D'}, {"set", required_argument, NULL, 'o'}, \
    {                                                                                       \
        "log-level", required_argument, NULL, 'l'                                           \
    }
#define CLI_DAEMON_SHORT CLI_ADMIN_SHORT "b:k:p:D:o:l:"
#define CLI_DAEMON_HELP                                                                     \
    "options (each also a key of the [broker] section of the config file):\n"               \
    "  -c, --config FILE          ini file\n"                                               \
    "  -d, --data-dir DIR         data directory (LMDB)\n"                                  \
    "  -b, --bind ENDPOINT        node endpoint, e.g. tcp://127.0.0.1:7700\n"               \
    "  -a, --admin ENDPOINT       admin socket (default ipc://DATA_DIR/admin.sock)\n"       \
    "  -k, --keystore FILE        the broker's key bundle\n"                                \
    "  -p, --passphrase-file FILE keystore passphrase (or $REFBUS_PASSPHRASE_FILE)\n"       \
    "  -D, --directory FILE       signed agency directory\n"                                \
    "  -o, --set KEY=VALUE        any other config key (map_size_mb, checkpoint_records,\n" \
    "                             checkpoint_seconds, redeliver_seconds, max_batch, ...)\n" \
    "  -l, --log-level LEVEL      error, warn, info, debug\n"                               \
    "  -h, --help                 this help\n"

#define CLI_MAX_FLAGS 64

/* The configuration options of one command line, in the order given: applied over the config
 * file by cli_conf_apply (named flags first, then -o KEY=VALUE ones, as always). */
typedef struct cli_conf {
    const char *file; /* -c */
    struct {
        const char *key; /* a config key; NULL: `val` is KEY=VALUE (-o) */
        const char *val;
    } flags[CLI_MAX_FLAGS];
    int n;
    int overflow; /* more than CLI_MAX_FLAGS were given */
} cli_conf;

/* Take one option getopt_long returned, if it is a configuration option (or -h: `usage` on
 * stdout, exit 0). 1 taken, 0 not one of them. */
int cli_conf_opt(cli_conf *cc, int c, const char *usage);
/* Defaults, then the config file, then the flags over it; the admin socket defaults to
 * ipc://DATA_DIR/admin.sock, and with `need_admin` not knowing one is a usage error. 0, or an
 * exit code after a message. */
int cli_conf_apply(const char *cmd, const cli_conf *cc, refbus_broker_config *cfg, int need_admin);
/* Send an admin request named `cmd` to the running broker at cfg->admin
 * (refbus_broker_admin_request prints the answer). 0, or 1 when refused or unreachable. */
int cli_admin(const char *cmd, const refbus_broker_config *cfg, const uint8_t *body, size_t len,
              int timeout_ms);

/* The one-line usage error "refbus-broker CMD: <msg>. Try 'refbus-broker CMD --help'." on
 * stderr; returns REFBUS_EXIT_USAGE. */
int cli_misuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for an option getopt_long refused (it returned `c`, '?' or ':'). Returns
 * REFBUS_EXIT_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts);

int cmd_init(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_metrics(int argc, char **argv);

#endif
