/* refbus-keys revoke: revoke a key epoch (or every epoch) of an agency or the broker, with a
 * reason; it takes effect for everyone once the directory is signed and published. */
#include <stdio.h>

#include "keys/tool/cli.h"

enum { OPT_EPOCH = OPT_FIRST_LOCAL, OPT_ALL, OPT_REASON };

static const char revoke_usage[] =
    "usage: refbus-keys -d ADMIN_DIR revoke ID [--epoch N | --all] --reason TEXT\n"
    "  Revokes the newest key epoch of agency (or broker) ID, epoch N, or every epoch.\n"
    "  TEXT: 1 to 255 bytes of printable UTF-8. Publish with 'sign' at once.\n";

int cmd_revoke(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"epoch", required_argument, NULL, OPT_EPOCH},
                                         {"all", no_argument, NULL, OPT_ALL},
                                         {"reason", required_argument, NULL, OPT_REASON},
                                         {NULL, 0, NULL, 0}};
    const char *reason = NULL;
    uint64_t epoch = 0;
    int c, ex, all = 0, have_epoch = 0;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_EPOCH) {
            if (cli_parse_u64(optarg, UINT32_MAX, &epoch) != 0 || epoch == 0)
                return cli_misuse("revoke", "--epoch needs a number from 1");
            have_epoch = 1;
        } else if (c == OPT_ALL) {
            all = 1;
        } else if (c == OPT_REASON) {
            reason = optarg;
        } else if (!cli_common_opt(ctx, c, revoke_usage)) {
            return cli_bad_option("revoke", c, argv, opts);
        }
    }
    if (optind != argc - 1 || !reason)
        return cli_misuse("revoke", "needs ID and --reason");
    if (all && have_epoch)
        return cli_misuse("revoke", "--epoch and --all exclude each other");
    const char *id = argv[optind];
    refbus_admin *a = NULL;
    unsigned n = 0;
    if ((ex = cli_admin_open(ctx, &a)) != 0)
        return ex;
    int rc = refbus_admin_revoke(a, id, (uint32_t)epoch, all, reason, &n);
    refbus_admin_close(&a);
    if (rc != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "revoke %s", id);
        if (rc == REFBUS_EINVAL)
            fprintf(stderr, "refbus-keys: the reason must be 1 to 255 bytes of printable UTF-8\n");
        if (rc == REFBUS_EREVOKED)
            fprintf(stderr, "refbus-keys: nothing to revoke: already revoked\n");
        return cli_fail(msg, rc);
    }
    printf("%s: %u key epoch%s revoked; run 'refbus-keys sign' and push the directory now\n", id, n,
           n == 1 ? "" : "s");
    return fflush(stdout) == 0 ? 0 : 1;
}
