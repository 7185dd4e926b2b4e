/* Sending: a referral (a new thread) or an answer in a thread, checked, sealed (signed and
 * encrypted to each recipient agency's current key) and stored in the outbox in one
 * transaction with its thread update, before anything goes to the broker. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "nodes/rules/referral_json.h"

#define WHY(code, ...) (snprintf(why, why_len, __VA_ARGS__), (code))

static enum refbus_priority priority_of(uint32_t urgency)
{
    return urgency == REFBUS_URGENCY_IMMEDIATE_DANGER ? REFBUS_PRIORITY_IMMEDIATE
           : urgency == REFBUS_URGENCY_URGENT         ? REFBUS_PRIORITY_URGENT
                                                      : REFBUS_PRIORITY_ROUTINE;
}

/* May we seal to `to` now? Its current key (out) and the routing policy. */
static int recipient_ok(nd_daemon *d, const char *to, const refbus_dir_key **k, char *why,
                        size_t why_len)
{
    int rc;
    if (!refbus_agency_id_valid(to))
        return WHY(REFBUS_EBADID, "\"%.64s\" is not a valid agency id", to);
    if (strcmp(to, d->me) == 0)
        return WHY(REFBUS_EINVAL, "%s cannot send to itself", to);
    if ((rc = refbus_directory_current_key(d->dir, to, k)))
        return WHY(rc, "%s: %s (directory serial %llu)", to,
                   rc == REFBUS_EREVOKED ? "has no active key (revoked)" : "unknown agency",
                   (unsigned long long)refbus_directory_serial(d->dir));
    if (!refbus_directory_allowed(d->dir, d->me, to))
        return WHY(REFBUS_EPOLICY, "the routing policy does not allow %s to send to %s", d->me, to);
    return 0;
}

