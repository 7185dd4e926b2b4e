/* Delivery: per-recipient queues read from LMDB in priority order within a credit window, the
 * recipient's signed DELIVERED receipt verified, audited and queued as a notice for the sender,
 * expiry of what could not be delivered in time. Memory holds only the in-flight window. */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/receipt.h"
#include "proto/wire_body.h"

#define PUMP_NOTICES_MAX 256

static int in_flight(const peer *p, uint64_t seq)
{
    for (size_t i = 0; i < p->n_fl; i++)
        if (p->fl[i].seq == seq)
            return 1;
    return 0;
}

static void fl_remove(peer *p, uint64_t seq)
{
    for (size_t i = 0; i < p->n_fl; i++)
        if (p->fl[i].seq == seq) {
            p->fl[i] = p->fl[--p->n_fl];
            return;
        }
}

static void pump_notices(refbus_broker *b, peer *p, MDB_txn *r)
{
    MDB_cursor *c = NULL;
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 16];
    size_t al = strlen(p->agency);
    MDB_val k = {refbus_bstore_qkey(kb, p->agency, -1, p->notices_sent_upto + 1), kb}, v;
    int sent = 0, blocked = 0;
    if (mdb_cursor_open(r, b->store->notices, &c) != 0)
        return;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size == al + 9 && memcmp(k.mv_data, kb, al + 1) == 0) {
        uint64_t nseq = refbus_get_u64be((const uint8_t *)k.mv_data + al + 1);
        refbus_wire_notice n = {.seq = nseq, .receipt = v.mv_data, .receipt_len = v.mv_size};
        uint8_t *buf = NULL;
        size_t len = 0;
        if (refbus_wire_notice_encode(&buf, &len, &n) != 0)
            break;
        int src = refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_RECEIPT, buf, len);
        free(buf);
        if (src == REFBUS_EUNKNOWNPEER)
            p->gone = 1;
        if (src != 0) {
            blocked = 1;
            break;
        }
        p->notices_sent_upto = nseq;
        if (++sent >= PUMP_NOTICES_MAX)
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (sent < PUMP_NOTICES_MAX && !blocked)
        p->want_notices = 0; /* a blocked send keeps the flag: try again next pass */
}

void broker_pump(refbus_broker *b, peer *p, MDB_txn *r)
{
    if (p->want_notices)
        pump_notices(b, p, r);
    if (!p->want_deliver || p->n_fl >= p->credit)
        return;
    MDB_cursor *c = NULL;
    uint8_t kb[REFBUS_AGENCY_ID_MAX + 2];
    size_t al = strlen(p->agency);
    memcpy(kb, p->agency, al);
    kb[al] = 0;
    MDB_val k = {al + 1, kb}, v;
    uint64_t now = refbus_now_ms();
    int blocked = 0;
    if (mdb_cursor_open(r, b->store->queue, &c) != 0)
        return;
    /* Keys are agency 0x00 (255-priority) seq: urgent first, then oldest first. */
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && p->n_fl < p->credit && k.mv_size == al + 10 &&
           memcmp(k.mv_data, kb, al + 1) == 0) {
        uint64_t seq = refbus_get_u64be((const uint8_t *)k.mv_data + al + 2);
        uint64_t exp = v.mv_size == 8 ? refbus_get_u64be(v.mv_data) : 0;
        if (!in_flight(p, seq) && exp > now) {
            const uint8_t *env = NULL;
            size_t len = 0;
            if (refbus_bstore_envelope(b->store, r, seq, &env, &len) == 0) {
                /* zmq copies the bytes; LMDB memory stays read-only */
                int src =
                    refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_DELIVER, env, len);
                if (src != 0) {
                    if (src == REFBUS_EUNKNOWNPEER)
                        p->gone = 1; /* disconnected: its queue waits in LMDB */
                    blocked = 1;
                    break;
                }
                p->fl[p->n_fl].seq = seq;
                p->fl[p->n_fl].sent_ms = refbus_mono_ms();
                p->n_fl++;
            }
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    /* Nothing more to send until something changes (a receipt, a new message, a timeout). */
    if (!blocked)
        p->want_deliver = 0;
}

static void notify_sender(refbus_broker *b, MDB_txn *txn, const char *sender,
                          const uint8_t *receipt, size_t len)
{
    uint64_t nseq = 0;
    if (broker_txn_check(b, refbus_bstore_notice_add(b->store, txn, sender, receipt, len, &nseq)) !=
        0) {
        log_error("could not queue a receipt for %s", sender);
        return;
    }
    peer *s = broker_peer_by_agency(b, sender);
    if (s)
        s->want_notices = 1;
}

