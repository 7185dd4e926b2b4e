/* libFuzzer: every parser of untrusted audit bytes — the record peek used by verify, record
 * decoding and rendering (JSON and timeline), SignedCheckpoint parsing and verification, proof
 * file parsing and checking, and the time parser of the replay filters. Must never crash or
 * leak, and never accept a signature by the fixed key below, which nothing in the corpus uses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "audit/checkpoint.h"
#include "audit/proof.h"
#include "audit/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint8_t pk[32];
    if (!ready) {
        uint8_t seed[32], sk[64];
        if (sodium_init() < 0)
            abort();
        memset(seed, 0xef, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }

    /* records: where both the allocation-free peek and protobuf-c decode a record, they must
     * agree on the fields verify reads (the peek may be stricter about odd encodings) */
    refbus_audit_peek peek;
    int prc = refbus_audit_record_peek(&peek, data, size);
    Refbus__V1__AuditRecord *r = refbus__v1__audit_record__unpack(NULL, size, data);
    if (r) {
        if (prc == 0 && (peek.index != r->index || peek.event != (uint32_t)r->event ||
                         peek.checkpoint_size != r->checkpoint_size ||
                         peek.signed_cp_len != r->signed_checkpoint.len))
            abort();
        char *line = NULL;
        if (refbus_audit_record_text(&line, 7, r) == 0)
            free(line);
        refbus__v1__audit_record__free_unpacked(r, NULL);
    }
    json_t *j = refbus_audit_record_json(7, data, size);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    free(s);
    json_decref(j);

    /* checkpoints */
    refbus_checkpoint cp;
    if (refbus_checkpoint_parse(&cp, data, size) == 0 && cp.size == 0) {
        uint8_t empty[32];
        crypto_hash_sha256(empty, NULL, 0);
        if (memcmp(empty, cp.root, 32) != 0)
            abort();
    }
    if (refbus_checkpoint_verify(&cp, data, size, pk) == 0)
        abort();

    /* proof files: parse, check against the signer they name (reaches the path checks), and
     * against the fixed key (must fail) */
    refbus_audit_proof_info info;
    if (refbus_audit_proof_parse(&info, data, size) == 0)
        refbus_audit_proof_info_clear(&info);
    (void)refbus_audit_proof_check(&info, data, size, NULL, 0);
    refbus_audit_proof_info_clear(&info);
    if (refbus_audit_proof_check(&info, data, size, (const uint8_t(*)[32])pk, 1) == 0)
        abort();
    refbus_audit_proof_info_clear(&info);

    /* the replay time parser, on a NUL-terminated copy */
    if (size < 64) {
        char t[64];
        uint64_t ms;
        memcpy(t, data, size);
        t[size] = 0;
        (void)refbus_audit_time_parse(t, &ms);
    }
    return 0;
}
