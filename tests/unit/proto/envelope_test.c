/* Envelope: round trips, UTF-8, and every tampering / forgery / misuse case rejected with the
 * right code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.pb-c.h"
#include "proto/envelope.h"
#include "proto/pbutil.h"
#include "testutil.h"

#define NOW 1800000000000ull
#define LATER (NOW + 86400000ull)

static test_agency ag[17];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    static const char *names[] = {"ngo.hots", "cac.chiangmai", "police.ticac", "welfare.cm"};
    for (int i = 0; i < 17; i++) {
        char id[65];
        if (i < 4)
            snprintf(id, sizeof id, "%s", names[i]);
        else
            snprintf(id, sizeof id, "agency-%02d", i);
        test_agency_make(&ag[i], id, (uint8_t)(i + 1));
    }
    return 0;
}

/* Seal from ag[0] to ag[1..n]. */
static uint8_t *seal_n(size_t n, const void *pl, size_t pl_len, size_t *len)
{
    refbus_recipient r[REFBUS_MAX_RECIPIENTS + 1];
    for (size_t i = 0; i < n; i++)
        r[i] = test_recipient(&ag[i + 1]);
    refbus_seal_params p = {.sender = ag[0].id,
                            .sender_epoch = 1,
                            .sign_sk = ag[0].sign_sk,
                            .recipients = r,
                            .n_recipients = n,
                            .kind = REFBUS_KIND_REFERRAL,
                            .priority = REFBUS_PRIORITY_URGENT,
                            .created_ms = NOW,
                            .expires_ms = LATER};
    uint8_t *env = NULL;
    assert_int_equal(refbus_envelope_seal(&env, len, &p, pl, pl_len), 0);
    return env;
}

static int open_as(const test_agency *a, const uint8_t *env, size_t len, uint8_t **pl,
                   size_t *pl_len)
{
    refbus_enc_key k = test_enc_key(a);
    return refbus_envelope_open(pl, pl_len, NULL, env, len, ag[0].sign_pk, a->id, &k, 1, NOW);
}

static void roundtrip(size_t n)
{
    const char *msg = "referral body";
    size_t len;
    uint8_t *env = seal_n(n, msg, strlen(msg), &len);
    refbus_envelope_header h;
    assert_int_equal(refbus_envelope_verify(&h, env, len, ag[0].sign_pk, NOW), 0);
    assert_int_equal(h.n_recipients, n);
    assert_string_equal(h.sender, ag[0].id);
    assert_int_equal(h.priority, REFBUS_PRIORITY_URGENT);
    for (size_t i = 1; i <= n; i++) {
        uint8_t *pl = NULL;
        size_t pl_len = 0;
        assert_int_equal(open_as(&ag[i], env, len, &pl, &pl_len), 0);
        assert_int_equal(pl_len, strlen(msg));
        assert_memory_equal(pl, msg, pl_len);
        refbus_envelope_payload_free(&pl, pl_len);
        assert_null(pl);
    }
    /* The sender itself and any non-recipient cannot open it. */
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    assert_int_equal(open_as(&ag[16], env, len, &pl, &pl_len), n == 16 ? 0 : REFBUS_ENOTRECIPIENT);
    refbus_envelope_payload_free(&pl, pl_len);
    assert_int_equal(open_as(&ag[0], env, len, &pl, &pl_len), REFBUS_ENOTRECIPIENT);
    free(env);
}

static void test_roundtrip_1(void **s)
{
    (void)s;
    roundtrip(1);
}
static void test_roundtrip_2(void **s)
{
    (void)s;
    roundtrip(2);
}
static void test_roundtrip_16(void **s)
{
    (void)s;
    roundtrip(16);
}

