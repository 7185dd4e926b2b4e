/* The broker's side of the audit trail: records written inside the batch transaction (with a
 * per-agency budget for refusals, so a flood cannot fill the store), the first storage error
 * that poisons a batch, signed checkpoints and their push to nodes with consistency proofs. */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "audit/log.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/wire_body.h"

void broker_audit_init(Refbus__V1__AuditRecord *r, Refbus__V1__EventType ev)
{
    refbus__v1__audit_record__init(r);
    r->version = 1;
    r->event = ev;
    r->time_ms = refbus_now_ms();
}

void broker_sync_audit_size(refbus_broker *b, MDB_txn *txn)
{
    uint64_t size = 0;
    int rc = refbus_audit_size(b->store->audit, txn, &size);
    if (rc != 0)
        log_error("audit trail size: %s", refbus_strerror(rc));
    else
        b->audit_size = size;
}

int broker_txn_check(refbus_broker *b, int rc)
{
    if ((rc == REFBUS_EMAPFULL || rc == REFBUS_ENOSPC || rc == REFBUS_ELMDB || rc == REFBUS_EIO ||
         rc == REFBUS_ECORRUPT || rc == REFBUS_ESTORAGE) &&
        !b->txn_error)
        b->txn_error = rc;
    return rc;
}

int broker_audit_budget(refbus_broker *b, const char *agency)
{
    const uint64_t window = 60000, allowed = 120;
    uint64_t now = refbus_mono_ms();
    int slot = -1, oldest = 0;
    if (!agency)
        agency = "";
    for (int i = 0; i < 32; i++) {
        if (strcmp(b->noisy[i].agency, agency) == 0) {
            slot = i;
            break;
        }
        if (b->noisy[i].window_ms < b->noisy[oldest].window_ms)
            oldest = i;
    }
    if (slot < 0) {
        slot = oldest;
        snprintf(b->noisy[slot].agency, sizeof b->noisy[slot].agency, "%s", agency);
        b->noisy[slot].window_ms = now;
        b->noisy[slot].count = 0;
        b->noisy[slot].dropped = 0;
    }
    if (now - b->noisy[slot].window_ms >= window) {
        if (b->noisy[slot].dropped)
            log_warn("%u more refusal(s) of messages from %s in the last minute were answered "
                     "but not audited one by one (flood protection)",
                     b->noisy[slot].dropped, agency[0] ? agency : "?");
        b->noisy[slot].window_ms = now;
        b->noisy[slot].count = 0;
        b->noisy[slot].dropped = 0;
    }
    if (b->noisy[slot].count < allowed) {
        b->noisy[slot].count++;
        return 1;
    }
    b->noisy[slot].dropped++;
    return 0;
}

int broker_audit(refbus_broker *b, MDB_txn *txn, Refbus__V1__AuditRecord *r)
{
    uint64_t idx = 0;
    /* With the store full (second retry of a batch) only records that go with a state change
     * are written; refusals and connection events are not, so that receipts still commit. */
    if (b->full_level == 2 && r->event != REFBUS__V1__EVENT_TYPE__EVENT_DELIVERED &&
        r->event != REFBUS__V1__EVENT_TYPE__EVENT_EXPIRED &&
        r->event != REFBUS__V1__EVENT_TYPE__EVENT_ACCEPTED)
        return 0;
    int rc = broker_txn_check(b, refbus_audit_append_record(b->store->audit, txn, r, &idx));
    if (rc == 0) {
        b->audit_size = idx + 1;
        broker_metrics_audited(b, r);
    }
    return rc;
}

/* ---- checkpoints ------------------------------------------------------------------------- */

int broker_checkpoint(refbus_broker *b, MDB_txn *txn)
{
    uint64_t size = 0;
    int rc = refbus_audit_size(b->store->audit, txn, &size);
    /* Each checkpoint of size S is followed by its own CHECKPOINT record (index S): a trail of
     * S + 1 records has nothing new to sign. */
    if (rc || size == 0 || size <= b->last_cp_size + 1)
        return rc;
    rc = refbus_audit_checkpoint(b->store->audit, txn, b->sign_sk, refbus_now_ms(), NULL, NULL);
    if (rc == 0) {
        broker_sync_audit_size(b, txn);
        b->last_cp_size = size; /* what the signature covers; peers compare with this */
        b->last_cp_ms = refbus_mono_ms();
    }
    return broker_txn_check(b, rc);
}

/* CheckpointPush{signed_cp, from, PROOF(from, size)} in a malloc'd buffer; no proof when
 * from is 0 or not below size. Errors: those of refbus_audit_consistency_path, REFBUS_ENOMEM,
 * REFBUS_EINVAL (a proof longer than a CHECKPOINT carries). */
