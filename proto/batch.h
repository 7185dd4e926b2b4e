/* Batch signatures (docs/PROTOCOL.md 2.7.2): one Ed25519 signature over the RFC 6962 Merkle root
 * of a batch of leaves (envelopes, or receipts of section 4); each item carries the signature,
 * the batch size, its index and its inclusion path, so each stays verifiable alone. A verifier
 * checks the path to the root (hashes only) and the signature once per (key, size, root,
 * signature), through a small cache of signatures it has verified. */
#ifndef REFBUS_PROTO_BATCH_H
#define REFBUS_PROTO_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>
#include <sodium.h>

#include "common/err.h"
#include "proto/merkle.h"

#define REFBUS_BATCH_MAX 1024u    /* items under one signature */
#define REFBUS_BATCH_MAX_PATH 10u /* log2(REFBUS_BATCH_MAX): the longest inclusion path */
#define REFBUS_BATCH_CACHE_SLOTS 64u

/* The Merkle tree of one batch, built once by the signer (level by level, the last odd node
 * carried up unchanged: the same tree as RFC 6962's recursion). */
typedef struct refbus_batch_tree {
    uint32_t size;
    unsigned n_levels;
    uint32_t level_len[REFBUS_BATCH_MAX_PATH + 1];
    uint8_t (*level[REFBUS_BATCH_MAX_PATH +
                    1])[REFBUS_MERKLE_HASH_BYTES]; /* level[0] = the leaves; malloc'd */
} refbus_batch_tree;

/* Build the tree over `size` leaf hashes (1..REFBUS_BATCH_MAX; copied). Release with
 * refbus_batch_tree_free. Errors: REFBUS_EINVAL (size out of range), REFBUS_ENOMEM. */
int refbus_batch_tree_build(refbus_batch_tree *t, const uint8_t (*leaves)[REFBUS_MERKLE_HASH_BYTES],
                            uint32_t size) REFBUS_WUR;
void refbus_batch_tree_free(refbus_batch_tree *t);
/* The root: level[n_levels - 1][0]. */
const uint8_t *refbus_batch_tree_root(const refbus_batch_tree *t);
/* The inclusion path of leaf `index` (leaf side first) into path[] (room for
 * REFBUS_BATCH_MAX_PATH); returns its length. index must be < size. */
size_t refbus_batch_tree_path(const refbus_batch_tree *t, uint32_t index,
                              uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES]);

/* The length every valid path has for leaf `index` of a batch of `size` (index < size). */
size_t refbus_batch_path_len(uint32_t index, uint32_t size);

/* The one rule for the signature form of an envelope or a receipt (PROTOCOL 2.9 P12, 4): no
 * batch fields (the single form), or size 1..REFBUS_BATCH_MAX, index < size and a path of
 * exactly refbus_batch_path_len hashes of REFBUS_MERKLE_HASH_BYTES each. 1 when the fields are
 * one of the two forms, 0 when not. */
int refbus_batch_form_ok(uint32_t size, uint32_t index, size_t n_path,
                         const ProtobufCBinaryData *path);

/* Ed25519(sign_sk, "refbus/v1/batch-signature" || u32be(size) || root). */
void refbus_batch_sign(uint8_t sig[crypto_sign_BYTES],
                       const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES], uint32_t size,
                       const uint8_t root[REFBUS_MERKLE_HASH_BYTES]);

/* Verified batch signatures: FIFO of REFBUS_BATCH_CACHE_SLOTS keys, each BLAKE2b-256(pk ||
 * u32be(size) || root || signature), so a hit means exactly "Ed25519-Verify of these bytes
 * passed before". Not thread-safe: one per thread. Zero-filled = empty (init does that). */
typedef struct refbus_batch_cache {
    uint8_t key[REFBUS_BATCH_CACHE_SLOTS][crypto_generichash_BYTES];
    unsigned used, next;
    uint64_t hits, verifies; /* counters for tests and statistics */
} refbus_batch_cache;

void refbus_batch_cache_init(refbus_batch_cache *c);

/* Does `leaf`, number `index` of a batch of `size`, lead with `path` to a root that `pk` signed
 * with `sig`? The path is always walked; only the Ed25519 verification of that root is skipped
 * when `cache` (may be NULL) already holds it. Returns 0, or REFBUS_EBADSIG for everything that
 * fails (index or path length wrong for the size, root not signed by pk). */
int refbus_batch_verify(refbus_batch_cache *cache, const uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                        uint32_t size, uint32_t index, const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                        const uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES], size_t path_len,
                        const uint8_t sig[crypto_sign_BYTES]) REFBUS_WUR;

#endif
