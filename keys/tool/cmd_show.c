/* refbus-keys show: print a signed directory, checked against the root key when one is at hand
 * (and refused when the signature is bad), or marked as not checked. */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "keys/render.h"
#include "keys/tool/cli.h"

enum { OPT_ROOTPK = OPT_FIRST_LOCAL, OPT_ROOTPUB };

static const char show_usage[] =
    "usage: refbus-keys show [FILE] [--json] [--root-pk HEX | --root-pub FILE | -d ADMIN_DIR]\n"
    "  Prints a signed directory (default: ADMIN_DIR/directory.signed). With a root key (from\n"
    "  the options, or ADMIN_DIR/root.pub) the signature is checked and a bad one is refused;\n"
    "  without one the output says the signature was not checked.\n";

static int render(const cli_ctx *ctx, const refbus_directory *d)
{
    char *json = NULL;
    if (!ctx->json)
        return refbus_directory_print(stdout, d) == 0 && fflush(stdout) == 0 ? 0 : 1;
    int rc = refbus_directory_json(&json, d);
    int ex = rc != 0 ? cli_fail("json", rc) : cli_print(json);
    free(json);
    return ex;
}

int cmd_show(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"json", no_argument, NULL, OPT_JSON},
                                         {"root-pk", required_argument, NULL, OPT_ROOTPK},
                                         {"root-pub", required_argument, NULL, OPT_ROOTPUB},
                                         {NULL, 0, NULL, 0}};
    const char *hex = NULL, *pubfile = NULL, *file = NULL;
    char path[4096];
    int c;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_JSON)
            ctx->json = 1;
        else if (c == OPT_ROOTPK)
            hex = optarg;
        else if (c == OPT_ROOTPUB)
            pubfile = optarg;
        else if (!cli_common_opt(ctx, c, show_usage))
            return cli_bad_option("show", c, argv, opts);
    }
    if (optind < argc - 1)
        return cli_misuse("show", "unexpected argument '%s' (one FILE at most)", argv[optind + 1]);
    if (optind == argc - 1) {
        file = argv[optind];
    } else {
        const char *dir = cli_dir(ctx);
        if (!dir)
            return REFBUS_EXIT_USAGE;
        snprintf(path, sizeof path, "%s/directory.signed", dir);
        file = path;
    }
    uint8_t pk[32], *bytes = NULL;
    size_t len = 0;
    refbus_directory *d = NULL;
    int have = cli_root_key(ctx, hex, pubfile, pk);
    if (have < 0)
        return -have;
    int rc = refbus_file_read(&bytes, &len, file, REFBUS_DIRECTORY_MAX_BYTES);
    if (rc == 0) {
        if (have)
            rc = refbus_directory_load(&d, bytes, len, pk, NULL);
        else
            rc = refbus_directory_load_unverified(&d, bytes, len);
    }
    free(bytes);
    if (rc != 0)
        return cli_fail(file, rc);
    if (!have)
        fprintf(stderr,
                "refbus-keys: warning: %s: signature NOT checked (no root key: use "
                "--root-pk, --root-pub or -d)\n",
                file);
    int ex = render(ctx, d);
    refbus_directory_free(&d);
    return ex;
}
