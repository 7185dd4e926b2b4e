/* The audit log in LMDB: append with stored subtree hashes, roots, checkpoints, proofs.
 * Appending hashes the record and about one node per record, reading about one stored subtree
 * hash to merge with; nothing ever rehashes the log. */
#include "audit/log.h"

#include "common/datadir.h"
#include "common/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit/checkpoint.h"
#include "proto/merkle.h"

#define META_LOG_ID "log_id"
#define META_FORMAT "format"
#define FORMAT_VERSION 1u

struct refbus_audit {
    MDB_env *env;
    refbus_audit_dbis db;
    uint8_t log_id[REFBUS_AUDIT_LOG_ID_BYTES];
    int readonly;
};

void refbus_audit_key(uint8_t out[8], uint64_t v)
{
    refbus_put_u64be(out, v);
}

uint64_t refbus_audit_key_get(const uint8_t in[8])
{
    return refbus_get_u64be(in);
}

void refbus_audit_tree_key(uint8_t out[9], uint64_t last, unsigned level)
{
    refbus_audit_key(out, last);
    out[8] = (uint8_t)level;
}

void refbus_audit_get_dbis(const refbus_audit *a, refbus_audit_dbis *out)
{
    *out = a->db;
}

void refbus_audit_log_id(const refbus_audit *a, uint8_t out[REFBUS_AUDIT_LOG_ID_BYTES])
{
    memcpy(out, a->log_id, REFBUS_AUDIT_LOG_ID_BYTES);
}

int refbus_audit_open(refbus_audit **out, MDB_env *env, int readonly)
{
    refbus_audit *a = NULL;
    MDB_txn *txn = NULL;
    unsigned cf = readonly ? 0 : MDB_CREATE;
    MDB_val k = {strlen(META_LOG_ID), (void *)META_LOG_ID}, v;
    int rc, mrc;
    if (!out || !env)
        return REFBUS_EINVAL;
    if (!(a = calloc(1, sizeof *a)))
        return REFBUS_ENOMEM;
    a->env = env;
    a->readonly = readonly;
    if ((mrc = mdb_txn_begin(env, NULL, readonly ? MDB_RDONLY : 0, &txn)) != 0) {
        rc = refbus_lmdb_code(mrc);
        goto out;
    }
    if ((mrc = mdb_dbi_open(txn, REFBUS_AUDIT_DB_META, cf, &a->db.meta)) != 0 ||
        (mrc = mdb_dbi_open(txn, REFBUS_AUDIT_DB_RECORDS, cf, &a->db.records)) != 0 ||
        (mrc = mdb_dbi_open(txn, REFBUS_AUDIT_DB_TREE, cf, &a->db.tree)) != 0 ||
        (mrc = mdb_dbi_open(txn, REFBUS_AUDIT_DB_CHECKPOINTS, cf, &a->db.checkpoints)) != 0) {
        rc = refbus_lmdb_code(mrc);
        goto out;
    }
    mrc = mdb_get(txn, a->db.meta, &k, &v);
    if (mrc == MDB_NOTFOUND && !readonly) {
        uint8_t fmt[4] = {0, 0, 0, FORMAT_VERSION};
        MDB_val fk = {strlen(META_FORMAT), (void *)META_FORMAT}, fv = {4, fmt};
        randombytes_buf(a->log_id, REFBUS_AUDIT_LOG_ID_BYTES);
        v.mv_size = REFBUS_AUDIT_LOG_ID_BYTES;
        v.mv_data = a->log_id;
        if ((mrc = mdb_put(txn, a->db.meta, &k, &v, 0)) != 0 ||
            (mrc = mdb_put(txn, a->db.meta, &fk, &fv, 0)) != 0) {
            rc = refbus_lmdb_code(mrc);
            goto out;
        }
    } else if (mrc != 0) {
        rc = refbus_lmdb_code(mrc);
        goto out;
    } else if (v.mv_size != REFBUS_AUDIT_LOG_ID_BYTES) {
        rc = REFBUS_ECORRUPT;
        goto out;
    } else {
        memcpy(a->log_id, v.mv_data, REFBUS_AUDIT_LOG_ID_BYTES);
    }
    /* Committing (also a read txn) keeps the DBI handles open for the environment. */
    mrc = mdb_txn_commit(txn);
    txn = NULL;
    if (mrc != 0) {
        rc = refbus_lmdb_code(mrc);
        goto out;
    }
    *out = a;
    a = NULL;
    rc = 0;
out:
    if (txn)
        mdb_txn_abort(txn);
    free(a);
    return rc;
}

