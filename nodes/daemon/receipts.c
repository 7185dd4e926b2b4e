/* Receipts about what we sent: the broker's ACCEPTED (the outbox entry becomes a sent record in
 * one transaction) and REJECTED (re-seal after a rotation, retry when transient, else FAILED
 * with the reason), and forwarded DELIVERED / REJECTED / EXPIRED notices from recipients or the
 * broker, each verified against its signer's key before it counts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "proto/wire.h"

static int is_broker(nd_daemon *d, const char *signer)
{
    const char *bid = refbus_directory_broker_id(d->dir);
    return bid && strcmp(bid, signer) == 0;
}

/* The signer's public key for a receipt, by the one key-trust rule, for READ: every receipt a
 * node is shown was accepted before — the broker's own, and a recipient's DELIVERED / REJECTED
 * that the broker took only under the recipient's ACTIVE key (RECEIPT, broker/deliver.c) and
 * then kept as a notice, perhaps while the recipient rotated. Never a revoked key, nor one at
 * or below a revoked epoch. What the receipt is about is checked by the caller (signer,
 * recipient, and exactly the envelope hash we sent). */
static int signer_key(nd_daemon *d, const refbus_receipt *r, const uint8_t **pk)
{
    const refbus_dir_key *k = NULL;
    int rc = refbus_directory_key_trust(d->dir, r->signer, r->signer_epoch, REFBUS_KEY_READ, &k);
    if (rc == 0)
        *pk = k->sign_pk;
    return rc;
}

/* The outbox entry `o` becomes a sent record; `hash` is its envelope's hash as the caller
 * parsed it (each envelope is parsed and hashed once), NULL when not known. */
static int to_sent(nd_daemon *d, MDB_txn *txn, uint64_t seq, const refbus_outbox_rec *o,
                   const refbus_receipt *r, const uint8_t *bytes, size_t len, const uint8_t *hash)
{
    refbus_sent_rec s = REFBUS__NODESTORE__SENT_RECORD__INIT;
    Refbus__Nodestore__Delivery dl[REFBUS_MAX_RECIPIENTS], *dp[REFBUS_MAX_RECIPIENTS];
    int rc;
    if (o->n_to > REFBUS_MAX_RECIPIENTS)
        return REFBUS_ECORRUPT;
    s.msg_id = o->msg_id;
    s.thread_id = o->thread_id;
    s.kind = o->kind;
    s.priority = o->priority;
    s.created_ms = o->created_ms;
    s.accepted_ms = r ? r->time_ms : refbus_now_ms();
    s.audit_index = r ? r->audit_index : 0;
    s.accepted_receipt = (ProtobufCBinaryData){len, (uint8_t *)bytes};
    s.envelope_hash = (ProtobufCBinaryData){hash ? 32u : 0u, (uint8_t *)hash};
    s.payload = o->payload;
    for (size_t i = 0; i < o->n_to; i++) {
        refbus__nodestore__delivery__init(&dl[i]);
        dl[i].agency = o->to[i];
        dp[i] = &dl[i];
    }
    s.n_deliveries = o->n_to;
    s.deliveries = dp;
    if ((rc = refbus_nstore_outbox_remove(d->store, txn, seq, o->msg_id.data)))
        return rc;
    return refbus_nstore_sent_put(d->store, txn, &s);
}

static int mark_failed(nd_daemon *d, MDB_txn *txn, uint64_t seq, refbus_outbox_rec *o, int code,
                       const char *text)
{
    if (refbus_pb_set_string(&o->reason_text, text))
        return REFBUS_ENOMEM;
    o->state = REFBUS__NODESTORE__OUT_STATE__OUT_FAILED;
    o->reason = code;
    o->failed_ms = refbus_now_ms();
    d->n.rejected++;
    return refbus_nstore_outbox_update(d->store, txn, seq, o);
}

/* ACCEPTED for a message that a recipient's receipt already moved to `sent` (the receipt came
 * first after a restart): keep the broker's receipt too. */
