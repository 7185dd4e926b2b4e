/* SUBMIT: the checks of DESIGN promise 4, then the envelope, its queue entries and its audit
 * record in the batch transaction. ACCEPTED receipts are queued here and sent only after the
 * commit. New messages are admitted only while there is room (room.c: high-water mark, the
 * sender's quota); a storage error poisons the batch transaction and broker.c retries the batch
 * refusing new messages, so a full store keeps serving receipts. */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/receipt.h"

#include <sodium.h>

#define MAX_CLOCK_SKEW_MS (10u * 60u * 1000u)
#define MAX_LIFETIME_DAYS 90u
#define MAX_LIFETIME_MS ((uint64_t)MAX_LIFETIME_DAYS * 86400000u)

void broker_reject(refbus_broker *b, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
                   const char *agency, const refbus_envelope_header *h, int reason,
                   const char *text)
{
    int noted = broker_audit_budget(b, agency);
    if (txn && noted) {
        Refbus__V1__AuditRecord r;
        broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_REJECTED);
        r.agency = (char *)agency;
        r.sender = (char *)agency;
        r.reason = reason;
        r.reason_text = (char *)text;
        if (h) {
            /* tie the refusal back to what was sent: the msg id when the header parsed, and
             * always the hash of the bytes (the sender can compute it from what it sent) */
            if (!sodium_is_zero(h->msg_id, REFBUS_MSG_ID_BYTES))
                r.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, (uint8_t *)h->msg_id};
            r.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, (uint8_t *)h->envelope_hash};
            r.sender_epoch = h->sender_epoch;
        }
        if (broker_audit(b, txn, &r) != 0)
            log_warn("could not audit a rejection (%s)", refbus_strerror(reason));
    }
    if (!refbus_err_permanent(reason)) {
        /* Not a property of the message: the sender keeps it and submits it again. A full
         * store's answer must go out even when the batch's last commit attempt fails (the
         * batch keeps only storage refusals then), so it is marked as one. */
        size_t queued = b->n_out;
        broker_send_error(b, rid, rid_len, reason, text ? text : refbus_strerror(reason),
                          h && !sodium_is_zero(h->msg_id, REFBUS_MSG_ID_BYTES) ? h->msg_id : NULL);
        if (b->n_out > queued &&
            (reason == REFBUS_EMAPFULL || reason == REFBUS_ENOSPC || reason == REFBUS_EQUOTA))
            b->out[b->n_out - 1].storage_refusal = 1;
        if (h && noted)
            log_info("asked %s to resend a message later: %s", agency ? agency : "?",
                     text ? text : refbus_strerror(reason));
        return;
    }
    refbus_receipt rc;
    memset(&rc, 0, sizeof rc);
    rc.type = REFBUS_RECEIPT_REJECTED;
    if (h) {
        memcpy(rc.msg_id, h->msg_id, REFBUS_MSG_ID_BYTES);
        memcpy(rc.envelope_hash, h->envelope_hash, REFBUS_HASH_BYTES);
        snprintf(rc.sender, sizeof rc.sender, "%s",
                 h->sender[0] ? h->sender
                 : agency     ? agency
                              : "");
    } else {
        snprintf(rc.sender, sizeof rc.sender, "%s", agency ? agency : "");
    }
    rc.time_ms = refbus_now_ms();
    rc.reason = reason;
    snprintf(rc.reason_text, sizeof rc.reason_text, "%s", text ? text : refbus_strerror(reason));
    snprintf(rc.signer, sizeof rc.signer, "%s", b->id);
    rc.signer_epoch = b->sign_epoch;
    uint8_t *body = NULL;
    size_t len = 0;
    if (refbus_receipt_sign(&body, &len, &rc, b->sign_sk) == 0)
        broker_queue_out(b, rid, rid_len, REFBUS_CMD_REJECTED, body, len);
    if (h && noted)
        log_info("rejected a message from %s: %s", agency ? agency : "?", rc.reason_text);
}

/* Routing checks on a verified header: recipients known, their stanza epochs not revoked,
 * policy allows. Writes a reason into `why`. */
