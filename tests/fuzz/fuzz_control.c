/* libFuzzer: control-socket requests (nodes/daemon/control.c and everything it dispatches to: send,
 * reply, inbox_list, inbox_show, thread_show, outbox, status) against a real refbus-node
 * daemon (ngo.hots) running in this process, connected to a real broker that runs here too
 * (fuzz_net.h). At start-up cac.chiangmai refers one child to ngo.hots (msg id 4242..., thread
 * 2424..., inbox #1), so that inbox_show, reply and thread_show reach real records. Each input
 * is one request frame on a REQ socket, exactly as an agency system sends it.
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

#include "fuzz_net.h"
#include "common/util.h"
#include "keys/directory.h"
#include "keys/keystore.h"
#include "nodes/daemon/config.h"
#include "nodes/daemon/daemon.h"
#include "nodes/rules/referral_json.h"
#include "proto/envelope.h"
#include "proto/frames.h"
#include "proto/wire.h"
#include "proto/wire_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fuzz_net net;
static refbus_node_config cfg;
static void *zctx, *req;

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

/* One request during setup; 1 when jq-like `key.sub` of the answer equals `want`. */
static int status_is(const char *key, const char *sub, json_int_t want, const char *want_s)
{
    const char *q = "{\"cmd\":\"status\"}";
    char buf[65536];
    if (zmq_send(req, q, strlen(q), 0) < 0)
        abort();
    int n = zmq_recv(req, buf, sizeof buf - 1, 0);
    if (n < 0)
        abort();
    buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = 0;
    json_t *o = json_loads(buf, 0, NULL), *v = json_object_get(json_object_get(o, key), sub);
    int ok = want_s ? json_is_string(v) && strcmp(json_string_value(v), want_s) == 0
                    : json_is_integer(v) && json_integer_value(v) == want;
    json_decref(o);
    return ok;
}

/* cac.chiangmai refers a child to ngo.hots (msg id 42.., thread 24..), straight through the
 * broker, so that the node under test has something in its inbox and a thread to answer. */
static void seed_inbox(void)
{
    refbus_keystore *ks = NULL;
    refbus_directory *dir = NULL;
    const refbus_dir_key *to = NULL;
    uint8_t msg_id[16], thread_id[16], *pl = NULL, *env = NULL;
    size_t pl_len = 0, env_len = 0;
    int urgency = 0, zero = 0;
    char err[REFBUS_JSON_ERR_MAX];
    memset(msg_id, 0x42, sizeof msg_id);
    memset(thread_id, 0x24, sizeof thread_id);
    fuzz_must(refbus_keystore_open(&ks, net.bundle_cac, FUZZ_PASS, strlen(FUZZ_PASS)), "bundle");
    fuzz_must(refbus_directory_load_file(&dir, net.directory, refbus_keystore_root_pk(ks), NULL),
              "directory");
    fuzz_must(refbus_directory_current_key(dir, "ngo.hots", &to), "recipient key");
    json_t *ref =
        json_loads("{\"case_ref\":\"FUZZ-1\",\"type\":\"trafficking\",\"urgency\":\"urgent\","
                   "\"child\":{\"pseudonym\":\"Dao\",\"age\":14,\"gender\":\"female\"},"
                   "\"summary\":\"a referral for the fuzzer\",\"services\":[\"shelter\"],"
                   "\"consent\":{\"basis\":\"guardian\",\"given_by\":\"aunt\"},"
                   "\"contact\":{\"name\":\"Khun Malee\",\"role\":\"outreach worker\"}}",
                   0, NULL);
    if (!ref)
        abort();
    int rc = refbus_referral_from_json(&pl, &pl_len, &urgency, ref, thread_id, err);
    if (rc) {
        fprintf(stderr, "fuzz_control setup: referral: %s\n", err);
        abort();
    }
    json_decref(ref);
    const refbus_epoch_keys *k = refbus_keystore_current(ks);
    refbus_recipient r = {"ngo.hots", to->epoch, to->enc_pk};
    uint64_t now = refbus_now_ms();
    refbus_seal_params p = {.sender = "cac.chiangmai",
                            .sender_epoch = k->epoch,
                            .sign_sk = k->sign_sk,
                            .recipients = &r,
                            .n_recipients = 1,
                            .kind = REFBUS_KIND_REFERRAL,
                            .priority = REFBUS_PRIORITY_URGENT,
                            .created_ms = now,
                            .expires_ms = now + 30ull * 86400000ull,
                            .msg_id = msg_id};
    fuzz_must(refbus_envelope_seal(&env, &env_len, &p, pl, pl_len), "seal");
    free(pl);
    void *d = zmq_socket(zctx, ZMQ_DEALER);
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, refbus_directory_broker_curve_pk(dir), 32);
    zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, k->curve_pk, 32);
    zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, k->curve_sk, 32);
    if (zmq_connect(d, net.node_ep) != 0)
        abort();
    refbus_wire_hello h = {.version = 1,
                           .agency = (char *)"cac.chiangmai",
                           .epoch = k->epoch,
                           .credit = 1};
    uint8_t *hb = NULL;
    size_t hl = 0;
    if (refbus_wire_hello_encode(&hb, &hl, &h) != 0 ||
        refbus_wire_send(d, NULL, 0, REFBUS_CMD_HELLO, hb, hl) != 0 ||
        refbus_wire_send(d, NULL, 0, REFBUS_CMD_SUBMIT, env, env_len) != 0)
        abort();
    free(hb);
    for (int got = 0; !got;) {
        zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
        refbus_wire_msg m;
        if (zmq_poll(&it, 1, 20000) != 1 || refbus_wire_recv(d, 0, &m) != 0)
            abort();
        if (m.cmd == REFBUS_CMD_REJECTED || m.cmd == REFBUS_CMD_ERROR)
            abort();
        got = m.cmd == REFBUS_CMD_ACCEPTED;
        refbus_wire_msg_clear(&m);
    }
    zmq_close(d);
    free(env);
    refbus_directory_free(&dir);
    refbus_keystore_free(&ks);
}

