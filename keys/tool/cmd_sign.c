/* refbus-keys sign: publish the working directory, signed by the root key, as the next serial. */
#include <stdio.h>

#include "keys/passphrase.h"
#include "keys/tool/cli.h"

enum { OPT_OUT = OPT_FIRST_LOCAL };

static const char sign_usage[] =
    "usage: refbus-keys -d ADMIN_DIR sign [--out FILE] [--passphrase-file F]\n"
    "  Signs the working directory with the root key as serial N+1 and writes it to\n"
    "  ADMIN_DIR/directory.signed, ADMIN_DIR/signed/ and FILE. Prints the new serial.\n";

int cmd_sign(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_OUT)
            out = optarg;
        else if (!cli_common_opt(ctx, c, sign_usage))
            return cli_bad_option("sign", c, argv, opts);
    }
    if (optind != argc)
        return cli_misuse("sign", "unexpected argument '%s'", argv[optind]);
    refbus_admin *a = NULL;
    char *pass = NULL;
    size_t len = 0;
    uint64_t serial = 0;
    if (!cli_dir(ctx))
        return REFBUS_EXIT_USAGE;
    if ((ex = cli_root_pass(ctx, &pass, &len, 0)) != 0)
        return ex;
    if ((ex = cli_admin_open(ctx, &a)) == 0) {
        int rc = refbus_admin_sign(a, pass, len, out, &serial);
        if (rc != 0) {
            ex = cli_fail("sign", rc);
        } else {
            printf("directory serial %llu signed: %s/directory.signed%s%s\n",
                   (unsigned long long)serial, cli_dir(ctx), out ? " and " : "", out ? out : "");
            ex = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    refbus_admin_close(&a);
    refbus_passphrase_free(&pass, len);
    return ex;
}