static int late_accepted(nd_daemon *d, MDB_txn *txn, const refbus_receipt *r, const uint8_t *bytes,
                         size_t len)
{
    refbus_sent_rec *s = NULL;
    int rc = refbus_nstore_sent_get(d->store, txn, r->msg_id, &s);
    if (rc == REFBUS_ENOTFOUND)
        return 0;
    if (rc == 0 && s->accepted_receipt.len == 0 && s->envelope_hash.len == 32 &&
        memcmp(s->envelope_hash.data, r->envelope_hash, REFBUS_HASH_BYTES) == 0) {
        uint8_t *copy = malloc(len);
        if (!copy) {
            rc = REFBUS_ENOMEM;
        } else {
            memcpy(copy, bytes, len);
            free(s->accepted_receipt.data);
            s->accepted_receipt = (ProtobufCBinaryData){len, copy};
            s->accepted_ms = r->time_ms;
            s->audit_index = r->audit_index;
            rc = refbus_nstore_sent_put(d->store, txn, s);
        }
    }
    refbus_nstore_sent_free(&s);
    return rc;
}

void nd_inbound_broker_receipt(nd_daemon *d, uint8_t cmd, const uint8_t *body, size_t len)
{
    refbus_receipt r;
    const uint8_t *pk = NULL;
    MDB_txn *txn = NULL;
    refbus_outbox_rec *o = NULL;
    uint64_t seq;
    char hex[33];
    int batched = 0, taint = 0;
    int rc = refbus_receipt_parse(&r, body, len);
    if (rc == 0 && !is_broker(d, r.signer))
        rc = REFBUS_ERECEIPT;
    if (rc == 0)
        rc = signer_key(d, &r, &pk);
    if (rc == 0)
        rc = refbus_receipt_verify_cached(&r, body, len, pk, &d->sigcache);
    if (rc == 0 && (r.type != (cmd == REFBUS_CMD_ACCEPTED ? REFBUS_RECEIPT_ACCEPTED
                                                          : REFBUS_RECEIPT_REJECTED) ||
                    strcmp(r.sender, d->me) != 0))
        rc = REFBUS_ERECEIPT;
    if (rc) {
        d->n.bad_receipts++;
        nd_note_error(d, rc, "the broker's %s receipt does not verify: %s",
                      refbus_wire_cmd_name(cmd), refbus_strerror(rc));
        return;
    }
    refbus_hex(hex, r.msg_id, REFBUS_MSG_ID_BYTES);
    if (sodium_is_zero(r.msg_id, REFBUS_MSG_ID_BYTES)) {
        nd_note_error(d, r.reason, "the broker refused something we sent: %s (%s)", r.reason_text,
                      refbus_errname(r.reason));
        return;
    }
    if (cmd == REFBUS_CMD_ACCEPTED)
        nd_crash_point("REFBUS_NODE_CRASH_BEFORE_ACCEPTED");
    /* An ACCEPTED goes into the pass's batch (nested: it is undone alone if it fails), the
     * pump waits for the batch's commit; a REJECTED (rare, may reconnect) is committed alone. */
    batched = cmd == REFBUS_CMD_ACCEPTED;
    if ((rc = batched ? nd_inbound_batch_txn(d, &txn) : refbus_nstore_begin(d->store, 1, &txn)))
        goto out;
    if ((rc = refbus_nstore_outbox_find(d->store, txn, r.msg_id, &seq)) ||
        (rc = refbus_nstore_outbox_get(d->store, txn, seq, &o))) {
        if (rc == REFBUS_ENOTFOUND && cmd == REFBUS_CMD_ACCEPTED)
            taint = rc = late_accepted(d, txn, &r, body, len);
        else if (rc == REFBUS_ENOTFOUND) /* answered already (a resend's second answer) */
            rc = 0;
        nd_session_inflight_remove(d, r.msg_id);
        goto out;
    }
    if (cmd == REFBUS_CMD_ACCEPTED) {
        refbus_envelope_header h;
        int parsed = refbus_envelope_parse(&h, o->envelope.data, o->envelope.len) == 0;
        if (!parsed) {
            rc = REFBUS_ECORRUPT;
        } else if (memcmp(h.envelope_hash, r.envelope_hash, REFBUS_HASH_BYTES) != 0 &&
                   !o->resealed) {
            nd_note_error(d, REFBUS_ERECEIPT,
                          "ACCEPTED for %s names another envelope hash; "
                          "ignored",
                          hex);
            goto out;
        } else if ((taint = rc = to_sent(d, txn, seq, o, &r, body, len, h.envelope_hash)) == 0) {
            d->n.accepted++;
            d->batch_receipts = 1;
            log_info("message %s accepted by the broker (audit index %llu)", hex,
                     (unsigned long long)r.audit_index);
        }
        nd_session_inflight_remove(d, r.msg_id);
        goto out;
    }
    /* REJECTED */
    log_warn("message %s rejected by the broker: %s (%s)", hex, r.reason_text,
             refbus_errname(r.reason));
    if (!refbus_err_permanent(r.reason)) {
        /* Not a property of the message (storage full, out of memory, a directory the broker
         * does not hold yet...): it stays in the outbox and in flight, and the resend timer
         * submits it again. Only a permanent reason marks it FAILED. */
        nd_note_error(d, r.reason, "broker cannot take %s now: %s (%s); will retry", hex,
                      r.reason_text, refbus_errname(r.reason));
        goto out;
    }
    nd_session_inflight_remove(d, r.msg_id);
    if (r.reason == REFBUS_ERETIRED || r.reason == REFBUS_EREVOKED) {
        int reconnect = 0;
        if (o->sender_epoch == d->epoch) {
            /* Reading the rotated bundle may install a newer directory, which commits a write
             * transaction of its own: LMDB has one writer, so ours (nothing written yet) is
             * closed first, or the daemon would wait on itself for ever. */
            refbus_nstore_abort(&txn);
            if (nd_ident_try_keystore(d, &reconnect) == 0 && reconnect)
                nd_session_drop(d, "keys changed: reconnecting with the new ones", 0);
            if ((rc = refbus_nstore_begin(d->store, 1, &txn)))
                goto out;
        }
        if (o->sender_epoch != d->epoch || d->rekey_pending) {
            if (seq < d->pump_from)
                d->pump_from = seq; /* the pump re-seals it with our current epoch */
            goto out;
        }
        if (r.reason == REFBUS_ERETIRED) {
            /* Our epoch is retired but we hold no newer one yet: the message is not lost, it
             * waits, and is re-sealed and sent once the rotated bundle is read. */
            nd_note_error(d, r.reason,
                          "message %s kept: key epoch %u is retired at the "
                          "broker; install the agency's rotated bundle",
                          hex, o->sender_epoch);
            goto out;
        }
    }
    if (r.reason == REFBUS_EDUPLICATE && o->resealed) {
        /* The broker holds the first sealing (accepted before the rotation; that receipt was
         * lost): the message is durable there. */
        rc = to_sent(d, txn, seq, o, NULL, NULL, 0, NULL);
        if (rc == 0 && (rc = refbus_nstore_commit(&txn)) == 0)
            log_info("message %s was accepted before it was re-sealed", hex);
        goto out;
    }
    if ((rc = mark_failed(d, txn, seq, o, r.reason, r.reason_text)) == 0)
        rc = refbus_nstore_commit(&txn);
out:
    if (rc)
        nd_note_error(d, rc, "recording the broker's answer for %s: %s", hex, refbus_strerror(rc));
    refbus_nstore_outbox_free(&o);
    if (batched)
        nd_share_end(d, &txn, taint);
    else
        refbus_nstore_abort(&txn);
    if (batched)
        d->batch_pump = 1; /* after the batch's commit (nd_inbound_batch_end) */
    else
        nd_session_pump(d);
}

