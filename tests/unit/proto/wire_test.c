/* Wire framing over real ZeroMQ sockets (inproc) and signed receipts: good messages pass; wrong
 * frame counts, bad signatures, unknown commands and oversized bodies are refused without
 * desynchronising the stream; receipts reject tampering and the wrong signer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "proto/receipt.h"
#include "proto/wire.h"

typedef struct pair {
    void *ctx, *router, *dealer;
} pair;

static pair open_pair(void)
{
    pair p;
    p.ctx = zmq_ctx_new();
    p.router = zmq_socket(p.ctx, ZMQ_ROUTER);
    p.dealer = zmq_socket(p.ctx, ZMQ_DEALER);
    int one = 1, zero = 0;
    zmq_setsockopt(p.router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(p.router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p.dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(p.dealer, ZMQ_ROUTING_ID, "node-1", 6);
    assert_int_equal(zmq_bind(p.router, "inproc://wire-test"), 0);
    assert_int_equal(zmq_connect(p.dealer, "inproc://wire-test"), 0);
    return p;
}

static void close_pair(pair *p)
{
    zmq_close(p->dealer);
    zmq_close(p->router);
    zmq_ctx_term(p->ctx);
}

/* Wait until a message is readable, then receive it. */
static int recv_wait(void *sock, int router, refbus_wire_msg *m)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    zmq_poll(&it, 1, 2000);
    return refbus_wire_recv(sock, router, m);
}

static void test_roundtrip(void **s)
{
    (void)s;
    pair p = open_pair();
    refbus_wire_msg m;
    assert_int_equal(refbus_wire_recv(p.router, 1, &m), REFBUS_EAGAIN);
    assert_int_equal(refbus_wire_send(p.dealer, NULL, 0, REFBUS_CMD_SUBMIT, "abc", 3), 0);
    assert_int_equal(recv_wait(p.router, 1, &m), 0);
    assert_int_equal(m.cmd, REFBUS_CMD_SUBMIT);
    assert_int_equal(m.body_len, 3);
    assert_memory_equal(m.body, "abc", 3);
    assert_int_equal(m.rid_len, 6);
    assert_memory_equal(m.rid, "node-1", 6);
    /* and back, with an empty body */
    assert_int_equal(refbus_wire_send(p.router, m.rid, m.rid_len, REFBUS_CMD_PONG, NULL, 0), 0);
    refbus_wire_msg_clear(&m);
    assert_int_equal(recv_wait(p.dealer, 0, &m), 0);
    assert_int_equal(m.cmd, REFBUS_CMD_PONG);
    assert_int_equal(m.body_len, 0);
    refbus_wire_msg_clear(&m);
    /* unroutable peer: ROUTER_MANDATORY says so instead of dropping silently */
    assert_int_equal(refbus_wire_send(p.router, (const uint8_t *)"nobody", 6, REFBUS_CMD_PING, NULL,
                                      0),
                     REFBUS_EUNKNOWNPEER);
    close_pair(&p);
}