void refbus_audit_free(refbus_audit **a)
{
    if (!a || !*a)
        return;
    free(*a);
    *a = NULL;
}

/* A read txn of our own when the caller passed none. */
static int rtxn(refbus_audit *a, MDB_txn **txn, int *own)
{
    *own = 0;
    if (*txn)
        return 0;
    int mrc = mdb_txn_begin(a->env, NULL, MDB_RDONLY, txn);
    if (mrc != 0)
        return refbus_lmdb_code(mrc);
    *own = 1;
    return 0;
}

static void rtxn_end(MDB_txn *txn, int own)
{
    if (own)
        mdb_txn_abort(txn);
}

static int size_in(refbus_audit *a, MDB_txn *txn, uint64_t *size)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int mrc = mdb_cursor_open(txn, a->db.records, &c);
    if (mrc != 0)
        return refbus_lmdb_code(mrc);
    mrc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (mrc == MDB_NOTFOUND) {
        *size = 0;
        return 0;
    }
    if (mrc != 0)
        return refbus_lmdb_code(mrc);
    if (k.mv_size != 8)
        return REFBUS_ECORRUPT;
    *size = refbus_audit_key_get(k.mv_data) + 1;
    return 0;
}

int refbus_audit_size(refbus_audit *a, MDB_txn *txn, uint64_t *size)
{
    int own, rc;
    if (!a || !size)
        return REFBUS_EINVAL;
    if ((rc = rtxn(a, &txn, &own)) != 0)
        return rc;
    rc = size_in(a, txn, size);
    rtxn_end(txn, own);
    return rc;
}

