/* Streaming verification: one sequential cursor over the records, one over the stored tree
 * hashes (compared, never trusted) and one over the stored checkpoints, in pages of short read
 * transactions. Per record: one SHA-256 of the record, about one node hash on the incremental
 * stack, a protobuf peek, and ~3 cursor steps; no per-record random lookups. Suspicions from
 * the stored hashes are only settled by the next signed checkpoint (see docs/AUDIT-FORMAT.md). */
#include "audit/verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit/checkpoint.h"
#include "proto/merkle.h"
#include "audit/record.h"
#include "common/util.h"

#define PROGRESS_EVERY 65536u

enum susp_kind { SUSP_NONE = 0, SUSP_LEAF, SUSP_TREE };

typedef struct suspect {
    enum susp_kind kind;
    uint64_t index;
    uint8_t leaf[REFBUS_MERKLE_HASH_BYTES]; /* SUSP_LEAF: the recomputed leaf hash */
    char detail[200];
} suspect;

typedef struct anchor {
    uint64_t size;
    const uint8_t *b;
    size_t len;
} anchor;

typedef struct vctx {
    refbus_audit_reader *r;
    const refbus_audit_verify_opts *o;
    refbus_audit_verify_result *res;
    refbus_audit_dbis db;
    MDB_txn *txn;
    MDB_cursor *tc, *cc; /* tree, checkpoints */
    int tc_have;         /* tc is on an entry */
    MDB_val tk, tv;
    refbus_merkle_stack st;
    uint64_t S;        /* records at the start */
    uint64_t cp_limit; /* largest stored checkpoint size at the start (+1; 0 = none) */
    uint64_t tree_leaves;
    int cc_have;
    uint64_t cc_size;
    MDB_val cv;
    uint64_t good; /* every record below this is proven by a checkpoint */
    suspect leaf_susp, tree_susp;
    anchor *ext;
    size_t n_ext, ext_pos;
    uint8_t
        stored_leaf[REFBUS_MERKLE_HASH_BYTES]; /* the stored level-0 hash of the current record */
    int have_stored_leaf;
    int failed;
} vctx;

const char *refbus_audit_problem_name(enum refbus_audit_problem p)
{
    static const char *names[] = {"intact",    "altered",        "missing", "reordered",
                                  "truncated", "bad-checkpoint", "tree",    "malformed"};
    return (unsigned)p < sizeof names / sizeof names[0] ? names[p] : "unknown";
}

static void set_failure(vctx *v, enum refbus_audit_problem p, uint64_t index, const char *detail)
{
    v->failed = 1;
    v->res->problem = p;
    v->res->index = index;
    snprintf(v->res->detail, sizeof v->res->detail, "%s", detail);
}

