/* Verify a whole audit trail without trusting whoever stored it: recompute every leaf and the
 * tree, check every signed checkpoint (the stored ones, the ones carried in CHECKPOINT records,
 * and any the auditor brings from elsewhere) against the pinned broker key and the recomputed
 * root of its size, and name the first bad index and what is wrong with it. The stored tree
 * hashes are used only as hints to name a record; the anchors are signatures and recomputation. */
#ifndef REFBUS_AUDIT_VERIFY_H
#define REFBUS_AUDIT_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "audit/reader.h"
#include "common/err.h"
#include "audit/checkpoint.h"

enum refbus_audit_problem {
    REFBUS_AUDIT_INTACT = 0,
    REFBUS_AUDIT_ALTERED,        /* a record's bytes differ from what was hashed and signed */
    REFBUS_AUDIT_MISSING,        /* a record was removed (a gap, or later ones renumbered) */
    REFBUS_AUDIT_REORDERED,      /* records are not where they were written */
    REFBUS_AUDIT_TRUNCATED,      /* the tail was cut: signed (or hashed) records are gone */
    REFBUS_AUDIT_BAD_CHECKPOINT, /* undecodable, forged, wrong key, wrong log, wrong size */
    REFBUS_AUDIT_TREE,           /* a stored tree hash is wrong or missing; records intact */
    REFBUS_AUDIT_MALFORMED       /* the store's layout itself is broken (a key of bad length) */
};

/* "intact", "altered", "missing", "reordered", "truncated", "bad-checkpoint", "tree",
 * "malformed". */
const char *refbus_audit_problem_name(enum refbus_audit_problem p);

typedef struct refbus_audit_verify_opts {
    /* Pinned broker signing keys (more than one across a key rotation). With none, the signer
     * of the first checkpoint is taken on trust (and result.pinned says so): anyone able to
     * rewrite the whole file could then re-sign it with a key of their own. */
    const uint8_t (*broker_pks)[crypto_sign_PUBLICKEYBYTES];
    size_t n_broker_pks;
    /* SignedCheckpoints obtained elsewhere (a node's last seen, an earlier export): each must
     * verify and match the recomputed root of its size; one larger than the log proves a cut. */
    const uint8_t *const *anchors;
    const size_t *anchor_lens;
    size_t n_anchors;
    /* Called about every 64k records and at the end (may be NULL). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    unsigned page; /* records per read transaction; 0 = REFBUS_AUDIT_PAGE */
} refbus_audit_verify_opts;

typedef struct refbus_audit_verify_result {
    enum refbus_audit_problem problem;
    uint64_t index;       /* the first bad index (a record's position, or a checkpoint's size) */
    char detail[400];     /* what is wrong, in a sentence */
    uint64_t size;        /* records in the trail when verification started */
    uint64_t checked;     /* records read and hashed */
    uint64_t checkpoints; /* signed checkpoints verified (each size counted once per source) */
    uint64_t covered;     /* the largest size a verified checkpoint signs */
    uint64_t covered_time_ms;
    uint8_t root[REFBUS_MERKLE_HASH_BYTES]; /* recomputed root of the whole trail (when intact) */
    uint8_t log_id[REFBUS_AUDIT_LOG_ID_BYTES];
    uint8_t signer_pk[crypto_sign_PUBLICKEYBYTES]; /* the key checkpoints were checked with (when
                                                      have_signer) */
    int have_signer;
    int pinned;   /* checked against a pinned key */
    int unlocked; /* the trail was opened without a lock file */
} refbus_audit_verify_result;

/* Verify the trail behind `r` (opts may be NULL). Reads in short read transactions; a trail
 * still being written is verified up to its size at the start. Returns 0 when intact,
 * REFBUS_EAUDIT when not (res says where and why), or REFBUS_ELMDB / REFBUS_ENOMEM /
 * REFBUS_EINVAL when verification could not run. `res` is always filled. */
int refbus_audit_verify(refbus_audit_reader *r, const refbus_audit_verify_opts *opts,
                        refbus_audit_verify_result *res) REFBUS_WUR;

#endif
