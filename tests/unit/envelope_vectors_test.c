/* Known answers for the envelope (tests/vectors/envelope-v1.json, quoted in docs/PROTOCOL.md):
 * fixed keys and randomness must give exactly these bytes. The intermediate values (payload
 * key, commitment, wrap keys) are recomputed here from the spec with libsodium primitives, a
 * second rendering of PROTOCOL.md next to proto/envelope.c.
 * REFBUS_VECTORS_WRITE=FILE regenerates the expected values (only when the format changes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "common/util.h"
#include "envelope.pb-c.h"
#include "proto/envelope.h"
#include "testutil.h"

static void hexget(uint8_t *out, size_t len, json_t *o, const char *key)
{
    const char *h = json_string_value(json_object_get(o, key));
    if (!h)
        fail_msg("vector field %s missing", key);
    assert_int_equal(refbus_unhex(out, len, h), 0);
}

static uint8_t *hexget_alloc(json_t *o, const char *key, size_t *len)
{
    const char *h = json_string_value(json_object_get(o, key));
    assert_non_null(h);
    *len = strlen(h) / 2;
    uint8_t *b = malloc(*len + 1);
    assert_int_equal(refbus_unhex(b, *len, h), 0);
    return b;
}

static json_t *hexval(const uint8_t *b, size_t len)
{
    char *h = malloc(len * 2 + 1);
    refbus_hex(h, b, len);
    json_t *v = json_string(h);
    free(h);
    return v;
}

/* Check (or, when writing, set) expected[key] = hex(b). */
static void expect(json_t *exp, int writing, const char *key, const uint8_t *b, size_t len)
{
    json_t *v = hexval(b, len);
    if (writing) {
        json_object_set_new(exp, key, v);
        return;
    }
    json_t *want = json_object_get(exp, key);
    if (!want || !json_equal(want, v))
        fail_msg("vector mismatch at %s: got %s", key, json_string_value(v));
    json_decref(v);
}

static void kdf(uint8_t out[32], const uint8_t key[32], const char *dom, const uint8_t *x,
                size_t xl)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, 32, 32);
    crypto_generichash_update(&st, (const uint8_t *)dom, strlen(dom));
    crypto_generichash_update(&st, x, xl);
    crypto_generichash_final(&st, out, 32);
}

