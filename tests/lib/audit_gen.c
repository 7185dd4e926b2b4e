/* audit_gen: a test-only helper for the audit scenario scripts. Fills a data directory with a
 * realistic trail (accepted / queued / delivered / rejected ... between the demo agencies, with
 * signed checkpoints), tampers with it the way an attacker with the file could, runs a writer
 * that can be killed mid-batch, and prints facts the scripts check against. Not installed.
 *   audit_gen pk
 *   audit_gen fill DIR N [BATCH [CP_EVERY [FINAL_CP [BUNDLE PASSFILE]]]]
 *                                             (BUNDLE: sign with a refbus-keys broker bundle)
 *   audit_gen writer DIR BATCH CP_EVERY       (appends forever; prints "committed SIZE")
 *   audit_gen checkpoints DIR                 (stored checkpoint sizes, one per line)
 *   audit_gen latest DIR FILE                 (the latest SignedCheckpoint into FILE)
 *   audit_gen tamper DIR flip I [OFF] | delete I [renumber] | swap I J |
 *                        truncate FROM [tree] [cps] | forge SIZE [resign] | tree LAST LEVEL |
 *                        rehash */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_tamper.h"
#include "keys/keystore.h"
#include "keys/passphrase.h"
#include "audit_testutil.h"
#include "common/util.h"

static uint64_t num(const char *s)
{
    return strtoull(s, NULL, 10);
}

static int has(int argc, char **argv, int from, const char *word)
{
    for (int i = from; i < argc; i++)
        if (strcmp(argv[i], word) == 0)
            return 1;
    return 0;
}

static int tamper(MDB_env *env, int argc, char **argv)
{
    const char *what = argv[3];
    uint8_t pk[32], sk[64];
    int rc = -1;
    if (!strcmp(what, "flip") && argc >= 5)
        rc = tamper_flip(env, num(argv[4]), argc >= 6 ? num(argv[5]) : 7, 0x01);
    else if (!strcmp(what, "delete") && argc >= 5)
        rc = tamper_delete(env, num(argv[4]), has(argc, argv, 5, "renumber"));
    else if (!strcmp(what, "swap") && argc >= 6)
        rc = tamper_swap(env, num(argv[4]), num(argv[5]));
    else if (!strcmp(what, "truncate") && argc >= 5)
        rc = tamper_truncate(env, num(argv[4]), has(argc, argv, 5, "tree"),
                             has(argc, argv, 5, "cps"));
    else if (!strcmp(what, "forge") && argc >= 5) {
        atest_other_key(pk, sk);
        rc = tamper_forge_checkpoint(env, num(argv[4]), has(argc, argv, 5, "resign") ? sk : NULL);
        sodium_memzero(sk, sizeof sk);
    } else if (!strcmp(what, "tree") && argc >= 6)
        rc = tamper_tree(env, num(argv[4]), (unsigned)num(argv[5]));
    else if (!strcmp(what, "rehash"))
        rc = tamper_rehash(env);
    if (rc != 0)
        fprintf(stderr, "audit_gen: tamper %s failed\n", what);
    return rc == 0 ? 0 : 1;
}