static void test_utf8(void **s)
{
    (void)s;
    /* Thai and Burmese (Myanmar script), with combining marks, must come back byte for byte. */
    const char *text = "เด็กหญิงอายุ ๑๔ ปี ต้องการที่พักพิงด่วน — "
                       "ကလေးသူငယ် အကာအကွယ် လိုအပ်သည်။ ✓";
    size_t len;
    uint8_t *env = seal_n(2, text, strlen(text), &len);
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    assert_int_equal(open_as(&ag[2], env, len, &pl, &pl_len), 0);
    assert_int_equal(pl_len, strlen(text));
    assert_memory_equal(pl, text, pl_len);
    refbus_envelope_payload_free(&pl, pl_len);
    free(env);
}

static void test_empty_and_max_payload(void **s)
{
    (void)s;
    size_t len;
    uint8_t *env = seal_n(1, NULL, 0, &len);
    uint8_t *pl = NULL;
    size_t pl_len = 7;
    assert_int_equal(open_as(&ag[1], env, len, &pl, &pl_len), 0);
    assert_int_equal(pl_len, 0);
    refbus_envelope_payload_free(&pl, pl_len);
    free(env);

    uint8_t *big = calloc(1, REFBUS_MAX_PAYLOAD + 1);
    big[0] = 'x';
    big[REFBUS_MAX_PAYLOAD - 1] = 'y';
    env = seal_n(1, big, REFBUS_MAX_PAYLOAD, &len);
    assert_int_equal(open_as(&ag[1], env, len, &pl, &pl_len), 0);
    assert_int_equal(pl_len, REFBUS_MAX_PAYLOAD);
    assert_memory_equal(pl, big, pl_len);
    refbus_envelope_payload_free(&pl, pl_len);
    free(env);

    refbus_recipient r = test_recipient(&ag[1]);
    refbus_seal_params p = {.sender = ag[0].id,
                            .sender_epoch = 1,
                            .sign_sk = ag[0].sign_sk,
                            .recipients = &r,
                            .n_recipients = 1,
                            .kind = REFBUS_KIND_REFERRAL,
                            .created_ms = NOW,
                            .expires_ms = LATER};
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, big, REFBUS_MAX_PAYLOAD + 1),
                     REFBUS_ETOOLARGE);
    free(big);
}

static void test_bad_params(void **s)
{
    (void)s;
    refbus_recipient r[17];
    for (int i = 0; i < 17; i++)
        r[i] = test_recipient(&ag[i]);
    refbus_seal_params p = {.sender = ag[0].id,
                            .sender_epoch = 1,
                            .sign_sk = ag[0].sign_sk,
                            .recipients = r,
                            .n_recipients = 17,
                            .kind = REFBUS_KIND_REFERRAL,
                            .created_ms = NOW,
                            .expires_ms = LATER};
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), REFBUS_ETOOMANYRCPT);
    p.n_recipients = 0;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), REFBUS_EINVAL);
    p.n_recipients = 2;
    r[1] = r[0]; /* duplicate recipient */
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), REFBUS_EINVAL);
    r[1] = test_recipient(&ag[1]);
    p.sender = "Bad ID";
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), REFBUS_EINVAL);
    p.sender = ag[0].id;
    p.expires_ms = NOW;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), REFBUS_EINVAL);
    p.expires_ms = LATER;
    uint8_t zero[32] = {0};
    r[1].enc_pk = zero; /* low-order point */
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), REFBUS_EDECRYPT);
    assert_null(env);
}

static void test_agency_ids(void **s)
{
    (void)s;
    assert_true(refbus_agency_id_valid("cac.chiangmai-1"));
    assert_false(refbus_agency_id_valid(""));
    assert_false(refbus_agency_id_valid("CAC"));
    assert_false(refbus_agency_id_valid("a b"));
    assert_false(refbus_agency_id_valid("a_b"));
    assert_false(refbus_agency_id_valid(".."));
    assert_false(refbus_agency_id_valid("-x"));
    assert_true(refbus_agency_id_valid("9.x-y"));
    char id[70];
    memset(id, 'a', 64);
    id[64] = 0;
    assert_true(refbus_agency_id_valid(id));
    id[64] = 'a';
    id[65] = 0;
    assert_false(refbus_agency_id_valid(id));
}

