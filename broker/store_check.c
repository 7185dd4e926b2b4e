/* The broker's tables checked at every start, before anything is served (Mosquitto's store
 * reader does the same): a damaged row is repaired from the rows that hold the truth, or moved to
 * broker.quarantine, with a warning naming its table and key, so that one bad row neither
 * crashes the broker nor stops delivery to anyone else. Rules: docs/PROTOCOL.md section 5. */
#include "broker/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/receipt.h"

#define QUARANTINE "broker.quarantine"

enum { FIX_MOVE, FIX_PUT };

typedef struct fix {
    int op;
    MDB_dbi dbi;
    const char *table;
    uint8_t *key, *val; /* copies: a write may move the pages a cursor read them from */
    size_t klen, vlen;  /* FIX_PUT: the new value; FIX_MOVE: the row's own value */
} fix;

typedef struct check {
    refbus_bstore *s;
    MDB_txn *txn;
    MDB_dbi quarantine;
    int have_quarantine;
    fix *fixes;
    size_t n_fixes, cap_fixes, changed;
    uint64_t *qseq; /* seq of every queue row kept: the recipients still to serve */
    size_t n_qseq, cap_qseq;
    uint64_t max_seq; /* the highest seq a kept row uses: next_seq must be above it */
    const char *max_table;
} check;