static int build_push(refbus_broker *b, MDB_txn *txn, uint8_t *cp, size_t cp_len, uint64_t from,
                      uint64_t size, uint8_t **out, size_t *out_len)
{
    uint8_t(*proof)[32] = NULL;
    size_t n = 0;
    int rc = 0;
    refbus_wire_checkpoint_push m = {.signed_cp = cp, .signed_cp_len = cp_len};
    if (from > 0 && from < size) {
        if ((rc = refbus_audit_consistency_path(b->store->audit, txn, from, size, &proof, &n)))
            goto out;
        m.from_size = from;
        m.proof = proof;
        m.n_proof = n;
    } else if (from == size) {
        m.from_size = from; /* PROOF(m, m) is empty */
    }
    rc = refbus_wire_checkpoint_push_encode(out, out_len, &m);
out:
    free(proof);
    return rc;
}

void broker_push_checkpoint(refbus_broker *b, peer *p, MDB_txn *rtxn)
{
    uint8_t *cp = NULL, *buf = NULL;
    size_t cp_len = 0, len = 0;
    refbus_checkpoint info;
    if (refbus_audit_latest_checkpoint(b->store->audit, rtxn, &cp, &cp_len) != 0)
        return;
    if (refbus_checkpoint_verify(&info, cp, cp_len,
                                 b->ks ? refbus_keystore_current(b->ks)->sign_pk : NULL) != 0 ||
        info.size == p->cp_size) {
        free(cp);
        return;
    }
    /* With no usable proof (the node announced nothing, or a size this trail does not reach)
     * the checkpoint goes alone: the node then asks for the proof it needs (PROOF_REQUEST). */
    uint64_t from = p->cp_size < info.size ? p->cp_size : 0;
    if (build_push(b, rtxn, cp, cp_len, from, info.size, &buf, &len) != 0 &&
        build_push(b, rtxn, cp, cp_len, 0, info.size, &buf, &len) != 0)
        goto out;
    if (refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_CHECKPOINT, buf, len) == 0)
        p->cp_size = info.size;
out:
    free(buf);
    free(cp);
}

static void proof_refuse(refbus_broker *b, const peer *p, int code, const char *text)
{
    broker_send_error(b, p->rid, p->rid_len, code, text, NULL);
    log_info("PROOF_REQUEST from %s refused: %s", p->agency, text);
}

void broker_proof_request(refbus_broker *b, MDB_txn *txn, peer *p, const uint8_t *body, size_t len)
{
    uint8_t *cp = NULL, *buf = NULL;
    size_t cp_len = 0, n = 0;
    char why[160];
    refbus_wire_proof_request r;
    int urc = refbus_wire_proof_request_decode(&r, body, len);
    if (urc) {
        if (urc == REFBUS_ENOMEM) /* ours, not the node's: it may ask again */
            proof_refuse(b, p, REFBUS_ENOMEM, "broker out of memory: ask again later");
        else
            proof_refuse(b, p, REFBUS_EPROTO, "PROOF_REQUEST body is not a ProofRequest");
        return;
    }
    uint64_t from = r.from_size, to = r.to_size;
    if (from == 0 || from > to) {
        proof_refuse(b, p, REFBUS_EINVAL, "PROOF_REQUEST needs 1 <= from_size <= to_size");
        return;
    }
    /* PROTOCOL.md 3.3 step 10: ENOTFOUND, EINVAL, or ELMDB for any failure of our own. */
    int rc = refbus_audit_checkpoint_at(b->store->audit, txn, to, &cp, &cp_len);
    if (rc && rc != REFBUS_ENOTFOUND)
        rc = REFBUS_ELMDB;
    if (rc) {
        snprintf(why, sizeof why, "no checkpoint of %llu records here: %s", (unsigned long long)to,
                 refbus_strerror(rc));
        proof_refuse(b, p, rc, why);
        return;
    }
    if ((rc = build_push(b, txn, cp, cp_len, from, to, &buf, &n))) {
        rc = rc == REFBUS_EINVAL ? rc : REFBUS_ELMDB;
        snprintf(why, sizeof why, "no proof from %llu to %llu records: %s",
                 (unsigned long long)from, (unsigned long long)to, refbus_strerror(rc));
        proof_refuse(b, p, rc, why);
    } else {
        broker_queue_out(b, p->rid, p->rid_len, REFBUS_CMD_CHECKPOINT, buf, n); /* owns buf */
        p->cp_size = to; /* what the node will hold: later pushes prove from here */
        log_debug("PROOF_REQUEST from %s: %llu -> %llu answered", p->agency,
                  (unsigned long long)from, (unsigned long long)to);
    }
    free(cp);
}
