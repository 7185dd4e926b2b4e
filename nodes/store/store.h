/* The node's local store: one LMDB environment (DATA_DIR/store/) with a few tables, every
 * content record sealed with XChaCha20-Poly1305 under a per-table key derived from the
 * keystore's storage key, so that a stolen disk without the passphrase reveals no referral.
 * Only LMDB keys (random ids, sequence numbers, keyed hashes) and public data (the signed
 * directory, the audit checkpoint) are stored in the clear. docs/NODE.md "Store layout". */
#ifndef REFBUS_NODES_STORE_H
#define REFBUS_NODES_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "common/err.h"

enum refbus_table {
    REFBUS_T_META = 0,   /* name -> public bytes (clear): directory, checkpoint, counters */
    REFBUS_T_OUTBOX,     /* seq u64be -> sealed OutboxRecord */
    REFBUS_T_OUTBOX_IDS, /* msg_id -> seq u64be (clear) */
    REFBUS_T_SENT,       /* msg_id -> sealed SentRecord */
    REFBUS_T_INBOX,      /* seq u64be -> sealed InboxRecord */
    REFBUS_T_INBOX_IDX,  /* keyed hash (sender, msg id) or (msg id) -> seq u64be (clear) */
    REFBUS_T_THREADS,    /* thread_id -> sealed ThreadRecord */
    REFBUS_T_COUNT
};

typedef struct refbus_nstore refbus_nstore;

/* Open `dir` (DIR/data.mdb) with map size `map_bytes`, keys derived from `storage_key` (32
 * bytes; copied into sodium_malloc'd memory). With `create` a missing store is created (the
 * directory too; refbus-node init); without it DIR/data.mdb must exist and pass
 * refbus_lmdb_file_check: a missing, empty or damaged file is an error naming it, never a new
 * empty store. A store made under another storage key is refused. On success *out is the
 * caller's (refbus_nstore_close). Errors: REFBUS_ENOTFOUND (no data.mdb and not `create`),
 * REFBUS_EIO, REFBUS_ELMDB, REFBUS_ECORRUPT (damaged, or another storage key), REFBUS_ENOMEM,
 * REFBUS_EINVAL. */
int refbus_nstore_open(refbus_nstore **out, const char *dir, const uint8_t storage_key[32],
                       size_t map_bytes, int create) REFBUS_WUR;
/* Closes the environment and wipes the keys; accepts NULL; sets *s to NULL. */
/* REFBUS_ESTORAGE once the store has seen a fatal LMDB error (MDB_PANIC, corruption, I/O):
 * the environment can no longer be used and the daemon must stop and say why; 0 otherwise.
 * Probes with a read transaction (cheap) while no error has been seen. */
int refbus_nstore_fatal(refbus_nstore *s) REFBUS_WUR;
void refbus_nstore_close(refbus_nstore **s);

/* Transactions: write ones are committed with a full sync (durable when commit returns 0).
 * Errors: REFBUS_ELMDB, REFBUS_EMAPFULL (commit), REFBUS_ENOSPC (commit: the disk is full,
 * also when LMDB says EIO), REFBUS_EIO, REFBUS_ESTORAGE. abort() accepts NULL; both set *txn
 * NULL. */
int refbus_nstore_begin(refbus_nstore *s, int write, MDB_txn **txn) REFBUS_WUR;
int refbus_nstore_commit(MDB_txn **txn) REFBUS_WUR;
void refbus_nstore_abort(MDB_txn **txn);

/* Put `len` bytes under `key`: sealed for content tables, as is for clear ones.
 * Errors: REFBUS_EMAPFULL, REFBUS_ELMDB, REFBUS_ENOMEM, REFBUS_ETOOLARGE. */
int refbus_nstore_put(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                      size_t klen, const void *val, size_t len) REFBUS_WUR;
/* Get and (for content tables) open the value. *val is malloc'd (caller frees with
 * refbus_nstore_free_value, which wipes it). Errors: REFBUS_ENOTFOUND, REFBUS_ECORRUPT (does not
 * open: altered, moved to another key, or another storage key), REFBUS_ELMDB, REFBUS_ENOMEM. */
int refbus_nstore_get(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                      size_t klen, uint8_t **val, size_t *len) REFBUS_WUR;
/* Errors: REFBUS_ENOTFOUND, REFBUS_ELMDB. */
int refbus_nstore_del(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                      size_t klen) REFBUS_WUR;
void refbus_nstore_free_value(uint8_t **val, size_t len);

/* The next sequence number of a table keyed by u64be (1 for an empty table). */
int refbus_nstore_next_seq(refbus_nstore *s, MDB_txn *txn, enum refbus_table t,
                           uint64_t *seq) REFBUS_WUR;

/* Walk a table in key order from `from` (NULL: the start; `reverse`: from the end backwards),
 * opening each value; `fn` returns 0 to go on, 1 to stop, or an error that is passed through.
 * The value passed to fn is wiped after fn returns. A record that does not open (damaged) is
 * skipped with a warning naming its table and key: one bad record never stops the others.
 * Errors: those of get() but REFBUS_ECORRUPT, or fn's. */
typedef int (*refbus_nstore_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
                                size_t len);
int refbus_nstore_scan(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *from,
                       size_t flen, int reverse, refbus_nstore_fn fn, void *ctx) REFBUS_WUR;
/* Number of entries in a table. */
int refbus_nstore_count(refbus_nstore *s, MDB_txn *txn, enum refbus_table t,
                        uint64_t *n) REFBUS_WUR;

/* A keyed hash (BLAKE2b-256 under a key derived from the storage key) of `domain` and the
 * parts: index keys that do not reveal who sent what. */
void refbus_nstore_index_key(const refbus_nstore *s, uint8_t out[32], const char *domain,
                             const void *a, size_t alen, const void *b, size_t blen);

#endif
