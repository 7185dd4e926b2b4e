/* The comparison refbus-bench runs against: Redis Streams, durable. redis-server is started
 * here with appendonly yes and appendfsync always (every write is in the AOF and fdatasync'ed
 * before its reply goes out), RDB snapshots off (they add forks, not durability), on a free
 * loopback port in the run's temporary directory. The workload mirrors the refbus one:
 *   producers  one connection per sender, XADD of the same referral document to the stream of
 *              recipient i mod R, at most `window` XADDs awaiting their reply (the durable ack);
 *   consumers  one connection per recipient, XREADGROUP (consumer group, BLOCK) then XACK of
 *              everything read.
 * Latency to the ack: from queuing the XADD to reading its reply; to delivery: to the
 * XREADGROUP answer that holds it. */
#include "bench/redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef REFBUS_BENCH_HIREDIS
#include <hiredis/hiredis.h>
#include <pthread.h>

typedef struct rrun {
    const bench_opts *o;
    int port;
    bench_result *res;
    uint64_t *t_send; /* per message */
    long *per_recv;
    uint64_t deadline;
    pthread_mutex_t mu;
    int stop;
} rrun;

typedef struct rarg {
    rrun *r;
    int idx;
} rarg;

static void rfail(rrun *r, const char *what, const char *detail)
{
    pthread_mutex_lock(&r->mu);
    if (!r->res->error[0])
        snprintf(r->res->error, sizeof r->res->error, "redis: %s%s%s", what, detail ? ": " : "",
                 detail ? detail : "");
    pthread_mutex_unlock(&r->mu);
    __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

static redisContext *rconnect(rrun *r)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        rfail(r, "cannot connect", c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

static long first_of(const rrun *r, int s)
{
    long base = 0;
    for (int k = 0; k < s; k++)
        base += r->o->messages / r->o->senders + (k < r->o->messages % r->o->senders);
    return base;
}

static void *producer(void *p)
{
    rarg *a = p;
    rrun *r = a->r;
    int s = a->idx;
    long count = r->o->messages / r->o->senders + (s < r->o->messages % r->o->senders);
    long base = first_of(r, s), sent = 0, got = 0;
    redisContext *c = rconnect(r);
    char cref[40], stream[32], idx[24];
    if (!c)
        return NULL;
    while (got < count && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        if (bench_interrupted) {
            rfail(r, "interrupted", NULL);
            break;
        }
        while (sent < count && sent - got < r->o->window) {
            snprintf(cref, sizeof cref, "bench-%d-%ld", s, sent);
            snprintf(stream, sizeof stream, "bench:r%ld", (s + sent) % r->o->recipients);
            snprintf(idx, sizeof idx, "%ld", base + sent);
            char *doc = bench_referral_json(cref, r->o->size);
            if (!doc) {
                rfail(r, "out of memory", NULL);
                break;
            }
            const char *argv[] = {"XADD", stream, "*", "i", idx, "doc", doc};
            size_t lens[] = {4, strlen(stream), 1, 1, strlen(idx), 3, strlen(doc)};
            r->t_send[base + sent] = bench_now_us();
            int rc = redisAppendCommandArgv(c, 7, argv, lens);
            free(doc);
            if (rc != REDIS_OK) {
                rfail(r, "XADD", c->errstr);
                break;
            }
            sent++;
        }
        if (sent == got)
            break; /* an error above: nothing to wait for */
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) {
            rfail(r, "XADD reply", c->errstr);
            break;
        }
        uint64_t now = bench_now_us();
        int ok = rep->type == REDIS_REPLY_STRING;
        if (!ok)
            rfail(r, "XADD refused", rep->type == REDIS_REPLY_ERROR ? rep->str : "bad reply");
        freeReplyObject(rep);
        if (!ok)
            break;
        /* replies come in the order of the commands */
        uint64_t l = now - r->t_send[base + got];
        r->res->lat_ack[base + got] = l ? l : 1;
        got++;
        pthread_mutex_lock(&r->mu);
        r->res->acked++;
        r->res->t_last_ack = now;
        pthread_mutex_unlock(&r->mu);
        if (now > r->deadline) {
            rfail(r, "not finished within --timeout", NULL);
            break;
        }
    }
    redisFree(c);
    return NULL;
}

static void *consumer(void *p)
{
    rarg *a = p;
    rrun *r = a->r;
    char stream[32];
    long got = 0;
    redisContext *c = rconnect(r);
    snprintf(stream, sizeof stream, "bench:r%d", a->idx);
    while (c && got < r->per_recv[a->idx] && !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
        if (bench_interrupted) {
            rfail(r, "interrupted", NULL);
            break;
        }
        if (bench_now_us() > r->deadline) {
            rfail(r, "not finished within --timeout", NULL);
            break;
        }
        redisReply *rep =
            redisCommand(c, "XREADGROUP GROUP g c COUNT 1000 BLOCK 200 STREAMS %s >", stream);
        uint64_t now = bench_now_us();
        if (!rep) {
            rfail(r, "XREADGROUP", c->errstr);
            break;
        }
        if (rep->type == REDIS_REPLY_NIL) {
            freeReplyObject(rep);
            continue;
        }
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
            rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[0]->elements != 2) {
            rfail(r, "XREADGROUP", "unexpected reply");
            freeReplyObject(rep);
            break;
        }
        redisReply *entries = rep->element[0]->element[1];
        size_t n = entries->elements;
        const char **argv = malloc((n + 3) * sizeof *argv);
        size_t *lens = malloc((n + 3) * sizeof *lens);
        if (!argv || !lens) {
            rfail(r, "out of memory", NULL);
            free(argv);
            free(lens);
            freeReplyObject(rep);
            break;
        }
        argv[0] = "XACK", lens[0] = 4;
        argv[1] = stream, lens[1] = strlen(stream);
        argv[2] = "g", lens[2] = 1;
        long fresh = 0;
        for (size_t k = 0; k < n; k++) {
            redisReply *e = entries->element[k];
            argv[3 + k] = e->element[0]->str;
            lens[3 + k] = e->element[0]->len;
            redisReply *f = e->element[1];
            for (size_t q = 0; q + 1 < f->elements; q += 2)
                if (strcmp(f->element[q]->str, "i") == 0) {
                    long i = atol(f->element[q + 1]->str);
                    if (i >= 0 && i < r->o->messages && !r->res->lat_dlv[i]) {
                        uint64_t l = now - r->t_send[i];
                        r->res->lat_dlv[i] = l ? l : 1;
                        fresh++;
                    }
                }
        }
        redisReply *ack = n ? redisCommandArgv(c, (int)(n + 3), argv, lens) : NULL;
        int ok = !n || (ack && ack->type == REDIS_REPLY_INTEGER);
        if (!ok)
            rfail(r, "XACK", ack && ack->type == REDIS_REPLY_ERROR ? ack->str : c->errstr);
        freeReplyObject(ack);
        free(argv);
        free(lens);
        freeReplyObject(rep);
        if (!ok)
            break;
        got += fresh;
        pthread_mutex_lock(&r->mu);
        r->res->delivered += fresh;
        if (fresh)
            r->res->t_last_dlv = bench_now_us();
        pthread_mutex_unlock(&r->mu);
    }
    redisFree(c);
    return NULL;
}

