/* The administrators' edits to the working directory: enrol an agency or the broker, rotate,
 * revoke, set the routing policy. Each one changes the in-memory state, encodes it (which
 * applies every directory rule), writes the new bundle if there is one (exclusively: never
 * over an existing file), then the state; on any failure the state is reloaded from disk and a
 * bundle written by this call is removed, so a refused change leaves nothing behind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "keys/admin_int.h"
#include "proto/envelope.h"

static refbus_dd_agency *holder(refbus_admin *a, const char *id)
{
    long i = refbus_dd_find(&a->dd, id);
    if (i >= 0)
        return &a->dd.agencies[i];
    if (id && a->dd.has_broker && strcmp(a->dd.broker.id, id) == 0)
        return &a->dd.broker;
    return NULL;
}

static void key_from(refbus_dir_key *k, const refbus_epoch_keys *e, uint64_t now)
{
    memset(k, 0, sizeof *k);
    k->epoch = e->epoch;
    memcpy(k->sign_pk, e->sign_pk, crypto_sign_PUBLICKEYBYTES);
    memcpy(k->enc_pk, e->enc_pk, crypto_box_PUBLICKEYBYTES);
    memcpy(k->curve_pk, e->curve_pk, crypto_box_PUBLICKEYBYTES);
    k->status = REFBUS_KEY_ACTIVE;
    k->created_ms = now;
    k->status_changed_ms = now;
}

/* The edit is in a->dd: check it, write the bundle, then the state; or undo everything. */
static int save_with_bundle(refbus_admin *a, const refbus_keystore *ks, const char *bundle,
                            const char *pass, size_t pass_len, const refbus_kdf *kdf)
{
    uint8_t *state = NULL;
    size_t len = 0;
    int rc = refbus_admin_pack_state(a, &state, &len);
    if (rc != 0)
        goto out;
    if ((rc = refbus_keystore_save(ks, bundle, pass, pass_len, kdf, 1)) != 0) {
        if (rc == REFBUS_EEXIST)
            log_error("%s already exists: not replacing it", bundle);
        goto out;
    }
    if ((rc = refbus_admin_write_state(a, state, len)) != 0)
        unlink(bundle);
out:
    free(state);
    if (rc != 0)
        refbus_admin_revert(a);
    return rc;
}

/* New ids also start with a letter or digit (readers accept any [a-z0-9.-]{1,64}): an id
 * starting with '-' reads as an option on every command line, "root" names the root's store. */
static int id_free(refbus_admin *a, const char *id)
{
    if (!refbus_agency_id_valid(id) || id[0] == '-' || id[0] == '.' || strcmp(id, "root") == 0)
        return REFBUS_EBADID;
    if (holder(a, id)) {
        log_error("%s is already enrolled", id);
        return REFBUS_EEXIST;
    }
    return 0;
}

int refbus_admin_agency_add(refbus_admin *a, const char *id, const char *name,
                            enum refbus_agency_kind kind, const char *bundle, const char *pass,
                            size_t pass_len, const refbus_kdf *kdf)
{
    refbus_keystore *ks = NULL;
    int rc = id_free(a, id);
    if (rc != 0)
        return rc;
    if (!refbus_dd_text_valid(name, REFBUS_DIR_NAME_MAX) || !refbus_agency_kind_name(kind) ||
        !bundle || !pass || pass_len == 0 || a->dd.n_agencies >= REFBUS_DIR_MAX_AGENCIES)
        return REFBUS_EINVAL;
    if ((rc = refbus_keystore_generate(&ks, REFBUS_KEYSTORE_AGENCY, id, a->dd.root_pk, 1)) != 0)
        return rc;
    refbus_dd_agency ag = {0};
    snprintf(ag.id, sizeof ag.id, "%s", id);
    ag.kind = (uint32_t)kind;
    ag.name = strdup(name);
    ag.keys = calloc(1, sizeof *ag.keys);
    refbus_dd_agency *grown = realloc(a->dd.agencies, (a->dd.n_agencies + 1) * sizeof *grown);
    if (!ag.name || !ag.keys || !grown) {
        if (grown)
            a->dd.agencies = grown;
        refbus_dd_agency_clear(&ag);
        rc = REFBUS_ENOMEM;
        goto out;
    }
    a->dd.agencies = grown;
    ag.n_keys = 1;
    key_from(&ag.keys[0], refbus_keystore_current(ks), refbus_now_ms());
    size_t at = 0;
    while (at < a->dd.n_agencies && strcmp(a->dd.agencies[at].id, id) < 0)
        at++;
    memmove(&grown[at + 1], &grown[at], (a->dd.n_agencies - at) * sizeof *grown);
    grown[at] = ag;
    a->dd.n_agencies++;
    rc = save_with_bundle(a, ks, bundle, pass, pass_len, kdf);
out:
    refbus_keystore_free(&ks);
    return rc;
}

