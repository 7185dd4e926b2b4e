/* LMDB layer of the broker. One environment, named databases, every change inside the caller's
 * write transaction so that an accepted envelope, its queue entries and its audit records are
 * committed together or not at all (DESIGN promise 1). */
#include "broker/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/datadir.h"
#include "common/log.h"
#include "common/util.h"

#define MAX_DBS 16

struct dedup_val {
    uint8_t seq[8];
    uint8_t priority;
    uint8_t expires[8];
    uint8_t hash[REFBUS_HASH_BYTES];
};

int refbus_bstore_err(int mdb_rc)
{
    /* A full map or disk is answered to senders and logged (rate-limited) by the batch loop,
     * a fatal error stops the broker; only the odd ones are worth a line each. */
    return refbus_lmdb_err(mdb_rc, "broker store");
}

size_t refbus_bstore_qkey(uint8_t *out, const char *agency, int prio_byte, uint64_t seq)
{
    size_t n = strlen(agency), k = 0;
    memcpy(out, agency, n);
    k = n;
    out[k++] = 0;
    if (prio_byte >= 0)
        out[k++] = (uint8_t)prio_byte;
    refbus_put_u64be(out + k, seq);
    return k + 8;
}

static size_t dkey(uint8_t *out, const char *sender, const uint8_t msg_id[REFBUS_MSG_ID_BYTES])
{
    size_t n = strlen(sender);
    memcpy(out, sender, n);
    out[n] = 0;
    memcpy(out + n + 1, msg_id, REFBUS_MSG_ID_BYTES);
    return n + 17;
}

int refbus_bstore_open(refbus_bstore **out, const char *dir, size_t map_size, int create)
{
    int rc, mrc, dead = 0;
    MDB_txn *txn = NULL;
    char file[600], why[256];
    refbus_bstore *s = calloc(1, sizeof *s);
    if (!s)
        return REFBUS_ENOMEM;
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    rc = refbus_lmdb_file_check(file, why, sizeof why, NULL);
    if (create && rc != REFBUS_ENOTFOUND) {
        log_error("store: %s already exists; refusing to start a new store over it (move it "
                  "away first if that is really meant)",
                  file);
        rc = REFBUS_EEXIST;
        goto fail;
    }
    if (!create && rc == REFBUS_ENOTFOUND) {
        log_error("store: %s does not exist: is data_dir right? A new store is created only by "
                  "'refbus-broker init'",
                  file);
        goto fail;
    }
    if (!create && rc != 0) {
        log_error("store: %s is damaged: %s; refusing to use it (restore it from a backup)", file,
                  rc == REFBUS_ECORRUPT ? why : refbus_strerror(rc));
        goto fail;
    }
    if ((mrc = mdb_env_create(&s->env)) != 0 || (mrc = mdb_env_set_maxdbs(s->env, MAX_DBS)) ||
        (mrc = mdb_env_set_mapsize(s->env, map_size)) ||
        (mrc = mdb_env_set_maxreaders(s->env, 126)) ||
        (mrc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0) {
        log_error("store: cannot open %s: %s", file, mdb_strerror(mrc));
        rc = refbus_lmdb_code(mrc) == REFBUS_ESTORAGE ? REFBUS_ECORRUPT : REFBUS_ELMDB;
        goto fail;
    }
    mdb_reader_check(s->env, &dead); /* clear slots of readers that died (kill -9) */
    if (dead)
        log_warn("store: cleared %d stale reader slot(s)", dead);
    if ((mrc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        rc = refbus_bstore_err(mrc);
        goto fail;
    }
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"broker.envelopes", &s->envs},  {"broker.pending", &s->pending},
               {"broker.dedup", &s->dedup},     {"broker.queue", &s->queue},
               {"broker.notices", &s->notices}, {"broker.expiry", &s->expiry},
               {"broker.meta", &s->meta}};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++)
        if ((mrc = mdb_dbi_open(txn, dbs[i].name, create ? MDB_CREATE : 0, dbs[i].dbi)) != 0) {
            if (mrc == MDB_NOTFOUND)
                log_error("store: %s is not a broker store (no %s database)", file, dbs[i].name);
            rc = mrc == MDB_NOTFOUND ? REFBUS_ECORRUPT : refbus_bstore_err(mrc);
            goto fail;
        }
    MDB_val v;
    if (refbus_bstore_meta_get(s, txn, "next_seq", &v) == 0 && v.mv_size == 8)
        s->next_seq = refbus_get_u64be(v.mv_data);
    else
        s->next_seq = 1;
    if ((mrc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        rc = refbus_bstore_err(mrc);
        goto fail;
    }
    txn = NULL;
    if (!create && (rc = refbus_bstore_check(s)) != 0)
        goto fail;
    if ((rc = refbus_audit_open(&s->audit, s->env, 0)) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    refbus_bstore_close(&s);
    return rc ? rc : REFBUS_ELMDB;
}

int refbus_bstore_health(refbus_bstore *s)
{
    MDB_txn *t = NULL;
    /* LMDB marks the environment after a failed write (MDB_FATAL_ERROR): from then on every
     * begin says MDB_PANIC. A read txn costs a reader slot and no I/O. */
    int rc = refbus_lmdb_code(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t));
    if (rc == 0)
        mdb_txn_abort(t);
    return rc == REFBUS_ESTORAGE ? rc : 0;
}

