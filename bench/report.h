/* refbus-bench's report (report.c): human lines, then the summary line. */
#ifndef REFBUS_BENCH_REPORT_H
#define REFBUS_BENCH_REPORT_H

#include "bench/limits.h"
#include "bench/network.h"

/* Print the refbus run rr (its processes in n and self), the limits (NULL: none) and the Redis
 * run rd (NULL: none; its server redis, its client rself); the summary line says result=fail
 * when status is not 0. 0, or -1 out of memory (nothing more printed). */
int bench_report(const bench_opts *o, const bench_net *n, const bench_proc *self,
                 const bench_result *rr, const bench_limits *lim, const bench_result *rd,
                 const bench_proc *redis, const bench_proc *rself, int status);

#endif
