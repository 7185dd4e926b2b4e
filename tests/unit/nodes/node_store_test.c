/* The node store: sealed records round-trip, nothing of a referral is readable in the data file,
 * a record altered or moved on disk is refused, another storage key is refused, the outbox and
 * inbox indexes dedup, scans keep order, and a full map refuses a write without damage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>

#include "common/util.h"
#include "nodes/store/records.h"
#include "nodes/store/store.h"

#define MARKER "MARKER-c0ffee-ด่านแม่สาย"

static char dir[256];
static uint8_t key1[32], key2[32];

static int setup(void **s)
{
    (void)s;
    if (sodium_init() < 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/refbus-node-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    randombytes_buf(key1, 32);
    randombytes_buf(key2, 32);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int file_contains(const char *path, const void *needle, size_t nlen)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    int found = memmem(b, (size_t)n, needle, nlen) != NULL;
    free(b);
    return found;
}

static refbus_nstore *open_store(const char *sub, const uint8_t *key, int expect)
{
    char path[300];
    refbus_nstore *st = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    assert_int_equal(refbus_nstore_open(&st, path, key, 1024 * 1024 * 4, 1), expect);
    return st;
}

static void test_sealed_at_rest(void **s)
{
    (void)s;
    refbus_nstore *st = open_store("a", key1, 0);
    MDB_txn *txn = NULL;
    uint8_t *v = NULL;
    size_t vl = 0;
    uint8_t k[8];
    refbus_put_u64be(k, 1);
    assert_int_equal(refbus_nstore_begin(st, 1, &txn), 0);
    assert_int_equal(refbus_nstore_put(st, txn, REFBUS_T_INBOX, k, 8, MARKER, sizeof MARKER), 0);
    assert_int_equal(refbus_nstore_put(st, txn, REFBUS_T_META, "public", 6, "PUBLIC-META", 11), 0);
    assert_int_equal(refbus_nstore_commit(&txn), 0);
    assert_int_equal(refbus_nstore_begin(st, 0, &txn), 0);
    assert_int_equal(refbus_nstore_get(st, txn, REFBUS_T_INBOX, k, 8, &v, &vl), 0);
    assert_int_equal(vl, sizeof MARKER);
    assert_string_equal((char *)v, MARKER);
    refbus_nstore_free_value(&v, vl);
    refbus_nstore_abort(&txn);
    refbus_nstore_close(&st);
    assert_null(st);
    refbus_nstore_close(&st); /* NULL is fine */
    /* the content is sealed; clear metadata is not (so the test can fail) */
    char path[300];
    snprintf(path, sizeof path, "%s/a/data.mdb", dir);
    assert_false(file_contains(path, "MARKER-c0ffee", 13));
    assert_true(file_contains(path, "PUBLIC-META", 11));
    /* another storage key: refused at open */
    st = open_store("a", key2, REFBUS_ECORRUPT);
    assert_null(st);
}

static int collect_all(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t len)
{
    (void)key;
    (void)klen;
    strncat((char *)ctx, (const char *)val, len);
    return 0;
}

