/* refbus-bench: referrals through a real refbus network (broker and refbus-node daemons with
 * real keys, in a temporary directory, on loopback), submitted through the nodes' C API; with
 * --limits the machine's primitives and the ceiling they imply, with --compare redis the same
 * workload on Redis Streams (appendfsync always) in the same run. Ends with one key=value line.
 * Exit 0: every referral accepted and delivered; 1: a run failed; 2: usage. See
 * refbus-bench(1) and docs/BENCHMARKS.md. */
#include <getopt.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bench/limits.h"
#include "bench/network.h"
#include "bench/redis.h"
#include "bench/report.h"
#include "bench/workload.h"

#ifndef REFBUS_VERSION
#define REFBUS_VERSION "unknown"
#endif

volatile sig_atomic_t bench_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: refbus-bench [options]\n"
            "  -n, --messages N     referrals in all (default 10000)\n"
            "  -s, --size BYTES     bytes of each referral's summary (default 2048, max 16384)\n"
            "  -S, --senders N      sending nodes (default 1, max %d)\n"
            "  -R, --recipients N   receiving nodes (default 1, max %d)\n"
            "  -w, --window N       per sender, referrals not yet ACCEPTED (default 64, max %d)\n"
            "      --callers N      per sender, threads calling the API (default min(window,4), "
            "max 16)\n"
            "      --poll-us US     pause between outbox / inbox polls (default 500)\n"
            "      --timeout S      bound on each measured run (default 600)\n"
            "      --limits         also measure the machine's primitives and the ceiling\n"
            "      --compare redis  also run the workload on Redis Streams (appendfsync always)\n"
            "      --bin-dir DIR    where refbus-keys, refbus-broker, refbus-node are\n"
            "      --keep           keep the temporary directory\n"
            "  -h, --help  this help;  -V, --version  the version\n",
            BENCH_MAX_NODES, BENCH_MAX_NODES, BENCH_MAX_WINDOW);
    if (!bench_redis_built())
        fprintf(f, "(built without hiredis: --compare redis is not available)\n");
}

static int bad(const char *what)
{
    fprintf(stderr, "refbus-bench: %s\n", what);
    return 2;
}

/* A whole number in [lo, hi], or -1. */
static long num(const char *s, long lo, long hi)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= lo && v <= hi ? v : -1;
}

typedef struct ctx {
    bench_net *n;
    bench_proc self;
} ctx;

