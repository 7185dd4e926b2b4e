/* Batch signatures (docs/PROTOCOL.md 2.7.2): a batch of 8 verifies with one Ed25519 verification;
 * one tampered envelope is refused alone; a path of the wrong length, an index out of range, a
 * root signed by another agency and a leaf moved between batches are refused; the cache of
 * verified roots never lets a different envelope through; the tree agrees with RFC 6962's
 * recursion (proto/merkle.c) for every size and index; the single form still verifies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "envelope.pb-c.h"
#include "proto/batch.h"
#include "proto/envelope.h"
#include "proto/merkle.h"
#include "proto/receipt.h"
#include "receipt.pb-c.h"
#include "testutil.h"

#define NOW 1800000000000ull
#define LATER (NOW + 86400000ull)
#define N 8

static test_agency ag[4];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    test_agency_make(&ag[0], "ngo.hots", 1);
    test_agency_make(&ag[1], "cac.chiangmai", 2);
    test_agency_make(&ag[2], "police.ticac", 3);
    test_agency_make(&ag[3], "welfare.cm", 4);
    return 0;
}

/* Seal n messages from `from` to ag[1] as one batch. */
static void seal_batch(const test_agency *from, size_t n, uint8_t **envs, size_t *lens)
{
    refbus_recipient r = test_recipient(&ag[1]);
    refbus_seal_params p[N];
    const void *pls[N];
    size_t pl_lens[N];
    static const char *texts[N] = {"one", "two", "three", "four", "five", "six", "seven", "eight"};
    for (size_t i = 0; i < n; i++) {
        p[i] = (refbus_seal_params){.sender = from->id,
                                    .sender_epoch = 1,
                                    .sign_sk = from->sign_sk,
                                    .recipients = &r,
                                    .n_recipients = 1,
                                    .kind = REFBUS_KIND_REFERRAL,
                                    .created_ms = NOW,
                                    .expires_ms = LATER};
        pls[i] = texts[i];
        pl_lens[i] = strlen(texts[i]);
    }
    assert_int_equal(refbus_envelope_seal_batch(envs, lens, p, pls, pl_lens, n), 0);
}

static void free_all(uint8_t **envs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(envs[i]);
}

/* Unpack, let `edit` change the envelope, repack (canonical: protobuf-c writes that). */
static uint8_t *edited(const uint8_t *env, size_t len, size_t *out_len,
                       void (*edit)(Refbus__V1__Envelope *e, void *ctx), void *ctx)
{
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    assert_non_null(e);
    edit(e, ctx);
    *out_len = refbus__v1__envelope__get_packed_size(e);
    uint8_t *b = malloc(*out_len);
    refbus__v1__envelope__pack(e, b);
    refbus__v1__envelope__free_unpacked(e, NULL);
    return b;
}

static int verify(refbus_batch_cache *c, const uint8_t *env, size_t len, const uint8_t *pk)
{
    return refbus_envelope_verify_cached(NULL, env, len, pk, NOW, c);
}

static void test_batch_one_verify(void **s)
{
    (void)s;
    uint8_t *envs[N];
    size_t lens[N];
    seal_batch(&ag[0], N, envs, lens);
    refbus_batch_cache c;
    refbus_batch_cache_init(&c);
    for (size_t i = 0; i < N; i++) {
        refbus_envelope_header h;
        assert_int_equal(refbus_envelope_verify_cached(&h, envs[i], lens[i], ag[0].sign_pk, NOW,
                                                       &c),
                         0);
        assert_int_equal(h.batch_size, N);
        assert_int_equal(h.batch_index, i);
        /* every envelope alone, without the cache (an auditor), and opened */
        assert_int_equal(verify(NULL, envs[i], lens[i], ag[0].sign_pk), 0);
        refbus_enc_key k = test_enc_key(&ag[1]);
        uint8_t *pl = NULL;
        size_t pl_len = 0;
        assert_int_equal(refbus_envelope_open_cached(&pl, &pl_len, NULL, envs[i], lens[i],
                                                     ag[0].sign_pk, ag[1].id, &k, 1, NOW, &c),
                         0);
        refbus_envelope_payload_free(&pl, pl_len);
    }
    assert_int_equal(c.verifies, 1); /* eight envelopes (and their openings): one Ed25519 */
    assert_int_equal(c.hits, 2 * N - 1);
    free_all(envs, N);
}

