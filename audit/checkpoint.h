/* Signed checkpoints of the audit log: (log id, size, root, time) signed by the broker's Ed25519
 * key over a domain string and the exact Checkpoint bytes (docs/AUDIT-FORMAT.md). Nodes keep the
 * last checkpoint they saw and accept a newer one only with a consistency proof. */
#ifndef REFBUS_AUDIT_CHECKPOINT_H
#define REFBUS_AUDIT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "common/err.h"
#include "proto/merkle.h"

/* Ed25519 signs CHECKPOINT_DOMAIN || Checkpoint bytes. */
#define REFBUS_CHECKPOINT_DOMAIN "refbus/v1/audit-checkpoint"
/* Upper bound for a SignedCheckpoint's encoding (a parser refuses anything longer). */
#define REFBUS_CHECKPOINT_MAX 512
/* The random id a log gets when it is created (names the log in every checkpoint). */
#define REFBUS_AUDIT_LOG_ID_BYTES 32

typedef struct refbus_checkpoint {
    uint8_t log_id[REFBUS_AUDIT_LOG_ID_BYTES];
    uint64_t size;
    uint8_t root[REFBUS_MERKLE_HASH_BYTES];
    uint64_t time_ms;
    uint8_t signer_pk[crypto_sign_PUBLICKEYBYTES];
} refbus_checkpoint;

/* Encode `cp` (its signer_pk is ignored: the key's own public half is used) and sign it.
 * *out = malloc'd SignedCheckpoint bytes, owned by the caller. Errors: REFBUS_EINVAL,
 * REFBUS_ENOMEM. */
int refbus_checkpoint_sign(uint8_t **out, size_t *out_len, const refbus_checkpoint *cp,
                           const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES]) REFBUS_WUR;

/* Decode a SignedCheckpoint WITHOUT checking the signature (to learn its signer or show it).
 * Both layers must be canonical protobuf with exact field lengths. Errors: REFBUS_EMALFORMED. */
int refbus_checkpoint_parse(refbus_checkpoint *out, const uint8_t *signed_cp,
                            size_t len) REFBUS_WUR;

/* Verify a serialized SignedCheckpoint against the broker's Ed25519 public key (signer_pk in the
 * message must equal it). `out` may be NULL; it is written only on success.
 * Errors: REFBUS_EMALFORMED, REFBUS_EBADSIG. */
int refbus_checkpoint_verify(refbus_checkpoint *out, const uint8_t *signed_cp, size_t len,
                             const uint8_t broker_pk[crypto_sign_PUBLICKEYBYTES]) REFBUS_WUR;

/* Is `newer` an extension of `older` (each already verified against its signer)? Same log, size not
 * smaller, and `proof` (RFC 6962 PROOF(older.size, newer.size)) verifies; equal sizes need equal
 * roots and an empty proof. Errors: REFBUS_EINCONSISTENT. */
int refbus_checkpoint_consistent(const refbus_checkpoint *older, const refbus_checkpoint *newer,
                                 const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES],
                                 size_t count) REFBUS_WUR;

#endif