int broker_delivered(refbus_broker *b, MDB_txn *txn, peer *p, const uint8_t *body, size_t len)
{
    refbus_receipt r;
    const refbus_dir_key *k = NULL;
    refbus_dedup_info d;
    int rc = refbus_receipt_parse(&r, body, len);
    int parsed = rc == 0 && !sodium_is_zero(r.msg_id, REFBUS_MSG_ID_BYTES);
    if (rc == 0 && (strcmp(r.signer, p->agency) != 0 || strcmp(r.recipient, p->agency) != 0 ||
                    (r.type != REFBUS_RECEIPT_DELIVERED && r.type != REFBUS_RECEIPT_REJECTED)))
        rc = REFBUS_ERECEIPT;
    /* Only the recipient's ACTIVE key signs a receipt that counts: a rotated-away bundle must
     * not be able to dequeue (and make the sender believe in) a delivery it did not take. */
    if (rc == 0)
        rc = refbus_directory_key_trust(b->dir, r.signer, r.signer_epoch, REFBUS_KEY_RECEIPT, &k);
    if (rc == 0)
        rc = refbus_receipt_verify_cached(&r, body, len, k->sign_pk, &b->sigcache);
    if (rc == 0 && !refbus_agency_id_valid(r.sender))
        rc = REFBUS_ERECEIPT;
    if (rc == 0) {
        rc = refbus_bstore_dedup_get(b->store, txn, r.sender, r.msg_id, &d);
        if (rc == REFBUS_ENOTFOUND) /* names nothing this broker accepted: nothing to dequeue */
            rc = REFBUS_ERECEIPT;
        if (rc == 0 && sodium_memcmp(d.envelope_hash, r.envelope_hash, REFBUS_HASH_BYTES) != 0)
            rc = REFBUS_ERECEIPT;
    }
    if (rc != 0 && !refbus_err_permanent(rc)) {
        /* Out of memory while checking it, or a key we do not hold yet: the entry stays
         * queued and in flight, the redelivery timer sends it again and gets a new receipt. */
        if (broker_audit_budget(b, p->agency)) /* a peer must not be able to flood the log */
            log_warn("cannot check a DELIVERED receipt from %s now: %s (redelivering later)",
                     p->agency, refbus_strerror(rc));
        return rc;
    }
    if (rc != 0) {
        Refbus__V1__AuditRecord a;
        broker_audit_init(&a, REFBUS__V1__EVENT_TYPE__EVENT_REJECTED);
        a.agency = p->agency;
        a.reason = rc;
        a.reason_text = (char *)"bad DELIVERED receipt";
        /* tie the refusal back to what it names, when the receipt decoded that far */
        if (parsed) {
            a.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, r.msg_id};
            a.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, r.envelope_hash};
            a.sender = refbus_agency_id_valid(r.sender) ? r.sender : NULL;
        }
        if (broker_audit_budget(b, p->agency)) {
            (void)broker_audit(b, txn, &a);
            log_warn("bad DELIVERED receipt from %s: %s", p->agency, refbus_strerror(rc));
        }
        return rc;
    }
    if (r.type == REFBUS_RECEIPT_REJECTED && !refbus_err_permanent(r.reason)) {
        /* The recipient could not take it *now* (out of memory, storage full, a key epoch it
         * does not hold yet): that is no reason to drop the referral. It stays queued and in
         * flight; the redelivery timer (redeliver_seconds) sends it again. */
        char hex[33];
        refbus_hex(hex, r.msg_id, REFBUS_MSG_ID_BYTES);
        if (broker_audit_budget(b, p->agency))
            log_warn("%s cannot take %s from %s now: %s (%s); kept queued, redelivering later",
                     p->agency, hex, r.sender, r.reason_text, refbus_errname(r.reason));
        return 0;
    }
    fl_remove(p, d.seq);
    p->want_deliver = 1;
    rc = refbus_bstore_dequeue(b->store, txn, p->agency, d.priority, d.seq, d.expires_ms);
    if (rc != REFBUS_ENOTFOUND)
        (void)broker_txn_check(b, rc);
    if (rc == REFBUS_ENOTFOUND)
        return 0; /* a repeated receipt for something already dequeued */
    if (rc != 0)
        return rc;
    Refbus__V1__AuditRecord a;
    broker_audit_init(&a, r.type == REFBUS_RECEIPT_DELIVERED
                              ? REFBUS__V1__EVENT_TYPE__EVENT_DELIVERED
                              : REFBUS__V1__EVENT_TYPE__EVENT_REJECTED);
    a.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, r.msg_id};
    a.sender = r.sender;
    a.agency = p->agency;
    a.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, r.envelope_hash};
    a.receipt = (ProtobufCBinaryData){len, (uint8_t *)body};
    a.reason = r.reason;
    a.reason_text = r.reason_text;
    if ((rc = broker_audit(b, txn, &a)) != 0)
        return rc;
    notify_sender(b, txn, r.sender, body, len);
    log_debug("delivered to %s", p->agency);
    return 0;
}

