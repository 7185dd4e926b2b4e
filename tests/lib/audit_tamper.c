/* Attacks on a stored trail for the verify tests (see audit_tamper.h). Only the key layout of
 * docs/AUDIT-FORMAT.md is assumed; the hashing for tamper_rehash is written out here again. */
#include "audit_tamper.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.pb-c.h"
#include "audit/checkpoint.h"
#include "audit/log.h"
#include "proto/pbutil.h"

typedef struct tx {
    MDB_txn *txn;
    MDB_dbi rec, tree, cps;
} tx;

static int tx_begin(MDB_env *env, tx *t)
{
    if (mdb_txn_begin(env, NULL, 0, &t->txn) != 0)
        return -1;
    if (mdb_dbi_open(t->txn, REFBUS_AUDIT_DB_RECORDS, 0, &t->rec) != 0 ||
        mdb_dbi_open(t->txn, REFBUS_AUDIT_DB_TREE, 0, &t->tree) != 0 ||
        mdb_dbi_open(t->txn, REFBUS_AUDIT_DB_CHECKPOINTS, 0, &t->cps) != 0) {
        mdb_txn_abort(t->txn);
        return -1;
    }
    return 0;
}

static int tx_end(tx *t, int rc)
{
    if (rc != 0) {
        mdb_txn_abort(t->txn);
        return -1;
    }
    return mdb_txn_commit(t->txn) == 0 ? 0 : -1;
}

static void k8(uint8_t kb[8], uint64_t v)
{
    refbus_audit_key(kb, v);
}

/* Copy of record i (malloc'd). */
static uint8_t *get_copy(tx *t, uint64_t i, size_t *len)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    k8(kb, i);
    if (mdb_get(t->txn, t->rec, &k, &v) != 0)
        return NULL;
    uint8_t *p = malloc(v.mv_size);
    if (p)
        memcpy(p, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return p;
}

static int put(tx *t, MDB_dbi dbi, uint64_t i, const uint8_t *b, size_t len)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v = {len, (void *)b};
    k8(kb, i);
    return mdb_put(t->txn, dbi, &k, &v, 0) == 0 ? 0 : -1;
}

int tamper_flip(MDB_env *env, uint64_t index, uint64_t off, uint8_t mask)
{
    tx t;
    size_t len;
    if (tx_begin(env, &t) != 0)
        return -1;
    uint8_t *b = get_copy(&t, index, &len);
    int rc = b ? 0 : -1;
    if (b) {
        b[off % len] ^= mask;
        rc = put(&t, t.rec, index, b, len);
    }
    free(b);
    return tx_end(&t, rc);
}

static uint64_t size_of(tx *t)
{
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t s = 0;
    if (mdb_cursor_open(t->txn, t->rec, &c) != 0)
        return 0;
    if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
        s = refbus_audit_key_get(k.mv_data) + 1;
    mdb_cursor_close(c);
    return s;
}

int tamper_delete(MDB_env *env, uint64_t index, int renumber)
{
    tx t;
    uint8_t kb[8];
    MDB_val k = {8, kb};
    int rc = 0;
    if (tx_begin(env, &t) != 0)
        return -1;
    uint64_t s = size_of(&t);
    k8(kb, index);
    if (mdb_del(t.txn, t.rec, &k, NULL) != 0)
        rc = -1;
    for (uint64_t j = index + 1; rc == 0 && renumber && j < s; j++) {
        size_t len;
        uint8_t *b = get_copy(&t, j, &len);
        rc = b ? put(&t, t.rec, j - 1, b, len) : -1;
        free(b);
        k8(kb, j);
        if (rc == 0 && mdb_del(t.txn, t.rec, &k, NULL) != 0)
            rc = -1;
    }
    return tx_end(&t, rc);
}

int tamper_swap(MDB_env *env, uint64_t i, uint64_t j)
{
    tx t;
    size_t li, lj;
    if (tx_begin(env, &t) != 0)
        return -1;
    uint8_t *a = get_copy(&t, i, &li), *b = get_copy(&t, j, &lj);
    int rc = a && b ? 0 : -1;
    if (rc == 0)
        rc = put(&t, t.rec, i, b, lj) || put(&t, t.rec, j, a, li) ? -1 : 0;
    free(a);
    free(b);
    return tx_end(&t, rc);
}

/* Delete every key of `dbi` from `first` (encoded) on. */
static int del_from(tx *t, MDB_dbi dbi, const uint8_t *first, size_t flen)
{
    MDB_cursor *c;
    MDB_val k = {flen, (void *)first}, v;
    if (mdb_cursor_open(t->txn, dbi, &c) != 0)
        return -1;
    int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (mrc == 0) {
        if (mdb_cursor_del(c, 0) != 0)
            break;
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT); /* after a delete: the entry that followed */
    }
    mdb_cursor_close(c);
    return mrc == MDB_NOTFOUND ? 0 : -1;
}

