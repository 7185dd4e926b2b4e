/* Known answers for the envelope (tests/vectors/envelope-v1.json, quoted in docs/PROTOCOL.md,
 * in the single signature form; tests/vectors/envelope-batch.json, a batch under one signature):
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
        .ephemeral_sk = esk}; /* a batch of one: the single form (2.7.1) */
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
        assert_int_equal(refbus_envelope_open(&out, &out_len, NULL, env, len, spk, r[i].agency, &k,
                                              1, 0),
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

/* Seal parameters of vector `v` with the batch's sender `snd`. Storage in *ps. */
typedef struct vparams {
    refbus_recipient r[16];
    uint8_t rpk[16][32], msg_id[16], K[32], nonce[24], esk[32];
    uint8_t *pl;
    size_t pl_len;
} vparams;

static void params_of(refbus_seal_params *p, vparams *ps, json_t *v, json_t *snd,
                      const uint8_t ssk[64])
{
    json_t *rc = json_object_get(v, "recipients");
    size_t n = json_array_size(rc);
    for (size_t i = 0; i < n; i++) {
        json_t *ri = json_array_get(rc, i);
        uint8_t rsk[32];
        hexget(rsk, 32, ri, "enc_sk");
        crypto_scalarmult_base(ps->rpk[i], rsk);
        ps->r[i].agency = json_string_value(json_object_get(ri, "id"));
        ps->r[i].epoch = (uint32_t)json_integer_value(json_object_get(ri, "epoch"));
        ps->r[i].enc_pk = ps->rpk[i];
    }
    hexget(ps->msg_id, 16, v, "msg_id");
    hexget(ps->K, 32, v, "content_key");
    hexget(ps->nonce, 24, v, "nonce");
    hexget(ps->esk, 32, v, "ephemeral_sk");
    ps->pl = hexget_alloc(v, "payload_hex", &ps->pl_len);
    *p = (refbus_seal_params){
        .sender = json_string_value(json_object_get(snd, "id")),
        .sender_epoch = (uint32_t)json_integer_value(json_object_get(snd, "epoch")),
        .sign_sk = ssk,
        .recipients = ps->r,
        .n_recipients = n,
        .kind = (enum refbus_kind)json_integer_value(json_object_get(v, "kind")),
        .priority = (enum refbus_priority)json_integer_value(json_object_get(v, "priority")),
        .created_ms = (uint64_t)json_integer_value(json_object_get(v, "created_ms")),
        .expires_ms = (uint64_t)json_integer_value(json_object_get(v, "expires_ms")),
        .msg_id = ps->msg_id,
        .content_key = ps->K,
        .nonce = ps->nonce,
        .ephemeral_sk = ps->esk};
}

/* Check (or set) expected[key] = a list of hex strings. */
static void expect_list(json_t *exp, int writing, const char *key, json_t *got)
{
    if (writing) {
        json_object_set_new(exp, key, got);
        return;
    }
    if (!json_equal(json_object_get(exp, key), got))
        fail_msg("batch vector mismatch at %s", key);
    json_decref(got);
}

/* The batch vector: the members' inputs (envelope-v1.json vectors, sender replaced) sealed as
 * one batch. The leaves, the root and the paths are recomputed here from 2.7.2 with libsodium's
 * SHA-256 (a second rendering beside proto/batch.c); the envelopes come from seal_batch. */
static void run_batch(json_t *bv, json_t *vs, int writing)
{
    json_t *exp = json_object_get(bv, "expected"), *snd = json_object_get(bv, "sender");
    json_t *members = json_object_get(bv, "members");
    if (writing && !exp) {
        exp = json_object();
        json_object_set_new(bv, "expected", exp);
    }
    uint8_t seed[32], spk[32], ssk[64];
    hexget(seed, 32, snd, "sign_seed");
    crypto_sign_seed_keypair(spk, ssk, seed);
    size_t n = json_array_size(members);
    assert_true(n >= 3 && n <= 8);
    refbus_seal_params p[8];
    vparams vp[8];
    const void *pls[8];
    size_t pl_lens[8], lens[8];
    uint8_t *envs[8];
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)json_integer_value(json_array_get(members, i));
        params_of(&p[i], &vp[i], json_array_get(vs, k), snd, ssk);
        pls[i] = vp[i].pl;
        pl_lens[i] = vp[i].pl_len;
    }
    assert_int_equal(refbus_envelope_seal_batch(envs, lens, p, pls, pl_lens, n), 0);

    /* Leaves from the spec: SHA-256(0x00 || M), M as in 2.7.1. */
    uint8_t leaf[8][32];
    json_t *jl = json_array(), *je = json_array(), *jh = json_array(), *jp = json_array();
    for (size_t i = 0; i < n; i++) {
        Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, lens[i], envs[i]);
        assert_non_null(e);
        assert_int_equal(e->batch_size, n);
        assert_int_equal(e->batch_index, i);
        crypto_hash_sha256_state st;
        uint8_t b4[4], zero = 0, cth[32];
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, &zero, 1);
        crypto_hash_sha256_update(&st, (const uint8_t *)"refbus/v1/envelope-signature", 28);
        refbus_put_u32be(b4, (uint32_t)e->header.len);
        crypto_hash_sha256_update(&st, b4, 4);
        crypto_hash_sha256_update(&st, e->header.data, e->header.len);
        refbus_put_u32be(b4, (uint32_t)e->n_stanzas);
        crypto_hash_sha256_update(&st, b4, 4);
        for (size_t j = 0; j < e->n_stanzas; j++) {
            refbus_put_u32be(b4, (uint32_t)e->stanzas[j].len);
            crypto_hash_sha256_update(&st, b4, 4);
            crypto_hash_sha256_update(&st, e->stanzas[j].data, e->stanzas[j].len);
        }
        crypto_generichash(cth, 32, e->ciphertext.data, e->ciphertext.len, NULL, 0);
        crypto_hash_sha256_update(&st, cth, 32);
        crypto_hash_sha256_final(&st, leaf[i]);
        json_array_append_new(jl, hexval(leaf[i], 32));
        json_t *path = json_array();
        for (size_t j = 0; j < e->n_batch_path; j++)
            json_array_append_new(path, hexval(e->batch_path[j].data, 32));
        json_array_append_new(jp, path);
        if (i == 0)
            expect(exp, writing, "signature", e->signature.data, 64);
        refbus__v1__envelope__free_unpacked(e, NULL);
        json_array_append_new(je, hexval(envs[i], lens[i]));
        refbus_envelope_header h;
        assert_int_equal(refbus_envelope_verify(&h, envs[i], lens[i], spk, 0), 0);
        json_array_append_new(jh, hexval(h.envelope_hash, 32));
    }
    /* The root from the spec: RFC 6962 MTH, written out for n = 3 (the vector's size). */
    assert_int_equal(n, 3);
    uint8_t root[32], n01[32], buf[65], m[25 + 4 + 32], sig[64];
    buf[0] = 1;
    memcpy(buf + 1, leaf[0], 32);
    memcpy(buf + 33, leaf[1], 32);
    crypto_hash_sha256(n01, buf, 65);
    memcpy(buf + 1, n01, 32);
    memcpy(buf + 33, leaf[2], 32);
    crypto_hash_sha256(root, buf, 65);
    expect(exp, writing, "root", root, 32);
    memcpy(m, "refbus/v1/batch-signature", 25);
    refbus_put_u32be(m + 25, (uint32_t)n);
    memcpy(m + 29, root, 32);
    crypto_sign_detached(sig, NULL, m, sizeof m, ssk);
    expect(exp, writing, "signature", sig, 64);
    expect_list(exp, writing, "leaves", jl);
    expect_list(exp, writing, "paths", jp);
    expect_list(exp, writing, "envelopes", je);
    expect_list(exp, writing, "envelope_hashes", jh);
    for (size_t i = 0; i < n; i++) {
        free(envs[i]);
        free(vp[i].pl);
    }
}

static void test_batch_vector(void **s)
{
    (void)s;
    const char *write_to = getenv("REFBUS_BATCH_VECTORS_WRITE");
    size_t len;
    char *txt = test_read_source("tests/vectors/envelope-v1.json", &len);
    char *btxt = test_read_source("tests/vectors/envelope-batch.json", &len);
    assert_non_null(txt);
    assert_non_null(btxt);
    json_error_t err;
    json_t *root = json_loads(txt, 0, &err), *broot = json_loads(btxt, 0, &err);
    free(txt);
    free(btxt);
    assert_non_null(root);
    assert_non_null(broot);
    run_batch(broot, json_object_get(root, "vectors"), write_to != NULL);
    if (write_to)
        assert_int_equal(json_dump_file(broot, write_to, JSON_INDENT(2) | JSON_PRESERVE_ORDER), 0);
    json_decref(root);
    json_decref(broot);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vectors),
                                       cmocka_unit_test(test_batch_vector)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
