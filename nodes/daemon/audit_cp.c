/* Audit checkpoints pushed by the broker (DESIGN section 6, docs/NODE.md section 5): verified
 * against the broker's key from the directory and, when we hold an earlier one, against it with
 * the consistency proof. An inconsistent checkpoint (history rewritten or truncated) raises an
 * AUDIT ALARM, kept in the store and shown by `status`; the old checkpoint stays. A newer one
 * we cannot check (no proof, or a proof from a size we do not hold) is never just ignored: we
 * ask for the proof (PROOF_REQUEST) and, when none that checks has come within
 * checkpoint_proof_seconds, raise an alarm that clears when one does. After a broker restore a
 * root-signed re-anchor statement in the directory names the checkpoint to take as the new
 * anchor; the old one is kept in the node's history. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "proto/wire.h"

#define HISTORY_MAX 16 /* re-anchor entries kept in meta "checkpoint_history" */

static json_t *cp_json(const refbus_checkpoint *cp)
{
    char root[65];
    refbus_hex(root, cp->root, REFBUS_MERKLE_HASH_BYTES);
    return json_pack("{s:I, s:s, s:I}", "size", (json_int_t)cp->size, "root", root, "time_ms",
                     (json_int_t)cp->time_ms);
}

static int meta_del(nd_daemon *d, MDB_txn *txn, const char *name)
{
    int rc = refbus_nstore_del(d->store, txn, REFBUS_T_META, name, strlen(name));
    return rc == REFBUS_ENOTFOUND ? 0 : rc;
}

/* How often an unanswered PROOF_REQUEST is repeated: a quarter of the alarm delay, 1..30 s. */
static uint64_t retry_ms(const nd_daemon *d)
{
    uint64_t t = (uint64_t)d->cfg.checkpoint_proof_seconds * 1000u / 4u;
    return t < 1000 ? 1000 : t > 30000 ? 30000 : t;
}

static void raise_alarm(nd_daemon *d, const refbus_checkpoint *offered, const char *why)
{
    MDB_txn *txn = NULL;
    json_t *a = json_pack("{s:I, s:s, s:o, s:o}", "time_ms", (json_int_t)refbus_now_ms(), "reason",
                          why, "held", cp_json(&d->cp), "offered", cp_json(offered));
    log_error("AUDIT ALARM: the broker offered a checkpoint (size %llu) that is not consistent "
              "with the one this node holds (size %llu): %s. The audit trail may have been "
              "rewritten; keeping the old checkpoint. Tell the auditors.",
              (unsigned long long)offered->size, (unsigned long long)d->cp.size, why);
    d->n.checkpoints_refused++;
    if (!a)
        return;
    json_decref(d->cp_alarm);
    d->cp_alarm = a;
    char *text = json_dumps(a, JSON_COMPACT);
    if (text && refbus_nstore_begin(d->store, 1, &txn) == 0 &&
        refbus_nstore_meta_put(d->store, txn, "checkpoint_alarm", text, strlen(text)) == 0 &&
        refbus_nstore_commit(&txn) != 0)
        log_error("the audit alarm could not be stored");
    refbus_nstore_abort(&txn);
    free(text);
}

/* Keep the moment we fell behind in the store (or forget it): a restart must not restart the
 * clock, or a broker could put the alarm off for ever by making the node restart. */
static void behind_store(nd_daemon *d)
{
    MDB_txn *txn = NULL;
    char *text = NULL, root[65];
    int rc;
    if (d->behind) {
        refbus_hex(root, d->ahead.root, REFBUS_MERKLE_HASH_BYTES);
        json_t *j = json_pack("{s:I, s:I, s:s, s:I}", "since_ms", (json_int_t)d->behind_since_ms,
                              "size", (json_int_t)d->ahead.size, "root", root, "time_ms",
                              (json_int_t)d->ahead.time_ms);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
            return;
    }
    if ((rc = refbus_nstore_begin(d->store, 1, &txn)) == 0)
        rc = d->behind
                 ? refbus_nstore_meta_put(d->store, txn, "checkpoint_behind", text, strlen(text))
                 : meta_del(d, txn, "checkpoint_behind");
    if (rc == 0)
        rc = refbus_nstore_commit(&txn);
    refbus_nstore_abort(&txn);
    if (rc)
        log_warn("storing the audit proof state: %s", refbus_strerror(rc));
    free(text);
}

