/* Loading a signed directory and answering the questions the broker and nodes ask of it. The
 * signature is checked over the caller's exact bytes before the directory itself is decoded;
 * lookups are binary searches over arrays sorted once at load. */
#include "keys/directory.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "keys/dirdata.h"

#define KEY_ID_DOMAIN "refbus/v1/key-id"

/* A CURVE key and where it lives, sorted by key for curve_trust(). */
typedef struct curve_ref {
    const refbus_dir_key *key;
    const char *agency;
} curve_ref;

struct refbus_directory {
    refbus_dd dd;
    uint8_t *bytes; /* the exact signed bytes */
    size_t len;
    int verified;
    curve_ref *curves;
    size_t n_curves;
};

void refbus_key_id(char out[REFBUS_KEY_ID_HEX], const uint8_t pk[32])
{
    uint8_t h[32];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    crypto_generichash_update(&st, (const uint8_t *)KEY_ID_DOMAIN, strlen(KEY_ID_DOMAIN));
    crypto_generichash_update(&st, pk, 32);
    crypto_generichash_final(&st, h, sizeof h);
    refbus_hex(out, h, REFBUS_KEY_ID_BYTES);
}

static const char *const kind_names[] = {NULL,  "cac",    "police", "welfare",
                                         "ngo", "health", "court",  "other"};

const char *refbus_agency_kind_name(enum refbus_agency_kind kind)
{
    if ((int)kind < REFBUS_AGENCY_CAC || (int)kind > REFBUS_AGENCY_OTHER)
        return NULL;
    return kind_names[kind];
}

enum refbus_agency_kind refbus_agency_kind_parse(const char *name)
{
    for (int k = REFBUS_AGENCY_CAC; name && k <= REFBUS_AGENCY_OTHER; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return (enum refbus_agency_kind)k;
    return (enum refbus_agency_kind)0;
}

const char *refbus_key_status_name(enum refbus_key_status status)
{
    switch (status) {
    case REFBUS_KEY_ACTIVE: return "active";
    case REFBUS_KEY_RETIRED: return "retired";
    case REFBUS_KEY_REVOKED: return "revoked";
    }
    return "unknown";
}

static int cmp_curve(const void *a, const void *b)
{
    return memcmp(((const curve_ref *)a)->key->curve_pk, ((const curve_ref *)b)->key->curve_pk,
                  crypto_box_PUBLICKEYBYTES);
}

static int index_curves(refbus_directory *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->dd.n_agencies; i++)
        n += d->dd.agencies[i].n_keys;
    d->curves = calloc(n ? n : 1, sizeof *d->curves);
    if (!d->curves)
        return REFBUS_ENOMEM;
    for (size_t i = 0; i < d->dd.n_agencies; i++)
        for (size_t k = 0; k < d->dd.agencies[i].n_keys; k++) {
            d->curves[d->n_curves].key = &d->dd.agencies[i].keys[k];
            d->curves[d->n_curves++].agency = d->dd.agencies[i].id;
        }
    qsort(d->curves, d->n_curves, sizeof *d->curves, cmp_curve);
    return 0;
}

static int load(refbus_directory **out, const uint8_t *bytes, size_t len, const uint8_t *root_pk,
                const uint64_t *trusted_serial)
{
    refbus_directory *d = NULL;
    uint8_t *msg = NULL;
    const uint8_t *dir = NULL;
    size_t dir_len = 0, msg_len = 0;
    uint8_t sig[crypto_sign_BYTES];
    int rc = refbus_dd_split_signed(bytes, len, &dir, &dir_len, sig);
    if (rc != 0)
        return rc;
    if (root_pk) {
        if ((rc = refbus_dd_sig_input(&msg, &msg_len, dir, dir_len)) != 0)
            goto out;
        if (crypto_sign_verify_detached(sig, msg, msg_len, root_pk) != 0) {
            rc = REFBUS_EBADSIG;
            goto out;
        }
    }
    rc = REFBUS_ENOMEM;
    if (!(d = calloc(1, sizeof *d)))
        goto out;
    if ((rc = refbus_dd_parse(&d->dd, dir, dir_len)) != 0)
        goto out;
    /* The directory names the key that signed it; a directory signed by one root but claiming
     * another is not one the administrators issued. */
    if (root_pk && d->dd.has_root_pk &&
        sodium_memcmp(d->dd.root_pk, root_pk, crypto_sign_PUBLICKEYBYTES) != 0) {
        rc = REFBUS_EBADSIG;
        goto out;
    }
    if (trusted_serial && d->dd.serial <= *trusted_serial) {
        rc = REFBUS_EROLLBACK;
        goto out;
    }
    rc = REFBUS_ENOMEM;
    if (!(d->bytes = malloc(len)))
        goto out;
    memcpy(d->bytes, bytes, len);
    d->len = len;
    d->verified = root_pk != NULL;
    if ((rc = index_curves(d)) != 0)
        goto out;
    *out = d;
    d = NULL;
    rc = 0;
out:
    free(msg);
    refbus_directory_free(&d);
    return rc;
}

