/* Signed receipts (docs/PROTOCOL.md section 4): the broker's ACCEPTED / REJECTED / EXPIRED and
 * a recipient's DELIVERED. Ed25519 over a domain string and the exact ReceiptBody bytes, alone
 * (the single form) or as a leaf of a batch whose root is signed once (the batch form). */
#ifndef REFBUS_PROTO_RECEIPT_H
#define REFBUS_PROTO_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/envelope.h"

enum refbus_receipt_type {
    REFBUS_RECEIPT_ACCEPTED = 1,
    REFBUS_RECEIPT_REJECTED = 2,
    REFBUS_RECEIPT_DELIVERED = 3,
    REFBUS_RECEIPT_EXPIRED = 4
};

typedef struct refbus_receipt {
    uint32_t type;
    uint8_t msg_id[REFBUS_MSG_ID_BYTES]; /* all zero when the envelope could not be parsed */
    char sender[REFBUS_AGENCY_ID_MAX + 1];
    char recipient[REFBUS_AGENCY_ID_MAX + 1];
    uint8_t envelope_hash[REFBUS_HASH_BYTES];
    uint64_t time_ms;
    int32_t reason; /* a refbus error code, REJECTED only */
    char reason_text[256];
    uint64_t audit_index;
    char signer[REFBUS_AGENCY_ID_MAX + 1];
    uint32_t signer_epoch;
} refbus_receipt;

/* Encode and sign. *out is malloc'd SignedReceipt bytes, owned by the caller.
 * Errors: REFBUS_EINVAL, REFBUS_ENOMEM. */
int refbus_receipt_sign(uint8_t **out, size_t *out_len, const refbus_receipt *r,
                        const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES]) REFBUS_WUR;

/* Encode and sign `n` receipts (1..REFBUS_BATCH_MAX) under one signature (PROTOCOL 4): a batch
 * of one in the single form, more in the batch form. outs[i] (malloc'd, owned by the caller)
 * is receipt i; on failure nothing is returned. Errors: REFBUS_EINVAL, REFBUS_ENOMEM. */
int refbus_receipt_sign_batch(uint8_t **outs, size_t *out_lens, const refbus_receipt *rs, size_t n,
                              const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES]) REFBUS_WUR;

/* Decode without checking the signature (to learn the signer). Errors: REFBUS_ERECEIPT,
 * REFBUS_ENOMEM (ran out of memory while unpacking: says nothing about the bytes). */
int refbus_receipt_parse(refbus_receipt *r, const uint8_t *bytes, size_t len) REFBUS_WUR;

/* Decode and verify against the signer's public key. Errors: REFBUS_ERECEIPT, REFBUS_EBADSIG,
 * REFBUS_ENOMEM. */
int refbus_receipt_verify(refbus_receipt *r, const uint8_t *bytes, size_t len,
                          const uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES]) REFBUS_WUR;

/* verify() with a cache of verified batch signatures (may be NULL): the receipts of one batch
 * cost one Ed25519 verification together; each one's path is still checked. */
int refbus_receipt_verify_cached(refbus_receipt *r, const uint8_t *bytes, size_t len,
                                 const uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES],
                                 refbus_batch_cache *cache) REFBUS_WUR;

const char *refbus_receipt_type_name(uint32_t type);

#endif
