/* refbus-keys inspect: open a key bundle and show its public half (id, role, root key, and
 * per epoch its public keys). */
#include <stdio.h>
#include <stdlib.h>

#include "keys/passphrase.h"
#include "keys/render.h"
#include "keys/tool/cli.h"

static const char inspect_usage[] =
    "usage: refbus-keys inspect BUNDLE [--json] [--bundle-passphrase-file F]\n"
    "  Opens a key bundle and prints its id, role, root key and per epoch its public keys.\n";

int cmd_inspect(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (!cli_common_opt(ctx, c, inspect_usage))
            return cli_bad_option("inspect", c, argv, opts);
    }
    if (optind != argc - 1)
        return cli_misuse("inspect", "needs exactly one BUNDLE");
    const char *file = argv[optind];
    refbus_keystore *ks = NULL;
    char *pass = NULL, *json = NULL;
    size_t len = 0;
    if ((ex = cli_bundle_pass(ctx, NULL, file, &pass, &len, 0)) != 0)
        return ex;
    int rc = refbus_keystore_open(&ks, file, pass, len);
    refbus_passphrase_free(&pass, len);
    if (rc != 0)
        return cli_fail(file, rc);
    if (ctx->json) {
        rc = refbus_keystore_json(&json, ks);
        ex = rc != 0 ? cli_fail("json", rc) : cli_print(json);
    } else {
        ex = refbus_keystore_print(stdout, ks) == 0 && fflush(stdout) == 0 ? 0 : 1;
    }
    free(json);
    refbus_keystore_free(&ks);
    return ex;
}