static void flip_ct(Refbus__V1__Envelope *e, void *ctx)
{
    (void)ctx;
    e->ciphertext.data[5] ^= 1;
}

static void test_tampered_refused_alone(void **s)
{
    (void)s;
    uint8_t *envs[N];
    size_t lens[N], tl;
    seal_batch(&ag[0], N, envs, lens);
    uint8_t *bad = edited(envs[3], lens[3], &tl, flip_ct, NULL);
    refbus_batch_cache c;
    refbus_batch_cache_init(&c);
    /* first the good ones (the root gets cached), then the bad one, then the good again */
    for (size_t i = 0; i < N; i++)
        if (i != 3)
            assert_int_equal(verify(&c, envs[i], lens[i], ag[0].sign_pk), 0);
    assert_int_equal(verify(&c, bad, tl, ag[0].sign_pk), REFBUS_EBADSIG);
    assert_int_equal(verify(NULL, bad, tl, ag[0].sign_pk), REFBUS_EBADSIG);
    assert_int_equal(verify(&c, envs[3], lens[3], ag[0].sign_pk), 0);
    /* the tampered leaf leads to another root: not cached, so Ed25519 was tried on it (and
     * failed); the good ones cost one verification together */
    assert_int_equal(c.verifies, 2);
    free(bad);
    free_all(envs, N);
}

static void drop_path(Refbus__V1__Envelope *e, void *ctx)
{
    (void)ctx;
    free(e->batch_path[--e->n_batch_path].data); /* unpacked with the default allocator */
}
static void set_index(Refbus__V1__Envelope *e, void *ctx)
{
    e->batch_index = *(uint32_t *)ctx;
}
static void set_size(Refbus__V1__Envelope *e, void *ctx)
{
    e->batch_size = *(uint32_t *)ctx;
}
static void swap_sig(Refbus__V1__Envelope *e, void *ctx)
{
    memcpy(e->signature.data, ctx, 64);
}

static void test_structure_refused(void **s)
{
    (void)s;
    uint8_t *envs[N];
    size_t lens[N], l;
    seal_batch(&ag[0], N, envs, lens);
    uint8_t *b = edited(envs[0], lens[0], &l, drop_path, NULL); /* path of the wrong length */
    assert_int_equal(refbus_envelope_parse(NULL, b, l), REFBUS_EMALFORMED);
    free(b);
    uint32_t v = N; /* index out of range */
    b = edited(envs[0], lens[0], &l, set_index, &v);
    assert_int_equal(refbus_envelope_parse(NULL, b, l), REFBUS_EMALFORMED);
    free(b);
    v = 1; /* index 0 -> 1: the same path length, but the wrong side of the tree */
    b = edited(envs[0], lens[0], &l, set_index, &v);
    assert_int_equal(refbus_envelope_parse(NULL, b, l), 0);
    assert_int_equal(verify(NULL, b, l, ag[0].sign_pk), REFBUS_EBADSIG);
    free(b);
    v = REFBUS_BATCH_MAX + 1; /* size over the limit */
    b = edited(envs[0], lens[0], &l, set_size, &v);
    assert_int_equal(refbus_envelope_parse(NULL, b, l), REFBUS_EMALFORMED);
    free(b);
    v = 0; /* batch fields without a size: neither form */
    b = edited(envs[1], lens[1], &l, set_size, &v);
    assert_int_equal(refbus_envelope_parse(NULL, b, l), REFBUS_EMALFORMED);
    free(b);
    free_all(envs, N);
}

