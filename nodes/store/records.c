/* Typed store records on the sealed tables: the outbox with its msg-id index, sent messages, the
 * inbox with its keyed dedup index, threads and clear metadata. Records are packed and unpacked
 * by the codec (codec.c); plaintext buffers are wiped after use. */
#include "nodes/store/records.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "proto/pbutil.h"

#define IDX_SENDER_MSG "inbox/sender+msg"
#define IDX_MSG "inbox/msg"
#define OUTBOX_NEXT "outbox-next-seq"

static void wipe_free(uint8_t **b, size_t len)
{
    refbus_nstore_free_value(b, len);
}

static int put_msg(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                   size_t klen, const ProtobufCMessage *m)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = refbus_pb_pack(&b, &n, m); /* plaintext: wiped and freed below */
    if (rc == 0)
        rc = refbus_nstore_put(s, txn, t, key, klen, b, n);
    wipe_free(&b, n);
    return rc;
}

/* Get and unpack with `desc`; a record that does not decode is ECORRUPT. */
static int get_msg(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                   size_t klen, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = refbus_nstore_get(s, txn, t, key, klen, &b, &n);
    if (rc)
        return rc;
    ProtobufCMessage *m = refbus_nrec_unpack(desc, b, n);
    wipe_free(&b, n);
    if (!m)
        return REFBUS_ECORRUPT;
    *out = m;
    return 0;
}

int refbus_nstore_outbox_add(refbus_nstore *s, MDB_txn *txn, const refbus_outbox_rec *r,
                             uint64_t *seq)
{
    uint8_t k[8], *v = NULL;
    size_t vl = 0;
    uint64_t n;
    int rc;
    if (r->msg_id.len != REFBUS_MSG_ID_BYTES)
        return REFBUS_EINVAL;
    rc = refbus_nstore_get(s, txn, REFBUS_T_OUTBOX_IDS, r->msg_id.data, REFBUS_MSG_ID_BYTES, &v,
                           &vl);
    wipe_free(&v, vl);
    if (rc == 0)
        return REFBUS_EEXIST;
    if (rc != REFBUS_ENOTFOUND)
        return rc;
    rc = refbus_nstore_get(s, txn, REFBUS_T_SENT, r->msg_id.data, REFBUS_MSG_ID_BYTES, &v, &vl);
    wipe_free(&v, vl);
    if (rc == 0)
        return REFBUS_EEXIST;
    if (rc != REFBUS_ENOTFOUND)
        return rc;
    /* Sequence numbers are never reused (entries leave the outbox when accepted, and the
     * daemon's pump remembers how far it got), so the next one is kept in meta. */
    if ((rc = refbus_nstore_next_seq(s, txn, REFBUS_T_OUTBOX, &n)))
        return rc;
    rc = refbus_nstore_get(s, txn, REFBUS_T_META, OUTBOX_NEXT, sizeof OUTBOX_NEXT - 1, &v, &vl);
    if (rc == 0 && vl == 8 && refbus_get_u64be(v) > n)
        n = refbus_get_u64be(v);
    wipe_free(&v, vl);
    if (rc && rc != REFBUS_ENOTFOUND)
        return rc;
    refbus_put_u64be(k, n + 1);
    if ((rc = refbus_nstore_put(s, txn, REFBUS_T_META, OUTBOX_NEXT, sizeof OUTBOX_NEXT - 1, k, 8)))
        return rc;
    refbus_put_u64be(k, n);
    if ((rc = put_msg(s, txn, REFBUS_T_OUTBOX, k, 8, &r->base)) ||
        (rc = refbus_nstore_put(s, txn, REFBUS_T_OUTBOX_IDS, r->msg_id.data, REFBUS_MSG_ID_BYTES, k,
                                8)))
        return rc;
    *seq = n;
    return 0;
}

int refbus_nstore_outbox_update(refbus_nstore *s, MDB_txn *txn, uint64_t seq,
                                const refbus_outbox_rec *r)
{
    uint8_t k[8];
    refbus_put_u64be(k, seq);
    return put_msg(s, txn, REFBUS_T_OUTBOX, k, 8, &r->base);
}

