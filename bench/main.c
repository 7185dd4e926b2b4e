/* refbus-bench: referrals through a real refbus network (broker and refbus-node daemons with
 * real keys, in a temporary directory, on loopback), submitted through the nodes' C API; with
 * --limits the machine's primitives and the ceiling they imply, with --compare redis the same
 * workload on Redis Streams (appendfsync always) in the same run. Ends with one key=value line.
 * Exit 0: every referral accepted and delivered; 1: a run failed; 2: usage. See
 * refbus-bench(1) and docs/BENCHMARKS.md. */
#include <getopt.h>
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
#include "bench/workload.h"

#ifndef REFBUS_VERSION
#define REFBUS_VERSION "unknown"
#endif

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

static double ms(uint64_t us)
{
    return (double)us / 1e3;
}

static double per(uint64_t v, long count)
{
    return count > 0 ? (double)v / (double)count : 0;
}

static double rate(long count, uint64_t t0, uint64_t t1)
{
    return t1 > t0 ? (double)count * 1e6 / (double)(t1 - t0) : 0;
}

/* CPU microseconds and flushes of processes [from, to) of the network, summed. */
static void sum(const bench_net *n, int from, int to, uint64_t *ticks, uint64_t *syncs, long *hwm)
{
    *ticks = *syncs = 0;
    *hwm = -1;
    for (int i = from; i < to; i++) {
        const bench_proc *p = &n->nodes[i];
        *ticks += p->ticks[1] - p->ticks[0];
        *syncs += p->syncs[1] - p->syncs[0];
        if (p->hwm_kb > *hwm) *hwm = p->hwm_kb;
    }
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
        case 'L':
            o.limits = 1;
            break;
        case 'C':
            if (strcmp(optarg, "redis") != 0) return bad("--compare: only \"redis\" is known");
            o.redis = 1;
            break;
        case 'b':
            o.bin_dir = optarg;
            break;
        case 'k':
            o.keep = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("refbus-bench %s\n", REFBUS_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) return bad("unexpected argument (see --help)");
    if (o.messages < o.senders) return bad("--messages must be at least --senders");
    if (!o.callers) o.callers = o.window < 4 ? o.window : 4;
    if (o.callers > o.window) return bad("--callers cannot exceed --window");
    if (o.redis && !bench_redis_built())
        return bad("--compare redis: this refbus-bench was built without hiredis "
                   "(libhiredis-dev)");
    if (sodium_init() < 0) return 1;

    /* Argon2id at its minimum for the test passphrase: it costs only at start, never per
     * referral. Nothing of the caller's environment may point the tools elsewhere. */
    setenv("REFBUS_KDF_LIMIT", "min", 1);
    unsetenv("REFBUS_PASSPHRASE_FILE");
    unsetenv("REFBUS_BUNDLE_PASSPHRASE_FILE");
    unsetenv("REFBUS_ADMIN_DIR");
    unsetenv("LD_PRELOAD");
    char self_dir[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self_dir, sizeof self_dir - 1);
    if (len <= 0) return bad("cannot find my own directory (/proc/self/exe)");
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
        if (o.limits && mkdir(ldir[k], 0700) != 0) o.limits = 0;
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

    /* Report */
    long tck = sysconf(_SC_CLK_TCK);
    double us_tick = 1e6 / (double)(tck > 0 ? tck : 100);
    long done = rr.delivered > 0 ? rr.delivered : 1;
    bench_pct pa, pd;
    if (bench_pct_of(&pa, rr.lat_ack, (size_t)rr.messages) ||
        bench_pct_of(&pd, rr.lat_dlv, (size_t)rr.messages))
        return 1;
    double acc_s = rate(rr.acked, rr.t0, rr.t_last_ack),
           dlv_s = rate(rr.delivered, rr.t0, rr.t_last_dlv);
    uint64_t st, ss, rt, rs;
    long sh, rh;
    sum(&n, 0, n.n_send, &st, &ss, &sh);
    sum(&n, n.n_send, n.n_send + n.n_recv, &rt, &rs, &rh);
    uint64_t bt = n.broker.ticks[1] - n.broker.ticks[0], bs = n.broker.syncs[1] - n.broker.syncs[0];
    uint64_t ct = cx.self.ticks[1] - cx.self.ticks[0];
    double fs_total = per(bs + ss + rs, done);
    int counted = n.shim[0] != 0;
    printf("refbus: accepted %ld/s, delivered %ld/s (%ld accepted, %ld delivered, %ld refused "
           "of %ld)\n",
           (long)acc_s, (long)dlv_s, rr.acked, rr.delivered, rr.failed, rr.messages);
    printf("refbus: to ACCEPTED p50 %.2f ms, p99 %.2f ms, max %.2f ms; to delivery p50 %.2f ms, "
           "p99 %.2f ms, max %.2f ms\n",
           ms(pa.p50), ms(pa.p99), ms(pa.max), ms(pd.p50), ms(pd.p99), ms(pd.max));
    printf("refbus: per referral: CPU broker %.0f us, sending node(s) %.0f us, recipient node(s) "
           "%.0f us, API client (this program) %.0f us\n",
           per(bt, done) * us_tick, per(st, done) * us_tick, per(rt, done) * us_tick,
           per(ct, done) * us_tick);
    if (counted)
        printf("refbus: per referral: flushes broker %.2f, sending node(s) %.2f, recipient "
               "node(s) %.2f, in all %.2f\n",
               per(bs, done), per(ss, done), per(rs, done), fs_total);
    printf("refbus: watched with %.2f outbox / inbox requests per referral (every %d us)\n",
           per((uint64_t)rr.polls, done), o.poll_us);
    printf("refbus: peak RSS (VmHWM): broker %ld KiB, sending node %ld KiB, recipient node "
           "%ld KiB, this program %ld KiB\n",
           n.broker.hwm_kb, sh, rh, cx.self.hwm_kb);
    double ceiling = 0;
    if (have_lim) {
        bench_limits_print(&lim);
        ceiling = bench_limits_ceiling(&lim, o.senders, o.window);
        printf("limits: this run reached %.0f%% of the ceiling for %d sender(s) at window %d "
               "(%.0f/s)\n",
               ceiling > 0 ? 100 * acc_s / ceiling : 0, o.senders, o.window, ceiling);
    }
    bench_pct ra = {0, 0, 0, 0}, rdl = {0, 0, 0, 0};
    double racc = 0, rdlv = 0;
    long rdone = rd.delivered > 0 ? rd.delivered : 1;
    if (have_redis) {
        if (bench_pct_of(&ra, rd.lat_ack, (size_t)rd.messages) ||
            bench_pct_of(&rdl, rd.lat_dlv, (size_t)rd.messages))
            return 1;
        racc = rate(rd.acked, rd.t0, rd.t_last_ack);
        rdlv = rate(rd.delivered, rd.t0, rd.t_last_dlv);
        printf("redis: acknowledged %ld/s, delivered %ld/s; to the ack p50 %.2f ms, p99 %.2f ms, "
               "max %.2f ms; to delivery p50 %.2f ms, p99 %.2f ms\n",
               (long)racc, (long)rdlv, ms(ra.p50), ms(ra.p99), ms(ra.max), ms(rdl.p50),
               ms(rdl.p99));
        printf("redis: per message: CPU redis-server %.0f us, client (this program) %.0f us, "
               "flushes %.2f; peak RSS %ld KiB\n",
               per(redis.ticks[1] - redis.ticks[0], rdone) * us_tick,
               per(rself.ticks[1] - rself.ticks[0], rdone) * us_tick,
               per(redis.syncs[1] - redis.syncs[0], rdone), redis.hwm_kb);
        printf("ratio: refbus / redis: accepted %.2fx, delivered %.2fx, p99 to ACCEPTED %.2fx "
               "Redis's\n",
               racc > 0 ? acc_s / racc : 0, rdlv > 0 ? dlv_s / rdlv : 0,
               ra.p99 ? (double)pa.p99 / (double)ra.p99 : 0);
    }

    /* The one summary line (key=value, space separated; a program reads this) */
    printf("bench=refbus messages=%ld size=%ld senders=%d recipients=%d window=%d accepted=%ld "
           "delivered=%ld refused=%ld accepted_per_s=%.0f delivered_per_s=%.0f "
           "accept_p50_ms=%.3f accept_p99_ms=%.3f accept_max_ms=%.3f deliver_p50_ms=%.3f "
           "deliver_p99_ms=%.3f deliver_max_ms=%.3f cpu_us_broker=%.0f cpu_us_senders=%.0f "
           "cpu_us_recipients=%.0f cpu_us_client=%.0f",
           o.messages, o.size, o.senders, o.recipients, o.window, rr.acked, rr.delivered, rr.failed,
           acc_s, dlv_s, ms(pa.p50), ms(pa.p99), ms(pa.max), ms(pd.p50), ms(pd.p99), ms(pd.max),
           per(bt, done) * us_tick, per(st, done) * us_tick, per(rt, done) * us_tick,
           per(ct, done) * us_tick);
    if (counted)
        printf(" fsyncs_broker=%.2f fsyncs_senders=%.2f fsyncs_recipients=%.2f fsyncs=%.2f",
               per(bs, done), per(ss, done), per(rs, done), fs_total);
    printf(" rss_kb_broker=%ld rss_kb_sender=%ld rss_kb_recipient=%ld polls=%.2f", n.broker.hwm_kb,
           sh, rh, per((uint64_t)rr.polls, done));
    if (have_lim)
        printf(" ceiling_per_s=%.0f ceiling_fraction=%.3f", ceiling,
               ceiling > 0 ? acc_s / ceiling : 0);
    if (have_redis)
        printf(" redis_acked=%ld redis_delivered=%ld redis_acked_per_s=%.0f "
               "redis_delivered_per_s=%.0f redis_ack_p50_ms=%.3f redis_ack_p99_ms=%.3f "
               "redis_deliver_p99_ms=%.3f redis_cpu_us=%.0f redis_fsyncs=%.2f redis_rss_kb=%ld "
               "ratio_accepted=%.3f ratio_delivered=%.3f",
               rd.acked, rd.delivered, racc, rdlv, ms(ra.p50), ms(ra.p99), ms(rdl.p99),
               per(redis.ticks[1] - redis.ticks[0], rdone) * us_tick,
               per(redis.syncs[1] - redis.syncs[0], rdone), redis.hwm_kb,
               racc > 0 ? acc_s / racc : 0, rdlv > 0 ? dlv_s / rdlv : 0);
    printf(" result=%s\n", status ? "fail" : "ok");
    free(rr.lat_ack);
    free(rr.lat_dlv);
    free(rd.lat_ack);
    free(rd.lat_dlv);
    bench_net_free(&n, o.keep);
    return status;
}