/* The stored hash of the level-`level` subtree ending at leaf `last`. */
static int node_get(refbus_audit *a, MDB_txn *txn, uint64_t last, unsigned level,
                    uint8_t out[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t kb[9];
    MDB_val k = {9, kb}, v;
    refbus_audit_tree_key(kb, last, level);
    int mrc = mdb_get(txn, a->db.tree, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return REFBUS_ECORRUPT;
    if (mrc != 0)
        return refbus_lmdb_code(mrc);
    if (v.mv_size != REFBUS_MERKLE_HASH_BYTES)
        return REFBUS_ECORRUPT;
    memcpy(out, v.mv_data, REFBUS_MERKLE_HASH_BYTES);
    return 0;
}

/* MTH(D[a:b]) from stored hashes: [a, b) splits into aligned complete subtrees by the binary
 * digits of b - a (largest first), folded from the right as RFC 6962 does. */
struct mth_ctx {
    refbus_audit *a;
    MDB_txn *txn;
};

static int stored_mth(void *vctx, uint64_t lo, uint64_t hi, uint8_t out[REFBUS_MERKLE_HASH_BYTES])
{
    struct mth_ctx *c = vctx;
    uint8_t parts[REFBUS_MERKLE_LEVELS][REFBUS_MERKLE_HASH_BYTES];
    unsigned np = 0;
    int rc;
    while (lo < hi) {
        unsigned l = 63u - (unsigned)__builtin_clzll(hi - lo);
        if (lo & ((1ull << l) - 1))
            return REFBUS_EINVAL; /* not a range the RFC recursion asks for */
        if ((rc = node_get(c->a, c->txn, lo + (1ull << l) - 1, l, parts[np++])) != 0)
            return rc;
        lo += 1ull << l;
    }
    memcpy(out, parts[np - 1], REFBUS_MERKLE_HASH_BYTES);
    for (unsigned i = np - 1; i-- > 0;)
        refbus_merkle_node(out, parts[i], out);
    return 0;
}

int refbus_audit_root(refbus_audit *a, MDB_txn *txn, uint64_t size,
                      uint8_t root[REFBUS_MERKLE_HASH_BYTES])
{
    int own, rc;
    uint64_t cur;
    if (!a || !root)
        return REFBUS_EINVAL;
    if ((rc = rtxn(a, &txn, &own)) != 0)
        return rc;
    if ((rc = size_in(a, txn, &cur)) != 0)
        goto out;
    if (size > cur) {
        rc = REFBUS_EINVAL;
        goto out;
    }
    if (size == 0) {
        refbus_merkle_empty_root(root);
        goto out;
    }
    struct mth_ctx c = {a, txn};
    rc = stored_mth(&c, 0, size, root);
out:
    rtxn_end(txn, own);
    return rc;
}

int refbus_audit_get(refbus_audit *a, MDB_txn *txn, uint64_t index, const uint8_t **rec,
                     size_t *len)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    if (!a || !txn || !rec || !len)
        return REFBUS_EINVAL;
    refbus_audit_key(kb, index);
    int mrc = mdb_get(txn, a->db.records, &k, &v);
    if (mrc != 0)
        return refbus_lmdb_code(mrc);
    *rec = v.mv_data;
    *len = v.mv_size;
    return 0;
}

int refbus_audit_append_many(refbus_audit *a, MDB_txn *txn, const uint8_t *const *recs,
                             const size_t *lens, size_t n, uint64_t *first)
{
    uint8_t kb[9], carry[REFBUS_MERKLE_HASH_BYTES],
        left[REFBUS_MERKLE_LEVELS][REFBUS_MERKLE_HASH_BYTES];
    uint64_t size, have = 0; /* bit l: left[l] holds the stored level-l subtree of the frontier */
    int rc, mrc;
    if (!a || !txn || (n && (!recs || !lens)) || a->readonly)
        return REFBUS_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!recs[i] || lens[i] == 0 || lens[i] > REFBUS_AUDIT_RECORD_MAX)
            return REFBUS_EINVAL;
    if ((rc = size_in(a, txn, &size)) != 0)
        return rc;
    if (first)
        *first = size;
    for (size_t i = 0; i < n; i++, size++) {
        MDB_val k = {8, kb}, v = {lens[i], (void *)recs[i]};
        refbus_audit_key(kb, size);
        if ((mrc = mdb_put(txn, a->db.records, &k, &v, MDB_APPEND)) != 0)
            return refbus_lmdb_code(mrc);
        refbus_merkle_leaf(carry, recs[i], lens[i]);
        /* The leaf, then one node per trailing one-bit of `size`: each merges the complete
         * subtree of that level to its left (ending at leaf size - 2^l). Those made in this call
         * are at hand; older ones are read once: about one read per single append, and at most
         * one per set bit of the size for a whole batch. The rest of the tree is never touched. */
        unsigned l = 0;
        for (;; l++) {
            MDB_val tk = {9, kb}, tv = {REFBUS_MERKLE_HASH_BYTES, carry};
            refbus_audit_tree_key(kb, size, l);
            if ((mrc = mdb_put(txn, a->db.tree, &tk, &tv, MDB_APPEND)) != 0)
                return refbus_lmdb_code(mrc);
            if (!(size >> l & 1u))
                break;
            if (!(have >> l & 1u) && (rc = node_get(a, txn, size - (1ull << l), l, left[l])) != 0)
                return rc;
            refbus_merkle_node(carry, left[l], carry);
        }
        memcpy(left[l], carry, REFBUS_MERKLE_HASH_BYTES); /* the new level-l subtree; the levels
                                                             below are merged away */
        have = (have | 1ull << l) & ~((1ull << l) - 1);
    }
    return 0;
}

int refbus_audit_append(refbus_audit *a, MDB_txn *txn, const uint8_t *rec, size_t len,
                        uint64_t *index)
{
    return refbus_audit_append_many(a, txn, &rec, &len, 1, index);
}

