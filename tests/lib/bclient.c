/* Test client and broker process helpers (see bclient.h). */
#include "bclient.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "common/util.h"
#include "keys/passphrase.h"
#include "proto/receipt.h"
#include "proto/wire_body.h"

static const char *bindir(void)
{
    const char *b = getenv("REFBUS_BIN_DIR");
    return b ? b : "build/bin";
}

static const char *srcdir(void)
{
    const char *s = getenv("REFBUS_SOURCE_DIR");
    return s ? s : ".";
}

int net_sh(net *n, const char *fmt, ...)
{
    char cmd[4096], full[6000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(
        full, sizeof full,
        "cd %s && export REFBUS_PASSPHRASE_FILE=%s/pass REFBUS_KDF_LIMIT=min PATH=%s:$PATH && %s",
        n->dir, n->dir, bindir(), cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void net_reload_directory(net *n)
{
    char path[400];
    refbus_directory_free(&n->d);
    snprintf(path, sizeof path, "%s/directory.bin", n->dir);
    if (refbus_directory_load_file(&n->d, path, n->root_pk, NULL) != 0) {
        fprintf(stderr, "cannot load %s\n", path);
        abort();
    }
}

void net_init(net *n)
{
    memset(n, 0, sizeof *n);
    snprintf(n->dir, sizeof n->dir, "/tmp/refbus-broker-test-XXXXXX");
    if (!mkdtemp(n->dir))
        abort();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "REFBUS_BIN_DIR=%s bash %s/tests/lib/net_setup.sh %s", bindir(),
             srcdir(), n->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "net_setup.sh failed\n");
        abort();
    }
    char path[400];
    uint8_t *hex = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/root.pk", n->dir);
    if (refbus_file_read(&hex, &len, path, 1000) != 0 || len < 64)
        abort();
    hex[64] = 0;
    if (refbus_unhex(n->root_pk, 32, (char *)hex) != 0)
        abort();
    free(hex);
    net_reload_directory(n);
    /* A store is created only by an explicit init (refbus-broker run never makes one). */
    if (net_sh(n, "refbus-broker init -d broker -l warn") != 0) {
        fprintf(stderr, "refbus-broker init failed\n");
        abort();
    }
    /* a free port: bind 0, read it, close (the broker binds it right after) */
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
    char ep[64];
    size_t el = sizeof ep;
    zmq_bind(s, "tcp://127.0.0.1:*");
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &el);
    zmq_close(s);
    zmq_ctx_term(ctx);
    snprintf(n->endpoint, sizeof n->endpoint, "%s", ep);
    snprintf(n->admin, sizeof n->admin, "ipc://%s/broker/admin.sock", n->dir);
}

/* Every broker a test starts is killed when the test program exits, even after a failed
 * assertion jumped past its net_free(). */
static pid_t started[64];
static size_t n_started;

static void kill_started(void)
{
    for (size_t i = 0; i < n_started; i++)
        if (started[i] > 0)
            kill(started[i], SIGKILL);
}

void net_start_broker(net *n, const char *const *extra)
{
    char exe[512], data[300], ks[300], pass[300], dir[300];
    snprintf(exe, sizeof exe, "%s/refbus-broker", bindir());
    snprintf(data, sizeof data, "%s/broker", n->dir);
    snprintf(ks, sizeof ks, "%s/keys/broker.cm.bundle", n->dir);
    snprintf(pass, sizeof pass, "%s/pass", n->dir);
    snprintf(dir, sizeof dir, "%s/directory.bin", n->dir);
    const char *argv[64] = {exe,  "run",
                            "-d", data,
                            "-b", n->endpoint,
                            "-k", ks,
                            "-p", pass,
                            "-D", dir,
                            "-l", getenv("REFBUS_TEST_DEBUG") ? "debug" : "warn",
                            "-o", "checkpoint_seconds=1",
                            "-o", "expiry_scan_seconds=1"};
    int argc = 18;
    for (int i = 0; extra && extra[i] && argc < 60; i++) {
        argv[argc++] = "-o";
        argv[argc++] = extra[i];
    }
    argv[argc] = NULL;
    /* A broker killed with -9 leaves its admin socket file behind: remove it, so that waiting
     * for it below waits for this broker (which binds it after installing its signal handlers
     * and opening its store). */
    char stale[400];
    snprintf(stale, sizeof stale, "%s/broker/admin.sock", n->dir);
    unlink(stale);
    pid_t pid = fork();
    if (pid == 0) {
        /* stdout is the test runner's pipe: do not hold it open */
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        if (n->log_file[0] && !freopen(n->log_file, "a", stderr))
            _exit(127);
        execv(exe, (char *const *)argv);
        _exit(127);
    }
    n->broker = pid;
    if (n_started == 0)
        atexit(kill_started);
    if (n_started < 64)
        started[n_started++] = pid;
    /* wait for the admin socket to answer */
    for (int i = 0; i < 100; i++) {
        char sock[400];
        snprintf(sock, sizeof sock, "%s/broker/admin.sock", n->dir);
        if (access(sock, F_OK) == 0)
            break;
        usleep(50000);
    }
    usleep(100000);
}

