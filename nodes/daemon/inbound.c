/* Deliveries from the broker: verify against the sender's key in our directory, open with any of
 * our epochs, store once (dedup by sender and msg id) together with the thread update, and only
 * after the commit send the signed DELIVERED receipt. The deliveries of one receive pass share
 * one transaction (one fsync: group commit). A duplicate is receipted again; what can never be
 * opened (a permanent error, refbus_err_permanent) gets a REJECTED receipt of its own; the
 * DELIVERED receipts of a pass share one signature (PROTOCOL 4). What cannot be
 * taken yet (anything transient: out of memory, storage, a key we do not hold yet) gets none,
 * and the broker delivers it again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "nodes/rules/referral_json.h"
#include "proto/wire.h"

#define MAX_EPOCH_KEYS 64

/* Our receipt for one delivery (signer us). */
static void receipt_of(const nd_daemon *d, refbus_receipt *r, uint32_t type,
                       const refbus_envelope_header *h, const uint8_t hash[REFBUS_HASH_BYTES],
                       int reason, const char *text)
{
    memset(r, 0, sizeof *r);
    r->type = type;
    if (h) {
        memcpy(r->msg_id, h->msg_id, REFBUS_MSG_ID_BYTES);
        snprintf(r->sender, sizeof r->sender, "%s", h->sender);
    }
    snprintf(r->recipient, sizeof r->recipient, "%s", d->me);
    memcpy(r->envelope_hash, hash, REFBUS_HASH_BYTES);
    r->time_ms = refbus_now_ms();
    r->reason = reason;
    snprintf(r->reason_text, sizeof r->reason_text, "%s", text ? text : "");
    snprintf(r->signer, sizeof r->signer, "%s", d->me);
    r->signer_epoch = d->epoch;
}

/* A REJECTED receipt, alone: each refusal is precise and signed by itself. */
static void send_receipt(nd_daemon *d, uint32_t type, const refbus_envelope_header *h,
                         const uint8_t hash[REFBUS_HASH_BYTES], int reason, const char *text)
{
    refbus_receipt r;
    uint8_t *b = NULL;
    size_t n = 0;
    const refbus_epoch_keys *k = nd_ident_keys(d);
    receipt_of(d, &r, type, h, hash, reason, text);
    if (!k || refbus_receipt_sign(&b, &n, &r, k->sign_sk))
        return;
    (void)nd_session_send(d, REFBUS_CMD_DELIVERED, b, n);
    free(b);
}

/* The DELIVERED receipts of one receive pass, under one signature (PROTOCOL 4). Without
 * memory or keys none is sent: the broker delivers again and we receipt the duplicates. */
static void send_delivered(nd_daemon *d)
{
    const refbus_epoch_keys *k = nd_ident_keys(d);
    size_t n = d->n_pending;
    refbus_receipt *rs = malloc(n * sizeof *rs);
    uint8_t **outs = calloc(n, sizeof *outs);
    size_t *lens = calloc(n, sizeof *lens);
    int rc = k && rs && outs && lens ? 0 : REFBUS_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct node_pending_receipt *p = &d->pending[i];
        refbus_envelope_header h;
        memset(&h, 0, sizeof h);
        memcpy(h.msg_id, p->msg_id, REFBUS_MSG_ID_BYTES);
        snprintf(h.sender, sizeof h.sender, "%s", p->sender);
        receipt_of(d, &rs[i], REFBUS_RECEIPT_DELIVERED, &h, p->hash, 0, NULL);
    }
    for (size_t at = 0; rc == 0 && at < n; at += REFBUS_BATCH_MAX) {
        size_t m = n - at < REFBUS_BATCH_MAX ? n - at : REFBUS_BATCH_MAX;
        rc = refbus_receipt_sign_batch(outs + at, lens + at, rs + at, m, k->sign_sk);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        (void)nd_session_send(d, REFBUS_CMD_DELIVERED, outs[i], lens[i]);
    if (rc)
        nd_note_error(d, rc,
                      "DELIVERED receipts not signed (%s): the broker will deliver "
                      "again",
                      refbus_strerror(rc));
    for (size_t i = 0; outs && i < n; i++)
        free(outs[i]);
    free(outs);
    free(lens);
    free(rs);
}

static void defer(nd_daemon *d, const refbus_envelope_header *h, int code, const char *text);

/* Refuse for good: a REJECTED receipt so that the broker stops redelivering. Only a permanent
 * code (a proven property of the bytes) may do that: anything else is deferred, whoever called
 * — the one place where the rule is applied. */
