/* audit/merkle: RFC 6962 known answers (the certificate-transparency reference leaves, roots and
 * proofs), agreement with a naive recursive implementation of MTH / PATH / PROOF for every size
 * 1..300 (inclusion) and every pair up to 64 (consistency), and every mangled proof rejected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "proto/merkle.h"
#include "common/util.h"

#define MAXN 300

/* The reference test data of certificate-transparency (merkle_tree_test.cc), as republished by
 * transparency-dev/merkle proof/verify_test.go. */
static const char *ct_leaves[8] = {"",
                                   "00",
                                   "10",
                                   "2021",
                                   "3031",
                                   "40414243",
                                   "5051525354555657",
                                   "606162636465666768696a6b6c6d6e6f"};
static const char *ct_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

struct ct_proof {
    uint64_t a, b; /* inclusion: index, size; consistency: m, n */
    size_t n;
    const char *h[3];
};
static const struct ct_proof ct_inclusion[] = {
    {0, 1, 0, {NULL}},
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};
static const struct ct_proof ct_consistency[] = {
    {1, 1, 0, {NULL}},
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

static uint8_t leaves[MAXN][32];  /* leaf hashes of the synthetic log */
static uint8_t ct_leaf[8][32];    /* leaf hashes of the CT data */
static uint8_t (*cur_leaves)[32]; /* what the naive MTH callback reads */

static void unhex32(uint8_t out[32], const char *hex)
{
    assert_int_equal(refbus_unhex(out, 32, hex), 0);
}

/* ---- the naive implementation: RFC 6962 section 2.1 written as recursion ---- */

static uint64_t k_of(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* Memoised per leaf array (the proofs of every size ask for the same subtrees many times). */
static uint8_t memo[MAXN + 1][MAXN + 1][32];
static uint8_t memo_ok[MAXN + 1][MAXN + 1];
static uint8_t (*memo_of)[32];

static void naive_mth(uint8_t out[32], uint8_t (*lv)[32], uint64_t a, uint64_t b)
{
    if (b - a == 1) {
        memcpy(out, lv[a], 32);
        return;
    }
    if (memo_of != lv) {
        memset(memo_ok, 0, sizeof memo_ok);
        memo_of = lv;
    }
    if (memo_ok[a][b]) {
        memcpy(out, memo[a][b], 32);
        return;
    }
    uint8_t l[32], r[32];
    uint64_t k = k_of(b - a);
    naive_mth(l, lv, a, a + k);
    naive_mth(r, lv, a + k, b);
    refbus_merkle_node(out, l, r);
    memcpy(memo[a][b], out, 32);
    memo_ok[a][b] = 1;
}

static void naive_path(uint8_t (*out)[32], size_t *n, uint8_t (*lv)[32], uint64_t m, uint64_t a,
                       uint64_t b)
{
    if (b - a == 1)
        return;
    uint64_t k = k_of(b - a);
    if (m < k) {
        naive_path(out, n, lv, m, a, a + k);
        naive_mth(out[(*n)++], lv, a + k, b);
    } else {
        naive_path(out, n, lv, m - k, a + k, b);
        naive_mth(out[(*n)++], lv, a, a + k);
    }
}

static void naive_subproof(uint8_t (*out)[32], size_t *n, uint8_t (*lv)[32], uint64_t m, uint64_t a,
                           uint64_t b, int whole)
{
    if (m == b - a) {
        if (!whole)
            naive_mth(out[(*n)++], lv, a, b);
        return;
    }
    uint64_t k = k_of(b - a);
    if (m <= k) {
        naive_subproof(out, n, lv, m, a, a + k, whole);
        naive_mth(out[(*n)++], lv, a + k, b);
    } else {
        naive_subproof(out, n, lv, m - k, a + k, b, 0);
        naive_mth(out[(*n)++], lv, a, a + k);
    }
}

static int mth_cb(void *ctx, uint64_t a, uint64_t b, uint8_t out[32])
{
    (void)ctx;
    naive_mth(out, cur_leaves, a, b);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    for (int i = 0; i < MAXN; i++) {
        /* distinct records of varying length (some over one SHA-256 block) */
        uint8_t rec[80];
        memset(rec, 0x5a, sizeof rec);
        rec[0] = (uint8_t)(i >> 8);
        rec[1] = (uint8_t)i;
        refbus_merkle_leaf(leaves[i], rec, 2 + (size_t)(i % 78));
    }
    for (int i = 0; i < 8; i++) {
        uint8_t buf[16];
        size_t len = strlen(ct_leaves[i]) / 2;
        if (len)
            assert_int_equal(refbus_unhex(buf, len, ct_leaves[i]), 0);
        refbus_merkle_leaf(ct_leaf[i], buf, len);
    }
    return 0;
}

/* ---- known answers ---- */

static void test_empty_root(void **s)
{
    (void)s;
    uint8_t got[32], want[32];
    refbus_merkle_empty_root(got);
    crypto_hash_sha256(want, NULL, 0);
    assert_memory_equal(got, want, 32);
    unhex32(want, ct_roots[0]);
    assert_memory_equal(got, want, 32);
    refbus_merkle_stack st;
    refbus_merkle_stack_init(&st);
    refbus_merkle_stack_root(&st, got);
    assert_memory_equal(got, want, 32);
}

static void test_ct_roots(void **s)
{
    (void)s;
    refbus_merkle_stack st;
    refbus_merkle_stack_init(&st);
    for (int n = 1; n <= 8; n++) {
        uint8_t want[32], got[32];
        unhex32(want, ct_roots[n]);
        refbus_merkle_stack_push(&st, ct_leaf[n - 1], NULL);
        refbus_merkle_stack_root(&st, got);
        assert_memory_equal(got, want, 32);
        naive_mth(got, ct_leaf, 0, (uint64_t)n);
        assert_memory_equal(got, want, 32);
    }
    /* the leaf prefix: a one-leaf tree of "" is SHA-256(0x00), not SHA-256("") */
    uint8_t zero = 0, h[32];
    crypto_hash_sha256(h, &zero, 1);
    assert_memory_equal(h, ct_leaf[0], 32);
}

static void test_ct_proofs(void **s)
{
    (void)s;
    uint8_t proof[REFBUS_MERKLE_MAX_PATH][32], want[3][32], root[32], root2[32];
    size_t n;
    cur_leaves = ct_leaf;
    for (size_t v = 0; v < sizeof ct_inclusion / sizeof ct_inclusion[0]; v++) {
        const struct ct_proof *p = &ct_inclusion[v];
        for (size_t j = 0; j < p->n; j++)
            unhex32(want[j], p->h[j]);
        assert_int_equal(refbus_merkle_inclusion_path(proof, &n, p->a, p->b, mth_cb, NULL), 0);
        assert_int_equal(n, p->n);
        if (n)
            assert_memory_equal(proof, want, n * 32);
        unhex32(root, ct_roots[p->b]);
        assert_int_equal(refbus_merkle_verify_inclusion(p->a, p->b, ct_leaf[p->a],
                                                        (const uint8_t(*)[32])want, p->n, root),
                         0);
    }
    for (size_t v = 0; v < sizeof ct_consistency / sizeof ct_consistency[0]; v++) {
        const struct ct_proof *p = &ct_consistency[v];
        for (size_t j = 0; j < p->n; j++)
            unhex32(want[j], p->h[j]);
        assert_int_equal(refbus_merkle_consistency_path(proof, &n, p->a, p->b, mth_cb, NULL), 0);
        assert_int_equal(n, p->n);
        if (n)
            assert_memory_equal(proof, want, n * 32);
        unhex32(root, ct_roots[p->a]);
        unhex32(root2, ct_roots[p->b]);
        assert_int_equal(refbus_merkle_verify_consistency(p->a, p->b, root, root2,
                                                          (const uint8_t(*)[32])want, p->n),
                         0);
    }
}

/* ---- every size against the naive implementation ---- */

/* Mangle a good inclusion proof every way the CT verifier tests do; none may verify. */
static void inclusion_forgeries(uint64_t i, uint64_t n, uint8_t (*proof)[32], size_t len,
                                const uint8_t root[32])
{
    const uint8_t(*p)[32] = (const uint8_t(*)[32])proof;
    uint8_t bad[REFBUS_MERKLE_MAX_PATH + 1][32], other[32];
    memset(other, 0xab, 32);
    if (i > 0)
        assert_int_equal(refbus_merkle_verify_inclusion(i - 1, n, leaves[i], p, len, root),
                         REFBUS_EPROOF);
    if (i + 1 < n)
        assert_int_equal(refbus_merkle_verify_inclusion(i + 1, n, leaves[i], p, len, root),
                         REFBUS_EPROOF);
    assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i], p, len, other), REFBUS_EPROOF);
    assert_int_equal(refbus_merkle_verify_inclusion(i, n, other, p, len, root), REFBUS_EPROOF);
    assert_int_equal(refbus_merkle_verify_inclusion(i, n * 2, leaves[i], p, len, root),
                     REFBUS_EPROOF);
    assert_int_equal(refbus_merkle_verify_inclusion(n, n, leaves[i], p, len, root), REFBUS_EPROOF);
    /* trailing and preceding extra hashes, one missing, each bit-flipped */
    memcpy(bad, proof, len * 32);
    memcpy(bad[len], root, 32);
    assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i], (const uint8_t(*)[32])bad,
                                                    len + 1, root),
                     REFBUS_EPROOF);
    memcpy(bad[0], other, 32);
    memcpy(bad[1], proof, len * 32);
    assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i], (const uint8_t(*)[32])bad,
                                                    len + 1, root),
                     REFBUS_EPROOF);
    if (len > 0)
        assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i], p, len - 1, root),
                         REFBUS_EPROOF);
    for (size_t j = 0; j < len; j++) {
        memcpy(bad, proof, len * 32);
        bad[j][0] ^= 8;
        assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i], (const uint8_t(*)[32])bad,
                                                        len, root),
                         REFBUS_EPROOF);
    }
}