static void test_other_signer_and_moved_leaf(void **s)
{
    (void)s;
    uint8_t *a[N], *o[N];
    size_t al[N], ol[N], l;
    seal_batch(&ag[0], N, a, al);
    seal_batch(&ag[2], N, o, ol);
    refbus_batch_cache c;
    refbus_batch_cache_init(&c);
    /* a root signed by another agency: refused under the sender's key */
    assert_int_equal(verify(&c, o[0], ol[0], ag[0].sign_pk), REFBUS_EBADSIG);
    assert_int_equal(verify(&c, o[0], ol[0], ag[2].sign_pk), 0);
    /* the other agency's signature pasted on our envelope: refused */
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, ol[0], o[0]);
    uint8_t osig[64];
    memcpy(osig, e->signature.data, 64);
    refbus__v1__envelope__free_unpacked(e, NULL);
    uint8_t *b = edited(a[0], al[0], &l, swap_sig, osig);
    assert_int_equal(verify(&c, b, l, ag[0].sign_pk), REFBUS_EBADSIG);
    free(b);
    /* a leaf moved between two batches of ours: a[2]'s content with b's signature */
    uint8_t *b2[N];
    size_t b2l[N];
    seal_batch(&ag[0], N, b2, b2l);
    assert_int_equal(verify(&c, b2[2], b2l[2], ag[0].sign_pk), 0); /* b2's root now cached */
    e = refbus__v1__envelope__unpack(NULL, b2l[2], b2[2]);
    memcpy(osig, e->signature.data, 64);
    refbus__v1__envelope__free_unpacked(e, NULL);
    b = edited(a[2], al[2], &l, swap_sig, osig);
    assert_int_equal(verify(&c, b, l, ag[0].sign_pk), REFBUS_EBADSIG);
    free(b);
    /* the cache holds a[..]'s root too: a different envelope (tampered) with that root still
     * fails, since its path leads elsewhere */
    assert_int_equal(verify(&c, a[1], al[1], ag[0].sign_pk), 0);
    b = edited(a[1], al[1], &l, flip_ct, NULL);
    assert_int_equal(verify(&c, b, l, ag[0].sign_pk), REFBUS_EBADSIG);
    free(b);
    free_all(a, N);
    free_all(o, N);
    free_all(b2, N);
}

/* The cache is a memo of Ed25519-Verify(pk, size || root, sig): a valid root under a changed
 * signature (which strict Ed25519 never accepts) is a different key and is verified again. */
static void test_cache_keys_signature(void **s)
{
    (void)s;
    uint8_t *envs[2];
    size_t lens[2], l;
    seal_batch(&ag[0], 2, envs, lens);
    refbus_batch_cache c;
    refbus_batch_cache_init(&c);
    assert_int_equal(verify(&c, envs[0], lens[0], ag[0].sign_pk), 0);
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, lens[1], envs[1]);
    uint8_t sig[64];
    memcpy(sig, e->signature.data, 64);
    refbus__v1__envelope__free_unpacked(e, NULL);
    sig[63] ^= 0x10; /* S + 2^252-ish: not canonical, must not ride on the cached root */
    uint8_t *b = edited(envs[1], lens[1], &l, swap_sig, sig);
    assert_int_equal(verify(&c, b, l, ag[0].sign_pk), REFBUS_EBADSIG);
    assert_int_equal(c.verifies, 2);
    free(b);
    /* more batches than slots: old roots fall out, verification still right */
    for (unsigned i = 0; i < REFBUS_BATCH_CACHE_SLOTS + 3; i++) {
        uint8_t *x[2];
        size_t xl[2];
        seal_batch(&ag[0], 2, x, xl);
        assert_int_equal(verify(&c, x[0], xl[0], ag[0].sign_pk), 0);
        free_all(x, 2);
    }
    assert_int_equal(c.used, REFBUS_BATCH_CACHE_SLOTS);
    assert_int_equal(verify(&c, envs[0], lens[0], ag[0].sign_pk), 0);
    free_all(envs, 2);
}

