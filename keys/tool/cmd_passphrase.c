/* refbus-keys passphrase: make a strong random passphrase for a new root key or bundle, into a
 * file created 0600 and never replaced (for --passphrase-file / --bundle-passphrase-file), or
 * on standard output. */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "common/util.h"
#include "keys/tool/cli.h"
#include "keys/passphrase.h"

enum { OPT_OUT = OPT_FIRST_LOCAL };

static const char passphrase_usage[] =
    "usage: refbus-keys passphrase [--out FILE]\n"
    "  Makes a random passphrase: six groups of five letters and digits without look-alikes\n"
    "  (150 bits), e.g. for 'init --passphrase-file FILE' or '--bundle-passphrase-file FILE'.\n"
    "  FILE is created with mode 0600 and never replaced; without --out it is printed.\n"
    "  Keep it where the key's holders keep secrets; anyone with it and the key file has the "
    "key.\n";

int cmd_passphrase(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    char *pass = NULL;
    size_t len = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_OUT)
            out = optarg;
        else if (!cli_common_opt(ctx, c, passphrase_usage))
            return cli_bad_option("passphrase", c, argv, opts);
    }
    if (optind != argc)
        return cli_misuse("passphrase", "unexpected argument '%s'", argv[optind]);
    if ((rc = refbus_passphrase_generate(&pass, &len)) != 0)
        return cli_fail("passphrase", rc);
    pass[len] = '\n'; /* the buffer holds len + 1 bytes: the NUL becomes the newline */
    if (out) {
        rc = refbus_file_write_atomic(out, pass, len + 1, 0600, 1);
        if (rc == 0)
            fprintf(stderr, "refbus-keys: passphrase written to %s (mode 0600)\n", out);
    } else {
        rc = fwrite(pass, 1, len + 1, stdout) == len + 1 && fflush(stdout) == 0 ? 0 : REFBUS_EIO;
    }
    refbus_passphrase_free(&pass, len);
    if (rc == REFBUS_EEXIST) {
        fprintf(stderr, "refbus-keys: %s exists; a passphrase file is never replaced\n", out);
        return 1;
    }
    return rc == 0 ? 0 : cli_fail(out ? out : "standard output", rc);
}
