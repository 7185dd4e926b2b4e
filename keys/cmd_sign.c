/* refbus-keys sign / status: publish the working directory as the next signed serial, or show
 * what it holds before signing. */
#include <stdio.h>
#include <stdlib.h>

#include "keys/cmd.h"
#include "keys/passphrase.h"
#include "keys/render.h"

enum { OPT_OUT = OPT_FIRST_LOCAL };

static const char sign_usage[] =
    "usage: refbus-keys -d ADMIN_DIR sign [--out FILE] [--passphrase-file F]\n"
    "  Signs the working directory with the root key as serial N+1 and writes it to\n"
    "  ADMIN_DIR/directory.signed, ADMIN_DIR/signed/ and FILE. Prints the new serial.\n";

static const char status_usage[] =
    "usage: refbus-keys -d ADMIN_DIR status [--json]\n"
    "  Shows the working directory: what the next 'sign' will publish.\n";

int cmd_sign(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {"out", required_argument, NULL, OPT_OUT},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_OUT)
            out = optarg;
        else if (!cmd_common_opt(ctx, c, sign_usage))
            return cmd_misuse(sign_usage, NULL);
    }
    if (optind != argc)
        return cmd_misuse(sign_usage, "sign takes no arguments");
    refbus_admin *a = NULL;
    char *pass = NULL;
    size_t len = 0;
    uint64_t serial = 0;
    if (!cmd_dir(ctx))
        return EXIT_USAGE;
    if ((ex = cmd_root_pass(ctx, &pass, &len, 0)) != 0)
        return ex;
    if ((ex = cmd_admin_open(ctx, &a)) == 0) {
        int rc = refbus_admin_sign(a, pass, len, out, &serial);
        if (rc != 0) {
            ex = cmd_fail("sign", rc);
        } else {
            printf("directory serial %llu signed: %s/directory.signed%s%s\n",
                   (unsigned long long)serial, cmd_dir(ctx), out ? " and " : "", out ? out : "");
            ex = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    refbus_admin_close(&a);
    refbus_passphrase_free(&pass, len);
    return ex;
}

int cmd_status(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (!cmd_common_opt(ctx, c, status_usage))
            return cmd_misuse(status_usage, NULL);
    }
    if (optind != argc)
        return cmd_misuse(status_usage, "status takes no arguments");
    refbus_admin *a = NULL;
    refbus_directory *d = NULL;
    char *json = NULL;
    if ((ex = cmd_admin_open(ctx, &a)) != 0)
        return ex;
    int rc = refbus_admin_pending(a, &d);
    if (rc != 0) {
        ex = cmd_fail("status", rc);
    } else if (ctx->json) {
        rc = refbus_directory_json(&json, d);
        ex = rc != 0 ? cmd_fail("status", rc) : cmd_print(json);
    } else {
        printf("working directory of %s (unsigned; last signed serial %llu; 'sign' publishes "
               "it)\n",
               cmd_dir(ctx), (unsigned long long)refbus_admin_serial(a));
        ex = refbus_directory_print(stdout, d) == 0 && fflush(stdout) == 0 ? 0 : 1;
    }
    free(json);
    refbus_directory_free(&d);
    refbus_admin_close(&a);
    return ex;
}
