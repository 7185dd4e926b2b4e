/* Read-only access to a broker's audit trail for auditors: open a data directory (or a copy of
 * it, or the data file itself) with MDB_RDONLY, and walk it in short read transactions (pages),
 * so a live broker's writes are never held up and the file does not grow behind a long reader. */
#ifndef REFBUS_AUDIT_READER_H
#define REFBUS_AUDIT_READER_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "audit/guard.h"
#include "audit/log.h"
#include "common/err.h"

/* Records per read transaction when walking the trail. */
#define REFBUS_AUDIT_PAGE 65536u

typedef struct refbus_audit_reader refbus_audit_reader;

/* Open `path` read-only: a directory holding data.mdb (a broker data directory or an mdb_copy of
 * one) or a data file itself (mdb_copy -n). When the lock file cannot be created or opened
 * (read-only media, no permission), the trail is opened without locking; that is safe only when
 * no broker writes to it, and refbus_audit_reader_unlocked() says so.
 * Errors: REFBUS_ENOTFOUND (no such path, no data.mdb, or no audit log in it), REFBUS_ECORRUPT
 * (the data file is truncated or its meta pages are damaged: see refbus_lmdb_file_check),
 * REFBUS_ELMDB, REFBUS_EIO, REFBUS_ENOMEM. */
int refbus_audit_reader_open(refbus_audit_reader **out, const char *path) REFBUS_WUR;
/* The same, for a caller that reads under refbus_audit_guard: the data file is checked first
 * (refbus_lmdb_file_check); a damaged one is noted in `w` (damaged, why) and opened all the
 * same, so that whatever can still be read is (a crash is the guard's to report). Without a
 * watch (`w` NULL, refbus_audit_reader_open) a damaged file is REFBUS_ECORRUPT, never mapped.
 * The reader notes its progress in `w` (records read) as it goes. */
int refbus_audit_reader_open_watched(refbus_audit_reader **out, const char *path,
                                     refbus_audit_watch *w) REFBUS_WUR;
/* The watch given at open (NULL if none): verify notes what it has proven there. */
refbus_audit_watch *refbus_audit_reader_watch(refbus_audit_reader *r);
void refbus_audit_reader_close(refbus_audit_reader **r);

int refbus_audit_reader_unlocked(const refbus_audit_reader *r);
refbus_audit *refbus_audit_reader_log(refbus_audit_reader *r);

/* A (re)started short read transaction, valid until the next call or reader_release(); owned
 * by the reader. Survives the writer growing the map (MDB_MAP_RESIZED). Errors: REFBUS_ELMDB. */
int refbus_audit_reader_txn(refbus_audit_reader *r, MDB_txn **txn) REFBUS_WUR;
/* End the current read transaction (keeps its slot for the next one). */
void refbus_audit_reader_release(refbus_audit_reader *r);

/* Called for each record; `rec` is valid only during the call. Return 0 to go on, 1 to stop,
 * or a negative REFBUS_E* code to stop with that error. */
typedef int (*refbus_audit_record_fn)(void *ctx, uint64_t index, const uint8_t *rec, size_t len);
/* Walk records with from <= index < to in key order, one read txn per REFBUS_AUDIT_PAGE
 * records. Returns 0, the callback's error, REFBUS_ECORRUPT (a key that is not 8 bytes) or
 * REFBUS_ELMDB. Missing indexes are simply not visited (verify is the tool that names them). */
int refbus_audit_scan(refbus_audit_reader *r, uint64_t from, uint64_t to, refbus_audit_record_fn fn,
                      void *ctx) REFBUS_WUR;

#endif