int refbus_directory_load(refbus_directory **out, const uint8_t *signed_bytes, size_t len,
                          const uint8_t root_pk[crypto_sign_PUBLICKEYBYTES],
                          const uint64_t *trusted_serial)
{
    if (!out || !root_pk || (!signed_bytes && len))
        return REFBUS_EINVAL;
    return load(out, signed_bytes, len, root_pk, trusted_serial);
}

int refbus_directory_load_unverified(refbus_directory **out, const uint8_t *signed_bytes,
                                     size_t len)
{
    if (!out || (!signed_bytes && len))
        return REFBUS_EINVAL;
    return load(out, signed_bytes, len, NULL, NULL);
}

int refbus_directory_load_file(refbus_directory **out, const char *path,
                               const uint8_t root_pk[crypto_sign_PUBLICKEYBYTES],
                               const uint64_t *trusted_serial)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!path)
        return REFBUS_EINVAL;
    int rc = refbus_file_read(&buf, &len, path, REFBUS_DIRECTORY_MAX_BYTES);
    if (rc == 0)
        rc = refbus_directory_load(out, buf, len, root_pk, trusted_serial);
    free(buf);
    return rc;
}

void refbus_directory_free(refbus_directory **d)
{
    if (!d || !*d)
        return;
    refbus_dd_clear(&(*d)->dd);
    free((*d)->bytes);
    free((*d)->curves);
    free(*d);
    *d = NULL;
}

const refbus_dir_reanchor *refbus_directory_reanchor(const refbus_directory *d)
{
    return d && d->dd.has_reanchor ? &d->dd.reanchor : NULL;
}

uint64_t refbus_directory_serial(const refbus_directory *d)
{
    return d->dd.serial;
}

uint64_t refbus_directory_issued_ms(const refbus_directory *d)
{
    return d->dd.issued_ms;
}

int refbus_directory_verified(const refbus_directory *d)
{
    return d->verified;
}

const uint8_t *refbus_directory_root_pk(const refbus_directory *d)
{
    return d->dd.has_root_pk ? d->dd.root_pk : NULL;
}

const uint8_t *refbus_directory_bytes(const refbus_directory *d, size_t *len)
{
    if (len)
        *len = d->len;
    return d->bytes;
}

static const refbus_dd_agency *agency(const refbus_directory *d, const char *id)
{
    long i = refbus_dd_find(&d->dd, id);
    return i < 0 ? NULL : &d->dd.agencies[i];
}

static const refbus_dir_key *epoch_key(const refbus_dd_agency *a, uint32_t epoch)
{
    size_t lo = 0, hi = a->n_keys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->keys[mid].epoch == epoch)
            return &a->keys[mid];
        if (a->keys[mid].epoch < epoch)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int refbus_directory_key(const refbus_directory *d, const char *agency_id, uint32_t epoch,
                         const refbus_dir_key **out)
{
    const refbus_dd_agency *a = agency(d, agency_id);
    if (!a)
        return REFBUS_EUNKNOWNAGENCY;
    const refbus_dir_key *k = epoch_key(a, epoch);
    if (!k)
        return REFBUS_ENOTFOUND;
    *out = k;
    return 0;
}