int refbus_nstore_outbox_get(refbus_nstore *s, MDB_txn *txn, uint64_t seq, refbus_outbox_rec **out)
{
    uint8_t k[8];
    refbus_put_u64be(k, seq);
    int rc = get_msg(s, txn, REFBUS_T_OUTBOX, k, 8, &refbus__nodestore__outbox_record__descriptor,
                     (ProtobufCMessage **)out);
    if (rc == 0 && ((*out)->msg_id.len != 16 || (*out)->envelope.len == 0)) {
        refbus_nstore_outbox_free(out);
        return REFBUS_ECORRUPT;
    }
    return rc;
}

int refbus_nstore_outbox_find(refbus_nstore *s, MDB_txn *txn,
                              const uint8_t msg_id[REFBUS_MSG_ID_BYTES], uint64_t *seq)
{
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = refbus_nstore_get(s, txn, REFBUS_T_OUTBOX_IDS, msg_id, REFBUS_MSG_ID_BYTES, &v, &vl);
    if (rc == 0 && vl != 8)
        rc = REFBUS_ECORRUPT;
    if (rc == 0)
        *seq = refbus_get_u64be(v);
    wipe_free(&v, vl);
    return rc;
}

int refbus_nstore_outbox_remove(refbus_nstore *s, MDB_txn *txn, uint64_t seq,
                                const uint8_t msg_id[REFBUS_MSG_ID_BYTES])
{
    uint8_t k[8];
    int rc;
    refbus_put_u64be(k, seq);
    if ((rc = refbus_nstore_del(s, txn, REFBUS_T_OUTBOX, k, 8)))
        return rc;
    rc = refbus_nstore_del(s, txn, REFBUS_T_OUTBOX_IDS, msg_id, REFBUS_MSG_ID_BYTES);
    return rc == REFBUS_ENOTFOUND ? 0 : rc;
}

void refbus_nstore_outbox_free(refbus_outbox_rec **r)
{
    if (r && *r) {
        refbus_nrec_free(&(*r)->base);
        *r = NULL;
    }
}

int refbus_nstore_sent_put(refbus_nstore *s, MDB_txn *txn, const refbus_sent_rec *r)
{
    if (r->msg_id.len != REFBUS_MSG_ID_BYTES)
        return REFBUS_EINVAL;
    return put_msg(s, txn, REFBUS_T_SENT, r->msg_id.data, REFBUS_MSG_ID_BYTES, &r->base);
}

int refbus_nstore_sent_get(refbus_nstore *s, MDB_txn *txn,
                           const uint8_t msg_id[REFBUS_MSG_ID_BYTES], refbus_sent_rec **out)
{
    return get_msg(s, txn, REFBUS_T_SENT, msg_id, REFBUS_MSG_ID_BYTES,
                   &refbus__nodestore__sent_record__descriptor, (ProtobufCMessage **)out);
}

void refbus_nstore_sent_free(refbus_sent_rec **r)
{
    if (r && *r) {
        refbus_nrec_free(&(*r)->base);
        *r = NULL;
    }
}

static int idx_get(refbus_nstore *s, MDB_txn *txn, const uint8_t key[32], uint64_t *seq)
{
    uint8_t *v = NULL;
    size_t vl = 0;
    int rc = refbus_nstore_get(s, txn, REFBUS_T_INBOX_IDX, key, 32, &v, &vl);
    if (rc == 0 && vl != 8)
        rc = REFBUS_ECORRUPT;
    if (rc == 0)
        *seq = refbus_get_u64be(v);
    wipe_free(&v, vl);
    return rc;
}

int refbus_nstore_inbox_find(refbus_nstore *s, MDB_txn *txn, const char *sender,
                             const uint8_t msg_id[REFBUS_MSG_ID_BYTES], uint64_t *seq)
{
    uint8_t key[32];
    refbus_nstore_index_key(s, key, IDX_SENDER_MSG, sender, strlen(sender), msg_id,
                            REFBUS_MSG_ID_BYTES);
    return idx_get(s, txn, key, seq);
}