static int asked_for(const nd_daemon *d, uint64_t size)
{
    for (unsigned i = 0; i < 8; i++)
        if (d->asked_to[i] == size)
            return 1;
    return 0;
}

static void ask_proof(nd_daemon *d, uint64_t from, uint64_t to, uint64_t now)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (d->state != NODE_READY)
        return;
    d->proof_asked_ms = now ? now : 1;
    refbus_wire_proof_request r = {.from_size = from, .to_size = to};
    if (refbus_wire_proof_request_encode(&b, &n, &r) == 0 &&
        nd_session_send(d, REFBUS_CMD_PROOF_REQUEST, b, n) == 0) {
        d->proof_outstanding = 1;
        d->n.proof_requests++;
        d->asked_to[d->asked_next++ % 8] = to;
        log_info("asked the broker to prove checkpoint %llu consistent with %llu",
                 (unsigned long long)to, (unsigned long long)from);
    }
    free(b);
}

/* Ask for what we miss most: the checkpoint a re-anchor statement names, else the proof from
 * ours to the newest one shown. */
static void ask_next(nd_daemon *d, uint64_t now)
{
    if (d->ra_wanted)
        ask_proof(d, d->ra.size, d->ra.size, now);
    else if (d->behind && d->cp.size < d->ahead.size)
        ask_proof(d, d->cp.size, d->ahead.size, now);
}

/* A newer checkpoint (signature verified) that we cannot check against ours. */
static void fall_behind(nd_daemon *d, const refbus_checkpoint *cp, uint64_t from_size)
{
    int first = !d->behind;
    if (!first && cp->size <= d->ahead.size) {
        if (cp->size == d->ahead.size &&
            memcmp(cp->root, d->ahead.root, REFBUS_MERKLE_HASH_BYTES) != 0)
            raise_alarm(d, cp,
                        "the broker signed two checkpoints of this size with different "
                        "roots");
        return;
    }
    d->ahead = *cp;
    if (first) {
        d->behind = 1;
        d->behind_since_ms = refbus_now_ms();
        log_warn("checkpoint %llu came with %s, this node holds %llu: asking the broker for the "
                 "proof (audit alarm in %u s without one)",
                 (unsigned long long)cp->size,
                 from_size ? "a proof from a size this node does not hold" : "no proof",
                 (unsigned long long)d->cp.size, d->cfg.checkpoint_proof_seconds);
        behind_store(d);
    }
    if (!d->proof_outstanding)
        ask_next(d, refbus_mono_ms());
}

/* After installing a checkpoint: caught up with everything the broker has shown? */
static void check_caught_up(nd_daemon *d)
{
    if (!d->behind)
        return;
    if (d->cp.size < d->ahead.size) {
        ask_next(d, refbus_mono_ms());
        return;
    }
    if (d->cp.size == d->ahead.size &&
        memcmp(d->cp.root, d->ahead.root, REFBUS_MERKLE_HASH_BYTES) != 0)
        raise_alarm(d, &d->ahead,
                    "the broker signed two checkpoints of this size with "
                    "different roots");
    uint64_t secs = (refbus_now_ms() - d->behind_since_ms) / 1000u;
    if (d->unproven_alarm)
        log_warn("audit alarm cleared: the broker proved checkpoint %llu consistent after %llu s",
                 (unsigned long long)d->cp.size, (unsigned long long)secs);
    d->behind = 0;
    d->unproven_alarm = 0;
    d->proof_refused[0] = 0;
    behind_store(d);
}