/* The active key is always the newest epoch (a rule load() enforces). */
static const refbus_dir_key *active_of(const refbus_dd_agency *a)
{
    const refbus_dir_key *k = a->n_keys ? &a->keys[a->n_keys - 1] : NULL;
    return k && k->status == REFBUS_KEY_ACTIVE ? k : NULL;
}

int refbus_directory_current_key(const refbus_directory *d, const char *agency_id,
                                 const refbus_dir_key **out)
{
    const refbus_dd_agency *a = agency(d, agency_id);
    if (!a)
        return REFBUS_EUNKNOWNAGENCY;
    const refbus_dir_key *k = active_of(a);
    if (!k)
        return REFBUS_EREVOKED;
    *out = k;
    return 0;
}

/* Keys are sorted by epoch (load() enforces it), so the revoked epochs at or above `epoch`
 * are found by walking down from the newest. */
static int trust(const refbus_dd_agency *a, uint32_t epoch, enum refbus_key_purpose purpose,
                 const refbus_dir_key **out)
{
    const refbus_dir_key *k = epoch_key(a, epoch);
    if (!k)
        return REFBUS_ENOTFOUND;
    for (size_t j = a->n_keys; j-- > 0 && a->keys[j].epoch >= epoch;)
        if (a->keys[j].status == REFBUS_KEY_REVOKED)
            return REFBUS_EREVOKED;
    switch (purpose) {
    case REFBUS_KEY_SEND:
    case REFBUS_KEY_SESSION:
    case REFBUS_KEY_RECEIPT:
        if (k->status != REFBUS_KEY_ACTIVE)
            return REFBUS_ERETIRED;
        break;
    case REFBUS_KEY_READ:
    case REFBUS_KEY_FETCH_DIRECTORY: break;
    default: return REFBUS_EINVAL;
    }
    if (out)
        *out = k;
    return 0;
}

int refbus_directory_key_trust(const refbus_directory *d, const char *id, uint32_t epoch,
                               enum refbus_key_purpose purpose, const refbus_dir_key **out)
{
    if (!d || !id)
        return REFBUS_EINVAL;
    const refbus_dd_agency *a = agency(d, id);
    if (!a && d->dd.has_broker && strcmp(d->dd.broker.id, id) == 0)
        a = &d->dd.broker;
    if (!a)
        return REFBUS_EUNKNOWNAGENCY;
    return trust(a, epoch, purpose, out);
}

