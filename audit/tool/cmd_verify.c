/* refbus-audit verify: check a whole trail (refbus_audit_verify) and say so; exit 1 naming the
 * first bad index. A progress bar goes to stderr, and only when stderr is a terminal. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/checkpoint.h"
#include "audit/record.h"
#include "audit/tool/cli.h"
#include "audit/verify.h"
#include "common/util.h"

static const char usage_text[] =
    "usage: refbus-audit verify DIR [--broker-pk HEX|@FILE]...\n"
    "                           [--directory FILE --root-pk HEX] [--checkpoint FILE]...\n"
    "                           [--json] [--quiet] [--no-progress]\n"
    "  --broker-pk K    pin the broker's signing key (64 hex digits, or @FILE holding them);\n"
    "                   repeat for keys used before a rotation. Without it the signer of the\n"
    "                   first checkpoint is trusted, with a warning.\n"
    "  --directory F --root-pk K\n"
    "                   pin every unrevoked broker key of the signed agency directory F,\n"
    "                   checked against the network's root key K\n"
    "  --checkpoint F   a SignedCheckpoint kept elsewhere (by a node, an earlier audit: see\n"
    "                   refbus-audit checkpoint), as bytes or hex, that the trail must\n"
    "                   contain; repeatable\n"
    "  --json           print the result as one JSON object\n"
    "  --quiet          print nothing when the trail is intact\n"
    "  --no-progress    no progress bar even on a terminal\n"
    "Exit: 0 intact, 1 not intact (the first bad index is named) or error, 2 usage.\n";

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    int width = 40, filled = total ? (int)((double)done / (double)total * width) : width;
    fprintf(stderr, "\rverifying [%.*s%*s] %3d%% %llu/%llu", filled,
            "########################################", width - filled, "",
            total ? (int)((double)done * 100.0 / (double)total) : 100, (unsigned long long)done,
            (unsigned long long)total);
    if (done >= total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void print_json(const refbus_audit_verify_result *res, int ok)
{
    char root[65], id[65], pk[65], t[40];
    refbus_hex(root, res->root, REFBUS_MERKLE_HASH_BYTES);
    refbus_hex(id, res->log_id, REFBUS_AUDIT_LOG_ID_BYTES);
    refbus_hex(pk, res->signer_pk, crypto_sign_PUBLICKEYBYTES);
    refbus_time_iso(t, sizeof t, res->covered_time_ms, 1);
    json_t *j =
        json_pack("{s:b, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:o, s:b, s:b}", "ok",
                  ok, "problem", refbus_audit_problem_name(res->problem), "index",
                  ok ? json_null() : json_integer((json_int_t)res->index), "detail", res->detail,
                  "records", (json_int_t)res->size, "checked", (json_int_t)res->checked,
                  "checkpoints", (json_int_t)res->checkpoints, "covered", (json_int_t)res->covered,
                  "covered_time", res->covered ? t : "", "root", ok ? root : "", "log_id", id,
                  "signer_pk", res->have_signer ? json_string(pk) : json_null(), "pinned",
                  res->pinned, "unlocked", res->unlocked);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (s)
        printf("%s\n", s);
    free(s);
    json_decref(j);
}

static void print_text(const refbus_audit_verify_result *res, int ok)
{
    char root[65], t[40];
    if (!ok) {
        printf("FAILED at index %llu: %s: %s\n", (unsigned long long)res->index,
               refbus_audit_problem_name(res->problem), res->detail);
        return;
    }
    refbus_hex(root, res->root, REFBUS_MERKLE_HASH_BYTES);
    printf("intact: %llu records, %llu checkpoint signatures verified",
           (unsigned long long)res->size, (unsigned long long)res->checkpoints);
    if (res->covered) {
        refbus_time_iso(t, sizeof t, res->covered_time_ms, 1);
        printf("; the latest signs %llu records (%s)", (unsigned long long)res->covered, t);
    }
    printf("\nroot %s\n", root);
    uint64_t tail = res->size - res->covered;
    if (tail)
        printf("note: %llu record%s after the latest checkpoint %s not covered by a signature "
               "yet\n",
               (unsigned long long)tail, tail == 1 ? "" : "s", tail == 1 ? "is" : "are");
}

int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"broker-pk", required_argument, NULL, 'k'},
                                         {"checkpoint", required_argument, NULL, 'c'},
                                         {"directory", required_argument, NULL, 'D'},
                                         {"root-pk", required_argument, NULL, 'R'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"no-progress", no_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    uint8_t pks[CLI_MAX_PKS][crypto_sign_PUBLICKEYBYTES];
    uint8_t *anchors[CLI_MAX_ANCHORS];
    size_t anchor_lens[CLI_MAX_ANCHORS], n_pks = 0, n_anchors = 0;
    int json = 0, quiet = 0, bar = 1, c, rc = REFBUS_EXIT_USAGE;
    const char *dir_file = NULL, *root_pk = NULL;
    refbus_audit_reader *r = NULL;
    refbus_audit_verify_result res;
    while ((c = getopt_long(argc, argv, REFBUS_CLI_OPTS "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            if (n_pks == CLI_MAX_PKS || cli_pk(pks[n_pks], optarg) != 0) {
                cli_misuse("verify", "bad --broker-pk '%s' (64 hex digits or @FILE)", optarg);
                goto out;
            }
            n_pks++;
            break;
        case 'c': {
            int e = n_anchors == CLI_MAX_ANCHORS
                        ? REFBUS_ETOOLARGE
                        : cli_read_checkpoint(optarg, &anchors[n_anchors], &anchor_lens[n_anchors]);
            if (e != 0) {
                rc = cli_fail("verify", optarg, e);
                goto out;
            }
            n_anchors++;
            break;
        }
        case 'D': dir_file = optarg; break;
        case 'R': root_pk = optarg; break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'P': bar = 0; break;
        case 'h':
            fputs(usage_text, stdout);
            rc = 0;
            goto out;
        default: cli_bad_option("verify", c, argv, opts); goto out;
        }
    }
    if (optind + 1 != argc) {
        cli_misuse("verify", "give exactly one DIR");
        goto out;
    }
    if (!dir_file != !root_pk) {
        cli_misuse("verify", "--directory and --root-pk go together");
        goto out;
    }
    if (dir_file && (rc = cli_directory_pks("verify", dir_file, root_pk, pks, &n_pks)) != 0)
        goto out;
    if ((rc = cli_open("verify", argv[optind], &r)) != 0)
        goto out;
    if (n_pks == 0)
        fprintf(stderr, "refbus-audit verify: warning: no --broker-pk: trusting whoever signed "
                        "the first checkpoint; pin the broker key from the signed directory\n");
    refbus_audit_verify_opts o = {0};
    o.broker_pks = (const uint8_t(*)[crypto_sign_PUBLICKEYBYTES])pks;
    o.n_broker_pks = n_pks;
    o.anchors = (const uint8_t *const *)anchors;
    o.anchor_lens = anchor_lens;
    o.n_anchors = n_anchors;
    if (bar && !json && isatty(STDERR_FILENO))
        o.progress = progress;
    int vrc = refbus_audit_verify(r, &o, &res);
    if (vrc != 0 && vrc != REFBUS_EAUDIT) {
        rc = cli_fail("verify", argv[optind], vrc);
        goto out;
    }
    if (json)
        print_json(&res, vrc == 0);
    else if (vrc != 0 || !quiet)
        print_text(&res, vrc == 0);
    if (vrc == 0 && n_pks == 0 && res.have_signer && !json) {
        char pk[65];
        refbus_hex(pk, res.signer_pk, crypto_sign_PUBLICKEYBYTES);
        fprintf(stderr, "refbus-audit verify: the checkpoints are signed by %s\n", pk);
    }
    rc = vrc == 0 ? 0 : REFBUS_EXIT_FAIL;
out:
    refbus_audit_reader_close(&r);
    for (size_t i = 0; i < n_anchors; i++)
        free(anchors[i]);
    return rc;
}
