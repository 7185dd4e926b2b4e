/* Broker scenarios with real processes over loopback TCP (DESIGN promises 1-7): admission,
 * every kind of bad input refused with its reason while others are served, revocation on the
 * next message, offline recipients served urgent first, kill -9 losing nothing accepted, no
 * plaintext at rest, map full refused cleanly. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zmq.h>

#include "bclient.h"
#include "common/util.h"
#include "keys/passphrase.h"
#include "proto/receipt.h"
#include "proto/wire_body.h"
#include "envelope.pb-c.h"
#include "receipt.pb-c.h"

static net N;

static int setup(void **s)
{
    (void)s;
    if (sodium_init() < 0)
        return -1;
    net_init(&N);
    net_start_broker(&N, NULL);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    net_free(&N);
    return 0;
}

/* Submit and wait for the broker's answer; returns the command and fills the receipt. */
static int submit_to(net *n, bclient *c, const uint8_t *env, size_t len, refbus_receipt *r)
{
    /* ACCEPTED / REJECTED are signed by the broker (verified); ERROR is "try again later" */
    int cmd = bclient_submit(c, n, env, len, r, 5000);
    if (cmd < 0)
        fail_msg("no valid answer to SUBMIT: %s", refbus_strerror(cmd));
    return cmd;
}

static int submit(bclient *c, const uint8_t *env, size_t len, refbus_receipt *r)
{
    return submit_to(&N, c, env, len, r);
}

/* Send PING and wait for PONG: everything sent before it has been processed and committed. */
static void sync_with_broker(bclient *c)
{
    refbus_wire_msg m;
    assert_int_equal(bclient_send(c, REFBUS_CMD_PING, "", 0), 0);
    assert_int_equal(bclient_expect(c, REFBUS_CMD_PONG, &m, 5000), 0);
    refbus_wire_msg_clear(&m);
}

static int submit_payload(bclient *c, const char *to, const char *text, uint32_t prio,
                          refbus_receipt *r)
{
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(bclient_seal(c, &N, to, text, strlen(text), prio, 0, &env, &len), 0);
    int cmd = submit(c, env, len, r);
    free(env);
    return cmd;
}

static int wire_error(bclient *c, int timeout_ms)
{
    refbus_wire_msg m;
    if (bclient_expect(c, REFBUS_CMD_ERROR, &m, timeout_ms) != 0)
        return 0;
    refbus_wire_error e;
    int code = refbus_wire_error_decode(&e, m.body, m.body_len) == 0 ? e.code : 0;
    refbus_wire_msg_clear(&m);
    return code;
}

/* Receive DELIVERs until `want` distinct messages arrived (receipting each); returns count. */
static size_t drain_n(net *n, bclient *c, size_t want, char texts[][64], int timeout_ms)
{
    size_t got = 0;
    refbus_wire_msg m;
    while (got < want && bclient_expect(c, REFBUS_CMD_DELIVER, &m, timeout_ms) == 0) {
        refbus_envelope_header h;
        uint8_t *pl = NULL;
        size_t pl_len = 0;
        assert_int_equal(bclient_accept_delivery(c, n, &m, &h, &pl, &pl_len), 0);
        if (texts)
            snprintf(texts[got], 64, "%.*s", (int)(pl_len < 63 ? pl_len : 63), (char *)pl);
        refbus_envelope_payload_free(&pl, pl_len);
        refbus_wire_msg_clear(&m);
        got++;
    }
    return got;
}

static size_t drain(bclient *c, size_t want, char texts[][64], int timeout_ms)
{
    return drain_n(&N, c, want, texts, timeout_ms);
}

static void test_unknown_key_refused(void **s)
{
    (void)s;
    uint8_t pk[32], sk[32];
    crypto_box_keypair(pk, sk);
    bclient c;
    assert_int_equal(bclient_open_raw(&c, &N, pk, sk), 0);
    /* HELLO claiming to be an enrolled agency, SUBMIT: nothing comes back, nothing queued */
    refbus_wire_hello h = {.version = 1, .agency = (char *)"ngo.hots", .epoch = 1};
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(refbus_wire_hello_encode(&buf, &len, &h), 0);
    /* sends may or may not be queued by zmq: the handshake never completes either way */
    if (refbus_wire_send(c.sock, NULL, 0, REFBUS_CMD_HELLO, buf, len) != 0 ||
        refbus_wire_send(c.sock, NULL, 0, REFBUS_CMD_SUBMIT, "junk", 4) != 0)
        print_message("rogue sends not queued\n");
    free(buf);
    refbus_wire_msg m;
    assert_int_equal(bclient_recv(&c, &m, 1500), REFBUS_EAGAIN);
    bclient_close(&c);
    /* the broker is still serving enrolled agencies */
    bclient ngo;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    refbus_receipt r;
    assert_int_equal(submit_payload(&ngo, "cac.chiangmai", "after the rogue", 0, &r),
                     REFBUS_CMD_ACCEPTED);
    bclient_close(&ngo);
    bclient cac;
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(drain(&cac, 1, NULL, 5000), 1);
    bclient_close(&cac);
    /* the refusal names the refused key in the trail (PEER_REFUSED, peer_key) */
    char hex[65];
    refbus_hex(hex, pk, 32);
    assert_int_equal(net_sh(&N,
                            "refbus-audit replay broker --format jsonl | "
                            "grep '\"event\":\"PEER_REFUSED\"' | grep -q '\"peer_key\":\"%s\"'",
                            hex),
                     0);
}

static void test_flow_and_receipts(void **s)
{
    (void)s;
    bclient ngo, cac;
    refbus_receipt r;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    assert_int_equal(submit_payload(&ngo, "cac.chiangmai,police.ticac", "a referral", 1, &r),
                     REFBUS_CMD_ACCEPTED);
    assert_int_equal(r.type, REFBUS_RECEIPT_ACCEPTED);
    assert_string_equal(r.sender, "ngo.hots");
    uint8_t msg_id[16];
    memcpy(msg_id, r.msg_id, 16);
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    char texts[4][64];
    assert_int_equal(drain(&cac, 1, texts, 5000), 1);
    assert_string_equal(texts[0], "a referral");
    sync_with_broker(&cac);
    /* the sender gets the recipient's signed DELIVERED receipt as a notice (after any older
     * notices other tests left for it, which it acknowledges too) */
    refbus_wire_msg m;
    const refbus_dir_key *ck = NULL;
    assert_int_equal(refbus_directory_current_key(N.d, "cac.chiangmai", &ck), 0);
    uint64_t seq = 0;
    for (int found = 0; !found;) {
        assert_int_equal(bclient_expect(&ngo, REFBUS_CMD_RECEIPT, &m, 5000), 0);
        refbus_wire_notice n;
        assert_int_equal(refbus_wire_notice_decode(&n, m.body, m.body_len), 0);
        refbus_receipt dr;
        if (refbus_receipt_parse(&dr, n.receipt, n.receipt_len) == 0 &&
            memcmp(dr.msg_id, msg_id, 16) == 0) {
            assert_int_equal(refbus_receipt_verify(&dr, n.receipt, n.receipt_len, ck->sign_pk), 0);
            assert_int_equal(dr.type, REFBUS_RECEIPT_DELIVERED);
            assert_string_equal(dr.recipient, "cac.chiangmai");
            found = 1;
        }
        seq = n.seq;
        assert_int_equal(bclient_ack(&ngo, seq), 0);
        refbus_wire_notice_clear(&n);
        refbus_wire_msg_clear(&m);
    }
    sync_with_broker(&ngo);
    /* reconnecting, the acknowledged notice is not sent again and the delivered message is not
     * delivered again */
    bclient_close(&cac);
    bclient_close(&ngo);
    usleep(200000);
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    while (bclient_expect(&ngo, REFBUS_CMD_RECEIPT, &m, 1000) == 0) {
        refbus_wire_notice n;
        assert_int_equal(refbus_wire_notice_decode(&n, m.body, m.body_len), 0);
        if (n.seq == seq)
            fail_msg("acknowledged notice %llu sent again", (unsigned long long)seq);
        refbus_wire_notice_clear(&n);
        refbus_wire_msg_clear(&m);
    }
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(drain(&cac, 1, NULL, 1000), 0);
    bclient_close(&cac);
    bclient_close(&ngo);
    /* police.ticac still has its copy waiting */
    bclient pol;
    assert_int_equal(bclient_open(&pol, &N, "police.ticac", 64, 1), 0);
    assert_int_equal(drain(&pol, 1, texts, 5000), 1);
    assert_string_equal(texts[0], "a referral");
    bclient_close(&pol);
}