static int record_delivery(nd_daemon *d, const refbus_receipt *r, const uint8_t *bytes, size_t len)
{
    MDB_txn *txn = NULL;
    refbus_sent_rec *s = NULL;
    refbus_outbox_rec *o = NULL;
    refbus_envelope_header h;
    uint64_t seq;
    int wrote = 0; /* after a write, a failure drops the whole batch (nd_share_end) */
    int rc = nd_inbound_batch_txn(d, &txn); /* the pass's batch: acknowledged after its commit */
    if (rc)
        goto out;
    rc = refbus_nstore_sent_get(d->store, txn, r->msg_id, &s);
    if (rc == REFBUS_ENOTFOUND) {
        /* Still in the outbox: our ACCEPTED was lost in a crash and the resend's answer has
         * not come yet. A receipt for exactly our envelope proves the broker accepted it. */
        if ((rc = refbus_nstore_outbox_find(d->store, txn, r->msg_id, &seq)) ||
            (rc = refbus_nstore_outbox_get(d->store, txn, seq, &o)))
            goto out;
        /* Re-sealed after a rotation, our receipt names the first sealing: the broker
         * accepted that one (its ACCEPTED was lost) and the recipient took it; the msg id is
         * ours alone, so this proves it too. Which sealing counts we do not know: no hash is
         * kept (as for EDUPLICATE in nd_inbound_broker_receipt). */
        int same = refbus_envelope_parse(&h, o->envelope.data, o->envelope.len) == 0 &&
                   memcmp(h.envelope_hash, r->envelope_hash, REFBUS_HASH_BYTES) == 0;
        if (!same && !o->resealed) {
            rc = REFBUS_ERECEIPT;
            goto out;
        }
        int ours = 0; /* checked before writing: a batch cannot undo part of itself */
        for (size_t i = 0; i < o->n_to; i++)
            ours |= strcmp(o->to[i], r->recipient) == 0;
        if (!ours) {
            rc = REFBUS_ENOTRECIPIENT;
            goto out;
        }
        wrote = 1;
        if ((rc = to_sent(d, txn, seq, o, NULL, NULL, 0, same ? h.envelope_hash : NULL)) ||
            (rc = refbus_nstore_sent_get(d->store, txn, r->msg_id, &s)))
            goto out;
        nd_session_inflight_remove(d, r->msg_id);
    }
    if (rc)
        goto out;
    /* A receipt counts only for exactly the envelope we sent (the one the broker accepted). */
    if (s->envelope_hash.len == 32 &&
        memcmp(s->envelope_hash.data, r->envelope_hash, REFBUS_HASH_BYTES) != 0) {
        rc = REFBUS_ERECEIPT;
        goto out;
    }
    for (size_t i = 0; i < s->n_deliveries; i++) {
        Refbus__Nodestore__Delivery *dl = s->deliveries[i];
        if (strcmp(dl->agency, r->recipient) != 0)
            continue;
        if (dl->state == REFBUS_RECEIPT_DELIVERED)
            goto out; /* the first DELIVERED stands */
        uint8_t *copy = malloc(len);
        if (!copy || refbus_pb_set_string(&dl->reason_text, r->reason_text)) {
            free(copy);
            rc = REFBUS_ENOMEM;
            goto out;
        }
        memcpy(copy, bytes, len);
        free(dl->receipt.data);
        dl->receipt = (ProtobufCBinaryData){len, copy};
        dl->state = r->type;
        dl->time_ms = r->time_ms;
        dl->reason = r->reason;
        wrote = 1;
        if ((rc = refbus_nstore_sent_put(d->store, txn, s)) == 0)
            d->batch_receipts = 1;
        goto out;
    }
    rc = REFBUS_ENOTRECIPIENT;
out:
    refbus_nstore_outbox_free(&o);
    refbus_nstore_sent_free(&s);
    nd_share_end(d, &txn, wrote ? rc : 0);
    return rc;
}