static void test_tamper_and_move(void **s)
{
    (void)s;
    refbus_nstore *st = open_store("b", key1, 0);
    MDB_txn *txn = NULL;
    uint8_t k1[8], k2[8], *v = NULL;
    size_t vl = 0;
    refbus_put_u64be(k1, 1);
    refbus_put_u64be(k2, 2);
    assert_int_equal(refbus_nstore_begin(st, 1, &txn), 0);
    assert_int_equal(refbus_nstore_put(st, txn, REFBUS_T_OUTBOX, k1, 8, "one", 3), 0);
    assert_int_equal(refbus_nstore_put(st, txn, REFBUS_T_OUTBOX, k2, 8, "two", 3), 0);
    assert_int_equal(refbus_nstore_commit(&txn), 0);
    refbus_nstore_close(&st);

    /* with raw LMDB: flip a ciphertext byte of #1, copy #2's value over to key 3 */
    char path[300];
    snprintf(path, sizeof path, "%s/b", dir);
    MDB_env *env;
    MDB_dbi dbi;
    MDB_val mk = {8, k1}, mv;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    assert_int_equal(mdb_env_open(env, path, 0, 0600), 0);
    MDB_txn *raw;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &raw), 0);
    assert_int_equal(mdb_dbi_open(raw, "outbox", 0, &dbi), 0);
    assert_int_equal(mdb_get(raw, dbi, &mk, &mv), 0);
    uint8_t *copy = malloc(mv.mv_size);
    memcpy(copy, mv.mv_data, mv.mv_size);
    copy[mv.mv_size - 1] ^= 1;
    MDB_val nv = {mv.mv_size, copy};
    assert_int_equal(mdb_put(raw, dbi, &mk, &nv, 0), 0);
    free(copy);
    MDB_val mk2 = {8, k2}, mv2;
    uint8_t k3[8];
    refbus_put_u64be(k3, 3);
    MDB_val mk3 = {8, k3};
    assert_int_equal(mdb_get(raw, dbi, &mk2, &mv2), 0);
    copy = malloc(mv2.mv_size);
    memcpy(copy, mv2.mv_data, mv2.mv_size);
    nv = (MDB_val){mv2.mv_size, copy};
    assert_int_equal(mdb_put(raw, dbi, &mk3, &nv, 0), 0);
    free(copy);
    assert_int_equal(mdb_txn_commit(raw), 0);
    mdb_env_close(env);

    st = open_store("b", key1, 0);
    assert_int_equal(refbus_nstore_begin(st, 0, &txn), 0);
    assert_int_equal(refbus_nstore_get(st, txn, REFBUS_T_OUTBOX, k1, 8, &v, &vl), REFBUS_ECORRUPT);
    assert_int_equal(refbus_nstore_get(st, txn, REFBUS_T_OUTBOX, k3, 8, &v, &vl), REFBUS_ECORRUPT);
    assert_int_equal(refbus_nstore_get(st, txn, REFBUS_T_OUTBOX, k2, 8, &v, &vl), 0);
    assert_memory_equal(v, "two", 3);
    refbus_nstore_free_value(&v, vl);
    /* a scan (the outbox pump, the inbox and outbox views) skips the records that do not open
     * and goes on with the others: one damaged record must not stop sending or listing */
    char acc[64] = "";
    assert_int_equal(refbus_nstore_scan(st, txn, REFBUS_T_OUTBOX, NULL, 0, 0, collect_all, acc), 0);
    assert_string_equal(acc, "two");
    acc[0] = 0;
    assert_int_equal(refbus_nstore_scan(st, txn, REFBUS_T_OUTBOX, NULL, 0, 1, collect_all, acc), 0);
    assert_string_equal(acc, "two");
    refbus_nstore_abort(&txn);
    refbus_nstore_close(&st);
}

static int collect(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t len)
{
    char *out = ctx;
    (void)key;
    (void)klen;
    strncat(out, (const char *)val, len);
    return strlen(out) >= 4 ? 1 : 0; /* stop after four */
}

