/* The refbus network refbus-bench measures: keys made with refbus-keys in a temporary directory,
 * one real refbus-broker and one real refbus-node per agency (senders bench.s1..., recipients
 * bench.r1...), on loopback, each started with the sync-counting shim. */
#ifndef REFBUS_BENCH_NETWORK_H
#define REFBUS_BENCH_NETWORK_H

#include "bench/bench.h"

typedef struct bench_net {
    char dir[2048];      /* the temporary directory (everything lives in it) */
    char bin[PATH_MAX];  /* refbus-keys, refbus-broker, refbus-node */
    char shim[PATH_MAX]; /* librefbus_bench_sync.so, "" when absent (no flush counts) */
    char sync_dir[2100]; /* the shim's counter files */
    int port;
    int n_send, n_recv;
    char ids[2 * BENCH_MAX_NODES][24]; /* senders first, then recipients */
    char confs[2 * BENCH_MAX_NODES][2200];
    bench_proc broker;
    bench_proc nodes[2 * BENCH_MAX_NODES];
} bench_net;

/* Make the temporary directory and the keys, start the broker and every node and wait until
 * each node has its broker session (at most ~60 s). On failure err says which step and the
 * caller still calls bench_net_stop. 0 or -1. */
int bench_net_start(bench_net *n, const bench_opts *o, const char *self_dir, char *err,
                    size_t errlen);
/* Stop every process (SIGTERM, then SIGKILL after 10 s; VmHWM read first). */
void bench_net_stop(bench_net *n);
/* Remove the temporary directory unless keep. */
void bench_net_free(bench_net *n, int keep);

#endif
