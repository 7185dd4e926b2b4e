/* The machine's primitives for refbus-bench --limits, each timed in a loop bounded in time
 * (about 0.25 s) and count, and the ceiling they imply for the design as built.
 *
 * Counts per referral, one recipient, from the code as built (the issue 12 profile agrees):
 *   sending node  seal: 1 Ed25519 signature, 2 X25519 (ephemeral key, one per recipient), 1 AEAD
 *                 over the padded payload (+ a 32-byte key wrap per recipient): proto/envelope.c
 *                 refbus_envelope_seal; verifies the broker's ACCEPTED and the recipient's
 *                 DELIVERED notice (nodes/daemon/receipts.c): 2 verifications; 3 synced LMDB
 *                 commits, one at a time: the outbox (nodes/daemon/compose.c), ACCEPTED and the
 *                 delivery notice (nodes/daemon/receipts.c).
 *   broker        1 verification of the envelope (broker/accept.c), 1 signature on ACCEPTED,
 *                 1 verification of DELIVERED (broker/deliver.c); its commits are shared by a
 *                 batch (broker/broker.c group commit).
 *   recipient     1 verification, 1 X25519 and 1 AEAD open (+ the key unwrap) per envelope
 *                 (refbus_envelope_open), 1 signature on DELIVERED; one synced commit per
 *                 receive pass (nodes/daemon/inbound.c group commit).
 *   in all: 3 signatures, 5 verifications, 3 X25519, 2 AEAD over the payload; 3 synced commits
 *   in the sending node, at most 1 per pass in the recipient, shared ones in the broker.
 * A synced LMDB commit is two flushes (fdatasync of the data, a synced write of the meta page). */
#include "bench/limits.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>
#include <zmq.h>

#include "proto/frames.h"

#define N_SIGN 3
#define N_VERIFY 5
#define N_X25519 3
#define N_AEAD 2
#define N_SENDER_COMMITS 3

#define SPAN_US 300000u /* each primitive: about 0.3 s */
#define MAX_ITER 100000L

static volatile uint8_t sink; /* keeps results alive */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef int (*op_fn)(void *ctx);

/* Median microseconds per call of fn over SPAN_US or MAX_ITER calls (the median, because one
 * flush delayed by someone else's I/O says nothing about the machine), and in *p10 (may be NULL)
 * the fastest tenth's bound; -1 when fn fails. */
static double time_op(op_fn fn, void *ctx, double *p10)
{
    static uint64_t d[MAX_ITER];
    long n = 0;
    uint64_t t0 = bench_now_us(), t = t0;
    while (n < MAX_ITER && t - t0 < SPAN_US) {
        if (fn(ctx) != 0)
            return -1;
        uint64_t t1 = bench_now_us();
        d[n++] = t1 - t;
        t = t1;
    }
    qsort(d, (size_t)n, sizeof d[0], cmp_u64);
    if (p10)
        *p10 = (double)d[n / 10];
    /* at a few microseconds per call the clock is too coarse: the mean of the whole span */
    if (d[n / 2] < 5)
        return (double)(t - t0) / (double)n;
    return n % 2 ? (double)d[n / 2] : ((double)d[n / 2 - 1] + (double)d[n / 2]) / 2;
}

typedef struct crypto_ctx {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t sig[crypto_sign_BYTES], msg[64];
    uint8_t xsk[32], xpk[32], shared[32];
    uint8_t key[32], nonce[24], buf[2048], ct[2048 + 16];
} crypto_ctx;

static int op_sign(void *p)
{
    crypto_ctx *c = p;
    c->msg[0]++;
    return crypto_sign_detached(c->sig, NULL, c->msg, sizeof c->msg, c->sk);
}

static int op_verify(void *p)
{
    crypto_ctx *c = p;
    sink ^= (uint8_t)crypto_sign_verify_detached(c->sig, c->msg, sizeof c->msg, c->pk);
    return 0;
}

static int op_x25519(void *p)
{
    crypto_ctx *c = p;
    c->xsk[0]++;
    int rc = crypto_scalarmult(c->shared, c->xsk, c->xpk);
    sink ^= c->shared[0];
    return rc;
}