/* The key as text for a log line: printable bytes as they are, others as \xHH. */
static const char *keytext(char *out, size_t cap, const void *key, size_t len)
{
    const uint8_t *k = key;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        if (k[i] > 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\')
            out[o++] = (char)k[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", k[i]);
    }
    out[o] = 0;
    return out;
}

static void *dup_bytes(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* Record a repair (logged now, applied by apply() once the cursor is closed). */
static int add_fix(check *c, int op, MDB_dbi dbi, const char *table, const MDB_val *k,
                   const void *val, size_t vlen, const char *why)
{
    char kt[512];
    if (c->n_fixes == c->cap_fixes) {
        size_t cap = c->cap_fixes ? 2 * c->cap_fixes : 16;
        fix *f = realloc(c->fixes, cap * sizeof *f);
        if (!f)
            return REFBUS_ENOMEM;
        c->fixes = f;
        c->cap_fixes = cap;
    }
    fix *f = &c->fixes[c->n_fixes];
    f->op = op;
    f->dbi = dbi;
    f->table = table;
    f->klen = k->mv_size;
    f->vlen = vlen;
    f->key = dup_bytes(k->mv_data, k->mv_size);
    f->val = dup_bytes(val, vlen);
    if (!f->key || !f->val) {
        free(f->key);
        free(f->val);
        return REFBUS_ENOMEM;
    }
    c->n_fixes++;
    log_warn("store: %s key \"%s\": %s; %s", table, keytext(kt, sizeof kt, k->mv_data, k->mv_size),
             why, op == FIX_MOVE ? "moved to " QUARANTINE " (kept there, not served)" : "repaired");
    return 0;
}

static int move_row(check *c, MDB_dbi dbi, const char *table, const MDB_val *k, const MDB_val *v,
                    const char *why)
{
    return add_fix(c, FIX_MOVE, dbi, table, k, v->mv_data, v->mv_size, why);
}

static int apply(check *c)
{
    int rc = 0;
    for (size_t i = 0; i < c->n_fixes; i++) {
        fix *f = &c->fixes[i];
        MDB_val k = {f->klen, f->key}, v = {f->vlen, f->val};
        if (rc == 0 && f->op == FIX_PUT) {
            rc = refbus_bstore_err(mdb_put(c->txn, f->dbi, &k, &v, 0));
        } else if (rc == 0) {
            /* quarantine key: table 0x00 key, cut to LMDB's key limit (keys the broker writes
             * are far shorter; only a damaged one can be that long) */
            uint8_t qk[511];
            size_t tl = strlen(f->table) + 1, kl = f->klen;
            size_t max = (size_t)mdb_env_get_maxkeysize(c->s->env);
            if (max > sizeof qk)
                max = sizeof qk;
            if (tl + kl > max)
                kl = max - tl;
            memcpy(qk, f->table, tl);
            memcpy(qk + tl, f->key, kl);
            MDB_val q = {tl + kl, qk};
            if (!c->have_quarantine) {
                rc =
                    refbus_bstore_err(mdb_dbi_open(c->txn, QUARANTINE, MDB_CREATE, &c->quarantine));
                c->have_quarantine = rc == 0;
            }
            if (rc == 0)
                rc = refbus_bstore_err(mdb_put(c->txn, c->quarantine, &q, &v, 0));
            if (rc == 0 &&
                (rc = refbus_bstore_err(mdb_del(c->txn, f->dbi, &k, NULL))) == REFBUS_ENOTFOUND)
                rc = 0;
        }
        free(f->key);
        free(f->val);
    }
    c->changed += c->n_fixes;
    c->n_fixes = 0;
    return rc;
}

static void saw_seq(check *c, uint64_t seq, const char *table)
{
    if (seq > c->max_seq) {
        c->max_seq = seq;
        c->max_table = table;
    }
}

/* "agency 0x00" ending `tail` bytes before the end of the key: the agency, or -1. */
static int key_agency(char out[REFBUS_AGENCY_ID_MAX + 1], const MDB_val *k, size_t tail)
{
    const uint8_t *p = k->mv_data;
    if (k->mv_size < tail + 2 || k->mv_size > tail + 1 + REFBUS_AGENCY_ID_MAX)
        return -1;
    size_t al = k->mv_size - tail - 1;
    if (p[al] != 0 || memchr(p, 0, al))
        return -1;
    memcpy(out, p, al);
    out[al] = 0;
    return refbus_agency_id_valid(out) ? 0 : -1;
}

static int get_header(check *c, uint64_t seq, refbus_envelope_header *h)
{
    const uint8_t *env = NULL;
    size_t len = 0;
    int rc = refbus_bstore_envelope(c->s, c->txn, seq, &env, &len);
    return rc ? rc : refbus_envelope_parse(h, env, len);
}

static int push_seq(uint64_t **arr, size_t *n, size_t *cap, uint64_t seq)
{
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        uint64_t *q = realloc(*arr, nc * sizeof *q);
        if (!q)
            return REFBUS_ENOMEM;
        *arr = q;
        *cap = nc;
    }
    (*arr)[(*n)++] = seq;
    return 0;
}

/* Rewrite the dedup record of envelope `seq` from the envelope, keeping its receipt. */
static int redo_dedup(check *c, uint64_t seq)
{
    refbus_envelope_header h;
    refbus_dedup_info d;
    uint8_t *receipt = NULL;
    size_t rlen = 0;
    int rc = get_header(c, seq, &h);
    if (rc != 0)
        return rc;
    if (refbus_bstore_dedup_get(c->s, c->txn, h.sender, h.msg_id, &d) == 0 && d.receipt_len) {
        if (!(receipt = dup_bytes(d.receipt, d.receipt_len))) /* set_receipt overwrites it */
            return REFBUS_ENOMEM;
        rlen = d.receipt_len;
    }
    rc = refbus_bstore_set_receipt(c->s, c->txn, &h, seq, receipt, rlen);
    free(receipt);
    c->changed += rc == 0;
    return rc;
}

/* Envelopes: the key is a seq, the value must parse. The dedup record of a live envelope is
 * rewritten from it when missing or disagreeing (a receipt for it could not dequeue it). */
static int check_envelopes(check *c)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    refbus_envelope_header h;
    refbus_dedup_info d;
    char why[160], kt[512];
    uint64_t *redo = NULL;
    size_t n_redo = 0, cap_redo = 0;
    int rc = refbus_bstore_err(mdb_cursor_open(c->txn, c->s->envs, &cur)), mrc;
    for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) {
            snprintf(why, sizeof why, "key of %zu bytes is not a seq (8)", k.mv_size);
            rc = move_row(c, c->s->envs, "broker.envelopes", &k, &v, why);
            continue;
        }
        uint64_t seq = refbus_get_u64be(k.mv_data);
        int prc = refbus_envelope_parse(&h, v.mv_data, v.mv_size);
        if (prc == REFBUS_ENOMEM) {
            rc = prc;
            continue;
        }
        if (prc == REFBUS_EVERSION || prc == REFBUS_ETOOLARGE || prc == REFBUS_ETOOMANYRCPT) {
            /* Well-formed, but beyond what this program reads: it was accepted under other
             * rules (a newer format, an older program with wider limits). Taking it off the
             * queue would lose an accepted referral: refuse to start instead, change nothing. */
            log_error("store: broker.envelopes key seq %llu: %s; refusing to start: it was "
                      "accepted, and this program cannot serve it (run the program that "
                      "wrote the store); nothing was changed",
                      (unsigned long long)refbus_get_u64be(k.mv_data), refbus_strerror(prc));
            rc = REFBUS_ECORRUPT;
            continue;
        }
        if (prc != 0) {
            snprintf(why, sizeof why, "%zu bytes that are not an envelope (%s)", v.mv_size,
                     refbus_strerror(prc));
            rc = move_row(c, c->s->envs, "broker.envelopes", &k, &v, why);
            continue;
        }
        int drc = refbus_bstore_dedup_get(c->s, c->txn, h.sender, h.msg_id, &d);
        if (drc == 0 && d.seq == seq && d.priority == h.priority && d.expires_ms == h.expires_ms &&
            memcmp(d.envelope_hash, h.envelope_hash, REFBUS_HASH_BYTES) == 0)
            continue;
        if (drc != 0 && drc != REFBUS_ENOTFOUND && drc != REFBUS_ECORRUPT) {
            rc = drc;
            continue;
        }
        uint8_t dk[REFBUS_AGENCY_ID_MAX + 17];
        size_t sl = strlen(h.sender);
        memcpy(dk, h.sender, sl + 1);
        memcpy(dk + sl + 1, h.msg_id, REFBUS_MSG_ID_BYTES);
        log_warn("store: broker.dedup key \"%s\": %s for the queued envelope seq %llu; "
                 "rebuilt from the envelope",
                 keytext(kt, sizeof kt, dk, sl + 17),
                 drc == REFBUS_ENOTFOUND  ? "missing"
                 : drc == REFBUS_ECORRUPT ? "value shorter than its record"
                                          : "value disagrees",
                 (unsigned long long)seq);
        rc = push_seq(&redo, &n_redo, &cap_redo, seq);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = refbus_bstore_err(mrc);
    if (rc == 0)
        rc = apply(c);
    for (size_t i = 0; i < n_redo && rc == 0; i++)
        rc = redo_dedup(c, redo[i]);
    free(redo);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Queue rows: agency 0x00 (255-priority) seq -> expires_ms, naming an envelope addressed to that
 * agency; the value and the priority byte are set from the envelope, the expiry row made. */