static void refuse(nd_daemon *d, const refbus_envelope_header *h,
                   const uint8_t hash[REFBUS_HASH_BYTES], int code, const char *text)
{
    if (!refbus_err_permanent(code)) {
        defer(d, h, code, text);
        return;
    }
    log_warn("refused a delivery from %s: %s (%s)", h ? h->sender : "?", text,
             refbus_errname(code));
    nd_note_refusal(d, h ? h->sender : "", h ? h->msg_id : NULL, code, text);
    d->n.refused_in++;
    send_receipt(d, REFBUS_RECEIPT_REJECTED, h, hash, code, text);
}

/* Not now (no receipt: the broker delivers it again later). `h` is NULL when the envelope
 * could not even be parsed (the parser ran out of memory). */
static void defer(nd_daemon *d, const refbus_envelope_header *h, int code, const char *text)
{
    nd_note_error(d, code, "cannot take a delivery from %s yet: %s (%s)", h ? h->sender : "?", text,
                  refbus_errname(code));
    nd_note_refusal(d, h ? h->sender : "", h ? h->msg_id : NULL, code, text);
    d->n.deferred_in++;
}

/* The thread update for a delivery; `why` (256 bytes, the caller's: the record points to it
 * until it is stored) receives the reason when the answer breaks the thread's rules. */
static int thread_record_in(nd_daemon *d, MDB_txn *txn, const refbus_envelope_header *h,
                            const refbus_payload_info *pi, refbus_inbox_rec *rec, char *why)
{
    refbus_thread *t = NULL;
    const char *members[REFBUS_MAX_RECIPIENTS + 1];
    size_t nm = 0;
    why[0] = 0;
    uint64_t now = refbus_now_ms();
    int rc = refbus_nstore_thread_get(d->store, txn, pi->thread_id, &t);
    if (rc && rc != REFBUS_ENOTFOUND)
        return rc;
    if (pi->kind == REFBUS_KIND_STATUS)
        members[nm++] = h->sender;
    for (size_t i = 0; i < h->n_recipients; i++)
        members[nm++] = h->recipients[i].agency;
    if (rc == REFBUS_ENOTFOUND &&
        (rc = refbus_thread_new(&t, pi->thread_id,
                                pi->kind == REFBUS_KIND_REFERRAL ? h->sender : "", members, nm,
                                pi->kind == REFBUS_KIND_REFERRAL ? h->msg_id : NULL, now)))
        return rc;
    if (pi->kind == REFBUS_KIND_REFERRAL) {
        int applied = 1, err = 0;
        if (!t->origin[0]) { /* answers came first: now we know who referred */
            uint8_t *mid = malloc(16);
            if (!mid || (rc = refbus_pb_set_string(&t->origin, h->sender))) {
                free(mid);
                rc = REFBUS_ENOMEM;
                goto out;
            }
            free(t->referral_msg_id.data);
            memcpy(mid, h->msg_id, REFBUS_MSG_ID_BYTES);
            t->referral_msg_id = (ProtobufCBinaryData){16, mid};
        } else if (strcmp(t->origin, h->sender) != 0) {
            applied = 0;
            err = REFBUS_ETRANSITION;
            snprintf(why, 256, "thread was started by %s, not %s", t->origin, h->sender);
        }
        for (size_t i = 0; applied && i < nm; i++)
            if (strcmp(members[i], t->origin) != 0 &&
                (rc = refbus_thread_add_member(t, members[i])))
                goto out;
        if (!t->case_ref[0] && pi->case_ref[0] &&
            (rc = refbus_pb_set_string(&t->case_ref, pi->case_ref)))
            goto out;
        t->urgency = (uint32_t)pi->urgency;
        rc = refbus_thread_apply(t, h->msg_id, h->sender, REFBUS_TS_REFERRED, "", "", now, 0,
                                 applied, err);
        rec->thread_error = err;
    } else {
        int chk = refbus_thread_check(t, h->sender, pi->status, why, 256);
        if (chk)
            log_warn("thread answer from %s not applied: %s", h->sender, why);
        rc = refbus_thread_apply(t, h->msg_id, h->sender, pi->status, pi->reason_code, pi->text,
                                 now, 0, chk == 0, chk);
        rec->thread_error = chk;
    }
    if (rc == 0 && rec->thread_error)
        rec->thread_error_text = why;
    if (rc == 0)
        rc = refbus_nstore_thread_put(d->store, txn, t);
out:
    refbus_thread_free(&t);
    return rc;
}

