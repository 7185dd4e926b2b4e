/* refbus-keys show / verify / inspect: print a signed directory (checked against the root key
 * when one is at hand), verify one (exit 1 with the reason when it does not), and show the
 * public half of a key bundle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "keys/cmd.h"
#include "keys/passphrase.h"
#include "keys/render.h"

enum { OPT_ROOTPK = OPT_FIRST_LOCAL, OPT_ROOTPUB, OPT_TRUSTED };

static const char show_usage[] =
    "usage: refbus-keys show [FILE] [--json] [--root-pk HEX | --root-pub FILE | -d ADMIN_DIR]\n"
    "  Prints a signed directory (default: ADMIN_DIR/directory.signed). With a root key (from\n"
    "  the options, or ADMIN_DIR/root.pub) the signature is checked and a bad one is refused;\n"
    "  without one the output says the signature was not checked.\n";

static const char verify_usage[] =
    "usage: refbus-keys verify FILE (--root-pk HEX | --root-pub FILE | -d ADMIN_DIR)\n"
    "                   [--trusted-serial N] [--json]\n"
    "  Checks FILE against the root public key: signature over the exact bytes, structure,\n"
    "  ids, and (with --trusted-serial) a serial greater than N. Exit 0 when it verifies,\n"
    "  1 with the reason when it does not.\n";

static const char inspect_usage[] =
    "usage: refbus-keys inspect BUNDLE [--json] [--bundle-passphrase-file F]\n"
    "  Opens a key bundle and prints its id, role, root key and per epoch its public keys.\n";

/* The root key from --root-pk, --root-pub, or the admin directory. 1 found, 0 none, or
 * -(exit code) after a message. */
static int root_key(const cmd_ctx *ctx, const char *hex, const char *pubfile, uint8_t pk[32])
{
    int rc;
    if (hex) {
        if (refbus_root_pk_parse(pk, hex) != 0) {
            fprintf(stderr, "refbus-keys: --root-pk needs 64 hex digits of an Ed25519 key\n");
            return -EXIT_USAGE;
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
            return -cmd_fail(pubfile, rc);
        return 1;
    }
    const char *dir = ctx->dir ? ctx->dir : getenv("REFBUS_ADMIN_DIR");
    if (!dir || !*dir)
        return 0;
    rc = refbus_admin_read_root_pub(dir, pk);
    if (rc == REFBUS_ENOTFOUND)
        return 0;
    return rc == 0 ? 1 : -cmd_fail("root.pub", rc);
}

static int render(const cmd_ctx *ctx, const refbus_directory *d)
{
    char *json = NULL;
    if (!ctx->json)
        return refbus_directory_print(stdout, d) == 0 && fflush(stdout) == 0 ? 0 : 1;
    int rc = refbus_directory_json(&json, d);
    int ex = rc != 0 ? cmd_fail("json", rc) : cmd_print(json);
    free(json);
    return ex;
}

int cmd_show(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"root-pk", required_argument, NULL, OPT_ROOTPK},
                                         {"root-pub", required_argument, NULL, OPT_ROOTPUB},
                                         {NULL, 0, NULL, 0}};
    const char *hex = NULL, *pubfile = NULL, *file = NULL;
    char path[4096];
    int c;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (c == OPT_ROOTPK)
            hex = optarg;
        else if (c == OPT_ROOTPUB)
            pubfile = optarg;
        else if (!cmd_common_opt(ctx, c, show_usage))
            return cmd_misuse(show_usage, NULL);
    }
    if (optind < argc - 1)
        return cmd_misuse(show_usage, "show takes at most one FILE");
    if (optind == argc - 1) {
        file = argv[optind];
    } else {
        const char *dir = cmd_dir(ctx);
        if (!dir)
            return EXIT_USAGE;
        snprintf(path, sizeof path, "%s/directory.signed", dir);
        file = path;
    }
    uint8_t pk[32], *bytes = NULL;
    size_t len = 0;
    refbus_directory *d = NULL;
    int have = root_key(ctx, hex, pubfile, pk);
    if (have < 0)
        return -have;
    int rc = refbus_file_read(&bytes, &len, file, REFBUS_DIRECTORY_MAX_BYTES);
    if (rc == 0) {
        if (have)
            rc = refbus_directory_load(&d, bytes, len, pk, NULL);
        else
            rc = refbus_directory_load_unverified(&d, bytes, len);
    }
    free(bytes);
    if (rc != 0)
        return cmd_fail(file, rc);
    if (!have)
        fprintf(stderr, "refbus-keys: warning: %s: signature NOT checked (no root key: use "
                        "--root-pk, --root-pub or -d)\n",
                file);
    int ex = render(ctx, d);
    refbus_directory_free(&d);
    return ex;
}

