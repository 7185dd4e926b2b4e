/* refbus-keys init: create the administrators' root key (encrypted under a passphrase) and the
 * empty directory signed at serial 0. */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "keys/tool/cli.h"
#include "keys/passphrase.h"

static const char init_usage[] =
    "usage: refbus-keys -d ADMIN_DIR init [--passphrase-file F] [--kdf COST]\n"
    "                   [--allow-weak-passphrase]\n"
    "  Creates ADMIN_DIR with the root key (encrypted under the passphrase, asked twice on a\n"
    "  terminal) and the empty directory signed at serial 0. Prints the root public key.\n";

int cmd_init(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1)
        if (!cli_common_opt(ctx, c, init_usage))
            return cli_bad_option("init", c, argv, opts);
    if (optind != argc)
        return cli_misuse("init", "unexpected argument '%s'", argv[optind]);
    const char *dir = cli_dir(ctx);
    refbus_kdf kdf;
    char *pass = NULL;
    size_t len = 0;
    uint8_t pk[32];
    if (!dir)
        return REFBUS_EXIT_USAGE;
    if ((ex = cli_kdf(ctx, &kdf)) != 0 || (ex = cli_root_pass(ctx, &pass, &len, 1)) != 0)
        return ex;
    if ((ex = cli_new_pass_ok(ctx, pass, len, "root key passphrase")) != 0) {
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
        return cli_fail("init", rc);
    char hex[65], kid[REFBUS_KEY_ID_HEX];
    refbus_hex(hex, pk, 32);
    refbus_key_id(kid, pk);
    fprintf(stderr,
            "refbus-keys: initialised %s, root key %s; give %s/root.pub to the broker "
            "and every node\n",
            dir, kid, dir);
    printf("%s\n", hex);
    return fflush(stdout) == 0 ? 0 : 1;
}