/* --- tampering ---------------------------------------------------------------------------- */

/* Re-pack an envelope after `fn` changed the unpacked message (signature untouched). */
static uint8_t *repack(Refbus__V1__Envelope *e, size_t *len)
{
    uint8_t *b = NULL;
    assert_int_equal(refbus_pb_pack(&b, len, &e->base), 0);
    return b;
}

static int verify_rc(const uint8_t *b, size_t len)
{
    return refbus_envelope_verify(NULL, b, len, ag[0].sign_pk, NOW);
}

/* Change one header field, re-encode the header, keep the old signature. */
static void tamper_header_field(const uint8_t *env, size_t len, int field, int want)
{
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    Refbus__V1__EnvelopeHeader *h =
        refbus__v1__envelope_header__unpack(NULL, e->header.len, e->header.data);
    assert_non_null(h);
    char other[] = "police.ticac";
    char *rc0 = NULL, *sender0 = h->sender;
    switch (field) {
    case 1: h->version = 2; break;
    case 2: h->msg_id.data[0] ^= 1; break;
    case 3: h->sender = other; break;
    case 4: h->sender_epoch = 2; break;
    case 5:
        rc0 = h->recipients[0];
        h->recipients[0] = (char *)"welfare.cm";
        break;
    case 6: h->created_ms -= 1; break;
    case 7: h->expires_ms += 1000; break;
    case 8: h->kind = REFBUS__V1__KIND__KIND_STATUS; break;
    case 9: h->priority = REFBUS__V1__PRIORITY__PRIORITY_ROUTINE; break;
    case 10: h->size_bucket = 320; break; /* another valid bucket: lengths no longer agree */
    case 11: h->nonce.data[3] ^= 0x40; break;
    case 12: h->ephemeral_pk.data[0] ^= 1; break;
    case 13: h->key_commitment.data[31] ^= 0x80; break;
    }
    size_t hl = 0;
    uint8_t *hb = NULL;
    assert_int_equal(refbus_pb_pack(&hb, &hl, &h->base), 0);
    if (field == 5)
        h->recipients[0] = rc0;
    h->sender = sender0;
    ProtobufCBinaryData old = e->header;
    e->header.data = hb;
    e->header.len = hl;
    size_t nl;
    uint8_t *nb = repack(e, &nl);
    int got = verify_rc(nb, nl);
    if (got != want)
        fail_msg("header field %d: got %s, want %s", field, refbus_errname(got),
                 refbus_errname(want));
    /* A recipient refuses it the same way. */
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    if (field != 5)
        assert_int_equal(open_as(&ag[1], nb, nl, &pl, &pl_len), want);
    e->header = old;
    free(hb);
    free(nb);
    refbus__v1__envelope_header__free_unpacked(h, NULL);
    refbus__v1__envelope__free_unpacked(e, NULL);
}

static void test_tamper_header(void **s)
{
    (void)s;
    size_t len;
    uint8_t *env = seal_n(2, "payload", 7, &len);
    assert_int_equal(verify_rc(env, len), 0);
    tamper_header_field(env, len, 1, REFBUS_EVERSION);
    for (int f = 2; f <= 13; f++)
        if (f != 10 && f != 5)
            tamper_header_field(env, len, f, REFBUS_EBADSIG);
    tamper_header_field(env, len, 10, REFBUS_EMALFORMED);
    /* a header recipient that no longer matches its stanza is structurally wrong */
    tamper_header_field(env, len, 5, REFBUS_EMALFORMED);
    free(env);
}