void nd_inbound_notice(nd_daemon *d, const uint8_t *body, size_t len)
{
    refbus_wire_notice n;
    refbus_receipt parsed, r;
    const uint8_t *pk = NULL;
    char hex[33] = "?";
    int rc = refbus_wire_notice_decode(&n, body, len);
    if (rc == REFBUS_EPROTO) {
        log_warn("malformed RECEIPT notice ignored");
        return;
    }
    /* The seq is known even when the receipt is bad: the notice can still be acknowledged.
     * ENOMEM (here or parsing) is transient: not acked, so the broker sends it again. */
    if (rc == 0)
        rc = n.receipt_len == 0 ? REFBUS_ERECEIPT
                                : refbus_receipt_parse(&parsed, n.receipt, n.receipt_len);
    if (rc == 0)
        rc = signer_key(d, &parsed, &pk);
    if (rc == 0)
        rc = refbus_receipt_verify_cached(&r, n.receipt, n.receipt_len, pk, &d->sigcache);
    if (rc == 0) {
        refbus_hex(hex, r.msg_id, REFBUS_MSG_ID_BYTES);
        int by_broker = is_broker(d, r.signer);
        if (strcmp(r.sender, d->me) != 0 || (r.type == REFBUS_RECEIPT_EXPIRED && !by_broker) ||
            ((r.type == REFBUS_RECEIPT_DELIVERED || r.type == REFBUS_RECEIPT_REJECTED) &&
             strcmp(r.signer, r.recipient) != 0) ||
            (r.type != REFBUS_RECEIPT_EXPIRED && r.type != REFBUS_RECEIPT_DELIVERED &&
             r.type != REFBUS_RECEIPT_REJECTED))
            rc = REFBUS_ERECEIPT;
    }
    if (rc && !refbus_err_permanent(rc)) {
        nd_note_error(d, rc,
                      "cannot check a receipt notice now (%s): the broker sends it "
                      "again",
                      refbus_strerror(rc));
    } else if (rc) {
        d->n.bad_receipts++;
        nd_note_error(d, rc, "a receipt notice does not verify (%s): dropped", refbus_strerror(rc));
    } else {
        d->n.receipts_in++;
        rc = record_delivery(d, &r, n.receipt, n.receipt_len);
        if (rc == REFBUS_ERECEIPT) {
            d->n.bad_receipts++;
            nd_note_error(d, rc,
                          "a %s receipt for %s by %s names another envelope than the "
                          "one we sent: not counted",
                          refbus_receipt_type_name(r.type), hex, r.recipient);
        } else {
            log_info("message %s: %s by %s", hex, refbus_receipt_type_name(r.type), r.recipient);
        }
        if (rc == REFBUS_ENOTFOUND || rc == REFBUS_ENOTRECIPIENT) {
            log_warn("receipt for %s (%s) matches no sent message", hex, r.recipient);
            rc = 0;
        }
    }
    /* Stored, or never going to be (a permanent property of the receipt): either way not
     * again. Anything transient (out of memory, a store error, a signer our directory does
     * not know yet) stays unacknowledged, so the broker sends it again after the next HELLO. */
    if ((rc == 0 || refbus_err_permanent(rc)) && nd_inbound_batch_ack(d, n.seq))
        log_warn("out of memory: a receipt notice is not acknowledged; the broker sends it "
                 "again");
    refbus_wire_notice_clear(&n);
}

