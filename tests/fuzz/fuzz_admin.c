/* libFuzzer: admin-socket requests (broker/admin.c: status, publish with a directory body,
 * checkpoint, anything else) against a real broker running in this process. At start-up the
 * target enrols a small network with the keys library (root, broker, one agency, signed
 * directory) in a temporary directory and runs refbus_broker_open/_run on a thread (its node
 * endpoint on a free loopback port nobody uses). Each input becomes one request: byte 0 picks
 * the shape — 0: "status", 1: "checkpoint", 2: "publish" + the rest as the directory body,
 * 3: the rest split into frames at each 0x00 byte (at most 8), anything else: the rest as one
 * frame. Must never crash, leak, hang (no answer within 20 s aborts) or answer anything but one
 * JSON object with a boolean "ok"; a directory the root did not sign is never installed. */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "broker/broker.h"
#include "common/log.h"
#include "fuzz_util.h"
#include "keys/admin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "fuzz passphrase: long, random enough for any strength rule 7f3a9c"

static refbus_broker_config cfg;
static refbus_broker *broker;
static volatile sig_atomic_t stop_flag;
static void *zctx, *req;

static void must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fuzz_admin setup: %s: %s\n", what, refbus_strerror(rc));
        abort();
    }
}

static void *broker_thread(void *arg)
{
    (void)arg;
    int rc = refbus_broker_run(broker);
    fprintf(stderr, "fuzz_admin: the broker stopped: %s\n", refbus_strerror(rc));
    abort();
}

static void set(const char *k, const char *v)
{
    if (refbus_broker_config_set(&cfg, k, v) != 0) {
        fprintf(stderr, "fuzz_admin setup: %s = %s refused\n", k, v);
        abort();
    }
}

static void setup(void)
{
    char t[256], adm[300], ks[320], dir[320], pf[320], data[320], p[320];
    refbus_kdf kdf = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
    refbus_admin *a = NULL;
    const char *ep[] = {"tcp://127.0.0.1:9"};
    if (sodium_init() < 0)
        abort();
    snprintf(t, sizeof t, "%s", fuzz_tmpdir("admin"));
    snprintf(adm, sizeof adm, "%s/admin", t);
    snprintf(pf, sizeof pf, "%s/pass", t);
    snprintf(dir, sizeof dir, "%s/directory.bin", t);
    snprintf(ks, sizeof ks, "%s/broker.bundle", t);
    snprintf(data, sizeof data, "%s/data", t);
    FILE *f = fopen(pf, "w");
    if (!f || fputs(PASS "\n", f) < 0 || fclose(f) != 0)
        abort();
    if (mkdir(data, 0700) != 0)
        abort();
    must(refbus_admin_init(adm, PASS, strlen(PASS), &kdf, NULL), "admin init");
    must(refbus_admin_open(&a, adm), "admin open");
    must(refbus_admin_broker_add(a, "broker.cm", ep, 1, ks, PASS, strlen(PASS), &kdf), "broker");
    snprintf(p, sizeof p, "%s/ngo.bundle", t);
    must(refbus_admin_agency_add(a, "ngo.hots", "Heart of the Street", REFBUS_AGENCY_NGO, p, PASS,
                                 strlen(PASS), &kdf),
         "agency");
    must(refbus_admin_policy(a, "*", "*", REFBUS_POLICY_ALLOW), "policy");
    must(refbus_admin_sign(a, PASS, strlen(PASS), dir, NULL), "sign");
    refbus_admin_close(&a);

    refbus_broker_config_defaults(&cfg);
    set("data_dir", data);
    set("bind", "tcp://127.0.0.1:*");
    set("keystore", ks);
    set("passphrase_file", pf);
    set("directory", dir);
    set("log_level", "error");
    set("map_size_mb", "64");
    refbus_log_init("fuzz", REFBUS_LOG_ERROR, 0);
    must(refbus_broker_open(&broker, &cfg, &stop_flag), "broker open");
    pthread_t th;
    if (pthread_create(&th, NULL, broker_thread, NULL) != 0)
        abort();
    pthread_detach(th);

    char endpoint[600];
    int to = 20000, zero = 0;
    snprintf(endpoint, sizeof endpoint, "ipc://%s/admin.sock", data);
    zctx = zmq_ctx_new();
    req = zmq_socket(zctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &to, sizeof to);
    if (zmq_connect(req, endpoint) != 0)
        abort();
}

static void frame(const void *d, size_t n, int more)
{
    if (zmq_send(req, n ? d : "", n, more ? ZMQ_SNDMORE : 0) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!req)
        setup();
    if (size < 1)
        return 0;
    const uint8_t *b = data + 1;
    size_t n = size - 1;
    switch (data[0]) {
    case 0: frame("status", 6, 0); break;
    case 1: frame("checkpoint", 10, 0); break;
    case 2:
        frame("publish", 7, 1);
        frame(b, n, 0);
        break;
    case 3: {
        int k = 0;
        while (k < 7) {
            const uint8_t *z = memchr(b, 0, n);
            if (!z)
                break;
            frame(b, (size_t)(z - b), 1);
            n -= (size_t)(z - b) + 1;
            b = z + 1;
            k++;
        }
        frame(b, n, 0);
        break;
    }
    default: frame(b, n, 0); break;
    }
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, req, 0) < 0) {
        fprintf(stderr, "fuzz_admin: no answer: %s\n", zmq_strerror(zmq_errno()));
        abort(); /* the broker hung or died on this request */
    }
    json_t *ans = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
    if (!json_is_object(ans) || !json_is_boolean(json_object_get(ans, "ok"))) {
        fprintf(stderr, "fuzz_admin: bad answer: %.*s\n", (int)zmq_msg_size(&m),
                (const char *)zmq_msg_data(&m));
        abort();
    }
    if (data[0] == 2 && json_is_true(json_object_get(ans, "ok")) &&
        json_integer_value(json_object_get(ans, "serial")) != 1)
        abort(); /* a directory the root never signed (only serial 1 exists) was installed */
    json_decref(ans);
    zmq_msg_close(&m);
    return 0;
}