static void test_tamper_parts(void **s)
{
    (void)s;
    size_t len;
    uint8_t *env = seal_n(2, "payload", 7, &len);
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    size_t nl;
    uint8_t *nb;

    /* each stanza: flip a byte of the wrapped key, the epoch byte */
    for (size_t i = 0; i < e->n_stanzas; i++) {
        for (size_t off = 0; off < e->stanzas[i].len; off++) {
            e->stanzas[i].data[off] ^= 0x01;
            nb = repack(e, &nl);
            int rc = verify_rc(nb, nl);
            if (rc != REFBUS_EBADSIG && rc != REFBUS_EMALFORMED)
                fail_msg("stanza %zu byte %zu: %s", i, off, refbus_errname(rc));
            free(nb);
            e->stanzas[i].data[off] ^= 0x01;
        }
    }
    /* the ciphertext, first, middle and last (tag) bytes */
    size_t offs[3] = {0, e->ciphertext.len / 2, e->ciphertext.len - 1};
    for (int i = 0; i < 3; i++) {
        e->ciphertext.data[offs[i]] ^= 0x20;
        nb = repack(e, &nl);
        assert_int_equal(verify_rc(nb, nl), REFBUS_EBADSIG);
        free(nb);
        e->ciphertext.data[offs[i]] ^= 0x20;
    }
    /* the signature, every byte */
    for (size_t off = 0; off < 64; off++) {
        e->signature.data[off] ^= 0x04;
        nb = repack(e, &nl);
        assert_int_equal(verify_rc(nb, nl), REFBUS_EBADSIG);
        free(nb);
        e->signature.data[off] ^= 0x04;
    }
    /* unchanged it still verifies */
    nb = repack(e, &nl);
    assert_int_equal(verify_rc(nb, nl), 0);
    free(nb);
    refbus__v1__envelope__free_unpacked(e, NULL);
    free(env);
}

/* Every single-bit flip of the whole envelope is refused (a sweep over each byte). */
static void test_tamper_every_byte(void **s)
{
    (void)s;
    size_t len;
    uint8_t *env = seal_n(3, "short referral", 14, &len);
    for (size_t off = 0; off < len; off++) {
        env[off] ^= 0x10;
        int rc = verify_rc(env, len);
        if (rc == 0)
            fail_msg("byte %zu flipped and still verified", off);
        env[off] ^= 0x10;
    }
    assert_int_equal(verify_rc(env, len), 0);
    free(env);
}

static void test_wrong_sender_key(void **s)
{
    (void)s;
    /* ag[2] signs an envelope that claims to come from ag[0]: a valid signature by a different
     * agency is still a bad signature for the claimed sender. */
    refbus_recipient r = test_recipient(&ag[1]);
    refbus_seal_params p = {.sender = ag[0].id,
                            .sender_epoch = 1,
                            .sign_sk = ag[2].sign_sk,
                            .recipients = &r,
                            .n_recipients = 1,
                            .kind = REFBUS_KIND_REFERRAL,
                            .created_ms = NOW,
                            .expires_ms = LATER};
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "forged", 6), 0);
    assert_int_equal(verify_rc(env, len), REFBUS_EBADSIG);
    assert_int_equal(refbus_envelope_verify(NULL, env, len, ag[2].sign_pk, NOW), 0);
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    assert_int_equal(open_as(&ag[1], env, len, &pl, &pl_len), REFBUS_EBADSIG);
    free(env);
}