int refbus_audit_append_record(refbus_audit *a, MDB_txn *txn, Refbus__V1__AuditRecord *r,
                               uint64_t *index)
{
    uint8_t stackbuf[1024], *buf = stackbuf;
    uint64_t size;
    int rc;
    if (!a || !txn || !r)
        return REFBUS_EINVAL;
    if ((rc = size_in(a, txn, &size)) != 0)
        return rc;
    Refbus__V1__AuditRecord c = *r; /* shallow: only the scalars below differ */
    if (c.version == 0)
        c.version = 1;
    c.index = size;
    size_t len = refbus__v1__audit_record__get_packed_size(&c);
    if (len > REFBUS_AUDIT_RECORD_MAX)
        return REFBUS_EINVAL;
    if (len > sizeof stackbuf && !(buf = malloc(len)))
        return REFBUS_ENOMEM;
    refbus__v1__audit_record__pack(&c, buf);
    rc = refbus_audit_append(a, txn, buf, len, index);
    if (buf != stackbuf)
        free(buf);
    return rc;
}

static int copy_out(const MDB_val *v, uint8_t **out, size_t *out_len)
{
    uint8_t *p = malloc(v->mv_size ? v->mv_size : 1);
    if (!p)
        return REFBUS_ENOMEM;
    memcpy(p, v->mv_data, v->mv_size);
    *out = p;
    *out_len = v->mv_size;
    return 0;
}

int refbus_audit_checkpoint(refbus_audit *a, MDB_txn *txn,
                            const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES], uint64_t now_ms,
                            uint8_t **out, size_t *out_len)
{
    refbus_checkpoint cp;
    uint8_t *scp = NULL, kb[8];
    size_t scp_len = 0;
    int rc, mrc;
    if (!a || !txn || !sign_sk || a->readonly || (out && !out_len))
        return REFBUS_EINVAL;
    memset(&cp, 0, sizeof cp);
    memcpy(cp.log_id, a->log_id, REFBUS_AUDIT_LOG_ID_BYTES);
    cp.time_ms = now_ms;
    if ((rc = size_in(a, txn, &cp.size)) != 0 ||
        (rc = refbus_audit_root(a, txn, cp.size, cp.root)) != 0)
        return rc;
    if ((rc = refbus_checkpoint_sign(&scp, &scp_len, &cp, sign_sk)) != 0)
        return rc;
    MDB_val k = {8, kb}, v = {scp_len, scp};
    refbus_audit_key(kb, cp.size);
    if ((mrc = mdb_put(txn, a->db.checkpoints, &k, &v, MDB_APPEND)) != 0) {
        rc = mrc == MDB_KEYEXIST ? REFBUS_EEXIST : refbus_lmdb_code(mrc);
        goto out;
    }
    Refbus__V1__AuditRecord r = REFBUS__V1__AUDIT_RECORD__INIT;
    r.event = REFBUS__V1__EVENT_TYPE__EVENT_CHECKPOINT;
    r.time_ms = now_ms;
    r.checkpoint_size = cp.size;
    r.checkpoint_root = (ProtobufCBinaryData){REFBUS_MERKLE_HASH_BYTES, cp.root};
    r.signed_checkpoint = (ProtobufCBinaryData){scp_len, scp};
    if ((rc = refbus_audit_append_record(a, txn, &r, NULL)) != 0)
        goto out;
    if (out) {
        *out = scp;
        *out_len = scp_len;
        scp = NULL;
    }
    rc = 0;
out:
    free(scp);
    return rc;
}

/* The checkpoint under `op` (MDB_LAST) or at exactly `size` (MDB_SET). */
static int checkpoint_get(refbus_audit *a, MDB_txn *txn, MDB_cursor_op op, uint64_t size,
                          uint8_t **out, size_t *out_len, uint64_t *at)
{
    MDB_cursor *c = NULL;
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    int own, rc, mrc;
    if ((rc = rtxn(a, &txn, &own)) != 0)
        return rc;
    refbus_audit_key(kb, size);
    if ((mrc = mdb_cursor_open(txn, a->db.checkpoints, &c)) != 0 ||
        (mrc = mdb_cursor_get(c, &k, &v, op)) != 0) {
        rc = refbus_lmdb_code(mrc);
        goto out;
    }
    if (k.mv_size != 8) {
        rc = REFBUS_ECORRUPT;
        goto out;
    }
    if (at)
        *at = refbus_audit_key_get(k.mv_data);
    rc = out ? copy_out(&v, out, out_len) : 0;
out:
    if (c)
        mdb_cursor_close(c);
    rtxn_end(txn, own);
    return rc;
}

