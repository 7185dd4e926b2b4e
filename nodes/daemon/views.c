/* Read-only JSON answers for the control socket: inbox list/show, thread show, outbox (and one
 * sent message's delivery receipts), status. Referral content is decrypted from the store only
 * for `inbox show` and `outbox MSGID`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/harden.h"

#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "nodes/rules/referral_json.h"

#define WHY(code, ...) (snprintf(why, wl, __VA_ARGS__), (code))
#define LIST_MAX 1000

static json_t *hex_json(const ProtobufCBinaryData *b)
{
    char h[65];
    if (b->len == 0 || b->len > 32)
        return json_null();
    refbus_hex(h, b->data, b->len);
    return json_string(h);
}

static const char *kind_name(uint32_t k)
{
    return k == REFBUS_KIND_REFERRAL ? "referral" : k == REFBUS_KIND_STATUS ? "status" : "other";
}

static const char *priority_name(uint32_t p)
{
    return p == REFBUS_PRIORITY_IMMEDIATE ? "immediate"
           : p == REFBUS_PRIORITY_URGENT  ? "urgent"
                                          : "routine";
}

static json_t *inbox_summary(const refbus_inbox_rec *r)
{
    refbus_payload_info *pi = malloc(sizeof *pi);
    json_t *o =
        json_pack("{s:I, s:o, s:s, s:s, s:s, s:I, s:I, s:I}", "seq", (json_int_t)r->seq, "msg_id",
                  hex_json(&r->msg_id), "sender", r->sender, "kind", kind_name(r->kind), "priority",
                  priority_name(r->priority), "received_ms", (json_int_t)r->received_ms,
                  "created_ms", (json_int_t)r->created_ms, "expires_ms", (json_int_t)r->expires_ms);
    if (o && pi && refbus_payload_inspect(pi, r->payload.data, r->payload.len) == 0) {
        ProtobufCBinaryData t = {16, pi->thread_id};
        json_object_set_new(o, "thread_id", hex_json(&t));
        if (pi->kind == REFBUS_KIND_REFERRAL) {
            json_object_set_new(o, "case_ref", json_string(pi->case_ref));
            json_object_set_new(o, "urgency",
                                json_string(refbus_referral_urgency_name(pi->urgency)));
        } else {
            json_object_set_new(o, "status", json_string(refbus_thread_status_name(pi->status)));
        }
    }
    if (o && r->thread_error) {
        json_object_set_new(o, "thread_error", json_string(refbus_errname(r->thread_error)));
        json_object_set_new(o, "thread_error_text", json_string(r->thread_error_text));
    }
    refbus_wipe_free(pi); /* the case reference and thread of a referral */
    return o;
}

typedef struct list_ctx {
    json_t *items;
    size_t limit;
    uint64_t last;
    int more;
} list_ctx;

static int list_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t len)
{
    list_ctx *l = ctx;
    (void)key;
    (void)klen;
    if (json_array_size(l->items) >= l->limit) {
        l->more = 1;
        return 1;
    }
    refbus_inbox_rec *r = refbus_nrec_inbox_unpack(val, len);
    if (!r)
        return REFBUS_ECORRUPT;
    json_array_append_new(l->items, inbox_summary(r));
    l->last = r->seq;
    refbus_nstore_inbox_free(&r);
    return 0;
}