/* A directory we have not looked at yet: does it carry a re-anchor statement to apply? */
static void reanchor_check(nd_daemon *d)
{
    if (!d->dir || refbus_directory_serial(d->dir) + 1 == d->ra_serial_seen)
        return;
    d->ra_serial_seen = refbus_directory_serial(d->dir) + 1;
    const refbus_dir_reanchor *ra = refbus_directory_reanchor(d->dir);
    uint8_t key[40];
    d->ra_wanted = 0;
    if (!ra)
        return;
    refbus_put_u64be(key, ra->size);
    memcpy(key + 8, ra->root, REFBUS_MERKLE_HASH_BYTES);
    if (d->ra_have_applied && memcmp(key, d->ra_applied, 40) == 0)
        return; /* done before */
    if (d->have_cp && !d->cp_alarm && d->cp.size == ra->size &&
        memcmp(d->cp.root, ra->root, REFBUS_MERKLE_HASH_BYTES) == 0)
        return; /* we hold exactly that checkpoint already */
    d->ra = *ra;
    d->ra_wanted = 1;
    d->proof_asked_ms = 0;
    log_warn("directory serial %llu re-anchors the audit trail at checkpoint %llu (%s): asking "
             "the broker for it",
             (unsigned long long)refbus_directory_serial(d->dir), (unsigned long long)ra->size,
             ra->reason);
}

/* The broker showed the checkpoint the root named: it becomes our anchor, in one transaction
 * with the history entry that keeps the old one (and its alarm). */
static void apply_reanchor(nd_daemon *d, const refbus_wire_checkpoint_push *c,
                           const refbus_checkpoint *cp)
{
    MDB_txn *txn = NULL;
    uint8_t *old = NULL, *hb = NULL;
    size_t old_len = 0, hn = 0;
    char *old_hex = NULL, *text = NULL;
    json_t *entry = NULL, *hist = NULL;
    uint8_t key[40];
    uint64_t serial = refbus_directory_serial(d->dir);
    int rc = refbus_nstore_begin(d->store, 1, &txn);
    if (rc)
        goto out;
    if ((rc = refbus_nstore_meta_get(d->store, txn, "checkpoint", &old, &old_len)) == 0) {
        if (!(old_hex = malloc(old_len * 2 + 1))) {
            rc = REFBUS_ENOMEM;
            goto out;
        }
        refbus_hex(old_hex, old, old_len);
    } else if (rc != REFBUS_ENOTFOUND) {
        goto out;
    }
    if ((rc = refbus_nstore_meta_get(d->store, txn, "checkpoint_history", &hb, &hn)) == 0)
        hist = json_loadb((const char *)hb, hn, 0, NULL);
    else if (rc != REFBUS_ENOTFOUND)
        goto out;
    if (!json_is_array(hist)) {
        json_decref(hist);
        hist = json_array();
    }
    entry =
        json_pack("{s:I, s:I, s:s, s:o, s:o, s:s?, s:O?}", "time_ms", (json_int_t)refbus_now_ms(),
                  "directory_serial", (json_int_t)serial, "reason", d->ra.reason, "anchor",
                  cp_json(cp), "previous", d->have_cp ? cp_json(&d->cp) : json_null(),
                  "previous_signed", old_hex, "previous_alarm", d->cp_alarm);
    rc = REFBUS_ENOMEM;
    if (!hist || !entry || json_array_append(hist, entry) != 0)
        goto out;
    while (json_array_size(hist) > HISTORY_MAX)
        json_array_remove(hist, 0);
    if (!(text = json_dumps(hist, JSON_COMPACT)))
        goto out;
    refbus_put_u64be(key, cp->size);
    memcpy(key + 8, cp->root, REFBUS_MERKLE_HASH_BYTES);
    if ((rc = refbus_nstore_meta_put(d->store, txn, "checkpoint_history", text, strlen(text))) ||
        (rc =
             refbus_nstore_meta_put(d->store, txn, "checkpoint", c->signed_cp, c->signed_cp_len)) ||
        (rc = refbus_nstore_meta_put(d->store, txn, "reanchor_applied", key, sizeof key)) ||
        (rc = meta_del(d, txn, "checkpoint_alarm")) ||
        (rc = meta_del(d, txn, "checkpoint_behind")) || (rc = refbus_nstore_commit(&txn)))
        goto out;
    log_warn("AUDIT RE-ANCHOR: directory serial %llu names checkpoint %llu as this node's anchor "
             "(%s); the checkpoint held before (size %llu)%s is kept in the node's history",
             (unsigned long long)serial, (unsigned long long)cp->size, d->ra.reason,
             (unsigned long long)(d->have_cp ? d->cp.size : 0),
             d->cp_alarm ? " and its alarm" : "");
    d->cp = *cp;
    d->have_cp = 1;
    json_decref(d->cp_alarm);
    d->cp_alarm = NULL;
    d->behind = 0;
    d->unproven_alarm = 0;
    d->proof_refused[0] = 0;
    d->ra_wanted = 0;
    d->ra_have_applied = 1;
    memcpy(d->ra_applied, key, sizeof key);
    json_decref(d->ra_last);
    d->ra_last = json_incref(entry);
    d->n.reanchors++;
    d->n.checkpoints_verified++;
out:
    if (rc)
        nd_note_error(d, rc,
                      "re-anchoring at checkpoint %llu: %s (tried again when the "
                      "broker shows it again)",
                      (unsigned long long)cp->size, refbus_strerror(rc));
    refbus_nstore_abort(&txn);
    refbus_nstore_free_value(&old, old_len);
    refbus_nstore_free_value(&hb, hn);
    free(old_hex);
    free(text);
    json_decref(entry);
    json_decref(hist);
}

