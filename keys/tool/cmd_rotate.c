/* refbus-keys rotate: a new key epoch for an agency or the broker; its new bundle keeps every
 * older epoch's secrets, so that what was sealed to them can still be opened. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/tool/cli.h"
#include "keys/passphrase.h"

enum { OPT_BUNDLE = OPT_FIRST_LOCAL, OPT_OUT, OPT_NEWPASS };

static const char rotate_usage[] =
    "usage: refbus-keys -d ADMIN_DIR rotate ID --bundle OLD --out NEW\n"
    "                   [--bundle-passphrase-file F] [--new-passphrase-file F2] [--kdf COST]\n"
    "                   [--allow-weak-passphrase]\n"
    "  Adds key epoch N+1 for agency (or broker) ID. OLD must be its newest bundle; NEW is\n"
    "  created (never replaced) with every epoch's secrets, under F2's passphrase or, without\n"
    "  --new-passphrase-file, OLD's. Epoch N becomes retired. Publish with 'sign'.\n";

int cmd_rotate(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"bundle", required_argument, NULL, OPT_BUNDLE},
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"new-passphrase-file", required_argument, NULL,
                                          OPT_NEWPASS},
                                         {NULL, 0, NULL, 0}};
    const char *old = NULL, *out = NULL, *newpass_file = NULL;
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_BUNDLE)
            old = optarg;
        else if (c == OPT_OUT)
            out = optarg;
        else if (c == OPT_NEWPASS)
            newpass_file = optarg;
        else if (!cli_common_opt(ctx, c, rotate_usage))
            return cli_bad_option("rotate", c, argv, opts);
    }
    if (optind != argc - 1 || !old || !out)
        return cli_misuse("rotate", "needs ID, --bundle and --out");
    const char *id = argv[optind];
    refbus_kdf kdf;
    refbus_admin *a = NULL;
    char *pass = NULL, *newpass = NULL;
    size_t len = 0, newlen = 0;
    uint32_t epoch = 0;
    if ((ex = cli_kdf(ctx, &kdf)) != 0 || (ex = cli_bundle_pass(ctx, NULL, id, &pass, &len, 0)))
        return ex;
    if (newpass_file && (ex = cli_bundle_pass(ctx, newpass_file, id, &newpass, &newlen, 0))) {
        refbus_passphrase_free(&pass, len);
        return ex;
    }
    /* The new bundle is protected by the new passphrase, or by the old one kept. A weak old one
     * is first tried on OLD, so that a mistyped passphrase is reported as wrong, not weak. */
    if (newpass) {
        if ((ex = cli_new_pass_ok(ctx, newpass, newlen, "new bundle passphrase")) != 0)
            goto out;
    } else if (!ctx->allow_weak && refbus_passphrase_check(pass, len, NULL, 0) != 0) {
        refbus_keystore *ks = NULL;
        int orc = refbus_keystore_open(&ks, old, pass, len);
        refbus_keystore_free(&ks);
        if (orc != 0) {
            ex = cli_fail(old, orc);
            goto out;
        }
        if ((ex = cli_new_pass_ok(ctx, pass, len,
                                  "bundle passphrase (kept for the new bundle; "
                                  "give --new-passphrase-file)")) != 0)
            goto out;
    }
    if ((ex = cli_admin_open(ctx, &a)) != 0)
        goto out;
    int rc = refbus_admin_rotate(a, id, old, pass, len, out, newpass ? newpass : pass,
                                 newpass ? newlen : len, &kdf, &epoch);
    if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "rotate %s", id);
        ex = cli_fail(msg, rc);
        goto out;
    }
    printf("%s rotated to epoch %u (epoch %u retired); new bundle written to %s\n", id, epoch,
           epoch - 1, out);
    ex = fflush(stdout) == 0 ? 0 : 1;
out:
    refbus_admin_close(&a);
    refbus_passphrase_free(&newpass, newlen);
    refbus_passphrase_free(&pass, len);
    return ex;
}