void refbus_bstore_close(refbus_bstore **sp)
{
    if (!sp || !*sp)
        return;
    refbus_bstore *s = *sp;
    refbus_audit_free(&s->audit);
    if (s->env)
        mdb_env_close(s->env);
    free(s);
    *sp = NULL;
}

/* Queued envelope bytes per sending agency, in meta under "queued:AGENCY" (u64 BE). */
static int queued_key(char *out, size_t cap, const char *agency)
{
    return snprintf(out, cap, "queued:%s", agency) < (int)cap ? 0 : REFBUS_EINVAL;
}

int refbus_bstore_queued_bytes(refbus_bstore *s, MDB_txn *txn, const char *agency, uint64_t *bytes)
{
    char key[16 + REFBUS_AGENCY_ID_MAX];
    MDB_val v;
    int rc = queued_key(key, sizeof key, agency);
    *bytes = 0;
    if (rc == 0)
        rc = refbus_bstore_meta_get(s, txn, key, &v);
    if (rc == REFBUS_ENOTFOUND)
        return 0;
    if (rc == 0 && v.mv_size == 8)
        *bytes = refbus_get_u64be(v.mv_data);
    return rc;
}

static int queued_add(refbus_bstore *s, MDB_txn *txn, const char *agency, int64_t delta)
{
    char key[16 + REFBUS_AGENCY_ID_MAX];
    uint8_t b[8];
    uint64_t cur = 0;
    int rc = queued_key(key, sizeof key, agency);
    if (rc == 0)
        rc = refbus_bstore_queued_bytes(s, txn, agency, &cur);
    if (rc != 0)
        return rc;
    if (delta < 0)
        cur = cur > (uint64_t)-delta ? cur - (uint64_t)-delta : 0;
    else
        cur += (uint64_t)delta;
    refbus_put_u64be(b, cur);
    return refbus_bstore_meta_put(s, txn, key, b, 8);
}

int refbus_bstore_usage(refbus_bstore *s, MDB_txn *txn, uint64_t enough, uint64_t *used,
                        uint64_t *map)
{
    MDB_envinfo ei;
    MDB_stat st;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    uint64_t free_pages = 0;
    int mrc;
    if ((mrc = mdb_env_info(s->env, &ei)) != 0 || (mrc = mdb_env_stat(s->env, &st)) != 0)
        return refbus_bstore_err(mrc);
    *map = ei.me_mapsize;
    *used = ((uint64_t)ei.me_last_pgno + 1) * st.ms_psize;
    if (*used <= enough)
        return 0; /* the file's high-water mark is below: no need to look at free pages */
    /* Pages freed by earlier transactions are reused before the file grows: count them from
     * LMDB's free list (database 0; each value is a page list led by its length), as mdb_stat
     * -f does. O(free-list records), and only while the file is above `enough`. */
    /* LMDB opens no cursor on the free list inside a write txn: a read txn (MDB_NOTLS lets this
     * thread hold one next to its write txn) sees the last commit, which is what we want. */
    MDB_txn *r = NULL;
    (void)txn;
    if ((mrc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &r)) != 0)
        return refbus_bstore_err(mrc);
    if ((mrc = mdb_cursor_open(r, 0, &c)) != 0) {
        mdb_txn_abort(r);
        return refbus_bstore_err(mrc);
    }
    while ((mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0)
        if (v.mv_size >= sizeof(size_t)) {
            size_t n;
            memcpy(&n, v.mv_data, sizeof n);
            free_pages += n;
        }
    mdb_cursor_close(c);
    mdb_txn_abort(r);
    if (mrc != MDB_NOTFOUND)
        return refbus_bstore_err(mrc);
    uint64_t fb = free_pages * st.ms_psize;
    *used = fb < *used ? *used - fb : 0;
    return 0;
}