int nd_view_inbox_list(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t wl)
{
    json_int_t after = json_integer_value(json_object_get(req, "after"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    list_ctx l = {json_array(), limit > 0 && limit <= LIST_MAX ? (size_t)limit : 100,
                  after > 0 ? (uint64_t)after : 0, 0};
    MDB_txn *txn = NULL;
    uint8_t from[8];
    int rc;
    if (!l.items)
        return WHY(REFBUS_ENOMEM, "out of memory");
    refbus_put_u64be(from, l.last + 1);
    if ((rc = refbus_nstore_begin(d->store, 0, &txn)) == 0)
        rc = refbus_nstore_scan(d->store, txn, REFBUS_T_INBOX, from, 8, 0, list_one, &l);
    refbus_nstore_abort(&txn);
    if (rc) {
        json_decref(l.items);
        return WHY(rc, "reading the inbox: %s", refbus_strerror(rc));
    }
    *reply = json_pack("{s:b, s:o, s:I, s:b}", "ok", 1, "items", l.items, "last_seq",
                       (json_int_t)l.last, "more", l.more);
    return *reply ? 0 : REFBUS_ENOMEM;
}

/* "12" (a sequence number) or 32 hex digits (a msg id). */
static int find_inbox(nd_daemon *d, MDB_txn *txn, const char *id, uint64_t *seq)
{
    uint8_t mid[16];
    char *end;
    if (!id || !*id)
        return REFBUS_EINVAL;
    if (strlen(id) == 32 && refbus_unhex(mid, 16, id) == 0)
        return refbus_nstore_inbox_find_msg(d->store, txn, mid, seq);
    unsigned long long v = strtoull(id, &end, 10);
    if (*end || v == 0)
        return REFBUS_EINVAL;
    *seq = v;
    return 0;
}

int nd_view_inbox_show(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t wl)
{
    const char *id = json_string_value(json_object_get(req, "id"));
    MDB_txn *txn = NULL;
    refbus_inbox_rec *r = NULL;
    json_t *content = NULL, *o = NULL;
    uint64_t seq = 0;
    int rc = refbus_nstore_begin(d->store, 0, &txn);
    if (rc == 0 && (rc = find_inbox(d, txn, id, &seq)) == 0)
        rc = refbus_nstore_inbox_get(d->store, txn, seq, &r);
    refbus_nstore_abort(&txn);
    if (rc == REFBUS_EINVAL)
        return WHY(rc, "ID: an inbox sequence number or a 32-hex-digit message id");
    if (rc)
        return WHY(rc, "inbox message %s: %s", id ? id : "", refbus_strerror(rc));
    if ((rc = refbus_payload_to_json(&content, r->payload.data, r->payload.len)) ||
        !(o = inbox_summary(r))) {
        refbus_nstore_inbox_free(&r);
        json_decref(content);
        return WHY(rc ? rc : REFBUS_ENOMEM, "inbox message %s: %s", id, refbus_strerror(rc));
    }
    json_t *rcpts = json_array();
    for (size_t i = 0; rcpts && i < r->n_recipients; i++)
        json_array_append_new(rcpts, json_string(r->recipients[i]));
    json_object_set_new(o, "recipients", rcpts);
    json_object_set_new(o, "sender_epoch", json_integer(r->sender_epoch));
    json_object_set_new(o, "envelope_hash", hex_json(&r->envelope_hash));
    json_object_update(o, content); /* "referral": {...} or "status": {...} */
    json_decref(content);
    json_object_set_new(o, "ok", json_true());
    refbus_nstore_inbox_free(&r);
    *reply = o;
    return 0;
}

int nd_view_thread_show(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t wl)
{
    const char *id = json_string_value(json_object_get(req, "thread_id"));
    uint8_t tid[16];
    MDB_txn *txn = NULL;
    refbus_thread *t = NULL;
    if (!id || strlen(id) != 32 || refbus_unhex(tid, 16, id))
        return WHY(REFBUS_EINVAL, "THREAD: 32 hex digits (thread_id in `inbox list`)");
    int rc = refbus_nstore_begin(d->store, 0, &txn);
    if (rc == 0)
        rc = refbus_nstore_thread_get(d->store, txn, tid, &t);
    refbus_nstore_abort(&txn);
    if (rc)
        return WHY(rc, "thread %s: %s", id, refbus_strerror(rc));
    json_t *tj = refbus_thread_to_json(t);
    refbus_thread_free(&t);
    *reply = tj ? json_pack("{s:b, s:o}", "ok", 1, "thread", tj) : NULL;
    return *reply ? 0 : REFBUS_ENOMEM;
}

static json_t *outbox_json(nd_daemon *d, uint64_t seq, const refbus_outbox_rec *r)
{
    json_t *to = json_array();
    int in_flight = 0;
    for (size_t i = 0; to && i < r->n_to; i++)
        json_array_append_new(to, json_string(r->to[i]));
    for (size_t i = 0; i < d->n_fl; i++)
        in_flight |= d->fl[i].seq == seq;
    json_t *o =
        json_pack("{s:I, s:o, s:o, s:s, s:o, s:s, s:I, s:I, s:i, s:b}", "seq", (json_int_t)seq,
                  "msg_id", hex_json(&r->msg_id), "thread_id", hex_json(&r->thread_id), "kind",
                  kind_name(r->kind), "to", to, "state",
                  r->state == REFBUS__NODESTORE__OUT_STATE__OUT_FAILED ? "failed" : "pending",
                  "created_ms", (json_int_t)r->created_ms, "expires_ms", (json_int_t)r->expires_ms,
                  "sender_epoch", (int)r->sender_epoch, "in_flight", in_flight);
    if (o && r->state == REFBUS__NODESTORE__OUT_STATE__OUT_FAILED) {
        json_object_set_new(o, "error", json_string(refbus_errname(r->reason)));
        json_object_set_new(o, "reason", json_string(r->reason_text));
        json_object_set_new(o, "failed_ms", json_integer((json_int_t)r->failed_ms));
    }
    return o;
}

typedef struct ob_ctx {
    nd_daemon *d;
    json_t *items;
    size_t limit;
    uint64_t last;
    int more;
} ob_ctx;

static int outbox_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t len)
{
    ob_ctx *c = ctx;
    if (klen != 8)
        return 0;
    if (json_array_size(c->items) >= c->limit) {
        c->more = 1; /* said in the answer: the list is never cut silently */
        return 1;
    }
    refbus_outbox_rec *r = refbus_nrec_outbox_unpack(val, len);
    if (!r)
        return REFBUS_ECORRUPT;
    c->last = refbus_get_u64be(key);
    json_array_append_new(c->items, outbox_json(c->d, c->last, r));
    refbus_nstore_outbox_free(&r);
    return 0;
}

static json_t *sent_json(const refbus_sent_rec *s)
{
    static const char *const st[] = {"queued", "accepted", "rejected", "delivered", "expired"};
    json_t *dl = json_array();
    for (size_t i = 0; dl && i < s->n_deliveries; i++) {
        const Refbus__Nodestore__Delivery *x = s->deliveries[i];
        json_t *o = json_pack("{s:s, s:s}", "agency", x->agency, "state",
                              x->state < 5 ? st[x->state] : "unknown");
        if (o && x->time_ms)
            json_object_set_new(o, "time_ms", json_integer((json_int_t)x->time_ms));
        if (o && x->reason) {
            json_object_set_new(o, "error", json_string(refbus_errname(x->reason)));
            json_object_set_new(o, "reason", json_string(x->reason_text));
        }
        json_array_append_new(dl, o);
    }
    return json_pack("{s:b, s:o, s:o, s:s, s:s, s:I, s:I, s:I, s:o}", "ok", 1, "msg_id",
                     hex_json(&s->msg_id), "thread_id", hex_json(&s->thread_id), "kind",
                     kind_name(s->kind), "state", "accepted", "created_ms",
                     (json_int_t)s->created_ms, "accepted_ms", (json_int_t)s->accepted_ms,
                     "audit_index", (json_int_t)s->audit_index, "deliveries", dl);
}

int nd_view_outbox(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t wl)
{
    const char *mid = json_string_value(json_object_get(req, "msg_id"));
    MDB_txn *txn = NULL;
    uint8_t id[16];
    uint64_t seq;
    int rc = refbus_nstore_begin(d->store, 0, &txn);
    if (rc)
        return WHY(rc, "%s", refbus_strerror(rc));
    if (mid) { /* one message: still in the outbox, or sent with its receipts */
        refbus_outbox_rec *o = NULL;
        refbus_sent_rec *s = NULL;
        if (strlen(mid) != 32 || refbus_unhex(id, 16, mid)) {
            rc = WHY(REFBUS_EINVAL, "MSGID: 32 hex digits");
        } else if ((rc = refbus_nstore_outbox_find(d->store, txn, id, &seq)) == 0 &&
                   (rc = refbus_nstore_outbox_get(d->store, txn, seq, &o)) == 0) {
            *reply = outbox_json(d, seq, o);
            if (*reply)
                json_object_set_new(*reply, "ok", json_true());
        } else if (rc == REFBUS_ENOTFOUND &&
                   (rc = refbus_nstore_sent_get(d->store, txn, id, &s)) == 0) {
            *reply = sent_json(s);
        }
        if (rc == REFBUS_ENOTFOUND)
            snprintf(why, wl, "message %s: not in the outbox and not sent from this node", mid);
        else if (rc && rc != REFBUS_EINVAL)
            snprintf(why, wl, "message %s: %s", mid, refbus_strerror(rc));
        refbus_nstore_outbox_free(&o);
        refbus_nstore_sent_free(&s);
        refbus_nstore_abort(&txn);
        return rc ? rc : *reply ? 0 : REFBUS_ENOMEM;
    }
    /* Paged like inbox_list: entries after `after`, at most `limit`; "more" says there are
     * others and "last_seq" is where the next page starts. */
    json_int_t after = json_integer_value(json_object_get(req, "after"));
    json_int_t limit = json_integer_value(json_object_get(req, "limit"));
    ob_ctx c = {d, json_array(), limit > 0 && limit <= LIST_MAX ? (size_t)limit : LIST_MAX,
                after > 0 ? (uint64_t)after : 0, 0};
    uint8_t from[8];
    refbus_put_u64be(from, c.last + 1);
    rc = c.items ? refbus_nstore_scan(d->store, txn, REFBUS_T_OUTBOX, from, 8, 0, outbox_one, &c)
                 : REFBUS_ENOMEM;
    refbus_nstore_abort(&txn);
    if (rc) {
        json_decref(c.items);
        return WHY(rc, "reading the outbox: %s", refbus_strerror(rc));
    }
    *reply = json_pack("{s:b, s:o, s:I, s:b}", "ok", 1, "items", c.items, "last_seq",
                       (json_int_t)c.last, "more", c.more);
    return *reply ? 0 : REFBUS_ENOMEM;
}

typedef struct count_ctx {
    uint64_t pending, failed;
} count_ctx;

static int count_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t len)
{
    count_ctx *c = ctx;
    (void)key;
    (void)klen;
    refbus_outbox_rec *r = refbus_nrec_outbox_unpack(val, len);
    if (r && r->state == REFBUS__NODESTORE__OUT_STATE__OUT_FAILED)
        c->failed++;
    else if (r)
        c->pending++;
    refbus_nstore_outbox_free(&r);
    return 0;
}

