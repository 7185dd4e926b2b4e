/* The refbus envelope: seal (sign + encrypt to 1..16 agencies), verify (anyone, no secret key:
 * what the broker runs on every message) and open (a recipient). docs/PROTOCOL.md section 2 is
 * the byte-exact specification; tests/vectors/ holds its known answers. */
#ifndef REFBUS_PROTO_ENVELOPE_H
#define REFBUS_PROTO_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/batch.h"

#define REFBUS_ENVELOPE_VERSION 1u
#define REFBUS_MSG_ID_BYTES 16u
#define REFBUS_MAX_RECIPIENTS 16u
#define REFBUS_AGENCY_ID_MAX 64u
#define REFBUS_MAX_PAYLOAD (1024u * 1024u)  /* inline payload limit; larger = attachments */
#define REFBUS_MAX_ENVELOPE (1400u * 1024u) /* bigger than any valid envelope can be */
#define REFBUS_SIGN_PK_BYTES 32u
#define REFBUS_SIGN_SK_BYTES 64u
#define REFBUS_ENC_PK_BYTES 32u
#define REFBUS_ENC_SK_BYTES 32u
#define REFBUS_HASH_BYTES 32u

/* Envelope kinds and priorities: the values of refbus.v1.Kind / refbus.v1.Priority. */
enum refbus_kind { REFBUS_KIND_REFERRAL = 1, REFBUS_KIND_STATUS = 2, REFBUS_KIND_RECEIPT = 3 };
enum refbus_priority {
    REFBUS_PRIORITY_ROUTINE = 0,
    REFBUS_PRIORITY_URGENT = 1,
    REFBUS_PRIORITY_IMMEDIATE = 2
};

/* The header as the broker sees it, decoded into fixed-size storage (no allocation). */
typedef struct refbus_envelope_header {
    uint32_t version;
    uint8_t msg_id[REFBUS_MSG_ID_BYTES];
    char sender[REFBUS_AGENCY_ID_MAX + 1];
    uint32_t sender_epoch;
    size_t n_recipients;
    struct {
        char agency[REFBUS_AGENCY_ID_MAX + 1];
        uint32_t epoch; /* the epoch named by this recipient's stanza */
    } recipients[REFBUS_MAX_RECIPIENTS];
    uint64_t created_ms;
    uint64_t expires_ms;
    uint32_t kind;
    uint32_t priority;
    uint32_t size_bucket;
    uint8_t envelope_hash[REFBUS_HASH_BYTES]; /* BLAKE2b-256 of the exact envelope bytes */
    uint32_t batch_size;  /* 0: the single signature form (2.7.1); else the batch's size (2.7.2) */
    uint32_t batch_index; /* the batch form: this envelope's leaf number */
} refbus_envelope_header;

/* One recipient for seal(): the agency, the epoch of its encryption key, that key. */
typedef struct refbus_recipient {
    const char *agency;
    uint32_t epoch;
    const uint8_t *enc_pk; /* X25519, 32 bytes */
} refbus_recipient;

/* Everything seal() needs besides the payload. */
typedef struct refbus_seal_params {
    const char *sender;
    uint32_t sender_epoch;
    const uint8_t *sign_sk; /* Ed25519 secret key, 64 bytes (libsodium layout) */
    const refbus_recipient *recipients;
    size_t n_recipients;
    enum refbus_kind kind;
    enum refbus_priority priority;
    uint64_t created_ms; /* 0 = now */
    uint64_t expires_ms; /* must be > created_ms */
    /* Optional fixed values, for test vectors and for resending with the same id. Each NULL
     * means "fresh random bytes". Never set content_key/nonce/ephemeral_sk outside tests. */
    const uint8_t *msg_id;       /* 16 */
    const uint8_t *content_key;  /* 32 */
    const uint8_t *nonce;        /* 24 */
    const uint8_t *ephemeral_sk; /* 32 */
    /* A batch of one is written in the single form (2.7.1), which every version-1 peer reads;
     * 1 writes it in the batch form instead (2.7.2, tests of that form). */
    int batch_of_one;
} refbus_seal_params;

/* A recipient's decryption key for one epoch. */
typedef struct refbus_enc_key {
    uint32_t epoch;
    const uint8_t *sk; /* X25519 secret, 32 bytes (sodium_malloc'd by the keystore) */
    const uint8_t *pk; /* X25519 public, 32 bytes */
} refbus_enc_key;