static void test_records(void **s)
{
    (void)s;
    refbus_nstore *st = open_store("c", key1, 0);
    MDB_txn *txn = NULL;
    uint8_t mid[16], mid2[16];
    uint64_t seq = 0, got = 0;
    randombytes_buf(mid, 16);
    randombytes_buf(mid2, 16);
    refbus_outbox_rec r = REFBUS__NODESTORE__OUTBOX_RECORD__INIT;
    r.msg_id = (ProtobufCBinaryData){16, mid};
    r.envelope = (ProtobufCBinaryData){3, (uint8_t *)"env"};
    r.payload = (ProtobufCBinaryData){sizeof MARKER, (uint8_t *)MARKER};
    assert_int_equal(refbus_nstore_begin(st, 1, &txn), 0);
    assert_int_equal(refbus_nstore_outbox_add(st, txn, &r, &seq), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(refbus_nstore_outbox_add(st, txn, &r, &seq), REFBUS_EEXIST);
    assert_int_equal(refbus_nstore_outbox_find(st, txn, mid, &got), 0);
    assert_int_equal(got, 1);
    refbus_outbox_rec *o = NULL;
    assert_int_equal(refbus_nstore_outbox_get(st, txn, 1, &o), 0);
    assert_memory_equal(o->payload.data, MARKER, sizeof MARKER);
    refbus_nstore_outbox_free(&o);
    /* sent: then the msg id can never be queued again */
    refbus_sent_rec sr = REFBUS__NODESTORE__SENT_RECORD__INIT;
    sr.msg_id = r.msg_id;
    assert_int_equal(refbus_nstore_outbox_remove(st, txn, 1, mid), 0);
    assert_int_equal(refbus_nstore_outbox_find(st, txn, mid, &got), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_nstore_sent_put(st, txn, &sr), 0);
    assert_int_equal(refbus_nstore_outbox_add(st, txn, &r, &seq), REFBUS_EEXIST);
    /* the outbox is empty again, but sequence numbers are never reused */
    uint8_t mid3[16];
    randombytes_buf(mid3, 16);
    r.msg_id = (ProtobufCBinaryData){16, mid3};
    assert_int_equal(refbus_nstore_outbox_add(st, txn, &r, &seq), 0);
    assert_int_equal(seq, 2);
    /* inbox: dedup by (sender, msg id); lookup by msg id */
    refbus_inbox_rec ir = REFBUS__NODESTORE__INBOX_RECORD__INIT;
    ir.msg_id = (ProtobufCBinaryData){16, mid2};
    ir.sender = (char *)"ngo.hots";
    assert_int_equal(refbus_nstore_inbox_find(st, txn, "ngo.hots", mid2, &got), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_nstore_inbox_add(st, txn, &ir), 0);
    assert_int_equal(ir.seq, 1);
    assert_int_equal(refbus_nstore_inbox_find(st, txn, "ngo.hots", mid2, &got), 0);
    assert_int_equal(got, 1);
    assert_int_equal(refbus_nstore_inbox_find(st, txn, "ngo.hotsx", mid2, &got), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_nstore_inbox_find_msg(st, txn, mid2, &got), 0);
    /* the same msg id from another sender is another message (and find_msg keeps the first) */
    ir.sender = (char *)"police.ticac";
    assert_int_equal(refbus_nstore_inbox_add(st, txn, &ir), 0);
    assert_int_equal(ir.seq, 2);
    assert_int_equal(refbus_nstore_inbox_find_msg(st, txn, mid2, &got), 0);
    assert_int_equal(got, 1);
    refbus_inbox_rec *in = NULL;
    assert_int_equal(refbus_nstore_inbox_get(st, txn, 2, &in), 0);
    assert_string_equal(in->sender, "police.ticac");
    refbus_nstore_inbox_free(&in);
    assert_int_equal(refbus_nstore_inbox_get(st, txn, 3, &in), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_nstore_commit(&txn), 0);

    /* scans: in order, reverse, from a key, stop early */
    assert_int_equal(refbus_nstore_begin(st, 1, &txn), 0);
    for (uint64_t i = 1; i <= 6; i++) {
        uint8_t k[8];
        char c = (char)('a' + i - 1);
        refbus_put_u64be(k, i + 100);
        assert_int_equal(refbus_nstore_put(st, txn, REFBUS_T_THREADS, k, 8, &c, 1), 0);
    }
    char acc[16] = "";
    assert_int_equal(refbus_nstore_scan(st, txn, REFBUS_T_THREADS, NULL, 0, 0, collect, acc), 0);
    assert_string_equal(acc, "abcd");
    acc[0] = 0;
    assert_int_equal(refbus_nstore_scan(st, txn, REFBUS_T_THREADS, NULL, 0, 1, collect, acc), 0);
    assert_string_equal(acc, "fedc");
    uint8_t from[8];
    refbus_put_u64be(from, 103);
    acc[0] = 0;
    assert_int_equal(refbus_nstore_scan(st, txn, REFBUS_T_THREADS, from, 8, 0, collect, acc), 0);
    assert_string_equal(acc, "cdef");
    acc[0] = 0;
    assert_int_equal(refbus_nstore_scan(st, txn, REFBUS_T_THREADS, from, 8, 1, collect, acc), 0);
    assert_string_equal(acc, "cba");
    uint64_t n = 0;
    assert_int_equal(refbus_nstore_count(st, txn, REFBUS_T_THREADS, &n), 0);
    assert_int_equal(n, 6);
    refbus_nstore_abort(&txn);
    refbus_nstore_close(&st);
}

static void test_map_full(void **s)
{
    (void)s;
    char path[300];
    refbus_nstore *st = NULL;
    snprintf(path, sizeof path, "%s/full", dir);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 1), 0);
    uint8_t *big = calloc(1, 64 * 1024);
    MDB_txn *txn = NULL;
    int rc = 0;
    uint64_t i;
    assert_int_equal(refbus_nstore_begin(st, 1, &txn), 0);
    for (i = 1; i < 100 && rc == 0; i++) {
        uint8_t k[8];
        refbus_put_u64be(k, i);
        rc = refbus_nstore_put(st, txn, REFBUS_T_INBOX, k, 8, big, 64 * 1024);
    }
    assert_int_equal(rc, REFBUS_EMAPFULL);
    refbus_nstore_abort(&txn);
    /* nothing half-written; the store still works */
    uint64_t n = 99;
    assert_int_equal(refbus_nstore_begin(st, 1, &txn), 0);
    assert_int_equal(refbus_nstore_count(st, txn, REFBUS_T_INBOX, &n), 0);
    assert_int_equal(n, 0);
    uint8_t k[8];
    refbus_put_u64be(k, 1);
    assert_int_equal(refbus_nstore_put(st, txn, REFBUS_T_INBOX, k, 8, "small", 5), 0);
    assert_int_equal(refbus_nstore_commit(&txn), 0);
    free(big);
    refbus_nstore_close(&st);
    /* bad arguments */
    assert_int_equal(refbus_nstore_open(&st, path, key1, 10, 1), REFBUS_EINVAL);
}