/* The inbox record, its indexes and the thread update, in the batch transaction `txn`. */
static int store_in(nd_daemon *d, MDB_txn *txn, const refbus_envelope_header *h, const uint8_t *pl,
                    size_t pl_len, const refbus_payload_info *pi, uint32_t opened_epoch)
{
    char *recips[REFBUS_MAX_RECIPIENTS], why[256];
    int rc;
    refbus_inbox_rec rec = REFBUS__NODESTORE__INBOX_RECORD__INIT;
    rec.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, (uint8_t *)h->msg_id};
    rec.sender = (char *)h->sender;
    rec.sender_epoch = h->sender_epoch;
    rec.kind = h->kind;
    rec.priority = h->priority;
    rec.created_ms = h->created_ms;
    rec.expires_ms = h->expires_ms;
    rec.received_ms = refbus_now_ms();
    rec.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, (uint8_t *)h->envelope_hash};
    rec.payload = (ProtobufCBinaryData){pl_len, (uint8_t *)pl};
    for (size_t i = 0; i < h->n_recipients; i++)
        recips[i] = (char *)h->recipients[i].agency;
    rec.n_recipients = h->n_recipients;
    rec.recipients = recips;
    rec.opened_epoch = opened_epoch;
    if ((rc = thread_record_in(d, txn, h, pi, &rec, why)) ||
        (rc = refbus_nstore_inbox_add(d->store, txn, &rec)))
        return rc;
    char hex[33];
    refbus_hex(hex, h->msg_id, REFBUS_MSG_ID_BYTES);
    log_info("storing %s %s from %s as inbox #%llu",
             h->kind == REFBUS_KIND_REFERRAL ? "referral" : "answer", hex, h->sender,
             (unsigned long long)rec.seq);
    return 0;
}

/* A DELIVERED receipt to send once the batch is committed. */
static int pend(nd_daemon *d, const refbus_envelope_header *h, int dup)
{
    if (d->n_pending == d->cap_pending) {
        size_t cap = d->cap_pending ? d->cap_pending * 2 : 64;
        struct node_pending_receipt *a = realloc(d->pending, cap * sizeof *a);
        if (!a)
            return REFBUS_ENOMEM;
        d->pending = a;
        d->cap_pending = cap;
    }
    struct node_pending_receipt *p = &d->pending[d->n_pending++];
    memcpy(p->msg_id, h->msg_id, REFBUS_MSG_ID_BYTES);
    snprintf(p->sender, sizeof p->sender, "%s", h->sender);
    memcpy(p->hash, h->envelope_hash, REFBUS_HASH_BYTES);
    p->dup = dup;
    return 0;
}

int nd_inbound_batch_txn(nd_daemon *d, MDB_txn **txn)
{
    int rc;
    if (!d->batch && (rc = refbus_nstore_begin(d->store, 1, &d->batch)))
        return rc;
    *txn = d->batch;
    return 0;
}

int nd_inbound_batch_ack(nd_daemon *d, uint64_t seq)
{
    if (d->n_acks == d->cap_acks) {
        size_t cap = d->cap_acks ? d->cap_acks * 2 : 64;
        uint64_t *a = realloc(d->acks, cap * sizeof *a);
        if (!a)
            return REFBUS_ENOMEM;
        d->acks = a;
        d->cap_acks = cap;
    }
    d->acks[d->n_acks++] = seq;
    return 0;
}

/* The batch is lost (not committed): nothing in it was receipted or acknowledged, so the broker
 * delivers and notifies again; an ACCEPTED in it is obtained again by resending the message
 * (still in the outbox): the broker answers with the original receipt (PROTOCOL.md §3). */
static void batch_lost(nd_daemon *d)
{
    d->n_pending = 0;
    d->n_acks = 0;
    d->pump_from = 0; /* what left the send window with a lost ACCEPTED is pumped again */
    d->batch_receipts = 0;
    d->batch_taint = 0;
}

/* Give up the batch: nothing in it was receipted, so the broker delivers it all again. */
static void batch_abort(nd_daemon *d)
{
    refbus_nstore_abort(&d->batch);
    batch_lost(d);
}

