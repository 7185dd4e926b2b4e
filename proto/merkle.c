/* RFC 6962 Merkle tree: hashing, the streaming stack, proof construction (iterative forms of
 * PATH and SUBPROOF) and proof verification (RFC 9162 2.1.3.2 and 2.1.4.2, which check the
 * proof length implicitly: every hash must be used and the walk must end at the root). */
#include "proto/merkle.h"

#include <string.h>

#include <sodium.h>

_Static_assert(REFBUS_MERKLE_HASH_BYTES == crypto_hash_sha256_BYTES, "a Merkle hash is a SHA-256");

void refbus_merkle_leaf(uint8_t out[REFBUS_MERKLE_HASH_BYTES], const uint8_t *rec, size_t len)
{
    crypto_hash_sha256_state st;
    static const uint8_t zero = 0x00;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, &zero, 1);
    if (len)
        crypto_hash_sha256_update(&st, rec, len);
    crypto_hash_sha256_final(&st, out);
}

void refbus_merkle_node(uint8_t out[REFBUS_MERKLE_HASH_BYTES],
                        const uint8_t l[REFBUS_MERKLE_HASH_BYTES],
                        const uint8_t r[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t buf[1 + 2 * REFBUS_MERKLE_HASH_BYTES];
    buf[0] = 0x01;
    memcpy(buf + 1, l, REFBUS_MERKLE_HASH_BYTES);
    memcpy(buf + 1 + REFBUS_MERKLE_HASH_BYTES, r, REFBUS_MERKLE_HASH_BYTES);
    crypto_hash_sha256(out, buf, sizeof buf);
}

void refbus_merkle_empty_root(uint8_t out[REFBUS_MERKLE_HASH_BYTES])
{
    crypto_hash_sha256(out, NULL, 0);
}

void refbus_merkle_stack_init(refbus_merkle_stack *s)
{
    s->size = 0;
}

unsigned refbus_merkle_stack_push(refbus_merkle_stack *s,
                                  const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                                  uint8_t (*nodes)[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t carry[REFBUS_MERKLE_HASH_BYTES];
    unsigned l = 0;
    memcpy(carry, leaf, REFBUS_MERKLE_HASH_BYTES);
    if (nodes)
        memcpy(nodes[0], carry, REFBUS_MERKLE_HASH_BYTES);
    /* Like binary addition: every set low bit is a subtree of the same size to merge with. */
    while (s->size >> l & 1u) {
        refbus_merkle_node(carry, s->h[l], carry);
        l++;
        if (nodes)
            memcpy(nodes[l], carry, REFBUS_MERKLE_HASH_BYTES);
    }
    memcpy(s->h[l], carry, REFBUS_MERKLE_HASH_BYTES);
    s->size++;
    return l + 1;
}

void refbus_merkle_stack_root(const refbus_merkle_stack *s, uint8_t root[REFBUS_MERKLE_HASH_BYTES])
{
    if (s->size == 0) {
        refbus_merkle_empty_root(root);
        return;
    }
    /* The smallest subtree is the rightmost; fold leftwards: root = h[hi](..(h[lo+1], h[lo])). */
    unsigned l = (unsigned)__builtin_ctzll(s->size);
    memcpy(root, s->h[l], REFBUS_MERKLE_HASH_BYTES);
    for (l++; l < REFBUS_MERKLE_LEVELS; l++)
        if (s->size >> l & 1u)
            refbus_merkle_node(root, s->h[l], root);
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    return 1ull << (63 - __builtin_clzll(n - 1));
}

static void reverse(uint8_t (*p)[REFBUS_MERKLE_HASH_BYTES], size_t n)
{
    uint8_t t[REFBUS_MERKLE_HASH_BYTES];
    for (size_t i = 0; i < n / 2; i++) {
        memcpy(t, p[i], REFBUS_MERKLE_HASH_BYTES);
        memcpy(p[i], p[n - 1 - i], REFBUS_MERKLE_HASH_BYTES);
        memcpy(p[n - 1 - i], t, REFBUS_MERKLE_HASH_BYTES);
    }
}

int refbus_merkle_inclusion_path(uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t *n,
                                 uint64_t index, uint64_t size, refbus_merkle_mth_fn mth, void *ctx)
{
    uint64_t a = 0, b = size;
    size_t len = 0;
    int rc;
    if (index >= size)
        return REFBUS_EINVAL;
    /* Walk down from the root; siblings come out root-side first, the proof is leaf-side first. */
    while (b - a > 1) {
        uint64_t k = split_point(b - a);
        if (index < a + k) {
            rc = mth(ctx, a + k, b, proof[len++]);
            b = a + k;
        } else {
            rc = mth(ctx, a, a + k, proof[len++]);
            a += k;
        }
        if (rc != 0)
            return rc;
    }
    reverse(proof, len);
    *n = len;
    return 0;
}

int refbus_merkle_consistency_path(uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t *count,
                                   uint64_t m, uint64_t n, refbus_merkle_mth_fn mth, void *ctx)
{
    uint64_t a = 0, b = n, mm = m;
    size_t len = 0;
    int whole = 1, rc;
    if (m > n)
        return REFBUS_EINVAL;
    if (m == 0 || m == n) {
        *count = 0;
        return 0;
    }
    while (mm != b - a) {
        uint64_t k = split_point(b - a);
        if (mm <= k) {
            rc = mth(ctx, a + k, b, proof[len++]);
            b = a + k;
        } else {
            rc = mth(ctx, a, a + k, proof[len++]);
            a += k;
            mm -= k;
            whole = 0;
        }
        if (rc != 0)
            return rc;
    }
    /* SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree is a proper subtree here. */
    if (!whole && (rc = mth(ctx, a, b, proof[len++])) != 0)
        return rc;
    reverse(proof, len);
    *count = len;
    return 0;
}

int refbus_merkle_root_from_path(uint8_t root[REFBUS_MERKLE_HASH_BYTES], uint64_t index,
                                 uint64_t size, const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                                 const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t n)
{
    uint64_t fn = index, sn;
    uint8_t r[REFBUS_MERKLE_HASH_BYTES];
    if (index >= size || n > REFBUS_MERKLE_MAX_PATH)
        return REFBUS_EPROOF;
    sn = size - 1;
    memcpy(r, leaf, REFBUS_MERKLE_HASH_BYTES);
    for (size_t i = 0; i < n; i++) {
        if (sn == 0)
            return REFBUS_EPROOF;
        if ((fn & 1u) || fn == sn) {
            refbus_merkle_node(r, proof[i], r);
            while (!(fn & 1u) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            refbus_merkle_node(r, r, proof[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0)
        return REFBUS_EPROOF; /* too few hashes: the walk did not reach the root */
    memcpy(root, r, REFBUS_MERKLE_HASH_BYTES);
    return 0;
}

int refbus_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                   const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                                   const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t n,
                                   const uint8_t root[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t r[REFBUS_MERKLE_HASH_BYTES];
    int rc = refbus_merkle_root_from_path(r, index, size, leaf, proof, n);
    if (rc == 0 && sodium_memcmp(r, root, REFBUS_MERKLE_HASH_BYTES) != 0)
        rc = REFBUS_EPROOF;
    return rc;
}

int refbus_merkle_verify_consistency(uint64_t m, uint64_t n,
                                     const uint8_t root_m[REFBUS_MERKLE_HASH_BYTES],
                                     const uint8_t root_n[REFBUS_MERKLE_HASH_BYTES],
                                     const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t count)
{
    uint8_t fr[REFBUS_MERKLE_HASH_BYTES], sr[REFBUS_MERKLE_HASH_BYTES];
    const uint8_t *c;
    uint64_t fn, sn;
    size_t i;
    if (m > n || count > REFBUS_MERKLE_MAX_PATH)
        return REFBUS_EPROOF;
    if (m == 0) {
        uint8_t empty[REFBUS_MERKLE_HASH_BYTES];
        refbus_merkle_empty_root(empty);
        return count == 0 && sodium_memcmp(root_m, empty, REFBUS_MERKLE_HASH_BYTES) == 0
                   ? 0
                   : REFBUS_EPROOF;
    }
    if (m == n)
        return count == 0 && sodium_memcmp(root_m, root_n, REFBUS_MERKLE_HASH_BYTES) == 0
                   ? 0
                   : REFBUS_EPROOF;
    if (count == 0)
        return REFBUS_EPROOF;
    /* When m is a power of two the old root is itself a node of the path: prepend it. */
    int prepend = (m & (m - 1)) == 0;
    fn = m - 1;
    sn = n - 1;
    while (fn & 1u) {
        fn >>= 1;
        sn >>= 1;
    }
    c = prepend ? root_m : proof[0];
    memcpy(fr, c, REFBUS_MERKLE_HASH_BYTES);
    memcpy(sr, c, REFBUS_MERKLE_HASH_BYTES);
    for (i = prepend ? 0 : 1; i < count; i++) {
        c = proof[i];
        if (sn == 0)
            return REFBUS_EPROOF;
        if ((fn & 1u) || fn == sn) {
            refbus_merkle_node(fr, c, fr);
            refbus_merkle_node(sr, c, sr);
            while (!(fn & 1u) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            refbus_merkle_node(sr, sr, c);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || sodium_memcmp(fr, root_m, REFBUS_MERKLE_HASH_BYTES) != 0 ||
        sodium_memcmp(sr, root_n, REFBUS_MERKLE_HASH_BYTES) != 0)
        return REFBUS_EPROOF;
    return 0;
}
