/* refbus-audit checkpoint: export the newest (or a given) stored signed checkpoint, to keep it
 * and hand it to a later `verify --checkpoint`, which then proves the trail was not cut back. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/checkpoint.h"
#include "audit/record.h"
#include "audit/tool/cli.h"
#include "common/util.h"

static const char usage_text[] =
    "usage: refbus-audit checkpoint DIR [--at SIZE] [-o FILE] [--json]\n"
    "  --at SIZE  the stored checkpoint of SIZE records (default: the newest)\n"
    "  -o FILE    write its bytes there (for verify --checkpoint FILE)\n"
    "  --json     describe it as JSON (with its bytes as hex); otherwise a summary and the hex\n"
    "The signature is not checked here: verify and check-proof do that.\n";

int cmd_checkpoint(int argc, char **argv)
{
    static const struct option opts[] = {{"at", required_argument, NULL, 'a'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    uint64_t at = 0;
    const char *outpath = NULL;
    int json = 0, c, rc;
    refbus_audit_reader *r = NULL;
    uint8_t *b = NULL;
    size_t len = 0;
    refbus_checkpoint cp;
    while ((c = getopt_long(argc, argv, REFBUS_CLI_OPTS "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (cli_u64(&at, optarg) != 0)
                return cli_misuse("checkpoint", "bad --at '%s'", optarg);
            break;
        case 'o': outpath = optarg; break;
        case 'j': json = 1; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return cli_bad_option("checkpoint", c, argv, opts);
        }
    }
    if (optind + 1 != argc)
        return cli_misuse("checkpoint", "give exactly one DIR");
    if ((rc = cli_open("checkpoint", argv[optind], &r)) != 0)
        return rc;
    refbus_audit *a = refbus_audit_reader_log(r);
    int e = at ? refbus_audit_checkpoint_at(a, NULL, at, &b, &len)
               : refbus_audit_latest_checkpoint(a, NULL, &b, &len);
    refbus_audit_reader_close(&r);
    if (e == REFBUS_ENOTFOUND) {
        fprintf(stderr, "refbus-audit checkpoint: no such checkpoint in the trail\n");
        return REFBUS_EXIT_FAIL;
    }
    if (e == 0 && refbus_checkpoint_parse(&cp, b, len) != 0)
        e = REFBUS_EMALFORMED;
    if (e == 0 && outpath)
        e = refbus_file_write_atomic(outpath, b, len, 0644, 0);
    if (e != 0) {
        free(b);
        return cli_fail("checkpoint", outpath ? outpath : argv[optind], e);
    }
    char *hex = malloc(2 * len + 1), id[65], root[65], pk[65], t[40];
    if (!hex) {
        free(b);
        return cli_fail("checkpoint", argv[optind], REFBUS_ENOMEM);
    }
    refbus_hex(hex, b, len);
    refbus_hex(id, cp.log_id, REFBUS_AUDIT_LOG_ID_BYTES);
    refbus_hex(root, cp.root, REFBUS_MERKLE_HASH_BYTES);
    refbus_hex(pk, cp.signer_pk, crypto_sign_PUBLICKEYBYTES);
    refbus_time_iso(t, sizeof t, cp.time_ms, 1);
    if (json) {
        json_t *j = json_pack("{s:s, s:I, s:s, s:I, s:s, s:s, s:s}", "log_id", id, "size",
                              (json_int_t)cp.size, "root", root, "time_ms", (json_int_t)cp.time_ms,
                              "time", t, "signer_pk", pk, "signed_checkpoint", hex);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else if (!outpath) {
        printf("checkpoint of %llu records, %s, root %s\nlog %s, signer %s\n%s\n",
               (unsigned long long)cp.size, t, root, id, pk, hex);
    }
    free(hex);
    free(b);
    return 0;
}
