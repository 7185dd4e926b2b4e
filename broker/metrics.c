/* The broker's Prometheus metrics (text exposition format 0.0.4), answered on the admin socket
 * ("metrics"; `refbus-broker metrics` prints them): counters of what the trail recorded since
 * start, the batch commit latency, and gauges read from the store when asked (queues and the
 * age of their oldest referral per agency, storage, checkpoint, peers). docs/ADMIN-GUIDE.md. */
#include "broker/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/checkpoint.h"
#include "common/util.h"

/* Upper bounds of the commit histogram, in microseconds (LMDB's fsync dominates). */
static const uint64_t bucket_us[BROKER_METRIC_BUCKETS - 1] = {500,    1000,   2000,   5000,
                                                              10000,  25000,  50000,  100000,
                                                              250000, 500000, 1000000};

void broker_metrics_audited(refbus_broker *b, const Refbus__V1__AuditRecord *r)
{
    broker_metrics *m = &b->metrics;
    if ((unsigned)r->event < BROKER_METRIC_EVENTS)
        m->pend_events[r->event]++;
    if (r->event != REFBUS__V1__EVENT_TYPE__EVENT_REJECTED)
        return;
    size_t i = 0;
    while (i < m->n_reasons && m->reasons[i].code != r->reason)
        i++;
    if (i == m->n_reasons) {
        if (m->n_reasons == BROKER_METRIC_REASONS)
            i = BROKER_METRIC_REASONS - 1; /* never reached: fewer error codes than slots */
        else
            m->reasons[m->n_reasons++].code = r->reason;
    }
    m->reasons[i].pend++;
}

void broker_metrics_begin(refbus_broker *b)
{
    broker_metrics *m = &b->metrics;
    memset(m->pend_events, 0, sizeof m->pend_events);
    for (size_t i = 0; i < m->n_reasons; i++)
        m->reasons[i].pend = 0;
}

void broker_metrics_committed(refbus_broker *b)
{
    broker_metrics *m = &b->metrics;
    for (size_t i = 0; i < BROKER_METRIC_EVENTS; i++)
        m->events[i] += m->pend_events[i];
    for (size_t i = 0; i < m->n_reasons; i++)
        m->reasons[i].n += m->reasons[i].pend;
    broker_metrics_begin(b);
}

uint64_t broker_metrics_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void broker_metrics_commit_latency(refbus_broker *b, uint64_t us)
{
    broker_metrics *m = &b->metrics;
    size_t i = 0;
    while (i < BROKER_METRIC_BUCKETS - 1 && us > bucket_us[i])
        i++;
    m->commit_le[i]++;
    m->commit_count++;
    m->commit_sum_us += us;
}

/* A growing text buffer; on allocation failure it turns NULL and stays so. */
typedef struct {
    char *p;
    size_t len, cap;
} textbuf;

static void put(textbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(textbuf *t, const char *fmt, ...)
{
    if (!t->p)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            free(t->p);
            t->p = NULL;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        char *np = realloc(t->p, t->cap * 2 + (size_t)n);
        if (!np) {
            free(t->p);
            t->p = NULL;
            return;
        }
        t->p = np;
        t->cap = t->cap * 2 + (size_t)n;
    }
}

