/* The broker's durable state in one LMDB environment (DATA_DIR/data.mdb): envelopes, per-agency
 * delivery queues, permanent de-duplication, notices for senders, the expiry index, metadata,
 * and the audit trail (audit/), all written together in the caller's write transaction.
 * Layout in docs/PROTOCOL.md section 5. Nothing here ever holds plaintext. */
#ifndef REFBUS_BROKER_STORE_H
#define REFBUS_BROKER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "audit/log.h"
#include "common/err.h"
#include "proto/envelope.h"

typedef struct refbus_bstore {
    MDB_env *env;
    MDB_dbi envs;    /* seq(8 BE) -> envelope bytes */
    MDB_dbi pending; /* seq(8 BE) -> u32 LE recipients not yet delivered/expired */
    MDB_dbi dedup;   /* sender 0x00 msg_id(16) -> struct dedup_val + ACCEPTED receipt bytes */
    MDB_dbi queue;   /* agency 0x00 (255-priority) seq(8 BE) -> expires_ms(8 BE) */
    MDB_dbi notices; /* agency 0x00 nseq(8 BE) -> SignedReceipt bytes for the sender */
    MDB_dbi expiry;  /* expires_ms(8 BE) seq(8 BE) agency -> "" */
    MDB_dbi meta;    /* "next_seq", "directory" (signed bytes) -> value */
    refbus_audit *audit;
    /* The next envelope / notice sequence number. Written to meta ("next_seq") in the same
     * write transaction as each use; when that transaction aborts later, this copy stays ahead
     * of the disk: a gap in the numbers, never a reuse (reopening reads it back from meta). */
    uint64_t next_seq;
} refbus_bstore;

/* What dedup remembers of an accepted message, forever (permanent de-duplication). */
typedef struct refbus_dedup_info {
    uint64_t seq;
    uint32_t priority;
    uint64_t expires_ms;
    uint8_t envelope_hash[REFBUS_HASH_BYTES];
    const uint8_t *receipt; /* ACCEPTED receipt bytes; points into LMDB memory (valid in txn) */
    size_t receipt_len;
} refbus_dedup_info;

/* Open DATA_DIR/data.mdb with `map_size` bytes of map; runs mdb_reader_check. With `create`
 * the file must not exist yet and a new store is made (refbus-broker init); without it the file
 * must exist, pass refbus_lmdb_file_check and hold the broker's databases: a missing, empty or
 * damaged file is an error naming it, never a new empty store. The directory must exist.
 * Errors: REFBUS_ENOTFOUND (no data.mdb), REFBUS_EEXIST (create, and it exists),
 * REFBUS_ECORRUPT (damaged or not a broker store), REFBUS_EIO, REFBUS_ELMDB, REFBUS_ENOMEM. */
int refbus_bstore_open(refbus_bstore **out, const char *dir, size_t map_size,
                       int create) REFBUS_WUR;
void refbus_bstore_close(refbus_bstore **s);
/* Check every table before the store is served (broker/store_check.c; called by
 * refbus_bstore_open without `create`): a damaged row is repaired from the rows holding the
 * truth or moved to broker.quarantine, each with a warning naming its table and key; a next_seq
 * that could reuse a sequence number refuses the store (logged, nothing changed). Rules in
 * docs/PROTOCOL.md section 5. Errors: REFBUS_ECORRUPT (refused), REFBUS_ENOMEM, storage errors. */
int refbus_bstore_check(refbus_bstore *s) REFBUS_WUR;
/* REFBUS_ESTORAGE when the environment is unusable (LMDB panic after a failed write, ...): the
 * broker must stop. 0 otherwise (a transient failure to begin is not reported here). */
int refbus_bstore_health(refbus_bstore *s) REFBUS_WUR;

/* An LMDB return code as a refbus code by the one mapping (refbus_lmdb_err in common/datadir.h:
 * MDB_MAP_FULL -> REFBUS_EMAPFULL, ENOSPC -> REFBUS_ENOSPC, MDB_PANIC and the like ->
 * REFBUS_ESTORAGE), logging the odd ones. */
int refbus_bstore_err(int mdb_rc);