/* A batch of one is written in the single form of the first release; the batch form of one
 * (an empty path) verifies too. */
static void test_forms(void **s)
{
    (void)s;
    refbus_recipient r = test_recipient(&ag[1]);
    refbus_seal_params p = {.sender = ag[0].id,
                            .sender_epoch = 1,
                            .sign_sk = ag[0].sign_sk,
                            .recipients = &r,
                            .n_recipients = 1,
                            .kind = REFBUS_KIND_REFERRAL,
                            .created_ms = NOW,
                            .expires_ms = LATER};
    uint8_t *env = NULL;
    size_t len = 0;
    refbus_envelope_header h;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), 0);
    assert_int_equal(refbus_envelope_verify(&h, env, len, ag[0].sign_pk, NOW), 0);
    assert_int_equal(h.batch_size, 0);
    free(env);
    p.batch_of_one = 1;
    assert_int_equal(refbus_envelope_seal(&env, &len, &p, "x", 1), 0);
    assert_int_equal(refbus_envelope_verify(&h, env, len, ag[0].sign_pk, NOW), 0);
    assert_int_equal(h.batch_size, 1);
    Refbus__V1__Envelope *e = refbus__v1__envelope__unpack(NULL, len, env);
    assert_int_equal(e->n_batch_path, 0);
    refbus__v1__envelope__free_unpacked(e, NULL);
    free(env);
    /* two signers in one batch: refused */
    refbus_seal_params two[2] = {p, p};
    two[0].batch_of_one = two[1].batch_of_one = 0;
    two[1].sign_sk = ag[2].sign_sk;
    const void *pls[2] = {"a", "b"};
    size_t pll[2] = {1, 1}, lens[2];
    uint8_t *envs[2] = {0};
    assert_int_equal(refbus_envelope_seal_batch(envs, lens, two, pls, pll, 2), REFBUS_EINVAL);
}

/* The level-by-level tree equals RFC 6962's: every path verifies with proto/merkle.c. */
static void test_tree_shape(void **s)
{
    (void)s;
    uint8_t leaves[70][32], path[REFBUS_BATCH_MAX_PATH][32];
    for (int i = 0; i < 70; i++)
        refbus_merkle_leaf(leaves[i], (const uint8_t *)&i, sizeof i);
    for (uint32_t n = 1; n <= 70; n++) {
        refbus_batch_tree t;
        assert_int_equal(refbus_batch_tree_build(&t, (const uint8_t(*)[32])leaves, n), 0);
        for (uint32_t i = 0; i < n; i++) {
            size_t pl = refbus_batch_tree_path(&t, i, path);
            assert_int_equal(pl, refbus_batch_path_len(i, n));
            assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i],
                                                            (const uint8_t(*)[32])path, pl,
                                                            refbus_batch_tree_root(&t)),
                             0);
        }
        refbus_batch_tree_free(&t);
    }
    refbus_batch_tree t;
    assert_int_equal(refbus_batch_tree_build(&t, (const uint8_t(*)[32])leaves, 0), REFBUS_EINVAL);
    assert_int_equal(refbus_batch_path_len(1023, REFBUS_BATCH_MAX), REFBUS_BATCH_MAX_PATH);
}

static void edit_receipt_sig(Refbus__V1__SignedReceipt *sr, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i + 2 < sr->body.len; i++)
        if (sr->body.data[i] == 0x32 && sr->body.data[i + 1] == 0x20) { /* envelope_hash */
            sr->body.data[i + 7] ^= 1; /* still canonical: another envelope named */
            return;
        }
    fail_msg("no envelope_hash in the receipt body");
}

/* Receipts (PROTOCOL 4): a pass of 5 signed once; each verifies alone and through the cache
 * with one Ed25519 verification; a changed body is refused alone; a batch of one is the
 * single form; a path of the wrong length is ERECEIPT. */