static int seal(nd_daemon *d, uint8_t **env, size_t *elen, char *const *to, size_t n, uint32_t kind,
                uint32_t urgency, uint64_t expires_ms, const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                const uint8_t *pl, size_t pl_len, char *why, size_t why_len)
{
    refbus_recipient rc_[REFBUS_MAX_RECIPIENTS];
    const refbus_epoch_keys *k = nd_ident_keys(d);
    int rc;
    if (!k)
        return WHY(REFBUS_ENOEPOCHKEY, "no keys for our epoch %u", d->epoch);
    if (n == 0 || n > REFBUS_MAX_RECIPIENTS)
        return WHY(REFBUS_ETOOMANYRCPT, "1 to %u recipients", REFBUS_MAX_RECIPIENTS);
    for (size_t i = 0; i < n; i++) {
        const refbus_dir_key *dk = NULL;
        if ((rc = recipient_ok(d, to[i], &dk, why, why_len)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(to[i], to[j]) == 0)
                return WHY(REFBUS_EINVAL, "%s is named twice", to[i]);
        rc_[i] = (refbus_recipient){to[i], dk->epoch, dk->enc_pk};
    }
    uint64_t now = refbus_now_ms();
    if (expires_ms <= now)
        return WHY(REFBUS_EEXPIRED, "the message has expired");
    refbus_seal_params p = {.sender = d->me,
                            .sender_epoch = d->epoch,
                            .sign_sk = k->sign_sk,
                            .recipients = rc_,
                            .n_recipients = n,
                            .kind = (enum refbus_kind)kind,
                            .priority = priority_of(urgency),
                            .created_ms = now,
                            .expires_ms = expires_ms,
                            .msg_id = msg_id};
    if ((rc = refbus_envelope_seal(env, elen, &p, pl, pl_len)))
        return WHY(rc, "sealing failed: %s", refbus_strerror(rc));
    return 0;
}

int nd_compose_reseal(nd_daemon *d, refbus_outbox_rec *r)
{
    uint8_t *env = NULL;
    size_t elen = 0;
    char why[256];
    if (r->msg_id.len != 16 || !r->payload.len)
        return REFBUS_ECORRUPT;
    int rc = seal(d, &env, &elen, r->to, r->n_to, r->kind, r->urgency, r->expires_ms,
                  r->msg_id.data, r->payload.data, r->payload.len, why, sizeof why);
    if (rc) {
        log_warn("re-sealing: %s", why);
        return rc;
    }
    free(r->envelope.data);
    r->envelope = (ProtobufCBinaryData){elen, env};
    r->sender_epoch = d->epoch;
    r->resealed = 1;
    log_info("outbox message re-sealed with key epoch %u", d->epoch);
    return 0;
}

static json_t *strings_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* Queue a sealed message: outbox entry + thread, in the control pass's group commit. */
static int queue(nd_daemon *d, refbus_outbox_rec *o, refbus_thread *t, char *why, size_t why_len)
{
    MDB_txn *txn = NULL;
    uint64_t seq;
    int rc = nd_control_txn(d, &txn);
    if (rc == 0 && (rc = refbus_nstore_outbox_add(d->store, txn, o, &seq)) == REFBUS_EEXIST)
        snprintf(why, why_len, "a message with this id was already sent");
    if (rc == 0)
        rc = refbus_nstore_thread_put(d->store, txn, t);
    nd_share_end(d, &txn, rc == REFBUS_EEXIST ? 0 : rc); /* EEXIST: found before writing */
    if (rc && rc != REFBUS_EEXIST)
        snprintf(why, why_len, "storing in the outbox: %s", refbus_strerror(rc));
    return rc;
}

int nd_compose_send(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t why_len)
{
    json_t *ref = json_object_get(req, "referral"), *to = json_object_get(req, "to");
    json_t *copy = NULL;
    const char *urg_flag = json_string_value(json_object_get(req, "urgency"));
    json_t *exp = json_object_get(req, "expires_in_ms");
    const char *mid_hex = json_string_value(json_object_get(req, "msg_id"));
    char *tos[REFBUS_MAX_RECIPIENTS];
    uint8_t thread_id[16], msg_id[REFBUS_MSG_ID_BYTES], *pl = NULL, *env = NULL;
    size_t pl_len = 0, elen = 0, n = 0, i;
    uint64_t expires;
    int urgency = 0, rc;
    refbus_thread *t = NULL;
    json_t *v;
    char err[REFBUS_JSON_ERR_MAX];

    if ((rc = nd_ident_can_send(d, why, why_len)))
        return rc;
    if (!json_is_object(ref))
        return WHY(REFBUS_EJSON, "field \"referral\": expected a JSON object");
    if (!json_is_array(to) || json_array_size(to) == 0 ||
        json_array_size(to) > REFBUS_MAX_RECIPIENTS)
        return WHY(REFBUS_EINVAL, "--to: 1 to %u agencies", REFBUS_MAX_RECIPIENTS);
    json_array_foreach(to, i, v)
    {
        if (!json_is_string(v))
            return WHY(REFBUS_EINVAL, "--to: agency ids are strings");
        tos[n++] = (char *)json_string_value(v);
    }
    expires = refbus_now_ms() + d->cfg.default_expiry_ms;
    if (exp) {
        if (!json_is_integer(exp) || json_integer_value(exp) <= 0)
            return WHY(REFBUS_EINVAL, "--expires-in: a positive duration");
        expires = refbus_now_ms() + (uint64_t)json_integer_value(exp);
    }
    if (mid_hex) {
        if (strlen(mid_hex) != 32 || refbus_unhex(msg_id, REFBUS_MSG_ID_BYTES, mid_hex))
            return WHY(REFBUS_EINVAL, "--msg-id: 32 hex digits");
    } else {
        randombytes_buf(msg_id, REFBUS_MSG_ID_BYTES);
    }
    refbus_hex(d->req_msg_id, msg_id, REFBUS_MSG_ID_BYTES);
    if (!(copy = json_deep_copy(ref)))
        return WHY(REFBUS_ENOMEM, "out of memory");
    if (urg_flag) {
        const char *in = json_string_value(json_object_get(copy, "urgency"));
        int u = refbus_referral_urgency_parse(urg_flag);
        if (u < 0) {
            rc = WHY(REFBUS_EINVAL, "--urgency: routine, urgent or immediate_danger");
            goto out;
        }
        if (in && refbus_referral_urgency_parse(in) != u) {
            rc = WHY(REFBUS_EJSON,
                     "field \"urgency\": \"%s\" in the referral conflicts with "
                     "--urgency %s",
                     in, urg_flag);
            goto out;
        }
        json_object_set_new(copy, "urgency", json_string(refbus_referral_urgency_name(u)));
    }
    randombytes_buf(thread_id, 16);
    if ((rc = refbus_referral_from_json(&pl, &pl_len, &urgency, copy, thread_id, err))) {
        snprintf(why, why_len, "%s", err);
        goto out;
    }
    if ((rc = seal(d, &env, &elen, tos, n, REFBUS_KIND_REFERRAL, (uint32_t)urgency, expires, msg_id,
                   pl, pl_len, why, why_len)))
        goto out;
    if ((rc = refbus_thread_new(&t, thread_id, d->me, (const char *const *)tos, n, msg_id,
                                refbus_now_ms())))
        goto out;
    const char *case_ref = json_string_value(json_object_get(copy, "case_ref"));
    t->urgency = (uint32_t)urgency;
    if ((rc = refbus_pb_set_string(&t->case_ref, case_ref)) ||
        (rc = refbus_thread_apply(t, msg_id, d->me, REFBUS_TS_REFERRED, "", "", refbus_now_ms(), 1,
                                  1, 0)))
        goto out;
    refbus_outbox_rec o = REFBUS__NODESTORE__OUTBOX_RECORD__INIT;
    o.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, msg_id};
    o.thread_id = (ProtobufCBinaryData){16, thread_id};
    o.kind = REFBUS_KIND_REFERRAL;
    o.priority = priority_of((uint32_t)urgency);
    o.urgency = (uint32_t)urgency;
    o.n_to = n;
    o.to = tos;
    o.created_ms = refbus_now_ms();
    o.expires_ms = expires;
    o.envelope = (ProtobufCBinaryData){elen, env};
    o.payload = (ProtobufCBinaryData){pl_len, pl};
    o.sender_epoch = d->epoch;
    if ((rc = queue(d, &o, t, why, why_len)))
        goto out;
    d->req_queued = 1;
    char mh[33], th[33];
    refbus_hex(mh, msg_id, REFBUS_MSG_ID_BYTES);
    refbus_hex(th, thread_id, 16);
    *reply =
        json_pack("{s:b, s:s, s:s, s:o, s:s, s:I, s:s}", "ok", 1, "msg_id", mh, "thread_id", th,
                  "to", strings_json(tos, n), "urgency", refbus_referral_urgency_name(urgency),
                  "expires_ms", (json_int_t)expires, "state", "pending");
    log_info("referral %s (thread %s) queued for %zu agencies", mh, th, n);
    rc = *reply ? 0 : REFBUS_ENOMEM;
out:
    refbus_thread_free(&t);
    refbus_wipe_free(pl);
    free(env);
    json_decref(copy);
    return rc;
}

