/* A daemon's data directory and the LMDB files in it: the exclusive lock a daemon holds for its
 * lifetime (two daemons on one store would both write), the checks made before LMDB maps a file
 * (a truncated or damaged file must be an error message, not SIGBUS), and the one mapping from
 * LMDB return codes to refbus codes (what is a full map, a full disk, a store that is gone). */
#ifndef REFBUS_COMMON_DATADIR_H
#define REFBUS_COMMON_DATADIR_H

#include <stddef.h>

#include "common/err.h"

/* Take DIR/NAME (created mode 0600 if missing) with an exclusive flock held until *fd is closed
 * (i.e. for the process lifetime), and write our pid into it. DIR itself is never created here:
 * a mistyped directory is an error, not a new store. On success *fd is the lock's descriptor
 * (the caller closes it on exit). Errors: REFBUS_ENOTFOUND (DIR does not exist or is not a
 * directory), REFBUS_EEXIST (another process holds the lock: *holder is its pid as written in
 * the file, 0 when unknown), REFBUS_EIO (errno says why). */
int refbus_datadir_lock(const char *dir, const char *name, int *fd, long *holder) REFBUS_WUR;

/* Check an LMDB data file before it is opened: both meta pages are read with pread (never
 * mapped) and checked (magic, version, page size, page numbers), and the file must hold every
 * page up to the last one the newest meta page names (a shorter file is what turns into SIGBUS
 * once mapped). This catches truncation, an empty file and damaged meta pages; it cannot prove
 * that the tree pages are sound. 0 when the file looks usable; REFBUS_ENOTFOUND when it does not
 * exist; REFBUS_ECORRUPT with a reason in `why` (always NUL-terminated when whylen > 0), and
 * *truncated (when not NULL) set to 1 when the meta pages are sound and the file is only too
 * short (the pages before the cut may still be read, at the risk of SIGBUS), else 0;
 * REFBUS_EIO when it cannot be read. */
int refbus_lmdb_file_check(const char *path, char *why, size_t whylen, int *truncated) REFBUS_WUR;

/* The one mapping of an LMDB (or errno) return code to a refbus code, for the broker, the node
 * and the audit log: 0; MDB_NOTFOUND -> REFBUS_ENOTFOUND; MDB_MAP_FULL, MDB_TXN_FULL ->
 * REFBUS_EMAPFULL (the map is full: frees itself as queues drain); ENOSPC, EDQUOT ->
 * REFBUS_ENOSPC (the disk is full); ENOMEM -> REFBUS_ENOMEM; EIO -> REFBUS_EIO (a write failed:
 * the transaction is gone, the environment may still be fine — LMDB says MDB_PANIC from then on
 * if it is not); MDB_KEYEXIST -> REFBUS_ECORRUPT (refbus writes ordered keys with MDB_APPEND, so
 * it means the counters and the data disagree; a caller using MDB_NOOVERWRITE checks for
 * MDB_KEYEXIST itself); MDB_PANIC, MDB_CORRUPTED, MDB_PAGE_NOTFOUND, MDB_INVALID,
 * MDB_VERSION_MISMATCH -> REFBUS_ESTORAGE (the environment can no longer be trusted: the daemon
 * must stop and say why); anything else -> REFBUS_ELMDB. Every result is transient by
 * refbus_err_permanent: a storage failure never refuses a message for good. */
int refbus_lmdb_code(int mdb_rc);

/* refbus_lmdb_code, and an error line naming `what` (the operation) and LMDB's own words for
 * the failures nobody else reports: REFBUS_ELMDB, REFBUS_ESTORAGE, REFBUS_EIO, REFBUS_ECORRUPT
 * (a full map or disk, a missing key, out of memory are the caller's to report or handle). */
int refbus_lmdb_err(int mdb_rc, const char *what);

/* The same for a failed commit of the environment in `dir`: LMDB turns a short write (a disk
 * that filled up in the middle of writing pages) into EIO, so an EIO or ENOSPC while the file
 * system of `dir` has less than 1% or 16 MiB free is REFBUS_ENOSPC. */
int refbus_lmdb_commit_code(int mdb_rc, const char *dir);

#endif
