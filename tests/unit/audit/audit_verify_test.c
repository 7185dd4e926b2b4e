/* audit/verify: an intact trail passes; each attack (one byte changed, a record deleted with
 * or without renumbering, two swapped, the tail cut, a checkpoint forged or re-signed, a stored
 * tree hash changed), also when the attacker recomputes the stored tree hashes, is caught and
 * the right index named; a copy and a bare data file verify; pinning matters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include "audit/checkpoint.h"
#include "audit/verify.h"
#include "audit_tamper.h"
#include "audit_testutil.h"

#define GEN 1000 /* generated records; checkpoints every 100 add their own */

static char *golden;
static uint64_t golden_size;
static uint64_t cps[64]; /* checkpoint sizes in the golden trail */
static size_t n_cps;
static uint8_t pk[32], sk[64], opk[32], osk[64];

static int group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    atest_broker_key(pk, sk);
    atest_other_key(opk, osk);
    golden = atest_tmpdir("auditgold");
    MDB_env *env = atest_env_open(golden, 64u << 20);
    refbus_audit *a = NULL;
    if (refbus_audit_open(&a, env, 0) != 0 || atest_fill(env, a, GEN, 37, 100, 1) != 0 ||
        refbus_audit_size(a, NULL, &golden_size) != 0)
        return -1;
    /* the checkpoint sizes, from the records that describe them */
    MDB_txn *txn;
    if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    for (uint64_t i = 0; i < golden_size; i++) {
        const uint8_t *rec;
        size_t len;
        if (refbus_audit_get(a, txn, i, &rec, &len) != 0)
            return -1;
        Refbus__V1__AuditRecord *r = refbus__v1__audit_record__unpack(NULL, len, rec);
        if (r && r->event == REFBUS__V1__EVENT_TYPE__EVENT_CHECKPOINT && n_cps < 64)
            cps[n_cps++] = r->checkpoint_size;
        refbus__v1__audit_record__free_unpacked(r, NULL);
    }
    mdb_txn_abort(txn);
    refbus_audit_free(&a);
    mdb_env_close(env);
    return n_cps >= 10 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    atest_rmdir(&golden);
    sodium_memzero(sk, sizeof sk);
    return 0;
}

/* The largest checkpoint size <= i (records from there on are not proven by an earlier one). */
static uint64_t cp_floor(uint64_t i)
{
    uint64_t best = 0;
    for (size_t k = 0; k < n_cps; k++)
        if (cps[k] <= i)
            best = cps[k];
    return best;
}

/* A fresh copy of the golden trail (mdb_env_copy), open for tampering. */
typedef struct copy {
    char *dir;
    MDB_env *env;
} copy;

static copy fresh(void)
{
    copy c;
    MDB_env *src = atest_env_open(golden, 64u << 20);
    c.dir = atest_tmpdir("auditcopy");
    assert_int_equal(mdb_env_copy(src, c.dir), 0);
    mdb_env_close(src);
    c.env = atest_env_open(c.dir, 64u << 20);
    return c;
}

static int verify_dir(const char *dir, int pinned, refbus_audit_verify_result *res,
                      const uint8_t *const *anchors, const size_t *alens, size_t nanch)
{
    refbus_audit_reader *r = NULL;
    refbus_audit_verify_opts o;
    memset(&o, 0, sizeof o);
    o.broker_pks = (const uint8_t(*)[32])pk;
    o.n_broker_pks = pinned ? 1 : 0;
    o.anchors = anchors;
    o.anchor_lens = alens;
    o.n_anchors = nanch;
    o.page = 128; /* many short read transactions, so page boundaries are exercised */
    assert_int_equal(refbus_audit_reader_open(&r, dir), 0);
    int rc = refbus_audit_verify(r, &o, res);
    refbus_audit_reader_close(&r);
    assert_null(r);
    return rc;
}

