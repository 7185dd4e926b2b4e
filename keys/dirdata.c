/* The directory's one parser and one encoder (see dirdata.h). Parsing insists on the canonical
 * protobuf encoding (re-encoding gives back the same bytes) and then on every rule of
 * docs/KEYS-FORMAT.md section 3; unknown fields are allowed (signed, so only the root can add
 * them) and ignored, which is how the format grows. */
#include "keys/dirdata.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "directory.pb-c.h"
#include "proto/envelope.h"
#include "proto/pbutil.h"

void refbus_dd_agency_clear(refbus_dd_agency *a)
{
    if (!a)
        return;
    free(a->name);
    free(a->keys);
    memset(a, 0, sizeof *a);
}

void refbus_dd_clear(refbus_dd *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_agencies; i++)
        refbus_dd_agency_clear(&d->agencies[i]);
    free(d->agencies);
    refbus_dd_agency_clear(&d->broker);
    for (size_t i = 0; i < d->n_endpoints; i++)
        free(d->endpoints[i]);
    free(d->endpoints);
    free(d->rules);
    memset(d, 0, sizeof *d);
}

int refbus_dd_text_valid(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n;) {
        uint32_t c = p[i], min;
        size_t k;
        if (c < 0x80) {
            k = 0;
            min = 0;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, c &= 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, c &= 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, c &= 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (k > 0 && i + k >= n)
            return 0; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return 0;
            c = (c << 6) | (p[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return 0; /* overlong, out of range, surrogate */
        if (c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f))
            return 0; /* C0 / DEL / C1 controls */
        if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0x2028 ||
            c == 0x2029)
            return 0; /* bidi overrides and isolates, line/paragraph separators */
        i += k + 1;
    }
    return 1;
}

long refbus_dd_find(const refbus_dd *d, const char *id)
{
    size_t lo = 0, hi = d->n_agencies;
    if (!id)
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->agencies[mid].id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* The rules for one agency's (or the broker's) list of key epochs. */
static int validate_keys(const refbus_dd_agency *a)
{
    if (a->n_keys == 0 || a->n_keys > REFBUS_DIR_MAX_KEYS)
        return REFBUS_EMALFORMED;
    for (size_t k = 0; k < a->n_keys; k++) {
        const refbus_dir_key *key = &a->keys[k];
        if (key->epoch == 0 || (k > 0 && key->epoch <= a->keys[k - 1].epoch))
            return REFBUS_EMALFORMED;
        if (!crypto_core_ed25519_is_valid_point(key->sign_pk) ||
            all_zero(key->enc_pk, crypto_box_PUBLICKEYBYTES) ||
            all_zero(key->curve_pk, crypto_box_PUBLICKEYBYTES))
            return REFBUS_EKEYFORMAT;
        switch (key->status) {
        case REFBUS_KEY_ACTIVE:
            if (k != a->n_keys - 1) /* only the newest epoch can be the active one */
                return REFBUS_EMALFORMED;
            /* fall through */
        case REFBUS_KEY_RETIRED:
            if (key->revoked_reason[0] != 0)
                return REFBUS_EMALFORMED;
            break;
        case REFBUS_KEY_REVOKED:
            if (!refbus_dd_text_valid(key->revoked_reason, REFBUS_DIR_REASON_MAX))
                return REFBUS_EMALFORMED;
            break;
        default: return REFBUS_EMALFORMED;
        }
    }
    return 0;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, 32);
}

/* No two keys of the same type anywhere in the directory are equal: a CURVE key names exactly
 * one peer, a signing key exactly one sender. O(n log n). */
static int keys_unique(const refbus_dd *d)
{
    size_t total = d->broker.n_keys;
    for (size_t i = 0; i < d->n_agencies; i++)
        total += d->agencies[i].n_keys;
    if (total < 2)
        return 0;
    const uint8_t **v = malloc(total * sizeof *v);
    if (!v)
        return REFBUS_ENOMEM;
    int rc = 0;
    for (int type = 0; type < 3 && rc == 0; type++) {
        size_t n = 0;
        for (size_t i = 0; i <= d->n_agencies; i++) {
            const refbus_dd_agency *a = i < d->n_agencies ? &d->agencies[i] : &d->broker;
            for (size_t k = 0; k < a->n_keys; k++)
                v[n++] = type == 0   ? a->keys[k].sign_pk
                         : type == 1 ? a->keys[k].enc_pk
                                     : a->keys[k].curve_pk;
        }
        qsort(v, n, sizeof *v, cmp32);
        for (size_t i = 1; i < n; i++)
            if (memcmp(v[i - 1], v[i], 32) == 0)
                rc = REFBUS_EMALFORMED;
    }
    free(v);
    return rc;
}