void net_kill_broker(net *n, int sig)
{
    if (n->broker <= 0)
        return;
    kill(n->broker, sig);
    int st = 0;
    waitpid(n->broker, &st, 0);
    /* A clean stop must be clean: exit 0 (under ASan a leak or an error makes it non-zero). */
    if (sig == SIGTERM && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "refbus-broker did not stop cleanly (status %d)\n", st);
        abort();
    }
    for (size_t i = 0; i < n_started; i++)
        if (started[i] == n->broker)
            started[i] = 0;
    n->broker = 0;
}

void net_free(net *n)
{
    net_kill_broker(n, SIGTERM);
    refbus_directory_free(&n->d);
    if (!getenv("REFBUS_TEST_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf %s", n->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", n->dir);
    }
}

static int connect_sock(bclient *c, net *n, const uint8_t pk[32], const uint8_t *sk)
{
    int zero = 0;
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, refbus_directory_broker_curve_pk(n->d), 32);
    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pk, 32);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sk, 32);
    return zmq_connect(c->sock, n->endpoint) == 0 ? 0 : -1;
}

/* Send what an encoder just wrote (rc its result) and free it. */
static int send_encoded(bclient *c, uint8_t cmd, int rc, uint8_t **b, const size_t *len)
{
    if (rc == 0)
        rc = bclient_send(c, cmd, *b, *len);
    free(*b);
    return rc;
}

int bclient_hello_as(bclient *c, const char *agency, uint32_t epoch, uint32_t credit)
{
    refbus_wire_hello h = {.version = REFBUS_WIRE_VERSION,
                           .agency = (char *)agency,
                           .epoch = epoch,
                           .credit = credit};
    uint8_t *b = NULL;
    size_t len = 0;
    return send_encoded(c, REFBUS_CMD_HELLO, refbus_wire_hello_encode(&b, &len, &h), &b, &len);
}

int bclient_hello(bclient *c, uint32_t credit)
{
    return bclient_hello_as(c, c->agency, refbus_keystore_current(c->ks)->epoch, credit);
}

int bclient_ack(bclient *c, uint64_t seq)
{
    refbus_wire_notice_ack a = {.seq = &seq, .n_seq = 1};
    uint8_t *b = NULL;
    size_t len = 0;
    return send_encoded(c, REFBUS_CMD_RECEIPT_ACK, refbus_wire_notice_ack_encode(&b, &len, &a), &b,
                        &len);
}

int bclient_ping(bclient *c, uint64_t time_ms)
{
    refbus_wire_ping p = {.time_ms = time_ms};
    uint8_t *b = NULL;
    size_t len = 0;
    return send_encoded(c, REFBUS_CMD_PING, refbus_wire_ping_encode(&b, &len, &p), &b, &len);
}