typedef struct seqs {
    uint64_t *v;
    size_t n, cap;
} seqs;

static int collect_pending(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                           size_t len)
{
    seqs *s = ctx;
    refbus_outbox_rec *r = refbus_nrec_outbox_unpack(val, len);
    int pending = r && r->state == REFBUS__NODESTORE__OUT_STATE__OUT_PENDING;
    refbus_nstore_outbox_free(&r);
    if (!pending || klen != 8)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        uint64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return REFBUS_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = refbus_get_u64be(key);
    return 0;
}

void nd_inbound_fail_pending(nd_daemon *d, int code, const char *text)
{
    seqs s = {0};
    MDB_txn *txn = NULL;
    int rc = refbus_nstore_begin(d->store, 1, &txn);
    if (rc == 0)
        rc = refbus_nstore_scan(d->store, txn, REFBUS_T_OUTBOX, NULL, 0, 0, collect_pending, &s);
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
        refbus_outbox_rec *o = NULL;
        if ((rc = refbus_nstore_outbox_get(d->store, txn, s.v[i], &o)) == 0)
            rc = mark_failed(d, txn, s.v[i], o, code, text);
        refbus_nstore_outbox_free(&o);
    }
    if (rc == 0 && s.n)
        rc = refbus_nstore_commit(&txn);
    refbus_nstore_abort(&txn);
    if (rc)
        nd_note_error(d, rc, "marking queued messages failed: %s", refbus_strerror(rc));
    else if (s.n)
        log_error("%zu queued message(s) can never be sent and are marked failed: %s", s.n, text);
    d->n_fl = 0;
    free(s.v);
}
