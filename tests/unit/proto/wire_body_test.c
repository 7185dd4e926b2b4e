/* proto/wire_body (one codec per wire body) and proto/frames (the one multipart receive loop):
 * every encoder writes exactly the bytes protobuf-c writes for the same fields (what the broker,
 * node and test client sent before the codec existed, and what tests/interop/ reads), the
 * PROTOCOL.md example decodes, each body's rules refuse what breaks them (EPROTO, EINVAL), and
 * the receive loop consumes whole messages however many frames or bytes they hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zmq.h>

#include "proto/frames.h"
#include "proto/pbutil.h"
#include "proto/wire_body.h"
#include "wire.pb-c.h"

/* `got` (malloc'd, freed here) must be exactly protobuf-c's packing of `m`. */
static void same_as_pb(uint8_t *got, size_t got_len, const ProtobufCMessage *m)
{
    uint8_t *want = NULL;
    size_t want_len = 0;
    assert_int_equal(refbus_pb_pack(&want, &want_len, m), 0);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(want);
    free(got);
}

static void test_bytes_as_before(void **s)
{
    (void)s;
    uint8_t *b = NULL, msg_id[16], cp[40], proof[3][32];
    size_t n = 0;
    memset(msg_id, 0x5a, sizeof msg_id);
    memset(cp, 0x11, sizeof cp);
    memset(proof, 0x22, sizeof proof);

    refbus_wire_hello h = {1, (char *)"ngo.hots", 2, 64, 9, 17};
    Refbus__V1__Hello ph = REFBUS__V1__HELLO__INIT;
    ph.version = 1, ph.agency = (char *)"ngo.hots", ph.epoch = 2, ph.credit = 64;
    ph.directory_serial = 9, ph.checkpoint_size = 17;
    assert_int_equal(refbus_wire_hello_encode(&b, &n, &h), 0);
    same_as_pb(b, n, &ph.base);

    refbus_wire_welcome w = {.version = 1,
                             .directory_serial = 3,
                             .max_envelope = 1433600,
                             .audit_size = 12};
    strcpy(w.broker_id, "broker.cm");
    Refbus__V1__Welcome pw = REFBUS__V1__WELCOME__INIT;
    pw.version = 1, pw.broker_id = (char *)"broker.cm", pw.directory_serial = 3;
    pw.max_envelope = 1433600, pw.audit_size = 12;
    assert_int_equal(refbus_wire_welcome_encode(&b, &n, &w), 0);
    same_as_pb(b, n, &pw.base);

    refbus_wire_notice no = {.seq = 300, .receipt = cp, .receipt_len = sizeof cp};
    Refbus__V1__Notice pn = REFBUS__V1__NOTICE__INIT;
    pn.seq = 300, pn.receipt = (ProtobufCBinaryData){sizeof cp, cp};
    assert_int_equal(refbus_wire_notice_encode(&b, &n, &no), 0);
    same_as_pb(b, n, &pn.base);

    /* PROTOCOL.md: NoticeAck{seq = [7, 300, 1]} is 0a 04 07 ac 02 01 */
    uint64_t seqs[] = {7, 300, 1};
    refbus_wire_notice_ack a = {seqs, 3}, ad;
    assert_int_equal(refbus_wire_notice_ack_encode(&b, &n, &a), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(b, "\x0a\x04\x07\xac\x02\x01", 6);
    assert_int_equal(refbus_wire_notice_ack_decode(&ad, b, n), 0);
    assert_int_equal(ad.n_seq, 3);
    assert_int_equal(ad.seq[1], 300);
    refbus_wire_notice_ack_clear(&ad);
    free(b);

    ProtobufCBinaryData hs[3];
    for (int i = 0; i < 3; i++)
        hs[i] = (ProtobufCBinaryData){32, proof[i]};
    refbus_wire_checkpoint_push c = {cp, sizeof cp, 5, proof, 3};
    Refbus__V1__CheckpointPush pc = REFBUS__V1__CHECKPOINT_PUSH__INIT;
    pc.signed_checkpoint = (ProtobufCBinaryData){sizeof cp, cp}, pc.from_size = 5;
    pc.n_consistency = 3, pc.consistency = hs;
    assert_int_equal(refbus_wire_checkpoint_push_encode(&b, &n, &c), 0);
    same_as_pb(b, n, &pc.base);

    refbus_wire_proof_request r = {4, 9};
    Refbus__V1__ProofRequest pr = REFBUS__V1__PROOF_REQUEST__INIT;
    pr.from_size = 4, pr.to_size = 9;
    assert_int_equal(refbus_wire_proof_request_encode(&b, &n, &r), 0);
    same_as_pb(b, n, &pr.base);

    refbus_wire_error e;
    refbus_wire_error_set(&e, REFBUS_EMAPFULL, "storage full", msg_id);
    Refbus__V1__WireError pe = REFBUS__V1__WIRE_ERROR__INIT;
    pe.code = REFBUS_EMAPFULL, pe.text = (char *)"storage full";
    pe.msg_id = (ProtobufCBinaryData){16, msg_id};
    assert_int_equal(refbus_wire_error_encode(&b, &n, &e), 0);
    same_as_pb(b, n, &pe.base);
    refbus_wire_error_set(&e, REFBUS_EPROTO, "no msg id", NULL); /* msg_id absent */
    pe.code = REFBUS_EPROTO, pe.text = (char *)"no msg id", pe.msg_id.len = 0;
    assert_int_equal(refbus_wire_error_encode(&b, &n, &e), 0);
    same_as_pb(b, n, &pe.base);

    refbus_wire_ping p = {1764000000000ull, REFBUS_WIRE_SESSION_OTHER};
    Refbus__V1__Ping pp = REFBUS__V1__PING__INIT;
    pp.time_ms = 1764000000000ull, pp.session = REFBUS__V1__SESSION_STATE__SESSION_OTHER;
    assert_int_equal(refbus_wire_ping_encode(&b, &n, &p), 0);
    same_as_pb(b, n, &pp.base);
}

static void test_decode_round_trip(void **s)
{
    (void)s;
    uint8_t *b = NULL, cp[8] = "cpbytes", proof[2][32];
    size_t n = 0;
    memset(proof, 7, sizeof proof);
    refbus_wire_hello h = {1, (char *)"cac.chiangmai", 3, 8, 2, 0}, hd;
    assert_int_equal(refbus_wire_hello_encode(&b, &n, &h), 0);
    assert_int_equal(refbus_wire_hello_decode(&hd, b, n), 0);
    assert_string_equal(hd.agency, "cac.chiangmai");
    assert_int_equal(hd.epoch, 3);
    assert_int_equal(hd.credit, 8);
    refbus_wire_hello_clear(&hd);
    refbus_wire_hello_clear(&hd); /* twice is fine */
    free(b);

    refbus_wire_checkpoint_push c = {cp, sizeof cp, 2, proof, 2}, cd;
    assert_int_equal(refbus_wire_checkpoint_push_encode(&b, &n, &c), 0);
    assert_int_equal(refbus_wire_checkpoint_push_decode(&cd, b, n), 0);
    assert_int_equal(cd.n_proof, 2);
    assert_int_equal(cd.from_size, 2);
    assert_memory_equal(cd.proof, proof, sizeof proof);
    assert_memory_equal(cd.signed_cp, cp, sizeof cp);
    refbus_wire_checkpoint_push_clear(&cd);
    free(b);

    /* an ERROR's text: non-printable bytes arrive as '?', cut at 255 bytes */
    char text[400];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = 0;
    text[3] = '\n';
    Refbus__V1__WireError pe = REFBUS__V1__WIRE_ERROR__INIT;
    pe.code = -1, pe.text = text;
    refbus_wire_error e;
    assert_int_equal(refbus_pb_pack(&b, &n, &pe.base), 0);
    assert_int_equal(refbus_wire_error_decode(&e, b, n), 0);
    assert_int_equal(strlen(e.text), REFBUS_WIRE_ERROR_TEXT_MAX);
    assert_int_equal(e.text[3], '?');
    assert_int_equal(e.has_msg_id, 0);
    free(b);
}

/* Rules: what breaks them does not decode (EPROTO) or encode (EINVAL). */
static void test_rules(void **s)
{
    (void)s;
    uint8_t *b = NULL, h32[32] = {0}, cp[4] = "cp!";
    size_t n = 0;
    refbus_wire_welcome w;
    refbus_wire_notice no;
    refbus_wire_error e;
    refbus_wire_checkpoint_push c;
    refbus_wire_ping p;
    /* not protobuf at all: every decoder says EPROTO and leaves its struct clear */
    const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(refbus_wire_welcome_decode(&w, junk, sizeof junk), REFBUS_EPROTO);
    assert_int_equal(refbus_wire_notice_decode(&no, junk, sizeof junk), REFBUS_EPROTO);
    assert_null(no.receipt);
    assert_int_equal(refbus_wire_ping_decode(&p, junk, sizeof junk), REFBUS_EPROTO);
    assert_int_equal(refbus_wire_checkpoint_push_decode(&c, junk, sizeof junk), REFBUS_EPROTO);
    assert_null(c.signed_cp);

    /* WELCOME: a broker id longer than an agency id */
    char id[REFBUS_AGENCY_ID_MAX + 2];
    memset(id, 'b', sizeof id - 1);
    id[sizeof id - 1] = 0;
    Refbus__V1__Welcome pw = REFBUS__V1__WELCOME__INIT;
    pw.broker_id = id;
    assert_int_equal(refbus_pb_pack(&b, &n, &pw.base), 0);
    assert_int_equal(refbus_wire_welcome_decode(&w, b, n), REFBUS_EPROTO);
    free(b);
    memset(&w, 'x', sizeof w); /* broker_id not terminated */
    assert_int_equal(refbus_wire_welcome_encode(&b, &n, &w), REFBUS_EINVAL);

    /* ERROR: a msg id of 15 bytes */
    Refbus__V1__WireError pe = REFBUS__V1__WIRE_ERROR__INIT;
    pe.msg_id = (ProtobufCBinaryData){15, h32};
    assert_int_equal(refbus_pb_pack(&b, &n, &pe.base), 0);
    assert_int_equal(refbus_wire_error_decode(&e, b, n), REFBUS_EPROTO);
    free(b);

    /* CHECKPOINT: a 31-byte hash, an empty checkpoint, too many hashes */
    ProtobufCBinaryData hs[REFBUS_WIRE_MAX_PROOF + 1];
    for (size_t i = 0; i <= REFBUS_WIRE_MAX_PROOF; i++)
        hs[i] = (ProtobufCBinaryData){32, h32};
    Refbus__V1__CheckpointPush pc = REFBUS__V1__CHECKPOINT_PUSH__INIT;
    pc.signed_checkpoint = (ProtobufCBinaryData){sizeof cp, cp};
    pc.n_consistency = 1, pc.consistency = hs;
    hs[0].len = 31;
    assert_int_equal(refbus_pb_pack(&b, &n, &pc.base), 0);
    assert_int_equal(refbus_wire_checkpoint_push_decode(&c, b, n), REFBUS_EPROTO);
    free(b);
    hs[0].len = 32;
    pc.n_consistency = REFBUS_WIRE_MAX_PROOF + 1;
    assert_int_equal(refbus_pb_pack(&b, &n, &pc.base), 0);
    assert_int_equal(refbus_wire_checkpoint_push_decode(&c, b, n), REFBUS_EPROTO);
    free(b);
    pc.n_consistency = 0, pc.signed_checkpoint.len = 0;
    assert_int_equal(refbus_pb_pack(&b, &n, &pc.base), 0);
    assert_int_equal(refbus_wire_checkpoint_push_decode(&c, b, n), REFBUS_EPROTO);
    free(b);
    refbus_wire_checkpoint_push ce = {cp, 0, 0, NULL, 0};
    assert_int_equal(refbus_wire_checkpoint_push_encode(&b, &n, &ce), REFBUS_EINVAL);
    uint8_t(*many)[32] = calloc(REFBUS_WIRE_MAX_PROOF + 1, 32);
    refbus_wire_checkpoint_push cm = {cp, sizeof cp, 1, many, REFBUS_WIRE_MAX_PROOF + 1};
    assert_int_equal(refbus_wire_checkpoint_push_encode(&b, &n, &cm), REFBUS_EINVAL);
    free(many);

    /* HELLO: any agency name decodes (the broker answers ESENDER for a wrong one) */
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    refbus_wire_hello h = {.version = 1, .agency = longname}, hd;
    assert_int_equal(refbus_wire_hello_encode(&b, &n, &h), 0);
    assert_int_equal(refbus_wire_hello_decode(&hd, b, n), 0);
    assert_string_equal(hd.agency, longname);
    refbus_wire_hello_clear(&hd);
    free(b);
}

/* ---- the receive loop ---------------------------------------------------------------------- */

static void send_frames(void *s, int n, size_t size)
{
    uint8_t *buf = calloc(1, size ? size : 1);
    for (int i = 0; i < n; i++)
        assert_true(zmq_send(s, buf, size, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    free(buf);
}

static int recv_wait(void *s, refbus_frames *fs, size_t max_frames, size_t max_size)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    zmq_poll(&it, 1, 2000);
    return refbus_frames_recv(fs, s, ZMQ_DONTWAIT, max_frames, max_size, 1);
}

static void test_frames(void **s)
{
    (void)s;
    void *ctx = zmq_ctx_new(), *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
    refbus_frames fs;
    assert_int_equal(zmq_bind(a, "inproc://frames-test"), 0);
    assert_int_equal(zmq_connect(b, "inproc://frames-test"), 0);
    assert_int_equal(refbus_frames_recv(&fs, a, ZMQ_DONTWAIT, 2, 100, 0), REFBUS_EAGAIN);
    assert_int_equal(fs.n, 0);

    send_frames(b, 2, 10); /* within the limits */
    assert_int_equal(recv_wait(a, &fs, 2, 100), 0);
    assert_int_equal(fs.n, 2);
    assert_int_equal(fs.count, 2);
    assert_int_equal(fs.bytes, 20);
    refbus_frames_close(&fs);
    refbus_frames_close(&fs);

    send_frames(b, 7, 10); /* too many: the first two kept, all consumed */
    assert_int_equal(recv_wait(a, &fs, 2, 100), REFBUS_EFRAMES);
    assert_int_equal(fs.n, 2);
    assert_int_equal(fs.count, 7);
    assert_int_equal(fs.bytes, 70);
    refbus_frames_close(&fs);

    send_frames(b, 1, 101); /* too large: kept for the caller to answer */
    assert_int_equal(recv_wait(a, &fs, 2, 100), REFBUS_ETOOLARGE);
    assert_int_equal(fs.n, 1);
    assert_int_equal(zmq_msg_size(&fs.part[0]), 101);
    refbus_frames_close(&fs);

    send_frames(b, 1, 0); /* an empty frame is a frame */
    assert_int_equal(recv_wait(a, &fs, 1, 0), 0);
    assert_int_equal(fs.count, 1);
    refbus_frames_close(&fs);
    /* nothing was left behind by any of them */
    assert_int_equal(refbus_frames_recv(&fs, a, ZMQ_DONTWAIT, 2, 100, 0), REFBUS_EAGAIN);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_as_before),
        cmocka_unit_test(test_decode_round_trip),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_frames),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