/* Seal `payload` (at most REFBUS_MAX_PAYLOAD bytes) into a new envelope.
 * On success *out is a malloc'd buffer the caller owns (free()), *out_len its length.
 * Errors: REFBUS_EINVAL (bad parameter, duplicate recipient, bad agency id, expiry not after
 * creation), REFBUS_ETOOMANYRCPT (0 or more than 16 recipients is EINVAL/ETOOMANYRCPT),
 * REFBUS_ETOOLARGE, REFBUS_ENOMEM, REFBUS_EDECRYPT (a recipient key is a low-order point). */
int refbus_envelope_seal(uint8_t **out, size_t *out_len, const refbus_seal_params *p,
                         const void *payload, size_t payload_len) REFBUS_WUR;

/* Seal `n` messages (1..REFBUS_BATCH_MAX) of one sender under one batch signature (2.7.2): the
 * same sender, sender_epoch and sign_sk in every ps[i]. On success outs[i] (malloc'd, owned by
 * the caller) and out_lens[i] hold envelope i; on failure nothing is returned. Errors: those of
 * seal() for the first message that fails; REFBUS_EINVAL also for different signers. */
int refbus_envelope_seal_batch(uint8_t **outs, size_t *out_lens, const refbus_seal_params *ps,
                               const void *const *payloads, const size_t *payload_lens,
                               size_t n) REFBUS_WUR;

/* Parse the envelope structure and header without checking the signature (the broker uses it
 * to learn the sender before looking up the sender's key). Fills *hdr.
 * Errors: REFBUS_EMALFORMED, REFBUS_EVERSION, REFBUS_ETOOLARGE, REFBUS_ETOOMANYRCPT (all
 * permanent), REFBUS_ENOMEM (the parser ran out of memory: transient, refbus_err_permanent). */
int refbus_envelope_parse(refbus_envelope_header *hdr, const uint8_t *env,
                          size_t env_len) REFBUS_WUR;

/* Parse and verify the sender's signature; then check expiry against `now_ms` (0 = skip the
 * expiry check). No secret key is needed. Fills *hdr (may be NULL).
 * Errors: those of parse(), REFBUS_EBADSIG, REFBUS_EEXPIRED. */
int refbus_envelope_verify(refbus_envelope_header *hdr, const uint8_t *env, size_t env_len,
                           const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES],
                           uint64_t now_ms) REFBUS_WUR;

/* verify() with a cache of verified batch signatures (may be NULL): the envelopes of one batch
 * cost one Ed25519 verification together; each one's own path is still checked. */
int refbus_envelope_verify_cached(refbus_envelope_header *hdr, const uint8_t *env, size_t env_len,
                                  const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES],
                                  uint64_t now_ms, refbus_batch_cache *cache) REFBUS_WUR;

/* Verify, then open as agency `me` with any of its epoch keys. On success *payload is a
 * buffer of *payload_len bytes owned by the caller: release it with
 * refbus_envelope_payload_free(), which wipes it (keys stay in sodium_malloc memory; the
 * per-message plaintext is in a per-thread locked buffer wiped after use: an mmap per message
 * costs more than the cryptography).
 * Errors: those of verify(), REFBUS_ENOTRECIPIENT, REFBUS_ENOEPOCHKEY, REFBUS_EDECRYPT,
 * REFBUS_ECOMMIT, REFBUS_ENOMEM. */
int refbus_envelope_open(uint8_t **payload, size_t *payload_len, refbus_envelope_header *hdr,
                         const uint8_t *env, size_t env_len,
                         const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES], const char *me,
                         const refbus_enc_key *keys, size_t n_keys, uint64_t now_ms) REFBUS_WUR;

/* open() with a cache of verified batch signatures (may be NULL), as verify_cached(). */
int refbus_envelope_open_cached(uint8_t **payload, size_t *payload_len, refbus_envelope_header *hdr,
                                const uint8_t *env, size_t env_len,
                                const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES], const char *me,
                                const refbus_enc_key *keys, size_t n_keys, uint64_t now_ms,
                                refbus_batch_cache *cache) REFBUS_WUR;

/* Wipe (payload_len bytes) and free a payload returned by open(); accepts NULL, sets NULL. */
void refbus_envelope_payload_free(uint8_t **payload, size_t payload_len);

/* The padded size (size bucket) for a payload of `len` bytes; 0 when len is too large. */
uint32_t refbus_envelope_bucket(size_t len);

/* 1 when `id` is a valid agency id: [a-z0-9][a-z0-9.-]*, 1..64 characters. */
int refbus_agency_id_valid(const char *id);

#endif