static void test_stanza_moved(void **s)
{
    (void)s;
    /* Swap the two stanzas (and so their agencies' positions): the header no longer matches. */
    size_t len, nl;
    uint8_t *env = seal_n(2, "payload", 7, &len);
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    ProtobufCBinaryData t = e->stanzas[0];
    e->stanzas[0] = e->stanzas[1];
    e->stanzas[1] = t;
    uint8_t *nb = repack(e, &nl);
    assert_int_equal(verify_rc(nb, nl), REFBUS_EMALFORMED);
    free(nb);
    /* Rename stanza 0 to recipient 1's agency... by hand, re-encoded: bad signature. */
    e->stanzas[1] = e->stanzas[0];
    e->stanzas[0] = t;
    Refbus__V1__RecipientStanza *st =
        refbus__v1__recipient_stanza__unpack(NULL, e->stanzas[0].len, e->stanzas[0].data);
    Refbus__V1__RecipientStanza *st1 =
        refbus__v1__recipient_stanza__unpack(NULL, e->stanzas[1].len, e->stanzas[1].data);
    /* give recipient 1 (ag[2]) the wrapped key meant for ag[1] */
    ProtobufCBinaryData w = st1->wrapped_key;
    st1->wrapped_key = st->wrapped_key;
    uint8_t sb[256];
    size_t sl = refbus__v1__recipient_stanza__pack(st1, sb);
    st1->wrapped_key = w;
    ProtobufCBinaryData old1 = e->stanzas[1];
    e->stanzas[1].data = sb;
    e->stanzas[1].len = sl;
    nb = repack(e, &nl);
    assert_int_equal(verify_rc(nb, nl), REFBUS_EBADSIG);
    free(nb);
    /* Even re-signed by the real sender, ag[2] cannot unwrap a key wrapped for ag[1]. */
    const uint8_t *sts[2] = {e->stanzas[0].data, sb};
    size_t sls[2] = {e->stanzas[0].len, sl};
    assert_int_equal(test_envelope_build(&nb, &nl, e->header.data, e->header.len, sts, sls, 2,
                                         e->ciphertext.data, e->ciphertext.len, ag[0].sign_sk),
                     0);
    assert_int_equal(verify_rc(nb, nl), 0);
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    assert_int_equal(open_as(&ag[2], nb, nl, &pl, &pl_len), REFBUS_EDECRYPT);
    assert_int_equal(open_as(&ag[1], nb, nl, &pl, &pl_len), 0);
    refbus_envelope_payload_free(&pl, pl_len);
    free(nb);
    e->stanzas[1] = old1;
    refbus__v1__recipient_stanza__free_unpacked(st, NULL);
    refbus__v1__recipient_stanza__free_unpacked(st1, NULL);
    refbus__v1__envelope__free_unpacked(e, NULL);
    free(env);
}

static void test_retarget(void **s)
{
    (void)s;
    /* A recipient (or the broker) adds a new recipient: header and stanza list change. Without
     * the sender's key the signature no longer holds. */
    size_t len, nl;
    uint8_t *env = seal_n(1, "payload", 7, &len);
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    Refbus__V1__EnvelopeHeader *h =
        refbus__v1__envelope_header__unpack(NULL, e->header.len, e->header.data);
    char *rc2[2] = {h->recipients[0], (char *)"welfare.cm"};
    char **old = h->recipients;
    h->recipients = rc2;
    h->n_recipients = 2;
    uint8_t hb[512];
    size_t hl = refbus__v1__envelope_header__pack(h, hb);
    h->recipients = old;
    h->n_recipients = 1;
    Refbus__V1__RecipientStanza st = REFBUS__V1__RECIPIENT_STANZA__INIT;
    uint8_t wk[48] = {1};
    st.agency = (char *)"welfare.cm";
    st.epoch = 1;
    st.wrapped_key = (ProtobufCBinaryData){48, wk};
    uint8_t sb[128];
    size_t sl = refbus__v1__recipient_stanza__pack(&st, sb);
    ProtobufCBinaryData stz[2] = {e->stanzas[0], {sl, sb}};
    Refbus__V1__Envelope e2 = *e;
    e2.header = (ProtobufCBinaryData){hl, hb};
    e2.stanzas = stz;
    e2.n_stanzas = 2;
    uint8_t *nb = repack(&e2, &nl);
    assert_int_equal(verify_rc(nb, nl), REFBUS_EBADSIG);
    free(nb);
    refbus__v1__envelope_header__free_unpacked(h, NULL);
    refbus__v1__envelope__free_unpacked(e, NULL);
    free(env);
}

