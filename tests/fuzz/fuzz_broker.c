/* libFuzzer: the broker's message dispatch end to end (broker/broker.c handle_msg and what it
 * calls: HELLO, SUBMIT, DELIVERED, RECEIPT_ACK, PING, anything else, and framing refusals) on a
 * real broker running in this process (fuzz_net.h), reached the way a node reaches it: over
 * TCP loopback with CurveZMQ as the enrolled agency ngo.hots, so ZAP, authentication and the
 * per-agency state are all real.
 *
 * Input: byte 0 picks the shape. Bit 0 clear: one well-framed message, byte 1 the command, the
 * rest the body. Bit 0 set: raw frames, each a 2-byte big-endian length and that many bytes.
 * Bit 1: send a valid HELLO first (so DELIVERED and RECEIPT_ACK reach their handlers).
 * After each input a PING with a fresh timestamp must come back as a PONG within 20 s: the
 * broker handled everything before it and still serves this agency. Must never crash, leak or
 * hang the broker. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "fuzz_net.h"
#include "keys/directory.h"
#include "keys/keystore.h"
#include "proto/wire.h"
#include "proto/wire_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fuzz_net net;
static void *zctx, *dealer;
static uint8_t hello[64];
static size_t hello_len;
static uint64_t ping_n;

static void setup(void)
{
    refbus_keystore *ks = NULL;
    refbus_directory *dir = NULL;
    uint8_t *db = NULL;
    size_t dl = 0;
    int zero = 0;
    fuzz_net_start(&net, "broker");
    fuzz_must(refbus_keystore_open(&ks, net.bundle_ngo, FUZZ_PASS, strlen(FUZZ_PASS)), "bundle");
    FILE *f = fopen(net.directory, "rb");
    if (!f || !(db = malloc(65536)) || (dl = fread(db, 1, 65536, f)) == 0)
        abort();
    fclose(f);
    fuzz_must(refbus_directory_load(&dir, db, dl, refbus_keystore_root_pk(ks), NULL), "directory");
    free(db);
    const refbus_epoch_keys *k = refbus_keystore_current(ks);
    zctx = zmq_ctx_new();
    dealer = zmq_socket(zctx, ZMQ_DEALER);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_CURVE_SERVERKEY, refbus_directory_broker_curve_pk(dir), 32);
    zmq_setsockopt(dealer, ZMQ_CURVE_PUBLICKEY, k->curve_pk, 32);
    zmq_setsockopt(dealer, ZMQ_CURVE_SECRETKEY, k->curve_sk, 32);
    if (zmq_connect(dealer, net.node_ep) != 0)
        abort();
    refbus_wire_hello h = {.version = 1,
                           .agency = (char *)"ngo.hots",
                           .epoch = k->epoch,
                           .credit = 8};
    uint8_t *hb = NULL;
    if (refbus_wire_hello_encode(&hb, &hello_len, &h) != 0 || hello_len > sizeof hello)
        abort();
    memcpy(hello, hb, hello_len);
    free(hb);
    refbus_directory_free(&dir);
    refbus_keystore_free(&ks);
}

static void frame(const void *d, size_t n, int more)
{
    if (zmq_send(dealer, n ? d : "", n, more ? ZMQ_SNDMORE : 0) < 0)
        abort();
}

/* PING and wait for its PONG, discarding whatever else the broker says meanwhile. */
static void sync_with_broker(void)
{
    refbus_wire_ping p = {.time_ms = ++ping_n};
    uint8_t *body = NULL;
    size_t n = 0;
    if (refbus_wire_ping_encode(&body, &n, &p) != 0 ||
        refbus_wire_send(dealer, NULL, 0, REFBUS_CMD_PING, body, n) != 0)
        abort();
    free(body);
    for (;;) {
        zmq_pollitem_t it = {dealer, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20000) != 1) {
            fprintf(stderr, "fuzz_broker: no PONG within 20 s\n");
            abort(); /* the broker hung, died, or stopped serving this agency */
        }
        refbus_wire_msg m;
        int rc = refbus_wire_recv(dealer, 0, &m), done = 0;
        if (rc == 0 && m.cmd == REFBUS_CMD_PONG) { /* the Ping's time, and the session state */
            refbus_wire_ping pong;
            done =
                refbus_wire_ping_decode(&pong, m.body, m.body_len) == 0 && pong.time_ms == ping_n;
        }
        refbus_wire_msg_clear(&m);
        if (done)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dealer)
        setup();
    if (size < 2)
        return 0;
    if (data[0] & 2) {
        if (refbus_wire_send(dealer, NULL, 0, REFBUS_CMD_HELLO, hello, hello_len) != 0)
            abort();
    }
    if ((data[0] & 1) == 0) {
        if (refbus_wire_send(dealer, NULL, 0, data[1], data + 2, size - 2) != 0)
            abort();
    } else {
        const uint8_t *p = data + 1, *end = data + size;
        while (p < end) {
            size_t n = (size_t)(end - p) >= 2 ? ((size_t)p[0] << 8 | p[1]) : 0;
            p += (size_t)(end - p) >= 2 ? 2 : (size_t)(end - p);
            if (n > (size_t)(end - p))
                n = (size_t)(end - p);
            frame(p, n, p + n < end);
            p += n;
        }
    }
    sync_with_broker();
    return 0;
}
