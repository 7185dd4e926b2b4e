/* Shared helpers for the keys unit tests: deterministic keys and directories, a signer that
 * signs whatever bytes it is given (so tests can make root-signed directories that readers must
 * still refuse), temporary directories. */
#ifndef REFBUS_KEYS_TESTUTIL_H
#define REFBUS_KEYS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "keys/dirdata.h"

/* The test root key (from a seed of 0x52 bytes) and a second, unrelated one (0x53). */
void kt_root(uint8_t pk[32], uint8_t sk[64]);
void kt_other_root(uint8_t pk[32], uint8_t sk[64]);

/* Deterministic key epoch from a one-byte seed. */
void kt_dir_key(refbus_dir_key *k, uint8_t seed, uint32_t epoch, enum refbus_key_status st,
                const char *reason);

/* The sample directory at `serial` (timestamps fixed):
 *   broker.cm  endpoint tcp://127.0.0.1:7700, epoch 1 active (seed 0x10)
 *   cac.cm     "Chiang Mai CAC" (cac), epoch 1 retired (0x20), epoch 2 active (0x21)
 *   ngo.hots   Thai name (ngo), epoch 1 active (0x30)
 *   police.cm  "Provincial Police" (police), epoch 1 revoked "laptop stolen" (0x40)
 *   policy     allow * -> *, deny ngo.hots -> police.cm
 * Clear with refbus_dd_clear. */
void kt_sample(refbus_dd *d, uint64_t serial);
extern const char kt_thai_name[];

/* Sign `dir` exactly as the root does (domain || u32be(len) || dir) into a SignedDirectory. */
void kt_sign_bytes(uint8_t **out, size_t *len, const uint8_t *dir, size_t dir_len,
                   const uint8_t sk[64]);
/* Encode d WITHOUT validating it, then sign. */
void kt_sign_dd(uint8_t **out, size_t *len, const refbus_dd *d, const uint8_t sk[64]);

/* A fresh directory under $TMPDIR (malloc'd path) and its recursive removal. */
char *kt_tmpdir(void);
void kt_rmrf(const char *path);
/* Whole file into malloc'd memory (NULL when missing). */
uint8_t *kt_slurp(const char *path, size_t *len);

#endif
