/* refbus-keys: the helpers every subcommand shares (see cli.h). */
#include "keys/tool/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "keys/passphrase.h"

int cli_misuse(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return refbus_cli_misuse("refbus-keys", cmd, "%s", msg);
}

int cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts)
{
    return refbus_cli_bad_option("refbus-keys", cmd, c, argv, opts);
}

int cli_fail(const char *what, int rc)
{
    fprintf(stderr, "refbus-keys: %s: %s (%s)\n", what, refbus_strerror(rc), refbus_errname(rc));
    return 1;
}

int cli_common_opt(cli_ctx *ctx, int c, const char *usage)
{
    switch (c) {
    case 'd': ctx->dir = optarg; return 1;
    case OPT_PASS: ctx->pass_file = optarg; return 1;
    case OPT_BPASS: ctx->bundle_pass_file = optarg; return 1;
    case OPT_KDF: ctx->kdf_name = optarg; return 1;
    case OPT_WEAK: ctx->allow_weak = 1; return 1;
    case 'h': fputs(usage, stdout); exit(0);
    }
    return 0;
}

const char *cli_dir(const cli_ctx *ctx)
{
    const char *d = ctx->dir ? ctx->dir : getenv("REFBUS_ADMIN_DIR");
    if (d && *d)
        return d;
    cli_misuse(ctx->cmd, "no admin directory: use -d DIR or set REFBUS_ADMIN_DIR");
    return NULL;
}

int cli_admin_open(const cli_ctx *ctx, refbus_admin **out)
{
    const char *dir = cli_dir(ctx);
    if (!dir)
        return REFBUS_EXIT_USAGE;
    int rc = refbus_admin_open(out, dir);
    if (rc == REFBUS_ENOTFOUND) {
        fprintf(stderr, "refbus-keys: %s is not an admin directory (run refbus-keys init)\n", dir);
        return 1;
    }
    return rc == 0 ? 0 : cli_fail(dir, rc);
}

int cli_root_pass(const cli_ctx *ctx, char **pass, size_t *len, int confirm)
{
    int rc = refbus_passphrase_get(pass, len, ctx->pass_file, "Root key passphrase: ", confirm);
    return rc == 0 ? 0 : cli_fail("root key passphrase", rc);
}

int cli_bundle_pass(const cli_ctx *ctx, const char *file, const char *for_id, char **pass,
                    size_t *len, int confirm)
{
    char prompt[128];
    snprintf(prompt, sizeof prompt, "Passphrase for the bundle of %s: ", for_id);
    int rc = refbus_passphrase_get_env(pass, len, file ? file : ctx->bundle_pass_file,
                                       "REFBUS_BUNDLE_PASSPHRASE_FILE", prompt, confirm);
    return rc == 0 ? 0 : cli_fail("bundle passphrase", rc);
}

int cli_new_pass_ok(const cli_ctx *ctx, const char *pass, size_t len, const char *what)
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

int cli_kdf(const cli_ctx *ctx, refbus_kdf *kdf)
{
    if (refbus_kdf_named(kdf, ctx->kdf_name) != 0)
        return cli_misuse(ctx->cmd,
                          "unknown KDF cost '%s' (interactive, moderate, sensitive, "
                          "min)",
                          ctx->kdf_name ? ctx->kdf_name : getenv("REFBUS_KDF_LIMIT"));
    return 0;
}

int cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
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

int cli_print(const char *s)
{
    if (fputs(s, stdout) < 0 || fflush(stdout) != 0)
        return 1;
    return 0;
}

int cli_enrol_begin(cli_ctx *ctx, const char *id, refbus_kdf *kdf, char **pass, size_t *len,
                    refbus_admin **a)
{
    int ex;
    if ((ex = cli_kdf(ctx, kdf)) != 0 || (ex = cli_bundle_pass(ctx, NULL, id, pass, len, 1)))
        return ex;
    if ((ex = cli_new_pass_ok(ctx, *pass, *len, "bundle passphrase")) != 0) {
        refbus_passphrase_free(pass, *len);
        return ex;
    }
    if ((ex = cli_admin_open(ctx, a)) != 0) {
        refbus_passphrase_free(pass, *len);
        return ex;
    }
    return 0;
}

int cli_enrol_finish(const char *what, const char *id, const char *out, refbus_admin *a, int rc)
{
    if (rc == 0) {
        printf("%s %s enrolled at epoch 1; bundle written to %s (directory serial %llu + 1 "
               "after 'refbus-keys sign')\n",
               what, id, out, (unsigned long long)refbus_admin_serial(a));
        rc = fflush(stdout) == 0 ? 0 : 1;
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "%s add %s", what, id);
        rc = cli_fail(msg, rc);
    }
    refbus_admin_close(&a);
    return rc;
}

int cli_root_key(const cli_ctx *ctx, const char *hex, const char *pubfile, uint8_t pk[32])
{
    int rc;
    if (hex) {
        if (refbus_root_pk_parse(pk, hex) != 0) {
            return -cli_misuse(ctx->cmd, "--root-pk needs 64 hex digits of an Ed25519 key");
        }
        return 1;
    }
    if (pubfile) {
        uint8_t *buf = NULL;
        size_t len = 0;
        rc = refbus_file_read(&buf, &len, pubfile, 4096);
        if (rc == 0)
            rc = refbus_root_pk_parse(pk, (const char *)buf);
        free(buf);
        if (rc != 0)
            return -cli_fail(pubfile, rc);
        return 1;
    }
    const char *dir = ctx->dir ? ctx->dir : getenv("REFBUS_ADMIN_DIR");
    if (!dir || !*dir)
        return 0;
    rc = refbus_admin_read_root_pub(dir, pk);
    if (rc == REFBUS_ENOTFOUND)
        return 0;
    return rc == 0 ? 1 : -cli_fail("root.pub", rc);
}