/* Verify with the broker's active key, else any of its keys the directory trusts for READ
 * (a rotation; never a revoked epoch nor one at or below a revoked one). */
static int verify_cp(nd_daemon *d, refbus_checkpoint *out, const uint8_t *b, size_t n)
{
    const uint8_t *pk = refbus_directory_broker_sign_pk(d->dir);
    int rc = pk ? refbus_checkpoint_verify(out, b, n, pk) : REFBUS_EUNKNOWNPEER;
    for (size_t i = 0; rc == REFBUS_EBADSIG && i < refbus_directory_broker_key_count(d->dir); i++) {
        const refbus_dir_key *k = refbus_directory_broker_key_at(d->dir, i);
        if (k && refbus_directory_key_trust(d->dir, refbus_directory_broker_id(d->dir), k->epoch,
                                            REFBUS_KEY_READ, NULL) == 0)
            rc = refbus_checkpoint_verify(out, b, n, k->sign_pk);
    }
    return rc;
}

void nd_inbound_checkpoint(nd_daemon *d, const uint8_t *body, size_t len)
{
    refbus_wire_checkpoint_push *c = calloc(1, sizeof *c);
    refbus_checkpoint cp;
    MDB_txn *txn = NULL;
    int rc;
    if (!c)
        return;
    d->proof_outstanding = 0; /* a CHECKPOINT is also the answer to a PROOF_REQUEST */
    if ((rc = refbus_wire_checkpoint_push_decode(c, body, len))) {
        nd_note_error(d, rc, "a CHECKPOINT from the broker is malformed: refused");
        d->n.checkpoints_refused++;
        goto out;
    }
    if ((rc = verify_cp(d, &cp, c->signed_cp, c->signed_cp_len))) {
        nd_note_error(d, rc, "a checkpoint from the broker does not verify (%s): refused",
                      refbus_strerror(rc));
        d->n.checkpoints_refused++;
        goto out;
    }
    reanchor_check(d);
    if (d->ra_wanted && cp.size == d->ra.size &&
        memcmp(cp.root, d->ra.root, REFBUS_MERKLE_HASH_BYTES) == 0) {
        apply_reanchor(d, c, &cp);
        goto out;
    }
    if (d->have_cp) {
        if (memcmp(cp.log_id, d->cp.log_id, 32) != 0) {
            raise_alarm(d, &cp, "it belongs to another log (log id differs)");
            goto out;
        }
        if (cp.size < d->cp.size && c->from_size != 0 && asked_for(d, cp.size)) {
            /* the answer to a request we made before we moved on (requests are repeated, and
             * a push may prove more first): older than ours, no claim about the trail now */
            log_debug("a late answer (checkpoint %llu) to a PROOF_REQUEST ignored",
                      (unsigned long long)cp.size);
            goto out;
        }
        if (cp.size < d->cp.size) {
            raise_alarm(d, &cp, "the trail is shorter than before (truncated)");
            goto out;
        }
        if (cp.size == d->cp.size) {
            if (memcmp(cp.root, d->cp.root, REFBUS_MERKLE_HASH_BYTES) != 0)
                raise_alarm(d, &cp, "same size, different root");
            goto out; /* nothing new */
        }
        if (c->from_size != d->cp.size) {
            fall_behind(d, &cp, c->from_size);
            goto out;
        }
        if ((rc = refbus_checkpoint_consistent(&d->cp, &cp, (const uint8_t(*)[32])c->proof,
                                               c->n_proof))) {
            raise_alarm(d, &cp, "the consistency proof does not verify");
            goto out;
        }
    }
    if ((rc = refbus_nstore_begin(d->store, 1, &txn)) ||
        (rc =
             refbus_nstore_meta_put(d->store, txn, "checkpoint", c->signed_cp, c->signed_cp_len)) ||
        (rc = refbus_nstore_commit(&txn))) {
        nd_note_error(d, rc, "storing the checkpoint: %s", refbus_strerror(rc));
        goto out;
    }
    d->cp = cp;
    d->have_cp = 1;
    d->n.checkpoints_verified++;
    log_debug("audit checkpoint size %llu verified", (unsigned long long)cp.size);
    check_caught_up(d);
out:
    refbus_nstore_abort(&txn);
    refbus_wire_checkpoint_push_clear(c);
    free(c);
}