static int start_redis(const char *dir, const char *shim, const char *sync_dir, int port,
                       bench_proc *proc, char *err, size_t errlen)
{
    char prog[PATH_MAX] = "/usr/bin/redis-server", d[PATH_MAX + 8], log[PATH_MAX + 16];
    char ports[16], preload[PATH_MAX + 16], syncenv[PATH_MAX + 32];
    const char *path = getenv("PATH");
    /* PATH first: a redis-server of the user's choice */
    for (const char *p = path; p && *p;) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char cand[PATH_MAX];
        if (len && len < sizeof cand - 16) {
            snprintf(cand, sizeof cand, "%.*s/redis-server", (int)len, p);
            if (access(cand, X_OK) == 0) {
                snprintf(prog, sizeof prog, "%s", cand);
                break;
            }
        }
        p = e ? e + 1 : NULL;
    }
    if (access(prog, X_OK) != 0) {
        snprintf(err, errlen, "redis-server not found (Debian package redis-server)");
        return -1;
    }
    snprintf(d, sizeof d, "%s/redis", dir);
    snprintf(log, sizeof log, "%s/redis.log", dir);
    snprintf(ports, sizeof ports, "%d", port);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", shim);
    snprintf(syncenv, sizeof syncenv, "REFBUS_BENCH_SYNC_DIR=%s", sync_dir);
    if (mkdir(d, 0700) != 0) {
        snprintf(err, errlen, "cannot make %.200s", d);
        return -1;
    }
    char *argv[] = {prog,        "--port",        ports,    "--bind",
                    "127.0.0.1", "--dir",         d,        "--appendonly",
                    "yes",       "--appendfsync", "always", "--save",
                    "",          "--daemonize",   "no",     "--protected-mode",
                    "yes",       "--logfile",     "",       NULL};
    char *env[] = {syncenv, shim[0] ? preload : NULL, NULL};
    if (bench_spawn(proc, "redis-server", argv, env, log) != 0) {
        snprintf(err, errlen, "cannot start %s", prog);
        return -1;
    }
    for (int i = 0; i < 200; i++) { /* 20 s */
        struct timeval tv = {1, 0};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
        redisReply *rep = c && !c->err ? redisCommand(c, "PING") : NULL;
        int up = rep && rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        redisFree(c);
        if (up)
            return 0;
        if (!bench_alive(proc)) {
            snprintf(err, errlen, "redis-server exited at start (see %.200s)", log);
            return -1;
        }
        usleep(100000);
    }
    snprintf(err, errlen, "redis-server did not answer within 20 s (see %.200s)", log);
    return -1;
}

