/* Referrals through real nodes, as an agency system sends them: refbus_node_send() on the
 * sending node's control socket, then the node does everything (seal, outbox commit, SUBMIT,
 * ACCEPTED, delivery notices). What is measured, per referral:
 *   - to ACCEPTED: from the call of refbus_node_send() to the first outbox poll of that node in
 *     which the referral is no longer pending (the node stores the broker's ACCEPTED receipt and
 *     removes the entry from its outbox in one transaction). The C API has no call that waits
 *     for ACCEPTED; `refbus-node send --wait` polls the outbox the same way. The poll is one
 *     `outbox` request per sending node every --poll-us, so the figure is late by at most one
 *     poll interval plus one request.
 *   - to delivery: from the same call to the first inbox poll of the recipient node that lists
 *     it (stored in the recipient's inbox, committed; its DELIVERED receipt is sent after that).
 * The window: per sending node, at most `window` referrals are between the call of
 * refbus_node_send() and their ACCEPTED; `callers` threads each hold their own API handle (one
 * control request in flight per handle, as a REQ socket allows). */
#include "bench/workload.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "nodes/client/refbus_node.h"

enum { M_NEW, M_SENDING, M_QUEUED, M_DONE };

typedef struct msg {
    uint64_t t_send;
    int state; /* M_*, read and written with __atomic */
} msg;

struct run;

typedef struct sender {
    struct run *r;
    int idx;
    long count; /* referrals of this sender */
    long base;  /* index of its first referral in the result arrays */
    msg *m;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long next, inflight, resolved;
    long lo; /* the watcher's own: every referral below it is resolved */
} sender;

typedef struct run {
    bench_net *n;
    const bench_opts *o;
    bench_result *res;
    char prefix[17]; /* msg ids: 16 hex of this run, 8 hex sender, 8 hex index */
    uint64_t deadline;
    sender s[BENCH_MAX_NODES];
    long per_recv[BENCH_MAX_NODES]; /* referrals each recipient must get */
    int stop;                       /* __atomic: a fatal error or the deadline */
    pthread_mutex_t mu;             /* res counters and error */
} run;

__attribute__((format(printf, 2, 3))) static void fail_run(run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&r->mu);
    if (!r->res->error[0])
        vsnprintf(r->res->error, sizeof r->res->error, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&r->mu);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