void nd_audit_cp_timers(nd_daemon *d, uint64_t now)
{
    reanchor_check(d);
    if (d->behind) {
        uint64_t wall = refbus_now_ms(), limit = (uint64_t)d->cfg.checkpoint_proof_seconds * 1000u;
        uint64_t age = wall > d->behind_since_ms ? wall - d->behind_since_ms : 0;
        int log_it = 0;
        if (age >= limit && !d->unproven_alarm) {
            d->unproven_alarm = 1;
            d->n.checkpoints_unproven++;
            log_it = 1;
        } else if (d->unproven_alarm && now - d->unproven_logged_ms >= limit) {
            log_it = 1; /* said again every period while it lasts */
        }
        if (log_it) {
            d->unproven_logged_ms = now;
            log_error("AUDIT ALARM: for %llu s the broker has shown checkpoint %llu without "
                      "proving it consistent with the one this node holds (size %llu); it may "
                      "be hiding a rewritten history. Proof requests so far: %llu%s%s",
                      (unsigned long long)(age / 1000u), (unsigned long long)d->ahead.size,
                      (unsigned long long)d->cp.size, (unsigned long long)d->n.proof_requests,
                      d->proof_refused[0] ? "; the broker answered: " : "", d->proof_refused);
        }
    }
    if (d->state != NODE_READY || !(d->ra_wanted || d->behind))
        return;
    if (d->proof_asked_ms && now - d->proof_asked_ms < retry_ms(d))
        return;
    ask_next(d, now);
}

int nd_audit_cp_on_error(nd_daemon *d, int code, const char *text)
{
    /* The broker refuses a PROOF_REQUEST only with these; none of them is about the session. */
    if (!d->proof_outstanding ||
        (code != REFBUS_ENOTFOUND && code != REFBUS_EINVAL && code != REFBUS_ELMDB))
        return 0;
    d->proof_outstanding = 0;
    snprintf(d->proof_refused, sizeof d->proof_refused, "%s: %s", refbus_errname(code), text);
    log_warn("the broker did not give the proof asked for: %s", d->proof_refused);
    return 1;
}

