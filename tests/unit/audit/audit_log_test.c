/* audit/log and audit/checkpoint: roots and proofs served from the stored hashes agree with a
 * recomputation for every size 1..300 (inclusion) and every pair up to 64 (consistency); an
 * aborted transaction leaves no trace; checkpoints sign the right head and add their record;
 * forged, tampered and non-canonical checkpoints are refused; a full map is a clean error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit/checkpoint.h"
#include "common/datadir.h"
#include "audit/log.h"
#include "proto/merkle.h"
#include "audit_testutil.h"

#define N 300

typedef struct fixture {
    char *dir;
    MDB_env *env;
    refbus_audit *a;
    uint8_t leaf[N + 64][32]; /* leaf hashes of what was appended, for recomputation */
    uint64_t size;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || sodium_init() < 0)
        return -1;
    f->dir = atest_tmpdir("auditlog");
    f->env = atest_env_open(f->dir, 64u << 20);
    if (refbus_audit_open(&f->a, f->env, 0) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    refbus_audit_free(&f->a);
    refbus_audit_free(&f->a); /* idempotent */
    mdb_env_close(f->env);
    atest_rmdir(&f->dir);
    free(f);
    return 0;
}

/* Append n records in one txn (raw bytes of varying length), remembering their leaves. */
static void append_n(fixture *f, uint64_t n, int commit)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    uint64_t size = f->size;
    for (uint64_t i = 0; i < n; i++, size++) {
        uint8_t rec[300];
        size_t len = 1 + (size * 7) % sizeof rec;
        memset(rec, (int)(size & 0xff), len);
        rec[0] = (uint8_t)(size >> 8);
        uint64_t idx = 99;
        assert_int_equal(refbus_audit_append(f->a, txn, rec, len, &idx), 0);
        assert_int_equal(idx, size);
        refbus_merkle_leaf(f->leaf[size], rec, len);
    }
    if (commit) {
        assert_int_equal(mdb_txn_commit(txn), 0);
        f->size = size;
    } else {
        mdb_txn_abort(txn);
    }
}

static void recompute_root(fixture *f, uint64_t n, uint8_t root[32])
{
    refbus_merkle_stack st;
    refbus_merkle_stack_init(&st);
    for (uint64_t i = 0; i < n; i++)
        refbus_merkle_stack_push(&st, f->leaf[i], NULL);
    refbus_merkle_stack_root(&st, root);
}

static void test_roots_and_inclusion(void **state)
{
    fixture *f = *state;
    uint8_t root[32], want[32];
    uint64_t size;
    assert_int_equal(refbus_audit_size(f->a, NULL, &size), 0);
    assert_int_equal(size, 0);
    assert_int_equal(refbus_audit_root(f->a, NULL, 0, root), 0);
    refbus_merkle_empty_root(want);
    assert_memory_equal(root, want, 32);
    /* grow in uneven transactions, so frontiers are reloaded at every kind of size */
    for (uint64_t step = 1; f->size < N; step = step % 13 + 1)
        append_n(f, f->size + step > N ? N - f->size : step, 1);
    assert_int_equal(refbus_audit_size(f->a, NULL, &size), 0);
    assert_int_equal(size, N);
    for (uint64_t n = 1; n <= N; n++) {
        recompute_root(f, n, want);
        assert_int_equal(refbus_audit_root(f->a, NULL, n, root), 0);
        assert_memory_equal(root, want, 32);
        for (uint64_t i = 0; i < n; i++) {
            uint8_t(*proof)[32] = NULL;
            size_t len = 0;
            assert_int_equal(refbus_audit_inclusion_path(f->a, NULL, i, n, &proof, &len), 0);
            assert_int_equal(refbus_merkle_verify_inclusion(i, n, f->leaf[i],
                                                            (const uint8_t(*)[32])proof, len, root),
                             0);
            /* the proof is for this leaf only */
            assert_int_equal(refbus_merkle_verify_inclusion(i, n, f->leaf[(i + 1) % N],
                                                            (const uint8_t(*)[32])proof, len, root),
                             REFBUS_EPROOF);
            free(proof);
        }
    }
    assert_int_equal(refbus_audit_root(f->a, NULL, N + 1, root), REFBUS_EINVAL);
    uint8_t(*proof)[32] = NULL;
    size_t len;
    assert_int_equal(refbus_audit_inclusion_path(f->a, NULL, N, N, &proof, &len), REFBUS_EINVAL);
    assert_int_equal(refbus_audit_inclusion_path(f->a, NULL, 0, N + 1, &proof, &len),
                     REFBUS_EINVAL);
}

