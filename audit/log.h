/* The audit log inside the caller's LMDB environment (DESIGN section 6, docs/AUDIT-FORMAT.md):
 * records keyed by 8-byte big-endian index (MDB_APPEND), the RFC 6962 tree's complete subtree
 * hashes stored as records arrive (about two per record), signed checkpoints keyed by size.
 * Appends run inside the CALLER's write transaction, so a record commits together with the
 * state change it describes. Reads take a txn or NULL (then a short read txn of their own). */
#ifndef REFBUS_AUDIT_LOG_H
#define REFBUS_AUDIT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "audit.pb-c.h"
#include "common/err.h"
#include "audit/checkpoint.h"

/* Named databases (the environment needs maxdbs >= 4 for them besides its own). */
#define REFBUS_AUDIT_DB_META "audit.meta"
#define REFBUS_AUDIT_DB_RECORDS "audit.records"
#define REFBUS_AUDIT_DB_TREE "audit.tree"
#define REFBUS_AUDIT_DB_CHECKPOINTS "audit.checkpoints"
/* Largest record accepted by append (records are small: ids, hashes, a receipt). */
#define REFBUS_AUDIT_RECORD_MAX (64u * 1024u)

typedef struct refbus_audit refbus_audit;

/* Opens (and, unless readonly, creates) the audit's named databases in `env` in a txn of its own
 * (so no other write txn of this thread may be open), creating the random 32-byte log id on
 * first use. The handle holds only DBI numbers and the log id: it may be shared by threads.
 * Errors: REFBUS_ELMDB, REFBUS_ENOTFOUND (readonly and no log), REFBUS_ENOMEM,
 * REFBUS_ECORRUPT (a log id of the wrong length). */
int refbus_audit_open(refbus_audit **out, MDB_env *env, int readonly) REFBUS_WUR;
void refbus_audit_free(refbus_audit **a);

/* The log's 32-byte random id (fixed when the log was created). */
void refbus_audit_log_id(const refbus_audit *a, uint8_t out[REFBUS_AUDIT_LOG_ID_BYTES]);

/* Append inside the caller's write txn: key = 8-byte big-endian index (MDB_APPEND), value = the
 * exact record bytes; tree hashes stored as it goes. *index = the record's index (may be NULL).
 * On error the txn may hold part of the append: the caller must abort it.
 * Errors: REFBUS_ELMDB, REFBUS_EMAPFULL (MDB_MAP_FULL), REFBUS_EINVAL (empty, too large, or a
 * read-only handle), REFBUS_ECORRUPT (stored tree out of step with the records). */
int refbus_audit_append(refbus_audit *a, MDB_txn *txn, const uint8_t *rec, size_t len,
                        uint64_t *index) REFBUS_WUR;
/* Append `n` records in one go: *first = index of
 * recs[0] (may be NULL). Errors as refbus_audit_append. */
int refbus_audit_append_many(refbus_audit *a, MDB_txn *txn, const uint8_t *const *recs,
                             const size_t *lens, size_t n, uint64_t *first) REFBUS_WUR;
/* Pack an AuditRecord and append it. The packed copy gets version 1 if 0, and `index` set to
 * its own position; `r` itself is not modified. Errors as refbus_audit_append, REFBUS_ENOMEM. */
int refbus_audit_append_record(refbus_audit *a, MDB_txn *txn, Refbus__V1__AuditRecord *r,
                               uint64_t *index) REFBUS_WUR;

/* Number of records. Errors: REFBUS_ELMDB, REFBUS_ECORRUPT (a key that is not 8 bytes). */
int refbus_audit_size(refbus_audit *a, MDB_txn *txn, uint64_t *size) REFBUS_WUR;
/* The RFC 6962 root of the first `size` records (size <= current size): one stored hash per set
 * bit of size, O(log n) reads. Errors: REFBUS_EINVAL (size too large), REFBUS_ELMDB,
 * REFBUS_ECORRUPT (a stored hash missing). */
int refbus_audit_root(refbus_audit *a, MDB_txn *txn, uint64_t size,
                      uint8_t root[REFBUS_MERKLE_HASH_BYTES]) REFBUS_WUR;