static void test_receipt_batch(void **s)
{
    (void)s;
    refbus_receipt rs[5], got;
    uint8_t *outs[5];
    size_t lens[5];
    memset(rs, 0, sizeof rs);
    for (int i = 0; i < 5; i++) {
        rs[i].type = REFBUS_RECEIPT_ACCEPTED;
        rs[i].msg_id[0] = (uint8_t)(i + 1);
        rs[i].envelope_hash[0] = (uint8_t)(i + 1);
        snprintf(rs[i].sender, sizeof rs[i].sender, "ngo.hots");
        snprintf(rs[i].signer, sizeof rs[i].signer, "broker.cm");
        rs[i].signer_epoch = 1;
        rs[i].audit_index = (uint64_t)i;
        rs[i].time_ms = NOW;
    }
    assert_int_equal(refbus_receipt_sign_batch(outs, lens, rs, 5, ag[3].sign_sk), 0);
    refbus_batch_cache c;
    refbus_batch_cache_init(&c);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(refbus_receipt_verify_cached(&got, outs[i], lens[i], ag[3].sign_pk, &c),
                         0);
        assert_int_equal(got.audit_index, (uint64_t)i);
        assert_int_equal(refbus_receipt_verify(NULL, outs[i], lens[i], ag[3].sign_pk), 0);
        assert_int_equal(refbus_receipt_verify(NULL, outs[i], lens[i], ag[0].sign_pk),
                         REFBUS_EBADSIG);
    }
    assert_int_equal(c.verifies, 1);
    /* one changed receipt: refused, the others not */
    Refbus__V1__SignedReceipt *sr = refbus__v1__signed_receipt__unpack(NULL, lens[2], outs[2]);
    assert_non_null(sr);
    assert_int_equal(sr->batch_size, 5);
    edit_receipt_sig(sr, NULL);
    size_t bl = refbus__v1__signed_receipt__get_packed_size(sr);
    uint8_t *bad = malloc(bl);
    refbus__v1__signed_receipt__pack(sr, bad);
    assert_int_equal(refbus_receipt_verify_cached(NULL, bad, bl, ag[3].sign_pk, &c),
                     REFBUS_EBADSIG);
    sr->n_batch_path--; /* a path of the wrong length */
    bl = refbus__v1__signed_receipt__get_packed_size(sr);
    refbus__v1__signed_receipt__pack(sr, bad);
    assert_int_equal(refbus_receipt_verify_cached(NULL, bad, bl, ag[3].sign_pk, &c),
                     REFBUS_ERECEIPT);
    sr->n_batch_path++;
    sr->batch_index = 5; /* out of range */
    bl = refbus__v1__signed_receipt__get_packed_size(sr);
    refbus__v1__signed_receipt__pack(sr, bad);
    assert_int_equal(refbus_receipt_parse(NULL, bad, bl), REFBUS_ERECEIPT);
    refbus__v1__signed_receipt__free_unpacked(sr, NULL);
    free(bad);
    for (int i = 0; i < 5; i++)
        assert_int_equal(refbus_receipt_verify_cached(NULL, outs[i], lens[i], ag[3].sign_pk, &c),
                         0);
    free_all(outs, 5);
    /* a batch of one: the single form, bytes the first release reads */
    uint8_t *one = NULL;
    size_t ol = 0;
    assert_int_equal(refbus_receipt_sign(&one, &ol, &rs[0], ag[3].sign_sk), 0);
    sr = refbus__v1__signed_receipt__unpack(NULL, ol, one);
    assert_int_equal(sr->batch_size, 0);
    assert_int_equal(sr->n_batch_path, 0);
    refbus__v1__signed_receipt__free_unpacked(sr, NULL);
    assert_int_equal(refbus_receipt_verify(NULL, one, ol, ag[3].sign_pk), 0);
    free(one);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_one_verify),
        cmocka_unit_test(test_tampered_refused_alone),
        cmocka_unit_test(test_structure_refused),
        cmocka_unit_test(test_other_signer_and_moved_leaf),
        cmocka_unit_test(test_cache_keys_signature),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_tree_shape),
        cmocka_unit_test(test_receipt_batch),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