int bclient_open(bclient *c, net *n, const char *agency, uint32_t credit, int expect_welcome)
{
    char path[400], *pass = NULL;
    size_t plen = 0;
    memset(c, 0, sizeof *c);
    snprintf(c->agency, sizeof c->agency, "%s", agency);
    snprintf(path, sizeof path, "%s/pass", n->dir);
    if (refbus_passphrase_get(&pass, &plen, path, NULL, 0) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/keys/%s.bundle", n->dir, agency);
    int rc = refbus_keystore_open(&c->ks, path, pass, plen);
    refbus_passphrase_free(&pass, plen);
    if (rc != 0)
        return -1;
    const refbus_epoch_keys *k = refbus_keystore_current(c->ks);
    if (connect_sock(c, n, k->curve_pk, k->curve_sk) != 0)
        return -1;
    if (bclient_hello(c, credit) != 0)
        return -1;
    if (expect_welcome) {
        refbus_wire_msg m;
        if (bclient_expect(c, REFBUS_CMD_WELCOME, &m, 5000) != 0)
            return -1;
        refbus_wire_msg_clear(&m);
    }
    return 0;
}

int bclient_open_raw(bclient *c, net *n, const uint8_t pk[32], const uint8_t sk[32])
{
    memset(c, 0, sizeof *c);
    snprintf(c->agency, sizeof c->agency, "rogue");
    return connect_sock(c, n, pk, sk);
}

void bclient_close(bclient *c)
{
    /* A graceful close: PING and wait for the PONG, so that everything sent before (receipts,
     * acks) has been processed by the broker before LINGER 0 drops the connection. */
    if (c->sock && c->ks) {
        refbus_wire_msg m;
        if (bclient_send(c, REFBUS_CMD_PING, "", 0) == 0 &&
            bclient_expect(c, REFBUS_CMD_PONG, &m, 3000) == 0)
            refbus_wire_msg_clear(&m);
    }
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    refbus_keystore_free(&c->ks);
    memset(c, 0, sizeof *c);
}

int bclient_seal(bclient *c, net *n, const char *to, const void *payload, size_t len,
                 uint32_t priority, uint64_t expires_ms, uint8_t **env, size_t *env_len)
{
    refbus_recipient r[16];
    char names[16][65];
    size_t nr = 0;
    const char *p = to;
    while (*p && nr < 16) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(names[nr], sizeof names[nr], "%.*s", (int)l, p);
        const refbus_dir_key *k = NULL;
        if (refbus_directory_current_key(n->d, names[nr], &k) != 0) {
            /* unknown to the directory: seal to a throwaway key so the broker must refuse */
            static uint8_t junk_pk[32], junk_sk[32];
            crypto_box_keypair(junk_pk, junk_sk);
            r[nr] = (refbus_recipient){names[nr], 1, junk_pk};
        } else {
            r[nr] = (refbus_recipient){names[nr], k->epoch, k->enc_pk};
        }
        nr++;
        p = comma ? comma + 1 : p + l;
    }
    const refbus_epoch_keys *k = refbus_keystore_current(c->ks);
    uint64_t now = refbus_now_ms();
    refbus_seal_params sp = {.sender = c->agency,
                             .sender_epoch = k->epoch,
                             .sign_sk = k->sign_sk,
                             .recipients = r,
                             .n_recipients = nr,
                             .kind = REFBUS_KIND_REFERRAL,
                             .priority = (enum refbus_priority)priority,
                             .created_ms = expires_ms && expires_ms < now ? expires_ms - 1000 : now,
                             .expires_ms = expires_ms ? expires_ms : now + 86400000u};
    return refbus_envelope_seal(env, env_len, &sp, payload, len);
}

int bclient_send(bclient *c, uint8_t cmd, const void *body, size_t len)
{
    for (int i = 0; i < 200; i++) {
        int rc = refbus_wire_send(c->sock, NULL, 0, cmd, body, len);
        if (rc != REFBUS_EAGAIN)
            return rc;
        usleep(10000);
    }
    return REFBUS_EAGAIN;
}

int bclient_recv(bclient *c, refbus_wire_msg *m, int timeout_ms)
{
    zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
    uint64_t end = refbus_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int rc = refbus_wire_recv(c->sock, 0, m);
        if (rc != REFBUS_EAGAIN)
            return rc;
        uint64_t now = refbus_mono_ms();
        if (now >= end)
            return REFBUS_EAGAIN;
        zmq_poll(&it, 1, (long)(end - now));
    }
}

