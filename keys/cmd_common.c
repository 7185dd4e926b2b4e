/* refbus-keys: the helpers every subcommand shares (see cmd.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/cmd.h"
#include "keys/passphrase.h"

int cmd_misuse(const char *usage, const char *msg)
{
    if (msg)
        fprintf(stderr, "refbus-keys: %s\n", msg);
    fputs(usage, stderr);
    return EXIT_USAGE;
}

int cmd_fail(const char *what, int rc)
{
    fprintf(stderr, "refbus-keys: %s: %s (%s)\n", what, refbus_strerror(rc), refbus_errname(rc));
    return 1;
}

int cmd_common_opt(cmd_ctx *ctx, int c, const char *usage)
{
    switch (c) {
    case 'd':
        ctx->dir = optarg;
        return 1;
    case OPT_PASS:
        ctx->pass_file = optarg;
        return 1;
    case OPT_BPASS:
        ctx->bundle_pass_file = optarg;
        return 1;
    case OPT_KDF:
        ctx->kdf_name = optarg;
        return 1;
    case OPT_WEAK:
        ctx->allow_weak = 1;
        return 1;
    case 'h':
        fputs(usage, stdout);
        exit(0);
    }
    return 0;
}

const char *cmd_dir(const cmd_ctx *ctx)
{
    const char *d = ctx->dir ? ctx->dir : getenv("REFBUS_ADMIN_DIR");
    if (d && *d)
        return d;
    fprintf(stderr, "refbus-keys: no admin directory: use -d DIR or set REFBUS_ADMIN_DIR\n");
    return NULL;
}

int cmd_admin_open(const cmd_ctx *ctx, refbus_admin **out)
{
    const char *dir = cmd_dir(ctx);
    if (!dir)
        return EXIT_USAGE;
    int rc = refbus_admin_open(out, dir);
    if (rc == REFBUS_ENOTFOUND) {
        fprintf(stderr, "refbus-keys: %s is not an admin directory (run refbus-keys init)\n",
                dir);
        return 1;
    }
    return rc == 0 ? 0 : cmd_fail(dir, rc);
}

int cmd_root_pass(const cmd_ctx *ctx, char **pass, size_t *len, int confirm)
{
    int rc = refbus_passphrase_get(pass, len, ctx->pass_file, "Root key passphrase: ", confirm);
    return rc == 0 ? 0 : cmd_fail("root key passphrase", rc);
}

int cmd_bundle_pass(const cmd_ctx *ctx, const char *file, const char *for_id, char **pass,
                    size_t *len, int confirm)
{
    char prompt[128];
    snprintf(prompt, sizeof prompt, "Passphrase for the bundle of %s: ", for_id);
    int rc = refbus_passphrase_get_env(pass, len, file ? file : ctx->bundle_pass_file,
                                       "REFBUS_BUNDLE_PASSPHRASE_FILE", prompt, confirm);
    return rc == 0 ? 0 : cmd_fail("bundle passphrase", rc);
}

int cmd_new_pass_ok(const cmd_ctx *ctx, const char *pass, size_t len, const char *what)
{
    char why[256];
    if (refbus_passphrase_check(pass, len, why, sizeof why) == 0)
        return 0;
    if (ctx->allow_weak) {
        fprintf(stderr, "refbus-keys: warning: weak %s accepted (--allow-weak-passphrase): %s\n",
                what, why);
        return 0;
    }
    fprintf(stderr,
            "refbus-keys: %s refused: %s (EWEAK). Use a longer one (four or more random words), "
            "or let 'refbus-keys passphrase --out FILE' make one.\n",
            what, why);
    return 1;
}

int cmd_kdf(const cmd_ctx *ctx, refbus_kdf *kdf)
{
    if (refbus_kdf_named(kdf, ctx->kdf_name) != 0) {
        fprintf(stderr, "refbus-keys: unknown KDF cost '%s' (interactive, moderate, sensitive, "
                        "min)\n",
                ctx->kdf_name ? ctx->kdf_name : getenv("REFBUS_KDF_LIMIT"));
        return EXIT_USAGE;
    }
    return 0;
}

int cmd_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int cmd_print(const char *s)
{
    if (fputs(s, stdout) < 0 || fflush(stdout) != 0)
        return 1;
    return 0;
}
