/* refbus-keys status: show the working (unsigned) directory, what the next `sign` publishes. */
#include <stdio.h>
#include <stdlib.h>

#include "keys/render.h"
#include "keys/tool/cli.h"

static const char status_usage[] =
    "usage: refbus-keys -d ADMIN_DIR status [--json]\n"
    "  Shows the working directory: what the next 'sign' will publish.\n";

int cmd_status(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (!cli_common_opt(ctx, c, status_usage))
            return cli_bad_option("status", c, argv, opts);
    }
    if (optind != argc)
        return cli_misuse("status", "unexpected argument '%s'", argv[optind]);
    refbus_admin *a = NULL;
    refbus_directory *d = NULL;
    char *json = NULL;
    if ((ex = cli_admin_open(ctx, &a)) != 0)
        return ex;
    int rc = refbus_admin_pending(a, &d);
    if (rc != 0) {
        ex = cli_fail("status", rc);
    } else if (ctx->json) {
        rc = refbus_directory_json(&json, d);
        ex = rc != 0 ? cli_fail("status", rc) : cli_print(json);
    } else {
        printf("working directory of %s (unsigned; last signed serial %llu; 'sign' publishes "
               "it)\n",
               cli_dir(ctx), (unsigned long long)refbus_admin_serial(a));
        ex = refbus_directory_print(stdout, d) == 0 && fflush(stdout) == 0 ? 0 : 1;
    }
    free(json);
    refbus_directory_free(&d);
    refbus_admin_close(&a);
    return ex;
}