static int check_queue(check *c)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    refbus_envelope_header h;
    char a[REFBUS_AGENCY_ID_MAX + 1], why[160];
    int rc = refbus_bstore_err(mdb_cursor_open(c->txn, c->s->queue, &cur)), mrc;
    for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (key_agency(a, &k, 9) != 0) {
            rc = move_row(c, c->s->queue, "broker.queue", &k, &v,
                          "key is not agency 0x00 priority seq(8)");
            continue;
        }
        uint64_t seq = refbus_get_u64be(kp + k.mv_size - 8);
        int hrc = get_header(c, seq, &h);
        if (hrc == REFBUS_ENOMEM ||
            (hrc != 0 && hrc != REFBUS_ENOTFOUND && !refbus_err_permanent(hrc))) {
            rc = hrc;
            continue;
        }
        size_t i = 0;
        while (hrc == 0 && i < h.n_recipients && strcmp(h.recipients[i].agency, a) != 0)
            i++;
        if (hrc != 0 || i == h.n_recipients) {
            snprintf(why, sizeof why, "%s (seq %llu)",
                     hrc ? "its envelope is not in broker.envelopes"
                         : "its envelope is not addressed to this agency",
                     (unsigned long long)seq);
            rc = move_row(c, c->s->queue, "broker.queue", &k, &v, why);
            continue;
        }
        uint8_t exp[8];
        refbus_put_u64be(exp, h.expires_ms);
        if ((uint32_t)kp[k.mv_size - 9] != 255u - h.priority) {
            /* a dequeue looks the row up by the envelope's priority: put it there */
            uint8_t nk[REFBUS_AGENCY_ID_MAX + 32];
            MDB_val nkv = {refbus_bstore_qkey(nk, a, 255 - (int)h.priority, seq), nk};
            rc = move_row(c, c->s->queue, "broker.queue", &k, &v,
                          "its priority byte is not the envelope's");
            if (rc == 0)
                rc = add_fix(c, FIX_PUT, c->s->queue, "broker.queue", &nkv, exp, 8,
                             "made for the row above, with the envelope's priority");
        } else if (v.mv_size != 8 || memcmp(v.mv_data, exp, 8) != 0) {
            snprintf(why, sizeof why, "value (%zu bytes) is not the envelope's expiry", v.mv_size);
            rc = add_fix(c, FIX_PUT, c->s->queue, "broker.queue", &k, exp, 8, why);
        }
        if (rc != 0)
            continue;
        uint8_t ek[16 + REFBUS_AGENCY_ID_MAX], prio = (uint8_t)h.priority;
        size_t al = strlen(a);
        memcpy(ek, exp, 8);
        refbus_put_u64be(ek + 8, seq);
        memcpy(ek + 16, a, al);
        MDB_val xk = {16 + al, ek}, xv;
        int xrc = refbus_bstore_err(mdb_get(c->txn, c->s->expiry, &xk, &xv));
        if (xrc == REFBUS_ENOTFOUND ||
            (xrc == 0 && (xv.mv_size != 1 || *(uint8_t *)xv.mv_data != prio)))
            rc = add_fix(c, FIX_PUT, c->s->expiry, "broker.expiry", &xk, &prio, 1,
                         "missing or wrong for a queued message");
        else if (xrc != 0)
            rc = xrc;
        if (rc == 0)
            rc = push_seq(&c->qseq, &c->n_qseq, &c->cap_qseq, seq);
        saw_seq(c, seq, "broker.queue");
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = refbus_bstore_err(mrc);
    if (rc == 0 && c->n_qseq) /* qsort wants a non-NULL base even for none */
        qsort(c->qseq, c->n_qseq, sizeof *c->qseq, cmp_u64);
    return rc ? rc : apply(c);
}