static void test_consistency(void **state)
{
    fixture *f = *state;
    uint8_t roots[65][32];
    append_n(f, 64, 1);
    for (uint64_t n = 0; n <= 64; n++)
        recompute_root(f, n, roots[n]);
    for (uint64_t n = 0; n <= 64; n++)
        for (uint64_t m = 0; m <= n; m++) {
            uint8_t(*proof)[32] = NULL;
            size_t len = 0;
            assert_int_equal(refbus_audit_consistency_path(f->a, NULL, m, n, &proof, &len), 0);
            assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n],
                                                              (const uint8_t(*)[32])proof, len),
                             0);
            if (m > 0 && m < n)
                assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n - 1],
                                                                  (const uint8_t(*)[32])proof, len),
                                 REFBUS_EPROOF);
            free(proof);
        }
    uint8_t(*proof)[32] = NULL;
    size_t len;
    assert_int_equal(refbus_audit_consistency_path(f->a, NULL, 5, 4, &proof, &len), REFBUS_EINVAL);
    assert_int_equal(refbus_audit_consistency_path(f->a, NULL, 1, 65, &proof, &len), REFBUS_EINVAL);
}

/* An aborted transaction (a crash before commit) leaves the log exactly as it was. */
static void test_abort_leaves_no_trace(void **state)
{
    fixture *f = *state;
    uint8_t before[32], after[32];
    uint64_t size;
    append_n(f, 10, 1);
    assert_int_equal(refbus_audit_root(f->a, NULL, 10, before), 0);
    append_n(f, 37, 0);
    assert_int_equal(refbus_audit_size(f->a, NULL, &size), 0);
    assert_int_equal(size, 10);
    assert_int_equal(refbus_audit_root(f->a, NULL, 10, after), 0);
    assert_memory_equal(before, after, 32);
    append_n(f, 5, 1); /* and appending carries on from there */
    recompute_root(f, 15, before);
    assert_int_equal(refbus_audit_root(f->a, NULL, 15, after), 0);
    assert_memory_equal(before, after, 32);
}

/* append_many writes exactly what single appends write. */
static void test_append_many(void **state)
{
    fixture *f = *state;
    const uint8_t *recs[40];
    size_t lens[40];
    uint8_t buf[40][9], r1[32], r2[32];
    MDB_txn *txn;
    uint64_t first = 7;
    append_n(f, 3, 1);
    for (int i = 0; i < 40; i++) {
        memset(buf[i], i + 1, sizeof buf[i]);
        recs[i] = buf[i];
        lens[i] = sizeof buf[i];
        refbus_merkle_leaf(f->leaf[3 + i], buf[i], sizeof buf[i]);
    }
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(refbus_audit_append_many(f->a, txn, recs, lens, 40, &first), 0);
    assert_int_equal(first, 3);
    assert_int_equal(mdb_txn_commit(txn), 0);
    recompute_root(f, 43, r1);
    assert_int_equal(refbus_audit_root(f->a, NULL, 43, r2), 0);
    assert_memory_equal(r1, r2, 32);
    /* bad input changes nothing */
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(refbus_audit_append(f->a, txn, buf[0], 0, NULL), REFBUS_EINVAL);
    assert_int_equal(refbus_audit_append(f->a, txn, NULL, 3, NULL), REFBUS_EINVAL);
    static uint8_t big[REFBUS_AUDIT_RECORD_MAX + 1];
    assert_int_equal(refbus_audit_append(f->a, txn, big, sizeof big, NULL), REFBUS_EINVAL);
    mdb_txn_abort(txn);
}