int bench_redis_built(void)
{
    return 1;
}

int bench_redis_run(const bench_opts *o, const char *dir, const char *shim, const char *sync_dir,
                    bench_proc *proc, bench_proc *self, bench_result *res)
{
    rrun r;
    pthread_t th[2 * BENCH_MAX_NODES];
    rarg args[2 * BENCH_MAX_NODES];
    int nth = 0, port = bench_free_port(), rc = -1;
    memset(res, 0, sizeof *res);
    memset(&r, 0, sizeof r);
    res->messages = o->messages;
    r.o = o;
    r.res = res;
    r.port = port;
    pthread_mutex_init(&r.mu, NULL);
    res->lat_ack = calloc((size_t)o->messages, sizeof *res->lat_ack);
    res->lat_dlv = calloc((size_t)o->messages, sizeof *res->lat_dlv);
    r.t_send = calloc((size_t)o->messages, sizeof *r.t_send);
    r.per_recv = calloc((size_t)o->recipients, sizeof *r.per_recv);
    if (!res->lat_ack || !res->lat_dlv || !r.t_send || !r.per_recv) {
        snprintf(res->error, sizeof res->error, "out of memory");
        goto out;
    }
    if (port < 0 || start_redis(dir, shim, sync_dir, port, proc, res->error, sizeof res->error))
        goto out;
    for (int s = 0; s < o->senders; s++) {
        long count = o->messages / o->senders + (s < o->messages % o->senders);
        for (long i = 0; i < count; i++)
            r.per_recv[(s + i) % o->recipients]++;
    }
    redisContext *c = rconnect(&r);
    for (int k = 0; c && k < o->recipients; k++) {
        redisReply *rep = redisCommand(c, "XGROUP CREATE bench:r%d g $ MKSTREAM", k);
        if (!rep || rep->type == REDIS_REPLY_ERROR)
            rfail(&r, "XGROUP CREATE", rep ? rep->str : c->errstr);
        freeReplyObject(rep);
    }
    redisFree(c);
    if (res->error[0])
        goto stop;
    bench_snap(proc, 0, sync_dir);
    bench_snap(self, 0, NULL);
    res->t0 = bench_now_us();
    r.deadline = res->t0 + (uint64_t)o->timeout_s * 1000000u;
    for (int k = 0; k < o->recipients; k++) {
        args[nth] = (rarg){&r, k};
        if (pthread_create(&th[nth], NULL, consumer, &args[nth]) == 0)
            nth++;
        else
            rfail(&r, "cannot start a thread", NULL);
    }
    for (int s = 0; s < o->senders; s++) {
        args[nth] = (rarg){&r, s};
        if (pthread_create(&th[nth], NULL, producer, &args[nth]) == 0)
            nth++;
        else
            rfail(&r, "cannot start a thread", NULL);
    }
    for (int k = 0; k < nth; k++)
        pthread_join(th[k], NULL);
    bench_snap(proc, 1, sync_dir);
    bench_snap(self, 1, NULL);
    if (!res->error[0] && (res->acked != o->messages || res->delivered != o->messages))
        snprintf(res->error, sizeof res->error, "redis: acknowledged %ld and delivered %ld of %ld",
                 res->acked, res->delivered, o->messages);
    rc = res->error[0] ? -1 : 0;
stop:
    bench_stop(proc);
out:
    free(r.t_send);
    free(r.per_recv);
    pthread_mutex_destroy(&r.mu);
    return rc;
}

#else /* built without hiredis */

int bench_redis_built(void)
{
    return 0;
}

int bench_redis_run(const bench_opts *o, const char *dir, const char *shim, const char *sync_dir,
                    bench_proc *proc, bench_proc *self, bench_result *res)
{
    (void)o, (void)dir, (void)shim, (void)sync_dir, (void)proc, (void)self;
    memset(res, 0, sizeof *res);
    snprintf(res->error, sizeof res->error, "built without hiredis (libhiredis-dev)");
    return -1;
}

#endif