static void snap_all(void *p, int which)
{
    ctx *c = p;
    bench_snap(&c->n->broker, which, c->n->sync_dir);
    for (int i = 0; i < c->n->n_send + c->n->n_recv; i++)
        bench_snap(&c->n->nodes[i], which, c->n->sync_dir);
    bench_snap(&c->self, which, NULL);
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {{"messages", required_argument, 0, 'n'},
                                          {"size", required_argument, 0, 's'},
                                          {"senders", required_argument, 0, 'S'},
                                          {"recipients", required_argument, 0, 'R'},
                                          {"window", required_argument, 0, 'w'},
                                          {"callers", required_argument, 0, 'c'},
                                          {"poll-us", required_argument, 0, 'p'},
                                          {"timeout", required_argument, 0, 't'},
                                          {"limits", no_argument, 0, 'L'},
                                          {"compare", required_argument, 0, 'C'},
                                          {"bin-dir", required_argument, 0, 'b'},
                                          {"keep", no_argument, 0, 'k'},
                                          {"help", no_argument, 0, 'h'},
                                          {"version", no_argument, 0, 'V'},
                                          {0, 0, 0, 0}};
    bench_opts o = {10000, 2048, 1, 1, 64, 0, 500, 600, 0, 0, 0, NULL};
    int c;
    while ((c = getopt_long(argc, argv, "n:s:S:R:w:hV", lopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if ((o.messages = num(optarg, 1, 10000000)) < 0)
                return bad("--messages: a number from 1 to 10000000");
            break;
        case 's':
            if ((o.size = num(optarg, 1, 16384)) < 0)
                return bad("--size: a number of bytes from 1 to 16384 (a summary is at most "
                           "16 KiB)");
            break;
        case 'S':
            if ((o.senders = (int)num(optarg, 1, BENCH_MAX_NODES)) < 0)
                return bad("--senders: a number from 1 to 32");
            break;
        case 'R':
            if ((o.recipients = (int)num(optarg, 1, BENCH_MAX_NODES)) < 0)
                return bad("--recipients: a number from 1 to 32");
            break;
        case 'w':
            if ((o.window = (int)num(optarg, 1, BENCH_MAX_WINDOW)) < 0)
                return bad("--window: a number from 1 to 1000");
            break;
        case 'c':
            if ((o.callers = (int)num(optarg, 1, 16)) < 0)
                return bad("--callers: a number from 1 to 16");
            break;
        case 'p':
            if ((o.poll_us = (int)num(optarg, 0, 1000000)) < 0)
                return bad("--poll-us: microseconds from 0 to 1000000");
            break;
        case 't':
            if ((o.timeout_s = (int)num(optarg, 1, 86400)) < 0)
                return bad("--timeout: seconds from 1 to 86400");
            break;
        case 'L': o.limits = 1; break;
        case 'C':
            if (strcmp(optarg, "redis") != 0)
                return bad("--compare: only \"redis\" is known");
            o.redis = 1;
            break;
        case 'b': o.bin_dir = optarg; break;
        case 'k': o.keep = 1; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("refbus-bench %s\n", REFBUS_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        return bad("unexpected argument (see --help)");
    if (o.messages < o.senders)
        return bad("--messages must be at least --senders");
    if (!o.callers)
        o.callers = o.window < 4 ? o.window : 4;
    if (o.callers > o.window)
        return bad("--callers cannot exceed --window");
    if (o.redis && !bench_redis_built())
        return bad("--compare redis: this refbus-bench was built without hiredis "
                   "(libhiredis-dev)");
    if (sodium_init() < 0)
        return 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a blocked wait returns and sees the flag */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Argon2id at its minimum for the test passphrase: it costs only at start, never per
     * referral. Nothing of the caller's environment may point the tools elsewhere. */
    setenv("REFBUS_KDF_LIMIT", "min", 1);
    unsetenv("REFBUS_PASSPHRASE_FILE");
    unsetenv("REFBUS_BUNDLE_PASSPHRASE_FILE");
    unsetenv("REFBUS_ADMIN_DIR");
    unsetenv("LD_PRELOAD");
    char self_dir[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
    if (len <= 0)
        return bad("cannot find my own directory (/proc/self/exe)");
    self_dir[len] = 0;
    *strrchr(self_dir, '/') = 0;

    static bench_net n;
    char err[512] = "";
    ctx cx = {&n, {"client", getpid(), {0, 0}, {0, 0}, -1}};
    bench_limits lim;
    bench_result rr, rd;
    bench_proc redis = {"redis-server", 0, {0, 0}, {0, 0}, -1}, rself = cx.self;
    int status = 0, have_lim = 0, have_redis = 0;
    memset(&rr, 0, sizeof rr);
    memset(&rd, 0, sizeof rd);
    printf("refbus-bench %s: %ld referrals of %ld bytes, %d sender(s) x window %d (%d caller(s) "
           "each), %d recipient(s)\n",
           REFBUS_VERSION, o.messages, o.size, o.senders, o.window, o.callers, o.recipients);
    fflush(stdout);
    if (bench_net_start(&n, &o, self_dir, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-bench: %s\n", err);
        bench_net_stop(&n);
        bench_net_free(&n, o.keep);
        return 1;
    }
    if (!n.shim[0])
        fprintf(stderr, "refbus-bench: librefbus_bench_sync.so not found: flushes not counted\n");
    char ldir[2][sizeof n.dir + 16];
    for (int k = 0; k < 2; k++) {
        snprintf(ldir[k], sizeof ldir[k], "%s/limits%d", n.dir, k);
        if (o.limits && mkdir(ldir[k], 0700) != 0) {
            fprintf(stderr, "refbus-bench: --limits: cannot make %s\n", ldir[k]);
            o.limits = 0;
        }
    }
    if (o.limits) { /* before the run, and again after it: the faster of the two counts */
        if (bench_limits_measure(&lim, ldir[0], err, sizeof err) != 0)
            fprintf(stderr, "refbus-bench: --limits: %s\n", err);
        else
            have_lim = 1;
    }
    if (bench_refbus_run(&n, &o, &rr, snap_all, &cx) != 0) {
        fprintf(stderr, "refbus-bench: refbus: %s\n", rr.error);
        status = 1;
    }
    if (have_lim) {
        bench_limits lim2;
        if (bench_limits_measure(&lim2, ldir[1], err, sizeof err) == 0)
            bench_limits_best(&lim, &lim2);
    }
    bench_net_stop(&n);
    cx.self.hwm_kb = bench_proc_hwm_kb(getpid());
    if (o.redis) {
        if (bench_redis_run(&o, n.dir, n.shim, n.sync_dir, &redis, &rself, &rd) != 0) {
            fprintf(stderr, "refbus-bench: %s\n", rd.error);
            status = 1;
        } else {
            have_redis = 1;
        }
    }

    if (bench_report(&o, &n, &cx.self, &rr, have_lim ? &lim : NULL, have_redis ? &rd : NULL, &redis,
                     &rself, status) != 0)
        status = 1;
    free(rr.lat_ack);
    free(rr.lat_dlv);
    free(rd.lat_ack);
    free(rd.lat_dlv);
    bench_net_free(&n, o.keep);
    return status;
}