static void run_vector(json_t *v, int writing)
{
    json_t *exp = json_object_get(v, "expected");
    if (writing && !exp) {
        exp = json_object();
        json_object_set_new(v, "expected", exp);
    }
    json_t *snd = json_object_get(v, "sender"), *rc = json_object_get(v, "recipients");
    uint8_t seed[32], spk[32], ssk[64], msg_id[16], K[32], nonce[24], esk[32], epk[32];
    hexget(seed, 32, snd, "sign_seed");
    crypto_sign_seed_keypair(spk, ssk, seed);
    expect(exp, writing, "sender_sign_pk", spk, 32);
    hexget(msg_id, 16, v, "msg_id");
    hexget(K, 32, v, "content_key");
    hexget(nonce, 24, v, "nonce");
    hexget(esk, 32, v, "ephemeral_sk");
    crypto_scalarmult_base(epk, esk);
    expect(exp, writing, "ephemeral_pk", epk, 32);

    size_t n = json_array_size(rc);
    refbus_recipient r[16];
    uint8_t rsk[16][32], rpk[16][32];
    json_t *wraps = writing ? json_array() : json_object_get(exp, "wrap_keys");
    for (size_t i = 0; i < n; i++) {
        json_t *ri = json_array_get(rc, i);
        hexget(rsk[i], 32, ri, "enc_sk");
        crypto_scalarmult_base(rpk[i], rsk[i]);
        r[i].agency = json_string_value(json_object_get(ri, "id"));
        r[i].epoch = (uint32_t)json_integer_value(json_object_get(ri, "epoch"));
        r[i].enc_pk = rpk[i];
        /* wrap key, from the spec */
        uint8_t shared[32], info[200], wk[32];
        assert_int_equal(crypto_scalarmult(shared, esk, rpk[i]), 0);
        size_t al = strlen(r[i].agency);
        memcpy(info, epk, 32);
        memcpy(info + 32, rpk[i], 32);
        memcpy(info + 64, msg_id, 16);
        info[80] = (uint8_t)(r[i].epoch >> 24);
        info[81] = (uint8_t)(r[i].epoch >> 16);
        info[82] = (uint8_t)(r[i].epoch >> 8);
        info[83] = (uint8_t)r[i].epoch;
        memcpy(info + 84, r[i].agency, al);
        kdf(wk, shared, "refbus/v1/wrap-key", info, 84 + al);
        if (writing) {
            json_array_append_new(wraps, hexval(wk, 32));
        } else {
            json_t *got = hexval(wk, 32);
            assert_true(json_equal(got, json_array_get(wraps, i)));
            json_decref(got);
        }
    }
    if (writing)
        json_object_set_new(exp, "wrap_keys", wraps);

    uint8_t pkey[32], commit[32];
    kdf(pkey, K, "refbus/v1/payload-key", NULL, 0);
    kdf(commit, K, "refbus/v1/key-commitment", NULL, 0);
    expect(exp, writing, "payload_key", pkey, 32);
    expect(exp, writing, "key_commitment", commit, 32);

    size_t pl_len;
    uint8_t *pl = hexget_alloc(v, "payload_hex", &pl_len);
    refbus_seal_params p = {
        .sender = json_string_value(json_object_get(snd, "id")),
        .sender_epoch = (uint32_t)json_integer_value(json_object_get(snd, "epoch")),
        .sign_sk = ssk,
        .recipients = r,
        .n_recipients = n,
        .kind = (enum refbus_kind)json_integer_value(json_object_get(v, "kind")),
        .priority = (enum refbus_priority)json_integer_value(json_object_get(v, "priority")),
        .created_ms = (uint64_t)json_integer_value(json_object_get(v, "created_ms")),
        .expires_ms = (uint64_t)json_integer_value(json_object_get(v, "expires_ms")),
        .msg_id = msg_id,
        .content_key = K,
        .nonce = nonce,
        .ephemeral_sk = esk};
    uint8_t *env = NULL;
    size_t len = 0;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, pl, pl_len), 0);

    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    assert_non_null(e);
    expect(exp, writing, "header", e->header.data, e->header.len);
    json_t *stz = writing ? json_array() : json_object_get(exp, "stanzas");
    for (size_t i = 0; i < e->n_stanzas; i++) {
        json_t *got = hexval(e->stanzas[i].data, e->stanzas[i].len);
        if (writing)
            json_array_append_new(stz, got);
        else {
            assert_true(json_equal(got, json_array_get(stz, i)));
            json_decref(got);
        }
    }
    if (writing)
        json_object_set_new(exp, "stanzas", stz);
    uint8_t cth[32];
    crypto_generichash(cth, 32, e->ciphertext.data, e->ciphertext.len, NULL, 0);
    expect(exp, writing, "ciphertext_blake2b", cth, 32);
    expect(exp, writing, "signature", e->signature.data, 64);
    expect(exp, writing, "envelope", env, len);
    refbus__v1__envelope__free_unpacked(e, NULL);

    refbus_envelope_header h;
    assert_int_equal(refbus_envelope_verify(&h, env, len, spk, 0), 0);
    expect(exp, writing, "envelope_hash", h.envelope_hash, 32);
    for (size_t i = 0; i < n; i++) {
        refbus_enc_key k = {r[i].epoch, rsk[i], rpk[i]};
        uint8_t *out = NULL;
        size_t out_len = 0;
        assert_int_equal(refbus_envelope_open(&out, &out_len, NULL, env, len, spk, r[i].agency,
                                              &k, 1, 0),
                         0);
        assert_int_equal(out_len, pl_len);
        assert_memory_equal(out, pl, pl_len);
        refbus_envelope_payload_free(&out, out_len);
    }
    free(env);
    free(pl);
}

static void test_vectors(void **s)
{
    (void)s;
    const char *write_to = getenv("REFBUS_VECTORS_WRITE");
    size_t len;
    char *txt = test_read_source("tests/vectors/envelope-v1.json", &len);
    assert_non_null(txt);
    json_error_t err;
    json_t *root = json_loads(txt, 0, &err);
    free(txt);
    if (!root)
        fail_msg("vectors: %s line %d", err.text, err.line);
    json_t *vs = json_object_get(root, "vectors");
    assert_true(json_array_size(vs) >= 3);
    for (size_t i = 0; i < json_array_size(vs); i++)
        run_vector(json_array_get(vs, i), write_to != NULL);
    if (write_to)
        assert_int_equal(json_dump_file(root, write_to, JSON_INDENT(2) | JSON_PRESERVE_ORDER), 0);
    json_decref(root);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