int refbus_bstore_meta_get(refbus_bstore *s, MDB_txn *txn, const char *key, MDB_val *val)
{
    MDB_val k = {strlen(key), (void *)key};
    return refbus_bstore_err(mdb_get(txn, s->meta, &k, val));
}

int refbus_bstore_meta_put(refbus_bstore *s, MDB_txn *txn, const char *key, const void *data,
                           size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)data};
    return refbus_bstore_err(mdb_put(txn, s->meta, &k, &v, 0));
}

int refbus_bstore_dedup_get(refbus_bstore *s, MDB_txn *txn, const char *sender,
                            const uint8_t msg_id[REFBUS_MSG_ID_BYTES], refbus_dedup_info *out)
{
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 17];
    MDB_val k = {dkey(kb, sender, msg_id), kb}, v;
    int rc = refbus_bstore_err(mdb_get(txn, s->dedup, &k, &v));
    if (rc)
        return rc;
    if (v.mv_size < sizeof(struct dedup_val))
        return REFBUS_ECORRUPT;
    const struct dedup_val *d = v.mv_data;
    out->seq = refbus_get_u64be(d->seq);
    out->priority = d->priority;
    out->expires_ms = refbus_get_u64be(d->expires);
    memcpy(out->envelope_hash, d->hash, REFBUS_HASH_BYTES);
    out->receipt = (const uint8_t *)v.mv_data + sizeof *d;
    out->receipt_len = v.mv_size - sizeof *d;
    return 0;
}

size_t refbus_bstore_pending_value(uint8_t out[4 + REFBUS_AGENCY_ID_MAX], uint32_t n,
                                   const char *sender)
{
    size_t sl = strlen(sender);
    refbus_put_u32le(out, n);
    memcpy(out + 4, sender, sl); /* whose quota the envelope counts against */
    return 4 + sl;
}

int refbus_bstore_accept(refbus_bstore *s, MDB_txn *txn, const refbus_envelope_header *h,
                         const uint8_t *env, size_t env_len, uint64_t *seq_out)
{
    int rc;
    uint64_t seq = s->next_seq;
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 32], seqb[8], exp[8], cnt[4 + REFBUS_AGENCY_ID_MAX];
    refbus_put_u64be(seqb, seq);
    refbus_put_u64be(exp, h->expires_ms);
    MDB_val k = {8, seqb}, v = {env_len, (void *)env};
    if ((rc = refbus_bstore_err(mdb_put(txn, s->envs, &k, &v, MDB_APPEND))) != 0)
        return rc;
    v = (MDB_val){refbus_bstore_pending_value(cnt, (uint32_t)h->n_recipients, h->sender), cnt};
    if ((rc = refbus_bstore_err(mdb_put(txn, s->pending, &k, &v, MDB_APPEND))) != 0)
        return rc;
    if ((rc = queued_add(s, txn, h->sender, (int64_t)env_len)) != 0)
        return rc;
    for (size_t i = 0; i < h->n_recipients; i++) {
        const char *a = h->recipients[i].agency;
        MDB_val qk = {refbus_bstore_qkey(kb, a, 255 - (int)h->priority, seq), kb};
        MDB_val qv = {8, exp};
        if ((rc = refbus_bstore_err(mdb_put(txn, s->queue, &qk, &qv, 0))) != 0)
            return rc;
        uint8_t ek[16 + REFBUS_AGENCY_ID_MAX];
        memcpy(ek, exp, 8);
        memcpy(ek + 8, seqb, 8);
        size_t al = strlen(a);
        memcpy(ek + 16, a, al);
        uint8_t prio = (uint8_t)h->priority;
        MDB_val xk = {16 + al, ek}, xv = {1, &prio};
        if ((rc = refbus_bstore_err(mdb_put(txn, s->expiry, &xk, &xv, 0))) != 0)
            return rc;
    }
    if ((rc = refbus_bstore_set_receipt(s, txn, h, seq, NULL, 0)) != 0)
        return rc;
    s->next_seq = seq + 1;
    refbus_put_u64be(seqb, s->next_seq);
    if ((rc = refbus_bstore_meta_put(s, txn, "next_seq", seqb, 8)) != 0) {
        s->next_seq = seq; /* the caller aborts; keep the counter in step with the disk */
        return rc;
    }
    *seq_out = seq;
    return 0;
}