int broker_notice_ack(refbus_broker *b, MDB_txn *txn, peer *p, const uint8_t *body, size_t len)
{
    refbus_wire_notice_ack a;
    int urc = refbus_wire_notice_ack_decode(&a, body, len);
    if (urc) /* not acked now: the notices are sent again after the next HELLO */
        return urc;
    for (size_t i = 0; i < a.n_seq; i++) {
        int rc = broker_txn_check(b, refbus_bstore_notice_del(b->store, txn, p->agency, a.seq[i]));
        if (rc != 0 && rc != REFBUS_ENOTFOUND)
            log_warn("notice ack: %s", refbus_strerror(rc));
    }
    refbus_wire_notice_ack_clear(&a);
    return 0;
}

int broker_expire(refbus_broker *b, MDB_txn *txn, uint64_t now_ms)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int n = 0, rc;
    struct item {
        uint64_t exp, seq;
        uint32_t prio;
        char agency[REFBUS_AGENCY_ID_MAX + 1];
    } *items = calloc(512, sizeof *items);
    if (!items)
        return REFBUS_ENOMEM;
    if (mdb_cursor_open(txn, b->store->expiry, &c) != 0) {
        free(items);
        return REFBUS_ELMDB;
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && n < 512 && k.mv_size > 16 && k.mv_size <= 16 + REFBUS_AGENCY_ID_MAX) {
        const uint8_t *kp = k.mv_data;
        uint64_t exp = refbus_get_u64be(kp);
        if (exp > now_ms)
            break;
        items[n].exp = exp;
        items[n].seq = refbus_get_u64be(kp + 8);
        items[n].prio = v.mv_size ? *(const uint8_t *)v.mv_data : 0;
        memcpy(items[n].agency, kp + 16, k.mv_size - 16);
        items[n].agency[k.mv_size - 16] = 0;
        n++;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    for (int i = 0; i < n; i++) {
        const uint8_t *env = NULL;
        size_t len = 0;
        refbus_envelope_header h;
        if (refbus_bstore_envelope(b->store, txn, items[i].seq, &env, &len) != 0 ||
            refbus_envelope_parse(&h, env, len) != 0)
            memset(&h, 0, sizeof h);
        if ((rc = refbus_bstore_dequeue(b->store, txn, items[i].agency, items[i].prio, items[i].seq,
                                        items[i].exp)) != 0) {
            if (rc != REFBUS_ENOTFOUND)
                (void)broker_txn_check(b, rc);
            continue;
        }
        peer *p = broker_peer_by_agency(b, items[i].agency);
        if (p)
            fl_remove(p, items[i].seq);
        Refbus__V1__AuditRecord a;
        broker_audit_init(&a, REFBUS__V1__EVENT_TYPE__EVENT_EXPIRED);
        a.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, h.msg_id};
        a.sender = h.sender;
        a.agency = items[i].agency;
        a.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, h.envelope_hash};
        a.reason = REFBUS_EEXPIRED;
        a.reason_text = (char *)"not delivered before it expired";
        (void)broker_audit(b, txn, &a);
        if (!h.sender[0])
            continue;
        refbus_receipt r;
        memset(&r, 0, sizeof r);
        r.type = REFBUS_RECEIPT_EXPIRED;
        memcpy(r.msg_id, h.msg_id, REFBUS_MSG_ID_BYTES);
        memcpy(r.envelope_hash, h.envelope_hash, REFBUS_HASH_BYTES);
        snprintf(r.sender, sizeof r.sender, "%s", h.sender);
        snprintf(r.recipient, sizeof r.recipient, "%s", items[i].agency);
        r.time_ms = now_ms;
        r.reason = REFBUS_EEXPIRED;
        snprintf(r.reason_text, sizeof r.reason_text, "not delivered to %s before it expired",
                 items[i].agency);
        snprintf(r.signer, sizeof r.signer, "%s", b->id);
        r.signer_epoch = b->sign_epoch;
        uint8_t *body = NULL;
        size_t blen = 0;
        if (refbus_receipt_sign(&body, &blen, &r, b->sign_sk) == 0)
            notify_sender(b, txn, h.sender, body, blen);
        free(body);
        log_info("expired a message for %s", items[i].agency);
    }
    free(items);
    return n;
}

void broker_redeliver_timeouts(refbus_broker *b)
{
    uint64_t now = refbus_mono_ms(), limit = (uint64_t)b->cfg.redeliver_seconds * 1000u;
    for (size_t i = 0; i < b->n_peers; i++) {
        peer *p = &b->peers[i];
        for (size_t j = 0; j < p->n_fl;) {
            if (now - p->fl[j].sent_ms > limit) {
                p->fl[j] = p->fl[--p->n_fl];
                p->want_deliver = 1;
            } else {
                j++;
            }
        }
    }
}