int nd_view_status(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t wl)
{
    static const char *const states[] = {"down", "connecting", "hello", "ready"};
    MDB_txn *txn = NULL;
    count_ctx c = {0, 0};
    uint64_t inbox = 0, threads = 0, sent = 0;
    char root[65];
    (void)req;
    int rc = refbus_nstore_begin(d->store, 0, &txn);
    if (rc == 0)
        rc = refbus_nstore_scan(d->store, txn, REFBUS_T_OUTBOX, NULL, 0, 0, count_one, &c);
    if (rc == 0)
        rc = refbus_nstore_count(d->store, txn, REFBUS_T_INBOX, &inbox);
    if (rc == 0)
        rc = refbus_nstore_count(d->store, txn, REFBUS_T_THREADS, &threads);
    if (rc == 0)
        rc = refbus_nstore_count(d->store, txn, REFBUS_T_SENT, &sent);
    refbus_nstore_abort(&txn);
    if (rc)
        return WHY(rc, "reading the store: %s", refbus_strerror(rc));
    static const char *const sessions[] = {"unknown", "active", "other", "none"};
    /* "superseded": connected, but another connection holds the agency's session (nothing is
     * delivered here); never shown as "ready". */
    json_t *broker =
        json_pack("{s:s, s:s, s:s}", "endpoint", d->endpoint, "state",
                  d->state == NODE_READY && d->superseded ? "superseded" : states[d->state],
                  "session", sessions[d->session <= NODE_SESSION_NONE ? d->session : 0]);
    if (broker && d->superseded)
        json_object_set_new(broker, "not_served", json_string(d->session_note));
    if (broker && d->broker_claim)
        json_object_set_new(broker, "claim",
                            json_pack("{s:s, s:s, s:I}", "error", refbus_errname(d->broker_claim),
                                      "message", d->broker_claim_text, "time_ms",
                                      (json_int_t)d->broker_claim_ms));
    if (broker && d->state == NODE_READY) {
        json_object_set_new(broker, "broker_id", json_string(d->welcome.broker_id));
        json_object_set_new(broker, "ready_since_ms", json_integer((json_int_t)d->ready_since_ms));
    }
    if (broker && d->down_since_ms) /* not served by the broker since (daemon.c) */
        json_object_set_new(broker, "down_since_ms", json_integer((json_int_t)d->down_since_ms));
    if (broker && d->last_err) {
        json_object_set_new(broker, "last_error",
                            json_pack("{s:s, s:s, s:I}", "error", refbus_errname(d->last_err),
                                      "message", d->last_err_text, "time_ms",
                                      (json_int_t)d->last_err_ms));
    }
    json_t *cp = json_null();
    if (d->have_cp) {
        refbus_hex(root, d->cp.root, REFBUS_MERKLE_HASH_BYTES);
        cp = json_pack("{s:I, s:s, s:I}", "size", (json_int_t)d->cp.size, "root", root, "time_ms",
                       (json_int_t)d->cp.time_ms);
    }
    json_t *recent = json_array();
    for (size_t i = 0; recent && i < d->n_recent; i++) {
        const node_refusal *r = &d->recent[(d->recent_next + NODE_RECENT - 1 - i) % NODE_RECENT];
        json_array_append_new(recent, json_pack("{s:I, s:s, s:s, s:s, s:s}", "time_ms",
                                                (json_int_t)r->time_ms, "sender", r->sender,
                                                "msg_id", r->msg_id, "error",
                                                refbus_errname(r->code), "reason", r->text));
    }
    const node_counters *n = &d->n;
    json_t *counters =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                  "delivered_in", (json_int_t)n->delivered_in, "duplicates_in",
                  (json_int_t)n->duplicates_in, "refused_in", (json_int_t)n->refused_in,
                  "deferred_in", (json_int_t)n->deferred_in, "submitted", (json_int_t)n->submitted,
                  "accepted", (json_int_t)n->accepted, "rejected", (json_int_t)n->rejected,
                  "receipts_in", (json_int_t)n->receipts_in, "bad_receipts",
                  (json_int_t)n->bad_receipts, "directories_installed",
                  (json_int_t)n->directories_installed, "checkpoints_verified",
                  (json_int_t)n->checkpoints_verified, "checkpoints_refused",
                  (json_int_t)n->checkpoints_refused, "reconnects", (json_int_t)n->reconnects);
    int dumpable = 1;
    uint64_t core = 0;
    refbus_harden_state(&dumpable, &core);
    json_t *process = json_pack("{s:b, s:I}", "dumpable", dumpable != 0, "core_limit",
                                core == UINT64_MAX ? (json_int_t)-1 : (json_int_t)core);
    const char *key_state = d->revoked         ? "revoked"
                            : d->rekey_pending ? "rotation_pending"
                                               : "active";
    *reply = json_pack(
        "{s:b, s:s, s:i, s:s, s:s?, s:o, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I}, s:{s:I}, s:I, "
        "s:o, s:O?, s:o, s:o, s:o}",
        "ok", 1, "agency", d->me, "epoch", (int)d->epoch, "key_state", key_state, "revoked_reason",
        d->revoked ? d->revoked_reason : NULL, "broker", broker, "directory", "serial",
        (json_int_t)refbus_directory_serial(d->dir), "issued_ms",
        (json_int_t)refbus_directory_issued_ms(d->dir), "outbox", "pending", (json_int_t)c.pending,
        "failed", (json_int_t)c.failed, "in_flight", (json_int_t)d->n_fl, "sent", (json_int_t)sent,
        "inbox", "messages", (json_int_t)inbox, "threads", (json_int_t)threads, "checkpoint", cp,
        "checkpoint_alarm", d->cp_alarm, "recent_refusals", recent, "counters", counters, "process",
        process);
    if (*reply) {
        /* write commits since start: the group-commit figures (docs/NODE.md "Status") */
        uint64_t synced = 0, lazy = 0;
        refbus_nstore_commit_counts(d->store, &synced, &lazy);
        json_object_set_new(*reply, "commits",
                            json_pack("{s:I, s:I, s:I, s:I}", "synced", (json_int_t)synced, "lazy",
                                      (json_int_t)lazy, "queue", (json_int_t)n->queue_commits,
                                      "receipts", (json_int_t)n->receipt_commits));
        nd_audit_cp_status(d, *reply);
    }
    return *reply ? 0 : REFBUS_ENOMEM;
}