static void send_acks(nd_daemon *d)
{
    for (size_t i = 0; i < d->n_acks; i += 256) {
        uint8_t *b = NULL;
        size_t n = 0, k = d->n_acks - i < 256 ? d->n_acks - i : 256;
        refbus_wire_notice_ack a = {.seq = d->acks + i, .n_seq = k};
        if (refbus_wire_notice_ack_encode(&b, &n, &a) == 0)
            (void)nd_session_send(d, REFBUS_CMD_RECEIPT_ACK, b, n);
        free(b);
    }
    d->n_acks = 0;
}

void nd_inbound_sync_timer(nd_daemon *d, uint64_t now)
{
    int rc;
    if (!d->sync_at || now < d->sync_at)
        return;
    d->sync_at = 0;
    if ((rc = refbus_nstore_sync(d->store)))
        nd_note_error(d, rc, "flushing the store: %s", refbus_strerror(rc));
}

void nd_inbound_batch_end(nd_daemon *d)
{
    int rc, pump = d->batch_pump;
    d->batch_pump = 0;
    if (!d->batch) {
        if (pump)
            nd_session_pump(d);
        return;
    }
    /* Anything told to the broker (a DELIVERED receipt, a NoticeAck) needs a synced commit;
     * ACCEPTEDs alone do not: no one outside is told, and a lost one is obtained again. */
    int sync = d->n_pending || d->n_acks;
    if ((rc = d->batch_taint) != 0) /* a failed write: none of the batch is kept */
        refbus_nstore_abort(&d->batch);
    else
        rc = sync ? refbus_nstore_commit(&d->batch) : refbus_nstore_commit_lazy(&d->batch);
    if (rc) {
        nd_note_error(d, rc,
                      "storing %zu deliveries and the receipts of this pass failed (%s): the "
                      "broker will send them again",
                      d->n_pending, refbus_strerror(rc));
        batch_lost(d);
        if (pump)
            nd_session_pump(d);
        return;
    }
    if (d->batch_receipts)
        d->n.receipt_commits++;
    d->batch_receipts = 0;
    if (!sync && !d->sync_at)
        d->sync_at = refbus_mono_ms() + NODE_LAZY_SYNC_MS;
    else if (sync)
        d->sync_at = 0; /* the synced commit flushed the lazy ones before it */
    if (d->n_pending)
        nd_crash_point("REFBUS_NODE_CRASH_AFTER_STORE");
    if (d->n_acks)
        nd_crash_point("REFBUS_NODE_CRASH_AFTER_RECEIPTS_STORE");
    for (size_t i = 0; i < d->n_pending; i++) {
        if (d->pending[i].dup)
            d->n.duplicates_in++;
        else
            d->n.delivered_in++;
    }
    if (d->n_pending)
        send_delivered(d);
    d->n_pending = 0;
    send_acks(d);
    if (pump)
        nd_session_pump(d);
}

