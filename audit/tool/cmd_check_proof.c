/* refbus-audit check-proof: check a proof file without the log (refbus_audit_proof_check) and
 * show what it proves: the record (decoded) and the signed checkpoint it is part of. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/proof.h"
#include "audit/record.h"
#include "audit/tool/cli.h"
#include "common/util.h"

static const char usage_text[] =
    "usage: refbus-audit check-proof FILE [--broker-pk HEX|@FILE]...\n"
    "                                [--directory FILE --root-pk HEX] [--json]\n"
    "  FILE            a proof from refbus-audit prove ('-': standard input)\n"
    "  --broker-pk K   the broker's signing key (from the signed directory); repeatable.\n"
    "                  Without it the proof is checked against the key it names, which you\n"
    "                  must then compare with the broker's yourself.\n"
    "  --directory F --root-pk K\n"
    "                  accept every unrevoked broker key of the signed agency directory F,\n"
    "                  checked against the network's root key K\n"
    "  --json          print the result as one JSON object\n"
    "Exit: 0 the proof holds, 1 it does not (or error), 2 usage.\n";

static json_t *cp_json(const refbus_checkpoint *cp)
{
    char id[65], root[65], pk[65], t[40];
    refbus_hex(id, cp->log_id, REFBUS_AUDIT_LOG_ID_BYTES);
    refbus_hex(root, cp->root, REFBUS_MERKLE_HASH_BYTES);
    refbus_hex(pk, cp->signer_pk, crypto_sign_PUBLICKEYBYTES);
    refbus_time_iso(t, sizeof t, cp->time_ms, 1);
    return json_pack("{s:s, s:I, s:s, s:I, s:s, s:s}", "log_id", id, "size", (json_int_t)cp->size,
                     "root", root, "time_ms", (json_int_t)cp->time_ms, "time", t, "signer_pk", pk);
}

static void report(const refbus_audit_proof_info *info, int e, int pinned, int json)
{
    char t[40], pk[65], id[65];
    refbus_time_iso(t, sizeof t, info->cp.time_ms, 1);
    refbus_hex(pk, info->cp.signer_pk, crypto_sign_PUBLICKEYBYTES);
    refbus_hex(id, info->cp.log_id, REFBUS_AUDIT_LOG_ID_BYTES);
    if (json) {
        int incl = info->kind == REFBUS_PROOF_INCLUSION;
        json_t *j =
            json_pack("{s:b, s:s, s:s, s:b, s:o, s:o, s:o, s:o}", "ok", e == 0, "error",
                      e ? refbus_errname(e) : "", "kind", incl ? "inclusion" : "consistency",
                      "pinned", pinned, "index",
                      incl ? json_integer((json_int_t)info->index) : json_null(), "checkpoint",
                      cp_json(&info->cp), "first_checkpoint",
                      incl ? json_null() : cp_json(&info->first), "record",
                      incl ? refbus_audit_record_json(info->index, info->record, info->record_len)
                           : json_null());
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
        return;
    }
    if (e != 0) {
        printf("proof does NOT hold: %s\n", e == REFBUS_EBADSIG  ? "the checkpoint signature "
                                                                   "does not verify"
                                            : e == REFBUS_EPROOF ? "the audit path does not lead "
                                                                   "to the signed root"
                                                                 : refbus_strerror(e));
        return;
    }
    if (info->kind == REFBUS_PROOF_INCLUSION) {
        printf("proof holds: record %llu is in log %s, whose first %llu records the broker "
               "key %s signed at %s\n",
               (unsigned long long)info->index, id, (unsigned long long)info->cp.size, pk, t);
        Refbus__V1__AuditRecord *r =
            refbus__v1__audit_record__unpack(NULL, info->record_len, info->record);
        char *line = NULL;
        if (r && refbus_audit_record_text(&line, info->index, r) == 0)
            printf("%s\n", line);
        else
            printf("(the record does not decode as an AuditRecord)\n");
        free(line);
        if (r)
            refbus__v1__audit_record__free_unpacked(r, NULL);
    } else {
        char t1[40];
        refbus_time_iso(t1, sizeof t1, info->first.time_ms, 1);
        printf("proof holds: in log %s, the checkpoint of %llu records (%s) is a prefix of the "
               "checkpoint of %llu records (%s), signed by %s\n",
               id, (unsigned long long)info->first.size, t1, (unsigned long long)info->cp.size, t,
               pk);
    }
    if (!pinned)
        fprintf(stderr,
                "refbus-audit check-proof: warning: no --broker-pk: compare the signer "
                "%s with the broker key in the signed directory\n",
                pk);
}

int cmd_check_proof(int argc, char **argv)
{
    static const struct option opts[] = {{"broker-pk", required_argument, NULL, 'k'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"directory", required_argument, NULL, 'D'},
                                         {"root-pk", required_argument, NULL, 'R'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    uint8_t pks[CLI_MAX_PKS][crypto_sign_PUBLICKEYBYTES], *file = NULL;
    size_t n_pks = 0, len = 0;
    int json = 0, c;
    const char *dir_file = NULL, *root_pk = NULL;
    refbus_audit_proof_info info;
    while ((c = getopt_long(argc, argv, REFBUS_CLI_OPTS "h", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (n_pks == CLI_MAX_PKS || cli_pk(pks[n_pks], optarg) != 0)
                return cli_misuse("check-proof", "bad --broker-pk '%s' (64 hex digits or @FILE)",
                                  optarg);
            n_pks++;
            break;
        case 'j': json = 1; break;
        case 'D': dir_file = optarg; break;
        case 'R': root_pk = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return cli_bad_option("check-proof", c, argv, opts);
        }
    }
    if (optind + 1 != argc)
        return cli_misuse("check-proof", "give exactly one FILE");
    if (!dir_file != !root_pk)
        return cli_misuse("check-proof", "--directory and --root-pk go together");
    if (dir_file) {
        int x = cli_directory_pks("check-proof", dir_file, root_pk, pks, &n_pks);
        if (x != 0)
            return x;
    }
    int e = cli_read(argv[optind], &file, &len, REFBUS_PROOF_MAX);
    if (e != 0)
        return cli_fail("check-proof", argv[optind], e);
    e = refbus_audit_proof_check(&info, file, len,
                                 (const uint8_t(*)[crypto_sign_PUBLICKEYBYTES])pks, n_pks);
    free(file);
    if (e == REFBUS_EMALFORMED || e == REFBUS_ENOMEM) {
        refbus_audit_proof_info_clear(&info);
        fprintf(stderr, "refbus-audit check-proof: %s: %s\n", argv[optind],
                e == REFBUS_EMALFORMED ? "not a refbus audit proof file" : refbus_strerror(e));
        return REFBUS_EXIT_FAIL;
    }
    report(&info, e, n_pks > 0, json);
    refbus_audit_proof_info_clear(&info);
    return e == 0 ? 0 : REFBUS_EXIT_FAIL;
}
