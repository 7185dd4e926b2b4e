/* A keystore: an agency's (or the broker's, or the administrators' root) secret keys at rest,
 * encrypted under a passphrase (Argon2id + XSalsa20-Poly1305, parameters stored in the file;
 * docs/KEYS-FORMAT.md section 1 is the byte-exact format). In memory every secret lives in one
 * sodium_malloc'd, read-only block that refbus_keystore_free() wipes. */
#ifndef REFBUS_KEYS_KEYSTORE_H
#define REFBUS_KEYS_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/envelope.h"

#define REFBUS_KEYSTORE_MAX_BYTES (1024u * 1024u)
#define REFBUS_KEYSTORE_MAX_EPOCHS 1000u

enum refbus_keystore_role {
    REFBUS_KEYSTORE_AGENCY = 1,
    REFBUS_KEYSTORE_BROKER = 2,
    REFBUS_KEYSTORE_ROOT = 3 /* id "root"; one epoch; only sign_* is used */
};

/* One epoch's keys. Public keys inline; each secret points into the keystore's sodium_malloc'd
 * block (valid until refbus_keystore_free; read-only). */
typedef struct refbus_epoch_keys {
    uint32_t epoch;
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t *sign_sk; /* Ed25519, 64 (libsodium layout) */
    uint8_t enc_pk[crypto_box_PUBLICKEYBYTES];
    uint8_t *enc_sk; /* X25519, 32 */
    uint8_t curve_pk[crypto_box_PUBLICKEYBYTES];
    uint8_t *curve_sk; /* CURVE, 32 (raw; zmq_setsockopt ZMQ_CURVE_SECRETKEY takes 32 bytes) */
} refbus_epoch_keys;

typedef struct refbus_keystore refbus_keystore;

/* Argon2id cost: stored in each file, so a file opens whatever the current default. */
typedef struct refbus_kdf {
    uint64_t opslimit;
    uint64_t memlimit; /* bytes */
} refbus_kdf;

/* Named costs: "interactive" (the default; crypto_pwhash_*_INTERACTIVE), "moderate",
 * "sensitive", and "min" (for tests only: no protection against guessing). name NULL means
 * $REFBUS_KDF_LIMIT, or "interactive" when that is unset. Errors: REFBUS_EINVAL. */
int refbus_kdf_named(refbus_kdf *out, const char *name) REFBUS_WUR;

/* Open and decrypt a keystore file. Refused (with a warning logged) when group or others have
 * any access to it. On success *out is the caller's (refbus_keystore_free).
 * Errors: REFBUS_ENOTFOUND, REFBUS_EPERM, REFBUS_EPASSPHRASE (wrong passphrase, or the file
 * was altered), REFBUS_EKEYFORMAT (not a keystore, unknown version, cost out of bounds,
 * truncated, inconsistent keys), REFBUS_EIO, REFBUS_ENOMEM, REFBUS_EINVAL. */
int refbus_keystore_open(refbus_keystore **out, const char *path, const char *pass,
                         size_t pass_len) REFBUS_WUR;
/* The same from bytes already read (no permission check). */
int refbus_keystore_open_bytes(refbus_keystore **out, const uint8_t *file, size_t len,
                               const char *pass, size_t pass_len) REFBUS_WUR;

/* Wipes and frees everything; accepts NULL and *ks == NULL; sets *ks to NULL. */
void refbus_keystore_free(refbus_keystore **ks);

const char *refbus_keystore_id(const refbus_keystore *ks); /* agency id, broker id, "root" */
enum refbus_keystore_role refbus_keystore_role(const refbus_keystore *ks);
int refbus_keystore_is_broker(const refbus_keystore *ks);
/* The administrators' root public key (32 bytes), stored in the bundle: the key a node checks
 * its directory against. */
const uint8_t *refbus_keystore_root_pk(const refbus_keystore *ks);
/* Epochs in ascending order; i < epoch_count, else NULL. */
size_t refbus_keystore_epoch_count(const refbus_keystore *ks);
const refbus_epoch_keys *refbus_keystore_epoch(const refbus_keystore *ks, size_t i);
const refbus_epoch_keys *refbus_keystore_current(const refbus_keystore *ks); /* highest epoch */
const refbus_epoch_keys *refbus_keystore_find(const refbus_keystore *ks, uint32_t epoch);
/* 32-byte secret for a node's at-rest encryption: the same across rotations. */
const uint8_t *refbus_keystore_storage_key(const refbus_keystore *ks);
/* Fill `out` (up to `max`) with every epoch's decryption key, for refbus_envelope_open();
 * the entries point into ks. Returns the number filled. */
size_t refbus_keystore_enc_keys(const refbus_keystore *ks, refbus_enc_key *out, size_t max);

/* Administrators' side. generate: fresh keys for `role` at `epoch` (the root: id "root",
 * epoch 1, root_pk ignored, its own public key stored). rotate: a copy of `old` with every
 * epoch's secrets plus fresh keys at `epoch` (> old's highest). On success *out is the
 * caller's. Errors: REFBUS_EINVAL (bad id / epoch / role), REFBUS_ENOMEM. */
int refbus_keystore_generate(refbus_keystore **out, enum refbus_keystore_role role, const char *id,
                             const uint8_t root_pk[crypto_sign_PUBLICKEYBYTES],
                             uint32_t epoch) REFBUS_WUR;
int refbus_keystore_rotate(refbus_keystore **out, const refbus_keystore *old,
                           uint32_t epoch) REFBUS_WUR;

/* Encrypt to `path`, mode 0600, atomically (temporary file, fsync, rename). When `exclusive`
 * an existing file is never replaced (REFBUS_EEXIST): exactly one of two racers wins. `kdf`
 * NULL means refbus_kdf_named(NULL). Errors: REFBUS_EINVAL (empty passphrase, bad cost),
 * REFBUS_EEXIST, REFBUS_EIO, REFBUS_ENOMEM. */
int refbus_keystore_save(const refbus_keystore *ks, const char *path, const char *pass,
                         size_t pass_len, const refbus_kdf *kdf, int exclusive) REFBUS_WUR;

#endif