/* run (create = 0) never makes a store: a missing one, an empty data.mdb and a truncated one
 * are refused and left as they were; a damaged one is never mapped (no SIGBUS). */
static void test_no_accidental_store(void **s)
{
    (void)s;
    char path[300], file[340], cmd[800];
    refbus_nstore *st = NULL;
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 0), REFBUS_ENOTFOUND);
    assert_int_not_equal(access(path, F_OK), 0); /* not even the directory */
    snprintf(path, sizeof path, "%s/empty", dir);
    snprintf(file, sizeof file, "%s/data.mdb", path);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && : > %s", path, file);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 0), REFBUS_ECORRUPT);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 1), REFBUS_ECORRUPT);
    snprintf(cmd, sizeof cmd, "test ! -s %s", file);
    assert_int_equal(system(cmd), 0); /* still 0 bytes */
    /* a real store, then cut to half */
    snprintf(path, sizeof path, "%s/cut", dir);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 1), 0);
    refbus_nstore_close(&st);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 0), 0);
    refbus_nstore_close(&st);
    snprintf(cmd, sizeof cmd, "f=%s/data.mdb; truncate -s $(( $(stat -c %%s $f) / 2 )) $f", path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(refbus_nstore_open(&st, path, key1, 1024 * 1024, 0), REFBUS_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sealed_at_rest),
        cmocka_unit_test(test_tamper_and_move),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_no_accidental_store),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
