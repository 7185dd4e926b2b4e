/* The signed agency directory as nodes and the broker use it: load (verify the root signature
 * over the exact bytes, the structure, the ids and the serial), then look up keys, admit
 * transport peers and apply the routing policy. docs/KEYS-FORMAT.md is the byte-exact spec.
 * A loaded directory is immutable, so any number of threads may read it at once. */
#ifndef REFBUS_KEYS_DIRECTORY_H
#define REFBUS_KEYS_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "common/err.h"
#include "proto/merkle.h"

#define REFBUS_DIRECTORY_VERSION 1u
#define REFBUS_DIRECTORY_MAX_BYTES (16u * 1024u * 1024u) /* refused above this size */
#define REFBUS_DIR_MAX_AGENCIES 10000u
#define REFBUS_DIR_MAX_KEYS 1000u /* key epochs per agency */
#define REFBUS_DIR_MAX_RULES 100000u
#define REFBUS_DIR_MAX_ENDPOINTS 16u
#define REFBUS_DIR_NAME_MAX 256u   /* bytes of UTF-8 in a display name */
#define REFBUS_DIR_REASON_MAX 255u /* bytes of UTF-8 in a revocation reason */
#define REFBUS_DIR_ENDPOINT_MAX 255u
#define REFBUS_KEY_ID_BYTES 8u
#define REFBUS_KEY_ID_HEX 17u /* 16 hex digits and a NUL */

enum refbus_key_status { REFBUS_KEY_ACTIVE = 0, REFBUS_KEY_RETIRED = 1, REFBUS_KEY_REVOKED = 2 };

/* The values of refbus.v1.AgencyKind. */
enum refbus_agency_kind {
    REFBUS_AGENCY_CAC = 1,
    REFBUS_AGENCY_POLICE = 2,
    REFBUS_AGENCY_WELFARE = 3,
    REFBUS_AGENCY_NGO = 4,
    REFBUS_AGENCY_HEALTH = 5,
    REFBUS_AGENCY_COURT = 6,
    REFBUS_AGENCY_OTHER = 7
};

/* One key epoch of an agency or of the broker. */
typedef struct refbus_dir_key {
    uint32_t epoch;
    uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES]; /* Ed25519 */
    uint8_t enc_pk[crypto_box_PUBLICKEYBYTES];   /* X25519 */
    uint8_t curve_pk[crypto_box_PUBLICKEYBYTES]; /* CURVE (CurveZMQ) */
    enum refbus_key_status status;
    uint64_t status_changed_ms;
    char revoked_reason[256]; /* "" unless REVOKED */
    uint64_t created_ms;
} refbus_dir_key;

/* A re-anchor statement (docs/KEYS-FORMAT.md section 3): after a broker restore the root names
 * the audit checkpoint (tree size and root hash) that nodes take as their new anchor. */
typedef struct refbus_dir_reanchor {
    uint64_t size; /* >= 1 */
    uint8_t root[REFBUS_MERKLE_HASH_BYTES];
    uint64_t time_ms;
    char reason[256]; /* 1..255 bytes of printable UTF-8 */
} refbus_dir_reanchor;

typedef struct refbus_directory refbus_directory; /* immutable once loaded */

/* Verify the root signature over the exact bytes (a SignedDirectory), the structure, the ids,
 * and (when trusted_serial != NULL) that serial > *trusted_serial. On success *out is a new
 * directory the caller owns (refbus_directory_free). `signed_bytes` is copied.
 * Errors: REFBUS_EINVAL (NULL argument), REFBUS_ETOOLARGE, REFBUS_EBADSIG, REFBUS_EROLLBACK,
 * REFBUS_EMALFORMED, REFBUS_EKEYFORMAT (a key of the wrong length or not a curve point),
 * REFBUS_EVERSION (a directory version this reader does not know), REFBUS_EBADID,
 * REFBUS_ENOMEM. */
int refbus_directory_load(refbus_directory **out, const uint8_t *signed_bytes, size_t len,
                          const uint8_t root_pk[crypto_sign_PUBLICKEYBYTES],
                          const uint64_t *trusted_serial) REFBUS_WUR;

