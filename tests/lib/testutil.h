/* Shared helpers for refbus unit tests: fixed test identities and re-signing (a second,
 * independent rendering of the signature input from docs/PROTOCOL.md). */
#ifndef REFBUS_TESTUTIL_H
#define REFBUS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/envelope.h"

typedef struct test_agency {
    char id[65];
    uint32_t epoch;
    uint8_t sign_pk[32], sign_sk[64];
    uint8_t enc_pk[32], enc_sk[32];
} test_agency;

/* Deterministic agency from a one-byte seed (keys from seeds filled with `seed`). */
void test_agency_make(test_agency *a, const char *id, uint8_t seed);
refbus_recipient test_recipient(const test_agency *a);
refbus_enc_key test_enc_key(const test_agency *a);

/* Rebuild an envelope from its parts and sign it with `sign_sk` (a signer who owns a key). */
int test_envelope_build(uint8_t **out, size_t *out_len, const uint8_t *header, size_t hlen,
                        const uint8_t *const *stanzas, const size_t *slens, size_t n,
                        const uint8_t *ct, size_t ctlen, const uint8_t *sign_sk);

/* Read a file under REFBUS_SOURCE_DIR (or ".") into malloc'd memory. */
char *test_read_source(const char *rel, size_t *len);

#endif