static void setup(void)
{
    char data[500], pf[400];
    int to = 20000, zero = 0;
    fuzz_net_start(&net, "control");
    snprintf(data, sizeof data, "%s/node", net.dir);
    snprintf(pf, sizeof pf, "%s/pass", net.dir);
    refbus_node_config_init(&cfg);
    set("agency", "ngo.hots");
    set("keystore", net.bundle_ngo);
    set("passphrase_file", pf);
    set("directory", net.directory);
    set("broker", net.node_ep);
    set("data_dir", data);
    set("log_level", "error");
    set("map_size_mb", "256");
    set("reconnect_min_ms", "50");
    char err[256];
    if (refbus_node_config_finish(&cfg, 1, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_control setup: %s\n", err);
        abort();
    }
    pthread_t th;
    if (refbus_node_daemon_init(&cfg) != 0) { /* the store is made by an explicit init */
        fprintf(stderr, "fuzz_control setup: refbus-node init failed\n");
        abort();
    }
    if (pthread_create(&th, NULL, daemon_thread, NULL) != 0)
        abort();
    pthread_detach(th);

    zctx = zmq_ctx_new();
    req = zmq_socket(zctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &to, sizeof to);
    /* the daemon binds once its keys and store are open */
    struct stat st;
    for (int i = 0; i < 600 && stat(cfg.control + 6, &st) != 0; i++)
        usleep(50000);
    if (zmq_connect(req, cfg.control) != 0)
        abort();
    for (int i = 0; !status_is("broker", "state", 0, "ready"); i++) {
        if (i == 400)
            abort();
        usleep(50000);
    }
    seed_inbox();
    for (int i = 0; !status_is("inbox", "messages", 1, NULL); i++) {
        if (i == 400) {
            fprintf(stderr, "fuzz_control setup: the seeded referral never arrived\n");
            abort();
        }
        usleep(50000);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!req)
        setup();
    if (zmq_send(req, size ? data : (const uint8_t *)"", size, 0) < 0)
        abort();
    refbus_frames fs;
    int frc = refbus_frames_recv(&fs, req, 0, 1, SIZE_MAX, 0);
    if (frc != 0) {
        fprintf(stderr, "fuzz_control: no answer of one frame: %s\n", refbus_strerror(frc));
        abort(); /* the daemon hung or died on this request */
    }
    zmq_msg_t *m = &fs.part[0];
    json_error_t je;
    json_t *ans = json_loadb(zmq_msg_data(m), zmq_msg_size(m), 0, &je);
    if (!json_is_object(ans) || !json_is_boolean(json_object_get(ans, "ok"))) {
        fprintf(stderr, "fuzz_control: bad answer: %.*s\n", (int)zmq_msg_size(m),
                (const char *)zmq_msg_data(m));
        abort();
    }
    json_decref(ans);
    refbus_frames_close(&fs);
    return 0;
}