int bclient_expect(bclient *c, uint8_t cmd, refbus_wire_msg *m, int timeout_ms)
{
    uint64_t end = refbus_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        uint64_t now = refbus_mono_ms();
        if (now >= end)
            return REFBUS_EAGAIN;
        int rc = bclient_recv(c, m, (int)(end - now));
        if (rc != 0)
            return rc;
        if (m->cmd == cmd)
            return 0;
        refbus_wire_msg_clear(m);
    }
}

int bclient_accept_delivery(bclient *c, net *n, const refbus_wire_msg *m, refbus_envelope_header *h,
                            uint8_t **pl, size_t *pl_len)
{
    refbus_envelope_header ph;
    const refbus_dir_key *sk = NULL;
    int rc = refbus_envelope_parse(&ph, m->body, m->body_len);
    if (rc)
        return rc;
    if ((rc = refbus_directory_key(n->d, ph.sender, ph.sender_epoch, &sk)) != 0)
        return rc;
    refbus_enc_key keys[16];
    size_t nk = refbus_keystore_epoch_count(c->ks);
    for (size_t i = 0; i < nk && i < 16; i++) {
        const refbus_epoch_keys *e = refbus_keystore_epoch(c->ks, i);
        keys[i] = (refbus_enc_key){e->epoch, e->enc_sk, e->enc_pk};
    }
    rc = refbus_envelope_open(pl, pl_len, h, m->body, m->body_len, sk->sign_pk, c->agency, keys, nk,
                              refbus_now_ms());
    if (rc)
        return rc;
    const refbus_epoch_keys *k = refbus_keystore_current(c->ks);
    refbus_receipt r;
    memset(&r, 0, sizeof r);
    r.type = REFBUS_RECEIPT_DELIVERED;
    memcpy(r.msg_id, h->msg_id, 16);
    snprintf(r.sender, sizeof r.sender, "%s", h->sender);
    snprintf(r.recipient, sizeof r.recipient, "%s", c->agency);
    memcpy(r.envelope_hash, h->envelope_hash, 32);
    r.time_ms = refbus_now_ms();
    snprintf(r.signer, sizeof r.signer, "%s", c->agency);
    r.signer_epoch = k->epoch;
    uint8_t *body = NULL;
    size_t len = 0;
    if ((rc = refbus_receipt_sign(&body, &len, &r, k->sign_sk)) != 0)
        return rc;
    rc = bclient_send(c, REFBUS_CMD_DELIVERED, body, len);
    free(body);
    return rc;
}

int bclient_submit(bclient *c, net *n, const uint8_t *env, size_t len, refbus_receipt *r,
                   int timeout_ms)
{
    refbus_wire_msg m;
    int rc = bclient_send(c, REFBUS_CMD_SUBMIT, env, len);
    if (rc)
        return rc;
    for (;;) {
        if ((rc = bclient_recv(c, &m, timeout_ms)) != 0)
            return rc;
        if (m.cmd == REFBUS_CMD_ACCEPTED || m.cmd == REFBUS_CMD_REJECTED ||
            m.cmd == REFBUS_CMD_ERROR)
            break;
        refbus_wire_msg_clear(&m);
    }
    int cmd = m.cmd;
    if (cmd == REFBUS_CMD_ERROR) {
        refbus_wire_error e;
        memset(r, 0, sizeof *r);
        if ((rc = refbus_wire_error_decode(&e, m.body, m.body_len)) != 0) {
            cmd = rc;
        } else {
            r->reason = e.code;
            snprintf(r->reason_text, sizeof r->reason_text, "%s", e.text);
            if (e.has_msg_id)
                memcpy(r->msg_id, e.msg_id, 16);
        }
    } else if ((rc = refbus_receipt_verify(r, m.body, m.body_len,
                                           refbus_directory_broker_sign_pk(n->d))) != 0) {
        cmd = rc;
    }
    refbus_wire_msg_clear(&m);
    return cmd;
}
