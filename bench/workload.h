/* The refbus workload of refbus-bench: referrals submitted through the nodes' C API
 * (nodes/client/refbus_node.h), ACCEPTED seen in the sending node's outbox, delivery seen in
 * the recipient node's inbox. */
#ifndef REFBUS_BENCH_WORKLOAD_H
#define REFBUS_BENCH_WORKLOAD_H

#include "bench/network.h"

/* Run o->messages referrals through the started network n. res->lat_* are allocated here (the
 * caller frees them). snap(ctx, which) is called just before the first send (0) and after the
 * last delivery or the timeout (1), to read the processes' counters. 0 when every referral was
 * accepted and delivered, -1 otherwise (res->error says why). */
int bench_refbus_run(bench_net *n, const bench_opts *o, bench_result *res,
                     void (*snap)(void *ctx, int which), void *ctx);

#endif