void nd_audit_cp_status(nd_daemon *d, json_t *reply)
{
    json_t *u = json_null(), *pending = json_null(), *counters;
    char root[65];
    reanchor_check(d);
    if (d->behind)
        u = json_pack("{s:b, s:I, s:I, s:o, s:s?}", "alarm", d->unproven_alarm, "since_ms",
                      (json_int_t)d->behind_since_ms, "held_size", (json_int_t)d->cp.size,
                      "offered", cp_json(&d->ahead), "broker_refusal",
                      d->proof_refused[0] ? d->proof_refused : NULL);
    if (d->ra_wanted) {
        refbus_hex(root, d->ra.root, REFBUS_MERKLE_HASH_BYTES);
        pending = json_pack("{s:I, s:s, s:s}", "size", (json_int_t)d->ra.size, "root", root,
                            "reason", d->ra.reason);
    }
    json_object_set_new(reply, "audit_alarm",
                        json_boolean(d->cp_alarm != NULL || d->unproven_alarm));
    json_object_set_new(reply, "checkpoint_unproven", u);
    json_object_set_new(reply, "reanchor",
                        json_pack("{s:o, s:O?}", "pending", pending, "last", d->ra_last));
    if ((counters = json_object_get(reply, "counters")) != NULL) {
        json_object_set_new(counters, "checkpoints_unproven",
                            json_integer((json_int_t)d->n.checkpoints_unproven));
        json_object_set_new(counters, "proof_requests",
                            json_integer((json_int_t)d->n.proof_requests));
        json_object_set_new(counters, "reanchors", json_integer((json_int_t)d->n.reanchors));
    }
}

void nd_audit_cp_free(nd_daemon *d)
{
    json_decref(d->cp_alarm);
    d->cp_alarm = NULL;
    json_decref(d->ra_last);
    d->ra_last = NULL;
}

static void load_behind(nd_daemon *d, const uint8_t *b, size_t n)
{
    json_t *j = json_loadb((const char *)b, n, 0, NULL);
    json_int_t since = 0, size = 0, t = 0;
    const char *root = NULL;
    if (j &&
        json_unpack(j, "{s:I, s:I, s:s, s:I}", "since_ms", &since, "size", &size, "root", &root,
                    "time_ms", &t) == 0 &&
        d->have_cp && (uint64_t)size > d->cp.size &&
        refbus_unhex(d->ahead.root, REFBUS_MERKLE_HASH_BYTES, root) == 0) {
        d->behind = 1;
        d->behind_since_ms = (uint64_t)since;
        d->ahead.size = (uint64_t)size;
        d->ahead.time_ms = (uint64_t)t;
        memcpy(d->ahead.log_id, d->cp.log_id, 32);
        log_warn("checkpoint %llu is still unproven (since %llu): asking the broker again",
                 (unsigned long long)d->ahead.size, (unsigned long long)d->behind_since_ms);
    }
    json_decref(j);
}

int nd_inbound_load_checkpoint(nd_daemon *d)
{
    MDB_txn *txn = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = refbus_nstore_begin(d->store, 0, &txn);
    if (rc)
        return rc;
    if ((rc = refbus_nstore_meta_get(d->store, txn, "checkpoint", &b, &n)) == 0) {
        if (refbus_checkpoint_parse(&d->cp, b, n) == 0)
            d->have_cp = 1;
        else
            log_error("the stored audit checkpoint does not parse; starting without one");
    }
    refbus_nstore_free_value(&b, n);
    if (refbus_nstore_meta_get(d->store, txn, "checkpoint_alarm", &b, &n) == 0)
        d->cp_alarm = json_loadb((const char *)b, n, 0, NULL);
    refbus_nstore_free_value(&b, n);
    if (refbus_nstore_meta_get(d->store, txn, "checkpoint_behind", &b, &n) == 0)
        load_behind(d, b, n);
    refbus_nstore_free_value(&b, n);
    if (refbus_nstore_meta_get(d->store, txn, "reanchor_applied", &b, &n) == 0 && n == 40) {
        d->ra_have_applied = 1;
        memcpy(d->ra_applied, b, 40);
    }
    refbus_nstore_free_value(&b, n);
    if (refbus_nstore_meta_get(d->store, txn, "checkpoint_history", &b, &n) == 0) {
        json_t *h = json_loadb((const char *)b, n, 0, NULL);
        size_t hn = json_array_size(h);
        if (hn)
            d->ra_last = json_incref(json_array_get(h, hn - 1));
        json_decref(h);
    }
    refbus_nstore_free_value(&b, n);
    refbus_nstore_abort(&txn);
    if (d->cp_alarm)
        log_error("AUDIT ALARM raised earlier is still on record (see `refbus-node status`)");
    return rc == REFBUS_ENOTFOUND ? 0 : rc;
}
