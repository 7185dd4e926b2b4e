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
    /* the batch fields (2.7.2) that parse let through are in range */
    if (rc == 0 && h.batch_size &&
        (h.batch_size > REFBUS_BATCH_MAX || h.batch_index >= h.batch_size))
        abort();
    if (refbus_envelope_verify(&h, data, size, pk, 0) == 0)
        abort(); /* a forgery: impossible unless verification is broken */
    /* and through a cache that holds a genuine root of this key: the fuzzer's envelopes must
     * not ride on it (the path is always walked, the key includes the signature) */
    static refbus_batch_cache cache;
    if (cache.used == 0) {
        uint8_t leaves[2][32] = {{1}, {2}}, sig[64];
        refbus_batch_tree t;
        if (refbus_batch_tree_build(&t, (const uint8_t(*)[32])leaves, 2) != 0)
            abort();
        refbus_batch_sign(sig, sk, 2, refbus_batch_tree_root(&t));
        uint8_t path[REFBUS_BATCH_MAX_PATH][32];
        size_t pl = refbus_batch_tree_path(&t, 0, path);
        if (refbus_batch_verify(&cache, pk, 2, 0, leaves[0], (const uint8_t(*)[32])path, pl, sig) !=
            0)
            abort();
        refbus_batch_tree_free(&t);
    }
    if (refbus_envelope_verify_cached(&h, data, size, pk, 0, &cache) == 0)
        abort();
    refbus_enc_key k = {1, esk, epk};
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    if (refbus_envelope_open(&pl, &pl_len, NULL, data, size, pk, "cac.chiangmai", &k, 1, 0) == 0)
        abort();
    return 0;
}
