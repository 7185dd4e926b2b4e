/* refbus-keys: what every subcommand shares — the options common to all of them, passphrase
 * and admin-directory helpers, and error reporting. Each cmd_*.c parses its own arguments and
 * calls the keys library; none holds logic of its own beyond that. */
#ifndef REFBUS_KEYS_CMD_H
#define REFBUS_KEYS_CMD_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "keys/admin.h"
#include "keys/keystore.h"

#define EXIT_USAGE 2

typedef struct cmd_ctx {
    const char *dir;              /* -d / --dir, else $REFBUS_ADMIN_DIR */
    const char *pass_file;        /* --passphrase-file (the root's) */
    const char *bundle_pass_file; /* --bundle-passphrase-file (an agency's or the broker's) */
    const char *kdf_name;         /* --kdf */
    int json;                     /* --json, where a command supports it */
    int allow_weak;               /* --allow-weak-passphrase: tests and demos only */
} cmd_ctx;

typedef struct cmd {
    const char *name;
    int (*run)(cmd_ctx *ctx, int argc, char **argv); /* argv[0] is the command's name */
    const char *synopsis;
} cmd;

enum { OPT_PASS = 1000, OPT_BPASS, OPT_KDF, OPT_JSON, OPT_WEAK, OPT_FIRST_LOCAL = 1100 };

/* The common long options; a command's table is COMMON_OPTS followed by its own and a zero
 * entry. The short options string of every command starts with COMMON_SHORT. */
#define COMMON_OPTS                                                                          \
    {"dir", required_argument, NULL, 'd'}, {"passphrase-file", required_argument, NULL, OPT_PASS}, \
        {"bundle-passphrase-file", required_argument, NULL, OPT_BPASS},                     \
        {"kdf", required_argument, NULL, OPT_KDF},                                          \
        {"allow-weak-passphrase", no_argument, NULL, OPT_WEAK}, {"help", no_argument, NULL, 'h'}
#define COMMON_SHORT "d:h"

/* Handle one common option: 1 handled, 0 not a common one. 'h' prints `usage` and exits 0. */
int cmd_common_opt(cmd_ctx *ctx, int c, const char *usage);
/* Print `usage` to stderr after "refbus-keys: <msg>" and return EXIT_USAGE. */
int cmd_misuse(const char *usage, const char *msg);
/* Report a failure of `what` and return 1. */
int cmd_fail(const char *what, int rc);

/* The admin directory from -d or $REFBUS_ADMIN_DIR; NULL (after a message) when neither. */
const char *cmd_dir(const cmd_ctx *ctx);
/* Open (lock) the admin directory. Returns 0 or an exit code (after a message). */
int cmd_admin_open(const cmd_ctx *ctx, refbus_admin **out);
/* The root's passphrase (--passphrase-file, $REFBUS_PASSPHRASE_FILE, prompt). 0 or an exit
 * code. */
int cmd_root_pass(const cmd_ctx *ctx, char **pass, size_t *len, int confirm);
/* A bundle's passphrase (--bundle-passphrase-file or `file`, $REFBUS_BUNDLE_PASSPHRASE_FILE,
 * prompt naming `for_id`). 0 or an exit code. */
int cmd_bundle_pass(const cmd_ctx *ctx, const char *file, const char *for_id, char **pass,
                    size_t *len, int confirm);
/* May `pass` protect a new root key or bundle (`what` names it)? 0, or 1 after saying why on
 * stderr. Weak ones pass only with --allow-weak-passphrase (with a warning). */
int cmd_new_pass_ok(const cmd_ctx *ctx, const char *pass, size_t len, const char *what);
/* The KDF cost from --kdf / $REFBUS_KDF_LIMIT. 0 or an exit code. */
int cmd_kdf(const cmd_ctx *ctx, refbus_kdf *kdf);
/* Parse a decimal number (no sign, no junk) up to `max`. 0 or -1. */
int cmd_parse_u64(const char *s, uint64_t max, uint64_t *out);
/* Write a whole string to stdout; 0 or 1. */
int cmd_print(const char *s);

int cmd_init(cmd_ctx *ctx, int argc, char **argv);
int cmd_pubkey(cmd_ctx *ctx, int argc, char **argv);
int cmd_agency(cmd_ctx *ctx, int argc, char **argv);
int cmd_broker(cmd_ctx *ctx, int argc, char **argv);
int cmd_rotate(cmd_ctx *ctx, int argc, char **argv);
int cmd_revoke(cmd_ctx *ctx, int argc, char **argv);
int cmd_policy(cmd_ctx *ctx, int argc, char **argv);
int cmd_reanchor(cmd_ctx *ctx, int argc, char **argv);
int cmd_sign(cmd_ctx *ctx, int argc, char **argv);
int cmd_status(cmd_ctx *ctx, int argc, char **argv);
int cmd_show(cmd_ctx *ctx, int argc, char **argv);
int cmd_verify(cmd_ctx *ctx, int argc, char **argv);
int cmd_inspect(cmd_ctx *ctx, int argc, char **argv);
int cmd_passphrase(cmd_ctx *ctx, int argc, char **argv);

#endif
