/* libFuzzer: admin-socket requests (broker/admin.c: status, publish with a directory body,
 * checkpoint, anything else) against a real broker running in this process. The network and the
 * broker thread come from fuzz_net.h. Each input becomes one request: byte 0 picks
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

#include "fuzz_net.h"
#include "proto/frames.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fuzz_net net;
static void *zctx, *req;

static void setup(void)
{
    int to = 20000, zero = 0;
    fuzz_net_start(&net, "admin");
    zctx = zmq_ctx_new();
    req = zmq_socket(zctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &to, sizeof to);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &to, sizeof to);
    if (zmq_connect(req, net.admin_ep) != 0)
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
    refbus_frames fs;
    int frc = refbus_frames_recv(&fs, req, 0, 1, SIZE_MAX, 0);
    if (frc != 0) {
        fprintf(stderr, "fuzz_admin: no answer of one frame: %s\n", refbus_strerror(frc));
        abort(); /* the broker hung or died on this request */
    }
    zmq_msg_t *m = &fs.part[0];
    /* the metrics command answers Prometheus text (broker/admin.c), every other one JSON */
    static const char prom[] = "# HELP refbus_broker_";
    if (zmq_msg_size(m) > sizeof prom - 1 && memcmp(zmq_msg_data(m), prom, sizeof prom - 1) == 0) {
        refbus_frames_close(&fs);
        return 0;
    }
    json_t *ans = json_loadb(zmq_msg_data(m), zmq_msg_size(m), 0, NULL);
    if (!json_is_object(ans) || !json_is_boolean(json_object_get(ans, "ok"))) {
        fprintf(stderr, "fuzz_admin: bad answer: %.*s\n", (int)zmq_msg_size(m),
                (const char *)zmq_msg_data(m));
        abort();
    }
    if (data[0] == 2 && json_is_true(json_object_get(ans, "ok")) &&
        json_integer_value(json_object_get(ans, "serial")) != 1)
        abort(); /* a directory the root never signed (only serial 1 exists) was installed */
    json_decref(ans);
    refbus_frames_close(&fs);
    return 0;
}