static void test_bad_input(void **s)
{
    (void)s;
    bclient ngo, cac;
    refbus_receipt r;
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);

    /* forged signature: one bit of the signature flipped */
    assert_int_equal(bclient_seal(&ngo, &N, "cac.chiangmai", "x", 1, 0, 0, &env, &len), 0);
    env[len - 5] ^= 1;
    assert_int_equal(submit(&ngo, env, len, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_EBADSIG);
    free(env);

    /* sender mismatch: cac's connection submits an envelope that says it comes from ngo.hots,
     * correctly signed by ngo (a stolen envelope) */
    assert_int_equal(bclient_seal(&ngo, &N, "cac.chiangmai", "x", 1, 0, 0, &env, &len), 0);
    assert_int_equal(submit(&cac, env, len, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_ESENDER);
    /* replay: the same envelope twice from its real sender -> the ORIGINAL receipt again */
    refbus_receipt r1, r2;
    assert_int_equal(submit(&ngo, env, len, &r1), REFBUS_CMD_ACCEPTED);
    assert_int_equal(submit(&ngo, env, len, &r2), REFBUS_CMD_ACCEPTED);
    assert_int_equal(r1.audit_index, r2.audit_index);
    assert_int_equal(r1.time_ms, r2.time_ms);
    free(env);
    assert_int_equal(drain(&cac, 2, NULL, 2000), 1); /* delivered once */

    /* expired */
    assert_int_equal(bclient_seal(&ngo, &N, "cac.chiangmai", "x", 1, 0, refbus_now_ms() - 10, &env,
                                  &len),
                     0);
    assert_int_equal(submit(&ngo, env, len, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_EEXPIRED);
    free(env);

    /* a lifetime of 100 days: refused rather than kept in the queues that long */
    assert_int_equal(bclient_seal(&ngo, &N, "cac.chiangmai", "x", 1, 0,
                                  refbus_now_ms() + 100ull * 86400000ull, &env, &len),
                     0);
    assert_int_equal(submit(&ngo, env, len, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_EMALFORMED);
    assert_non_null(strstr(r.reason_text, "lifetime"));
    free(env);

    /* policy: ngo.hots may not refer to itself; unknown recipient */
    assert_int_equal(submit_payload(&ngo, "ngo.hots", "x", 0, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_EPOLICY);
    /* a recipient the broker's directory does not know (yet): transient, so "try again later"
     * (ERROR naming the msg id), never a signed refusal that would make the sender give up */
    assert_int_equal(bclient_seal(&ngo, &N, "nobody.here", "x", 1, 0, 0, &env, &len), 0);
    assert_int_equal(submit(&ngo, env, len, &r), REFBUS_CMD_ERROR);
    assert_int_equal(r.reason, REFBUS_EUNKNOWNAGENCY);
    {
        refbus_envelope_header eh;
        assert_int_equal(refbus_envelope_parse(&eh, env, len), 0);
        assert_memory_equal(r.msg_id, eh.msg_id, 16);
    }
    free(env);

    /* garbage protobuf: refused, and the receipt and the audit record name the bytes sent */
    assert_int_equal(submit(&ngo, (const uint8_t *)"\xff\xff\xff garbage", 12, &r),
                     REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_EMALFORMED);
    {
        uint8_t gh[32];
        char ghex[65];
        crypto_generichash(gh, 32, (const uint8_t *)"\xff\xff\xff garbage", 12, NULL, 0);
        assert_memory_equal(r.envelope_hash, gh, 32);
        refbus_hex(ghex, gh, 32);
        assert_int_equal(net_sh(&N,
                                "refbus-audit replay broker --format jsonl | "
                                "grep '\"event\":\"REJECTED\"' | "
                                "grep -q '\"envelope_hash\":\"%s\"'",
                                ghex),
                         0);
    }

    /* oversized frame: over the wire limit */
    size_t big = REFBUS_WIRE_MAX_BODY + 10;
    uint8_t *huge = calloc(1, big);
    assert_int_equal(submit(&ngo, huge, big, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_ETOOLARGE);
    free(huge);

    /* wrong frame count */
    uint8_t cmd = REFBUS_CMD_SUBMIT;
    zmq_send(ngo.sock, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE);
    zmq_send(ngo.sock, &cmd, 1, 0);
    refbus_wire_msg m;
    assert_int_equal(bclient_expect(&ngo, REFBUS_CMD_REJECTED, &m, 5000), 0);
    assert_int_equal(refbus_receipt_verify(&r, m.body, m.body_len,
                                           refbus_directory_broker_sign_pk(N.d)),
                     0);
    assert_int_equal(r.reason, REFBUS_EFRAMES);
    refbus_wire_msg_clear(&m);

    /* and through all of it, everyone else is served */
    assert_int_equal(submit_payload(&cac, "ngo.hots", "still here", 0, &r), REFBUS_CMD_ACCEPTED);
    char texts[2][64];
    assert_int_equal(drain(&ngo, 1, texts, 5000), 1);
    assert_string_equal(texts[0], "still here");
    bclient_close(&ngo);
    bclient_close(&cac);

    /* every rejection is in the audit trail with its reason */
    assert_int_equal(net_sh(&N, "refbus-audit replay broker --format jsonl > replay.jsonl"), 0);
    const char *reasons[] = {"EBADSIG",    "ESENDER",   "EEXPIRED", "EPOLICY",
                             "EMALFORMED", "ETOOLARGE", "EFRAMES",  "EUNKNOWNAGENCY"};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (net_sh(&N,
                   "grep '\"event\":\"REJECTED\"' replay.jsonl | grep -q "
                   "'\"reason_name\":\"%s\"'",
                   reasons[i]) != 0)
            fail_msg("no REJECTED record with reason %s in the audit trail", reasons[i]);
    assert_int_equal(net_sh(&N, "grep -q '\"event\":\"DUPLICATE\"' replay.jsonl"), 0);
}

/* Batch signatures end to end (PROTOCOL 2.7.2, 4): eight envelopes sealed under one signature,
 * the fourth tampered, submitted back to back. The broker accepts seven and refuses the fourth
 * alone (EBADSIG, a signed REJECTED naming it); its ACCEPTED receipts verify each on its own,
 * whichever passes they fell into; the recipient takes the seven. */
static void test_batch_one_bad_refused_alone(void **s)
{
    (void)s;
    enum { NB = 8, BAD = 3 };
    bclient ngo, cac;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    const refbus_dir_key *ck = NULL;
    assert_int_equal(refbus_directory_current_key(N.d, "cac.chiangmai", &ck), 0);
    const refbus_epoch_keys *k = refbus_keystore_current(ngo.ks);
    refbus_recipient r = {"cac.chiangmai", ck->epoch, ck->enc_pk};
    uint64_t now = refbus_now_ms();
    refbus_seal_params p[NB];
    const void *pls[NB];
    size_t pl_lens[NB], lens[NB];
    uint8_t *envs[NB];
    char texts[NB][64];
    for (int i = 0; i < NB; i++) {
        p[i] = (refbus_seal_params){.sender = "ngo.hots",
                                    .sender_epoch = k->epoch,
                                    .sign_sk = k->sign_sk,
                                    .recipients = &r,
                                    .n_recipients = 1,
                                    .kind = REFBUS_KIND_REFERRAL,
                                    .created_ms = now,
                                    .expires_ms = now + 86400000u};
        snprintf(texts[i], sizeof texts[i], "batched referral %d", i);
        pls[i] = texts[i];
        pl_lens[i] = strlen(texts[i]);
    }
    assert_int_equal(refbus_envelope_seal_batch(envs, lens, p, pls, pl_lens, NB), 0);
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, lens[BAD], envs[BAD]);
    assert_non_null(e);
    assert_int_equal(e->batch_size, NB);
    e->ciphertext.data[0] ^= 1;
    refbus__v1__envelope__pack(e, envs[BAD]); /* same length */
    uint8_t bad_id[16];
    refbus_envelope_header bh;
    assert_int_equal(refbus_envelope_parse(&bh, envs[BAD], lens[BAD]), 0);
    memcpy(bad_id, bh.msg_id, 16);
    refbus__v1__envelope__free_unpacked(e, NULL);
    for (int i = 0; i < NB; i++)
        assert_int_equal(bclient_send(&ngo, REFBUS_CMD_SUBMIT, envs[i], lens[i]), 0);
    int accepted = 0, rejected = 0;
    while (accepted + rejected < NB) {
        refbus_wire_msg m;
        assert_int_equal(bclient_recv(&ngo, &m, 10000), 0);
        if (m.cmd == REFBUS_CMD_ACCEPTED || m.cmd == REFBUS_CMD_REJECTED) {
            refbus_receipt rr;
            assert_int_equal(refbus_receipt_verify(&rr, m.body, m.body_len,
                                                   refbus_directory_broker_sign_pk(N.d)),
                             0);
            Refbus__V1__SignedReceipt *sr =
                refbus__v1__signed_receipt__unpack(NULL, m.body_len, m.body);
            assert_non_null(sr);
            if (m.cmd == REFBUS_CMD_ACCEPTED) {
                assert_int_not_equal(memcmp(rr.msg_id, bad_id, 16), 0);
                accepted++;
            } else {
                assert_memory_equal(rr.msg_id, bad_id, 16);
                assert_int_equal(rr.reason, REFBUS_EBADSIG);
                assert_int_equal(sr->batch_size, 0); /* a refusal is signed alone */
                rejected++;
            }
            print_message("%s receipt, batch of %u\n",
                          m.cmd == REFBUS_CMD_ACCEPTED ? "ACCEPTED" : "REJECTED",
                          sr->batch_size ? sr->batch_size : 1u);
            refbus__v1__signed_receipt__free_unpacked(sr, NULL);
        }
        refbus_wire_msg_clear(&m);
    }
    assert_int_equal(accepted, NB - 1);
    assert_int_equal(rejected, 1);
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    char got[NB][64];
    assert_int_equal(drain(&cac, NB - 1, got, 10000), NB - 1);
    for (int i = 0; i < NB - 1; i++) {
        assert_int_equal(strncmp(got[i], "batched referral ", 17), 0);
        assert_string_not_equal(got[i], texts[BAD]);
    }
    bclient_close(&cac);
    bclient_close(&ngo);
    for (int i = 0; i < NB; i++)
        free(envs[i]);
}

static void test_offline_recipient_urgent_first(void **s)
{
    (void)s;
    bclient ngo, wel;
    refbus_receipt r;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    for (int i = 0; i < 5; i++) {
        char t[32];
        snprintf(t, sizeof t, "routine %d", i);
        assert_int_equal(submit_payload(&ngo, "welfare.cm", t, 0, &r), REFBUS_CMD_ACCEPTED);
    }
    assert_int_equal(submit_payload(&ngo, "welfare.cm", "urgent 0", 1, &r), REFBUS_CMD_ACCEPTED);
    assert_int_equal(submit_payload(&ngo, "welfare.cm", "immediate 0", 2, &r), REFBUS_CMD_ACCEPTED);
    bclient_close(&ngo);
    /* welfare.cm was offline throughout; now it connects with a window of 1 */
    assert_int_equal(bclient_open(&wel, &N, "welfare.cm", 1, 1), 0);
    char texts[8][64];
    assert_int_equal(drain(&wel, 7, texts, 5000), 7);
    assert_string_equal(texts[0], "immediate 0");
    assert_string_equal(texts[1], "urgent 0");
    for (int i = 0; i < 5; i++) {
        char t[32];
        snprintf(t, sizeof t, "routine %d", i);
        assert_string_equal(texts[2 + i], t);
    }
    bclient_close(&wel);
}

static void test_revoked_while_connected(void **s)
{
    (void)s;
    bclient pol;
    refbus_receipt r;
    assert_int_equal(bclient_open(&pol, &N, "police.ticac", 64, 1), 0);
    assert_int_equal(submit_payload(&pol, "ngo.hots", "before revocation", 0, &r),
                     REFBUS_CMD_ACCEPTED);
    /* the administrator revokes police.ticac (stolen laptop) and publishes to the running broker */
    assert_int_equal(net_sh(&N,
                            "refbus-keys -d admin revoke police.ticac --all --reason "
                            "'stolen laptop' >/dev/null && refbus-keys -d admin sign --out "
                            "directory.bin >/dev/null && refbus-broker publish -a %s "
                            "directory.bin >/dev/null",
                            N.admin),
                     0);
    net_reload_directory(&N);
    /* the new directory reaches it, so its node can tell why it is cut off */
    for (uint64_t serial = 0; serial != refbus_directory_serial(N.d);) {
        refbus_wire_msg dm;
        assert_int_equal(bclient_expect(&pol, REFBUS_CMD_DIRECTORY, &dm, 5000), 0);
        refbus_directory *pushed = NULL;
        assert_int_equal(refbus_directory_load(&pushed, dm.body, dm.body_len, N.root_pk, NULL), 0);
        serial = refbus_directory_serial(pushed);
        const refbus_dir_key *k = NULL;
        if (serial == refbus_directory_serial(N.d)) {
            assert_int_equal(refbus_directory_key(pushed, "police.ticac", 1, &k), 0);
            assert_int_equal(k->status, REFBUS_KEY_REVOKED);
            assert_string_equal(k->revoked_reason, "stolen laptop");
        }
        refbus_directory_free(&pushed);
        refbus_wire_msg_clear(&dm);
    }
    /* its next message is refused, with the reason */
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(bclient_seal(&pol, &N, "ngo.hots", "after", 5, 0, 0, &env, &len), 0);
    assert_int_equal(bclient_send(&pol, REFBUS_CMD_SUBMIT, env, len), 0);
    free(env);
    assert_int_equal(wire_error(&pol, 5000), REFBUS_EREVOKED);
    bclient_close(&pol);
    /* a new connection with that key does not even get through the handshake */
    bclient again;
    assert_int_equal(bclient_open(&again, &N, "police.ticac", 64, 0), 0);
    refbus_wire_msg m;
    assert_int_equal(bclient_recv(&again, &m, 1500), REFBUS_EAGAIN);
    bclient_close(&again);
    assert_int_equal(net_sh(&N, "refbus-audit replay broker --format jsonl | grep -q "
                                "PEER_REVOKED"),
                     0);
}

static void test_no_plaintext_at_rest(void **s)
{
    (void)s;
    bclient ngo;
    refbus_receipt r;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    assert_int_equal(submit_payload(&ngo, "cac.chiangmai",
                                    "MARKER-7f3a-PLAINTEXT child pseudonym Dao", 0, &r),
                     REFBUS_CMD_ACCEPTED);
    bclient_close(&ngo);
    /* queued (ciphertext at rest) and after delivery */
    assert_int_not_equal(net_sh(&N, "grep -rqa MARKER-7f3a broker"), 0);
    bclient cac;
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(drain(&cac, 1, NULL, 5000), 1);
    bclient_close(&cac);
    assert_int_not_equal(net_sh(&N, "grep -rqa MARKER-7f3a broker"), 0);
}

static void test_kill9_loses_nothing(void **s)
{
    (void)s;
    enum { TOTAL = 150 };
    static uint8_t *envs[TOTAL];
    static size_t lens[TOTAL];
    static int accepted[TOTAL];
    bclient ngo;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    for (int i = 0; i < TOTAL; i++) {
        char t[32];
        snprintf(t, sizeof t, "load %03d", i);
        assert_int_equal(bclient_seal(&ngo, &N, "police.ticac", t, strlen(t), 0, 0, &envs[i],
                                      &lens[i]),
                         0);
    }
    bclient_close(&ngo);
    /* fire everything, kill -9 the broker while it works, restart, resend what was not
     * ACCEPTED (same bytes), until every message is ACCEPTED */
    for (int round = 0; round < 6; round++) {
        assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
        for (int i = 0; i < TOTAL; i++)
            if (!accepted[i] && bclient_send(&ngo, REFBUS_CMD_SUBMIT, envs[i], lens[i]) != 0)
                break;
        int killed = 0, seen = 0;
        refbus_wire_msg m;
        while (bclient_recv(&ngo, &m, 1500) == 0) {
            refbus_receipt r;
            if (m.cmd == REFBUS_CMD_ACCEPTED &&
                refbus_receipt_verify(&r, m.body, m.body_len,
                                      refbus_directory_broker_sign_pk(N.d)) == 0) {
                for (int i = 0; i < TOTAL; i++) {
                    refbus_envelope_header h;
                    if (!accepted[i] && refbus_envelope_parse(&h, envs[i], lens[i]) == 0 &&
                        memcmp(h.msg_id, r.msg_id, 16) == 0)
                        accepted[i] = 1;
                }
                seen++;
            }
            refbus_wire_msg_clear(&m);
            if (round < 2 && seen == 20 + round * 30 && !killed) {
                net_kill_broker(&N, SIGKILL);
                killed = 1;
                break;
            }
        }
        bclient_close(&ngo);
        if (killed)
            net_start_broker(&N, NULL);
        int all = 1;
        for (int i = 0; i < TOTAL; i++)
            all &= accepted[i];
        if (all)
            break;
    }
    for (int i = 0; i < TOTAL; i++)
        if (!accepted[i])
            fail_msg("message %d never accepted", i);
    /* each accepted message reaches the recipient exactly once */
    bclient cac;
    assert_int_equal(bclient_open(&cac, &N, "police.ticac", 64, 1), 0);
    char(*texts)[64] = calloc(TOTAL + 10, 64);
    size_t got = drain(&cac, TOTAL + 10, texts, 3000), loads = 0;
    for (size_t j = 0; j < got; j++)
        loads += strncmp(texts[j], "load ", 5) == 0;
    assert_int_equal(loads, TOTAL); /* other tests may have left other messages queued */
    for (int i = 0; i < TOTAL; i++) {
        char t[32];
        snprintf(t, sizeof t, "load %03d", i);
        int found = 0;
        for (size_t j = 0; j < got; j++)
            found += strcmp(texts[j], t) == 0;
        if (found != 1)
            fail_msg("%s delivered %d times", t, found);
    }
    free(texts);
    bclient_close(&cac);
    for (int i = 0; i < TOTAL; i++)
        free(envs[i]);
    /* the trail survived every kill and verifies */
    assert_int_equal(net_sh(&N, "refbus-audit verify broker >/dev/null 2>&1"), 0);
}

/* A recipient that cannot take a delivery *now* (its REJECTED receipt names a transient reason,
 * e.g. ENOMEM) does not lose it: the broker keeps it queued and delivers it again (here after a
 * reconnect). Before the fix the broker dequeued it for good and told the sender "rejected". */
static void test_transient_rejection_keeps_queued(void **s)
{
    (void)s;
    bclient ngo, cac;
    refbus_receipt r;
    refbus_wire_msg m;
    refbus_envelope_header h;
    assert_int_equal(bclient_open(&ngo, &N, "ngo.hots", 64, 1), 0);
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    (void)drain(&cac, 1000, NULL, 300); /* whatever earlier tests left */
    assert_int_equal(submit_payload(&ngo, "cac.chiangmai", "transient-1", 0, &r),
                     REFBUS_CMD_ACCEPTED);
    assert_int_equal(bclient_expect(&cac, REFBUS_CMD_DELIVER, &m, 5000), 0);
    assert_int_equal(refbus_envelope_parse(&h, m.body, m.body_len), 0);
    refbus_wire_msg_clear(&m);
    const refbus_epoch_keys *k = refbus_keystore_current(cac.ks);
    refbus_receipt rj;
    memset(&rj, 0, sizeof rj);
    rj.type = REFBUS_RECEIPT_REJECTED;
    memcpy(rj.msg_id, h.msg_id, 16);
    snprintf(rj.sender, sizeof rj.sender, "%s", h.sender);
    snprintf(rj.recipient, sizeof rj.recipient, "cac.chiangmai");
    memcpy(rj.envelope_hash, h.envelope_hash, 32);
    rj.time_ms = refbus_now_ms();
    rj.reason = REFBUS_ENOMEM;
    snprintf(rj.reason_text, sizeof rj.reason_text, "out of memory");
    snprintf(rj.signer, sizeof rj.signer, "cac.chiangmai");
    rj.signer_epoch = k->epoch;
    uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(refbus_receipt_sign(&body, &len, &rj, k->sign_sk), 0);
    assert_int_equal(bclient_send(&cac, REFBUS_CMD_DELIVERED, body, len), 0);
    free(body);
    sync_with_broker(&cac);
    /* still queued: a new session gets it again, and then it is delivered for real */
    bclient_close(&cac);
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    char texts[4][64];
    assert_int_equal(drain(&cac, 1, texts, 5000), 1);
    assert_string_equal(texts[0], "transient-1");
    sync_with_broker(&cac);
    bclient_close(&cac);
    bclient_close(&ngo);
    /* the trail holds no refusal for it: the ENOMEM receipt was not a REJECTED event */
    assert_int_equal(net_sh(&N, "refbus-audit replay broker --format jsonl >replay-t.jsonl && "
                                "! grep '\"event\":\"REJECTED\"' replay-t.jsonl | "
                                "grep -q '\"reason_name\":\"ENOMEM\"'"),
                     0);
}

/* A correctly signed DELIVERED receipt for a message this broker never accepted names nothing
 * to dequeue: refused for good and audited (it used to be "transient" and only logged, once per
 * receipt, so any agency could flood the log with them). */
static void test_delivered_for_unknown_message(void **s)
{
    (void)s;
    bclient cac;
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    (void)drain(&cac, 1000, NULL, 300);
    const refbus_epoch_keys *k = refbus_keystore_current(cac.ks);
    refbus_receipt r;
    memset(&r, 0, sizeof r);
    r.type = REFBUS_RECEIPT_DELIVERED;
    randombytes_buf(r.msg_id, 16);
    snprintf(r.sender, sizeof r.sender, "ngo.hots");
    snprintf(r.recipient, sizeof r.recipient, "cac.chiangmai");
    randombytes_buf(r.envelope_hash, 32);
    r.time_ms = refbus_now_ms();
    snprintf(r.signer, sizeof r.signer, "cac.chiangmai");
    r.signer_epoch = k->epoch;
    uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(refbus_receipt_sign(&body, &len, &r, k->sign_sk), 0);
    assert_int_equal(bclient_send(&cac, REFBUS_CMD_DELIVERED, body, len), 0);
    free(body);
    sync_with_broker(&cac);
    bclient_close(&cac);
    char hex[33];
    refbus_hex(hex, r.msg_id, 16);
    assert_int_equal(net_sh(&N,
                            "refbus-audit replay broker --msg %s --format jsonl | "
                            "grep '\"event\":\"REJECTED\"' | "
                            "grep -q '\"reason_name\":\"ERECEIPT\"'",
                            hex),
                     0);
}

static void test_map_full(void **s)
{
    (void)s;
    /* A broker with a tiny map: fill it, get EMAPFULL with a reason, nothing corrupt. */
    net small;
    net_init(&small);
    const char *opts[] = {"map_size_mb=1", "agency_quota_mb=1", NULL}; /* the map fills first */
    net_start_broker(&small, opts);
    bclient ngo;
    assert_int_equal(bclient_open(&ngo, &small, "ngo.hots", 64, 1), 0);
    char *blob = malloc(60000);
    memset(blob, 'z', 59999);
    blob[59999] = 0;
    int full = 0, ok = 0;
    for (int i = 0; i < 40 && !full; i++) {
        uint8_t *env = NULL;
        size_t len = 0;
        refbus_receipt r;
        assert_int_equal(bclient_seal(&ngo, &small, "cac.chiangmai", blob, 60000, 0, 0, &env, &len),
                         0);
        int cmd = submit_to(&small, &ngo, env, len, &r);
        free(env);
        if (cmd == REFBUS_CMD_ERROR) { /* "try again later", never a signed refusal */
            assert_int_equal(r.reason, REFBUS_EMAPFULL);
            full = 1;
        } else {
            assert_int_equal(cmd, REFBUS_CMD_ACCEPTED);
            ok++;
        }
    }
    free(blob);
    assert_true(full);
    assert_true(ok > 0);
    /* the broker still answers, and what was accepted is delivered */
    assert_int_equal(net_sh(&small, "refbus-broker status -a %s >/dev/null", small.admin), 0);
    bclient cac;
    assert_int_equal(bclient_open(&cac, &small, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(drain_n(&small, &cac, (size_t)ok, NULL, 5000), (size_t)ok);
    bclient_close(&cac);
    bclient_close(&ngo);
    net_kill_broker(&small, SIGTERM);
    assert_int_equal(net_sh(&small, "refbus-audit verify broker >/dev/null 2>&1"), 0);
    net_free(&small);
}

static void test_rotation_mid_flight(void **s)
{
    (void)s;
    /* The NGO's keys are rotated while it has a sealed message in its outbox: the connection
     * under the retired key loses its session (ERETIRED), that message (sealed before the
     * rotation) and one signed afterwards are both refused ERETIRED, and the new bundle works
     * at once. */
    bclient old, cur, cac;
    refbus_receipt r;
    uint8_t *pre = NULL, *post = NULL;
    size_t pre_len = 0, post_len = 0;
    assert_int_equal(bclient_open(&old, &N, "ngo.hots", 64, 1), 0);
    assert_int_equal(bclient_seal(&old, &N, "cac.chiangmai", "sealed before rotation", 22, 0, 0,
                                  &pre, &pre_len),
                     0);
    usleep(20000);
    assert_int_equal(net_sh(&N,
                            "refbus-keys -d admin rotate ngo.hots --bundle keys/ngo.hots.bundle "
                            "--out keys/ngo.hots.v2 --bundle-passphrase-file pass >/dev/null && "
                            "refbus-keys -d admin sign --out directory.bin >/dev/null && "
                            "refbus-broker publish -a %s directory.bin >/dev/null",
                            N.admin),
                     0);
    net_reload_directory(&N);
    /* the just-rotated node is still connected and gets the new directory pushed */
    uint64_t got_serial = 0;
    while (got_serial != refbus_directory_serial(N.d)) {
        /* (the serial it had at HELLO may come first) */
        refbus_wire_msg dm;
        assert_int_equal(bclient_expect(&old, REFBUS_CMD_DIRECTORY, &dm, 5000), 0);
        refbus_directory *pushed = NULL;
        assert_int_equal(refbus_directory_load(&pushed, dm.body, dm.body_len, N.root_pk, NULL), 0);
        got_serial = refbus_directory_serial(pushed);
        refbus_directory_free(&pushed);
        refbus_wire_msg_clear(&dm);
    }
    /* the old connection (its CURVE key now RETIRED) lost the session and is told so */
    assert_int_equal(wire_error(&old, 5000), REFBUS_ERETIRED);
    /* a retired key sends nothing new: not even what was sealed (created_ms) before the
     * rotation — the sender's claim of time proves nothing; a node re-seals its outbox */
    assert_int_equal(submit(&old, pre, pre_len, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_ERETIRED);
    assert_int_equal(bclient_seal(&old, &N, "cac.chiangmai", "signed after rotation", 21, 0, 0,
                                  &post, &post_len),
                     0);
    assert_int_equal(submit(&old, post, post_len, &r), REFBUS_CMD_REJECTED);
    assert_int_equal(r.reason, REFBUS_ERETIRED);
    free(pre);
    free(post);
    bclient_close(&old);
    /* the agency installs its new bundle */
    assert_int_equal(net_sh(&N, "cp keys/ngo.hots.v2 keys/ngo.hots.bundle"), 0);
    assert_int_equal(bclient_open(&cur, &N, "ngo.hots", 64, 1), 0);
    assert_int_equal(refbus_keystore_current(cur.ks)->epoch, 2);
    assert_int_equal(submit_payload(&cur, "cac.chiangmai", "with the new key", 0, &r),
                     REFBUS_CMD_ACCEPTED);
    bclient_close(&cur);
    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    char texts[4][64];
    assert_int_equal(drain(&cac, 3, texts, 3000), 1);
    assert_string_equal(texts[0], "with the new key");
    bclient_close(&cac);
}

static refbus_keystore *open_bundle(const char *bundle)
{
    char path[400], *pass = NULL;
    size_t plen = 0;
    refbus_keystore *ks = NULL;
    snprintf(path, sizeof path, "%s/pass", N.dir);
    assert_int_equal(refbus_passphrase_get(&pass, &plen, path, NULL, 0), 0);
    snprintf(path, sizeof path, "%s/keys/%s", N.dir, bundle);
    assert_int_equal(refbus_keystore_open(&ks, path, pass, plen), 0);
    refbus_passphrase_free(&pass, plen);
    return ks;
}

static const refbus_epoch_keys *epoch_of(const refbus_keystore *ks, uint32_t epoch)
{
    for (size_t i = 0; i < refbus_keystore_epoch_count(ks); i++)
        if (refbus_keystore_epoch(ks, i)->epoch == epoch)
            return refbus_keystore_epoch(ks, i);
    fail_msg("no epoch %u in the bundle", epoch);
    return NULL;
}

/* Connect with the CURVE key of one epoch of a bundle and send HELLO: 1 when the broker
 * answers WELCOME, the code of its ERROR (the handshake passed, the session was refused), or
 * 0 when nothing comes back (the handshake was refused). */
static int hello_answer(const char *bundle, const char *agency, uint32_t epoch)
{
    refbus_keystore *ks = open_bundle(bundle);
    const refbus_epoch_keys *k = epoch_of(ks, epoch);
    bclient c;
    assert_int_equal(bclient_open_raw(&c, &N, k->curve_pk, k->curve_sk), 0);
    refbus_wire_hello h = {.version = 1, .agency = (char *)agency, .epoch = epoch};
    uint8_t *buf = NULL;
    size_t len = 0;
    int answer = 0;
    assert_int_equal(refbus_wire_hello_encode(&buf, &len, &h), 0);
    int sent = refbus_wire_send(c.sock, NULL, 0, REFBUS_CMD_HELLO, buf, len);
    free(buf);
    if (sent == 0) {
        refbus_wire_msg m;
        uint64_t end = refbus_mono_ms() + 1500;
        while (!answer && bclient_recv(&c, &m, (int)(end - refbus_mono_ms())) == 0) {
            if (m.cmd == REFBUS_CMD_WELCOME) {
                answer = 1;
            } else if (m.cmd == REFBUS_CMD_ERROR) {
                refbus_wire_error e;
                answer =
                    refbus_wire_error_decode(&e, m.body, m.body_len) == 0 ? e.code : REFBUS_EPROTO;
            }
            refbus_wire_msg_clear(&m);
            if (refbus_mono_ms() >= end)
                break;
        }
    }
    bclient_close(&c);
    refbus_keystore_free(&ks);
    return answer;
}

static int epoch_gets_through(const char *bundle, const char *agency, uint32_t epoch)
{
    return hello_answer(bundle, agency, epoch) == 1;
}

static void test_stolen_device_all_epochs(void **s)
{
    (void)s;
    /* After test_rotation_mid_flight the NGO is at epoch 2 and its bundle holds epoch 1 too.
     * The laptop is stolen: the newest epoch is revoked and a new laptop gets epoch 3. The
     * stolen bundle's epoch 1 (merely RETIRED) must be shut out as well as epoch 2. */
    /* retired: through the handshake (it may fetch the directory), but no session */
    assert_int_equal(hello_answer("ngo.hots.v2", "ngo.hots", 1), REFBUS_ERETIRED);
    assert_int_equal(net_sh(&N,
                            "refbus-keys -d admin revoke ngo.hots --reason 'stolen laptop' "
                            ">/dev/null && refbus-keys -d admin rotate ngo.hots --bundle "
                            "keys/ngo.hots.v2 --out keys/ngo.hots.v3 --bundle-passphrase-file "
                            "pass >/dev/null && refbus-keys -d admin sign --out directory.bin "
                            ">/dev/null && refbus-broker publish -a %s directory.bin >/dev/null",
                            N.admin),
                     0);
    net_reload_directory(&N);
    assert_int_equal(hello_answer("ngo.hots.v2", "ngo.hots", 2), 0); /* not even connected */
    assert_int_equal(hello_answer("ngo.hots.v2", "ngo.hots", 1), 0);
    assert_true(epoch_gets_through("ngo.hots.v3", "ngo.hots", 3));
}

/* PING, and the session state its PONG reports for this connection. */
static int pong_session(bclient *c)
{
    refbus_wire_msg m;
    uint64_t t = refbus_now_ms();
    assert_int_equal(bclient_ping(c, t), 0);
    for (;;) {
        assert_int_equal(bclient_expect(c, REFBUS_CMD_PONG, &m, 5000), 0);
        refbus_wire_ping q;
        assert_int_equal(refbus_wire_ping_decode(&q, m.body, m.body_len), 0);
        int mine = q.time_ms == t, st = (int)q.session;
        refbus_wire_msg_clear(&m);
        if (mine)
            return st;
    }
}

static void test_session_takeover(void **s)
{
    (void)s;
    /* A second connection with the same agency's keys takes the session over; the first is
     * told why (ESUPERSEDED) and its PONGs say another connection holds the session. When the
     * second goes away the broker forgets it at once (socket monitor) and the first hears
     * that the session is free. */
    bclient a, b;
    assert_int_equal(bclient_open(&a, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(pong_session(&a), REFBUS_WIRE_SESSION_ACTIVE);
    assert_int_equal(bclient_open(&b, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(wire_error(&a, 5000), REFBUS_ESUPERSEDED);
    assert_int_equal(pong_session(&a), REFBUS_WIRE_SESSION_OTHER);
    assert_int_equal(pong_session(&b), REFBUS_WIRE_SESSION_ACTIVE);
    bclient_close(&b); /* LINGER 0: the TCP connection closes */
    int st = 0;
    for (int i = 0; i < 100 && st != REFBUS_WIRE_SESSION_NONE; i++) {
        usleep(50000);
        st = pong_session(&a);
    }
    assert_int_equal(st, REFBUS_WIRE_SESSION_NONE);
    /* the first takes the session back with HELLO */
    assert_int_equal(bclient_hello(&a, 64), 0);
    refbus_wire_msg m;
    assert_int_equal(bclient_expect(&a, REFBUS_CMD_WELCOME, &m, 5000), 0);
    refbus_wire_msg_clear(&m);
    assert_int_equal(pong_session(&a), REFBUS_WIRE_SESSION_ACTIVE);
    bclient_close(&a);
}

static int queue_depth(const char *agency)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "refbus-broker status -a %s | jq -e '.queues[\"%s\"]' > qdepth.txt",
             N.admin, agency);
    assert_int_equal(net_sh(&N, "%s", cmd), 0);
    assert_int_equal(net_sh(&N, "test -s qdepth.txt"), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/qdepth.txt", N.dir);
    FILE *f = fopen(path, "r");
    int v = -1;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%d", &v), 1);
    fclose(f);
    return v;
}

/* A DELIVERED receipt for this delivery, signed by `k` as `agency`; `flip` breaks the hash. */
static void send_delivered(bclient *c, const char *agency, const refbus_epoch_keys *k,
                           const refbus_wire_msg *m, int flip)
{
    refbus_envelope_header h;
    refbus_receipt r;
    uint8_t *body = NULL;
    size_t len = 0;
    assert_int_equal(refbus_envelope_parse(&h, m->body, m->body_len), 0);
    memset(&r, 0, sizeof r);
    r.type = REFBUS_RECEIPT_DELIVERED;
    memcpy(r.msg_id, h.msg_id, 16);
    snprintf(r.sender, sizeof r.sender, "%s", h.sender);
    snprintf(r.recipient, sizeof r.recipient, "%s", agency);
    memcpy(r.envelope_hash, h.envelope_hash, 32);
    r.envelope_hash[0] ^= (uint8_t)flip;
    r.time_ms = refbus_now_ms();
    snprintf(r.signer, sizeof r.signer, "%s", agency);
    r.signer_epoch = k->epoch;
    assert_int_equal(refbus_receipt_sign(&body, &len, &r, k->sign_sk), 0);
    assert_int_equal(bclient_send(c, REFBUS_CMD_DELIVERED, body, len), 0);
    free(body);
}

static void test_retired_bundle_cannot_take_over(void **s)
{
    (void)s;
    /* welfare.cm rotates (the guide: a staff member who knew the passphrase left). The
     * rotated-away bundle still connects, but only to fetch the directory: its HELLO is
     * refused ERETIRED and the active node keeps the session. A DELIVERED receipt signed with
     * the retired key, or for another envelope hash, does not dequeue the referral; the active
     * key's receipt for exactly the delivered envelope does. */
    assert_int_equal(net_sh(&N,
                            "mv keys/welfare.cm.bundle keys/welfare.v1 && refbus-keys -d "
                            "admin rotate welfare.cm --bundle keys/welfare.v1 --out "
                            "keys/welfare.cm.bundle --bundle-passphrase-file pass >/dev/null "
                            "&& refbus-keys -d admin sign --out directory.bin >/dev/null && "
                            "refbus-broker publish -a %s directory.bin >/dev/null",
                            N.admin),
                     0);
    net_reload_directory(&N);
    bclient cur, cac;
    refbus_receipt r;
    refbus_wire_msg m;
    assert_int_equal(bclient_open(&cur, &N, "welfare.cm", 64, 1), 0);
    assert_int_equal(refbus_keystore_current(cur.ks)->epoch, 2);
    assert_int_equal(hello_answer("welfare.v1", "welfare.cm", 1), REFBUS_ERETIRED);
    assert_int_equal(pong_session(&cur), REFBUS_WIRE_SESSION_ACTIVE);
    assert_int_equal(wire_error(&cur, 300), 0); /* not told to go: nobody took over */

    assert_int_equal(bclient_open(&cac, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(submit_payload(&cac, "welfare.cm", "child in danger", 2, &r),
                     REFBUS_CMD_ACCEPTED);
    assert_int_equal(bclient_expect(&cur, REFBUS_CMD_DELIVER, &m, 5000), 0);
    int before = queue_depth("welfare.cm");
    assert_true(before >= 1);
    refbus_keystore *old = open_bundle("welfare.v1");
    send_delivered(&cur, "welfare.cm", epoch_of(old, 1), &m, 0);    /* retired key */
    send_delivered(&cur, "welfare.cm", epoch_of(cur.ks, 2), &m, 1); /* another envelope */
    sync_with_broker(&cur);
    assert_int_equal(queue_depth("welfare.cm"), before);
    send_delivered(&cur, "welfare.cm", epoch_of(cur.ks, 2), &m, 0);
    sync_with_broker(&cur);
    assert_int_equal(queue_depth("welfare.cm"), before - 1);
    refbus_wire_msg_clear(&m);
    refbus_keystore_free(&old);
    bclient_close(&cac);
    bclient_close(&cur);
}

static void test_flood_does_not_starve(void **s)
{
    (void)s;
    /* One enrolled node floods garbage: the administrators still get answers, another agency
     * still connects and is served, and the audit trail does not grow one record per refusal. */
    bclient pol, ngo;
    refbus_receipt r;
    assert_int_equal(bclient_open(&pol, &N, "cac.chiangmai", 64, 1), 0);
    assert_int_equal(net_sh(&N, "refbus-broker status -a %s > st0.json", N.admin), 0);
    for (int i = 0; i < 3000; i++)
        if (bclient_send(&pol, REFBUS_CMD_SUBMIT, "\xff\xfe garbage", 10) != 0)
            break;
    /* while the flood is being worked through */
    assert_int_equal(net_sh(&N, "timeout 5 refbus-broker status -a %s > st1.json", N.admin), 0);
    /* (ngo.hots and police.ticac are revoked by the tests before this one) */
    assert_int_equal(bclient_open(&ngo, &N, "welfare.cm", 64, 1), 0);
    assert_int_equal(submit_payload(&ngo, "cac.chiangmai", "during a flood", 0, &r),
                     REFBUS_CMD_ACCEPTED);
    bclient_close(&ngo);
    /* drain the flood's answers, then look at the trail's growth */
    refbus_wire_msg m;
    while (bclient_recv(&pol, &m, 1000) == 0)
        refbus_wire_msg_clear(&m);
    bclient_close(&pol);
    assert_int_equal(net_sh(&N, "refbus-broker status -a %s > st2.json", N.admin), 0);
    assert_int_equal(net_sh(&N,
                            "test $(( $(jq .audit_size st2.json) - $(jq .audit_size st0.json) ))"
                            " -lt 400"),
                     0);
}

/* VmRSS or VmHWM of a process, in KiB (0 when unreadable). */
static unsigned long vm_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    unsigned long v = 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, strlen(field)) == 0 && line[strlen(field)] == ':')
            v = strtoul(line + strlen(field) + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static size_t open_fds(pid_t pid)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd | wc -l", (int)pid);
    FILE *p = popen(cmd, "r");
    size_t n = 0;
    if (p && fscanf(p, "%zu", &n) != 1)
        n = 0;
    if (p)
        pclose(p);
    return n;
}

/* Issue 10, defect 11: memory and descriptors bounded by what peers send. (a) 200 idle TCP
 * connections that never start the CURVE handshake are closed after handshake_seconds and the
 * broker keeps serving; (b) an enrolled agency sending 400 frames of 1 MiB in one message (which
 * libzmq buffers whole: 400 MiB before) is cut near max_memory_mb, audited PEER_REFUSED /
 * ETOOLARGE, and everyone else is served. The bounds are generous; nothing is timed. */
static void test_limits_per_peer(void **s)
{
    (void)s;
    net lim;
    net_init(&lim);
    const char *opts[] = {"max_memory_mb=64", "handshake_seconds=1", NULL};
    net_start_broker(&lim, opts);
    bclient ngo, cac, wel;
    refbus_receipt r;
    assert_int_equal(bclient_open(&ngo, &lim, "ngo.hots", 64, 1), 0);
    assert_int_equal(bclient_open(&cac, &lim, "cac.chiangmai", 64, 1), 0);

    /* (a) idle unauthenticated connections */
    enum { IDLE = 200 };
    int port = atoi(strrchr(lim.endpoint, ':') + 1), fds[IDLE];
    size_t base_fds = open_fds(lim.broker);
    for (int i = 0; i < IDLE; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(connect(fds[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    int closed = 0;
    uint64_t until = refbus_mono_ms() + 20000; /* a bound (20x handshake_seconds), not timed */
    while (closed < IDLE && refbus_mono_ms() < until) {
        for (int i = 0; i < IDLE; i++) {
            char buf[256];
            if (fds[i] < 0)
                continue;
            ssize_t n = recv(fds[i], buf, sizeof buf, MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(fds[i]);
                fds[i] = -1;
                closed++;
            }
        }
        usleep(50000);
    }
    for (int i = 0; i < IDLE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    if (closed != IDLE)
        fail_msg("%d of %d idle unauthenticated connections still open", IDLE - closed, IDLE);
    assert_true(open_fds(lim.broker) <= base_fds + 2);
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(bclient_seal(&ngo, &lim, "cac.chiangmai", "after idle", 10, 0, 0, &env, &len),
                     0);
    assert_int_equal(submit_to(&lim, &ngo, env, len, &r), REFBUS_CMD_ACCEPTED);
    free(env);

    /* (b) one message of 400 frames of 1 MiB from an enrolled agency */
    unsigned long before = vm_kib(lim.broker, "VmRSS");
    assert_int_equal(bclient_open(&wel, &lim, "welfare.cm", 64, 1), 0);
    size_t frame = 1u << 20;
    uint8_t *junk = calloc(1, frame);
    assert_non_null(junk);
    assert_int_equal(zmq_send(wel.sock, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE),
                     (int)REFBUS_WIRE_SIG_LEN);
    uint8_t cmd = REFBUS_CMD_SUBMIT;
    assert_int_equal(zmq_send(wel.sock, &cmd, 1, ZMQ_SNDMORE), 1);
    for (int i = 0; i < 400; i++)
        assert_int_equal(zmq_send(wel.sock, junk, frame, i + 1 < 400 ? ZMQ_SNDMORE : 0),
                         (int)frame);
    free(junk);
    /* the broker cuts the connection: its status counts it, and it is audited */
    int cut = 0;
    until = refbus_mono_ms() + 60000;
    while (!cut && refbus_mono_ms() < until) {
        usleep(200000);
        cut = net_sh(&lim,
                     "refbus-broker status -a %s | jq -e '.process.connections_cut >= 1' "
                     ">/dev/null",
                     lim.admin) == 0;
    }
    unsigned long peak = vm_kib(lim.broker, "VmHWM");
    print_message("broker VmRSS %lu KiB before, VmHWM %lu KiB after 400 MiB in one message\n",
                  before, peak);
    assert_true(cut);
    assert_true(peak < before + 200ul * 1024); /* 400 MiB without the bound */
    bclient_close(&wel);

    /* everyone else is served, and the agency itself may come back */
    assert_int_equal(bclient_seal(&ngo, &lim, "cac.chiangmai", "after the flood", 15, 0, 0, &env,
                                  &len),
                     0);
    assert_int_equal(submit_to(&lim, &ngo, env, len, &r), REFBUS_CMD_ACCEPTED);
    free(env);
    assert_int_equal(drain_n(&lim, &cac, 2, NULL, 5000), 2);
    assert_int_equal(bclient_open(&wel, &lim, "welfare.cm", 64, 1), 0);
    assert_int_equal(bclient_seal(&wel, &lim, "cac.chiangmai", "back", 4, 0, 0, &env, &len), 0);
    assert_int_equal(submit_to(&lim, &wel, env, len, &r), REFBUS_CMD_ACCEPTED);
    free(env);
    bclient_close(&wel);
    bclient_close(&ngo);
    bclient_close(&cac);
    net_kill_broker(&lim, SIGTERM);
    assert_int_equal(net_sh(&lim, "refbus-audit replay broker --format jsonl > replay.jsonl && "
                                  "grep '\"event\":\"PEER_REFUSED\"' replay.jsonl | "
                                  "grep -q '\"reason_name\":\"ETOOLARGE\"'"),
                     0);
    assert_int_equal(net_sh(&lim, "refbus-audit verify broker >/dev/null 2>&1"), 0);
    net_free(&lim);
}

/* The memory bound per connection counts what refbus took from each file descriptor. A closed
 * connection's count must not carry over to the next connection that gets the same descriptor:
 * an agency that first sent 340 MiB of whole messages (PINGs with oversized bodies, each
 * answered) and then, on a new connection, 300 MiB in one unfinished message was never cut
 * (300 < 340: "not ahead"), and the broker buffered all of it. */
static void test_limits_reused_descriptor(void **s)
{
    (void)s;
    net lim;
    net_init(&lim);
    const char *opts[] = {"max_memory_mb=64", NULL};
    net_start_broker(&lim, opts);
    bclient wel, raw;
    refbus_wire_msg m;
    uint8_t pk[32], sk[32];
    size_t base_fds = open_fds(lim.broker);
    assert_int_equal(bclient_open(&wel, &lim, "welfare.cm", 64, 1), 0);
    memcpy(pk, refbus_keystore_current(wel.ks)->curve_pk, 32);
    memcpy(sk, refbus_keystore_current(wel.ks)->curve_sk, 32);
    size_t frame = 1u << 20;
    uint8_t *junk = calloc(1, frame);
    assert_non_null(junk);
    for (int i = 0; i < 340; i++) { /* whole messages, one at a time: nothing piles up */
        assert_int_equal(bclient_send(&wel, REFBUS_CMD_PING, junk, frame), 0);
        assert_int_equal(bclient_expect(&wel, REFBUS_CMD_ERROR, &m, 10000), 0);
        refbus_wire_msg_clear(&m);
    }
    bclient_close(&wel);
    uint64_t until = refbus_mono_ms() + 10000; /* the broker lets the descriptor go */
    while (open_fds(lim.broker) > base_fds && refbus_mono_ms() < until)
        usleep(50000);
    unsigned long before = vm_kib(lim.broker, "VmRSS");
    /* a new connection (very likely on the same descriptor) whose first message never ends */
    assert_int_equal(bclient_open_raw(&raw, &lim, pk, sk), 0);
    assert_int_equal(zmq_send(raw.sock, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE),
                     (int)REFBUS_WIRE_SIG_LEN);
    uint8_t cmd = REFBUS_CMD_SUBMIT;
    assert_int_equal(zmq_send(raw.sock, &cmd, 1, ZMQ_SNDMORE), 1);
    for (int i = 0; i < 300; i++)
        assert_int_equal(zmq_send(raw.sock, junk, frame, i + 1 < 300 ? ZMQ_SNDMORE : 0),
                         (int)frame);
    free(junk);
    int cut = 0, answered = 0;
    until = refbus_mono_ms() + 60000;
    while (!cut && !answered && refbus_mono_ms() < until) {
        usleep(200000);
        cut = net_sh(&lim,
                     "refbus-broker status -a %s | jq -e '.process.connections_cut >= 1' "
                     ">/dev/null",
                     lim.admin) == 0;
        if (!cut && bclient_recv(&raw, &m, 0) == 0) { /* the broker took all of it */
            refbus_wire_msg_clear(&m);
            answered = 1;
        }
    }
    unsigned long peak = vm_kib(lim.broker, "VmHWM");
    print_message("broker VmRSS %lu KiB before, VmHWM %lu KiB after 300 MiB in one message on "
                  "a reused descriptor\n",
                  before, peak);
    if (!cut)
        fail_msg("the broker took %s300 MiB in one message without cutting the connection",
                 answered ? "all " : "");
    assert_true(peak < before + 200ul * 1024);
    raw.ks = NULL; /* no graceful close: the connection is cut */
    bclient_close(&raw);
    net_kill_broker(&lim, SIGTERM);
    net_free(&lim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_key_refused),
        cmocka_unit_test(test_flow_and_receipts),
        cmocka_unit_test(test_batch_one_bad_refused_alone),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_transient_rejection_keeps_queued),
        cmocka_unit_test(test_delivered_for_unknown_message),
        cmocka_unit_test(test_offline_recipient_urgent_first),
        cmocka_unit_test(test_no_plaintext_at_rest),
        cmocka_unit_test(test_kill9_loses_nothing),
        cmocka_unit_test(test_revoked_while_connected),
        cmocka_unit_test(test_rotation_mid_flight),
        cmocka_unit_test(test_stolen_device_all_epochs),
        cmocka_unit_test(test_flood_does_not_starve),
        cmocka_unit_test(test_session_takeover),
        cmocka_unit_test(test_retired_bundle_cannot_take_over),
        cmocka_unit_test(test_map_full),
        cmocka_unit_test(test_limits_per_peer),
        cmocka_unit_test(test_limits_reused_descriptor),
    };
    if (getenv("BROKER_TEST_FILTER")) /* run one case while working: BROKER_TEST_FILTER=name */
        cmocka_set_test_filter(getenv("BROKER_TEST_FILTER"));
    return cmocka_run_group_tests(tests, setup, teardown);
}
