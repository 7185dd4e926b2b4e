/* libFuzzer: everything the node decodes from the broker besides envelopes. The first byte
 * picks the command (as on the wire); the rest is its body: WELCOME, RECEIPT notices, the
 * broker's ACCEPTED/REJECTED receipts, CHECKPOINT pushes (and the checkpoint inside, verified
 * against a fixed key the fuzzer cannot forge), ERROR and PING. Must never crash, leak or
 * accept a forged checkpoint. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit/checkpoint.h"
#include "proto/receipt.h"
#include "proto/wire.h"
#include "proto/wire_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32], sk[64];
    static int ready;
    static refbus_wire_checkpoint_push cp;
    if (!ready) {
        uint8_t seed[32];
        if (sodium_init() < 0)
            abort();
        memset(seed, 0xcd, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    if (size < 1)
        return 0;
    const uint8_t *b = data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0: {
        refbus_wire_welcome w;
        (void)refbus_wire_welcome_decode(&w, b, n);
        break;
    }
    case 1: {
        refbus_wire_notice nt;
        refbus_receipt r;
        int rc = refbus_wire_notice_decode(&nt, b, n);
        if (rc == 0 && refbus_receipt_verify(&r, nt.receipt, nt.receipt_len, pk) == 0)
            abort(); /* a receipt signed by a key nobody gave the fuzzer */
        refbus_wire_notice_clear(&nt);
        break;
    }
    case 2: {
        refbus_receipt r;
        if (refbus_receipt_verify(&r, b, n, pk) == 0)
            abort();
        (void)refbus_receipt_parse(&r, b, n);
        break;
    }
    case 3: {
        if (refbus_wire_checkpoint_push_decode(&cp, b, n) == 0) {
            refbus_checkpoint c;
            if (cp.n_proof > REFBUS_WIRE_MAX_PROOF)
                abort();
            if (refbus_checkpoint_verify(&c, cp.signed_cp, cp.signed_cp_len, pk) == 0)
                abort();
            (void)refbus_checkpoint_parse(&c, cp.signed_cp, cp.signed_cp_len);
        }
        refbus_wire_checkpoint_push_clear(&cp);
        break;
    }
    case 4: {
        refbus_wire_error e;
        if (refbus_wire_error_decode(&e, b, n) == 0 && strlen(e.text) >= sizeof e.text)
            abort();
        break;
    }
    default: {
        refbus_wire_ping p;
        (void)refbus_wire_ping_decode(&p, b, n);
        break;
    }
    }
    return 0;
}
