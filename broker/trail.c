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
#include "wire.pb-c.h"

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
    if ((rc == REFBUS_EMAPFULL || rc == REFBUS_ENOSPC || rc == REFBUS_ELMDB ||
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
    if (rc == 0)
        b->audit_size = idx + 1;
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

void broker_push_checkpoint(refbus_broker *b, peer *p, MDB_txn *rtxn)
{
    uint8_t *cp = NULL, (*proof)[32] = NULL;
    size_t cp_len = 0, n = 0;
    refbus_checkpoint info;
    if (refbus_audit_latest_checkpoint(b->store->audit, rtxn, &cp, &cp_len) != 0)
        return;
    if (refbus_checkpoint_verify(&info, cp, cp_len, b->ks ? refbus_keystore_current(b->ks)->sign_pk
                                                          : NULL) != 0 ||
        info.size == p->cp_size) {
        free(cp);
        return;
    }
    Refbus__V1__CheckpointPush m = REFBUS__V1__CHECKPOINT_PUSH__INIT;
    ProtobufCBinaryData *hs = NULL;
    m.signed_checkpoint = (ProtobufCBinaryData){cp_len, cp};
    if (p->cp_size > 0 && p->cp_size < info.size &&
        refbus_audit_consistency_proof(b->store->audit, rtxn, p->cp_size, info.size, &proof,
                                       &n) == 0) {
        hs = calloc(n ? n : 1, sizeof *hs);
        for (size_t i = 0; hs && i < n; i++)
            hs[i] = (ProtobufCBinaryData){32, proof[i]};
        m.from_size = p->cp_size;
        m.n_consistency = hs ? n : 0;
        m.consistency = hs;
    }
    size_t len = refbus__v1__checkpoint_push__get_packed_size(&m);
    uint8_t *buf = malloc(len);
    if (buf) {
        refbus__v1__checkpoint_push__pack(&m, buf);
        if (refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_CHECKPOINT, buf, len) ==
            0)
            p->cp_size = info.size;
        free(buf);
    }
    free(hs);
    free(proof);
    free(cp);
}