/* Close the copy, verify it (pinned), expect `problem` at `index`, clean up. */
static void expect(copy *c, enum refbus_audit_problem problem, uint64_t index)
{
    refbus_audit_verify_result res;
    mdb_env_close(c->env);
    int rc = verify_dir(c->dir, 1, &res, NULL, NULL, 0);
    if (getenv("AUDIT_TEST_VERBOSE") || res.problem != problem || res.index != index)
        fprintf(stderr, "got %s at %llu: %s\n", refbus_audit_problem_name(res.problem),
                (unsigned long long)res.index, res.detail);
    assert_int_equal(rc, problem == REFBUS_AUDIT_INTACT ? 0 : REFBUS_EAUDIT);
    assert_int_equal(res.problem, problem);
    if (problem != REFBUS_AUDIT_INTACT)
        assert_int_equal(res.index, index);
    assert_true(res.detail[0] != 0 || problem == REFBUS_AUDIT_INTACT);
    atest_rmdir(&c->dir);
}

static void test_intact(void **s)
{
    (void)s;
    refbus_audit_verify_result res;
    assert_int_equal(verify_dir(golden, 1, &res, NULL, NULL, 0), 0);
    assert_int_equal(res.problem, REFBUS_AUDIT_INTACT);
    assert_int_equal(res.size, golden_size);
    assert_int_equal(res.checked, golden_size);
    assert_int_equal(res.covered, cps[n_cps - 1]);
    /* each checkpoint is counted from the store and from its record (same bytes: once) */
    assert_int_equal(res.checkpoints, n_cps);
    assert_true(res.pinned);
    assert_memory_equal(res.signer_pk, pk, 32);
    /* unpinned it passes too, but says so */
    assert_int_equal(verify_dir(golden, 0, &res, NULL, NULL, 0), 0);
    assert_false(res.pinned);
    assert_true(res.have_signer);
}

static void test_byte_changed(void **s)
{
    (void)s;
    copy c = fresh();
    assert_int_equal(tamper_flip(c.env, 537, 20, 0x01), 0);
    expect(&c, REFBUS_AUDIT_ALTERED, 537);
    /* every single record, any byte: spot checks across the trail, first and last included */
    uint64_t idx[] = {0, 1, 99, 100, 101, 512, 1000, golden_size - 1};
    for (size_t k = 0; k < sizeof idx / sizeof idx[0]; k++) {
        c = fresh();
        assert_int_equal(tamper_flip(c.env, idx[k], idx[k] * 13 + 3, 0x40), 0);
        refbus_audit_verify_result res;
        mdb_env_close(c.env);
        assert_int_equal(verify_dir(c.dir, 1, &res, NULL, NULL, 0), REFBUS_EAUDIT);
        assert_int_equal(res.index, idx[k]);
        atest_rmdir(&c.dir);
    }
}

/* The attacker also recomputes the stored tree: only the signed checkpoint can tell, so the
 * first record not covered by an earlier checkpoint is named. */
static void test_byte_changed_tree_rewritten(void **s)
{
    (void)s;
    copy c = fresh();
    assert_int_equal(tamper_flip(c.env, 537, 20, 0x01), 0);
    assert_int_equal(tamper_rehash(c.env), 0);
    expect(&c, REFBUS_AUDIT_ALTERED, cp_floor(537));
}

static void test_deleted(void **s)
{
    (void)s;
    copy c = fresh();
    assert_int_equal(tamper_delete(c.env, 537, 0), 0); /* a gap */
    expect(&c, REFBUS_AUDIT_MISSING, 537);
    c = fresh();
    assert_int_equal(tamper_delete(c.env, 537, 1), 0); /* later records renumbered */
    expect(&c, REFBUS_AUDIT_MISSING, 537);
    c = fresh();
    assert_int_equal(tamper_delete(c.env, 537, 1), 0);
    assert_int_equal(tamper_rehash(c.env), 0);
    expect(&c, REFBUS_AUDIT_MISSING, 537);
    c = fresh();
    assert_int_equal(tamper_delete(c.env, 0, 1), 0); /* the very first one */
    expect(&c, REFBUS_AUDIT_MISSING, 0);
}