int cmd_verify(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"root-pk", required_argument, NULL, OPT_ROOTPK},
                                         {"root-pub", required_argument, NULL, OPT_ROOTPUB},
                                         {"trusted-serial", required_argument, NULL, OPT_TRUSTED},
                                         {NULL, 0, NULL, 0}};
    const char *hex = NULL, *pubfile = NULL;
    uint64_t trusted = 0;
    int c, have_trusted = 0;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON) {
            ctx->json = 1;
        } else if (c == OPT_ROOTPK) {
            hex = optarg;
        } else if (c == OPT_ROOTPUB) {
            pubfile = optarg;
        } else if (c == OPT_TRUSTED) {
            if (cmd_parse_u64(optarg, UINT64_MAX, &trusted) != 0)
                return cmd_misuse(verify_usage, "--trusted-serial needs a number");
            have_trusted = 1;
        } else if (!cmd_common_opt(ctx, c, verify_usage)) {
            return cmd_misuse(verify_usage, NULL);
        }
    }
    if (optind != argc - 1)
        return cmd_misuse(verify_usage, "verify needs exactly one FILE");
    const char *file = argv[optind];
    uint8_t pk[32];
    refbus_directory *d = NULL;
    int have = root_key(ctx, hex, pubfile, pk);
    if (have < 0)
        return -have;
    if (!have)
        return cmd_misuse(verify_usage, "verify needs the root key");
    int rc = refbus_directory_load_file(&d, file, pk, have_trusted ? &trusted : NULL);
    char kid[REFBUS_KEY_ID_HEX];
    refbus_key_id(kid, pk);
    if (ctx->json) {
        json_t *o = rc == 0 ? json_pack("{s:b, s:s, s:I, s:s}", "ok", 1, "file", file, "serial",
                                        (json_int_t)refbus_directory_serial(d), "root_key_id",
                                        kid)
                            : json_pack("{s:b, s:s, s:s, s:s}", "ok", 0, "file", file, "error",
                                        refbus_errname(rc), "reason", refbus_strerror(rc));
        char *s = o ? json_dumps(o, 0) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (rc == 0) {
        printf("%s: OK, serial %llu, signed by root key %s\n", file,
               (unsigned long long)refbus_directory_serial(d), kid);
    }
    refbus_directory_free(&d);
    if (fflush(stdout) != 0)
        return 1;
    if (rc != 0) {
        char msg[4200];
        snprintf(msg, sizeof msg, "verify %s", file);
        return cmd_fail(msg, rc);
    }
    return 0;
}

int cmd_inspect(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (!cmd_common_opt(ctx, c, inspect_usage))
            return cmd_misuse(inspect_usage, NULL);
    }
    if (optind != argc - 1)
        return cmd_misuse(inspect_usage, "inspect needs exactly one BUNDLE");
    const char *file = argv[optind];
    refbus_keystore *ks = NULL;
    char *pass = NULL, *json = NULL;
    size_t len = 0;
    if ((ex = cmd_bundle_pass(ctx, NULL, file, &pass, &len, 0)) != 0)
        return ex;
    int rc = refbus_keystore_open(&ks, file, pass, len);
    refbus_passphrase_free(&pass, len);
    if (rc != 0)
        return cmd_fail(file, rc);
    if (ctx->json) {
        rc = refbus_keystore_json(&json, ks);
        ex = rc != 0 ? cmd_fail("json", rc) : cmd_print(json);
    } else {
        ex = refbus_keystore_print(stdout, ks) == 0 && fflush(stdout) == 0 ? 0 : 1;
    }
    free(json);
    refbus_keystore_free(&ks);
    return ex;
}