static int op_aead(void *p)
{
    crypto_ctx *c = p;
    c->nonce[0]++;
    crypto_aead_xchacha20poly1305_ietf_encrypt(c->ct, NULL, c->buf, sizeof c->buf, NULL, 0, NULL,
                                               c->nonce, c->key);
    sink ^= c->ct[0];
    return 0;
}

/* A store in its steady state: LMDB_KEYS records of 2 KiB, each commit replaces one at random, so
 * the file stops growing and every commit writes a leaf, a branch and the free list, then
 * flushes twice, as a node's commit does. */
#define LMDB_KEYS 1000

typedef struct lmdb_ctx {
    MDB_env *env;
    MDB_dbi dbi;
    uint64_t key;
    uint8_t val[2048];
} lmdb_ctx;

static int op_lmdb(void *p)
{
    lmdb_ctx *c = p;
    MDB_txn *txn;
    c->key = (c->key * 6364136223846793005u + 1442695040888963407u) % LMDB_KEYS;
    MDB_val k = {sizeof c->key, &c->key}, v = {sizeof c->val, c->val};
    if (mdb_txn_begin(c->env, NULL, 0, &txn) != 0)
        return -1;
    if (mdb_put(txn, c->dbi, &k, &v, 0) != 0) {
        mdb_txn_abort(txn);
        return -1;
    }
    return mdb_txn_commit(txn) == 0 ? 0 : -1; /* full sync, as refbus commits */
}

static int op_fsync(void *p)
{
    int fd = *(int *)p;
    char b[128] = {0};
    return pwrite(fd, b, sizeof b, 0) == (ssize_t)sizeof b && fsync(fd) == 0 ? 0 : -1;
}

typedef struct curve_ctx {
    void *zctx, *srv, *cli;
    char ep[128];
} curve_ctx;

static void *echo_main(void *p)
{
    curve_ctx *c = p;
    for (;;) {
        refbus_frames fs; /* routing id and body, sent back as they came */
        int rc = refbus_frames_recv(&fs, c->srv, 0, 2, SIZE_MAX, 0);
        if (rc == 0 && fs.n == 2 &&
            (zmq_msg_send(&fs.part[0], c->srv, ZMQ_SNDMORE) < 0 ||
             zmq_msg_send(&fs.part[1], c->srv, 0) < 0))
            rc = REFBUS_ETRANSPORT;
        refbus_frames_close(&fs); /* what was sent is empty now */
        if (rc == REFBUS_ETRANSPORT || rc == REFBUS_EAGAIN)
            return NULL; /* the context was shut down */
    }
}

static int op_curve(void *p)
{
    curve_ctx *c = p;
    char b[64] = {0};
    return zmq_send(c->cli, b, sizeof b, 0) == (int)sizeof b &&
                   zmq_recv(c->cli, b, sizeof b, 0) == (int)sizeof b
               ? 0
               : -1;
}

