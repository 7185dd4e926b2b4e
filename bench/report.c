/* refbus-bench's report: the figures of the runs in lines for people, then the one key=value
 * summary line for programs (its keys: refbus-bench(1) SUMMARY). */
#include "bench/report.h"

#include <stdio.h>
#include <unistd.h>

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
        if (p->hwm_kb > *hwm)
            *hwm = p->hwm_kb;
    }
}

int bench_report(const bench_opts *o, const bench_net *n, const bench_proc *self,
                 const bench_result *rr, const bench_limits *lim, const bench_result *rd,
                 const bench_proc *redis, const bench_proc *rself, int status)
{
    long tck = sysconf(_SC_CLK_TCK);
    double us_tick = 1e6 / (double)(tck > 0 ? tck : 100);
    long done = rr->delivered > 0 ? rr->delivered : 1;
    bench_pct pa, pd;
    if (bench_pct_of(&pa, rr->lat_ack, (size_t)rr->messages) ||
        bench_pct_of(&pd, rr->lat_dlv, (size_t)rr->messages))
        return -1;
    double acc_s = rate(rr->acked, rr->t0, rr->t_last_ack),
           dlv_s = rate(rr->delivered, rr->t0, rr->t_last_dlv);
    uint64_t st, ss, rt, rs;
    long sh, rh;
    sum(n, 0, n->n_send, &st, &ss, &sh);
    sum(n, n->n_send, n->n_send + n->n_recv, &rt, &rs, &rh);
    uint64_t bt = n->broker.ticks[1] - n->broker.ticks[0],
             bs = n->broker.syncs[1] - n->broker.syncs[0];
    uint64_t ct = self->ticks[1] - self->ticks[0];
    double fs_total = per(bs + ss + rs, done);
    int counted = n->shim[0] != 0;
    printf("refbus: accepted %ld/s, delivered %ld/s (%ld accepted, %ld delivered, %ld refused "
           "of %ld)\n",
           (long)acc_s, (long)dlv_s, rr->acked, rr->delivered, rr->failed, rr->messages);
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
           per((uint64_t)rr->polls, done), o->poll_us);
    printf("refbus: peak RSS (VmHWM): broker %ld KiB, sending node %ld KiB, recipient node "
           "%ld KiB, this program %ld KiB\n",
           n->broker.hwm_kb, sh, rh, self->hwm_kb);
    double ceiling = 0;
    if (lim) {
        bench_limits_print(lim);
        ceiling = bench_limits_ceiling(lim, o->senders, o->window);
        printf("limits: this run reached %.0f%% of the ceiling for %d sender(s) at window %d "
               "(%.0f/s)\n",
               ceiling > 0 ? 100 * acc_s / ceiling : 0, o->senders, o->window, ceiling);
    }
    bench_pct ra = {0, 0, 0, 0}, rdl = {0, 0, 0, 0};
    double racc = 0, rdlv = 0;
    long rdone = rd && rd->delivered > 0 ? rd->delivered : 1;
    if (rd) {
        if (bench_pct_of(&ra, rd->lat_ack, (size_t)rd->messages) ||
            bench_pct_of(&rdl, rd->lat_dlv, (size_t)rd->messages))
            return -1;
        racc = rate(rd->acked, rd->t0, rd->t_last_ack);
        rdlv = rate(rd->delivered, rd->t0, rd->t_last_dlv);
        printf("redis: acknowledged %ld/s, delivered %ld/s; to the ack p50 %.2f ms, p99 %.2f ms, "
               "max %.2f ms; to delivery p50 %.2f ms, p99 %.2f ms\n",
               (long)racc, (long)rdlv, ms(ra.p50), ms(ra.p99), ms(ra.max), ms(rdl.p50),
               ms(rdl.p99));
        printf("redis: per message: CPU redis-server %.0f us, client (this program) %.0f us, "
               "flushes %.2f; peak RSS %ld KiB\n",
               per(redis->ticks[1] - redis->ticks[0], rdone) * us_tick,
               per(rself->ticks[1] - rself->ticks[0], rdone) * us_tick,
               per(redis->syncs[1] - redis->syncs[0], rdone), redis->hwm_kb);
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
           o->messages, o->size, o->senders, o->recipients, o->window, rr->acked, rr->delivered,
           rr->failed, acc_s, dlv_s, ms(pa.p50), ms(pa.p99), ms(pa.max), ms(pd.p50), ms(pd.p99),
           ms(pd.max), per(bt, done) * us_tick, per(st, done) * us_tick, per(rt, done) * us_tick,
           per(ct, done) * us_tick);
    if (counted)
        printf(" fsyncs_broker=%.2f fsyncs_senders=%.2f fsyncs_recipients=%.2f fsyncs=%.2f",
               per(bs, done), per(ss, done), per(rs, done), fs_total);
    printf(" rss_kb_broker=%ld rss_kb_sender=%ld rss_kb_recipient=%ld polls=%.2f", n->broker.hwm_kb,
           sh, rh, per((uint64_t)rr->polls, done));
    if (lim)
        printf(" ceiling_per_s=%.0f ceiling_fraction=%.3f", ceiling,
               ceiling > 0 ? acc_s / ceiling : 0);
    if (rd)
        printf(" redis_acked=%ld redis_delivered=%ld redis_acked_per_s=%.0f "
               "redis_delivered_per_s=%.0f redis_ack_p50_ms=%.3f redis_ack_p99_ms=%.3f "
               "redis_deliver_p99_ms=%.3f redis_cpu_us=%.0f redis_fsyncs=%.2f redis_rss_kb=%ld "
               "ratio_accepted=%.3f ratio_delivered=%.3f",
               rd->acked, rd->delivered, racc, rdlv, ms(ra.p50), ms(ra.p99), ms(rdl.p99),
               per(redis->ticks[1] - redis->ticks[0], rdone) * us_tick,
               per(redis->syncs[1] - redis->syncs[0], rdone), redis->hwm_kb,
               racc > 0 ? acc_s / racc : 0, rdlv > 0 ? dlv_s / rdlv : 0);
    printf(" result=%s\n", status ? "fail" : "ok");
    return 0;
}
