/* Internal to keys/ (and its tests and fuzz target): the two layers of the keystore format
 * taken apart, so each can be tested and fuzzed without running Argon2id. */
#ifndef REFBUS_KEYS_KEYSTORE_INT_H
#define REFBUS_KEYS_KEYSTORE_INT_H

#include "keys/keystore.h"

#define REFBUS_KS_MAGIC "REFBUSKS"
#define REFBUS_KS_VERSION 1u
#define REFBUS_KS_HEADER_BYTES 72u
#define REFBUS_KS_EPOCH_BYTES 228u /* 4 + 32 + 64 + 32 + 32 + 32 + 32 */
#define REFBUS_KS_OPSLIMIT_MAX 16u

typedef struct refbus_ks_header {
    refbus_kdf kdf;
    uint8_t salt[16];
    uint8_t nonce[24];
    const uint8_t *box; /* points into the file */
    size_t box_len;
} refbus_ks_header;

/* The plain header and its bounds. Errors: REFBUS_EKEYFORMAT. */
int refbus_ks_parse_header(refbus_ks_header *h, const uint8_t *file, size_t len) REFBUS_WUR;
/* The decrypted contents (the secrets are copied into sodium_malloc'd memory; `plain` is the
 * caller's to wipe). Errors: REFBUS_EKEYFORMAT, REFBUS_ENOMEM. */
int refbus_ks_parse_plain(refbus_keystore **out, const uint8_t *plain, size_t len) REFBUS_WUR;
/* 1 when the cost is within what open() accepts. */
int refbus_ks_kdf_ok(const refbus_kdf *kdf);

#endif
