/* Self-contained proof files (docs/AUDIT-FORMAT.md): an inclusion proof carries one record's
 * exact bytes, its index, the audit path and the signed checkpoint it leads to; a consistency
 * proof carries two signed checkpoints and the path between them. Both are checked without the
 * log. On disk: the line REFBUS_PROOF_MAGIC, then one serialized AuditProof. */
#ifndef REFBUS_AUDIT_PROOF_H
#define REFBUS_AUDIT_PROOF_H

#include <stddef.h>
#include <stdint.h>

#include "audit/checkpoint.h"
#include "audit/reader.h"
#include "common/err.h"

#define REFBUS_PROOF_MAGIC "refbus-audit-proof v1\n"
#define REFBUS_PROOF_MAX (256u * 1024u)

enum refbus_proof_kind { REFBUS_PROOF_INCLUSION = 1, REFBUS_PROOF_CONSISTENCY = 2 };

typedef struct refbus_audit_proof_info {
    enum refbus_proof_kind kind;
    uint64_t index;  /* inclusion: the record's index */
    uint8_t *record; /* inclusion: malloc'd copy of the record bytes */
    size_t record_len;
    refbus_checkpoint cp;    /* the checkpoint proven against (consistency: the newer) */
    refbus_checkpoint first; /* consistency: the older checkpoint */
    size_t path_len;         /* hashes in the audit path */
} refbus_audit_proof_info;

/* An inclusion proof for record `index` against the stored checkpoint of size `at` (0: the
 * latest). *out = malloc'd file bytes. Errors: REFBUS_ENOTFOUND (no such checkpoint or record),
 * REFBUS_EINVAL (index not below the checkpoint's size), REFBUS_ECORRUPT (the stored data does
 * not prove itself: verify the trail), REFBUS_ELMDB, REFBUS_ENOMEM. */
int refbus_audit_proof_inclusion(refbus_audit_reader *r, uint64_t index, uint64_t at, uint8_t **out,
                                 size_t *out_len) REFBUS_WUR;
/* A consistency proof from the stored checkpoint of size m to the one of size n (0: the
 * latest). Errors as above. */
int refbus_audit_proof_consistency(refbus_audit_reader *r, uint64_t m, uint64_t n, uint8_t **out,
                                   size_t *out_len) REFBUS_WUR;

/* Decode a proof file without checking anything cryptographic (info->record malloc'd: clear
 * with refbus_audit_proof_info_clear). Errors: REFBUS_EMALFORMED, REFBUS_ENOMEM. */
int refbus_audit_proof_parse(refbus_audit_proof_info *info, const uint8_t *file,
                             size_t len) REFBUS_WUR;
/* Decode and check a proof file: the checkpoint signature(s) against one of `pks` (or, when
 * n_pks is 0, against the signer the checkpoint names: the caller must then compare
 * info->cp.signer_pk with the broker key it trusts), and the audit path. info is filled as far
 * as decoding got, on failure too. Errors: REFBUS_EMALFORMED, REFBUS_EBADSIG, REFBUS_EPROOF,
 * REFBUS_ENOMEM. */
int refbus_audit_proof_check(refbus_audit_proof_info *info, const uint8_t *file, size_t len,
                             const uint8_t (*pks)[crypto_sign_PUBLICKEYBYTES],
                             size_t n_pks) REFBUS_WUR;
void refbus_audit_proof_info_clear(refbus_audit_proof_info *info);

#endif