static int stopped(run *r)
{
    if (__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
        return 1;
    if (bench_interrupted) {
        fail_run(r, "interrupted");
        return 1;
    }
    if (bench_now_us() > r->deadline) {
        fail_run(r, "not finished within --timeout");
        return 1;
    }
    return 0;
}

static void pause_us(int us)
{
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void mid_of(const run *r, int s, long i, char out[33])
{
    snprintf(out, 33, "%s%08x%08lx", r->prefix, (unsigned)s, (unsigned long)i);
}

/* The sender and index a msg id names, or -1 when it is not one of this run's. */
static int mid_parse(const run *r, const char *mid, int *s, long *i)
{
    char a[9], b[9];
    if (!mid || strlen(mid) != 32 || memcmp(mid, r->prefix, 16) != 0)
        return -1;
    memcpy(a, mid + 16, 8);
    memcpy(b, mid + 24, 8);
    a[8] = b[8] = 0;
    unsigned long sv = strtoul(a, NULL, 16), iv = strtoul(b, NULL, 16);
    if (sv >= (unsigned long)r->o->senders || iv >= (unsigned long)r->s[sv].count)
        return -1;
    *s = (int)sv;
    *i = (long)iv;
    return 0;
}

static void *caller_main(void *arg)
{
    sender *s = arg;
    run *r = s->r;
    refbus_node *h = NULL;
    char mid[33], cref[40];
    if (refbus_node_open(&h, r->n->confs[s->idx]) != 0) {
        fail_run(r, "cannot open the control socket of %s", r->n->ids[s->idx]);
        return NULL;
    }
    refbus_node_set_timeout(h, 30000);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->inflight >= r->o->window && !stopped(r)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        long i = s->next;
        int go = i < s->count && !stopped(r);
        if (go) {
            s->next++;
            s->inflight++;
        }
        pthread_mutex_unlock(&s->mu);
        if (!go)
            break;
        int to = (int)((s->idx + i) % r->o->recipients);
        const char *rcpt[1] = {r->n->ids[r->o->senders + to]};
        mid_of(r, s->idx, i, mid);
        snprintf(cref, sizeof cref, "bench-%d-%ld", s->idx, i);
        char *doc = bench_referral_json(cref, r->o->size);
        refbus_node_send_opts so = {NULL, 0, mid};
        char *reply = NULL;
        __atomic_store_n(&s->m[i].state, M_SENDING, __ATOMIC_RELEASE);
        s->m[i].t_send = bench_now_us();
        int rc = doc ? refbus_node_send(h, doc, rcpt, 1, &so, &reply) : REFBUS_ENOMEM;
        free(doc);
        free(reply);
        if (rc) {
            fail_run(r, "refbus_node_send: %s: %s", refbus_strerror(rc), refbus_node_last_error(h));
            break;
        }
        /* Stored in the outbox (the answer comes after the commit): from now on, absent from
         * the outbox means accepted. */
        __atomic_store_n(&s->m[i].state, M_QUEUED, __ATOMIC_RELEASE);
    }
    refbus_node_close(&h);
    return NULL;
}

/* One poll of the sending node's outbox: every referral queued before the poll and no longer
 * listed is accepted; one listed as failed is failed. */
static int poll_outbox(sender *s, refbus_node *h, char *seen)
{
    run *r = s->r;
    long hi;
    pthread_mutex_lock(&s->mu);
    hi = s->next;
    pthread_mutex_unlock(&s->mu);
    /* Candidates first, then the request: a referral queued after the snapshot is not judged
     * by an answer that may predate it. */
    while (s->lo < hi && __atomic_load_n(&s->m[s->lo].state, __ATOMIC_ACQUIRE) == M_DONE)
        s->lo++;
    long lo = s->lo, cand = 0;
    for (long i = lo; i < hi; i++) {
        seen[i] = __atomic_load_n(&s->m[i].state, __ATOMIC_ACQUIRE) == M_QUEUED ? 1 : 0;
        cand += seen[i];
    }
    if (!cand)
        return 0; /* nothing stored yet that could have been accepted: no request */
    pthread_mutex_lock(&r->mu);
    r->res->polls++;
    pthread_mutex_unlock(&r->mu);
    char *reply = NULL;
    int rc = refbus_node_outbox_list(h, 0, BENCH_MAX_WINDOW, &reply);
    uint64_t now = bench_now_us();
    json_t *j = rc == 0 ? json_loads(reply, 0, NULL) : NULL;
    free(reply);
    if (!j) {
        fail_run(r, "outbox of %s: %s", r->n->ids[s->idx], rc ? refbus_strerror(rc) : "not JSON");
        return -1;
    }
    size_t k;
    json_t *it;
    long failed = 0;
    json_array_foreach(json_object_get(j, "items"), k, it)
    {
        int si;
        long i;
        if (mid_parse(r, json_string_value(json_object_get(it, "msg_id")), &si, &i) != 0 ||
            si != s->idx || i < lo || i >= hi || seen[i] != 1)
            continue;
        const char *st = json_string_value(json_object_get(it, "state"));
        seen[i] = st && strcmp(st, "failed") == 0 ? 3 : 2; /* 2: still pending */
    }
    json_decref(j);
    long done = 0;
    for (long i = lo; i < hi; i++) {
        if (seen[i] != 1 && seen[i] != 3)
            continue;
        __atomic_store_n(&s->m[i].state, M_DONE, __ATOMIC_RELEASE);
        done++;
        if (seen[i] == 3) {
            failed++;
            continue;
        }
        r->res->lat_ack[s->base + i] = now - s->m[i].t_send;
        if (!r->res->lat_ack[s->base + i])
            r->res->lat_ack[s->base + i] = 1;
    }
    if (done) {
        pthread_mutex_lock(&r->mu);
        r->res->acked += done - failed;
        r->res->failed += failed;
        if (done > failed)
            r->res->t_last_ack = now;
        pthread_mutex_unlock(&r->mu);
        pthread_mutex_lock(&s->mu);
        s->inflight -= done;
        s->resolved += done;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    if (failed)
        fail_run(r, "%s: the broker refused a referral (see its outbox)", r->n->ids[s->idx]);
    return 0;
}

static void *watch_main(void *arg)
{
    sender *s = arg;
    run *r = s->r;
    refbus_node *h = NULL;
    char *seen = calloc((size_t)s->count + 1, 1);
    if (!seen || refbus_node_open(&h, r->n->confs[s->idx]) != 0) {
        fail_run(r, "cannot watch the outbox of %s", r->n->ids[s->idx]);
        free(seen);
        return NULL;
    }
    refbus_node_set_timeout(h, 30000);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        long resolved = s->resolved;
        pthread_mutex_unlock(&s->mu);
        if (resolved >= s->count || stopped(r) || poll_outbox(s, h, seen) != 0)
            break;
        pause_us(r->o->poll_us);
    }
    refbus_node_close(&h);
    free(seen);
    return NULL;
}

typedef struct recv_arg {
    run *r;
    int idx; /* recipient number */
} recv_arg;

static void *recv_main(void *arg)
{
    recv_arg *a = arg;
    run *r = a->r;
    int node = r->o->senders + a->idx;
    refbus_node *h = NULL;
    uint64_t after = 0;
    long got = 0;
    if (refbus_node_open(&h, r->n->confs[node]) != 0) {
        fail_run(r, "cannot open the control socket of %s", r->n->ids[node]);
        return NULL;
    }
    refbus_node_set_timeout(h, 30000);
    while (got < r->per_recv[a->idx] && !stopped(r)) {
        char *reply = NULL;
        pthread_mutex_lock(&r->mu);
        r->res->polls++;
        pthread_mutex_unlock(&r->mu);
        int rc = refbus_node_inbox_poll(h, after, 1000, &reply);
        uint64_t now = bench_now_us();
        json_t *j = rc == 0 ? json_loads(reply, 0, NULL) : NULL;
        free(reply);
        if (!j) {
            fail_run(r, "inbox of %s: %s", r->n->ids[node], rc ? refbus_strerror(rc) : "not JSON");
            break;
        }
        size_t k;
        json_t *it;
        long fresh = 0;
        json_array_foreach(json_object_get(j, "items"), k, it)
        {
            int si;
            long i;
            if (mid_parse(r, json_string_value(json_object_get(it, "msg_id")), &si, &i) != 0)
                continue;
            uint64_t *l = &r->res->lat_dlv[r->s[si].base + i];
            if (*l)
                continue; /* listed once per inbox entry; never counted twice */
            *l = now - r->s[si].m[i].t_send;
            if (!*l)
                *l = 1;
            fresh++;
        }
        json_int_t last = json_integer_value(json_object_get(j, "last_seq"));
        int more = json_is_true(json_object_get(j, "more"));
        json_decref(j);
        if (last > 0)
            after = (uint64_t)last;
        if (fresh) {
            got += fresh;
            pthread_mutex_lock(&r->mu);
            r->res->delivered += fresh;
            r->res->t_last_dlv = now;
            pthread_mutex_unlock(&r->mu);
        }
        if (!more)
            pause_us(r->o->poll_us);
    }
    refbus_node_close(&h);
    return NULL;
}

int bench_refbus_run(bench_net *n, const bench_opts *o, bench_result *res,
                     void (*snap)(void *ctx, int which), void *ctx)
{
    run *r = calloc(1, sizeof *r);
    pthread_t callers[BENCH_MAX_NODES][16], watchers[BENCH_MAX_NODES], recvs[BENCH_MAX_NODES];
    recv_arg ra[BENCH_MAX_NODES];
    int n_callers[BENCH_MAX_NODES] = {0}, n_watch = 0, n_recv = 0, rc = -1;
    memset(res, 0, sizeof *res);
    res->messages = o->messages;
    res->lat_ack = calloc((size_t)o->messages, sizeof *res->lat_ack);
    res->lat_dlv = calloc((size_t)o->messages, sizeof *res->lat_dlv);
    if (!r || !res->lat_ack || !res->lat_dlv) {
        snprintf(res->error, sizeof res->error, "out of memory");
        free(r);
        return -1;
    }
    r->n = n;
    r->o = o;
    r->res = res;
    pthread_mutex_init(&r->mu, NULL);
    uint8_t rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    for (size_t i = 0; i < 8; i++)
        snprintf(r->prefix + 2 * i, 3, "%02x", rnd[i]);
    long base = 0;
    for (int s = 0; s < o->senders; s++) {
        sender *x = &r->s[s];
        x->r = r;
        x->idx = s;
        x->count = o->messages / o->senders + (s < o->messages % o->senders);
        x->base = base;
        base += x->count;
        x->m = calloc((size_t)x->count + 1, sizeof *x->m);
        pthread_mutex_init(&x->mu, NULL);
        pthread_cond_init(&x->cv, NULL);
        if (!x->m) {
            snprintf(res->error, sizeof res->error, "out of memory");
            goto out;
        }
        for (long i = 0; i < x->count; i++)
            r->per_recv[(s + i) % o->recipients]++;
    }
    snap(ctx, 0);
    res->t0 = bench_now_us();
    r->deadline = res->t0 + (uint64_t)o->timeout_s * 1000000u;
    for (int k = 0; k < o->recipients; k++) {
        ra[k].r = r;
        ra[k].idx = k;
        if (pthread_create(&recvs[n_recv], NULL, recv_main, &ra[k]) == 0)
            n_recv++;
    }
    for (int s = 0; s < o->senders; s++) {
        if (pthread_create(&watchers[n_watch], NULL, watch_main, &r->s[s]) == 0)
            n_watch++;
        for (int c = 0; c < o->callers; c++)
            if (pthread_create(&callers[s][n_callers[s]], NULL, caller_main, &r->s[s]) == 0)
                n_callers[s]++;
        if (!n_callers[s])
            fail_run(r, "cannot start a thread");
    }
    for (int s = 0; s < o->senders; s++)
        for (int c = 0; c < n_callers[s]; c++)
            pthread_join(callers[s][c], NULL);
    for (int w = 0; w < n_watch; w++)
        pthread_join(watchers[w], NULL);
    for (int k = 0; k < n_recv; k++)
        pthread_join(recvs[k], NULL);
    snap(ctx, 1);
    if (!res->error[0] && (res->acked != o->messages || res->delivered != o->messages))
        snprintf(res->error, sizeof res->error, "accepted %ld and delivered %ld of %ld", res->acked,
                 res->delivered, o->messages);
    rc = res->error[0] ? -1 : 0;
out:
    for (int s = 0; s < o->senders; s++) {
        free(r->s[s].m);
        pthread_mutex_destroy(&r->s[s].mu);
        pthread_cond_destroy(&r->s[s].cv);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
    return rc;
}
