/* refbus-keys: what every subcommand shares — the dispatch entry type, the options common to
 * all of them, passphrase and admin-directory helpers, and error reporting. Each cmd_<name>.c is
 * one subcommand: it parses its own arguments with getopt_long and calls the keys library; none
 * holds logic of its own beyond that. */
#ifndef REFBUS_KEYS_TOOL_CLI_H
#define REFBUS_KEYS_TOOL_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "common/cli.h"
#include "keys/admin.h"
#include "keys/keystore.h"

typedef struct cli_ctx {
    const char *cmd;              /* the subcommand running (main.c sets it), for messages */
    const char *dir;              /* -d / --dir, else $REFBUS_ADMIN_DIR */
    const char *pass_file;        /* --passphrase-file (the root's) */
    const char *bundle_pass_file; /* --bundle-passphrase-file (an agency's or the broker's) */
    const char *kdf_name;         /* --kdf */
    int json;                     /* --json, where a command supports it */
    int allow_weak;               /* --allow-weak-passphrase: tests and demos only */
} cli_ctx;

typedef struct cli_cmd {
    const char *name;
    int (*run)(cli_ctx *ctx, int argc, char **argv); /* argv[0] is the command's name */
    const char *synopsis;                            /* one line of `refbus-keys --help` */
} cli_cmd;

enum { OPT_PASS = 1000, OPT_BPASS, OPT_KDF, OPT_JSON, OPT_WEAK, OPT_FIRST_LOCAL = 1100 };

/* The common long options; a command's table is COMMON_OPTS followed by its own and a zero
 * entry. The short options string of every command starts with COMMON_SHORT. */
#define COMMON_OPTS                                                                                \
    {"dir", required_argument, NULL, 'd'}, {"passphrase-file", required_argument, NULL, OPT_PASS}, \
        {"bundle-passphrase-file", required_argument, NULL, OPT_BPASS},                            \
        {"kdf", required_argument, NULL, OPT_KDF},                                                 \
        {"allow-weak-passphrase", no_argument, NULL, OPT_WEAK},                                    \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }
#define COMMON_SHORT REFBUS_CLI_OPTS "d:h"

/* Handle one common option: 1 handled, 0 not a common one. 'h' prints `usage` on stdout and
 * exits 0. */
int cli_common_opt(cli_ctx *ctx, int c, const char *usage);
/* The one-line usage error "refbus-keys CMD: <msg>. Try 'refbus-keys CMD --help'." on stderr;
 * returns REFBUS_EXIT_USAGE. */
int cli_misuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for an option getopt_long refused (it returned `c`, '?' or ':'). Returns
 * REFBUS_EXIT_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts);
/* Report a failure of `what` and return 1. */
int cli_fail(const char *what, int rc);

/* The admin directory from -d or $REFBUS_ADMIN_DIR; NULL (after a message) when neither. */
const char *cli_dir(const cli_ctx *ctx);
/* Open (lock) the admin directory. Returns 0 or an exit code (after a message). */
int cli_admin_open(const cli_ctx *ctx, refbus_admin **out);
/* The root's passphrase (--passphrase-file, $REFBUS_PASSPHRASE_FILE, prompt). 0 or an exit
 * code. */
int cli_root_pass(const cli_ctx *ctx, char **pass, size_t *len, int confirm);
/* A bundle's passphrase (--bundle-passphrase-file or `file`, $REFBUS_BUNDLE_PASSPHRASE_FILE,
 * prompt naming `for_id`). 0 or an exit code. */
int cli_bundle_pass(const cli_ctx *ctx, const char *file, const char *for_id, char **pass,
                    size_t *len, int confirm);
/* May `pass` protect a new root key or bundle (`what` names it)? 0, or 1 after saying why on
 * stderr. Weak ones pass only with --allow-weak-passphrase (with a warning). */
int cli_new_pass_ok(const cli_ctx *ctx, const char *pass, size_t len, const char *what);
/* The KDF cost from --kdf / $REFBUS_KDF_LIMIT. 0 or an exit code. */
int cli_kdf(const cli_ctx *ctx, refbus_kdf *kdf);
/* Parse a decimal number (no sign, no junk) up to `max`. 0 or -1. */
int cli_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Write a whole string to stdout; 0 or 1. */
int cli_print(const char *s);
/* What enrolling an agency and enrolling the broker share: the KDF cost, the new bundle's
 * passphrase (asked twice on a terminal, refused when weak), the administrator's state
 * (locked). On success the caller owns *pass (refbus_passphrase_free) and *a (released by
 * cli_enrol_finish). Returns 0 or an exit code. */
int cli_enrol_begin(cli_ctx *ctx, const char *id, refbus_kdf *kdf, char **pass, size_t *len,
                    refbus_admin **a);
/* Report an enrolment (`what` "agency" or "broker") that returned rc, release `a`; the exit
 * code. */
int cli_enrol_finish(const char *what, const char *id, const char *out, refbus_admin *a, int rc);
/* The root key from --root-pk HEX, --root-pub FILE, or the admin directory's root.pub. 1 found,
 * 0 none, or -(exit code) after a message. */
int cli_root_key(const cli_ctx *ctx, const char *hex, const char *pubfile, uint8_t pk[32]);

int cmd_init(cli_ctx *ctx, int argc, char **argv);
int cmd_pubkey(cli_ctx *ctx, int argc, char **argv);
int cmd_agency(cli_ctx *ctx, int argc, char **argv);
int cmd_broker(cli_ctx *ctx, int argc, char **argv);
int cmd_rotate(cli_ctx *ctx, int argc, char **argv);
int cmd_revoke(cli_ctx *ctx, int argc, char **argv);
int cmd_policy(cli_ctx *ctx, int argc, char **argv);
int cmd_reanchor(cli_ctx *ctx, int argc, char **argv);
int cmd_sign(cli_ctx *ctx, int argc, char **argv);
int cmd_status(cli_ctx *ctx, int argc, char **argv);
int cmd_show(cli_ctx *ctx, int argc, char **argv);
int cmd_verify(cli_ctx *ctx, int argc, char **argv);
int cmd_inspect(cli_ctx *ctx, int argc, char **argv);
int cmd_passphrase(cli_ctx *ctx, int argc, char **argv);

#endif