int refbus_nstore_inbox_find_msg(refbus_nstore *s, MDB_txn *txn,
                                 const uint8_t msg_id[REFBUS_MSG_ID_BYTES], uint64_t *seq)
{
    uint8_t key[32];
    refbus_nstore_index_key(s, key, IDX_MSG, msg_id, REFBUS_MSG_ID_BYTES, NULL, 0);
    return idx_get(s, txn, key, seq);
}

int refbus_nstore_inbox_add(refbus_nstore *s, MDB_txn *txn, refbus_inbox_rec *r)
{
    uint8_t k[8], key[32];
    uint64_t n, other;
    int rc;
    if (r->msg_id.len != 16 || !r->sender)
        return REFBUS_EINVAL;
    if ((rc = refbus_nstore_next_seq(s, txn, REFBUS_T_INBOX, &n)))
        return rc;
    r->seq = n;
    refbus_put_u64be(k, n);
    if ((rc = put_msg(s, txn, REFBUS_T_INBOX, k, 8, &r->base)))
        return rc;
    refbus_nstore_index_key(s, key, IDX_SENDER_MSG, r->sender, strlen(r->sender), r->msg_id.data,
                            16);
    if ((rc = refbus_nstore_put(s, txn, REFBUS_T_INBOX_IDX, key, 32, k, 8)))
        return rc;
    rc = refbus_nstore_inbox_find_msg(s, txn, r->msg_id.data, &other);
    if (rc == REFBUS_ENOTFOUND) {
        refbus_nstore_index_key(s, key, IDX_MSG, r->msg_id.data, REFBUS_MSG_ID_BYTES, NULL, 0);
        rc = refbus_nstore_put(s, txn, REFBUS_T_INBOX_IDX, key, 32, k, 8);
    }
    return rc;
}

int refbus_nstore_inbox_get(refbus_nstore *s, MDB_txn *txn, uint64_t seq, refbus_inbox_rec **out)
{
    uint8_t k[8];
    refbus_put_u64be(k, seq);
    int rc = get_msg(s, txn, REFBUS_T_INBOX, k, 8, &refbus__nodestore__inbox_record__descriptor,
                     (ProtobufCMessage **)out);
    if (rc == 0 && (*out)->msg_id.len != REFBUS_MSG_ID_BYTES) {
        refbus_nstore_inbox_free(out);
        return REFBUS_ECORRUPT;
    }
    return rc;
}

void refbus_nstore_inbox_free(refbus_inbox_rec **r)
{
    if (r && *r) {
        refbus_nrec_free(&(*r)->base);
        *r = NULL;
    }
}

int refbus_nstore_thread_get(refbus_nstore *s, MDB_txn *txn, const uint8_t thread_id[16],
                             refbus_thread **out)
{
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = refbus_nstore_get(s, txn, REFBUS_T_THREADS, thread_id, 16, &b, &n);
    if (rc)
        return rc;
    rc = refbus_thread_unpack(out, b, n);
    wipe_free(&b, n);
    return rc;
}

int refbus_nstore_thread_put(refbus_nstore *s, MDB_txn *txn, const refbus_thread *t)
{
    if (t->thread_id.len != 16)
        return REFBUS_EINVAL;
    return put_msg(s, txn, REFBUS_T_THREADS, t->thread_id.data, 16, &t->base);
}

int refbus_nstore_meta_get(refbus_nstore *s, MDB_txn *txn, const char *name, uint8_t **val,
                           size_t *len)
{
    return refbus_nstore_get(s, txn, REFBUS_T_META, name, strlen(name), val, len);
}

int refbus_nstore_meta_put(refbus_nstore *s, MDB_txn *txn, const char *name, const void *val,
                           size_t len)
{
    return refbus_nstore_put(s, txn, REFBUS_T_META, name, strlen(name), val, len);
}