static void test_commitment(void **s)
{
    (void)s;
    /* A malicious sender gives recipient 2 a different content key: the signature is valid
     * (the sender signed it) but the key commitment catches the split view. */
    uint8_t K1[32], K2[32], nonce[24], esk[32], id[16];
    memset(K1, 1, 32);
    memset(K2, 2, 32);
    memset(nonce, 3, 24);
    memset(esk, 4, 32);
    memset(id, 5, 16);
    refbus_recipient r[2] = {test_recipient(&ag[1]), test_recipient(&ag[2])};
    refbus_seal_params p = {.sender = ag[0].id,
                            .sender_epoch = 1,
                            .sign_sk = ag[0].sign_sk,
                            .recipients = r,
                            .n_recipients = 2,
                            .kind = REFBUS_KIND_REFERRAL,
                            .created_ms = NOW,
                            .expires_ms = LATER,
                            .msg_id = id,
                            .content_key = K1,
                            .nonce = nonce,
                            .ephemeral_sk = esk};
    uint8_t *e1b, *e2b, *nb;
    size_t l1, l2, nl;
    assert_int_equal(refbus_envelope_seal(&e1b, &l1, &p, "payload", 7), 0);
    p.content_key = K2;
    assert_int_equal(refbus_envelope_seal(&e2b, &l2, &p, "payload", 7), 0);
    Refbus__V1__Envelope *e1 = refbus__v1__envelope__unpack(NULL, l1, e1b);
    Refbus__V1__Envelope *e2 = refbus__v1__envelope__unpack(NULL, l2, e2b);
    const uint8_t *sts[2] = {e1->stanzas[0].data, e2->stanzas[1].data};
    size_t sls[2] = {e1->stanzas[0].len, e2->stanzas[1].len};
    assert_int_equal(test_envelope_build(&nb, &nl, e1->header.data, e1->header.len, sts, sls, 2,
                                         e1->ciphertext.data, e1->ciphertext.len, ag[0].sign_sk),
                     0);
    assert_int_equal(verify_rc(nb, nl), 0);
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    assert_int_equal(open_as(&ag[1], nb, nl, &pl, &pl_len), 0);
    refbus_envelope_payload_free(&pl, pl_len);
    assert_int_equal(open_as(&ag[2], nb, nl, &pl, &pl_len), REFBUS_ECOMMIT);
    free(nb);
    refbus__v1__envelope__free_unpacked(e1, NULL);
    refbus__v1__envelope__free_unpacked(e2, NULL);
    free(e1b);
    free(e2b);
}

static void test_epochs_and_expiry(void **s)
{
    (void)s;
    size_t len;
    uint8_t *env = seal_n(1, "payload", 7, &len);
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    /* The recipient has only an epoch-2 key. */
    refbus_enc_key k = test_enc_key(&ag[1]);
    k.epoch = 2;
    assert_int_equal(refbus_envelope_open(&pl, &pl_len, NULL, env, len, ag[0].sign_pk, ag[1].id, &k,
                                          1, NOW),
                     REFBUS_ENOEPOCHKEY);
    /* Several epochs: the right one is picked. */
    refbus_enc_key ks[3] = {test_enc_key(&ag[3]), test_enc_key(&ag[1]), test_enc_key(&ag[2])};
    ks[0].epoch = 3;
    ks[2].epoch = 2;
    assert_int_equal(refbus_envelope_open(&pl, &pl_len, NULL, env, len, ag[0].sign_pk, ag[1].id, ks,
                                          3, NOW),
                     0);
    refbus_envelope_payload_free(&pl, pl_len);
    /* The wrong secret key for the right epoch. */
    refbus_enc_key wrong = test_enc_key(&ag[2]);
    assert_int_equal(refbus_envelope_open(&pl, &pl_len, NULL, env, len, ag[0].sign_pk, ag[1].id,
                                          &wrong, 1, NOW),
                     REFBUS_EDECRYPT);
    /* Expired. */
    assert_int_equal(refbus_envelope_verify(NULL, env, len, ag[0].sign_pk, LATER), REFBUS_EEXPIRED);
    assert_int_equal(refbus_envelope_open(&pl, &pl_len, NULL, env, len, ag[0].sign_pk, ag[1].id, ks,
                                          3, LATER + 1),
                     REFBUS_EEXPIRED);
    free(env);
}