int refbus_bstore_set_receipt(refbus_bstore *s, MDB_txn *txn, const refbus_envelope_header *h,
                              uint64_t seq, const uint8_t *receipt, size_t len)
{
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 17];
    MDB_val k = {dkey(kb, h->sender, h->msg_id), kb}, v = {sizeof(struct dedup_val) + len, NULL};
    int rc = refbus_bstore_err(mdb_put(txn, s->dedup, &k, &v, MDB_RESERVE));
    if (rc)
        return rc;
    struct dedup_val d;
    refbus_put_u64be(d.seq, seq);
    d.priority = (uint8_t)h->priority;
    refbus_put_u64be(d.expires, h->expires_ms);
    memcpy(d.hash, h->envelope_hash, REFBUS_HASH_BYTES);
    memcpy(v.mv_data, &d, sizeof d);
    if (len)
        memcpy((uint8_t *)v.mv_data + sizeof d, receipt, len);
    return 0;
}

int refbus_bstore_dequeue(refbus_bstore *s, MDB_txn *txn, const char *agency, uint32_t priority,
                          uint64_t seq, uint64_t expires_ms)
{
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 32], seqb[8];
    MDB_val k = {refbus_bstore_qkey(kb, agency, 255 - (int)priority, seq), kb};
    int rc = refbus_bstore_err(mdb_del(txn, s->queue, &k, NULL));
    if (rc)
        return rc;
    uint8_t ek[16 + REFBUS_AGENCY_ID_MAX];
    refbus_put_u64be(ek, expires_ms);
    refbus_put_u64be(ek + 8, seq);
    size_t al = strlen(agency);
    memcpy(ek + 16, agency, al);
    MDB_val xk = {16 + al, ek};
    rc = refbus_bstore_err(mdb_del(txn, s->expiry, &xk, NULL));
    if (rc && rc != REFBUS_ENOTFOUND)
        return rc;
    refbus_put_u64be(seqb, seq);
    MDB_val pk = {8, seqb}, pv, ev;
    /* 4 bytes of count, then the sender (stores written before quotas have the count only) */
    if ((rc = refbus_bstore_err(mdb_get(txn, s->pending, &pk, &pv))) != 0 || pv.mv_size < 4 ||
        pv.mv_size > 4 + REFBUS_AGENCY_ID_MAX)
        return rc ? rc : REFBUS_ECORRUPT;
    uint8_t c[4 + REFBUS_AGENCY_ID_MAX + 1];
    size_t plen = pv.mv_size;
    memcpy(c, pv.mv_data, plen);
    c[plen] = 0;
    uint32_t n = refbus_get_u32le(c);
    if (n <= 1) {
        /* Last recipient served: the ciphertext is no longer needed; dedup stays forever. */
        if ((rc = refbus_bstore_err(mdb_get(txn, s->envs, &pk, &ev))) != 0)
            return rc;
        size_t elen = ev.mv_size;
        if ((rc = refbus_bstore_err(mdb_del(txn, s->pending, &pk, NULL))) != 0 ||
            (rc = refbus_bstore_err(mdb_del(txn, s->envs, &pk, NULL))) != 0)
            return rc;
        return plen > 4 ? queued_add(s, txn, (const char *)c + 4, -(int64_t)elen) : 0;
    }
    n--;
    refbus_put_u32le(c, n);
    pv = (MDB_val){plen, c};
    return refbus_bstore_err(mdb_put(txn, s->pending, &pk, &pv, 0));
}