static void test_inclusion_every_size(void **s)
{
    (void)s;
    refbus_merkle_stack st;
    refbus_merkle_stack_init(&st);
    cur_leaves = leaves;
    for (uint64_t n = 1; n <= MAXN; n++) {
        uint8_t root[32], naive[32];
        refbus_merkle_stack_push(&st, leaves[n - 1], NULL);
        refbus_merkle_stack_root(&st, root);
        naive_mth(naive, leaves, 0, n);
        assert_memory_equal(root, naive, 32);
        for (uint64_t i = 0; i < n; i++) {
            uint8_t proof[REFBUS_MERKLE_MAX_PATH][32], want[REFBUS_MERKLE_MAX_PATH][32];
            size_t len = 0, wlen = 0;
            assert_int_equal(refbus_merkle_inclusion_path(proof, &len, i, n, mth_cb, NULL), 0);
            naive_path(want, &wlen, leaves, i, 0, n);
            assert_int_equal(len, wlen);
            if (len)
                assert_memory_equal(proof, want, len * 32);
            assert_int_equal(refbus_merkle_verify_inclusion(i, n, leaves[i],
                                                            (const uint8_t(*)[32])proof, len, root),
                             0);
            if (n <= 70 || i % 17 == 0)
                inclusion_forgeries(i, n, proof, len, root);
        }
        uint8_t proof[1][32];
        size_t len;
        assert_int_equal(refbus_merkle_inclusion_path(proof, &len, n, n, mth_cb, NULL),
                         REFBUS_EINVAL);
    }
}