/* The same from a file (at most REFBUS_DIRECTORY_MAX_BYTES). Adds REFBUS_ENOTFOUND, REFBUS_EIO. */
int refbus_directory_load_file(refbus_directory **out, const char *path,
                               const uint8_t root_pk[crypto_sign_PUBLICKEYBYTES],
                               const uint64_t *trusted_serial) REFBUS_WUR;

/* For display only (refbus-keys show without a root key): every check of load() except the
 * signature, which is not looked at. refbus_directory_verified() says 0 for the result.
 * Never use it to decide whom to trust. Errors: those of load() except EBADSIG and EROLLBACK. */
int refbus_directory_load_unverified(refbus_directory **out, const uint8_t *signed_bytes,
                                     size_t len) REFBUS_WUR;

/* Frees everything; accepts NULL and *d == NULL; sets *d to NULL. */
void refbus_directory_free(refbus_directory **d);

uint64_t refbus_directory_serial(const refbus_directory *d);
uint64_t refbus_directory_issued_ms(const refbus_directory *d);
int refbus_directory_verified(const refbus_directory *d); /* 1 when loaded with a root key */
/* The root public key named in the directory (32 bytes), NULL when it names none. */
const uint8_t *refbus_directory_root_pk(const refbus_directory *d);
/* The directory's re-anchor statement (points into d), or NULL when it has none. */
const refbus_dir_reanchor *refbus_directory_reanchor(const refbus_directory *d);
/* The exact signed bytes (to push to nodes, to store); owned by d. */
const uint8_t *refbus_directory_bytes(const refbus_directory *d, size_t *len);

/* What a key epoch is to be trusted for (DESIGN section 2: one rule, used by broker, node and
 * auditor alike; refbus_directory_key_trust decides). */
enum refbus_key_purpose {
    REFBUS_KEY_SEND = 1,    /* sign a new message; be accepted as its sender */
    REFBUS_KEY_SESSION = 2, /* hold the agency's broker session and receive its deliveries */
    REFBUS_KEY_RECEIPT = 3, /* sign a receipt that counts (a recipient's DELIVERED / REJECTED) */
    REFBUS_KEY_READ = 4,    /* verify or open something old: an already accepted message, a
                             * stored receipt or checkpoint, a stanza sealed before a rotation */
    REFBUS_KEY_FETCH_DIRECTORY = 5 /* connect to the broker only to fetch the newer directory */
};

/* The one key-trust rule. `id` names an agency or the broker. An ACTIVE key may be trusted for
 * every purpose; a RETIRED key only for READ and FETCH_DIRECTORY; once any epoch of the same
 * agency (or broker) is REVOKED, every epoch up to it counts as revoked (a rotated bundle
 * carries the older epochs' secrets, so a stolen device holds them all). On 0 *out (when not
 * NULL) points into d. O(epochs of that agency).
 * Errors: REFBUS_EUNKNOWNAGENCY (no such agency or broker), REFBUS_ENOTFOUND (no such epoch),
 * REFBUS_EREVOKED (this or a later epoch revoked), REFBUS_ERETIRED (retired, and the purpose
 * needs the active key), REFBUS_EINVAL (NULL argument or unknown purpose). */
int refbus_directory_key_trust(const refbus_directory *d, const char *id, uint32_t epoch,
                               enum refbus_key_purpose purpose,
                               const refbus_dir_key **out) REFBUS_WUR;
/* The same for the agency behind a CURVE transport key (the broker's own key is not an
 * agency's): on 0 sets *agency (pointing into d) and *epoch, either may be NULL. O(log n).
 * Errors: REFBUS_EUNKNOWNPEER (no agency has this key), and those of key_trust. */
int refbus_directory_curve_trust(const refbus_directory *d,
                                 const uint8_t curve_pk[crypto_box_PUBLICKEYBYTES],
                                 enum refbus_key_purpose purpose, const char **agency,
                                 uint32_t *epoch) REFBUS_WUR;
/* Why key_trust said REFBUS_EREVOKED for this epoch: the reason recorded on the first revoked
 * epoch at or above it (pointing into d), or NULL when none is revoked. For messages only. */