int refbus_bstore_envelope(refbus_bstore *s, MDB_txn *txn, uint64_t seq, const uint8_t **env,
                           size_t *len)
{
    uint8_t seqb[8];
    refbus_put_u64be(seqb, seq);
    MDB_val k = {8, seqb}, v;
    int rc = refbus_bstore_err(mdb_get(txn, s->envs, &k, &v));
    if (rc)
        return rc;
    *env = v.mv_data;
    *len = v.mv_size;
    return 0;
}

int refbus_bstore_notice_add(refbus_bstore *s, MDB_txn *txn, const char *agency,
                             const uint8_t *receipt, size_t len, uint64_t *nseq)
{
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 32], seqb[8];
    uint64_t seq = s->next_seq;
    MDB_val k = {refbus_bstore_qkey(kb, agency, -1, seq), kb}, v = {len, (void *)receipt};
    int rc = refbus_bstore_err(mdb_put(txn, s->notices, &k, &v, 0));
    if (rc)
        return rc;
    s->next_seq = seq + 1;
    refbus_put_u64be(seqb, s->next_seq);
    if ((rc = refbus_bstore_meta_put(s, txn, "next_seq", seqb, 8)) != 0) {
        s->next_seq = seq;
        return rc;
    }
    *nseq = seq;
    return 0;
}

int refbus_bstore_notice_del(refbus_bstore *s, MDB_txn *txn, const char *agency, uint64_t nseq)
{
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 32];
    MDB_val k = {refbus_bstore_qkey(kb, agency, -1, nseq), kb};
    return refbus_bstore_err(mdb_del(txn, s->notices, &k, NULL));
}

uint64_t refbus_bstore_queue_depth(refbus_bstore *s, MDB_txn *txn, const char *agency)
{
    MDB_cursor *c = NULL;
    uint64_t n = 0;
    size_t al = strlen(agency);
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 1];
    memcpy(kb, agency, al);
    kb[al] = 0;
    MDB_val k = {al + 1, kb}, v;
    if (mdb_cursor_open(txn, s->queue, &c) != 0)
        return 0;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > al && memcmp(k.mv_data, kb, al + 1) == 0) {
        n++;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return n;
}

int refbus_bstore_queue_oldest(refbus_bstore *s, MDB_txn *txn, const char *agency, uint64_t *depth,
                               uint64_t *oldest_ms)
{
    MDB_cursor *c = NULL;
    uint64_t n = 0, min_seq = UINT64_MAX;
    size_t al = strlen(agency);
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 1];
    if (al > REFBUS_AGENCY_ID_MAX)
        return REFBUS_EINVAL;
    memcpy(kb, agency, al);
    kb[al] = 0;
    MDB_val k = {al + 1, kb}, v;
    *depth = 0;
    *oldest_ms = 0;
    int rc = refbus_bstore_err(mdb_cursor_open(txn, s->queue, &c));
    if (rc)
        return rc;
    /* the key ends in the seq (8 bytes BE) after the priority byte: entries are sorted by
     * priority first, so the oldest is the lowest seq over all of them */
    int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (mrc == 0 && k.mv_size >= al + 1 + 9 && memcmp(k.mv_data, kb, al + 1) == 0) {
        uint64_t seq = refbus_get_u64be((const uint8_t *)k.mv_data + k.mv_size - 8);
        if (seq < min_seq)
            min_seq = seq;
        n++;
        mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return refbus_bstore_err(mrc);
    *depth = n;
    if (n == 0)
        return 0;
    const uint8_t *env = NULL;
    size_t len = 0;
    refbus_envelope_header h;
    if ((rc = refbus_bstore_envelope(s, txn, min_seq, &env, &len)) != 0)
        return rc == REFBUS_ENOTFOUND ? REFBUS_ECORRUPT : rc;
    if (refbus_envelope_parse(&h, env, len) != 0)
        return REFBUS_ECORRUPT;
    *oldest_ms = h.created_ms;
    return 0;
}