static size_t queued_for(const check *c, uint64_t seq)
{
    size_t lo = 0, hi = c->n_qseq, n = 0;
    while (lo < hi) { /* first index with qseq >= seq */
        size_t mid = lo + (hi - lo) / 2;
        if (c->qseq[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    while (lo + n < c->n_qseq && c->qseq[lo + n] == seq)
        n++;
    return n;
}

/* Pending: per envelope, the number of its queue rows (the truth: an envelope is freed when its
 * count reaches 0, so a count too small would free it under another recipient's feet). */
static int check_pending(check *c)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v, pv;
    refbus_envelope_header h;
    char why[160];
    int rc = refbus_bstore_err(mdb_cursor_open(c->txn, c->s->envs, &cur)), mrc;
    for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq = refbus_get_u64be(k.mv_data); /* 8 bytes: check_envelopes */
        size_t n = queued_for(c, seq);
        int prc = refbus_bstore_err(mdb_get(c->txn, c->s->pending, &k, &pv));
        if (prc != 0 && prc != REFBUS_ENOTFOUND) {
            rc = prc;
            continue;
        }
        if (n == 0) {
            rc = move_row(c, c->s->envs, "broker.envelopes", &k, &v,
                          "no broker.queue row names it: nothing left to deliver");
            if (rc == 0 && prc == 0)
                rc = move_row(c, c->s->pending, "broker.pending", &k, &pv,
                              "its envelope has no recipient left");
            continue;
        }
        saw_seq(c, seq, "broker.envelopes");
        uint32_t have = 0;
        const uint8_t *p = prc == 0 ? pv.mv_data : NULL;
        int ok = p && pv.mv_size >= 4 && pv.mv_size <= 4 + REFBUS_AGENCY_ID_MAX;
        if (ok)
            have = refbus_get_u32le(p);
        if (ok && have == n)
            continue;
        if ((rc = refbus_envelope_parse(&h, v.mv_data, v.mv_size)) != 0)
            continue;
        uint8_t nv[4 + REFBUS_AGENCY_ID_MAX];
        size_t nl = refbus_bstore_pending_value(nv, (uint32_t)n, h.sender);
        if (ok)
            snprintf(why, sizeof why, "%u recipients to serve, but %zu queue rows", have, n);
        else
            snprintf(why, sizeof why, "value %s; set to its %zu queue rows",
                     p ? "malformed" : "missing", n);
        rc = add_fix(c, FIX_PUT, c->s->pending, "broker.pending", &k, nv, nl, why);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = refbus_bstore_err(mrc);
    if (rc == 0)
        rc = apply(c);
    /* rows naming no envelope */
    cur = NULL;
    if (rc == 0)
        rc = refbus_bstore_err(mdb_cursor_open(c->txn, c->s->pending, &cur));
    for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        MDB_val ev;
        int erc = k.mv_size == 8 ? refbus_bstore_err(mdb_get(c->txn, c->s->envs, &k, &ev))
                                 : REFBUS_ENOTFOUND;
        if (erc == REFBUS_ENOTFOUND)
            rc = move_row(c, c->s->pending, "broker.pending", &k, &v,
                          "names no envelope in broker.envelopes");
        else
            rc = erc;
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = refbus_bstore_err(mrc);
    return rc ? rc : apply(c);
}

/* Expiry rows: expires_ms seq agency -> priority, each naming a queue row with that expiry. */
static int check_expiry(check *c)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v, qv;
    char a[REFBUS_AGENCY_ID_MAX + 1];
    int rc = refbus_bstore_err(mdb_cursor_open(c->txn, c->s->expiry, &cur)), mrc;
    for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        size_t al = k.mv_size > 16 ? k.mv_size - 16 : 0;
        if (al == 0 || al > REFBUS_AGENCY_ID_MAX || memchr(kp + 16, 0, al)) {
            rc = move_row(c, c->s->expiry, "broker.expiry", &k, &v,
                          "key is not expires_ms(8) seq(8) agency");
            continue;
        }
        memcpy(a, kp + 16, al);
        a[al] = 0;
        uint64_t seq = refbus_get_u64be(kp + 8);
        uint8_t qk[REFBUS_AGENCY_ID_MAX + 32];
        int prio = v.mv_size == 1 ? *(const uint8_t *)v.mv_data : -1, qrc = REFBUS_ENOTFOUND;
        if (prio >= 0 && refbus_agency_id_valid(a)) {
            MDB_val q = {refbus_bstore_qkey(qk, a, 255 - prio, seq), qk};
            qrc = refbus_bstore_err(mdb_get(c->txn, c->s->queue, &q, &qv));
        }
        if (qrc != 0 && qrc != REFBUS_ENOTFOUND) {
            rc = qrc;
            continue;
        }
        if (qrc == 0 && qv.mv_size == 8 && memcmp(qv.mv_data, kp, 8) == 0) {
            saw_seq(c, seq, "broker.expiry");
            continue;
        }
        /* the queue rows were checked first; the right expiry row for each was made there */
        rc = move_row(c, c->s->expiry, "broker.expiry", &k, &v,
                      "names no queued message with this expiry and priority");
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = refbus_bstore_err(mrc);
    return rc ? rc : apply(c);
}

/* Notices: agency 0x00 nseq(8) -> a receipt that parses. (Not the dedup table: its rows of
 * queued messages were checked by check_envelopes; the others are checked when read.) */
static int check_notices(check *c)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    char a[REFBUS_AGENCY_ID_MAX + 1];
    const char *table = "broker.notices";
    int rc = refbus_bstore_err(mdb_cursor_open(c->txn, c->s->notices, &cur)), mrc;
    for (mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && rc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        refbus_receipt r;
        if (key_agency(a, &k, 8) != 0)
            rc = move_row(c, c->s->notices, table, &k, &v, "key is not agency 0x00 seq(8)");
        else if (refbus_receipt_parse(&r, v.mv_data, v.mv_size) != 0)
            rc = move_row(c, c->s->notices, table, &k, &v, "value is not a signed receipt");
        else
            saw_seq(c, refbus_get_u64be((const uint8_t *)k.mv_data + k.mv_size - 8), table);
    }
    if (cur)
        mdb_cursor_close(cur);
    if (rc == 0 && mrc != MDB_NOTFOUND)
        rc = refbus_bstore_err(mrc);
    return rc ? rc : apply(c);
}

