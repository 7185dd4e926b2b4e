/* refbus-bench: shared types of the benchmark program (main.c parses options and prints, the
 * other files each do one part: procs.c the processes it starts, network.c the refbus network,
 * workload.c the referrals through the nodes' C API, redis.c the Redis Streams comparison,
 * limits.c the machine's primitives). Times are CLOCK_MONOTONIC microseconds. */
#ifndef REFBUS_BENCH_BENCH_H
#define REFBUS_BENCH_BENCH_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_NODES 32    /* senders, and recipients, each */
#define BENCH_MAX_WINDOW 1000 /* one outbox page (the node lists at most 1000 per answer) */

typedef struct bench_opts {
    long messages;  /* referrals in all, spread over the senders */
    long size;      /* bytes of the referral's summary (Redis: bytes of the same document) */
    int senders;    /* sending nodes */
    int recipients; /* receiving nodes; referral i of a sender goes to recipient i mod R */
    int window;     /* per sender: referrals handed to the node and not yet ACCEPTED */
    int callers;    /* per sender: threads calling refbus_node_send, each its own handle */
    int poll_us;    /* pause between two outbox / inbox polls */
    int timeout_s;  /* the whole measured phase, per workload */
    int limits;     /* --limits */
    int redis;      /* --compare redis */
    int keep;       /* --keep: leave the temporary directory */
    const char *bin_dir;
} bench_opts;

/* One process started by the benchmark, with what is read from /proc and the sync shim. */
typedef struct bench_proc {
    char name[48];
    pid_t pid;
    uint64_t ticks[2]; /* utime + stime (clock ticks) at the start and end of the measurement */
    uint64_t syncs[2]; /* flushes counted by the shim at the start and end */
    long hwm_kb;       /* VmHWM, read just before the process is stopped */
} bench_proc;

/* What one workload measured (refbus or Redis). Latencies are per message, 0 = not seen. */
typedef struct bench_result {
    long messages, acked, delivered, failed;
    long polls; /* refbus: outbox and inbox requests made to watch the referrals */
    uint64_t t0, t_last_ack, t_last_dlv;
    uint64_t *lat_ack, *lat_dlv; /* messages entries each, microseconds */
    char error[256];             /* why the workload stopped early ("" when it did not) */
} bench_result;

/* Percentiles of a latency array (entries 0 ignored), in microseconds. */
typedef struct bench_pct {
    uint64_t p50, p99, max;
    size_t n;
} bench_pct;

/* Set by SIGINT / SIGTERM (main.c): every workload loop stops, the daemons are stopped and the
 * temporary directory removed as at a normal end. The program's only global. */
extern volatile sig_atomic_t bench_interrupted;

uint64_t bench_now_us(void);
int bench_pct_of(bench_pct *out, const uint64_t *lat, size_t n); /* 0, or -1 out of memory */

/* procs.c */
uint64_t bench_proc_ticks(pid_t pid);                       /* utime + stime, 0 when unreadable */
long bench_proc_hwm_kb(pid_t pid);                          /* VmHWM in KiB, -1 when unreadable */
uint64_t bench_proc_syncs(const char *sync_dir, pid_t pid); /* flushes counted so far */
/* Start argv[0] with extra environment (NULL-terminated "K=V" list, may be NULL), stdin from
 * /dev/null, stdout and stderr appended to `log`. 0 or -1 (errno). */
int bench_spawn(bench_proc *p, const char *name, char *const argv[], char *const env[],
                const char *log);
/* Run argv to its end (at most timeout_s), output appended to `log`: its exit status, or -1. */
int bench_run(char *const argv[], const char *log, int timeout_s);
/* SIGTERM, wait at most 10 s, then SIGKILL. Reads VmHWM first. Accepts pid 0. */
void bench_stop(bench_proc *p);
int bench_alive(bench_proc *p); /* reaps a dead one (then pid = 0) */
void bench_snap(bench_proc *p, int which, const char *sync_dir);
int bench_free_port(void); /* a free loopback TCP port, or -1 */
int bench_rm_rf(const char *dir);
/* The referral document the workloads send: case_ref, summary of `size` bytes. malloc'd. */
char *bench_referral_json(const char *case_ref, long size);

#endif