/* Record the first failure. A pending suspicion at a smaller index is the earlier problem. */
static void fail(vctx *v, enum refbus_audit_problem p, uint64_t index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(vctx *v, enum refbus_audit_problem p, uint64_t index, const char *fmt, ...)
{
    char buf[400];
    va_list ap;
    if (v->failed)
        return;
    suspect *s = v->leaf_susp.kind ? &v->leaf_susp : NULL;
    if (v->tree_susp.kind && (!s || v->tree_susp.index < s->index))
        s = &v->tree_susp;
    if (s && s->index < index) {
        set_failure(v, s->kind == SUSP_LEAF ? REFBUS_AUDIT_ALTERED : REFBUS_AUDIT_TREE, s->index,
                    s->detail);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    set_failure(v, p, index, buf);
}

static void suspect_set(suspect *s, enum susp_kind kind, uint64_t index, const uint8_t *leaf,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void suspect_set(suspect *s, enum susp_kind kind, uint64_t index, const uint8_t *leaf,
                        const char *fmt, ...)
{
    va_list ap;
    if (s->kind)
        return; /* keep the first */
    s->kind = kind;
    s->index = index;
    if (leaf)
        memcpy(s->leaf, leaf, REFBUS_MERKLE_HASH_BYTES);
    va_start(ap, fmt);
    vsnprintf(s->detail, sizeof s->detail, fmt, ap);
    va_end(ap);
}

/* The stored level-0 hash of record j, or -1. Uses the current txn. */
static int stored_leaf_of(vctx *v, uint64_t j, uint8_t out[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t kb[9];
    MDB_val k = {9, kb}, val;
    refbus_audit_tree_key(kb, j, 0);
    if (mdb_get(v->txn, v->db.tree, &k, &val) != 0 || val.mv_size != REFBUS_MERKLE_HASH_BYTES)
        return -1;
    memcpy(out, val.mv_data, REFBUS_MERKLE_HASH_BYTES);
    return 0;
}

/* Does the record stored at key j say (or, lacking an index field, hash as) it belongs at i? */
static int record_belongs_at(vctx *v, uint64_t j, uint64_t i)
{
    uint8_t kb[8], leaf[REFBUS_MERKLE_HASH_BYTES], st[REFBUS_MERKLE_HASH_BYTES];
    MDB_val k = {8, kb}, val;
    refbus_audit_peek pk;
    refbus_audit_key(kb, j);
    if (mdb_get(v->txn, v->db.records, &k, &val) != 0)
        return 0;
    if (refbus_audit_record_peek(&pk, val.mv_data, val.mv_size) == 0 && pk.has_index)
        return pk.index == i;
    refbus_merkle_leaf(leaf, val.mv_data, val.mv_size);
    return stored_leaf_of(v, i, st) == 0 && memcmp(st, leaf, REFBUS_MERKLE_HASH_BYTES) == 0;
}

/* A record whose own index field says j sits at i. Moved, or changed? */
static void self_index_mismatch(vctx *v, uint64_t i, uint64_t j,
                                const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t sj[REFBUS_MERKLE_HASH_BYTES];
    int moved =
        (stored_leaf_of(v, j, sj) == 0 && memcmp(sj, leaf, REFBUS_MERKLE_HASH_BYTES) == 0) ||
        (v->have_stored_leaf && memcmp(v->stored_leaf, leaf, REFBUS_MERKLE_HASH_BYTES) == 0);
    if (!moved)
        fail(v, REFBUS_AUDIT_ALTERED, i,
             "record %llu was changed: its bytes match no stored hash and its own index field "
             "now says %llu",
             (unsigned long long)i, (unsigned long long)j);
    else if (j < i)
        fail(v, REFBUS_AUDIT_REORDERED, i, "the record at index %llu was written as index %llu",
             (unsigned long long)i, (unsigned long long)j);
    else if (record_belongs_at(v, j, i))
        fail(v, REFBUS_AUDIT_REORDERED, i, "records %llu and %llu were swapped",
             (unsigned long long)i, (unsigned long long)j);
    else
        fail(v, REFBUS_AUDIT_MISSING, i,
             "record %llu was removed and later records renumbered (the record now at %llu was "
             "written as index %llu)",
             (unsigned long long)i, (unsigned long long)i, (unsigned long long)j);
}

/* Settle a leaf suspicion once a checkpoint has proven the records wrong: a moved record still
 * hashes to a stored leaf somewhere else. Scans the stored leaves from the last good point. */
static void blame_leaf(vctx *v, uint64_t s_size, uint64_t t_ms)
{
    suspect *s = &v->leaf_susp;
    MDB_cursor *c = NULL;
    uint8_t kb[9];
    MDB_val k = {9, kb}, val;
    uint64_t found = UINT64_MAX;
    refbus_audit_tree_key(kb, v->good, 0);
    if (mdb_cursor_open(v->txn, v->db.tree, &c) == 0) {
        int mrc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
        for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
            if (k.mv_size != 9 || ((uint8_t *)k.mv_data)[8] != 0)
                continue;
            uint64_t j = refbus_audit_key_get(k.mv_data);
            if (j >= v->S)
                break;
            if (j != s->index && val.mv_size == REFBUS_MERKLE_HASH_BYTES &&
                memcmp(val.mv_data, s->leaf, REFBUS_MERKLE_HASH_BYTES) == 0) {
                found = j;
                break;
            }
        }
        mdb_cursor_close(c);
    }
    char t[40];
    refbus_time_iso(t, sizeof t, t_ms, 1);
    s->kind = SUSP_NONE; /* settled here, so fail() does not report it a second time */
    if (found == UINT64_MAX)
        fail(v, REFBUS_AUDIT_ALTERED, s->index,
             "record %llu was changed: it does not match its stored leaf hash, and the records "
             "do not match the checkpoint of size %llu signed %s",
             (unsigned long long)s->index, (unsigned long long)s_size, t);
    else if (found > s->index && !record_belongs_at(v, found, s->index))
        fail(v, REFBUS_AUDIT_MISSING, s->index,
             "record %llu was removed: the record now at %llu was hashed as index %llu, and "
             "the checkpoint of size %llu signed %s does not match",
             (unsigned long long)s->index, (unsigned long long)s->index, (unsigned long long)found,
             (unsigned long long)s_size, t);
    else
        fail(v, REFBUS_AUDIT_REORDERED, s->index,
             "the record at index %llu was hashed as index %llu: records were moved (the "
             "checkpoint of size %llu signed %s does not match)",
             (unsigned long long)s->index, (unsigned long long)found, (unsigned long long)s_size,
             t);
}

/* Check the signature, signer and log of a checkpoint that claims to be of size `at`. */
static int checkpoint_ok(vctx *v, const uint8_t *b, size_t len, uint64_t at, const char *src,
                         refbus_checkpoint *cp)
{
    refbus_audit_verify_result *res = v->res;
    char hx[65];
    if (refbus_checkpoint_parse(cp, b, len) != 0) {
        fail(v, REFBUS_AUDIT_BAD_CHECKPOINT, at, "the %s of size %llu cannot be decoded", src,
             (unsigned long long)at);
        return 0;
    }
    if (v->o->n_broker_pks) {
        int ok = 0;
        for (size_t k = 0; k < v->o->n_broker_pks && !ok; k++)
            ok = refbus_checkpoint_verify(NULL, b, len, v->o->broker_pks[k]) == 0;
        if (!ok) {
            int known = 0;
            for (size_t k = 0; k < v->o->n_broker_pks && !known; k++)
                known = memcmp(cp->signer_pk, v->o->broker_pks[k], crypto_sign_PUBLICKEYBYTES) == 0;
            refbus_hex(hx, cp->signer_pk, crypto_sign_PUBLICKEYBYTES);
            fail(v, REFBUS_AUDIT_BAD_CHECKPOINT, at, "the %s of size %llu %s (signer %s)", src,
                 (unsigned long long)at,
                 known ? "has a bad signature" : "is not signed by a pinned broker key", hx);
            return 0;
        }
        if (!res->have_signer) {
            memcpy(res->signer_pk, cp->signer_pk, crypto_sign_PUBLICKEYBYTES);
            res->have_signer = 1;
        }
    } else {
        if (!res->have_signer) {
            memcpy(res->signer_pk, cp->signer_pk, crypto_sign_PUBLICKEYBYTES);
            res->have_signer = 1;
        }
        if (refbus_checkpoint_verify(NULL, b, len, res->signer_pk) != 0) {
            int other = memcmp(cp->signer_pk, res->signer_pk, crypto_sign_PUBLICKEYBYTES) != 0;
            fail(v, REFBUS_AUDIT_BAD_CHECKPOINT, at, "the %s of size %llu %s", src,
                 (unsigned long long)at,
                 other ? "is signed by another key than the earlier checkpoints"
                       : "has a bad signature");
            return 0;
        }
    }
    if (memcmp(cp->log_id, res->log_id, REFBUS_AUDIT_LOG_ID_BYTES) != 0) {
        fail(v, REFBUS_AUDIT_BAD_CHECKPOINT, at, "the %s of size %llu belongs to another log", src,
             (unsigned long long)at);
        return 0;
    }
    if (cp->size != at) {
        fail(v, REFBUS_AUDIT_BAD_CHECKPOINT, at, "the %s stored for size %llu says size %llu", src,
             (unsigned long long)at, (unsigned long long)cp->size);
        return 0;
    }
    return 1;
}

/* A verified checkpoint of the current size against the recomputed root. */
static void anchor_check(vctx *v, const refbus_checkpoint *cp, const char *src)
{
    uint8_t root[REFBUS_MERKLE_HASH_BYTES];
    char t[40];
    refbus_merkle_stack_root(&v->st, root);
    if (sodium_memcmp(root, cp->root, REFBUS_MERKLE_HASH_BYTES) == 0) {
        v->res->checkpoints++;
        if (cp->size >= v->res->covered) {
            v->res->covered = cp->size;
            v->res->covered_time_ms = cp->time_ms;
        }
        suspect *s = v->leaf_susp.kind ? &v->leaf_susp : NULL;
        if (v->tree_susp.kind && (!s || v->tree_susp.index < s->index))
            s = &v->tree_susp;
        if (s && s->index < cp->size)
            fail(v, REFBUS_AUDIT_TREE, s->index,
                 "%s; the records themselves match the checkpoint of size %llu, so the stored "
                 "tree hashes are what is wrong",
                 s->detail, (unsigned long long)cp->size);
        v->good = cp->size;
        return;
    }
    if (v->leaf_susp.kind) {
        blame_leaf(v, cp->size, cp->time_ms);
        return;
    }
    refbus_time_iso(t, sizeof t, cp->time_ms, 1);
    fail(v, REFBUS_AUDIT_ALTERED, v->good,
         "records %llu to %llu do not match the %s of size %llu signed %s, and the stored tree "
         "hashes were rewritten to match them, so no single record can be named: %llu is the "
         "first not covered by an earlier checkpoint",
         (unsigned long long)v->good, (unsigned long long)cp->size - 1, src,
         (unsigned long long)cp->size, t, (unsigned long long)v->good);
}

/* Every anchor of size i: the stored checkpoint, the one inside record i, external ones. */
static void anchors_at(vctx *v, uint64_t i, const refbus_audit_peek *pk, int have_pk)
{
    refbus_checkpoint cp;
    const uint8_t *seen = NULL;
    size_t seen_len = 0;
    if (v->cc_have && v->cc_size == i) {
        if (checkpoint_ok(v, v->cv.mv_data, v->cv.mv_size, i, "stored checkpoint", &cp))
            anchor_check(v, &cp, "stored checkpoint");
        seen = v->cv.mv_data;
        seen_len = v->cv.mv_size;
        MDB_val k;
        v->cc_have = mdb_cursor_get(v->cc, &k, &v->cv, MDB_NEXT) == 0 && k.mv_size == 8;
        if (v->cc_have) {
            v->cc_size = refbus_audit_key_get(k.mv_data);
            v->cc_have = v->cc_size < v->cp_limit;
        }
    }
    if (!v->failed && have_pk && pk->event == REFBUS__V1__EVENT_TYPE__EVENT_CHECKPOINT &&
        pk->signed_cp &&
        !(seen && seen_len == pk->signed_cp_len && !memcmp(seen, pk->signed_cp, seen_len))) {
        if (checkpoint_ok(v, pk->signed_cp, pk->signed_cp_len, i, "checkpoint record", &cp))
            anchor_check(v, &cp, "checkpoint record");
    }
    while (!v->failed && v->ext_pos < v->n_ext && v->ext[v->ext_pos].size == i) {
        anchor *e = &v->ext[v->ext_pos++];
        if (checkpoint_ok(v, e->b, e->len, i, "given checkpoint", &cp))
            anchor_check(v, &cp, "given checkpoint");
    }
}

static void tree_next(vctx *v)
{
    v->tc_have = mdb_cursor_get(v->tc, &v->tk, &v->tv, MDB_NEXT) == 0;
}

/* Compare the hashes this record completed with the stored ones, in key order. */
static void tree_compare(vctx *v, uint64_t i, uint8_t (*nodes)[REFBUS_MERKLE_HASH_BYTES],
                         unsigned cnt)
{
    uint8_t want[9];
    v->have_stored_leaf = 0;
    for (unsigned l = 0; l < cnt; l++) {
        refbus_audit_tree_key(want, i, l);
        for (;;) {
            int cmp = !v->tc_have ? 1 : v->tk.mv_size != 9 ? -1 : memcmp(v->tk.mv_data, want, 9);
            if (cmp > 0) {
                suspect_set(&v->tree_susp, SUSP_TREE, i, NULL,
                            "the stored tree hash of level %u ending at record %llu is missing", l,
                            (unsigned long long)i);
                break;
            }
            if (cmp < 0) {
                suspect_set(&v->tree_susp, SUSP_TREE, i, NULL,
                            "the stored tree has an entry that belongs to no record near %llu",
                            (unsigned long long)i);
                tree_next(v);
                continue;
            }
            int same = v->tv.mv_size == REFBUS_MERKLE_HASH_BYTES &&
                       memcmp(v->tv.mv_data, nodes[l], REFBUS_MERKLE_HASH_BYTES) == 0;
            if (l == 0 && v->tv.mv_size == REFBUS_MERKLE_HASH_BYTES) {
                memcpy(v->stored_leaf, v->tv.mv_data, REFBUS_MERKLE_HASH_BYTES);
                v->have_stored_leaf = 1;
            }
            if (!same && l == 0)
                suspect_set(&v->leaf_susp, SUSP_LEAF, i, nodes[0],
                            "record %llu does not match its stored leaf hash",
                            (unsigned long long)i);
            else if (!same)
                suspect_set(&v->tree_susp, SUSP_TREE, i, NULL,
                            "the stored tree hash of level %u ending at record %llu is wrong", l,
                            (unsigned long long)i);
            tree_next(v);
            break;
        }
    }
}

static void close_cursors(vctx *v)
{
    if (v->tc)
        mdb_cursor_close(v->tc);
    if (v->cc)
        mdb_cursor_close(v->cc);
    v->tc = v->cc = NULL;
}

/* Open the page's cursors at record i (tree at (i,0), checkpoints at size >= i). */
static int open_cursors(vctx *v, uint64_t i)
{
    uint8_t kb[9];
    MDB_val k = {9, kb};
    if (mdb_cursor_open(v->txn, v->db.tree, &v->tc) != 0 ||
        mdb_cursor_open(v->txn, v->db.checkpoints, &v->cc) != 0)
        return REFBUS_ELMDB;
    refbus_audit_tree_key(kb, i, 0);
    v->tk = k;
    v->tc_have = mdb_cursor_get(v->tc, &v->tk, &v->tv, MDB_SET_RANGE) == 0;
    k.mv_size = 8;
    refbus_audit_key(kb, i);
    v->cc_have = mdb_cursor_get(v->cc, &k, &v->cv, MDB_SET_RANGE) == 0 && k.mv_size == 8;
    if (v->cc_have) {
        v->cc_size = refbus_audit_key_get(k.mv_data);
        v->cc_have = v->cc_size < v->cp_limit;
    }
    return 0;
}

/* The first snapshot: size, the largest checkpoint and how far the stored tree reaches. */
static int snapshot(vctx *v)
{
    MDB_cursor *c = NULL;
    MDB_val k, val;
    int rc = refbus_audit_size(refbus_audit_reader_log(v->r), v->txn, &v->S);
    if (rc == REFBUS_ECORRUPT) {
        fail(v, REFBUS_AUDIT_MALFORMED, 0, "the last record key is not 8 bytes");
        return 0;
    }
    if (rc != 0)
        return rc;
    if (mdb_cursor_open(v->txn, v->db.checkpoints, &c) != 0)
        return REFBUS_ELMDB;
    if (mdb_cursor_get(c, &k, &val, MDB_LAST) == 0 && k.mv_size == 8)
        v->cp_limit = refbus_audit_key_get(k.mv_data) + 1;
    mdb_cursor_close(c);
    if (mdb_cursor_open(v->txn, v->db.tree, &c) != 0)
        return REFBUS_ELMDB;
    if (mdb_cursor_get(c, &k, &val, MDB_LAST) == 0 && k.mv_size == 9)
        v->tree_leaves = refbus_audit_key_get(k.mv_data) + 1;
    mdb_cursor_close(c);
    return 0;
}

static int cmp_anchor(const void *a, const void *b)
{
    const anchor *x = a, *y = b;
    return x->size < y->size ? -1 : x->size > y->size;
}

/* What is left once every record was read: anchors at the final size and beyond it. */
static void finish(vctx *v)
{
    uint64_t S = v->S;
    refbus_checkpoint cp;
    anchors_at(v, S, NULL, 0);
    /* Stored checkpoints (from the first snapshot) and given ones beyond the end: a cut. */
    while (!v->failed && v->cc_have) {
        if (checkpoint_ok(v, v->cv.mv_data, v->cv.mv_size, v->cc_size, "stored checkpoint", &cp))
            fail(v, REFBUS_AUDIT_TRUNCATED, S,
                 "the log ends at %llu records but a stored checkpoint signs %llu: records "
                 "from %llu on are gone",
                 (unsigned long long)S, (unsigned long long)cp.size, (unsigned long long)S);
    }
    while (!v->failed && v->ext_pos < v->n_ext) {
        anchor *e = &v->ext[v->ext_pos++];
        if (checkpoint_ok(v, e->b, e->len, e->size, "given checkpoint", &cp))
            fail(v, REFBUS_AUDIT_TRUNCATED, S,
                 "the log ends at %llu records but the given checkpoint signs %llu: records "
                 "from %llu on are gone",
                 (unsigned long long)S, (unsigned long long)cp.size, (unsigned long long)S);
    }
    if (!v->failed && v->tree_leaves > S)
        fail(v, REFBUS_AUDIT_TRUNCATED, S,
             "the log ends at %llu records but the stored tree has hashes for %llu: the tail "
             "was cut",
             (unsigned long long)S, (unsigned long long)v->tree_leaves);
    /* Unsettled suspicions (no checkpoint after them yet) are failures all the same. */
    suspect *s[2] = {&v->leaf_susp, &v->tree_susp};
    for (int k = 0; k < 2; k++) {
        size_t n = strlen(s[k]->detail);
        if (s[k]->kind)
            snprintf(s[k]->detail + n, sizeof s[k]->detail - n,
                     " (no signed checkpoint covers it yet)");
    }
    if (!v->failed && (v->leaf_susp.kind || v->tree_susp.kind))
        fail(v, REFBUS_AUDIT_INTACT, UINT64_MAX, "%s", "");
}

int refbus_audit_verify(refbus_audit_reader *r, const refbus_audit_verify_opts *opts,
                        refbus_audit_verify_result *res)
{
    static const refbus_audit_verify_opts none;
    vctx *v = NULL;
    MDB_cursor *rcur = NULL;
    uint64_t i = 0;
    int rc = 0;
    if (!res)
        return REFBUS_EINVAL;
    memset(res, 0, sizeof res[0]);
    if (!r)
        return REFBUS_EINVAL;
    if (!(v = calloc(1, sizeof *v)))
        return REFBUS_ENOMEM;
    v->r = r;
    v->o = opts ? opts : &none;
    v->res = res;
    res->pinned = v->o->n_broker_pks > 0;
    res->unlocked = refbus_audit_reader_unlocked(r);
    refbus_audit_get_dbis(refbus_audit_reader_log(r), &v->db);
    refbus_audit_log_id(refbus_audit_reader_log(r), res->log_id);
    refbus_merkle_stack_init(&v->st);
    unsigned page = v->o->page ? v->o->page : REFBUS_AUDIT_PAGE;

    if (v->o->n_anchors) {
        if (!(v->ext = calloc(v->o->n_anchors, sizeof *v->ext))) {
            rc = REFBUS_ENOMEM;
            goto out;
        }
        for (size_t k = 0; k < v->o->n_anchors; k++) {
            refbus_checkpoint cp;
            v->ext[k].b = v->o->anchors[k];
            v->ext[k].len = v->o->anchor_lens[k];
            /* an undecodable one is reported at size 0, before anything else */
            v->ext[k].size =
                refbus_checkpoint_parse(&cp, v->ext[k].b, v->ext[k].len) == 0 ? cp.size : 0;
        }
        v->n_ext = v->o->n_anchors;
        qsort(v->ext, v->n_ext, sizeof *v->ext, cmp_anchor);
    }

    if ((rc = refbus_audit_reader_txn(r, &v->txn)) != 0 || (rc = snapshot(v)) != 0)
        goto out;
    res->size = v->S;
    refbus_audit_watch *w = refbus_audit_reader_watch(r);
    if (w)
        w->size = v->S;
    while (!v->failed) {
        MDB_val k, val;
        uint8_t kb[8];
        unsigned n = 0;
        int mrc;
        if ((rc = open_cursors(v, i)) != 0 || mdb_cursor_open(v->txn, v->db.records, &rcur) != 0) {
            rc = rc ? rc : REFBUS_ELMDB;
            goto out;
        }
        k.mv_size = 8;
        k.mv_data = kb;
        refbus_audit_key(kb, i);
        mrc = i < v->S ? mdb_cursor_get(rcur, &k, &val, MDB_SET_RANGE) : MDB_NOTFOUND;
        for (; !v->failed && i < v->S && n < page; n++, i++) {
            uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                nodes[REFBUS_MERKLE_LEVELS + 1][REFBUS_MERKLE_HASH_BYTES];
            refbus_audit_peek pk;
            if (mrc == MDB_NOTFOUND) {
                fail(v, REFBUS_AUDIT_TRUNCATED, i,
                     "records from %llu on disappeared while the trail was being verified",
                     (unsigned long long)i);
                break;
            }
            if (mrc != 0) {
                rc = REFBUS_ELMDB;
                goto out;
            }
            if (k.mv_size != 8) {
                fail(v, REFBUS_AUDIT_MALFORMED, i, "a record key after %llu is %zu bytes, not 8",
                     (unsigned long long)i, k.mv_size);
                break;
            }
            uint64_t key = refbus_audit_key_get(k.mv_data);
            if (key != i) {
                fail(v, REFBUS_AUDIT_MISSING, i,
                     key < v->S ? "there is no record %llu (the next one is %llu)"
                                : "there is no record %llu (nor any up to %llu)",
                     (unsigned long long)i, (unsigned long long)(key < v->S ? key : v->S - 1));
                break;
            }
            int have_pk = refbus_audit_record_peek(&pk, val.mv_data, val.mv_size) == 0;
            anchors_at(v, i, &pk, have_pk);
            if (v->failed)
                break;
            refbus_merkle_leaf(leaf, val.mv_data, val.mv_size);
            unsigned cnt = refbus_merkle_stack_push(&v->st, leaf, nodes);
            tree_compare(v, i, nodes, cnt);
            if (have_pk && pk.has_index && pk.index != i)
                self_index_mismatch(v, i, pk.index, leaf);
            res->checked++;
            if (w) { /* for refbus_audit_guard's caller, should reading crash further on */
                w->read = i + 1;
                w->proven = res->covered < i + 1 ? res->covered : i + 1;
            }
            if (v->o->progress && (i + 1) % PROGRESS_EVERY == 0)
                v->o->progress(v->o->progress_ctx, i + 1, v->S);
            mrc = mdb_cursor_get(rcur, &k, &val, MDB_NEXT);
        }
        mdb_cursor_close(rcur);
        rcur = NULL;
        if (v->failed || i >= v->S)
            break;
        close_cursors(v);
        if ((rc = refbus_audit_reader_txn(r, &v->txn)) != 0)
            goto out;
    }
    if (!v->failed)
        finish(v);
    if (v->o->progress)
        v->o->progress(v->o->progress_ctx, res->checked, v->S);
    refbus_merkle_stack_root(&v->st, res->root);
    rc = v->failed ? REFBUS_EAUDIT : 0;
out:
    if (rcur)
        mdb_cursor_close(rcur);
    close_cursors(v);
    refbus_audit_reader_release(r);
    free(v->ext);
    free(v);
    return rc;
}
