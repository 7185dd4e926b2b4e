/* libFuzzer: the directory and keystore parsers on arbitrary bytes. Must never crash or leak,
 * never accept a directory under a root key the fuzzer cannot sign with, and agree with itself:
 * a Directory that parses re-encodes and re-parses, and the same bytes signed by a key the
 * fuzzer does hold load exactly when they parse. Keystore headers and plaintexts are parsed
 * without Argon2id (which only runs, at its cheapest, for cheap headers). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys/dirdata.h"
#include "keys/directory.h"
#include "keys/keystore.h"
#include "keys/keystore_int.h"
#include "keys/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t never_pk[32], held_pk[32], held_sk[64];

static void exercise(const refbus_directory *d)
{
    static const uint8_t zero[32];
    const refbus_dir_key *k = NULL;
    char *json = NULL;
    size_t n = refbus_directory_agency_count(d);
    for (size_t i = 0; i < n; i++) {
        const char *id = refbus_directory_agency_id(d, i);
        if (refbus_directory_current_key(d, id, &k) == 0 &&
            (k->status != REFBUS_KEY_ACTIVE ||
             refbus_directory_key_trust(d, id, k->epoch, REFBUS_KEY_SEND, &k) != 0))
            abort();
        for (size_t j = 0; j < refbus_directory_agency_key_count(d, i); j++) {
            const refbus_dir_key *e = refbus_directory_agency_key_at(d, i, j);
            const char *who = NULL;
            int rc = refbus_directory_curve_trust(d, e->curve_pk, REFBUS_KEY_SESSION, &who, NULL);
            if ((rc == 0) != (e->status == REFBUS_KEY_ACTIVE) || (rc == 0 && strcmp(who, id)))
                abort(); /* CURVE keys are unique, so the lookup finds this very key */
            /* the one rule: READ never admits what SEND admits not and is not retired */
            int read = refbus_directory_key_trust(d, id, e->epoch, REFBUS_KEY_READ, NULL);
            int send = refbus_directory_key_trust(d, id, e->epoch, REFBUS_KEY_SEND, NULL);
            if ((send == 0 && read != 0) || (read == 0 && e->status == REFBUS_KEY_REVOKED))
                abort();
        }
        (void)refbus_directory_allowed(d, id, refbus_directory_agency_id(d, (i + 1) % n));
    }
    (void)refbus_directory_curve_trust(d, zero, REFBUS_KEY_READ, NULL, NULL);
    (void)refbus_directory_broker_sign_pk(d);
    if (refbus_directory_json(&json, d) == 0)
        free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        uint8_t seed[32], sk[64];
        if (sodium_init() < 0)
            abort();
        memset(seed, 0xee, sizeof seed); /* no corpus entry is signed by this key */
        crypto_sign_seed_keypair(never_pk, sk, seed);
        memset(seed, 0xdd, sizeof seed);
        crypto_sign_seed_keypair(held_pk, held_sk, seed);
        ready = 1;
    }
    refbus_directory *d = NULL;
    if (refbus_directory_load(&d, data, size, never_pk, NULL) == 0)
        abort(); /* a forgery */
    if (refbus_directory_load_unverified(&d, data, size) == 0) {
        exercise(d);
        refbus_directory_free(&d);
    }

    /* The bytes as a Directory. */
    refbus_dd dd;
    uint8_t *packed = NULL, *signed_bytes = NULL;
    size_t packed_len = 0, signed_len = 0;
    int parsed = size <= REFBUS_DIRECTORY_MAX_BYTES - 128 ? refbus_dd_parse(&dd, data, size) : -1;
    if (parsed == 0) {
        refbus_dd again;
        if (refbus_dd_pack(&dd, &packed, &packed_len) != 0 ||
            refbus_dd_parse(&again, packed, packed_len) != 0)
            abort();
        refbus_dd_clear(&again);
        refbus_dd_clear(&dd);
        free(packed);
    }
    if (size <= REFBUS_DIRECTORY_MAX_BYTES - 128) {
        uint8_t *msg = NULL, sig[64];
        size_t msg_len = 0;
        if (refbus_dd_sig_input(&msg, &msg_len, data, size) == 0) {
            crypto_sign_detached(sig, NULL, msg, msg_len, held_sk);
            free(msg);
            if (refbus_dd_join_signed(&signed_bytes, &signed_len, data, size, sig) == 0) {
                int rc = refbus_directory_load(&d, signed_bytes, signed_len, held_pk, NULL);
                /* Loads exactly when it parses, unless it names another root as signer. */
                if (rc == 0 && parsed != 0)
                    abort();
                if (rc != 0 && parsed == 0 && rc != REFBUS_EBADSIG && rc != REFBUS_EMALFORMED)
                    abort();
                refbus_directory_free(&d);
                free(signed_bytes);
            }
        }
    }

    /* The bytes as a keystore file and as a decrypted keystore. */
    refbus_ks_header h;
    refbus_keystore *ks = NULL;
    if (refbus_ks_parse_header(&h, data, size) == 0 && h.kdf.opslimit <= 2 &&
        h.kdf.memlimit <= 65536 && refbus_keystore_open_bytes(&ks, data, size, "pass", 4) == 0)
        refbus_keystore_free(&ks);
    if (refbus_ks_parse_plain(&ks, data, size) == 0) {
        char *json = NULL;
        if (refbus_keystore_epoch_count(ks) == 0 || !refbus_keystore_current(ks))
            abort();
        if (refbus_keystore_json(&json, ks) == 0)
            free(json);
        refbus_keystore_free(&ks);
    }
    return 0;
}