/* Record `index`: *rec points into LMDB memory, valid until `txn` ends (txn must not be NULL).
 * Errors: REFBUS_ENOTFOUND, REFBUS_ELMDB. */
int refbus_audit_get(refbus_audit *a, MDB_txn *txn, uint64_t index, const uint8_t **rec,
                     size_t *len) REFBUS_WUR;

/* Sign and store a checkpoint of the current size inside the caller's txn, then append an
 * EVENT_CHECKPOINT record describing it (checkpoint_size, checkpoint_root, signed_checkpoint,
 * time_ms = now_ms) at index = that size. So the trail itself carries every checkpoint, each
 * later checkpoint covers the record of the earlier one, and no two checkpoints share a size.
 * The checkpoint's own record is covered only by the next checkpoint.
 * *out = malloc'd SignedCheckpoint bytes, owned by the caller (out may be NULL).
 * Errors: as refbus_audit_append, REFBUS_ENOMEM, REFBUS_EEXIST (a checkpoint of this size
 * exists: only possible when raw appends bypassed the rule above). */
int refbus_audit_checkpoint(refbus_audit *a, MDB_txn *txn,
                            const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES], uint64_t now_ms,
                            uint8_t **out, size_t *out_len) REFBUS_WUR;
/* The newest stored checkpoint, malloc'd (caller frees). Errors: REFBUS_ENOTFOUND if none,
 * REFBUS_ELMDB, REFBUS_ENOMEM. */
int refbus_audit_latest_checkpoint(refbus_audit *a, MDB_txn *txn, uint8_t **out,
                                   size_t *out_len) REFBUS_WUR;
/* The stored checkpoint of exactly `size` records, malloc'd. Errors as latest_checkpoint. */
int refbus_audit_checkpoint_at(refbus_audit *a, MDB_txn *txn, uint64_t size, uint8_t **out,
                               size_t *out_len) REFBUS_WUR;
/* For scheduling checkpoints ("every N records or T seconds"): *uncovered = records appended
 * since the newest checkpoint, not counting that checkpoint's own record (all records when there
 * is none); *last_time_ms = its time (0 when none). Either pointer may be NULL.
 * Errors: REFBUS_ELMDB, REFBUS_ECORRUPT. */
int refbus_audit_uncovered(refbus_audit *a, MDB_txn *txn, uint64_t *uncovered,
                           uint64_t *last_time_ms) REFBUS_WUR;

/* Proofs from the stored hashes (O(log n) reads). *proof = malloc'd array of 32-byte hashes,
 * owned by the caller (NULL when empty). Inclusion: index < size <= current size; consistency:
 * m <= n <= current size. Errors: REFBUS_EINVAL, REFBUS_ELMDB, REFBUS_ECORRUPT, REFBUS_ENOMEM. */
int refbus_audit_inclusion_path(refbus_audit *a, MDB_txn *txn, uint64_t index, uint64_t size,
                                uint8_t (**proof)[REFBUS_MERKLE_HASH_BYTES], size_t *n) REFBUS_WUR;
int refbus_audit_consistency_path(refbus_audit *a, MDB_txn *txn, uint64_t m, uint64_t n,
                                  uint8_t (**proof)[REFBUS_MERKLE_HASH_BYTES],
                                  size_t *count) REFBUS_WUR;

/* DBI handles, for readers that walk the databases with their own cursors (verify). */
typedef struct refbus_audit_dbis {
    MDB_dbi meta, records, tree, checkpoints;
} refbus_audit_dbis;
void refbus_audit_get_dbis(const refbus_audit *a, refbus_audit_dbis *out);

/* Key encodings (docs/AUDIT-FORMAT.md). A tree key names the complete subtree of 2^level leaves
 * that ends at leaf `last`: u64be(last) || u8(level), so keys grow in append order. */
void refbus_audit_key(uint8_t out[8], uint64_t index);
uint64_t refbus_audit_key_get(const uint8_t in[8]);
void refbus_audit_tree_key(uint8_t out[9], uint64_t last, unsigned level);

#endif