int refbus_directory_curve_trust(const refbus_directory *d,
                                 const uint8_t curve_pk[crypto_box_PUBLICKEYBYTES],
                                 enum refbus_key_purpose purpose, const char **agency_id,
                                 uint32_t *epoch)
{
    if (!d || !curve_pk)
        return REFBUS_EINVAL;
    size_t lo = 0, hi = d->n_curves;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(d->curves[mid].key->curve_pk, curve_pk, crypto_box_PUBLICKEYBYTES);
        if (c == 0) {
            const curve_ref *r = &d->curves[mid];
            int rc = refbus_directory_key_trust(d, r->agency, r->key->epoch, purpose, NULL);
            if (rc != 0)
                return rc;
            if (agency_id)
                *agency_id = r->agency;
            if (epoch)
                *epoch = r->key->epoch;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return REFBUS_EUNKNOWNPEER;
}

const char *refbus_directory_revocation(const refbus_directory *d, const char *id, uint32_t epoch)
{
    const refbus_dd_agency *a = d && id ? agency(d, id) : NULL;
    for (size_t j = 0; a && j < a->n_keys; j++)
        if (a->keys[j].epoch >= epoch && a->keys[j].status == REFBUS_KEY_REVOKED)
            return a->keys[j].revoked_reason;
    return NULL;
}

const char *refbus_key_purpose_name(enum refbus_key_purpose purpose)
{
    switch (purpose) {
    case REFBUS_KEY_SEND: return "send";
    case REFBUS_KEY_SESSION: return "session";
    case REFBUS_KEY_RECEIPT: return "receipt";
    case REFBUS_KEY_READ: return "read";
    case REFBUS_KEY_FETCH_DIRECTORY: return "fetch-directory";
    }
    return "unknown";
}

static int matches(const char *pattern, const char *id)
{
    return strcmp(pattern, "*") == 0 || strcmp(pattern, id) == 0;
}

int refbus_directory_allowed(const refbus_directory *d, const char *from, const char *to)
{
    int allow = 0;
    if (!agency(d, from) || !agency(d, to))
        return 0;
    for (size_t i = 0; i < d->dd.n_rules; i++) {
        const refbus_dd_rule *r = &d->dd.rules[i];
        if (!matches(r->from, from) || !matches(r->to, to))
            continue;
        if (!r->allow)
            return 0; /* deny wins */
        allow = 1;
    }
    return allow;
}

const char *refbus_directory_broker_id(const refbus_directory *d)
{
    return d->dd.has_broker ? d->dd.broker.id : NULL;
}

const uint8_t *refbus_directory_broker_sign_pk(const refbus_directory *d)
{
    const refbus_dir_key *k = d->dd.has_broker ? active_of(&d->dd.broker) : NULL;
    return k ? k->sign_pk : NULL;
}

const uint8_t *refbus_directory_broker_curve_pk(const refbus_directory *d)
{
    const refbus_dir_key *k = d->dd.has_broker ? active_of(&d->dd.broker) : NULL;
    return k ? k->curve_pk : NULL;
}

int refbus_directory_broker_key(const refbus_directory *d, uint32_t epoch,
                                const refbus_dir_key **out)
{
    if (!d->dd.has_broker)
        return REFBUS_EUNKNOWNPEER;
    const refbus_dir_key *k = epoch_key(&d->dd.broker, epoch);
    if (!k)
        return REFBUS_ENOTFOUND;
    *out = k;
    return 0;
}

size_t refbus_directory_broker_key_count(const refbus_directory *d)
{
    return d->dd.has_broker ? d->dd.broker.n_keys : 0;
}

const refbus_dir_key *refbus_directory_broker_key_at(const refbus_directory *d, size_t i)
{
    return i < refbus_directory_broker_key_count(d) ? &d->dd.broker.keys[i] : NULL;
}

size_t refbus_directory_broker_endpoint_count(const refbus_directory *d)
{
    return d->dd.n_endpoints;
}

const char *refbus_directory_broker_endpoint(const refbus_directory *d, size_t i)
{
    return i < d->dd.n_endpoints ? d->dd.endpoints[i] : NULL;
}

size_t refbus_directory_agency_count(const refbus_directory *d)
{
    return d->dd.n_agencies;
}

const char *refbus_directory_agency_id(const refbus_directory *d, size_t i)
{
    return i < d->dd.n_agencies ? d->dd.agencies[i].id : NULL;
}

const char *refbus_directory_agency_name(const refbus_directory *d, size_t i)
{
    return i < d->dd.n_agencies ? d->dd.agencies[i].name : NULL;
}

enum refbus_agency_kind refbus_directory_agency_kind(const refbus_directory *d, size_t i)
{
    return i < d->dd.n_agencies ? (enum refbus_agency_kind)d->dd.agencies[i].kind
                                : (enum refbus_agency_kind)0;
}

size_t refbus_directory_agency_key_count(const refbus_directory *d, size_t i)
{
    return i < d->dd.n_agencies ? d->dd.agencies[i].n_keys : 0;
}

const refbus_dir_key *refbus_directory_agency_key_at(const refbus_directory *d, size_t i, size_t k)
{
    return k < refbus_directory_agency_key_count(d, i) ? &d->dd.agencies[i].keys[k] : NULL;
}

int refbus_directory_agency_index(const refbus_directory *d, const char *id, size_t *i)
{
    long n = refbus_dd_find(&d->dd, id);
    if (n < 0)
        return REFBUS_EUNKNOWNAGENCY;
    *i = (size_t)n;
    return 0;
}

size_t refbus_directory_policy_count(const refbus_directory *d)
{
    return d->dd.n_rules;
}

void refbus_directory_policy_rule(const refbus_directory *d, size_t i, const char **from,
                                  const char **to, int *allow)
{
    const refbus_dd_rule *r = i < d->dd.n_rules ? &d->dd.rules[i] : NULL;
    if (from)
        *from = r ? r->from : NULL;
    if (to)
        *to = r ? r->to : NULL;
    if (allow)
        *allow = r ? r->allow : 0;
}
