/* refbus-audit-bench: how fast `refbus-audit verify` checks a trail. Creates a trail of N
 * realistic records (checkpoint every 1000, as a broker would) in a scratch directory, or uses
 * the one given, then times verification (the library call the tool makes) over the whole of it.
 * With --append it times the broker's side instead: refbus_audit_append_record in transactions
 * of 100 (no fsync: the CPU cost). Results: docs/BENCHMARKS.md. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "audit/reader.h"
#include "audit/verify.h"
#include "audit_testutil.h"
#include "common/util.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: refbus-audit-bench [-n RECORDS] [-d DIR] [-r RUNS] [--append] [--json]\n"
               "  -n RECORDS  records to generate (default 1000000)\n"
               "  -d DIR      use (or create) the trail in DIR and keep it\n"
               "  -r RUNS     verification runs; the best is reported (default 3)\n"
               "  --append    time appending (one ACCEPTED-like record per call) instead\n");
}

/* Appends per second through refbus_audit_append_record, 100 per transaction, no fsync. */
static int bench_append(uint64_t n, int json)
{
    char *dir = atest_tmpdir("auditappend");
    MDB_env *env = NULL;
    refbus_audit *a = NULL;
    uint8_t msg[16], eh[32];
    char *rcpt[2] = {"police.ticac", "welfare.cm"};
    int rc = 1;
    randombytes_buf(msg, sizeof msg);
    randombytes_buf(eh, sizeof eh);
    if (mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 16) != 0 ||
        mdb_env_set_mapsize(env, (size_t)(n / 1000 + 64) << 20) != 0 ||
        mdb_env_open(env, dir, MDB_NOSYNC, 0600) != 0 || refbus_audit_open(&a, env, 0) != 0)
        goto out;
    uint64_t t0 = refbus_mono_ms();
    for (uint64_t i = 0; i < n; i += 100) {
        MDB_txn *txn;
        if (mdb_txn_begin(env, NULL, 0, &txn) != 0)
            goto out;
        for (uint64_t j = i; j < i + 100 && j < n; j++) {
            Refbus__V1__AuditRecord r = REFBUS__V1__AUDIT_RECORD__INIT;
            r.event = REFBUS__V1__EVENT_TYPE__EVENT_ACCEPTED;
            r.time_ms = 1767225600000ull + j;
            r.msg_id = (ProtobufCBinaryData){16, msg};
            r.sender = "cac.chiangmai";
            r.n_recipients = 2;
            r.recipients = rcpt;
            r.envelope_hash = (ProtobufCBinaryData){32, eh};
            r.kind = REFBUS__V1__KIND__KIND_REFERRAL;
            if (refbus_audit_append_record(a, txn, &r, NULL) != 0) {
                mdb_txn_abort(txn);
                goto out;
            }
        }
        if (mdb_txn_commit(txn) != 0)
            goto out;
    }
    double s = (double)(refbus_mono_ms() - t0) / 1000.0;
    double rate = s > 0 ? (double)n / s : 0;
    if (json)
        printf("{\"records\":%llu,\"append_records_per_s\":%.0f}\n", (unsigned long long)n, rate);
    else
        printf("append: %.0f records/s (%llu records, 100 per transaction, no fsync)\n", rate,
               (unsigned long long)n);
    rc = 0;
out:
    refbus_audit_free(&a);
    if (env)
        mdb_env_close(env);
    atest_rmdir(&dir);
    return rc;
}

int main(int argc, char **argv)
{
    uint64_t n = 1000000;
    unsigned runs = 3;
    const char *dir = NULL;
    int json = 0, append = 0, c;
    static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
                                       {"append", no_argument, NULL, 'a'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    while ((c = getopt_long(argc, argv, "n:d:r:h", lo, NULL)) != -1) {
        switch (c) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        case 'r': runs = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'j': json = 1; break;
        case 'a': append = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (sodium_init() < 0 || runs == 0)
        return 1;
    if (append)
        return bench_append(n, json);
    char *tmp = NULL;
    if (!dir) {
        tmp = atest_tmpdir("auditbench");
        dir = tmp;
    } else if (refbus_mkdirs(dir, 0700) != 0) {
        fprintf(stderr, "refbus-audit-bench: cannot create %s\n", dir);
        return 1;
    }
    char *data = NULL;
    struct stat st;
    if (asprintf(&data, "%s/data.mdb", dir) < 0)
        return 1;
    double gen_s = 0;
    if (stat(data, &st) != 0) {
        MDB_env *env = atest_env_open(dir, (size_t)(n / 1000 + 64) << 20);
        refbus_audit *a = NULL;
        uint64_t t0 = refbus_mono_ms();
        if (refbus_audit_open(&a, env, 0) != 0 || atest_fill(env, a, n, 1000, 1000, 1) != 0) {
            fprintf(stderr, "refbus-audit-bench: generating the trail failed\n");
            return 1;
        }
        gen_s = (double)(refbus_mono_ms() - t0) / 1000.0;
        refbus_audit_free(&a);
        mdb_env_close(env);
        stat(data, &st);
    }
    double best = 0;
    refbus_audit_verify_result res;
    uint8_t pk[32], sk[64];
    atest_broker_key(pk, sk);
    sodium_memzero(sk, sizeof sk);
    refbus_audit_verify_opts o = {0};
    o.broker_pks = (const uint8_t(*)[32])pk;
    o.n_broker_pks = 1;
    for (unsigned r = 0; r < runs; r++) {
        refbus_audit_reader *rd = NULL;
        if (refbus_audit_reader_open(&rd, dir) != 0)
            return 1;
        uint64_t t0 = refbus_mono_ms();
        int rc = refbus_audit_verify(rd, &o, &res);
        uint64_t t1 = refbus_mono_ms();
        refbus_audit_reader_close(&rd);
        if (rc != 0) {
            fprintf(stderr, "refbus-audit-bench: verify failed: %s at %llu: %s\n",
                    refbus_audit_problem_name(res.problem), (unsigned long long)res.index,
                    res.detail);
            return 1;
        }
        double s = (double)(t1 - t0) / 1000.0;
        double rate = s > 0 ? (double)res.checked / s : 0;
        if (rate > best)
            best = rate;
    }
    if (json)
        printf("{\"records\":%llu,\"checkpoints\":%llu,\"file_bytes\":%lld,\"generate_s\":%.2f,"
               "\"verify_records_per_s\":%.0f}\n",
               (unsigned long long)res.checked, (unsigned long long)res.checkpoints,
               (long long)st.st_size, gen_s, best);
    else
        printf("records %llu (checkpoints %llu, %.1f MiB file%s)\nverify: %.0f records/s "
               "(best of %u)\n",
               (unsigned long long)res.checked, (unsigned long long)res.checkpoints,
               (double)st.st_size / 1048576.0, gen_s > 0 ? ", generated now" : "", best, runs);
    free(data);
    if (tmp)
        atest_rmdir(&tmp);
    return 0;
}