/* The thread a message of ours or of our inbox belongs to. */
static int thread_of(nd_daemon *d, MDB_txn *txn, const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                     uint8_t thread_id[16])
{
    uint64_t seq;
    int rc;
    refbus_inbox_rec *in = NULL;
    refbus_sent_rec *s = NULL;
    refbus_outbox_rec *o = NULL;
    refbus_payload_info *pi = malloc(sizeof *pi);
    if (!pi)
        return REFBUS_ENOMEM;
    if ((rc = refbus_nstore_inbox_find_msg(d->store, txn, msg_id, &seq)) == 0 &&
        (rc = refbus_nstore_inbox_get(d->store, txn, seq, &in)) == 0 &&
        (rc = refbus_payload_inspect(pi, in->payload.data, in->payload.len)) == 0)
        memcpy(thread_id, pi->thread_id, 16);
    else if (rc == REFBUS_ENOTFOUND &&
             (rc = refbus_nstore_sent_get(d->store, txn, msg_id, &s)) == 0 &&
             s->thread_id.len == 16)
        memcpy(thread_id, s->thread_id.data, 16);
    else if (rc == REFBUS_ENOTFOUND &&
             (rc = refbus_nstore_outbox_find(d->store, txn, msg_id, &seq)) == 0 &&
             (rc = refbus_nstore_outbox_get(d->store, txn, seq, &o)) == 0 && o->thread_id.len == 16)
        memcpy(thread_id, o->thread_id.data, 16);
    else if (rc == 0)
        rc = REFBUS_ECORRUPT;
    refbus_nstore_inbox_free(&in);
    refbus_nstore_sent_free(&s);
    refbus_nstore_outbox_free(&o);
    refbus_wipe_free(pi); /* case reference, answer text */
    return rc;
}

