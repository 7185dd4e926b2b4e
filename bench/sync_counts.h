/* The page librefbus_bench_sync.so (sync_shim.c) shares with refbus-bench: one file per counted
 * process, $REFBUS_BENCH_SYNC_DIR/PID.sync, updated with atomic adds while the process runs. */
#ifndef REFBUS_BENCH_SYNC_COUNTS_H
#define REFBUS_BENCH_SYNC_COUNTS_H

#include <stdint.h>

typedef struct refbus_bench_sync_counts {
    uint64_t fsyncs;       /* fsync, fdatasync, syncfs, sync, sync_file_range, msync(MS_SYNC) */
    uint64_t dsync_writes; /* writes to a descriptor opened O_SYNC / O_DSYNC */
} refbus_bench_sync_counts;

#endif
