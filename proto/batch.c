/* Batch signatures: the tree, the signed input, and the cache of verified roots. The leaf and
 * node hashes are those of proto/merkle.c (RFC 6962: SHA-256 with 0x00 / 0x01 prefixes), so a
 * batch root and an audit-trail root are the same kind of object. */
#include "proto/batch.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "proto/merkle.h"

#define BATCH_DOMAIN "refbus/v1/batch-signature"
#define BATCH_DOMAIN_LEN (sizeof BATCH_DOMAIN - 1)

int refbus_batch_tree_build(refbus_batch_tree *t, const uint8_t (*leaves)[REFBUS_MERKLE_HASH_BYTES],
                            uint32_t size)
{
    memset(t, 0, sizeof *t);
    if (!leaves || size == 0 || size > REFBUS_BATCH_MAX)
        return REFBUS_EINVAL;
    t->size = size;
    for (uint32_t len = size;; len = (len + 1) / 2) {
        unsigned l = t->n_levels;
        if (!(t->level[l] = malloc((size_t)len * REFBUS_MERKLE_HASH_BYTES))) {
            refbus_batch_tree_free(t);
            return REFBUS_ENOMEM;
        }
        t->level_len[l] = len;
        t->n_levels++;
        for (uint32_t j = 0; j < len; j++) {
            if (l == 0)
                memcpy(t->level[0][j], leaves[j], REFBUS_MERKLE_HASH_BYTES);
            else if (2 * j + 1 < t->level_len[l - 1])
                refbus_merkle_node(t->level[l][j], t->level[l - 1][2 * j],
                                   t->level[l - 1][2 * j + 1]);
            else
                memcpy(t->level[l][j], t->level[l - 1][2 * j],
                       REFBUS_MERKLE_HASH_BYTES); /* odd one: carried up */
        }
        if (len == 1)
            break;
    }
    return 0;
}

void refbus_batch_tree_free(refbus_batch_tree *t)
{
    for (unsigned l = 0; l < t->n_levels; l++)
        free(t->level[l]);
    memset(t, 0, sizeof *t);
}

const uint8_t *refbus_batch_tree_root(const refbus_batch_tree *t)
{
    return t->level[t->n_levels - 1][0];
}

size_t refbus_batch_tree_path(const refbus_batch_tree *t, uint32_t index,
                              uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES])
{
    size_t n = 0;
    for (unsigned l = 0; l + 1 < t->n_levels; l++, index >>= 1)
        if ((index ^ 1u) < t->level_len[l])
            memcpy(path[n++], t->level[l][index ^ 1u], REFBUS_MERKLE_HASH_BYTES);
    return n;
}

size_t refbus_batch_path_len(uint32_t index, uint32_t size)
{
    size_t n = 0;
    for (; size > 1; size = (size + 1) / 2, index >>= 1)
        if ((index ^ 1u) < size)
            n++;
    return n;
}

int refbus_batch_form_ok(uint32_t size, uint32_t index, size_t n_path,
                         const ProtobufCBinaryData *path)
{
    if (size == 0)
        return index == 0 && n_path == 0;
    if (size > REFBUS_BATCH_MAX || index >= size || n_path != refbus_batch_path_len(index, size))
        return 0;
    for (size_t i = 0; i < n_path; i++)
        if (path[i].len != REFBUS_MERKLE_HASH_BYTES)
            return 0;
    return 1;
}

static void sign_input(uint8_t m[BATCH_DOMAIN_LEN + 4 + REFBUS_MERKLE_HASH_BYTES], uint32_t size,
                       const uint8_t root[REFBUS_MERKLE_HASH_BYTES])
{
    memcpy(m, BATCH_DOMAIN, BATCH_DOMAIN_LEN);
    refbus_put_u32be(m + BATCH_DOMAIN_LEN, size);
    memcpy(m + BATCH_DOMAIN_LEN + 4, root, REFBUS_MERKLE_HASH_BYTES);
}

void refbus_batch_sign(uint8_t sig[crypto_sign_BYTES],
                       const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES], uint32_t size,
                       const uint8_t root[REFBUS_MERKLE_HASH_BYTES])
{
    uint8_t m[BATCH_DOMAIN_LEN + 4 + REFBUS_MERKLE_HASH_BYTES];
    sign_input(m, size, root);
    crypto_sign_detached(sig, NULL, m, sizeof m, sign_sk);
}

void refbus_batch_cache_init(refbus_batch_cache *c)
{
    memset(c, 0, sizeof *c);
}

int refbus_batch_verify(refbus_batch_cache *cache, const uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                        uint32_t size, uint32_t index, const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                        const uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES], size_t path_len,
                        const uint8_t sig[crypto_sign_BYTES])
{
    uint8_t root[REFBUS_MERKLE_HASH_BYTES], m[BATCH_DOMAIN_LEN + 4 + REFBUS_MERKLE_HASH_BYTES],
        key[crypto_generichash_BYTES];
    if (size == 0 || size > REFBUS_BATCH_MAX || index >= size ||
        path_len != refbus_batch_path_len(index, size) ||
        refbus_merkle_root_from_path(root, index, size, leaf, path, path_len) != 0)
        return REFBUS_EBADSIG;
    sign_input(m, size, root);
    if (cache) {
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
        crypto_generichash_update(&st, pk, crypto_sign_PUBLICKEYBYTES);
        crypto_generichash_update(&st, m + BATCH_DOMAIN_LEN, 4 + REFBUS_MERKLE_HASH_BYTES);
        crypto_generichash_update(&st, sig, crypto_sign_BYTES);
        crypto_generichash_final(&st, key, crypto_generichash_BYTES);
        for (unsigned i = 0; i < cache->used; i++)
            if (memcmp(cache->key[i], key, crypto_generichash_BYTES) == 0) {
                cache->hits++;
                return 0;
            }
        cache->verifies++;
    }
    if (crypto_sign_verify_detached(sig, m, sizeof m, pk) != 0)
        return REFBUS_EBADSIG;
    if (cache) {
        memcpy(cache->key[cache->next], key, crypto_generichash_BYTES);
        cache->next = (cache->next + 1) % REFBUS_BATCH_CACHE_SLOTS;
        if (cache->used < REFBUS_BATCH_CACHE_SLOTS)
            cache->used++;
    }
    return 0;
}
