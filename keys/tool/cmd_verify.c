/* refbus-keys verify: check a signed directory against the root key; exit 1 with the reason
 * when it does not verify. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "keys/tool/cli.h"

enum { OPT_ROOTPK = OPT_FIRST_LOCAL, OPT_ROOTPUB, OPT_TRUSTED };

static const char verify_usage[] =
    "usage: refbus-keys verify FILE (--root-pk HEX | --root-pub FILE | -d ADMIN_DIR)\n"
    "                   [--trusted-serial N] [--json]\n"
    "  Checks FILE against the root public key: signature over the exact bytes, structure,\n"
    "  ids, and (with --trusted-serial) a serial greater than N. Exit 0 when it verifies,\n"
    "  1 with the reason when it does not.\n";

int cmd_verify(cli_ctx *ctx, int argc, char **argv)
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
            if (cli_parse_u64(optarg, UINT64_MAX, &trusted) != 0)
                return cli_misuse("verify", "--trusted-serial needs a number");
            have_trusted = 1;
        } else if (!cli_common_opt(ctx, c, verify_usage)) {
            return cli_bad_option("verify", c, argv, opts);
        }
    }
    if (optind != argc - 1)
        return cli_misuse("verify", "needs exactly one FILE");
    const char *file = argv[optind];
    uint8_t pk[32];
    refbus_directory *d = NULL;
    int have = cli_root_key(ctx, hex, pubfile, pk);
    if (have < 0)
        return -have;
    if (!have)
        return cli_misuse("verify", "needs the root key");
    int rc = refbus_directory_load_file(&d, file, pk, have_trusted ? &trusted : NULL);
    char kid[REFBUS_KEY_ID_HEX];
    refbus_key_id(kid, pk);
    if (ctx->json) {
        json_t *o = rc == 0 ? json_pack("{s:b, s:s, s:I, s:s}", "ok", 1, "file", file, "serial",
                                        (json_int_t)refbus_directory_serial(d), "root_key_id", kid)
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
        return cli_fail(msg, rc);
    }
    return 0;
}
