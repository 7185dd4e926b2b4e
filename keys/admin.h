/* The administrators' state (what refbus-keys works on): the root keystore, the working
 * directory being edited, and every directory signed so far, all in one ADMIN_DIR:
 *
 *   ADMIN_DIR/            mode 0700
 *     root.key            the root keystore (passphrase; mode 0600)
 *     root.pub            the root public key: 64 hex digits and a newline (0644)
 *     state.pb            the working directory: a refbus.v1.Directory whose serial is the
 *                         last signed one (unsigned; 0600)
 *     directory.signed    the last signed directory, a refbus.v1.SignedDirectory (0644)
 *     signed/SERIAL.dir   every signed directory, SERIAL in 20 digits (0644, never replaced)
 *     .lock               flock(2)ed by every command that changes anything
 *
 * An open refbus_admin holds the lock: concurrent commands run one after the other, and each
 * change is checked against the directory rules before anything is written. Every file is
 * written atomically. Tests and tools of other parts may use this API to build networks. */
#ifndef REFBUS_KEYS_ADMIN_H
#define REFBUS_KEYS_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "keys/directory.h"
#include "keys/keystore.h"

typedef struct refbus_admin refbus_admin;

enum refbus_policy_action {
    REFBUS_POLICY_DENY = 0,
    REFBUS_POLICY_ALLOW = 1,
    REFBUS_POLICY_REMOVE = 2
};

/* Create ADMIN_DIR (0700) with a new root key under `pass`, and sign the empty directory at
 * serial 0. root_pk (may be NULL) receives the root public key.
 * Errors: REFBUS_EEXIST (already initialised: nothing changed), REFBUS_EINVAL, REFBUS_EIO,
 * REFBUS_ENOMEM. */
int refbus_admin_init(const char *dir, const char *pass, size_t pass_len, const refbus_kdf *kdf,
                      uint8_t root_pk[crypto_sign_PUBLICKEYBYTES]) REFBUS_WUR;

/* Lock ADMIN_DIR (waiting for any other holder) and load the working state. On success *out
 * is the caller's; refbus_admin_close() releases the lock.
 * Errors: REFBUS_ENOTFOUND (not initialised), REFBUS_ECORRUPT (state unreadable), REFBUS_EIO,
 * REFBUS_ENOMEM. */
int refbus_admin_open(refbus_admin **out, const char *dir) REFBUS_WUR;
void refbus_admin_close(refbus_admin **a);

const uint8_t *refbus_admin_root_pk(const refbus_admin *a);
uint64_t refbus_admin_serial(const refbus_admin *a); /* the last signed serial */

/* Enrol an agency at epoch 1: its bundle is written to `bundle` (created exclusively, 0600,
 * under `pass`), its public keys join the working directory.
 * Errors: REFBUS_EBADID, REFBUS_EEXIST (the id is taken, or `bundle` exists: nothing
 * written), REFBUS_EINVAL (name or kind), REFBUS_EIO, REFBUS_ENOMEM. */
int refbus_admin_agency_add(refbus_admin *a, const char *id, const char *name,
                            enum refbus_agency_kind kind, const char *bundle, const char *pass,
                            size_t pass_len, const refbus_kdf *kdf) REFBUS_WUR;

/* Enrol the broker (one per directory) with its endpoints. Errors: as agency_add. */
int refbus_admin_broker_add(refbus_admin *a, const char *id, const char *const *endpoints,
                            size_t n_endpoints, const char *bundle, const char *pass,
                            size_t pass_len, const refbus_kdf *kdf) REFBUS_WUR;

/* A new epoch for an agency or the broker: opens `old_bundle` (the newest one), writes
 * `new_bundle` (exclusively) holding every older epoch's secrets and the new keys, retires the
 * previous active key. *epoch (may be NULL) receives the new epoch.
 * Errors: REFBUS_EUNKNOWNAGENCY, those of refbus_keystore_open (REFBUS_EPASSPHRASE ...),
 * REFBUS_EINVAL (the bundle is not this agency's newest, or belongs to another root),
 * REFBUS_EEXIST, REFBUS_EIO, REFBUS_ENOMEM. */
int refbus_admin_rotate(refbus_admin *a, const char *id, const char *old_bundle,
                        const char *old_pass, size_t old_pass_len, const char *new_bundle,
                        const char *new_pass, size_t new_pass_len, const refbus_kdf *kdf,
                        uint32_t *epoch) REFBUS_WUR;

/* Revoke epoch `epoch` (0: the newest) of an agency or the broker, or every epoch when `all`.
 * *count (may be NULL) receives how many were revoked.
 * Errors: REFBUS_EUNKNOWNAGENCY, REFBUS_ENOTFOUND (no such epoch), REFBUS_EREVOKED (already
 * revoked), REFBUS_EINVAL (reason empty, over 255 bytes, or not printable UTF-8), REFBUS_EIO. */
int refbus_admin_revoke(refbus_admin *a, const char *id, uint32_t epoch, int all,
                        const char *reason, unsigned *count) REFBUS_WUR;

/* Set (allow / deny) or remove the rule for from -> to; each is an agency id or "*".
 * Errors: REFBUS_EBADID, REFBUS_EUNKNOWNAGENCY, REFBUS_ENOTFOUND (remove: no such rule),
 * REFBUS_EIO. */
int refbus_admin_policy(refbus_admin *a, const char *from, const char *to,
                        enum refbus_policy_action action) REFBUS_WUR;

/* Re-anchor the nodes after a broker restore: the working directory names the audit
 * checkpoint of `size` records with RFC 6962 root `root` as the nodes' new anchor, with the
 * administrators' `reason` (it replaces an earlier statement). Takes effect when signed and
 * published. Errors: REFBUS_EINVAL (size 0, reason empty, over 255 bytes or not printable
 * UTF-8), REFBUS_EIO. */
int refbus_admin_reanchor(refbus_admin *a, uint64_t size,
                          const uint8_t root[REFBUS_MERKLE_HASH_BYTES],
                          const char *reason) REFBUS_WUR;

/* Sign the working directory as the next serial with the root key (opened with `pass`) and
 * write it to directory.signed, signed/SERIAL.dir and, if non-NULL, `out` (0644).
 * *serial (may be NULL) receives the serial. Nothing is written unless all is well.
 * Errors: REFBUS_EPASSPHRASE, those of refbus_keystore_open, REFBUS_EKEYFORMAT (root.key is
 * not this directory's root), REFBUS_EEXIST, REFBUS_EIO, REFBUS_ENOMEM. */
int refbus_admin_sign(refbus_admin *a, const char *pass, size_t pass_len, const char *out,
                      uint64_t *serial) REFBUS_WUR;

/* The working directory as an (unsigned) directory, for display. *out is the caller's.
 * Errors: REFBUS_ENOMEM. */
int refbus_admin_pending(const refbus_admin *a, refbus_directory **out) REFBUS_WUR;

/* Read ADMIN_DIR/root.pub. Errors: REFBUS_ENOTFOUND, REFBUS_EKEYFORMAT, REFBUS_EIO. */
int refbus_admin_read_root_pub(const char *dir,
                               uint8_t root_pk[crypto_sign_PUBLICKEYBYTES]) REFBUS_WUR;
/* Parse a root public key: 64 hex digits, optionally followed by whitespace.
 * Errors: REFBUS_EKEYFORMAT. */
int refbus_root_pk_parse(uint8_t root_pk[crypto_sign_PUBLICKEYBYTES], const char *text) REFBUS_WUR;

#endif
