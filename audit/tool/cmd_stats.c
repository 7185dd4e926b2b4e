/* refbus-audit stats: size, time span, counts per event and per agency, and the checkpoints
 * (refbus_audit_stats), for people or, with --json, for programs. */
#include <stdlib.h>

#include "audit/replay.h"
#include "audit/tool/cli.h"

static const char usage_text[] = "usage: refbus-audit stats DIR [--json]\n";

int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int json = 0, c, rc;
    refbus_audit_reader *r = NULL;
    json_t *s = NULL;
    while ((c = getopt_long(argc, argv, REFBUS_CLI_OPTS "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return cli_bad_option("stats", c, argv, opts);
        }
    }
    if (optind + 1 != argc)
        return cli_misuse("stats", "give exactly one DIR");
    if ((rc = cli_open("stats", argv[optind], &r)) != 0)
        return rc;
    int e = refbus_audit_stats(r, &s);
    refbus_audit_reader_close(&r);
    if (e != 0)
        return cli_fail("stats", argv[optind], e);
    if (json) {
        char *t = json_dumps(s, JSON_COMPACT);
        if (t)
            printf("%s\n", t);
        free(t);
    } else {
        refbus_audit_stats_print(stdout, s);
    }
    json_decref(s);
    return 0;
}
