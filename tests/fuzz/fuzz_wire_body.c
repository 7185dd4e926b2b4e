/* libFuzzer: every wire body decoder of proto/wire_body.h on arbitrary bytes. Byte 0 picks the
 * body (its value modulo 8, in the order of `names` below), the rest is the body. What decodes
 * is encoded again and must decode to the same value, and that encoding must be canonical (the
 * one encoding of what it says) and a fixed point (encoding the value again gives the same
 * bytes). Must never crash or leak; a decoded value always keeps the body's rules. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pbutil.h"
#include "proto/wire_body.h"
#include "wire.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decoded twice (a from the input, b from a's encoding), compared field by field. */
#define SAME(x, y) ((x) == (y) ? (void)0 : abort())
#define SAME_BYTES(p, q, n) ((n) == 0 || memcmp((p), (q), (n)) == 0 ? (void)0 : abort())

/* enc must be the canonical encoding of `desc`, and enc2 (the value encoded again) the same. */
static void canonical(const ProtobufCMessageDescriptor *desc, const uint8_t *enc, size_t len,
                      const uint8_t *enc2, size_t len2)
{
    ProtobufCMessage *m = NULL;
    int rc = refbus_pb_unpack_canonical(&m, desc, enc, len);
    if (rc == REFBUS_ENOMEM)
        return;
    if (rc != 0 || len2 != len || memcmp(enc, enc2, len) != 0)
        abort();
    protobuf_c_message_free_unpacked(m, NULL);
}

static void hello(const uint8_t *b, size_t n)
{
    refbus_wire_hello a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_hello_decode(&a, b, n) != 0)
        goto out;
    if (!a.agency || refbus_wire_hello_encode(&e, &el, &a) != 0 ||
        refbus_wire_hello_decode(&c, e, el) != 0)
        abort();
    SAME(a.version, c.version);
    SAME(strcmp(a.agency, c.agency), 0);
    SAME(a.epoch, c.epoch);
    SAME(a.credit, c.credit);
    SAME(a.directory_serial, c.directory_serial);
    SAME(a.checkpoint_size, c.checkpoint_size);
    if (refbus_wire_hello_encode(&e2, &el2, &c) != 0)
        abort();
    canonical(&refbus__v1__hello__descriptor, e, el, e2, el2);
    refbus_wire_hello_clear(&c);
out:
    refbus_wire_hello_clear(&a);
    free(e);
    free(e2);
}

static void welcome(const uint8_t *b, size_t n)
{
    refbus_wire_welcome a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_welcome_decode(&a, b, n) != 0)
        return;
    if (strlen(a.broker_id) > REFBUS_AGENCY_ID_MAX || refbus_wire_welcome_encode(&e, &el, &a) ||
        refbus_wire_welcome_decode(&c, e, el) != 0 || refbus_wire_welcome_encode(&e2, &el2, &c))
        abort();
    SAME(memcmp(&a, &c, sizeof a), 0); /* decode zeroes the whole struct first */
    canonical(&refbus__v1__welcome__descriptor, e, el, e2, el2);
    free(e);
    free(e2);
}

static void notice(const uint8_t *b, size_t n)
{
    refbus_wire_notice a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_notice_decode(&a, b, n) != 0)
        return;
    if (refbus_wire_notice_encode(&e, &el, &a) != 0 || refbus_wire_notice_decode(&c, e, el) != 0)
        abort();
    SAME(a.seq, c.seq);
    SAME(a.receipt_len, c.receipt_len);
    SAME_BYTES(a.receipt, c.receipt, a.receipt_len);
    if (refbus_wire_notice_encode(&e2, &el2, &c) != 0)
        abort();
    canonical(&refbus__v1__notice__descriptor, e, el, e2, el2);
    refbus_wire_notice_clear(&a);
    refbus_wire_notice_clear(&c);
    free(e);
    free(e2);
}