int nd_compose_reply(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t why_len)
{
    const char *mid = json_string_value(json_object_get(req, "msg_id"));
    const char *st = json_string_value(json_object_get(req, "status"));
    const char *reason = json_string_value(json_object_get(req, "reason_code"));
    const char *text = json_string_value(json_object_get(req, "text"));
    const char *own = json_string_value(json_object_get(req, "reply_id"));
    uint8_t in_reply_to[16], thread_id[16], msg_id[REFBUS_MSG_ID_BYTES], *pl = NULL, *env = NULL;
    size_t pl_len = 0, elen = 0, np, n = 0;
    const char *peers[REFBUS_MAX_RECIPIENTS + 1];
    char *tos[REFBUS_MAX_RECIPIENTS];
    json_t *skipped = json_array();
    refbus_thread *t = NULL;
    MDB_txn *txn = NULL;
    char err[REFBUS_JSON_ERR_MAX];
    int status = refbus_thread_status_parse(st), rc;

    if (!skipped)
        return WHY(REFBUS_ENOMEM, "out of memory");
    if (!mid || strlen(mid) != 32 || refbus_unhex(in_reply_to, 16, mid)) {
        rc = WHY(REFBUS_EINVAL, "MSGID: the 32 hex digits of a message in the inbox or sent");
        goto out;
    }
    if (status < 0) {
        rc = WHY(REFBUS_EINVAL, "--status: one of received, accepted, declined, in_progress, "
                                "completed, cancelled, consent_withdrawn, note");
        goto out;
    }
    if (own) { /* the answer's own id, chosen by the caller so that a retry queues it once */
        if (strlen(own) != 32 || refbus_unhex(msg_id, REFBUS_MSG_ID_BYTES, own)) {
            rc = WHY(REFBUS_EINVAL, "--msg-id: 32 hex digits");
            goto out;
        }
    } else {
        randombytes_buf(msg_id, REFBUS_MSG_ID_BYTES);
    }
    refbus_hex(d->req_msg_id, msg_id, REFBUS_MSG_ID_BYTES);
    if ((rc = nd_ident_can_send(d, why, why_len)))
        goto out;
    if ((rc = nd_control_txn(d, &txn)))
        goto out;
    if (own) {
        uint64_t seq;
        refbus_sent_rec *sr = NULL;
        int f = refbus_nstore_outbox_find(d->store, txn, msg_id, &seq);
        if (f == REFBUS_ENOTFOUND && (f = refbus_nstore_sent_get(d->store, txn, msg_id, &sr)) == 0)
            refbus_nstore_sent_free(&sr);
        if (f == 0) { /* queued (or sent) by an earlier call with this id: nothing new */
            rc = WHY(REFBUS_EEXIST, "a message with this id was already sent");
            goto out;
        }
        if (f != REFBUS_ENOTFOUND) {
            rc = WHY(f, "looking up --msg-id: %s", refbus_strerror(f));
            goto out;
        }
    }
    if ((rc = thread_of(d, txn, in_reply_to, thread_id))) {
        snprintf(why, why_len, "message %s: %s", mid,
                 rc == REFBUS_ENOTFOUND ? "not in the inbox, the outbox or among sent messages"
                                        : refbus_strerror(rc));
        goto out;
    }
    if ((rc = refbus_nstore_thread_get(d->store, txn, thread_id, &t))) {
        snprintf(why, why_len, "the thread of message %s: %s", mid, refbus_strerror(rc));
        goto out;
    }
    if ((rc = refbus_thread_check(t, d->me, (uint32_t)status, why, why_len)))
        goto out;
    np = refbus_thread_peers(t, d->me, peers, REFBUS_MAX_RECIPIENTS + 1);
    for (size_t i = 0; i < np && n < REFBUS_MAX_RECIPIENTS; i++) {
        const refbus_dir_key *k;
        char w[256];
        int r = recipient_ok(d, peers[i], &k, w, sizeof w);
        if (r == 0)
            tos[n++] = (char *)peers[i];
        else
            json_array_append_new(skipped, json_pack("{s:s, s:s, s:s}", "agency", peers[i], "error",
                                                     refbus_errname(r), "message", w));
    }
    if (n == 0) {
        rc = WHY(REFBUS_EPOLICY,
                 "no agency of this thread can be sent to (%zu skipped: "
                 "policy, revoked or unknown)",
                 json_array_size(skipped));
        goto out;
    }
    if ((rc = refbus_referral_status_payload(&pl, &pl_len, thread_id, in_reply_to, (uint32_t)status,
                                             reason, text, err))) {
        snprintf(why, why_len, "%s", err);
        goto out;
    }
    uint64_t expires = refbus_now_ms() + d->cfg.default_expiry_ms;
    if ((rc = seal(d, &env, &elen, tos, n, REFBUS_KIND_STATUS, t->urgency, expires, msg_id, pl,
                   pl_len, why, why_len)))
        goto out;
    if ((rc = refbus_thread_apply(t, msg_id, d->me, (uint32_t)status, reason, text, refbus_now_ms(),
                                  1, 1, 0)))
        goto out;
    refbus_outbox_rec o = REFBUS__NODESTORE__OUTBOX_RECORD__INIT;
    uint64_t seq;
    o.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, msg_id};
    o.thread_id = (ProtobufCBinaryData){16, thread_id};
    o.kind = REFBUS_KIND_STATUS;
    o.priority = priority_of(t->urgency);
    o.urgency = t->urgency;
    o.n_to = n;
    o.to = tos;
    o.created_ms = refbus_now_ms();
    o.expires_ms = expires;
    o.envelope = (ProtobufCBinaryData){elen, env};
    o.payload = (ProtobufCBinaryData){pl_len, pl};
    o.sender_epoch = d->epoch;
    if ((rc = refbus_nstore_outbox_add(d->store, txn, &o, &seq)) ||
        (rc = refbus_nstore_thread_put(d->store, txn, t))) {
        snprintf(why, why_len, "storing in the outbox: %s", refbus_strerror(rc));
        nd_share_end(d, &txn, rc); /* the whole group commit is dropped */
        goto out;
    }
    d->req_queued = 1;
    char mh[33], th[33];
    refbus_hex(mh, msg_id, REFBUS_MSG_ID_BYTES);
    refbus_hex(th, thread_id, 16);
    *reply =
        json_pack("{s:b, s:s, s:s, s:s, s:s, s:o, s:O, s:s}", "ok", 1, "msg_id", mh, "in_reply_to",
                  mid, "thread_id", th, "status", refbus_thread_status_name((uint32_t)status), "to",
                  strings_json(tos, n), "not_sent_to", skipped, "state", "pending");
    log_info("%s in thread %s queued for %zu agencies", refbus_thread_status_name((uint32_t)status),
             th, n);
    rc = *reply ? 0 : REFBUS_ENOMEM;
out:
    nd_share_end(d, &txn, 0); /* nothing written when we get here with it */
    refbus_thread_free(&t);
    refbus_wipe_free(pl);
    free(env);
    json_decref(skipped);
    return rc;
}