static void test_garbage(void **s)
{
    (void)s;
    size_t len;
    uint8_t *env = seal_n(2, "payload", 7, &len);
    refbus_envelope_header h;
    /* every truncation */
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, env, n);
        int rc = refbus_envelope_verify(&h, cut, n, ag[0].sign_pk, NOW);
        if (rc == 0)
            fail_msg("truncated to %zu bytes and verified", n);
        free(cut);
    }
    /* trailing bytes */
    uint8_t *ext = malloc(len + 2);
    memcpy(ext, env, len);
    ext[len] = 0x40; /* field 8, varint: not in the schema */
    ext[len + 1] = 0x01;
    assert_int_equal(refbus_envelope_parse(&h, ext, len + 2), REFBUS_EMALFORMED);
    /* field 5 (batch_size = 1) turns the single form into a batch of one: it parses, and the
     * signature (over M, not over a root) no longer verifies */
    ext[len] = 0x28;
    assert_int_equal(refbus_envelope_parse(&h, ext, len + 2), 0);
    assert_int_equal(refbus_envelope_verify(&h, ext, len + 2, ag[0].sign_pk, NOW), REFBUS_EBADSIG);
    free(ext);
    /* random input */
    uint8_t buf[4096];
    for (int i = 0; i < 2000; i++) {
        size_t n = randombytes_uniform(sizeof buf);
        randombytes_buf(buf, n);
        assert_int_not_equal(refbus_envelope_verify(&h, buf, n, ag[0].sign_pk, NOW), 0);
    }
    /* oversized */
    uint8_t *huge = calloc(1, REFBUS_MAX_ENVELOPE + 1);
    assert_int_equal(refbus_envelope_parse(&h, huge, REFBUS_MAX_ENVELOPE + 1), REFBUS_ETOOLARGE);
    free(huge);
    free(env);
}

static void test_buckets(void **s)
{
    (void)s;
    assert_int_equal(refbus_envelope_bucket(0), 256);
    assert_int_equal(refbus_envelope_bucket(252), 256);
    assert_int_equal(refbus_envelope_bucket(253), 320);
    assert_int_equal(refbus_envelope_bucket(2048), 2560);
    assert_int_equal(refbus_envelope_bucket(REFBUS_MAX_PAYLOAD), 1310720);
    assert_int_equal(refbus_envelope_bucket(REFBUS_MAX_PAYLOAD + 1), 0);
    for (size_t n = 0; n < 100000; n += 7) {
        uint32_t b = refbus_envelope_bucket(n);
        assert_true(b >= n + 4);
        assert_true(b <= 256 || (double)b <= (double)(n + 4) * 1.25 + 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_1),
        cmocka_unit_test(test_roundtrip_2),
        cmocka_unit_test(test_roundtrip_16),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_empty_and_max_payload),
        cmocka_unit_test(test_bad_params),
        cmocka_unit_test(test_agency_ids),
        cmocka_unit_test(test_tamper_header),
        cmocka_unit_test(test_tamper_parts),
        cmocka_unit_test(test_tamper_every_byte),
        cmocka_unit_test(test_wrong_sender_key),
        cmocka_unit_test(test_stanza_moved),
        cmocka_unit_test(test_retarget),
        cmocka_unit_test(test_commitment),
        cmocka_unit_test(test_epochs_and_expiry),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_buckets),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