static void test_consistency_every_pair(void **s)
{
    (void)s;
    uint8_t roots[65][32];
    cur_leaves = leaves;
    refbus_merkle_empty_root(roots[0]);
    for (uint64_t n = 1; n <= 64; n++)
        naive_mth(roots[n], leaves, 0, n);
    for (uint64_t n = 0; n <= 64; n++) {
        for (uint64_t m = 0; m <= n; m++) {
            uint8_t proof[REFBUS_MERKLE_MAX_PATH][32], want[REFBUS_MERKLE_MAX_PATH][32];
            uint8_t bad[REFBUS_MERKLE_MAX_PATH + 1][32];
            size_t len = 0, wlen = 0;
            const uint8_t(*p)[32] = (const uint8_t(*)[32])proof;
            assert_int_equal(refbus_merkle_consistency_path(proof, &len, m, n, mth_cb, NULL), 0);
            if (m > 0 && m < n)
                naive_subproof(want, &wlen, leaves, m, 0, n, 1);
            assert_int_equal(len, wlen);
            if (len)
                assert_memory_equal(proof, want, len * 32);
            assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n], p, len), 0);
            /* the other direction, wrong roots, wrong sizes, mangled proofs: all refused (the
             * empty tree is a prefix of every tree, whatever its root) */
            if (m > 0 && m < n) {
                assert_int_equal(refbus_merkle_verify_consistency(n, m, roots[n], roots[m], p, len),
                                 REFBUS_EPROOF);
                assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[n], roots[m], p, len),
                                 REFBUS_EPROOF);
                assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n - 1], p,
                                                                  len),
                                 REFBUS_EPROOF);
                assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m - 1], roots[n], p,
                                                                  len),
                                 REFBUS_EPROOF);
            }
            if (m == 0 && n > 0)
                assert_int_equal(refbus_merkle_verify_consistency(0, n, roots[1], roots[n], p, 0),
                                 REFBUS_EPROOF);
            if (len == 0) {
                memset(bad[0], 0, 32);
                assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n],
                                                                  (const uint8_t(*)[32])bad, 1),
                                 REFBUS_EPROOF);
                continue;
            }
            if (m + 1 < n)
                assert_int_equal(refbus_merkle_verify_consistency(m + 1, n, roots[m], roots[n], p,
                                                                  len),
                                 REFBUS_EPROOF);
            assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n], p, 0),
                             REFBUS_EPROOF);
            assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n], p, len - 1),
                             REFBUS_EPROOF);
            memcpy(bad, proof, len * 32);
            memcpy(bad[len], roots[n], 32);
            assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n],
                                                              (const uint8_t(*)[32])bad, len + 1),
                             REFBUS_EPROOF);
            memcpy(bad[0], roots[m], 32);
            memcpy(bad[1], proof, len * 32);
            assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n],
                                                              (const uint8_t(*)[32])bad, len + 1),
                             REFBUS_EPROOF);
            for (size_t j = 0; j < len; j++) {
                memcpy(bad, proof, len * 32);
                bad[j][0] ^= 16;
                assert_int_equal(refbus_merkle_verify_consistency(m, n, roots[m], roots[n],
                                                                  (const uint8_t(*)[32])bad, len),
                                 REFBUS_EPROOF);
            }
        }
    }
    uint8_t proof[1][32];
    size_t len;
    assert_int_equal(refbus_merkle_consistency_path(proof, &len, 5, 4, mth_cb, NULL),
                     REFBUS_EINVAL);
}

/* The stack reports each completed subtree: they must be the naive MTH of the right ranges. */
static void test_stack_nodes(void **s)
{
    (void)s;
    refbus_merkle_stack st;
    uint8_t nodes[65][32], want[32];
    refbus_merkle_stack_init(&st);
    for (uint64_t i = 0; i < MAXN; i++) {
        unsigned c = refbus_merkle_stack_push(&st, leaves[i], nodes);
        assert_int_equal(c, 1u + (unsigned)__builtin_ctzll(i + 1));
        for (unsigned l = 0; l < c; l++) {
            uint64_t width = 1ull << l;
            naive_mth(want, leaves, i + 1 - width, i + 1);
            assert_memory_equal(nodes[l], want, 32);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_root),
        cmocka_unit_test(test_ct_roots),
        cmocka_unit_test(test_ct_proofs),
        cmocka_unit_test(test_inclusion_every_size),
        cmocka_unit_test(test_consistency_every_pair),
        cmocka_unit_test(test_stack_nodes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