static void test_bad_frames(void **s)
{
    (void)s;
    pair p = open_pair();
    refbus_wire_msg m;
    uint8_t cmd = REFBUS_CMD_SUBMIT, bad = 0x7f;
    /* two frames */
    zmq_send(p.dealer, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE);
    zmq_send(p.dealer, &cmd, 1, 0);
    assert_int_equal(recv_wait(p.router, 1, &m), REFBUS_EFRAMES);
    assert_int_equal(m.rid_len, 6); /* we still know whom to answer */
    refbus_wire_msg_clear(&m);
    /* four frames */
    zmq_send(p.dealer, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE);
    zmq_send(p.dealer, &cmd, 1, ZMQ_SNDMORE);
    zmq_send(p.dealer, "x", 1, ZMQ_SNDMORE);
    zmq_send(p.dealer, "y", 1, 0);
    assert_int_equal(recv_wait(p.router, 1, &m), REFBUS_EFRAMES);
    refbus_wire_msg_clear(&m);
    /* wrong protocol signature / version */
    zmq_send(p.dealer, "RBUS\x02", 5, ZMQ_SNDMORE);
    zmq_send(p.dealer, &cmd, 1, ZMQ_SNDMORE);
    zmq_send(p.dealer, "x", 1, 0);
    assert_int_equal(recv_wait(p.router, 1, &m), REFBUS_EPROTO);
    refbus_wire_msg_clear(&m);
    /* unknown command */
    zmq_send(p.dealer, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE);
    zmq_send(p.dealer, &bad, 1, ZMQ_SNDMORE);
    zmq_send(p.dealer, "x", 1, 0);
    assert_int_equal(recv_wait(p.router, 1, &m), REFBUS_EPROTO);
    refbus_wire_msg_clear(&m);
    /* every number this version does not assign, the gaps below CMD_MAX included */
    for (unsigned c = 0; c < 256; c++) {
        uint8_t cb = (uint8_t)c;
        int known = refbus_wire_cmd_known(cb);
        assert_int_equal(known, strcmp(refbus_wire_cmd_name(cb), "UNKNOWN") != 0);
        if (known)
            continue;
        zmq_send(p.dealer, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE);
        zmq_send(p.dealer, &cb, 1, ZMQ_SNDMORE);
        zmq_send(p.dealer, "x", 1, 0);
        assert_int_equal(recv_wait(p.router, 1, &m), REFBUS_EPROTO);
        refbus_wire_msg_clear(&m);
    }
    assert_true(refbus_wire_cmd_known(REFBUS_CMD_PROOF_REQUEST));
    assert_string_equal(refbus_wire_cmd_name(REFBUS_CMD_PROOF_REQUEST), "PROOF_REQUEST");
    /* oversized body */
    size_t big = REFBUS_WIRE_MAX_BODY + 1;
    uint8_t *buf = calloc(1, big);
    zmq_send(p.dealer, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE);
    zmq_send(p.dealer, &cmd, 1, ZMQ_SNDMORE);
    zmq_send(p.dealer, buf, big, 0);
    free(buf);
    assert_int_equal(recv_wait(p.router, 1, &m), REFBUS_ETOOLARGE);
    refbus_wire_msg_clear(&m);
    /* the stream is still in step: a good message after all that */
    assert_int_equal(refbus_wire_send(p.dealer, NULL, 0, REFBUS_CMD_PING, "p", 1), 0);
    assert_int_equal(recv_wait(p.router, 1, &m), 0);
    assert_int_equal(m.cmd, REFBUS_CMD_PING);
    refbus_wire_msg_clear(&m);
    close_pair(&p);
}

static void test_receipts(void **s)
{
    (void)s;
    uint8_t pk[32], sk[64], pk2[32], sk2[64];
    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    refbus_receipt r = {0}, got;
    r.type = REFBUS_RECEIPT_DELIVERED;
    memset(r.msg_id, 7, sizeof r.msg_id);
    strcpy(r.sender, "ngo.hots");
    strcpy(r.recipient, "cac.chiangmai");
    memset(r.envelope_hash, 9, 32);
    r.time_ms = 1800000000000ull;
    strcpy(r.signer, "cac.chiangmai");
    r.signer_epoch = 2;
    uint8_t *b = NULL;
    size_t len = 0;
    assert_int_equal(refbus_receipt_sign(&b, &len, &r, sk), 0);
    assert_int_equal(refbus_receipt_verify(&got, b, len, pk), 0);
    assert_int_equal(got.type, REFBUS_RECEIPT_DELIVERED);
    assert_string_equal(got.recipient, "cac.chiangmai");
    assert_int_equal(got.signer_epoch, 2);
    assert_memory_equal(got.msg_id, r.msg_id, 16);
    assert_int_equal(refbus_receipt_verify(&got, b, len, pk2), REFBUS_EBADSIG);
    for (size_t i = 0; i < len; i++) {
        b[i] ^= 0x01;
        assert_int_not_equal(refbus_receipt_verify(&got, b, len, pk), 0);
        b[i] ^= 0x01;
    }
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(refbus_receipt_verify(&got, b, n, pk), 0);
    free(b);
    r.type = 9;
    assert_int_equal(refbus_receipt_sign(&b, &len, &r, sk), REFBUS_EINVAL);
    uint8_t junk[300];
    for (int i = 0; i < 500; i++) {
        size_t n = randombytes_uniform(sizeof junk);
        randombytes_buf(junk, n);
        assert_int_not_equal(refbus_receipt_verify(&got, junk, n, pk), 0);
    }
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_receipts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