static int endpoint_ok(const char *e)
{
    size_t n = e ? strlen(e) : 0;
    if (n == 0 || n > REFBUS_DIR_ENDPOINT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (e[i] < 0x21 || e[i] > 0x7e)
            return 0;
    return 1;
}

int refbus_admin_broker_add(refbus_admin *a, const char *id, const char *const *endpoints,
                            size_t n_endpoints, const char *bundle, const char *pass,
                            size_t pass_len, const refbus_kdf *kdf)
{
    refbus_keystore *ks = NULL;
    int rc = id_free(a, id);
    if (rc != 0)
        return rc;
    if (a->dd.has_broker) {
        log_error("a broker (%s) is already enrolled", a->dd.broker.id);
        return REFBUS_EEXIST;
    }
    if (!bundle || !pass || pass_len == 0 || n_endpoints > REFBUS_DIR_MAX_ENDPOINTS)
        return REFBUS_EINVAL;
    for (size_t i = 0; i < n_endpoints; i++)
        if (!endpoint_ok(endpoints[i]))
            return REFBUS_EINVAL;
    if ((rc = refbus_keystore_generate(&ks, REFBUS_KEYSTORE_BROKER, id, a->dd.root_pk, 1)) != 0)
        return rc;
    a->dd.has_broker = 1;
    snprintf(a->dd.broker.id, sizeof a->dd.broker.id, "%s", id);
    a->dd.broker.keys = calloc(1, sizeof *a->dd.broker.keys);
    a->dd.endpoints = calloc(n_endpoints + 1, sizeof *a->dd.endpoints);
    rc = REFBUS_ENOMEM;
    if (!a->dd.broker.keys || !a->dd.endpoints)
        goto fail;
    a->dd.broker.n_keys = 1;
    key_from(&a->dd.broker.keys[0], refbus_keystore_current(ks), refbus_now_ms());
    for (size_t i = 0; i < n_endpoints; i++) {
        if (!(a->dd.endpoints[i] = strdup(endpoints[i])))
            goto fail;
        a->dd.n_endpoints = i + 1;
    }
    rc = save_with_bundle(a, ks, bundle, pass, pass_len, kdf);
    refbus_keystore_free(&ks);
    return rc;
fail:
    refbus_admin_revert(a);
    refbus_keystore_free(&ks);
    return rc;
}

/* The old bundle must be this holder's newest: same id, role, root, and newest keys. */
static int bundle_matches(const refbus_admin *a, const refbus_dd_agency *h, int is_broker,
                          const refbus_keystore *ks, const char *path)
{
    const refbus_epoch_keys *cur = refbus_keystore_current(ks);
    const refbus_dir_key *last = &h->keys[h->n_keys - 1];
    const char *why = NULL;
    if (strcmp(refbus_keystore_id(ks), h->id) != 0)
        why = "it belongs to another agency";
    else if (refbus_keystore_is_broker(ks) != is_broker)
        why = "it is of the wrong kind (agency / broker)";
    else if (sodium_memcmp(refbus_keystore_root_pk(ks), a->dd.root_pk,
                           crypto_sign_PUBLICKEYBYTES) != 0)
        why = "it was issued under another root key";
    else if (cur->epoch != last->epoch ||
             memcmp(cur->sign_pk, last->sign_pk, crypto_sign_PUBLICKEYBYTES) != 0 ||
             memcmp(cur->enc_pk, last->enc_pk, crypto_box_PUBLICKEYBYTES) != 0 ||
             memcmp(cur->curve_pk, last->curve_pk, crypto_box_PUBLICKEYBYTES) != 0)
        why = "it is not the newest bundle (its newest epoch is not the directory's)";
    if (!why)
        return 0;
    log_error("%s: cannot rotate %s from this bundle: %s", path, h->id, why);
    return REFBUS_EINVAL;
}

int refbus_admin_rotate(refbus_admin *a, const char *id, const char *old_bundle,
                        const char *old_pass, size_t old_pass_len, const char *new_bundle,
                        const char *new_pass, size_t new_pass_len, const refbus_kdf *kdf,
                        uint32_t *epoch)
{
    refbus_keystore *old = NULL, *ks = NULL;
    refbus_dd_agency *h = holder(a, id);
    if (!h)
        return REFBUS_EUNKNOWNAGENCY;
    int is_broker = h == &a->dd.broker;
    if (!old_bundle || !new_bundle || !new_pass || new_pass_len == 0)
        return REFBUS_EINVAL;
    int rc = refbus_keystore_open(&old, old_bundle, old_pass, old_pass_len);
    if (rc != 0)
        return rc;
    if ((rc = bundle_matches(a, h, is_broker, old, old_bundle)) != 0)
        goto out;
    uint32_t next = h->keys[h->n_keys - 1].epoch + 1;
    if (next == 0 || h->n_keys >= REFBUS_DIR_MAX_KEYS) {
        rc = REFBUS_EINVAL;
        goto out;
    }
    if ((rc = refbus_keystore_rotate(&ks, old, next)) != 0)
        goto out;
    refbus_dir_key *keys = realloc(h->keys, (h->n_keys + 1) * sizeof *keys);
    if (!keys) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    h->keys = keys;
    uint64_t now = refbus_now_ms();
    refbus_dir_key *prev = &keys[h->n_keys - 1];
    if (prev->status == REFBUS_KEY_ACTIVE) { /* a revoked one stays revoked */
        prev->status = REFBUS_KEY_RETIRED;
        prev->status_changed_ms = now;
    }
    key_from(&keys[h->n_keys], refbus_keystore_current(ks), now);
    h->n_keys++;
    if ((rc = save_with_bundle(a, ks, new_bundle, new_pass, new_pass_len, kdf)) == 0 && epoch)
        *epoch = next;
out:
    refbus_keystore_free(&ks);
    refbus_keystore_free(&old);
    return rc;
}

static void revoke_one(refbus_dir_key *k, const char *reason, uint64_t now)
{
    k->status = REFBUS_KEY_REVOKED;
    k->status_changed_ms = now;
    snprintf(k->revoked_reason, sizeof k->revoked_reason, "%s", reason);
}

int refbus_admin_revoke(refbus_admin *a, const char *id, uint32_t epoch, int all,
                        const char *reason, unsigned *count)
{
    refbus_dd_agency *h = holder(a, id);
    unsigned n = 0;
    uint64_t now = refbus_now_ms();
    if (!h)
        return REFBUS_EUNKNOWNAGENCY;
    if (!refbus_dd_text_valid(reason, REFBUS_DIR_REASON_MAX))
        return REFBUS_EINVAL;
    if (all) {
        for (size_t k = 0; k < h->n_keys; k++)
            if (h->keys[k].status != REFBUS_KEY_REVOKED) {
                revoke_one(&h->keys[k], reason, now);
                n++;
            }
    } else {
        refbus_dir_key *k = NULL;
        for (size_t i = 0; i < h->n_keys; i++)
            if (h->keys[i].epoch == epoch || (epoch == 0 && i == h->n_keys - 1))
                k = &h->keys[i];
        if (!k)
            return REFBUS_ENOTFOUND;
        if (k->status != REFBUS_KEY_REVOKED) {
            revoke_one(k, reason, now);
            n++;
        }
    }
    if (n == 0)
        return REFBUS_EREVOKED; /* nothing left to revoke */
    int rc = refbus_admin_commit(a);
    if (rc == 0 && count)
        *count = n;
    return rc;
}

static int rule_end(refbus_admin *a, const char *s)
{
    if (s && strcmp(s, "*") == 0)
        return 0;
    if (!refbus_agency_id_valid(s))
        return REFBUS_EBADID;
    return refbus_dd_find(&a->dd, s) >= 0 ? 0 : REFBUS_EUNKNOWNAGENCY;
}

static int rule_cmp(const refbus_dd_rule *r, const char *from, const char *to)
{
    int c = strcmp(r->from, from);
    return c ? c : strcmp(r->to, to);
}

int refbus_admin_policy(refbus_admin *a, const char *from, const char *to,
                        enum refbus_policy_action action)
{
    int rc;
    if ((rc = rule_end(a, from)) != 0 || (rc = rule_end(a, to)) != 0)
        return rc;
    size_t at = 0;
    while (at < a->dd.n_rules && rule_cmp(&a->dd.rules[at], from, to) < 0)
        at++;
    int found = at < a->dd.n_rules && rule_cmp(&a->dd.rules[at], from, to) == 0;
    if (action == REFBUS_POLICY_REMOVE) {
        if (!found)
            return REFBUS_ENOTFOUND;
        memmove(&a->dd.rules[at], &a->dd.rules[at + 1],
                (a->dd.n_rules - at - 1) * sizeof *a->dd.rules);
        a->dd.n_rules--;
        return refbus_admin_commit(a);
    }
    if (action != REFBUS_POLICY_ALLOW && action != REFBUS_POLICY_DENY)
        return REFBUS_EINVAL;
    if (!found) {
        if (a->dd.n_rules >= REFBUS_DIR_MAX_RULES)
            return REFBUS_EINVAL;
        refbus_dd_rule *r = realloc(a->dd.rules, (a->dd.n_rules + 1) * sizeof *r);
        if (!r)
            return REFBUS_ENOMEM;
        a->dd.rules = r;
        memmove(&r[at + 1], &r[at], (a->dd.n_rules - at) * sizeof *r);
        memset(&r[at], 0, sizeof *r);
        snprintf(r[at].from, sizeof r[at].from, "%s", from);
        snprintf(r[at].to, sizeof r[at].to, "%s", to);
        a->dd.n_rules++;
    }
    a->dd.rules[at].allow = action == REFBUS_POLICY_ALLOW;
    return refbus_admin_commit(a);
}

int refbus_admin_reanchor(refbus_admin *a, uint64_t size,
                          const uint8_t root[REFBUS_MERKLE_HASH_BYTES], const char *reason)
{
    if (size == 0 || !refbus_dd_text_valid(reason, REFBUS_DIR_REASON_MAX))
        return REFBUS_EINVAL;
    a->dd.has_reanchor = 1;
    a->dd.reanchor.size = size;
    memcpy(a->dd.reanchor.root, root, REFBUS_MERKLE_HASH_BYTES);
    a->dd.reanchor.time_ms = refbus_now_ms();
    snprintf(a->dd.reanchor.reason, sizeof a->dd.reanchor.reason, "%s", reason);
    return refbus_admin_commit(a);
}