/* next_seq numbers every envelope and notice: one too small would reuse a seq, and a late
 * receipt for the old message could dequeue the new one. Nothing to repair it from that could
 * be trusted: refuse. */
static int check_next_seq(check *c)
{
    MDB_val v;
    int rc = refbus_bstore_meta_get(c->s, c->txn, "next_seq", &v);
    if (rc == REFBUS_ENOTFOUND && c->max_seq == 0)
        return 0; /* a new store */
    if (rc != 0 && rc != REFBUS_ENOTFOUND)
        return rc;
    if (rc == REFBUS_ENOTFOUND)
        log_error("store: broker.meta key \"next_seq\" is missing, but %s uses seq %llu",
                  c->max_table, (unsigned long long)c->max_seq);
    else if (v.mv_size != 8)
        log_error("store: broker.meta key \"next_seq\" is %zu bytes, not 8", v.mv_size);
    else if (refbus_get_u64be(v.mv_data) <= c->max_seq)
        log_error("store: broker.meta key \"next_seq\" is %llu, but %s uses seq %llu",
                  (unsigned long long)refbus_get_u64be(v.mv_data), c->max_table,
                  (unsigned long long)c->max_seq);
    else
        return 0;
    log_error("store: refusing to start: new messages could reuse a sequence number "
              "(restore data.mdb from a backup); nothing above was changed");
    return REFBUS_ECORRUPT;
}

