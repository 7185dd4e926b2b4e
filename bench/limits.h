/* refbus-bench --limits: the machine's primitives, measured in the same run, and the ceiling
 * they imply for the design as built. */
#ifndef REFBUS_BENCH_LIMITS_H
#define REFBUS_BENCH_LIMITS_H

#include "bench/bench.h"

typedef struct bench_limits {
    /* medians, microseconds per operation */
    double sign_us, verify_us, x25519_us, aead2k_us, lmdb_commit_us, fsync_us, curve_rtt_us;
    double lmdb_p10_us, fsync_p10_us; /* the fastest tenth: the disk when nobody else flushes */
    /* implied by them and the counts per referral (limits.c says where each count comes from) */
    double crypto_us;      /* CPU of the public-key and AEAD work per referral, all processes */
    double cpu_ceiling;    /* referrals/s with every core doing only that cryptography */
    double sender_ceiling; /* referrals/s one sending node's serial synced commits allow */
    double w1_floor_us;    /* window 1: the critical path to ACCEPTED */
    double w1_ceiling;     /* window 1: referrals/s per sending node */
    int cores;
} bench_limits;

/* Measure (about 2 s in all) in directory `dir`. 0, or -1 with err set. */
int bench_limits_measure(bench_limits *l, const char *dir, char *err, size_t errlen);
/* Keep the faster of each primitive (a measurement before and one after the run: the machine
 * at its least disturbed) and derive the ceilings again. */
void bench_limits_best(bench_limits *l, const bench_limits *other);
/* The ceiling for a run with `senders` sending nodes and `window` in flight each. */
double bench_limits_ceiling(const bench_limits *l, int senders, int window);
void bench_limits_print(const bench_limits *l);

#endif
