/* refbus-keys broker add: enrol the broker (one per directory) at key epoch 1 with the endpoints
 * nodes connect to, writing the key bundle to hand to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/tool/cli.h"
#include "keys/passphrase.h"

enum { OPT_OUT = OPT_FIRST_LOCAL, OPT_ENDPOINT };

static const char broker_usage[] =
    "usage: refbus-keys -d ADMIN_DIR broker add ID --out BUNDLE [--endpoint URL]...\n"
    "                   [--bundle-passphrase-file F] [--kdf COST] [--allow-weak-passphrase]\n"
    "  Enrols the broker (one per directory) with the endpoints nodes connect to.\n";

int cmd_broker(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"endpoint", required_argument, NULL, OPT_ENDPOINT},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *eps[REFBUS_DIR_MAX_ENDPOINTS];
    size_t n_eps = 0;
    int c, ex;
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
            return fputs(broker_usage, stdout) < 0;
        return cli_misuse("broker", "expected 'add'");
    }
    argc--, argv++;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_OUT) {
            out = optarg;
        } else if (c == OPT_ENDPOINT) {
            if (n_eps == REFBUS_DIR_MAX_ENDPOINTS)
                return cli_misuse("broker", "at most 16 endpoints");
            eps[n_eps++] = optarg;
        } else if (!cli_common_opt(ctx, c, broker_usage)) {
            return cli_bad_option("broker", c, argv, opts);
        }
    }
    if (optind != argc - 1 || !out)
        return cli_misuse("broker", "'add' needs ID and --out");
    const char *id = argv[optind];
    if (!refbus_agency_id_valid(id))
        return cli_fail(id, REFBUS_EBADID);
    refbus_kdf kdf;
    refbus_admin *a = NULL;
    char *pass = NULL;
    size_t len = 0;
    if ((ex = cli_enrol_begin(ctx, id, &kdf, &pass, &len, &a)) != 0)
        return ex;
    int rc = refbus_admin_broker_add(a, id, eps, n_eps, out, pass, len, &kdf);
    refbus_passphrase_free(&pass, len);
    if (rc == REFBUS_EINVAL)
        fprintf(stderr, "refbus-keys: endpoints must be 1 to 255 printable ASCII characters\n");
    return cli_enrol_finish("broker", id, out, a, rc);
}