static double measure_curve(void)
{
    curve_ctx c = {0};
    char spk[41], ssk[41], cpk[41], csk[41];
    int one = 1, zero = 0, tmo = 2000;
    pthread_t th;
    double us = -1;
    size_t len = sizeof c.ep;
    if (zmq_curve_keypair(spk, ssk) || zmq_curve_keypair(cpk, csk) || !(c.zctx = zmq_ctx_new()))
        return -1;
    c.srv = zmq_socket(c.zctx, ZMQ_ROUTER);
    c.cli = zmq_socket(c.zctx, ZMQ_DEALER);
    if (!c.srv || !c.cli)
        goto out;
    zmq_setsockopt(c.srv, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(c.srv, ZMQ_CURVE_SECRETKEY, ssk, 40);
    zmq_setsockopt(c.cli, ZMQ_CURVE_SERVERKEY, spk, 40);
    zmq_setsockopt(c.cli, ZMQ_CURVE_PUBLICKEY, cpk, 40);
    zmq_setsockopt(c.cli, ZMQ_CURVE_SECRETKEY, csk, 40);
    zmq_setsockopt(c.srv, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c.cli, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c.cli, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(c.cli, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    if (zmq_bind(c.srv, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(c.srv, ZMQ_LAST_ENDPOINT, c.ep, &len) != 0 || zmq_connect(c.cli, c.ep) != 0)
        goto out;
    if (pthread_create(&th, NULL, echo_main, &c) != 0)
        goto out;
    if (op_curve(&c) == 0) /* the handshake, not timed */
        us = time_op(op_curve, &c, NULL);
    zmq_close(c.cli);
    c.cli = NULL;
    zmq_ctx_shutdown(c.zctx); /* ends the echo thread's recv */
    pthread_join(th, NULL);
out:
    if (c.cli)
        zmq_close(c.cli);
    if (c.srv)
        zmq_close(c.srv);
    zmq_ctx_term(c.zctx);
    return us;
}

static double measure_lmdb(const char *dir, double *p10)
{
    lmdb_ctx *c = calloc(1, sizeof *c);
    char path[PATH_MAX];
    MDB_txn *txn = NULL;
    double us = -1;
    snprintf(path, sizeof path, "%s/lmdb", dir);
    if (!c || mkdir(path, 0700) != 0 || mdb_env_create(&c->env) != 0) {
        free(c);
        return -1;
    }
    randombytes_buf(c->val, sizeof c->val);
    int ok = mdb_env_set_mapsize(c->env, 256u << 20) == 0 &&
             mdb_env_open(c->env, path, 0, 0600) == 0 &&
             mdb_txn_begin(c->env, NULL, 0, &txn) == 0 && mdb_dbi_open(txn, NULL, 0, &c->dbi) == 0;
    for (uint64_t k = 0; ok && k < LMDB_KEYS; k++) { /* filled in one commit, not timed */
        MDB_val kv = {sizeof k, &k}, v = {sizeof c->val, c->val};
        ok = mdb_put(txn, c->dbi, &kv, &v, 0) == 0;
    }
    if (ok) {
        ok = mdb_txn_commit(txn) == 0;
        txn = NULL;
    }
    for (int i = 0; ok && i < 4; i++) /* the free list settles after a few commits */
        ok = op_lmdb(c) == 0;
    if (ok)
        us = time_op(op_lmdb, c, p10);
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(c->env);
    free(c);
    return us;
}

static double measure_fsync(const char *dir, double *p10)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/fsync.dat", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    double us = op_fsync(&fd) == 0 ? time_op(op_fsync, &fd, p10) : -1;
    close(fd);
    return us;
}

/* The ceilings the measured primitives imply (the counts: this file's first comment). */
static void derive(bench_limits *l)
{
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    l->cores = nc > 0 ? (int)nc : 1;
    l->crypto_us = N_SIGN * l->sign_us + N_VERIFY * l->verify_us + N_X25519 * l->x25519_us +
                   N_AEAD * l->aead2k_us;
    l->cpu_ceiling = l->cores * 1e6 / l->crypto_us;
    l->sender_ceiling = 1e6 / (N_SENDER_COMMITS * l->lmdb_commit_us);
    /* Window 1, to ACCEPTED: the sender seals (1 sign, 2 X25519, 1 AEAD) and commits its
     * outbox; one round trip to the broker, which verifies, commits and signs; the sender
     * verifies and commits ACCEPTED. Its third commit (the delivery notice) can fall while the
     * next referral waits for the broker, so the rate is bounded by this path alone. */
    l->w1_floor_us = 3 * l->lmdb_commit_us + l->curve_rtt_us + 2 * l->sign_us + 2 * l->verify_us +
                     2 * l->x25519_us + l->aead2k_us;
    l->w1_ceiling = 1e6 / l->w1_floor_us;
}

int bench_limits_measure(bench_limits *l, const char *dir, char *err, size_t errlen)
{
    crypto_ctx *c = sodium_malloc(sizeof *c);
    memset(l, 0, sizeof *l);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    crypto_sign_keypair(c->pk, c->sk);
    randombytes_buf(c->msg, sizeof c->msg);
    crypto_sign_detached(c->sig, NULL, c->msg, sizeof c->msg, c->sk);
    randombytes_buf(c->xsk, sizeof c->xsk);
    crypto_scalarmult_base(c->xpk, c->xsk);
    randombytes_buf(c->key, sizeof c->key);
    randombytes_buf(c->buf, sizeof c->buf);
    l->sign_us = time_op(op_sign, c, NULL);
    l->verify_us = time_op(op_verify, c, NULL);
    l->x25519_us = time_op(op_x25519, c, NULL);
    l->aead2k_us = time_op(op_aead, c, NULL);
    sodium_free(c);
    l->lmdb_commit_us = measure_lmdb(dir, &l->lmdb_p10_us);
    l->fsync_us = measure_fsync(dir, &l->fsync_p10_us);
    l->curve_rtt_us = measure_curve();
    if (l->sign_us <= 0 || l->verify_us <= 0 || l->x25519_us <= 0 || l->aead2k_us <= 0 ||
        l->lmdb_commit_us <= 0 || l->fsync_us <= 0 || l->curve_rtt_us <= 0) {
        snprintf(err, errlen,
                 "a primitive could not be measured (LMDB, fsync or ZeroMQ failed "
                 "in %s)",
                 dir);
        return -1;
    }
    derive(l);
    return 0;
}

static double least(double a, double b)
{
    return a < b ? a : b;
}

void bench_limits_best(bench_limits *l, const bench_limits *other)
{
    l->sign_us = least(l->sign_us, other->sign_us);
    l->verify_us = least(l->verify_us, other->verify_us);
    l->x25519_us = least(l->x25519_us, other->x25519_us);
    l->aead2k_us = least(l->aead2k_us, other->aead2k_us);
    l->lmdb_commit_us = least(l->lmdb_commit_us, other->lmdb_commit_us);
    l->fsync_us = least(l->fsync_us, other->fsync_us);
    l->lmdb_p10_us = least(l->lmdb_p10_us, other->lmdb_p10_us);
    l->fsync_p10_us = least(l->fsync_p10_us, other->fsync_p10_us);
    l->curve_rtt_us = least(l->curve_rtt_us, other->curve_rtt_us);
    derive(l);
}

double bench_limits_ceiling(const bench_limits *l, int senders, int window)
{
    double per_sender = window <= 1 ? l->w1_ceiling : l->sender_ceiling;
    double c = per_sender * senders;
    return c < l->cpu_ceiling ? c : l->cpu_ceiling;
}

void bench_limits_print(const bench_limits *l)
{
    printf("limits: Ed25519 sign %.1f us, verify %.1f us, X25519 %.1f us, "
           "XChaCha20-Poly1305 2 KiB %.1f us\n",
           l->sign_us, l->verify_us, l->x25519_us, l->aead2k_us);
    printf(
        "limits: LMDB synced commit (one 2 KiB record replaced) %.0f us (fastest tenth %.0f us), "
        "write+fsync of a small file %.0f us (fastest tenth %.0f us), CurveZMQ round trip on "
        "loopback %.0f us\n",
        l->lmdb_commit_us, l->lmdb_p10_us, l->fsync_us, l->fsync_p10_us, l->curve_rtt_us);
    printf("limits: medians, measured before and after the run, the faster of the two kept\n");
    printf("limits: per referral as built: %d signatures, %d verifications, %d X25519, %d AEAD "
           "over the payload = %.0f us of CPU; %d synced commits in the sending node (serial), "
           "1 per receive pass in the recipient, shared ones in the broker\n",
           N_SIGN, N_VERIFY, N_X25519, N_AEAD, l->crypto_us, N_SENDER_COMMITS);
    printf("limits: ceiling: cryptography on %d cores %.0f/s; one sending node's commits %.0f/s; "
           "window 1: %.2f ms to ACCEPTED at best, %.0f/s per sending node\n",
           l->cores, l->cpu_ceiling, l->sender_ceiling, l->w1_floor_us / 1000, l->w1_ceiling);
}