/* # HELP and # TYPE lines of one metric family. */
static void family(textbuf *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(textbuf *t, const char *name, const char *help, uint64_t v)
{
    family(t, name, "counter", help);
    put(t, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge(textbuf *t, const char *name, const char *help, double v)
{
    family(t, name, "gauge", help);
    put(t, "%s %.17g\n", name, v);
}

static double seconds_since(uint64_t then_ms, uint64_t now_ms)
{
    return then_ms && now_ms > then_ms ? (double)(now_ms - then_ms) / 1000.0 : 0.0;
}

/* The per-agency gauges, read in one transaction. Agency ids are [a-z0-9.-] (the directory
 * refuses others), so they need no escaping in a label value. */
static void agency_gauges(textbuf *t, refbus_broker *b, MDB_txn *r, uint64_t now)
{
    size_t na = refbus_directory_agency_count(b->dir);
    family(t, "refbus_broker_queue_depth", "gauge",
           "Envelopes queued for the agency (accepted, not yet delivered or expired).");
    for (size_t i = 0; i < na; i++) {
        const char *a = refbus_directory_agency_id(b->dir, i);
        put(t, "refbus_broker_queue_depth{agency=\"%s\"} %llu\n", a,
            (unsigned long long)refbus_bstore_queue_depth(b->store, r, a));
    }
    family(t, "refbus_broker_queue_oldest_age_seconds", "gauge",
           "Age of the agency's oldest queued envelope by its created time (0: none queued).");
    for (size_t i = 0; i < na; i++) {
        const char *a = refbus_directory_agency_id(b->dir, i);
        uint64_t depth = 0, oldest = 0;
        if (refbus_bstore_queue_oldest(b->store, r, a, &depth, &oldest) == 0)
            put(t, "refbus_broker_queue_oldest_age_seconds{agency=\"%s\"} %.3f\n", a,
                seconds_since(oldest, now));
    }
    family(t, "refbus_broker_peer_connected", "gauge",
           "1 while the agency's node holds a session with the broker.");
    for (size_t i = 0; i < na; i++) {
        const char *a = refbus_directory_agency_id(b->dir, i);
        const peer *p = broker_peer_by_agency(b, a);
        put(t, "refbus_broker_peer_connected{agency=\"%s\"} %d\n", a, p && p->hello ? 1 : 0);
    }
}

char *broker_metrics_text(refbus_broker *b)
{
    const broker_metrics *m = &b->metrics;
    textbuf t = {malloc(8192), 0, 8192};
    uint64_t now = refbus_now_ms();
    counter(&t, "refbus_broker_referrals_accepted_total",
            "Envelopes accepted and queued (ACCEPTED records committed).",
            m->events[REFBUS__V1__EVENT_TYPE__EVENT_ACCEPTED]);
    family(&t, "refbus_broker_referrals_refused_total", "counter",
           "Envelopes refused, by reason (REJECTED records committed).");
    for (size_t i = 0; i < m->n_reasons; i++)
        put(&t, "refbus_broker_referrals_refused_total{reason=\"%s\"} %llu\n",
            refbus_errname(m->reasons[i].code), (unsigned long long)m->reasons[i].n);
    counter(&t, "refbus_broker_duplicates_total",
            "Envelopes sent again and answered with their first receipt (DUPLICATE records).",
            m->events[REFBUS__V1__EVENT_TYPE__EVENT_DUPLICATE]);
    counter(&t, "refbus_broker_deliveries_total",
            "Envelopes a recipient confirmed with its signed DELIVERED receipt.",
            m->events[REFBUS__V1__EVENT_TYPE__EVENT_DELIVERED]);
    counter(&t, "refbus_broker_expired_total", "Queued envelopes that expired undelivered.",
            m->events[REFBUS__V1__EVENT_TYPE__EVENT_EXPIRED]);
    counter(&t, "refbus_broker_peer_sessions_total", "Node sessions opened (PEER_CONNECTED).",
            m->events[REFBUS__V1__EVENT_TYPE__EVENT_PEER_CONNECTED]);
    counter(&t, "refbus_broker_peers_refused_total",
            "Connections or sessions refused (PEER_REFUSED records).",
            m->events[REFBUS__V1__EVENT_TYPE__EVENT_PEER_REFUSED]);
    family(&t, "refbus_broker_commit_seconds", "histogram",
           "Duration of the durable LMDB commit of one batch.");
    uint64_t cum = 0;
    for (size_t i = 0; i < BROKER_METRIC_BUCKETS - 1; i++) {
        cum += m->commit_le[i];
        put(&t, "refbus_broker_commit_seconds_bucket{le=\"%g\"} %llu\n", (double)bucket_us[i] / 1e6,
            (unsigned long long)cum);
    }
    put(&t, "refbus_broker_commit_seconds_bucket{le=\"+Inf\"} %llu\n",
        (unsigned long long)m->commit_count);
    put(&t, "refbus_broker_commit_seconds_sum %.6f\n", (double)m->commit_sum_us / 1e6);
    put(&t, "refbus_broker_commit_seconds_count %llu\n", (unsigned long long)m->commit_count);

    size_t connected = 0;
    for (size_t i = 0; i < b->n_peers; i++)
        connected += b->peers[i].hello ? 1 : 0;
    gauge(&t, "refbus_broker_connected_peers", "Node sessions open now.", (double)connected);
    gauge(&t, "refbus_broker_directory_serial", "Serial of the installed agency directory.",
          (double)refbus_directory_serial(b->dir));
    gauge(&t, "refbus_broker_storage_full",
          "1 while new envelopes are refused for lack of room (map, disk or high-water mark).",
          b->map_full || b->above_high_water ? 1 : 0);
    gauge(&t, "refbus_broker_start_time_seconds", "When this broker process started (Unix time).",
          (double)m->start_ms / 1000.0);
    MDB_txn *r = NULL;
    if (mdb_txn_begin(b->store->env, NULL, MDB_RDONLY, &r) == 0) {
        uint64_t used = 0, map = 0, size = 0;
        if (refbus_bstore_usage(b->store, r, 0, &used, &map) == 0) {
            gauge(&t, "refbus_broker_storage_used_bytes", "Live bytes in the LMDB map.",
                  (double)used);
            gauge(&t, "refbus_broker_storage_map_bytes", "Size of the LMDB map (map_size_mb).",
                  (double)map);
        }
        if (refbus_audit_size(b->store->audit, r, &size) == 0)
            gauge(&t, "refbus_broker_audit_records", "Records in the audit trail.", (double)size);
        uint8_t *cp = NULL;
        size_t cl = 0;
        refbus_checkpoint info;
        if (refbus_audit_latest_checkpoint(b->store->audit, r, &cp, &cl) == 0 &&
            refbus_checkpoint_verify(&info, cp, cl, refbus_keystore_current(b->ks)->sign_pk) == 0) {
            gauge(&t, "refbus_broker_checkpoint_size", "Tree size of the latest signed checkpoint.",
                  (double)info.size);
            gauge(&t, "refbus_broker_checkpoint_age_seconds",
                  "Age of the latest signed checkpoint.", seconds_since(info.time_ms, now));
        }
        free(cp);
        agency_gauges(&t, b, r, now);
        mdb_txn_abort(r);
    }
    return t.p;
}