const char *refbus_directory_revocation(const refbus_directory *d, const char *id, uint32_t epoch);
/* The name of a purpose ("send", "session", ...), for messages. */
const char *refbus_key_purpose_name(enum refbus_key_purpose purpose);

/* Any epoch whatever its status (for display and tools: never to decide trust, which is
 * key_trust's); *out points into d. Errors: REFBUS_EUNKNOWNAGENCY, REFBUS_ENOTFOUND. */
int refbus_directory_key(const refbus_directory *d, const char *agency, uint32_t epoch,
                         const refbus_dir_key **out) REFBUS_WUR;
/* The agency's ACTIVE key (the one to seal to); *out points into d.
 * Errors: REFBUS_EUNKNOWNAGENCY, REFBUS_EREVOKED (no active key). */
int refbus_directory_current_key(const refbus_directory *d, const char *agency,
                                 const refbus_dir_key **out) REFBUS_WUR;
/* Routing policy: 1 when `from` may refer to `to`, else 0. Default deny; a matching deny rule
 * wins over any allow; "*" in a rule matches any agency. Unknown agencies are never allowed.
 * O(number of rules). */
int refbus_directory_allowed(const refbus_directory *d, const char *from, const char *to);

/* The broker's entry. broker_id is NULL when none is enrolled; the key functions return the
 * broker's ACTIVE key's public keys (32 bytes each) or NULL when there is none. */
const char *refbus_directory_broker_id(const refbus_directory *d);
const uint8_t *refbus_directory_broker_sign_pk(const refbus_directory *d);
const uint8_t *refbus_directory_broker_curve_pk(const refbus_directory *d);
/* The broker's key for `epoch` whatever its status (old receipts and checkpoints).
 * Errors: REFBUS_EUNKNOWNPEER (no broker), REFBUS_ENOTFOUND. */
int refbus_directory_broker_key(const refbus_directory *d, uint32_t epoch,
                                const refbus_dir_key **out) REFBUS_WUR;
size_t refbus_directory_broker_key_count(const refbus_directory *d);
const refbus_dir_key *refbus_directory_broker_key_at(const refbus_directory *d, size_t i);
size_t refbus_directory_broker_endpoint_count(const refbus_directory *d);
const char *refbus_directory_broker_endpoint(const refbus_directory *d, size_t i);

/* Agencies, ascending by id; i < agency_count, else NULL / 0. */
size_t refbus_directory_agency_count(const refbus_directory *d);
const char *refbus_directory_agency_id(const refbus_directory *d, size_t i);
const char *refbus_directory_agency_name(const refbus_directory *d, size_t i);
enum refbus_agency_kind refbus_directory_agency_kind(const refbus_directory *d, size_t i);
size_t refbus_directory_agency_key_count(const refbus_directory *d, size_t i);
const refbus_dir_key *refbus_directory_agency_key_at(const refbus_directory *d, size_t i, size_t k);
/* Index of agency `id`. Errors: REFBUS_EUNKNOWNAGENCY. */
int refbus_directory_agency_index(const refbus_directory *d, const char *id, size_t *i) REFBUS_WUR;

/* Policy rules in directory order; i < policy_count. *from / *to point into d. */
size_t refbus_directory_policy_count(const refbus_directory *d);
void refbus_directory_policy_rule(const refbus_directory *d, size_t i, const char **from,
                                  const char **to, int *allow);

/* Key id: the first 8 bytes of BLAKE2b-256("refbus/v1/key-id" || pk) as 16 lower-case hex
 * digits (and a NUL) — short, stable names for public keys in logs and tools. */
void refbus_key_id(char out[REFBUS_KEY_ID_HEX], const uint8_t pk[32]);

/* "cac", "police", ... for a kind; NULL when unknown. parse: 0 when unknown. */
const char *refbus_agency_kind_name(enum refbus_agency_kind kind);
enum refbus_agency_kind refbus_agency_kind_parse(const char *name);
/* "active", "retired", "revoked". */
const char *refbus_key_status_name(enum refbus_key_status status);

#endif
