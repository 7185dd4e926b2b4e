/* Audit checkpoints pushed by the broker: verified against the broker's key from the directory
 * and, when we hold an earlier one, against it with the consistency proof. An inconsistent
 * checkpoint (history rewritten or truncated) is refused loudly: logged as an error, kept in
 * the store as an alarm, shown by `status`; the old checkpoint stays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "nodes/node_int.h"

static json_t *cp_json(const refbus_checkpoint *cp)
{
    char root[65];
    refbus_hex(root, cp->root, 32);
    return json_pack("{s:I, s:s, s:I}", "size", (json_int_t)cp->size, "root", root, "time_ms",
                     (json_int_t)cp->time_ms);
}

static void raise_alarm(refbus_noded *d, const refbus_checkpoint *offered, const char *why)
{
    MDB_txn *txn = NULL;
    json_t *a = json_pack("{s:I, s:s, s:o, s:o}", "time_ms", (json_int_t)refbus_now_ms(),
                          "reason", why, "held", cp_json(&d->cp), "offered", cp_json(offered));
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
    if (text && refbus_store_begin(d->store, 1, &txn) == 0 &&
        refbus_meta_put(d->store, txn, "checkpoint_alarm", text, strlen(text)) == 0 &&
        refbus_store_commit(&txn) != 0)
        log_error("the audit alarm could not be stored");
    refbus_store_abort(&txn);
    free(text);
}

/* Verify with the broker's active key, else any of its keys the directory trusts for READ
 * (a rotation; never a revoked epoch nor one at or below a revoked one). */
static int verify_cp(refbus_noded *d, refbus_checkpoint *out, const uint8_t *b, size_t n)
{
    const uint8_t *pk = refbus_directory_broker_sign_pk(d->dir);
    int rc = pk ? refbus_checkpoint_verify(out, b, n, pk) : REFBUS_EUNKNOWNPEER;
    for (size_t i = 0; rc == REFBUS_EBADSIG && i < refbus_directory_broker_key_count(d->dir);
         i++) {
        const refbus_dir_key *k = refbus_directory_broker_key_at(d->dir, i);
        if (k && refbus_directory_key_trust(d->dir, refbus_directory_broker_id(d->dir), k->epoch,
                                            REFBUS_KEY_READ, NULL) == 0)
            rc = refbus_checkpoint_verify(out, b, n, k->sign_pk);
    }
    return rc;
}

void inbound_checkpoint(refbus_noded *d, const uint8_t *body, size_t len)
{
    refbus_bmsg_checkpoint *c = calloc(1, sizeof *c);
    refbus_checkpoint cp;
    MDB_txn *txn = NULL;
    int rc;
    if (!c)
        return;
    if ((rc = refbus_bmsg_checkpoint_parse(c, body, len))) {
        log_warn("malformed CHECKPOINT ignored");
        goto out;
    }
    if ((rc = verify_cp(d, &cp, c->signed_cp, c->signed_cp_len))) {
        node_note_error(d, rc, "a checkpoint from the broker does not verify (%s): refused",
                        refbus_strerror(rc));
        d->n.checkpoints_refused++;
        goto out;
    }
    if (d->have_cp) {
        if (memcmp(cp.log_id, d->cp.log_id, 32) != 0) {
            raise_alarm(d, &cp, "it belongs to another log (log id differs)");
            goto out;
        }
        if (cp.size < d->cp.size) {
            raise_alarm(d, &cp, "the trail is shorter than before (truncated)");
            goto out;
        }
        if (cp.size == d->cp.size) {
            if (memcmp(cp.root, d->cp.root, 32) != 0)
                raise_alarm(d, &cp, "same size, different root");
            goto out; /* nothing new */
        }
        if (c->from_size != d->cp.size) {
            log_warn("checkpoint %llu comes with a proof from size %llu, we hold %llu: not "
                     "checked, not installed",
                     (unsigned long long)cp.size, (unsigned long long)c->from_size,
                     (unsigned long long)d->cp.size);
            goto out;
        }
        if ((rc = refbus_checkpoint_consistent(&d->cp, &cp, (const uint8_t(*)[32])c->proof,
                                               c->n_proof))) {
            raise_alarm(d, &cp, "the consistency proof does not verify");
            goto out;
        }
    }
    if ((rc = refbus_store_begin(d->store, 1, &txn)) ||
        (rc = refbus_meta_put(d->store, txn, "checkpoint", c->signed_cp, c->signed_cp_len)) ||
        (rc = refbus_store_commit(&txn))) {
        node_note_error(d, rc, "storing the checkpoint: %s", refbus_strerror(rc));
        goto out;
    }
    d->cp = cp;
    d->have_cp = 1;
    d->n.checkpoints_verified++;
    log_debug("audit checkpoint size %llu verified", (unsigned long long)cp.size);
out:
    refbus_store_abort(&txn);
    refbus_bmsg_checkpoint_clear(c);
    free(c);
}

int inbound_load_checkpoint(refbus_noded *d)
{
    MDB_txn *txn = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = refbus_store_begin(d->store, 0, &txn);
    if (rc)
        return rc;
    if ((rc = refbus_meta_get(d->store, txn, "checkpoint", &b, &n)) == 0) {
        if (refbus_checkpoint_parse(&d->cp, b, n) == 0)
            d->have_cp = 1;
        else
            log_error("the stored audit checkpoint does not parse; starting without one");
    }
    refbus_store_free_value(&b, n);
    if ((rc = refbus_meta_get(d->store, txn, "checkpoint_alarm", &b, &n)) == 0)
        d->cp_alarm = json_loadb((const char *)b, n, 0, NULL);
    refbus_store_free_value(&b, n);
    refbus_store_abort(&txn);
    if (d->cp_alarm)
        log_error("AUDIT ALARM raised earlier is still on record (see `refbus-node status`)");
    return rc == REFBUS_ENOTFOUND ? 0 : rc;
}