static void test_swapped(void **s)
{
    (void)s;
    copy c = fresh();
    assert_int_equal(tamper_swap(c.env, 300, 700), 0);
    expect(&c, REFBUS_AUDIT_REORDERED, 300);
    c = fresh();
    assert_int_equal(tamper_swap(c.env, 300, 301), 0);
    assert_int_equal(tamper_rehash(c.env), 0);
    expect(&c, REFBUS_AUDIT_REORDERED, 300);
    c = fresh();
    assert_int_equal(tamper_swap(c.env, 0, 5), 0); /* record 0 carries no index field */
    expect(&c, REFBUS_AUDIT_REORDERED, 0);
}

static void test_truncated(void **s)
{
    (void)s;
    copy c = fresh();
    assert_int_equal(tamper_truncate(c.env, 900, 0, 0), 0);
    expect(&c, REFBUS_AUDIT_TRUNCATED, 900);
    c = fresh();
    assert_int_equal(tamper_truncate(c.env, 900, 1, 0), 0); /* tree cut too: checkpoints tell */
    expect(&c, REFBUS_AUDIT_TRUNCATED, 900);
    c = fresh();
    assert_int_equal(tamper_truncate(c.env, 900, 0, 1), 0); /* checkpoints cut: the tree tells */
    expect(&c, REFBUS_AUDIT_TRUNCATED, 900);
}

/* A careful cut (records, tree and checkpoints) back to a checkpoint leaves a consistent
 * shorter log: only a checkpoint kept elsewhere (by a node, by an auditor) proves it. */
static void test_truncated_everywhere_needs_anchor(void **s)
{
    (void)s;
    uint8_t *latest = NULL;
    size_t latest_len = 0;
    refbus_audit_verify_result res;
    copy c = fresh();
    refbus_audit *a = NULL;
    assert_int_equal(refbus_audit_open(&a, c.env, 1), 0);
    assert_int_equal(refbus_audit_latest_checkpoint(a, NULL, &latest, &latest_len), 0);
    refbus_audit_free(&a);
    uint64_t cut = cps[n_cps - 3] + 1; /* keep a checkpoint and its record */
    assert_int_equal(tamper_truncate(c.env, cut, 1, 1), 0);
    mdb_env_close(c.env);
    assert_int_equal(verify_dir(c.dir, 1, &res, NULL, NULL, 0), 0);
    const uint8_t *anchors[1] = {latest};
    size_t lens[1] = {latest_len};
    assert_int_equal(verify_dir(c.dir, 1, &res, anchors, lens, 1), REFBUS_EAUDIT);
    assert_int_equal(res.problem, REFBUS_AUDIT_TRUNCATED);
    assert_int_equal(res.index, cut);
    /* and a given checkpoint that is forged is refused, not trusted */
    latest[latest_len / 2] ^= 0x10;
    assert_int_equal(verify_dir(c.dir, 1, &res, anchors, lens, 1), REFBUS_EAUDIT);
    assert_int_equal(res.problem, REFBUS_AUDIT_BAD_CHECKPOINT);
    free(latest);
    atest_rmdir(&c.dir);
}