/* Append forever: half a batch, "mid" on stdout, the other half, commit, "committed SIZE". */
static int writer(MDB_env *env, refbus_audit *a, unsigned batch, uint64_t cp_every)
{
    uint8_t pk[32], sk[64];
    uint64_t since = 0;
    atest_broker_key(pk, sk);
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        MDB_txn *txn;
        uint64_t size;
        if (mdb_txn_begin(env, NULL, 0, &txn) != 0 || refbus_audit_size(a, txn, &size) != 0)
            return 1;
        for (unsigned i = 0; i < batch; i++) {
            Refbus__V1__AuditRecord r;
            atest_scratch s;
            atest_record(&r, &s, size + i, refbus_now_ms());
            if (refbus_audit_append_record(a, txn, &r, NULL) != 0)
                return 1;
            if (i == batch / 2)
                printf("mid\n");
        }
        since += batch;
        if (cp_every && since >= cp_every) {
            if (refbus_audit_checkpoint(a, txn, sk, refbus_now_ms(), NULL, NULL) != 0)
                return 1;
            since = 0;
        }
        if (mdb_txn_commit(txn) != 0 || refbus_audit_size(a, NULL, &size) != 0)
            return 1;
        printf("committed %llu\n", (unsigned long long)size);
    }
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0 || argc < 2)
        return 2;
    if (!strcmp(argv[1], "pk")) {
        uint8_t pk[32], sk[64];
        char hex[65];
        atest_broker_key(pk, sk);
        refbus_hex(hex, pk, 32);
        printf("%s\n", hex);
        return 0;
    }
    if (argc < 3)
        return 2;
    if (refbus_mkdirs(argv[2], 0700) != 0)
        return 1;
    MDB_env *env = atest_env_open(argv[2], 256u << 20);
    refbus_audit *a = NULL;
    int readonly_cmd = !strcmp(argv[1], "checkpoints") || !strcmp(argv[1], "latest");
    int rc = refbus_audit_open(&a, env, readonly_cmd || !strcmp(argv[1], "tamper"));
    if (rc != 0) {
        fprintf(stderr, "audit_gen: %s: %s\n", argv[2], refbus_strerror(rc));
        return 1;
    }
    int ret = 2;
    if (!strcmp(argv[1], "fill") && argc >= 4) {
        unsigned batch = argc >= 5 ? (unsigned)num(argv[4]) : 50;
        uint64_t cp_every = argc >= 6 ? num(argv[5]) : 100;
        int final_cp = argc >= 7 ? (int)num(argv[6]) : 1;
        if (argc >= 9) {
            refbus_keystore *ks = NULL;
            char *pass = NULL;
            size_t plen = 0;
            ret = 1;
            if (refbus_passphrase_get(&pass, &plen, argv[8], NULL, 0) == 0 &&
                refbus_keystore_open(&ks, argv[7], pass, plen) == 0)
                ret = atest_fill_sk(env, a, num(argv[3]), batch, cp_every, final_cp,
                                    refbus_keystore_current(ks)->sign_sk) == 0
                          ? 0
                          : 1;
            else
                fprintf(stderr, "audit_gen: cannot open the bundle %s\n", argv[7]);
            refbus_keystore_free(&ks);
            refbus_passphrase_free(&pass, plen);
        } else {
            ret = atest_fill(env, a, num(argv[3]), batch, cp_every, final_cp) == 0 ? 0 : 1;
        }
    } else if (!strcmp(argv[1], "writer") && argc >= 5) {
        ret = writer(env, a, (unsigned)num(argv[3]), num(argv[4]));
    } else if (!strcmp(argv[1], "checkpoints")) {
        refbus_audit_dbis db;
        MDB_txn *txn;
        MDB_cursor *c;
        MDB_val k, v;
        refbus_audit_get_dbis(a, &db);
        ret = 1;
        if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
            if (mdb_cursor_open(txn, db.checkpoints, &c) == 0) {
                for (int m = mdb_cursor_get(c, &k, &v, MDB_FIRST); m == 0;
                     m = mdb_cursor_get(c, &k, &v, MDB_NEXT))
                    printf("%llu\n", (unsigned long long)refbus_audit_key_get(k.mv_data));
                mdb_cursor_close(c);
                ret = 0;
            }
            mdb_txn_abort(txn);
        }
    } else if (!strcmp(argv[1], "latest") && argc >= 4) {
        uint8_t *cp = NULL;
        size_t len = 0;
        ret = refbus_audit_latest_checkpoint(a, NULL, &cp, &len) == 0 &&
                      refbus_file_write_atomic(argv[3], cp, len, 0644, 0) == 0
                  ? 0
                  : 1;
        free(cp);
    } else if (!strcmp(argv[1], "tamper") && argc >= 4) {
        ret = tamper(env, argc, argv);
    }
    refbus_audit_free(&a);
    mdb_env_close(env);
    if (ret == 2)
        fprintf(stderr, "audit_gen: bad arguments (see the comment at the top of audit_gen.c)\n");
    return ret;
}
