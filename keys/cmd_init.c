/* refbus-keys init / pubkey: create the administrators' root key, print its public half. */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "keys/cmd.h"
#include "keys/passphrase.h"

static const char init_usage[] =
    "usage: refbus-keys -d ADMIN_DIR init [--passphrase-file F] [--kdf COST]\n"
    "                   [--allow-weak-passphrase]\n"
    "  Creates ADMIN_DIR with the root key (encrypted under the passphrase, asked twice on a\n"
    "  terminal) and the empty directory signed at serial 0. Prints the root public key.\n";

int cmd_init(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1)
        if (!cmd_common_opt(ctx, c, init_usage))
            return cmd_misuse(init_usage, NULL);
    if (optind != argc)
        return cmd_misuse(init_usage, "init takes no arguments");
    const char *dir = cmd_dir(ctx);
    refbus_kdf kdf;
    char *pass = NULL;
    size_t len = 0;
    uint8_t pk[32];
    if (!dir)
        return EXIT_USAGE;
    if ((ex = cmd_kdf(ctx, &kdf)) != 0 || (ex = cmd_root_pass(ctx, &pass, &len, 1)) != 0)
        return ex;
    if ((ex = cmd_new_pass_ok(ctx, pass, len, "root key passphrase")) != 0) {
        refbus_passphrase_free(&pass, len);
        return ex;
    }
    int rc = refbus_admin_init(dir, pass, len, &kdf, pk);
    refbus_passphrase_free(&pass, len);
    if (rc == REFBUS_EEXIST) {
        fprintf(stderr, "refbus-keys: %s is already initialised (root.key exists)\n", dir);
        return 1;
    }
    if (rc != 0)
        return cmd_fail("init", rc);
    char hex[65], kid[REFBUS_KEY_ID_HEX];
    refbus_hex(hex, pk, 32);
    refbus_key_id(kid, pk);
    fprintf(stderr, "refbus-keys: initialised %s, root key %s; give %s/root.pub to the broker "
                    "and every node\n",
            dir, kid, dir);
    printf("%s\n", hex);
    return fflush(stdout) == 0 ? 0 : 1;
}

static const char pubkey_usage[] =
    "usage: refbus-keys -d ADMIN_DIR pubkey [--json]\n"
    "  Prints the root public key as 64 hex digits (with --json: root_pk and key_id).\n";

int cmd_pubkey(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (!cmd_common_opt(ctx, c, pubkey_usage))
            return cmd_misuse(pubkey_usage, NULL);
    }
    if (optind != argc)
        return cmd_misuse(pubkey_usage, "pubkey takes no arguments");
    const char *dir = cmd_dir(ctx);
    uint8_t pk[32];
    char hex[65], kid[REFBUS_KEY_ID_HEX];
    if (!dir)
        return EXIT_USAGE;
    int rc = refbus_admin_read_root_pub(dir, pk);
    if (rc != 0)
        return cmd_fail("root.pub", rc);
    refbus_hex(hex, pk, 32);
    refbus_key_id(kid, pk);
    if (ctx->json)
        printf("{\"root_pk\": \"%s\", \"key_id\": \"%s\"}\n", hex, kid);
    else
        printf("%s\n", hex);
    return fflush(stdout) == 0 ? 0 : 1;
}