static void test_checkpoint_forged(void **s)
{
    (void)s;
    uint64_t at = cps[4];
    copy c = fresh();
    assert_int_equal(tamper_forge_checkpoint(c.env, at, NULL), 0); /* old signature kept */
    expect(&c, REFBUS_AUDIT_BAD_CHECKPOINT, at);
    c = fresh();
    assert_int_equal(tamper_forge_checkpoint(c.env, at, osk), 0); /* re-signed by another key */
    expect(&c, REFBUS_AUDIT_BAD_CHECKPOINT, at);
    /* unpinned, a re-signed checkpoint still differs from the key of the earlier ones */
    refbus_audit_verify_result res;
    c = fresh();
    assert_int_equal(tamper_forge_checkpoint(c.env, at, osk), 0);
    mdb_env_close(c.env);
    assert_int_equal(verify_dir(c.dir, 0, &res, NULL, NULL, 0), REFBUS_EAUDIT);
    assert_int_equal(res.problem, REFBUS_AUDIT_BAD_CHECKPOINT);
    assert_int_equal(res.index, at);
    atest_rmdir(&c.dir);
    /* the right checkpoint, verified against a key that is not the broker's */
    refbus_audit_reader *r = NULL;
    refbus_audit_verify_opts o;
    memset(&o, 0, sizeof o);
    o.broker_pks = (const uint8_t(*)[32])opk;
    o.n_broker_pks = 1;
    assert_int_equal(refbus_audit_reader_open(&r, golden), 0);
    assert_int_equal(refbus_audit_verify(r, &o, &res), REFBUS_EAUDIT);
    assert_int_equal(res.problem, REFBUS_AUDIT_BAD_CHECKPOINT);
    assert_int_equal(res.index, cps[0]);
    refbus_audit_reader_close(&r);
}

static void test_tree_hash_changed(void **s)
{
    (void)s;
    copy c = fresh();
    assert_int_equal(tamper_tree(c.env, 255, 3), 0); /* records intact */
    expect(&c, REFBUS_AUDIT_TREE, 255);
    c = fresh();
    assert_int_equal(tamper_tree(c.env, 77, 0), 0); /* a leaf hash: the record is fine */
    expect(&c, REFBUS_AUDIT_TREE, 77);
}

/* Changes after the last checkpoint are still found (from the stored hashes). */
static void test_uncovered_tail(void **s)
{
    (void)s;
    copy c = fresh();
    refbus_audit *a = NULL;
    assert_int_equal(refbus_audit_open(&a, c.env, 0), 0);
    assert_int_equal(atest_fill(c.env, a, 20, 7, 0, 0), 0);
    refbus_audit_free(&a);
    assert_int_equal(tamper_flip(c.env, golden_size + 10, 9, 0x02), 0);
    expect(&c, REFBUS_AUDIT_ALTERED, golden_size + 10);
}

/* A copy as a bare data file (mdb_copy -n) opens and verifies. */
static void test_bare_file(void **s)
{
    (void)s;
    refbus_audit_verify_result res;
    char *dir = atest_tmpdir("auditfile"), *file = NULL;
    assert_true(asprintf(&file, "%s/trail.mdb", dir) > 0);
    MDB_env *src = atest_env_open(golden, 64u << 20);
    int fd = open(file, O_CREAT | O_WRONLY | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(mdb_env_copyfd(src, fd), 0);
    close(fd);
    mdb_env_close(src);
    assert_int_equal(verify_dir(file, 1, &res, NULL, NULL, 0), 0);
    assert_int_equal(res.checked, golden_size);
    char *lock = NULL;
    assert_true(asprintf(&lock, "%s-lock", file) > 0);
    unlink(lock);
    unlink(file);
    free(lock);
    free(file);
    atest_rmdir(&dir);
    refbus_audit_reader *r = NULL;
    assert_int_equal(refbus_audit_reader_open(&r, "/nonexistent/refbus"), REFBUS_ENOTFOUND);
    char *empty = atest_tmpdir("auditempty");
    assert_int_equal(refbus_audit_reader_open(&r, empty), REFBUS_ENOTFOUND);
    atest_rmdir(&empty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact),
        cmocka_unit_test(test_byte_changed),
        cmocka_unit_test(test_byte_changed_tree_rewritten),
        cmocka_unit_test(test_deleted),
        cmocka_unit_test(test_swapped),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_truncated_everywhere_needs_anchor),
        cmocka_unit_test(test_checkpoint_forged),
        cmocka_unit_test(test_tree_hash_changed),
        cmocka_unit_test(test_uncovered_tail),
        cmocka_unit_test(test_bare_file),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