static int check_routing(refbus_broker *b, const refbus_envelope_header *h, char *why,
                         size_t whylen)
{
    for (size_t i = 0; i < h->n_recipients; i++) {
        const char *to = h->recipients[i].agency;
        const refbus_dir_key *k = NULL;
        /* READ: a stanza may be sealed to an epoch retired after the sender sealed it (the
         * recipient keeps its old secrets); never to a revoked one. */
        int rc =
            refbus_directory_key_trust(b->dir, to, h->recipients[i].epoch, REFBUS_KEY_READ, &k);
        if (rc == REFBUS_EUNKNOWNAGENCY) {
            snprintf(why, whylen, "unknown recipient agency %s", to);
            return rc;
        }
        if (rc == REFBUS_EREVOKED) {
            snprintf(why, whylen, "recipient %s key epoch %u is revoked", to,
                     h->recipients[i].epoch);
            return REFBUS_EREVOKED;
        }
        if (rc != 0) {
            snprintf(why, whylen, "recipient %s has no key epoch %u", to, h->recipients[i].epoch);
            return REFBUS_ENOEPOCHKEY;
        }
        if (!refbus_directory_allowed(b->dir, h->sender, to)) {
            snprintf(why, whylen, "policy does not allow %s to refer to %s", h->sender, to);
            return REFBUS_EPOLICY;
        }
    }
    return 0;
}

/* Note an ACCEPTED receipt to sign at the end of the pass (`r`), or, with r NULL, a resend
 * of a message accepted earlier in this pass, answered with a copy of that receipt. */
static int accepted_add(refbus_broker *b, const uint8_t *rid, size_t rid_len,
                        const refbus_envelope_header *h, uint64_t seq, const refbus_receipt *r)
{
    long dup_of = -1;
    if (!r) {
        for (size_t i = 0; i < b->n_acc && dup_of < 0; i++)
            if (b->acc[i].dup_of < 0 && strcmp(b->acc[i].h.sender, h->sender) == 0 &&
                memcmp(b->acc[i].h.msg_id, h->msg_id, REFBUS_MSG_ID_BYTES) == 0)
                dup_of = (long)i;
        if (dup_of < 0)
            return 0; /* not ours to answer: the sender asks again */
    }
    if (rid_len > sizeof b->acc[0].rid)
        return REFBUS_EINVAL;
    if (b->n_acc == b->cap_acc) {
        size_t cap = b->cap_acc ? 2 * b->cap_acc : 64;
        accepted *a = realloc(b->acc, cap * sizeof *a);
        if (!a)
            return REFBUS_ENOMEM;
        b->acc = a;
        b->cap_acc = cap;
    }
    accepted *a = &b->acc[b->n_acc++];
    memcpy(a->rid, rid, rid_len);
    a->rid_len = rid_len;
    a->h = *h;
    a->seq = seq;
    if (r)
        a->r = *r;
    a->dup_of = dup_of;
    return 0;
}

void broker_accepted_flush(refbus_broker *b, MDB_txn *txn)
{
    size_t n = 0, k = 0;
    refbus_receipt *rs = NULL;
    uint8_t **outs = NULL;
    size_t *lens = NULL, *slot = NULL;
    int rc = 0;
    for (size_t i = 0; i < b->n_acc; i++)
        n += b->acc[i].dup_of < 0;
    if (b->txn_error || n == 0)
        goto out;
    rs = malloc(n * sizeof *rs);
    outs = calloc(n, sizeof *outs);
    lens = calloc(n, sizeof *lens);
    slot = calloc(b->n_acc, sizeof *slot);
    if (!rs || !outs || !lens || !slot) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < b->n_acc; i++)
        if (b->acc[i].dup_of < 0) {
            slot[i] = k;
            rs[k++] = b->acc[i].r;
        }
    /* One signature for the pass, in batches of at most REFBUS_BATCH_MAX. */
    for (size_t at = 0; at < n && rc == 0; at += REFBUS_BATCH_MAX) {
        size_t m = n - at < REFBUS_BATCH_MAX ? n - at : REFBUS_BATCH_MAX;
        rc = refbus_receipt_sign_batch(outs + at, lens + at, rs + at, m, b->sign_sk);
    }
    for (size_t i = 0; rc == 0 && i < b->n_acc; i++) {
        accepted *a = &b->acc[i];
        if (a->dup_of < 0)
            rc = broker_txn_check(b, refbus_bstore_set_receipt(b->store, txn, &a->h, a->seq,
                                                               outs[slot[i]], lens[slot[i]]));
    }
    for (size_t i = 0; rc == 0 && i < b->n_acc; i++) {
        accepted *a = &b->acc[i];
        size_t j = slot[a->dup_of < 0 ? i : (size_t)a->dup_of];
        uint8_t *copy = malloc(lens[j]);
        if (copy) { /* without memory the sender asks again: a duplicate gets the receipt */
            memcpy(copy, outs[j], lens[j]);
            broker_queue_out(b, a->rid, a->rid_len, REFBUS_CMD_ACCEPTED, copy, lens[j]);
        }
    }