/* Look up (sender, msg_id). 0, REFBUS_ENOTFOUND, REFBUS_ELMDB. */
int refbus_bstore_dedup_get(refbus_bstore *s, MDB_txn *txn, const char *sender,
                            const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                            refbus_dedup_info *out) REFBUS_WUR;

/* Store an accepted envelope with its queue entries, expiry entries and dedup record (seq is
 * assigned here and returned). The ACCEPTED receipt is stored with it by
 * refbus_bstore_set_receipt once signed. Errors: REFBUS_EMAPFULL, REFBUS_ELMDB. */
int refbus_bstore_accept(refbus_bstore *s, MDB_txn *txn, const refbus_envelope_header *h,
                         const uint8_t *env, size_t env_len, uint64_t *seq) REFBUS_WUR;
int refbus_bstore_set_receipt(refbus_bstore *s, MDB_txn *txn, const refbus_envelope_header *h,
                              uint64_t seq, const uint8_t *receipt, size_t len) REFBUS_WUR;

/* The broker.pending value: `n` recipients (u32 LE), then the sender whose quota the envelope
 * counts against. Returns its length. */
size_t refbus_bstore_pending_value(uint8_t out[4 + REFBUS_AGENCY_ID_MAX], uint32_t n,
                                   const char *sender);

/* Remove one recipient's queue entry for `seq` (delivered or expired); frees the envelope when
 * it was the last. REFBUS_ENOTFOUND when it was not queued for `agency`. */
int refbus_bstore_dequeue(refbus_bstore *s, MDB_txn *txn, const char *agency, uint32_t priority,
                          uint64_t seq, uint64_t expires_ms) REFBUS_WUR;

/* Fetch an envelope by seq (pointer into LMDB memory, valid while txn lives). */
int refbus_bstore_envelope(refbus_bstore *s, MDB_txn *txn, uint64_t seq, const uint8_t **env,
                           size_t *len) REFBUS_WUR;

/* Queue a notice (a receipt for a sender); *nseq receives its number. */
int refbus_bstore_notice_add(refbus_bstore *s, MDB_txn *txn, const char *agency,
                             const uint8_t *receipt, size_t len, uint64_t *nseq) REFBUS_WUR;
int refbus_bstore_notice_del(refbus_bstore *s, MDB_txn *txn, const char *agency,
                             uint64_t nseq) REFBUS_WUR;

/* Build a queue/notice key: agency 0x00 [byte] seq. Returns the key length. */
size_t refbus_bstore_qkey(uint8_t *out, const char *agency, int prio_byte, uint64_t seq);

/* Count queue entries for `agency` (O(depth); for status only). */
uint64_t refbus_bstore_queue_depth(refbus_bstore *s, MDB_txn *txn, const char *agency);
/* The same count, and in *oldest_ms the created time (the sender's clock) of the envelope
 * queued longest for `agency` (the lowest seq: seqs grow with acceptance), 0 when none is
 * queued. O(depth); for status and metrics. Errors: those of LMDB (REFBUS_ELMDB, ...),
 * REFBUS_ECORRUPT when the queued envelope is missing or does not parse. */
int refbus_bstore_queue_oldest(refbus_bstore *s, MDB_txn *txn, const char *agency, uint64_t *depth,
                               uint64_t *oldest_ms) REFBUS_WUR;

/* Envelope bytes `agency` has queued (accepted, not yet delivered to or expired for every
 * recipient): counted by refbus_bstore_accept, released when the envelope is freed. 0, or a
 * storage error. */
int refbus_bstore_queued_bytes(refbus_bstore *s, MDB_txn *txn, const char *agency,
                               uint64_t *bytes) REFBUS_WUR;

/* Bytes of live data in the environment and its map size: the file's last page, less the pages
 * on LMDB's free list as of the last commit (counted, in a read txn of its own, only when the
 * file is above `enough` bytes). `txn` is not used (may be NULL). */
int refbus_bstore_usage(refbus_bstore *s, MDB_txn *txn, uint64_t enough, uint64_t *used,
                        uint64_t *map) REFBUS_WUR;

int refbus_bstore_meta_get(refbus_bstore *s, MDB_txn *txn, const char *key,
                           MDB_val *val) REFBUS_WUR;
int refbus_bstore_meta_put(refbus_bstore *s, MDB_txn *txn, const char *key, const void *data,
                           size_t len) REFBUS_WUR;

#endif