static int endpoint_valid(const char *e)
{
    size_t n = strlen(e);
    if (n == 0 || n > REFBUS_DIR_ENDPOINT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (e[i] < 0x21 || e[i] > 0x7e)
            return 0;
    return 1;
}

static int rule_end_valid(const refbus_dd *d, const char *s)
{
    if (strcmp(s, "*") == 0)
        return 0;
    if (!refbus_agency_id_valid(s))
        return REFBUS_EBADID;
    return refbus_dd_find(d, s) >= 0 ? 0 : REFBUS_EMALFORMED;
}

int refbus_dd_validate(const refbus_dd *d)
{
    int rc;
    if (d->version != REFBUS_DIRECTORY_VERSION)
        return REFBUS_EVERSION;
    if (d->has_root_pk && !crypto_core_ed25519_is_valid_point(d->root_pk))
        return REFBUS_EKEYFORMAT;
    if (d->n_agencies > REFBUS_DIR_MAX_AGENCIES || d->n_rules > REFBUS_DIR_MAX_RULES ||
        d->n_endpoints > REFBUS_DIR_MAX_ENDPOINTS)
        return REFBUS_EMALFORMED;
    for (size_t i = 0; i < d->n_agencies; i++) {
        const refbus_dd_agency *a = &d->agencies[i];
        if (!refbus_agency_id_valid(a->id))
            return REFBUS_EBADID;
        if (i > 0 && strcmp(d->agencies[i - 1].id, a->id) >= 0)
            return REFBUS_EMALFORMED; /* unsorted or duplicate */
        if (!refbus_dd_text_valid(a->name, REFBUS_DIR_NAME_MAX) || a->kind < REFBUS_AGENCY_CAC ||
            a->kind > REFBUS_AGENCY_OTHER)
            return REFBUS_EMALFORMED;
        if ((rc = validate_keys(a)) != 0)
            return rc;
    }
    if (d->has_broker) {
        if (!refbus_agency_id_valid(d->broker.id))
            return REFBUS_EBADID;
        if (refbus_dd_find(d, d->broker.id) >= 0 || d->broker.name || d->broker.kind)
            return REFBUS_EMALFORMED;
        if ((rc = validate_keys(&d->broker)) != 0)
            return rc;
        for (size_t i = 0; i < d->n_endpoints; i++)
            if (!endpoint_valid(d->endpoints[i]))
                return REFBUS_EMALFORMED;
    } else if (d->n_endpoints || d->broker.n_keys || d->broker.id[0]) {
        return REFBUS_EMALFORMED;
    }
    if (d->has_reanchor &&
        (d->reanchor.size == 0 || !refbus_dd_text_valid(d->reanchor.reason, REFBUS_DIR_REASON_MAX)))
        return REFBUS_EMALFORMED;
    for (size_t i = 0; i < d->n_rules; i++) {
        if ((rc = rule_end_valid(d, d->rules[i].from)) != 0 ||
            (rc = rule_end_valid(d, d->rules[i].to)) != 0)
            return rc;
    }
    return keys_unique(d);
}

/* 1 when `m` re-encodes to exactly `bytes` (unknown fields are re-encoded too, at the end).
 * Allocation-free, so 0 is always a property of the bytes. */
static int canonical(const ProtobufCMessage *m, const uint8_t *bytes, size_t len)
{
    return refbus_pb_reencodes(m, bytes, len);
}

static int copy_id(char dst[65], const char *src)
{
    size_t n = strlen(src);
    if (n > REFBUS_AGENCY_ID_MAX)
        return REFBUS_EBADID;
    memcpy(dst, src, n + 1);
    return 0;
}

static int copy_keys(refbus_dd_agency *a, Refbus__V1__AgencyKey **keys, size_t n)
{
    if (n > REFBUS_DIR_MAX_KEYS)
        return REFBUS_EMALFORMED;
    a->keys = calloc(n ? n : 1, sizeof *a->keys);
    if (!a->keys)
        return REFBUS_ENOMEM;
    a->n_keys = n;
    for (size_t k = 0; k < n; k++) {
        const Refbus__V1__AgencyKey *src = keys[k];
        refbus_dir_key *dst = &a->keys[k];
        if (src->sign_pk.len != crypto_sign_PUBLICKEYBYTES ||
            src->enc_pk.len != crypto_box_PUBLICKEYBYTES ||
            src->curve_pk.len != crypto_box_PUBLICKEYBYTES)
            return REFBUS_EKEYFORMAT;
        if (strlen(src->revoked_reason) > REFBUS_DIR_REASON_MAX)
            return REFBUS_EMALFORMED;
        dst->epoch = src->epoch;
        memcpy(dst->sign_pk, src->sign_pk.data, crypto_sign_PUBLICKEYBYTES);
        memcpy(dst->enc_pk, src->enc_pk.data, crypto_box_PUBLICKEYBYTES);
        memcpy(dst->curve_pk, src->curve_pk.data, crypto_box_PUBLICKEYBYTES);
        dst->status = (enum refbus_key_status)src->status;
        dst->created_ms = src->created_ms;
        dst->status_changed_ms = src->status_changed_ms;
        strcpy(dst->revoked_reason, src->revoked_reason);
    }
    return 0;
}

static int copy_in(refbus_dd *d, const Refbus__V1__Directory *m)
{
    int rc;
    d->version = m->version;
    d->serial = m->serial;
    d->issued_ms = m->issued_ms;
    if (m->root_pk.len != 0 && m->root_pk.len != crypto_sign_PUBLICKEYBYTES)
        return REFBUS_EKEYFORMAT;
    if (m->root_pk.len == crypto_sign_PUBLICKEYBYTES) {
        d->has_root_pk = 1;
        memcpy(d->root_pk, m->root_pk.data, crypto_sign_PUBLICKEYBYTES);
    }
    if (m->n_agencies > REFBUS_DIR_MAX_AGENCIES || m->n_policy > REFBUS_DIR_MAX_RULES)
        return REFBUS_EMALFORMED;
    d->agencies = calloc(m->n_agencies ? m->n_agencies : 1, sizeof *d->agencies);
    d->rules = calloc(m->n_policy ? m->n_policy : 1, sizeof *d->rules);
    if (!d->agencies || !d->rules)
        return REFBUS_ENOMEM;
    for (size_t i = 0; i < m->n_agencies; i++) {
        const Refbus__V1__Agency *src = m->agencies[i];
        refbus_dd_agency *a = &d->agencies[i];
        d->n_agencies = i + 1;
        if ((rc = copy_id(a->id, src->id)) != 0)
            return rc;
        if (strlen(src->name) > REFBUS_DIR_NAME_MAX)
            return REFBUS_EMALFORMED;
        if (!(a->name = strdup(src->name)))
            return REFBUS_ENOMEM;
        a->kind = (uint32_t)src->kind;
        if ((rc = copy_keys(a, src->keys, src->n_keys)) != 0)
            return rc;
    }
    if (m->broker) {
        const Refbus__V1__BrokerEntry *b = m->broker;
        d->has_broker = 1;
        if ((rc = copy_id(d->broker.id, b->id)) != 0)
            return rc;
        if ((rc = copy_keys(&d->broker, b->keys, b->n_keys)) != 0)
            return rc;
        if (b->n_endpoints > REFBUS_DIR_MAX_ENDPOINTS)
            return REFBUS_EMALFORMED;
        d->endpoints = calloc(b->n_endpoints ? b->n_endpoints : 1, sizeof *d->endpoints);
        if (!d->endpoints)
            return REFBUS_ENOMEM;
        for (size_t i = 0; i < b->n_endpoints; i++) {
            d->n_endpoints = i + 1;
            if (!(d->endpoints[i] = strdup(b->endpoints[i])))
                return REFBUS_ENOMEM;
        }
    }
    for (size_t i = 0; i < m->n_policy; i++) {
        d->n_rules = i + 1;
        if (strcmp(m->policy[i]->from, "*") != 0 &&
            (rc = copy_id(d->rules[i].from, m->policy[i]->from)) != 0)
            return rc;
        if (strcmp(m->policy[i]->to, "*") != 0 &&
            (rc = copy_id(d->rules[i].to, m->policy[i]->to)) != 0)
            return rc;
        if (strcmp(m->policy[i]->from, "*") == 0)
            strcpy(d->rules[i].from, "*");
        if (strcmp(m->policy[i]->to, "*") == 0)
            strcpy(d->rules[i].to, "*");
        d->rules[i].allow = m->policy[i]->allow ? 1 : 0;
    }
    if (m->reanchor) {
        const Refbus__V1__Reanchor *r = m->reanchor;
        if (r->root.len != REFBUS_MERKLE_HASH_BYTES || strlen(r->reason) > REFBUS_DIR_REASON_MAX)
            return REFBUS_EMALFORMED;
        d->has_reanchor = 1;
        d->reanchor.size = r->size;
        memcpy(d->reanchor.root, r->root.data, REFBUS_MERKLE_HASH_BYTES);
        d->reanchor.time_ms = r->time_ms;
        strcpy(d->reanchor.reason, r->reason);
    }
    return 0;
}

int refbus_dd_parse(refbus_dd *out, const uint8_t *bytes, size_t len)
{
    refbus_dd d;
    memset(&d, 0, sizeof d);
    if (!bytes && len)
        return REFBUS_EMALFORMED;
    Refbus__V1__Directory *m = NULL;
    int rc = refbus_pb_unpack(&m, &refbus__v1__directory__descriptor, bytes, len);
    if (rc) /* EMALFORMED, or ENOMEM: the parser ran out of memory, the bytes may be fine */
        goto out;
    rc = REFBUS_EMALFORMED;
    if (m->version != REFBUS_DIRECTORY_VERSION) {
        rc = REFBUS_EVERSION;
        goto out;
    }
    if (!canonical(&m->base, bytes, len))
        goto out;
    if ((rc = copy_in(&d, m)) != 0 || (rc = refbus_dd_validate(&d)) != 0)
        goto out;
    *out = d;
    memset(&d, 0, sizeof d);
out:
    refbus_dd_clear(&d);
    if (m)
        refbus__v1__directory__free_unpacked(m, NULL);
    return rc;
}

static void key_out(Refbus__V1__AgencyKey *dst, const refbus_dir_key *k)
{
    refbus__v1__agency_key__init(dst);
    dst->epoch = k->epoch;
    dst->sign_pk.data = (uint8_t *)k->sign_pk;
    dst->sign_pk.len = crypto_sign_PUBLICKEYBYTES;
    dst->enc_pk.data = (uint8_t *)k->enc_pk;
    dst->enc_pk.len = crypto_box_PUBLICKEYBYTES;
    dst->curve_pk.data = (uint8_t *)k->curve_pk;
    dst->curve_pk.len = crypto_box_PUBLICKEYBYTES;
    dst->status = (Refbus__V1__KeyStatus)k->status;
    dst->created_ms = k->created_ms;
    dst->status_changed_ms = k->status_changed_ms;
    dst->revoked_reason = (char *)k->revoked_reason;
}

int refbus_dd_pack(const refbus_dd *d, uint8_t **out, size_t *len)
{
    int rc = refbus_dd_validate(d);
    return rc != 0 ? rc : refbus_dd_encode(d, out, len);
}

int refbus_dd_encode(const refbus_dd *d, uint8_t **out, size_t *len)
{
    int rc;
    size_t nk = d->broker.n_keys, ki = 0;
    for (size_t i = 0; i < d->n_agencies; i++)
        nk += d->agencies[i].n_keys;
    /* The protobuf-c structs only point at d's memory: nothing is copied. */
    Refbus__V1__Directory m = REFBUS__V1__DIRECTORY__INIT;
    Refbus__V1__BrokerEntry b = REFBUS__V1__BROKER_ENTRY__INIT;
    Refbus__V1__Reanchor ra = REFBUS__V1__REANCHOR__INIT;
    Refbus__V1__Agency *ag = calloc(d->n_agencies + 1, sizeof *ag);
    Refbus__V1__Agency **agp = calloc(d->n_agencies + 1, sizeof *agp);
    Refbus__V1__AgencyKey *ks = calloc(nk + 1, sizeof *ks);
    Refbus__V1__AgencyKey **ksp = calloc(nk + 1, sizeof *ksp);
    Refbus__V1__PolicyRule *rs = calloc(d->n_rules + 1, sizeof *rs);
    Refbus__V1__PolicyRule **rsp = calloc(d->n_rules + 1, sizeof *rsp);
    rc = REFBUS_ENOMEM;
    if (!ag || !agp || !ks || !ksp || !rs || !rsp)
        goto out;
    for (size_t i = 0; i < nk; i++)
        ksp[i] = &ks[i];
    m.version = d->version;
    m.serial = d->serial;
    m.issued_ms = d->issued_ms;
    if (d->has_root_pk) {
        m.root_pk.data = (uint8_t *)d->root_pk;
        m.root_pk.len = crypto_sign_PUBLICKEYBYTES;
    }
    for (size_t i = 0; i < d->n_agencies; i++) {
        const refbus_dd_agency *a = &d->agencies[i];
        refbus__v1__agency__init(&ag[i]);
        agp[i] = &ag[i];
        ag[i].id = (char *)a->id;
        ag[i].name = a->name;
        ag[i].kind = (Refbus__V1__AgencyKind)a->kind;
        ag[i].keys = &ksp[ki];
        ag[i].n_keys = a->n_keys;
        for (size_t k = 0; k < a->n_keys; k++)
            key_out(&ks[ki++], &a->keys[k]);
    }
    m.agencies = agp;
    m.n_agencies = d->n_agencies;
    if (d->has_broker) {
        b.id = (char *)d->broker.id;
        b.endpoints = d->endpoints;
        b.n_endpoints = d->n_endpoints;
        b.keys = &ksp[ki];
        b.n_keys = d->broker.n_keys;
        for (size_t k = 0; k < d->broker.n_keys; k++)
            key_out(&ks[ki++], &d->broker.keys[k]);
        m.broker = &b;
    }
    for (size_t i = 0; i < d->n_rules; i++) {
        refbus__v1__policy_rule__init(&rs[i]);
        rsp[i] = &rs[i];
        rs[i].from = (char *)d->rules[i].from;
        rs[i].to = (char *)d->rules[i].to;
        rs[i].allow = d->rules[i].allow ? 1 : 0;
    }
    m.policy = rsp;
    m.n_policy = d->n_rules;
    if (d->has_reanchor) {
        ra.size = d->reanchor.size;
        ra.root.data = (uint8_t *)d->reanchor.root;
        ra.root.len = REFBUS_MERKLE_HASH_BYTES;
        ra.time_ms = d->reanchor.time_ms;
        ra.reason = (char *)d->reanchor.reason;
        m.reanchor = &ra;
    }
    if (protobuf_c_message_get_packed_size(&m.base) > REFBUS_DIRECTORY_MAX_BYTES - 128) {
        rc = REFBUS_ETOOLARGE;
        goto out;
    }
    rc = refbus_pb_pack(out, len, &m.base);
out:
    free(rsp);
    free(rs);
    free(ksp);
    free(ks);
    free(agp);
    free(ag);
    return rc;
}

int refbus_dd_split_signed(const uint8_t *bytes, size_t len, const uint8_t **dir, size_t *dir_len,
                           uint8_t sig[crypto_sign_BYTES])
{
    if (len > REFBUS_DIRECTORY_MAX_BYTES)
        return REFBUS_ETOOLARGE;
    if (!bytes && len)
        return REFBUS_EMALFORMED;
    Refbus__V1__SignedDirectory *s = NULL;
    int rc = refbus_pb_unpack(&s, &refbus__v1__signed_directory__descriptor, bytes, len);
    if (rc)
        goto out;
    rc = REFBUS_EMALFORMED;
    if (s->base.n_unknown_fields != 0 || !canonical(&s->base, bytes, len) ||
        s->signature.len != 64 || s->directory.len == 0)
        goto out;
    /* Canonical form: 0x0a varint(len) directory 0x12 0x40 signature. Point into `bytes` so
     * that what is verified is the caller's buffer itself. */
    size_t off = 1, v = s->directory.len;
    while (v >= 0x80) {
        v >>= 7;
        off++;
    }
    off++;
    if (off + s->directory.len + 2 + 64 != len ||
        memcmp(bytes + off, s->directory.data, s->directory.len) != 0)
        goto out;
    *dir = bytes + off;
    *dir_len = s->directory.len;
    memcpy(sig, s->signature.data, crypto_sign_BYTES);
    rc = 0;
out:
    if (s)
        refbus__v1__signed_directory__free_unpacked(s, NULL);
    return rc;
}

int refbus_dd_join_signed(uint8_t **out, size_t *out_len, const uint8_t *dir, size_t dir_len,
                          const uint8_t sig[crypto_sign_BYTES])
{
    Refbus__V1__SignedDirectory s = REFBUS__V1__SIGNED_DIRECTORY__INIT;
    s.directory.data = (uint8_t *)dir;
    s.directory.len = dir_len;
    s.signature.data = (uint8_t *)sig;
    s.signature.len = crypto_sign_BYTES;
    return refbus_pb_pack(out, out_len, &s.base);
}

int refbus_dd_sig_input(uint8_t **out, size_t *out_len, const uint8_t *dir, size_t dir_len)
{
    size_t dl = strlen(REFBUS_DIR_SIG_DOMAIN);
    uint8_t *m = malloc(dl + 4 + dir_len);
    if (!m)
        return REFBUS_ENOMEM;
    memcpy(m, REFBUS_DIR_SIG_DOMAIN, dl);
    refbus_put_u32be(m + dl, (uint32_t)dir_len);
    memcpy(m + dl + 4, dir, dir_len);
    *out = m;
    *out_len = dl + 4 + dir_len;
    return 0;
}