out:
    if (rc && !b->txn_error)
        b->txn_error = rc; /* stored without a receipt to answer duplicates with: no commit */
    for (size_t i = 0; outs && i < n; i++)
        free(outs[i]);
    free(outs);
    free(lens);
    free(rs);
    free(slot);
    b->n_acc = 0;
}

int broker_submit(refbus_broker *b, MDB_txn *txn, const char *agency, const uint8_t *rid,
                  size_t rid_len, const uint8_t *env, size_t len)
{
    refbus_envelope_header h;
    char why[300];
    int rc = refbus_envelope_parse(&h, env, len);
    if (rc != 0) {
        /* Nothing of the header can be believed, but the hash of the bytes names what was sent
         * (in the audit record and the REJECTED receipt). */
        memset(&h, 0, sizeof h);
        crypto_generichash(h.envelope_hash, REFBUS_HASH_BYTES, env, len, NULL, 0);
        snprintf(why, sizeof why, "%s", refbus_strerror(rc));
        broker_reject(b, txn, rid, rid_len, agency, &h, rc, why);
        return rc;
    }
    if (strcmp(h.sender, agency) != 0) {
        snprintf(why, sizeof why, "envelope sender %s is not the authenticated agency %s", h.sender,
                 agency);
        broker_reject(b, txn, rid, rid_len, agency, &h, REFBUS_ESENDER, why);
        return REFBUS_ESENDER;
    }
    /* Dedup before the key checks: a resend of an accepted message gets its original receipt
     * even if the sender's key has rotated since. It was verified when first accepted. */
    refbus_dedup_info d;
    rc = refbus_bstore_dedup_get(b->store, txn, h.sender, h.msg_id, &d);
    if (rc == 0) {
        Refbus__V1__AuditRecord r;
        broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_DUPLICATE);
        r.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, h.msg_id};
        r.sender = h.sender;
        r.agency = (char *)agency;
        r.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, h.envelope_hash};
        if (sodium_memcmp(d.envelope_hash, h.envelope_hash, REFBUS_HASH_BYTES) != 0) {
            broker_reject(b, txn, rid, rid_len, agency, &h, REFBUS_EDUPLICATE,
                          "message id already used for a different envelope");
            return REFBUS_EDUPLICATE;
        }
        if (broker_audit_budget(b, agency))
            (void)broker_audit(b, txn, &r);
        if (d.receipt_len) {
            uint8_t *copy = malloc(d.receipt_len);
            if (copy) {
                memcpy(copy, d.receipt, d.receipt_len);
                broker_queue_out(b, rid, rid_len, REFBUS_CMD_ACCEPTED, copy, d.receipt_len);
            }
        } else {
            (void)accepted_add(b, rid, rid_len, &h, 0, NULL); /* accepted in this very pass */
        }
        return 0;
    }
    if (rc == REFBUS_ECORRUPT) {
        char mid_hex[33];
        refbus_hex(mid_hex, h.msg_id, 16);
        /* a damaged dedup row of a message no longer queued (those of queued ones are checked
         * at start, broker/store_check.c): the resend is taken as new and overwrites it; the
         * recipient's node drops a second copy by its msg id. Not a reason to fail the pass. */
        log_warn("store: broker.dedup row of %s's message %s: value shorter than its "
                 "record; the message is taken as new",
                 h.sender, mid_hex);
        rc = REFBUS_ENOTFOUND;
    }
    if (rc != REFBUS_ENOTFOUND)
        return broker_txn_check(b, rc);
    const refbus_dir_key *sk = NULL;
    /* A retired key sends nothing new: created_ms is the sender's own claim, so no backdated
     * grace. A node re-seals what waits in its outbox with its current epoch
     * (nodes/daemon/compose.c) and keeps a message refused ERETIRED until it has. */
    rc = refbus_directory_key_trust(b->dir, h.sender, h.sender_epoch, REFBUS_KEY_SEND, &sk);
    if (rc != 0) {
        snprintf(why, sizeof why, "sender key epoch %u: %s", h.sender_epoch, refbus_strerror(rc));
        broker_reject(b, txn, rid, rid_len, agency, &h, rc, why);
        return rc;
    }
    uint64_t now = refbus_now_ms();
    rc = refbus_envelope_verify_cached(&h, env, len, sk->sign_pk, now, &b->sigcache);
    if (rc != 0)
        snprintf(why, sizeof why, "%s", refbus_strerror(rc));
    /* Clocks drift, but not by days: a message from the future or one that would sit in the
     * queues for more than MAX_LIFETIME is refused rather than stored. */
    if (rc == 0 && h.created_ms > now + MAX_CLOCK_SKEW_MS) {
        rc = REFBUS_EMALFORMED;
        snprintf(why, sizeof why, "created %llu s in the future: check the sender's clock",
                 (unsigned long long)((h.created_ms - now) / 1000u));
    }
    if (rc == 0 && h.expires_ms - h.created_ms > MAX_LIFETIME_MS) {
        rc = REFBUS_EMALFORMED;
        snprintf(why, sizeof why, "lifetime longer than %u days", MAX_LIFETIME_DAYS);
    }
    if (rc == 0)
        rc = check_routing(b, &h, why, sizeof why);
    if (rc != 0) {
        broker_reject(b, txn, rid, rid_len, agency, &h, rc, why);
        return rc;
    }

    /* Room: above the high-water mark, over the sender's quota, or while a full batch is
     * retried, refuse transiently (the sender's node keeps it and tries again); the refusal is
     * audited except on the last retry, which must write as little as possible. */
    if ((rc = broker_room_admit(b, txn, &h, len, why, sizeof why)) != 0) {
        broker_reject(b, b->full_level == 2 ? NULL : txn, rid, rid_len, agency, &h, rc, why);
        return rc;
    }

    /* Durable part, in the batch transaction. A storage error poisons that transaction: the
     * batch is retried refusing new messages (broker.c). */
    uint64_t seq = 0, idx = 0;
    if ((rc = broker_txn_check(b, refbus_bstore_accept(b->store, txn, &h, env, len, &seq))) != 0)
        return rc;
    {
        Refbus__V1__AuditRecord r;
        char *rcpts[REFBUS_MAX_RECIPIENTS];
        for (size_t i = 0; i < h.n_recipients; i++)
            rcpts[i] = h.recipients[i].agency;
        broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_ACCEPTED);
        r.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, h.msg_id};
        r.sender = h.sender;
        r.sender_epoch = h.sender_epoch;
        r.n_recipients = h.n_recipients;
        r.recipients = rcpts;
        r.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, h.envelope_hash};
        r.kind = (Refbus__V1__Kind)h.kind;
        r.priority = (Refbus__V1__Priority)h.priority;
        r.directory_serial = refbus_directory_serial(b->dir);
        if ((rc = broker_txn_check(b, refbus_audit_append_record(b->store->audit, txn, &r,
                                                                 &idx))) != 0)
            return rc;
        broker_metrics_audited(b, &r);
    }
    refbus_receipt ar;
    memset(&ar, 0, sizeof ar);
    ar.type = REFBUS_RECEIPT_ACCEPTED;
    memcpy(ar.msg_id, h.msg_id, REFBUS_MSG_ID_BYTES);
    memcpy(ar.envelope_hash, h.envelope_hash, REFBUS_HASH_BYTES);
    snprintf(ar.sender, sizeof ar.sender, "%s", h.sender);
    ar.time_ms = refbus_now_ms();
    ar.audit_index = idx;
    snprintf(ar.signer, sizeof ar.signer, "%s", b->id);
    ar.signer_epoch = b->sign_epoch;
    /* signed with the pass's other ACCEPTED receipts, before the commit */
    if ((rc = accepted_add(b, rid, rid_len, &h, seq, &ar)) != 0) {
        if (!b->txn_error)
            b->txn_error = rc;
        return rc;
    }
    b->audit_size = idx + 1;
    if (b->map_full)
        log_info("storage has room again: accepting messages");
    b->map_full = 0;
    b->full_err = 0;
    for (size_t i = 0; i < h.n_recipients; i++) {
        peer *p = broker_peer_by_agency(b, h.recipients[i].agency);
        if (p)
            p->want_deliver = 1;
    }
    return 0;
}