void nd_inbound_deliver(nd_daemon *d, const uint8_t *env, size_t len)
{
    refbus_envelope_header h;
    uint8_t hash[REFBUS_HASH_BYTES], *pl = NULL;
    size_t pl_len = 0;
    refbus_payload_info *pi = NULL;
    refbus_enc_key keys[MAX_EPOCH_KEYS];
    const refbus_dir_key *sk = NULL;
    uint32_t my_epoch = 0;
    char text[300];
    int rc, mine = 0;

    if ((rc = refbus_envelope_parse(&h, env, len))) {
        crypto_generichash(hash, REFBUS_HASH_BYTES, env, len, NULL, 0);
        refuse(d, NULL, hash, rc, "the delivered envelope does not parse");
        return;
    }
    memcpy(hash, h.envelope_hash, REFBUS_HASH_BYTES); /* the parse hashed the bytes: not twice */
    for (size_t i = 0; i < h.n_recipients; i++)
        if (strcmp(h.recipients[i].agency, d->me) == 0) {
            mine = 1;
            my_epoch = h.recipients[i].epoch;
        }
    if (!mine) {
        refuse(d, &h, hash, REFBUS_ENOTRECIPIENT, "this agency is not a recipient");
        return;
    }
    /* Already stored (also earlier in this batch)? Then only the receipt was lost: send it
     * again. Every store access of a delivery goes through the batch transaction. */
    uint64_t seq;
    refbus_inbox_rec *old = NULL;
    if (!d->batch && (rc = refbus_nstore_begin(d->store, 1, &d->batch))) {
        defer(d, &h, rc, "store error");
        return;
    }
    if ((rc = refbus_nstore_inbox_find(d->store, d->batch, h.sender, h.msg_id, &seq)) == 0 &&
        (rc = refbus_nstore_inbox_get(d->store, d->batch, seq, &old)) == 0) {
        int same = old->envelope_hash.len == 32 &&
                   memcmp(old->envelope_hash.data, h.envelope_hash, REFBUS_HASH_BYTES) == 0;
        refbus_nstore_inbox_free(&old);
        if (!same) {
            refuse(d, &h, hash, REFBUS_EDUPLICATE,
                   "another message with this id from this sender is already stored");
            return;
        }
        if (pend(d, &h, 1))
            defer(d, &h, REFBUS_ENOMEM, "out of memory");
        return;
    }
    if (rc && rc != REFBUS_ENOTFOUND) {
        defer(d, &h, rc, "store error");
        return;
    }
    /* The sender's key at the epoch that signed, by the one key-trust rule (READ: the broker
     * accepted it under the active key; the sender may have rotated since). Never a revoked
     * epoch, nor one at or below a revoked epoch: a broker must not be able to hand us what a
     * thief signed with the older secrets of a stolen bundle. */
    if ((rc = refbus_directory_key_trust(d->dir, h.sender, h.sender_epoch, REFBUS_KEY_READ, &sk))) {
        const char *why = refbus_directory_revocation(d->dir, h.sender, h.sender_epoch);
        if (rc == REFBUS_EREVOKED)
            snprintf(text, sizeof text,
                     "sender %s key epoch %u is revoked (or an epoch after "
                     "it is): %.120s",
                     h.sender, h.sender_epoch, why && why[0] ? why : "(no reason given)");
        else
            snprintf(text, sizeof text, "sender %s key epoch %u: %s", h.sender, h.sender_epoch,
                     refbus_strerror(rc));
        refuse(d, &h, hash, rc, text);
        return;
    }
    uint64_t now = refbus_now_ms();
    for (int attempt = 0; attempt < 2; attempt++) {
        size_t nk = refbus_keystore_enc_keys(d->ks, keys, MAX_EPOCH_KEYS);
        rc =
            refbus_envelope_open_cached(&pl, &pl_len, NULL, env, len, sk->sign_pk, d->me, keys, nk,
                                        now > NODE_EXPIRY_GRACE_MS ? now - NODE_EXPIRY_GRACE_MS : 1,
                                        &d->sigcache);
        if (rc != REFBUS_ENOEPOCHKEY || attempt)
            break;
        int reconnect = 0;       /* sealed to an epoch of ours we have not read yet */
        nd_inbound_batch_end(d); /* re-reading may install a directory: its own transaction */
        if (nd_ident_try_keystore(d, &reconnect) == 0 && reconnect)
            nd_session_drop(d, "keys changed: reconnecting with the new ones", 0);
        if (!d->batch && (rc = refbus_nstore_begin(d->store, 1, &d->batch))) {
            defer(d, &h, rc, "store error");
            return;
        }
    }
    if (rc == REFBUS_ENOEPOCHKEY) {
        snprintf(text, sizeof text,
                 "sealed to our key epoch %u, which the keystore does not "
                 "hold (yet)",
                 my_epoch);
        defer(d, &h, rc, text);
        return;
    }
    if (rc) {
        snprintf(text, sizeof text, "does not verify or open: %s", refbus_strerror(rc));
        refuse(d, &h, hash, rc, text);
        return;
    }
    if (!(pi = malloc(sizeof *pi))) {
        defer(d, &h, REFBUS_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = refbus_payload_inspect(pi, pl, pl_len)) || (uint32_t)pi->kind != h.kind) {
        refuse(d, &h, hash, rc ? rc : REFBUS_EMALFORMED,
               rc == REFBUS_ENOMEM ? "out of memory while reading the content"
               : rc                ? "the content is not a valid, canonical referral or answer"
                                   : "the header's kind does not match the content");
        goto out;
    }
    if ((rc = store_in(d, d->batch, &h, pl, pl_len, pi, my_epoch)) || (rc = pend(d, &h, 0))) {
        /* The transaction cannot go on (map full, I/O): drop the batch; none of it was
         * receipted, so the broker delivers all of it again. */
        batch_abort(d);
        defer(d, &h, rc,
              rc == REFBUS_EMAPFULL ? "the node's store is full (map_size_mb)" : "store error");
        goto out;
    }
out:
    refbus_wipe_free(pi); /* case reference, answer text */
    refbus_envelope_payload_free(&pl, pl_len);
}