int tamper_truncate(MDB_env *env, uint64_t from, int tree, int cps)
{
    tx t;
    uint8_t kb[9];
    int rc;
    if (tx_begin(env, &t) != 0)
        return -1;
    k8(kb, from);
    rc = del_from(&t, t.rec, kb, 8);
    if (rc == 0 && tree) {
        refbus_audit_tree_key(kb, from, 0);
        rc = del_from(&t, t.tree, kb, 9);
    }
    if (rc == 0 && cps) {
        k8(kb, from + 1);
        rc = del_from(&t, t.cps, kb, 8);
    }
    return tx_end(&t, rc);
}

int tamper_forge_checkpoint(MDB_env *env, uint64_t size, const uint8_t *resign_sk)
{
    tx t;
    uint8_t kb[8];
    MDB_val k = {8, kb}, v;
    int rc = -1;
    Refbus__V1__SignedCheckpoint *s = NULL;
    Refbus__V1__Checkpoint *c = NULL;
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (tx_begin(env, &t) != 0)
        return -1;
    k8(kb, size);
    if (mdb_get(t.txn, t.cps, &k, &v) != 0)
        goto out;
    if (!(s = refbus__v1__signed_checkpoint__unpack(NULL, v.mv_size, v.mv_data)) ||
        !(c = refbus__v1__checkpoint__unpack(NULL, s->checkpoint.len, s->checkpoint.data)))
        goto out;
    c->root.data[0] ^= 0x01;
    if (resign_sk) {
        refbus_checkpoint cp;
        memcpy(cp.log_id, c->log_id.data, 32);
        cp.size = c->size;
        memcpy(cp.root, c->root.data, 32);
        cp.time_ms = c->time_ms;
        if (refbus_checkpoint_sign(&out, &out_len, &cp, resign_sk) != 0)
            goto out;
    } else {
        uint8_t body[256];
        size_t blen = refbus__v1__checkpoint__get_packed_size(c);
        if (blen > sizeof body)
            goto out;
        refbus__v1__checkpoint__pack(c, body);
        ProtobufCBinaryData orig = s->checkpoint;
        s->checkpoint = (ProtobufCBinaryData){blen, body};
        int prc = refbus_pb_pack(&out, &out_len, &s->base);
        s->checkpoint = orig; /* body is ours; protobuf-c frees what it allocated */
        if (prc != 0)
            goto out;
    }
    rc = put(&t, t.cps, size, out, out_len);
out:
    free(out);
    if (c)
        refbus__v1__checkpoint__free_unpacked(c, NULL);
    if (s)
        refbus__v1__signed_checkpoint__free_unpacked(s, NULL);
    return tx_end(&t, rc);
}

int tamper_tree(MDB_env *env, uint64_t last, unsigned level)
{
    tx t;
    uint8_t kb[9], h[32];
    MDB_val k = {9, kb}, v;
    int rc = -1;
    if (tx_begin(env, &t) != 0)
        return -1;
    refbus_audit_tree_key(kb, last, level);
    if (mdb_get(t.txn, t.tree, &k, &v) == 0 && v.mv_size == 32) {
        memcpy(h, v.mv_data, 32);
        h[31] ^= 0x80;
        MDB_val nv = {32, h};
        rc = mdb_put(t.txn, t.tree, &k, &nv, 0) == 0 ? 0 : -1;
    }
    return tx_end(&t, rc);
}

static void h_leaf(uint8_t out[32], const void *b, size_t len)
{
    crypto_hash_sha256_state st;
    uint8_t z = 0;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &z, 1);
    crypto_hash_sha256_update(&st, b, len);
    crypto_hash_sha256_final(&st, out);
}

static void h_node(uint8_t out[32], const uint8_t l[32], const uint8_t r[32])
{
    uint8_t b[65];
    b[0] = 1;
    memcpy(b + 1, l, 32);
    memcpy(b + 33, r, 32);
    crypto_hash_sha256(out, b, 65);
}

int tamper_rehash(MDB_env *env)
{
    tx t;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    static uint8_t frontier[64][32];
    uint64_t n = 0;
    int rc = 0;
    if (tx_begin(env, &t) != 0)
        return -1;
    if (mdb_drop(t.txn, t.tree, 0) != 0 || mdb_cursor_open(t.txn, t.rec, &c) != 0)
        return tx_end(&t, -1);
    /* Records are numbered 0..n-1 in key order here (whatever their keys say). */
    for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && mrc == 0;
         mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        uint8_t h[32], kb[9];
        unsigned l = 0;
        h_leaf(h, v.mv_data, v.mv_size);
        for (;; l++) {
            MDB_val tk = {9, kb}, tv = {32, h};
            refbus_audit_tree_key(kb, n, l);
            if (mdb_put(t.txn, t.tree, &tk, &tv, 0) != 0) {
                rc = -1;
                break;
            }
            if (!(n >> l & 1u))
                break;
            h_node(h, frontier[l], h);
        }
        memcpy(frontier[l], h, 32);
    }
    mdb_cursor_close(c);
    return tx_end(&t, rc);
}
