/* refbus-bench --compare redis: the same workload on Redis Streams with appendfsync always. */
#ifndef REFBUS_BENCH_REDIS_H
#define REFBUS_BENCH_REDIS_H

#include "bench/bench.h"

/* Start redis-server (found on PATH or in /usr/bin) in dir on a free loopback port with the sync
 * shim, run the workload, stop it. proc gets its counters (snapshots around the measured phase)
 * and peak RSS. 0, or -1 with res->error set. */
int bench_redis_run(const bench_opts *o, const char *dir, const char *shim, const char *sync_dir,
                    bench_proc *proc, bench_proc *self, bench_result *res);
/* 1 when this program was built with hiredis. */
int bench_redis_built(void);

#endif