static void test_checkpoints(void **state)
{
    fixture *f = *state;
    uint8_t pk[32], sk[64], opk[32], osk[64], root[32], id[32];
    uint8_t *cp = NULL, *latest = NULL, *at = NULL;
    size_t cp_len = 0, latest_len = 0, at_len = 0;
    uint64_t unc, t, size;
    MDB_txn *txn;
    refbus_checkpoint c;
    atest_broker_key(pk, sk);
    atest_other_key(opk, osk);

    assert_int_equal(refbus_audit_latest_checkpoint(f->a, NULL, &latest, &latest_len),
                     REFBUS_ENOTFOUND);
    append_n(f, 20, 1);
    assert_int_equal(refbus_audit_uncovered(f->a, NULL, &unc, &t), 0);
    assert_int_equal(unc, 20);
    assert_int_equal(t, 0);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(refbus_audit_checkpoint(f->a, txn, sk, 1234, &cp, &cp_len), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    assert_int_equal(refbus_checkpoint_verify(&c, cp, cp_len, pk), 0);
    refbus_audit_log_id(f->a, id);
    assert_memory_equal(c.log_id, id, 32);
    assert_int_equal(c.size, 20);
    assert_int_equal(c.time_ms, 1234);
    assert_int_equal(refbus_audit_root(f->a, NULL, 20, root), 0);
    assert_memory_equal(c.root, root, 32);
    /* its record follows at index 20 and describes it */
    assert_int_equal(refbus_audit_size(f->a, NULL, &size), 0);
    assert_int_equal(size, 21);
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    const uint8_t *rec;
    size_t rec_len;
    assert_int_equal(refbus_audit_get(f->a, txn, 20, &rec, &rec_len), 0);
    Refbus__V1__AuditRecord *r = refbus__v1__audit_record__unpack(NULL, rec_len, rec);
    assert_non_null(r);
    assert_int_equal(r->event, REFBUS__V1__EVENT_TYPE__EVENT_CHECKPOINT);
    assert_int_equal(r->index, 20);
    assert_int_equal(r->checkpoint_size, 20);
    assert_memory_equal(r->checkpoint_root.data, root, 32);
    assert_int_equal(r->signed_checkpoint.len, cp_len);
    assert_memory_equal(r->signed_checkpoint.data, cp, cp_len);
    refbus__v1__audit_record__free_unpacked(r, NULL);
    refbus_merkle_leaf(f->leaf[20], rec, rec_len);
    f->size = 21;
    assert_int_equal(refbus_audit_get(f->a, txn, 21, &rec, &rec_len), REFBUS_ENOTFOUND);
    mdb_txn_abort(txn);
    assert_int_equal(refbus_audit_uncovered(f->a, NULL, &unc, &t), 0);
    assert_int_equal(unc, 0);
    assert_int_equal(t, 1234);
    append_n(f, 4, 1);
    assert_int_equal(refbus_audit_uncovered(f->a, NULL, &unc, NULL), 0);
    assert_int_equal(unc, 4);

    assert_int_equal(refbus_audit_latest_checkpoint(f->a, NULL, &latest, &latest_len), 0);
    assert_int_equal(latest_len, cp_len);
    assert_memory_equal(latest, cp, cp_len);
    assert_int_equal(refbus_audit_checkpoint_at(f->a, NULL, 20, &at, &at_len), 0);
    assert_memory_equal(at, cp, cp_len);
    free(at);
    assert_int_equal(refbus_audit_checkpoint_at(f->a, NULL, 21, &at, &at_len), REFBUS_ENOTFOUND);

    /* a second checkpoint is consistent with the first */
    uint8_t *cp2 = NULL;
    size_t cp2_len = 0;
    refbus_checkpoint c2;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(refbus_audit_checkpoint(f->a, txn, sk, 5678, &cp2, &cp2_len), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(refbus_checkpoint_verify(&c2, cp2, cp2_len, pk), 0);
    assert_int_equal(c2.size, 25);
    uint8_t(*proof)[32] = NULL;
    size_t plen = 0;
    assert_int_equal(refbus_audit_consistency_path(f->a, NULL, 20, 25, &proof, &plen), 0);
    assert_int_equal(refbus_checkpoint_consistent(&c, &c2, (const uint8_t(*)[32])proof, plen), 0);
    assert_int_equal(refbus_checkpoint_consistent(&c2, &c, (const uint8_t(*)[32])proof, plen),
                     REFBUS_EINCONSISTENT);
    refbus_checkpoint forked = c2;
    forked.root[0] ^= 1;
    assert_int_equal(refbus_checkpoint_consistent(&c, &forked, (const uint8_t(*)[32])proof, plen),
                     REFBUS_EINCONSISTENT);
    refbus_checkpoint other_log = c2;
    other_log.log_id[5] ^= 1;
    assert_int_equal(refbus_checkpoint_consistent(&c, &other_log, (const uint8_t(*)[32])proof,
                                                  plen),
                     REFBUS_EINCONSISTENT);
    free(proof);

    /* forgeries: the wrong key, any flipped byte, a re-signed copy by someone else */
    assert_int_equal(refbus_checkpoint_verify(NULL, cp, cp_len, opk), REFBUS_EBADSIG);
    for (size_t i = 0; i < cp_len; i++) {
        cp[i] ^= 0x04;
        int rc = refbus_checkpoint_verify(NULL, cp, cp_len, pk);
        assert_true(rc == REFBUS_EBADSIG || rc == REFBUS_EMALFORMED);
        cp[i] ^= 0x04;
    }
    uint8_t *forged = NULL;
    size_t forged_len = 0;
    refbus_checkpoint fc = c;
    fc.size = 21;
    assert_int_equal(refbus_checkpoint_sign(&forged, &forged_len, &fc, osk), 0);
    assert_int_equal(refbus_checkpoint_verify(NULL, forged, forged_len, pk), REFBUS_EBADSIG);
    assert_int_equal(refbus_checkpoint_verify(NULL, forged, forged_len, opk), 0);
    free(forged);
    /* trailing bytes (an unknown field) make it non-canonical */
    uint8_t *ext = malloc(cp_len + 3);
    memcpy(ext, cp, cp_len);
    ext[cp_len] = 0x20; /* field 4, varint */
    ext[cp_len + 1] = 0x01;
    assert_int_equal(refbus_checkpoint_verify(NULL, ext, cp_len + 2, pk), REFBUS_EMALFORMED);
    assert_int_equal(refbus_checkpoint_parse(&c, ext, 0), REFBUS_EMALFORMED);
    free(ext);
    assert_int_equal(refbus_checkpoint_verify(NULL, (const uint8_t *)"", 0, pk), REFBUS_EMALFORMED);
    /* a well-formed outer layer around an empty checkpoint */
    {
        uint8_t sig[64] = {0}, buf[128];
        Refbus__V1__SignedCheckpoint e = REFBUS__V1__SIGNED_CHECKPOINT__INIT;
        e.signature = (ProtobufCBinaryData){64, sig};
        e.signer_pk = (ProtobufCBinaryData){32, pk};
        size_t el = refbus__v1__signed_checkpoint__pack(&e, buf);
        assert_int_equal(refbus_checkpoint_parse(&c, buf, el), REFBUS_EMALFORMED);
    }

    free(cp);
    free(cp2);
    free(latest);
    sodium_memzero(sk, sizeof sk);
}

static void test_readonly_open(void **state)
{
    fixture *f = *state;
    char *dir = atest_tmpdir("auditro");
    MDB_env *env = atest_env_open(dir, 1u << 20);
    refbus_audit *a = NULL;
    /* no log yet: a read-only open must not create one */
    assert_int_equal(refbus_audit_open(&a, env, 1), REFBUS_ENOTFOUND);
    assert_null(a);
    mdb_env_close(env);
    atest_rmdir(&dir);
    /* the log of the fixture opens read-only with the same id; appends are refused */
    uint8_t id1[32], id2[32];
    append_n(f, 2, 1);
    assert_int_equal(refbus_audit_open(&a, f->env, 1), 0);
    refbus_audit_log_id(a, id1);
    refbus_audit_log_id(f->a, id2);
    assert_memory_equal(id1, id2, 32);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(refbus_audit_append(a, txn, id1, 32, NULL), REFBUS_EINVAL);
    mdb_txn_abort(txn);
    refbus_audit_free(&a);
    assert_null(a);
}

/* MDB_MAP_FULL surfaces as REFBUS_EMAPFULL; after aborting, the log is intact and usable. */
static void test_map_full(void **state)
{
    (void)state;
    char *dir = atest_tmpdir("auditfull");
    MDB_env *env = atest_env_open(dir, 256u << 10);
    refbus_audit *a = NULL;
    uint8_t rec[2000];
    int rc = 0;
    uint64_t committed = 0;
    assert_int_equal(refbus_audit_open(&a, env, 0), 0);
    memset(rec, 0x42, sizeof rec);
    for (int round = 0; round < 1000 && rc == 0; round++) {
        MDB_txn *txn;
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        for (int i = 0; i < 4 && rc == 0; i++)
            rc = refbus_audit_append(a, txn, rec, sizeof rec, NULL);
        if (rc == 0) {
            /* LMDB may also find the map full only when committing */
            rc = refbus_lmdb_code(mdb_txn_commit(txn));
            if (rc == 0)
                committed += 4;
        } else {
            mdb_txn_abort(txn);
        }
    }
    assert_int_equal(rc, REFBUS_EMAPFULL);
    uint64_t size;
    assert_int_equal(refbus_audit_size(a, NULL, &size), 0);
    assert_int_equal(size, committed);
    uint8_t root[32];
    assert_int_equal(refbus_audit_root(a, NULL, size, root), 0);
    refbus_audit_free(&a);
    mdb_env_close(env);
    atest_rmdir(&dir);
}

/* A stored tree hash that went missing is reported, never papered over. */
static void test_missing_tree_hash(void **state)
{
    fixture *f = *state;
    refbus_audit_dbis db;
    MDB_txn *txn;
    uint8_t kb[9], root[32];
    append_n(f, 8, 1);
    refbus_audit_get_dbis(f->a, &db);
    refbus_audit_tree_key(kb, 7, 3); /* the root of the first 8 */
    MDB_val k = {9, kb};
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_del(txn, db.tree, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(refbus_audit_root(f->a, NULL, 8, root), REFBUS_ECORRUPT);
    /* record 8 needs no stored hash; record 9 merges with record 8's leaf hash, deleted here */
    append_n(f, 1, 1);
    refbus_audit_tree_key(kb, 8, 0);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_del(txn, db.tree, &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(refbus_audit_append(f->a, txn, kb, 9, NULL), REFBUS_ECORRUPT);
    mdb_txn_abort(txn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roots_and_inclusion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consistency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_no_trace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_open, setup, teardown),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test_setup_teardown(test_missing_tree_hash, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
