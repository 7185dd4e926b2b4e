/* Typed records of the node store (nodes/store/node_store.proto) on top of the encrypted tables:
 * outbox, sent, inbox (with its dedup index) and threads. Every function works inside the
 * caller's transaction so that the daemon can change several tables atomically (store an
 * inbox message and its thread update, or queue an answer and record it in its thread). */
#ifndef REFBUS_NODES_RECORDS_H
#define REFBUS_NODES_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "nodes/store/codec.h"
#include "nodes/store/store.h"
#include "nodes/rules/thread.h"

/* Outbox: add assigns the next sequence number (*seq) and indexes msg_id.
 * Errors: those of refbus_nstore_put, REFBUS_EEXIST (msg id already queued or sent). */
int refbus_nstore_outbox_add(refbus_nstore *s, MDB_txn *txn, const refbus_outbox_rec *r,
                             uint64_t *seq) REFBUS_WUR;
/* Rewrite an entry in place. */
int refbus_nstore_outbox_update(refbus_nstore *s, MDB_txn *txn, uint64_t seq,
                                const refbus_outbox_rec *r) REFBUS_WUR;
/* *out owned by the caller (refbus_nstore_outbox_free). Errors: REFBUS_ENOTFOUND, REFBUS_ECORRUPT.
 */
int refbus_nstore_outbox_get(refbus_nstore *s, MDB_txn *txn, uint64_t seq,
                             refbus_outbox_rec **out) REFBUS_WUR;
int refbus_nstore_outbox_find(refbus_nstore *s, MDB_txn *txn,
                              const uint8_t msg_id[REFBUS_MSG_ID_BYTES], uint64_t *seq) REFBUS_WUR;
int refbus_nstore_outbox_remove(refbus_nstore *s, MDB_txn *txn, uint64_t seq,
                                const uint8_t msg_id[REFBUS_MSG_ID_BYTES]) REFBUS_WUR;
void refbus_nstore_outbox_free(refbus_outbox_rec **r);

/* Sent (ACCEPTED by the broker), keyed by msg id. */
int refbus_nstore_sent_put(refbus_nstore *s, MDB_txn *txn, const refbus_sent_rec *r) REFBUS_WUR;
int refbus_nstore_sent_get(refbus_nstore *s, MDB_txn *txn,
                           const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                           refbus_sent_rec **out) REFBUS_WUR;
void refbus_nstore_sent_free(refbus_sent_rec **r);

/* Inbox. find: the seq of (sender, msg_id) or REFBUS_ENOTFOUND. add: assigns r->seq (the
 * caller's record is updated), stores the record and both index entries.
 * find_msg: by msg id alone (the first stored, for `inbox show` and `reply`). */
int refbus_nstore_inbox_find(refbus_nstore *s, MDB_txn *txn, const char *sender,
                             const uint8_t msg_id[REFBUS_MSG_ID_BYTES], uint64_t *seq) REFBUS_WUR;
int refbus_nstore_inbox_find_msg(refbus_nstore *s, MDB_txn *txn,
                                 const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                                 uint64_t *seq) REFBUS_WUR;
int refbus_nstore_inbox_add(refbus_nstore *s, MDB_txn *txn, refbus_inbox_rec *r) REFBUS_WUR;
int refbus_nstore_inbox_get(refbus_nstore *s, MDB_txn *txn, uint64_t seq,
                            refbus_inbox_rec **out) REFBUS_WUR;
void refbus_nstore_inbox_free(refbus_inbox_rec **r);

/* Threads, keyed by thread id. get: REFBUS_ENOTFOUND when there is none. */
int refbus_nstore_thread_get(refbus_nstore *s, MDB_txn *txn, const uint8_t thread_id[16],
                             refbus_thread **out) REFBUS_WUR;
int refbus_nstore_thread_put(refbus_nstore *s, MDB_txn *txn, const refbus_thread *t) REFBUS_WUR;

/* Clear metadata by name (directory bytes, checkpoint, alarms). */
int refbus_nstore_meta_get(refbus_nstore *s, MDB_txn *txn, const char *name, uint8_t **val,
                           size_t *len) REFBUS_WUR;
int refbus_nstore_meta_put(refbus_nstore *s, MDB_txn *txn, const char *name, const void *val,
                           size_t len) REFBUS_WUR;

#endif
