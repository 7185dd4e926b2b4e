/* libFuzzer: the broker's frame reading (refbus_wire_recv on its ROUTER socket, and on a node's
 * socket) and the node -> broker bodies the broker decodes: HELLO (Hello), RECEIPT_ACK
 * (NoticeAck), PING, PROOF_REQUEST and DELIVERED (a SignedReceipt, checked against a fixed key
 * nobody gave the fuzzer). The frames travel over a real inproc ZeroMQ connection, so
 * multipart handling, oversize and missing frames go through the same code as on TCP.
 *
 * Input: byte 0 picks the mode. Even: one well-framed message, byte 1 the command, the rest the
 * body. Odd: raw frames, each a 2-byte big-endian length and that many bytes (the last one may
 * be short), to test framing itself. Bit 1 of byte 0: read on the node side (no routing id).
 * Must never crash or leak, never leave a frame behind for the next message, and never accept
 * a forged receipt. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "proto/receipt.h"
#include "proto/wire.h"
#include "proto/wire_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *zctx, *router, *dealer, *pair_a, *pair_b;

static void setup(void)
{
    int zero = 0, hwm = 0;
    if (sodium_init() < 0 || !(zctx = zmq_ctx_new()))
        abort();
    router = zmq_socket(zctx, ZMQ_ROUTER);
    dealer = zmq_socket(zctx, ZMQ_DEALER);
    pair_a = zmq_socket(zctx, ZMQ_PAIR);
    pair_b = zmq_socket(zctx, ZMQ_PAIR);
    if (!router || !dealer || !pair_a || !pair_b)
        abort();
    void *all[] = {router, dealer, pair_a, pair_b};
    for (size_t i = 0; i < 4; i++) {
        zmq_setsockopt(all[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(all[i], ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt(all[i], ZMQ_RCVHWM, &hwm, sizeof hwm);
    }
    if (zmq_bind(router, "inproc://fuzz-broker") != 0 ||
        zmq_connect(dealer, "inproc://fuzz-broker") != 0 ||
        zmq_bind(pair_a, "inproc://fuzz-node") != 0 ||
        zmq_connect(pair_b, "inproc://fuzz-node") != 0)
        abort();
}

/* What the broker does with a well-framed body (broker/broker.c handle_msg, deliver.c). */
static void bodies(uint8_t cmd, const uint8_t *b, size_t n, const uint8_t pk[32])
{
    switch (cmd) {
    case REFBUS_CMD_HELLO: {
        refbus_wire_hello h;
        if (refbus_wire_hello_decode(&h, b, n) == 0 && strlen(h.agency) > n)
            abort();
        refbus_wire_hello_clear(&h);
        break;
    }
    case REFBUS_CMD_RECEIPT_ACK: {
        refbus_wire_notice_ack a;
        if (refbus_wire_notice_ack_decode(&a, b, n) == 0 && a.n_seq > n)
            abort();
        refbus_wire_notice_ack_clear(&a);
        break;
    }
    case REFBUS_CMD_PING:
    case REFBUS_CMD_PONG: {
        refbus_wire_ping p;
        (void)refbus_wire_ping_decode(&p, b, n);
        break;
    }
    case REFBUS_CMD_PROOF_REQUEST: {
        refbus_wire_proof_request r;
        (void)refbus_wire_proof_request_decode(&r, b, n);
        break;
    }
    case REFBUS_CMD_DELIVERED: {
        refbus_receipt r;
        if (refbus_receipt_parse(&r, b, n) == 0 &&
            (memchr(r.signer, 0, sizeof r.signer) == NULL ||
             memchr(r.sender, 0, sizeof r.sender) == NULL ||
             memchr(r.reason_text, 0, sizeof r.reason_text) == NULL))
            abort();
        if (refbus_receipt_verify(&r, b, n, pk) == 0)
            abort(); /* signed by a key nobody gave the fuzzer */
        break;
    }
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32];
    if (!zctx) {
        uint8_t seed[32], sk[64];
        setup();
        memset(seed, 0xab, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
    }
    if (size < 2)
        return 0;
    int node_side = (data[0] & 2) != 0;
    void *tx = node_side ? pair_b : dealer, *rx = node_side ? pair_a : router;
    if ((data[0] & 1) == 0) {
        if (refbus_wire_send(tx, NULL, 0, data[1], data + 2, size - 2) != 0)
            abort();
    } else {
        const uint8_t *p = data + 1, *end = data + size;
        int sent = 0;
        while (p < end) {
            size_t n = (size_t)(end - p) >= 2 ? ((size_t)p[0] << 8 | p[1]) : 0;
            p += (size_t)(end - p) >= 2 ? 2 : (size_t)(end - p);
            if (n > (size_t)(end - p))
                n = (size_t)(end - p);
            int more = p + n < end;
            if (zmq_send(tx, n ? p : (const uint8_t *)"", n, more ? ZMQ_SNDMORE : 0) < 0)
                abort();
            sent = 1;
            p += n;
        }
        if (!sent && zmq_send(tx, "", 0, 0) < 0)
            abort();
    }
    refbus_wire_msg m;
    int rc;
    /* inproc is asynchronous: wait for the message to arrive */
    zmq_pollitem_t it = {rx, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 2000) != 1)
        abort();
    rc = refbus_wire_recv(rx, !node_side, &m);
    if (rc == 0) {
        if (m.cmd == 0 || m.cmd > REFBUS_CMD_MAX || m.body_len > REFBUS_WIRE_MAX_BODY ||
            (m.body_len && !m.body))
            abort();
        if (!node_side && m.rid_len == 0)
            abort(); /* the ROUTER always names the connection */
        bodies(m.cmd, m.body, m.body_len, pk);
    } else if (rc == REFBUS_EAGAIN || m.body) {
        abort(); /* a refused message keeps no body; something was waiting */
    }
    refbus_wire_msg_clear(&m);
    /* every frame of the message was consumed: nothing is left for the next one */
    refbus_wire_msg next;
    if (refbus_wire_recv(rx, !node_side, &next) != REFBUS_EAGAIN)
        abort();
    return 0;
}