int refbus_bstore_check(refbus_bstore *s)
{
    check c = {.s = s};
    int rc = refbus_bstore_err(mdb_txn_begin(s->env, NULL, 0, &c.txn));
    if (rc == 0)
        rc = check_envelopes(&c);
    if (rc == 0)
        rc = check_queue(&c);
    if (rc == 0)
        rc = check_pending(&c);
    if (rc == 0)
        rc = check_expiry(&c);
    if (rc == 0)
        rc = check_notices(&c);
    /* Not the whole dedup table: it keeps a row for every message ever accepted, and a start
     * must stay under a second. The rows of queued messages were checked with their envelopes;
     * any other damaged row is found when a resend reads it (broker/accept.c). */
    if (rc == 0)
        rc = check_next_seq(&c);
    for (size_t i = 0; i < c.n_fixes; i++) { /* recorded, not applied (an error on the way) */
        free(c.fixes[i].key);
        free(c.fixes[i].val);
    }
    free(c.fixes);
    free(c.qseq);
    if (c.txn && (rc != 0 || c.changed == 0)) {
        mdb_txn_abort(c.txn);
    } else if (c.txn) {
        rc = refbus_bstore_err(mdb_txn_commit(c.txn));
        if (rc == 0)
            log_warn("store: %zu damaged row(s) repaired or moved to " QUARANTINE, c.changed);
    }
    return rc;
}