static void notice_ack(const uint8_t *b, size_t n)
{
    refbus_wire_notice_ack a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_notice_ack_decode(&a, b, n) != 0)
        return;
    if (refbus_wire_notice_ack_encode(&e, &el, &a) != 0 ||
        refbus_wire_notice_ack_decode(&c, e, el) != 0)
        abort();
    SAME(a.n_seq, c.n_seq);
    SAME_BYTES(a.seq, c.seq, a.n_seq * sizeof *a.seq);
    if (refbus_wire_notice_ack_encode(&e2, &el2, &c) != 0)
        abort();
    canonical(&refbus__v1__notice_ack__descriptor, e, el, e2, el2);
    refbus_wire_notice_ack_clear(&a);
    refbus_wire_notice_ack_clear(&c);
    free(e);
    free(e2);
}

static void checkpoint_push(const uint8_t *b, size_t n)
{
    refbus_wire_checkpoint_push a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_checkpoint_push_decode(&a, b, n) != 0)
        return;
    if (a.signed_cp_len == 0 || a.n_proof > REFBUS_WIRE_MAX_PROOF ||
        refbus_wire_checkpoint_push_encode(&e, &el, &a) != 0 ||
        refbus_wire_checkpoint_push_decode(&c, e, el) != 0)
        abort();
    SAME(a.signed_cp_len, c.signed_cp_len);
    SAME_BYTES(a.signed_cp, c.signed_cp, a.signed_cp_len);
    SAME(a.from_size, c.from_size);
    SAME(a.n_proof, c.n_proof);
    SAME_BYTES(a.proof, c.proof, a.n_proof * sizeof *a.proof);
    if (refbus_wire_checkpoint_push_encode(&e2, &el2, &c) != 0)
        abort();
    canonical(&refbus__v1__checkpoint_push__descriptor, e, el, e2, el2);
    refbus_wire_checkpoint_push_clear(&a);
    refbus_wire_checkpoint_push_clear(&c);
    free(e);
    free(e2);
}

static void proof_request(const uint8_t *b, size_t n)
{
    refbus_wire_proof_request a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_proof_request_decode(&a, b, n) != 0)
        return;
    if (refbus_wire_proof_request_encode(&e, &el, &a) != 0 ||
        refbus_wire_proof_request_decode(&c, e, el) != 0 ||
        refbus_wire_proof_request_encode(&e2, &el2, &c) != 0)
        abort();
    SAME(a.from_size, c.from_size);
    SAME(a.to_size, c.to_size);
    canonical(&refbus__v1__proof_request__descriptor, e, el, e2, el2);
    free(e);
    free(e2);
}

static void error(const uint8_t *b, size_t n)
{
    refbus_wire_error a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_error_decode(&a, b, n) != 0)
        return;
    for (const char *p = a.text; *p; p++)
        if (*p < 0x20 || *p >= 0x7f)
            abort(); /* printable only: it goes to logs as is */
    if (strlen(a.text) > REFBUS_WIRE_ERROR_TEXT_MAX || refbus_wire_error_encode(&e, &el, &a) ||
        refbus_wire_error_decode(&c, e, el) != 0 || refbus_wire_error_encode(&e2, &el2, &c))
        abort();
    SAME(memcmp(&a, &c, sizeof a), 0); /* decode zeroes the whole struct first */
    canonical(&refbus__v1__wire_error__descriptor, e, el, e2, el2);
    free(e);
    free(e2);
}

static void ping(const uint8_t *b, size_t n)
{
    refbus_wire_ping a, c;
    uint8_t *e = NULL, *e2 = NULL;
    size_t el = 0, el2 = 0;
    if (refbus_wire_ping_decode(&a, b, n) != 0)
        return;
    if (refbus_wire_ping_encode(&e, &el, &a) != 0 || refbus_wire_ping_decode(&c, e, el) != 0 ||
        refbus_wire_ping_encode(&e2, &el2, &c) != 0)
        abort();
    SAME(a.time_ms, c.time_ms);
    SAME(a.session, c.session);
    canonical(&refbus__v1__ping__descriptor, e, el, e2, el2);
    free(e);
    free(e2);
}

static void (*const bodies[8])(const uint8_t *,
                               size_t) = {hello,           welcome,       notice, notice_ack,
                                          checkpoint_push, proof_request, error,  ping};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bodies[data[0] % 8](data + 1, size - 1);
    return 0;
}