int refbus_audit_latest_checkpoint(refbus_audit *a, MDB_txn *txn, uint8_t **out, size_t *out_len)
{
    if (!a || !out || !out_len)
        return REFBUS_EINVAL;
    return checkpoint_get(a, txn, MDB_LAST, 0, out, out_len, NULL);
}

int refbus_audit_checkpoint_at(refbus_audit *a, MDB_txn *txn, uint64_t size, uint8_t **out,
                               size_t *out_len)
{
    if (!a || !out || !out_len)
        return REFBUS_EINVAL;
    return checkpoint_get(a, txn, MDB_SET, size, out, out_len, NULL);
}

int refbus_audit_uncovered(refbus_audit *a, MDB_txn *txn, uint64_t *uncovered,
                           uint64_t *last_time_ms)
{
    uint8_t *cp = NULL;
    size_t cp_len = 0;
    uint64_t size, at = 0;
    int own, rc;
    refbus_checkpoint c;
    if (!a)
        return REFBUS_EINVAL;
    if ((rc = rtxn(a, &txn, &own)) != 0)
        return rc;
    if ((rc = size_in(a, txn, &size)) != 0)
        goto out;
    rc = checkpoint_get(a, txn, MDB_LAST, 0, &cp, &cp_len, &at);
    if (rc == REFBUS_ENOTFOUND) {
        if (uncovered)
            *uncovered = size;
        if (last_time_ms)
            *last_time_ms = 0;
        rc = 0;
        goto out;
    }
    if (rc != 0)
        goto out;
    if ((rc = refbus_checkpoint_parse(&c, cp, cp_len)) != 0 || c.size != at || at >= size) {
        rc = REFBUS_ECORRUPT;
        goto out;
    }
    if (uncovered)
        *uncovered = size - at - 1;
    if (last_time_ms)
        *last_time_ms = c.time_ms;
out:
    free(cp);
    rtxn_end(txn, own);
    return rc;
}

static int proof_common(refbus_audit *a, MDB_txn *txn, int inclusion, uint64_t x, uint64_t y,
                        uint8_t (**proof)[REFBUS_MERKLE_HASH_BYTES], size_t *n)
{
    uint8_t tmp[REFBUS_MERKLE_MAX_PATH][REFBUS_MERKLE_HASH_BYTES],
        (*p)[REFBUS_MERKLE_HASH_BYTES] = NULL;
    size_t len = 0;
    uint64_t cur;
    int own, rc;
    if (!a || !proof || !n)
        return REFBUS_EINVAL;
    if ((rc = rtxn(a, &txn, &own)) != 0)
        return rc;
    if ((rc = size_in(a, txn, &cur)) != 0)
        goto out;
    if (y > cur || (inclusion ? x >= y : x > y)) {
        rc = REFBUS_EINVAL;
        goto out;
    }
    struct mth_ctx c = {a, txn};
    rc = inclusion ? refbus_merkle_inclusion_path(tmp, &len, x, y, stored_mth, &c)
                   : refbus_merkle_consistency_path(tmp, &len, x, y, stored_mth, &c);
    if (rc != 0)
        goto out;
    if (len && !(p = malloc(len * REFBUS_MERKLE_HASH_BYTES))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    if (len)
        memcpy(p, tmp, len * REFBUS_MERKLE_HASH_BYTES);
    *proof = p;
    *n = len;
out:
    rtxn_end(txn, own);
    return rc;
}

int refbus_audit_inclusion_path(refbus_audit *a, MDB_txn *txn, uint64_t index, uint64_t size,
                                uint8_t (**proof)[REFBUS_MERKLE_HASH_BYTES], size_t *n)
{
    return proof_common(a, txn, 1, index, size, proof, n);
}

int refbus_audit_consistency_path(refbus_audit *a, MDB_txn *txn, uint64_t m, uint64_t n,
                                  uint8_t (**proof)[REFBUS_MERKLE_HASH_BYTES], size_t *count)
{
    return proof_common(a, txn, 0, m, n, proof, count);
}
