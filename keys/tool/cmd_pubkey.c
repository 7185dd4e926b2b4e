/* refbus-keys pubkey: print the root public key, for the broker and every node. */
#include <stdio.h>

#include "common/util.h"
#include "keys/tool/cli.h"

static const char pubkey_usage[] =
    "usage: refbus-keys -d ADMIN_DIR pubkey [--json]\n"
    "  Prints the root public key as 64 hex digits (with --json: root_pk and key_id).\n";

int cmd_pubkey(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (!cli_common_opt(ctx, c, pubkey_usage))
            return cli_bad_option("pubkey", c, argv, opts);
    }
    if (optind != argc)
        return cli_misuse("pubkey", "unexpected argument '%s'", argv[optind]);
    const char *dir = cli_dir(ctx);
    uint8_t pk[32];
    char hex[65], kid[REFBUS_KEY_ID_HEX];
    if (!dir)
        return REFBUS_EXIT_USAGE;
    int rc = refbus_admin_read_root_pub(dir, pk);
    if (rc != 0)
        return cli_fail("root.pub", rc);
    refbus_hex(hex, pk, 32);
    refbus_key_id(kid, pk);
    if (ctx->json)
        printf("{\"root_pk\": \"%s\", \"key_id\": \"%s\"}\n", hex, kid);
    else
        printf("%s\n", hex);
    return fflush(stdout) == 0 ? 0 : 1;
}
