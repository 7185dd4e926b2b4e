/* libFuzzer: control-socket requests (nodes/control.c and everything it dispatches to: send,
 * reply, inbox_list, inbox_show, thread_show, outbox, status) against a real refbus-node
 * daemon running in this process. At start-up the target enrols a small network with the keys
 * library (root, broker, two agencies, allow-all policy, signed directory) under a temporary
 * directory (on /dev/shm when there is one: fsync is free there), starts the daemon on a thread
 * (its broker endpoint leads nowhere: sends queue in the outbox) and sends each input as one
 * request frame on a REQ socket, exactly as an agency system would.
 * Must never crash, leak, hang (no answer within 20 s aborts) or answer anything but one JSON
 * object with a boolean "ok". */
#include <pthread.h>
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

#include "common/log.h"
#include "fuzz_util.h"
#include "keys/admin.h"
#include "nodes/config.h"
#include "nodes/daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PASS "fuzz passphrase: long, random enough for any strength rule 7f3a9c"

static refbus_node_config cfg;
static void *zctx, *req;
static char endpoint[REFBUS_NODE_ENDPOINT_MAX];

static void must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fuzz_control setup: %s: %s\n", what, refbus_strerror(rc));
        abort();
    }
}

static void *daemon_thread(void *arg)
{
    (void)arg;
    int rc = refbus_node_daemon_run(&cfg);
    fprintf(stderr, "fuzz_control: the daemon stopped: %s\n", refbus_strerror(rc));
    abort();
}

static void set(const char *k, const char *v)
{
    char err[256];
    if (refbus_node_config_set(&cfg, k, v, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_control setup: %s\n", err);
        abort();
    }
}

static void setup(void)
{
    char t[256], adm[300], p[320], dir[320], ks[320], pf[320], data[320];
    refbus_kdf kdf = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
    refbus_admin *a = NULL;
    const char *ep[] = {"tcp://127.0.0.1:9"};
    struct stat st;
    if (sodium_init() < 0)
        abort();
    snprintf(t, sizeof t, "%s", fuzz_tmpdir("control"));
    snprintf(adm, sizeof adm, "%s/admin", t);
    snprintf(pf, sizeof pf, "%s/pass", t);
    snprintf(dir, sizeof dir, "%s/directory.bin", t);
    snprintf(ks, sizeof ks, "%s/ngo.bundle", t);
    snprintf(data, sizeof data, "%s/data", t);
    FILE *f = fopen(pf, "w");
    if (!f || fputs(PASS "\n", f) < 0 || fclose(f) != 0)
        abort();
    must(refbus_admin_init(adm, PASS, strlen(PASS), &kdf, NULL), "admin init");
    must(refbus_admin_open(&a, adm), "admin open");
    snprintf(p, sizeof p, "%s/broker.bundle", t);
    must(refbus_admin_broker_add(a, "broker.cm", ep, 1, p, PASS, strlen(PASS), &kdf), "broker");
    must(refbus_admin_agency_add(a, "ngo.hots", "Heart of the Street", REFBUS_AGENCY_NGO, ks, PASS,
                                 strlen(PASS), &kdf),
         "agency");
    snprintf(p, sizeof p, "%s/cac.bundle", t);
    must(refbus_admin_agency_add(a, "cac.chiangmai", "CAC", REFBUS_AGENCY_CAC, p, PASS,
                                 strlen(PASS), &kdf),
         "agency");
    must(refbus_admin_policy(a, "*", "*", REFBUS_POLICY_ALLOW), "policy");
    must(refbus_admin_sign(a, PASS, strlen(PASS), dir, NULL), "sign");
    refbus_admin_close(&a);

    refbus_node_config_init(&cfg);
    set("agency", "ngo.hots");
    set("keystore", ks);
    set("passphrase_file", pf);
    set("directory", dir);
    set("data_dir", data);
    set("log_level", "error");
    set("map_size_mb", "256");
    char err[256];
    if (refbus_node_config_finish(&cfg, 1, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_control setup: %s\n", err);
        abort();
    }
    snprintf(endpoint, sizeof endpoint, "%s", cfg.control);
    refbus_log_init("fuzz", REFBUS_LOG_ERROR, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, daemon_thread, NULL) != 0)
        abort();
    pthread_detach(th);

    int to = 20000, zero = 0;
    zctx = zmq_ctx_new();
    req = zmq_socket(zctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &to, sizeof to);
    /* the daemon binds once its keys and store are open */
    for (int i = 0; i < 600; i++) {
        char sock[REFBUS_NODE_ENDPOINT_MAX];
        snprintf(sock, sizeof sock, "%s", endpoint + 6);
        if (stat(sock, &st) == 0)
            break;
        usleep(50000);
    }
    if (zmq_connect(req, endpoint) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!req)
        setup();
    if (zmq_send(req, size ? data : (const uint8_t *)"", size, 0) < 0)
        abort();
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, req, 0) < 0) {
        fprintf(stderr, "fuzz_control: no answer: %s\n", zmq_strerror(zmq_errno()));
        abort(); /* the daemon hung or died on this request */
    }
    json_error_t je;
    json_t *ans = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &je);
    if (!json_is_object(ans) || !json_is_boolean(json_object_get(ans, "ok"))) {
        fprintf(stderr, "fuzz_control: bad answer: %.*s\n", (int)zmq_msg_size(&m),
                (const char *)zmq_msg_data(&m));
        abort();
    }
    json_decref(ans);
    zmq_msg_close(&m);
    return 0;
}
