/* Reading a hostile copy of a trail without crashing. LMDB trusts its file: a truncated file
 * (SIGBUS) or a flipped byte in a tree page (SIGSEGV inside LMDB) kills whoever reads it, and
 * no check short of rewriting LMDB's reader catches every such file. So the part that reads runs
 * in a forked child; the child notes its progress in shared memory (a store per record, no
 * system call), and when it dies the caller still knows how far it got: which records were read
 * and which of them a verified signed checkpoint covers. */
#ifndef REFBUS_AUDIT_GUARD_H
#define REFBUS_AUDIT_GUARD_H

#include <stdint.h>

#include "common/err.h"

typedef struct refbus_audit_watch {
    volatile uint64_t read;   /* records 0 .. read-1 were read */
    volatile uint64_t proven; /* records 0 .. proven-1 match a verified signed checkpoint */
    volatile uint64_t size;   /* records in the trail, once known */
    volatile int opened;      /* 1 once the LMDB environment is open */
    volatile int damaged;     /* refbus_lmdb_file_check found the file damaged (why says how) */
    char path[512];           /* the data file */
    char why[256];
} refbus_audit_watch;

typedef struct refbus_audit_outcome {
    int signal;              /* the signal that killed the child, 0 if it exited */
    int status;              /* its exit status, when it exited */
    refbus_audit_watch seen; /* the watch as the child left it */
} refbus_audit_outcome;

/* Run fn(ctx, watch) in a forked child and wait for it. fn's return value (0..255) is the
 * child's exit status; the child's SIGSEGV and SIGBUS are reset to their defaults so that a
 * crash is a signal the parent sees (not a sanitizer's or fuzzer's report). stdout and stderr
 * are flushed before the fork. 0 and *out filled, or REFBUS_EIO (mmap, fork or waitpid failed,
 * errno says why). */
int refbus_audit_guard(int (*fn)(void *ctx, refbus_audit_watch *w), void *ctx,
                       refbus_audit_outcome *out) REFBUS_WUR;

#endif
