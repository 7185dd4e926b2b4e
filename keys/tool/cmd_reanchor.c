/* refbus-keys reanchor: after a broker restore, name the audit checkpoint of the restored trail
 * that every node takes as its new anchor (docs/ADMIN-GUIDE.md section 10). Recorded in the
 * working directory; it reaches the nodes, root-signed, with the next `sign` and publish. */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "keys/tool/cli.h"

enum { OPT_SIZE = OPT_FIRST_LOCAL, OPT_ROOT, OPT_REASON };

static const char reanchor_usage[] =
    "usage: refbus-keys -d ADMIN_DIR reanchor --size N --root HEX --reason TEXT\n"
    "  After a broker restore nodes hold a checkpoint of the lost history and refuse every\n"
    "  new one (AUDIT ALARM). This names the checkpoint of the restored trail (its tree size\n"
    "  and root hash: `refbus-broker status` .last_checkpoint, or `refbus-audit checkpoint`\n"
    "  on the restored data) that nodes accept as their new anchor; each node does so once,\n"
    "  keeps its old checkpoint in its history and clears the alarm. TEXT (1..255 bytes)\n"
    "  says why, for the record. Publish with 'sign'.\n";

int cmd_reanchor(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"size", required_argument, NULL, OPT_SIZE},
                                         {"root", required_argument, NULL, OPT_ROOT},
                                         {"reason", required_argument, NULL, OPT_REASON},
                                         {NULL, 0, NULL, 0}};
    const char *size_s = NULL, *root_s = NULL, *reason = NULL;
    uint64_t size = 0;
    uint8_t root[32];
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_SIZE)
            size_s = optarg;
        else if (c == OPT_ROOT)
            root_s = optarg;
        else if (c == OPT_REASON)
            reason = optarg;
        else if (!cli_common_opt(ctx, c, reanchor_usage))
            return cli_bad_option("reanchor", c, argv, opts);
    }
    if (optind != argc)
        return cli_misuse("reanchor", "unexpected argument '%s'", argv[optind]);
    if (!size_s || !root_s || !reason)
        return cli_misuse("reanchor", "needs --size, --root and --reason");
    if (cli_parse_u64(size_s, UINT64_MAX, &size) != 0 || size == 0)
        return cli_misuse("reanchor", "--size: expected a tree size of at least 1");
    if (strlen(root_s) != 64 || refbus_unhex(root, 32, root_s) != 0)
        return cli_misuse("reanchor", "--root: expected 64 hex digits");
    refbus_admin *a = NULL;
    if ((ex = cli_admin_open(ctx, &a)) != 0)
        return ex;
    int rc = refbus_admin_reanchor(a, size, root, reason);
    refbus_admin_close(&a);
    if (rc != 0)
        return cli_fail("reanchor", rc);
    printf("reanchor: nodes will take checkpoint size %llu root %s as their anchor once this is "
           "signed and published\n",
           (unsigned long long)size, root_s);
    return fflush(stdout) == 0 ? 0 : 1;
}
