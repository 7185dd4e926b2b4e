/* RFC 6962 (Certificate Transparency) Merkle tree hashing as pure functions: leaf and node
 * hashes, an incremental stack of perfect subtrees for streaming roots, proof construction over
 * any source of subtree hashes, and inclusion / consistency proof verification (the RFC 9162
 * section 2.1.3.2 / 2.1.4.2 algorithms). No allocation except in the proof builders. */
#ifndef REFBUS_PROTO_MERKLE_H
#define REFBUS_PROTO_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define REFBUS_MERKLE_HASH_BYTES 32 /* SHA-256 */
/* Levels of a tree of up to 2^64 - 1 leaves: one perfect subtree per bit of its size. */
#define REFBUS_MERKLE_LEVELS 64
/* Longest possible inclusion or consistency proof for a tree of up to 2^64 - 1 leaves. */
#define REFBUS_MERKLE_MAX_PATH 128

/* SHA-256(0x00 || rec). */
void refbus_merkle_leaf(uint8_t out[REFBUS_MERKLE_HASH_BYTES], const uint8_t *rec, size_t len);
/* SHA-256(0x01 || l || r). */
void refbus_merkle_node(uint8_t out[REFBUS_MERKLE_HASH_BYTES],
                        const uint8_t l[REFBUS_MERKLE_HASH_BYTES],
                        const uint8_t r[REFBUS_MERKLE_HASH_BYTES]);
/* The root of the empty tree: SHA-256 of nothing. */
void refbus_merkle_empty_root(uint8_t out[REFBUS_MERKLE_HASH_BYTES]);

/* Perfect subtrees of the leaves pushed so far: h[l] holds the level-l subtree when bit l of
 * `size` is set. 2 KiB, no allocation; pushing costs one hash per merge (about one on average). */
typedef struct refbus_merkle_stack {
    uint64_t size;
    uint8_t h[REFBUS_MERKLE_LEVELS][REFBUS_MERKLE_HASH_BYTES];
} refbus_merkle_stack;

void refbus_merkle_stack_init(refbus_merkle_stack *s);
/* Push one leaf hash. When `nodes` is not NULL it receives the hashes this push completed:
 * nodes[0] = the leaf, nodes[l] = the new level-l subtree ending at this leaf. Returns how many
 * were written (1 + the number of merges). */
unsigned refbus_merkle_stack_push(refbus_merkle_stack *s,
                                  const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                                  uint8_t (*nodes)[REFBUS_MERKLE_HASH_BYTES]);
/* The RFC 6962 root of the leaves pushed so far (O(log size) hashes). */
void refbus_merkle_stack_root(const refbus_merkle_stack *s, uint8_t root[REFBUS_MERKLE_HASH_BYTES]);

/* Where the proof builders get subtree hashes from: write MTH(D[a:b]) for a < b, where [a, b)
 * is always a subtree the RFC 6962 recursion visits (a is a multiple of the largest power of
 * two not above b - a, rounded up). Return 0 or a negative REFBUS_E* code. */
typedef int (*refbus_merkle_mth_fn)(void *ctx, uint64_t a, uint64_t b,
                                    uint8_t out[REFBUS_MERKLE_HASH_BYTES]);

/* Build PATH(index, D[size]) (RFC 6962 2.1.1), leaf-side first, into proof[] (room for
 * REFBUS_MERKLE_MAX_PATH hashes); *n = its length. Errors: REFBUS_EINVAL (index >= size), or
 * whatever `mth` returns. */
int refbus_merkle_inclusion_path(uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t *n,
                                 uint64_t index, uint64_t size, refbus_merkle_mth_fn mth,
                                 void *ctx) REFBUS_WUR;
/* Build PROOF(m, D[n]) (RFC 6962 2.1.2) into proof[] (room for REFBUS_MERKLE_MAX_PATH);
 * empty when m == 0 or m == n. Errors: REFBUS_EINVAL (m > n), or whatever `mth` returns. */
int refbus_merkle_consistency_path(uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t *count,
                                   uint64_t m, uint64_t n, refbus_merkle_mth_fn mth,
                                   void *ctx) REFBUS_WUR;

/* The root that `proof` (leaf-side first) leads to from `leaf` as leaf number `index` of a tree
 * of `size` leaves (RFC 9162 2.1.3.2 without the final comparison). Returns 0 or REFBUS_EPROOF
 * (index >= size, or a proof of the wrong length for that index and size). */
int refbus_merkle_root_from_path(uint8_t root[REFBUS_MERKLE_HASH_BYTES], uint64_t index,
                                 uint64_t size, const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                                 const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES],
                                 size_t n) REFBUS_WUR;
/* Does `proof` show that `leaf` is leaf number `index` of the tree of `size` leaves with `root`?
 * Returns 0 or REFBUS_EPROOF (also for index >= size or a proof of the wrong length). */
int refbus_merkle_verify_inclusion(uint64_t index, uint64_t size,
                                   const uint8_t leaf[REFBUS_MERKLE_HASH_BYTES],
                                   const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t n,
                                   const uint8_t root[REFBUS_MERKLE_HASH_BYTES]) REFBUS_WUR;
/* Does `proof` show that the tree of size m with root_m is a prefix of the tree of size n with
 * root_n? m == 0 needs an empty proof and root_m = the empty root; m == n needs an empty proof
 * and equal roots. Returns 0 or REFBUS_EPROOF (also for m > n). */
int refbus_merkle_verify_consistency(uint64_t m, uint64_t n,
                                     const uint8_t root_m[REFBUS_MERKLE_HASH_BYTES],
                                     const uint8_t root_n[REFBUS_MERKLE_HASH_BYTES],
                                     const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES],
                                     size_t count) REFBUS_WUR;

#endif
