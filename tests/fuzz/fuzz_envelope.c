/* libFuzzer: envelope parsing, verification and opening on arbitrary bytes. Must never crash,
 * leak or accept: the fuzzer cannot forge an Ed25519 signature of the fixed test key. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint8_t pk[32], sk[64], esk[32], epk[32];
    if (!ready) {
        uint8_t seed[32];
        if (sodium_init() < 0)
            abort();
        memset(seed, 0xee, sizeof seed); /* no vector or corpus entry uses this key */
        crypto_sign_seed_keypair(pk, sk, seed);
        memset(esk, 2, sizeof esk);
        crypto_scalarmult_base(epk, esk);
        ready = 1;
    }
    refbus_envelope_header h;
    int rc = refbus_envelope_parse(&h, data, size);
    if (rc == 0 && (h.n_recipients == 0 || h.n_recipients > REFBUS_MAX_RECIPIENTS))
        abort();
    if (refbus_envelope_verify(&h, data, size, pk, 0) == 0)
        abort(); /* a forgery: impossible unless verification is broken */
    refbus_enc_key k = {1, esk, epk};
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    if (refbus_envelope_open(&pl, &pl_len, NULL, data, size, pk, "cac.chiangmai", &k, 1, 0) ==
        0)
        abort();
    return 0;
}
