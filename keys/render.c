/* Text and JSON renderings of directories and keystores (see render.h). JSON is built with
 * jansson; names and reasons are UTF-8 checked at load, so they print as they are. */
#include "keys/render.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "common/util.h"

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char hex[129];
    refbus_hex(hex, b, n);
    return json_string(hex);
}

static json_t *kid_json(const uint8_t pk[32])
{
    char id[REFBUS_KEY_ID_HEX];
    refbus_key_id(id, pk);
    return json_string(id);
}

static json_t *key_json(const refbus_dir_key *k)
{
    json_t *o = json_object();
    json_object_set_new(o, "epoch", json_integer(k->epoch));
    json_object_set_new(o, "status", json_string(refbus_key_status_name(k->status)));
    json_object_set_new(o, "key_id", kid_json(k->sign_pk));
    json_object_set_new(o, "created_ms", json_integer((json_int_t)k->created_ms));
    json_object_set_new(o, "status_changed_ms", json_integer((json_int_t)k->status_changed_ms));
    json_object_set_new(o, "revoked_reason", json_string(k->revoked_reason));
    json_object_set_new(o, "sign_pk", hex_json(k->sign_pk, 32));
    json_object_set_new(o, "enc_pk", hex_json(k->enc_pk, 32));
    json_object_set_new(o, "curve_pk", hex_json(k->curve_pk, 32));
    json_object_set_new(o, "enc_key_id", kid_json(k->enc_pk));
    json_object_set_new(o, "curve_key_id", kid_json(k->curve_pk));
    return o;
}

static char *dump(json_t *root)
{
    char *s = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = 0;
    return t;
}

int refbus_directory_json(char **out, const refbus_directory *d)
{
    size_t len = 0;
    uint8_t digest[32];
    const uint8_t *bytes = refbus_directory_bytes(d, &len);
    const uint8_t *root = refbus_directory_root_pk(d);
    json_t *o = json_object();
    crypto_generichash(digest, sizeof digest, bytes, len, NULL, 0);
    json_object_set_new(o, "version", json_integer(REFBUS_DIRECTORY_VERSION));
    json_object_set_new(o, "serial", json_integer((json_int_t)refbus_directory_serial(d)));
    json_object_set_new(o, "issued_ms", json_integer((json_int_t)refbus_directory_issued_ms(d)));
    json_object_set_new(o, "verified", json_boolean(refbus_directory_verified(d)));
    json_object_set_new(o, "root_pk", root ? hex_json(root, 32) : json_null());
    json_object_set_new(o, "root_key_id", root ? kid_json(root) : json_null());
    json_object_set_new(o, "size", json_integer((json_int_t)len));
    json_object_set_new(o, "blake2b", hex_json(digest, 32));
    json_t *ags = json_array();
    for (size_t i = 0; i < refbus_directory_agency_count(d); i++) {
        json_t *a = json_object(), *keys = json_array();
        const char *kind = refbus_agency_kind_name(refbus_directory_agency_kind(d, i));
        json_object_set_new(a, "id", json_string(refbus_directory_agency_id(d, i)));
        json_object_set_new(a, "name", json_string(refbus_directory_agency_name(d, i)));
        json_object_set_new(a, "kind", json_string(kind ? kind : "unknown"));
        for (size_t k = 0; k < refbus_directory_agency_key_count(d, i); k++)
            json_array_append_new(keys, key_json(refbus_directory_agency_key_at(d, i, k)));
        json_object_set_new(a, "keys", keys);
        json_array_append_new(ags, a);
    }
    json_object_set_new(o, "agencies", ags);
    if (refbus_directory_broker_id(d)) {
        json_t *b = json_object(), *eps = json_array(), *keys = json_array();
        json_object_set_new(b, "id", json_string(refbus_directory_broker_id(d)));
        for (size_t i = 0; i < refbus_directory_broker_endpoint_count(d); i++)
            json_array_append_new(eps, json_string(refbus_directory_broker_endpoint(d, i)));
        json_object_set_new(b, "endpoints", eps);
        for (size_t k = 0; k < refbus_directory_broker_key_count(d); k++)
            json_array_append_new(keys, key_json(refbus_directory_broker_key_at(d, k)));
        json_object_set_new(b, "keys", keys);
        json_object_set_new(o, "broker", b);
    } else {
        json_object_set_new(o, "broker", json_null());
    }
    json_t *pol = json_array();
    for (size_t i = 0; i < refbus_directory_policy_count(d); i++) {
        const char *from, *to;
        int allow;
        refbus_directory_policy_rule(d, i, &from, &to, &allow);
        json_array_append_new(pol, json_pack("{s:s, s:s, s:s}", "from", from, "to", to, "action",
                                             allow ? "allow" : "deny"));
    }
    json_object_set_new(o, "policy", pol);
    const refbus_dir_reanchor *ra = refbus_directory_reanchor(d);
    if (ra) {
        char rh[65];
        refbus_hex(rh, ra->root, 32);
        json_object_set_new(o, "reanchor",
                            json_pack("{s:I, s:s, s:I, s:s}", "size", (json_int_t)ra->size, "root",
                                      rh, "time_ms", (json_int_t)ra->time_ms, "reason",
                                      ra->reason));
    } else {
        json_object_set_new(o, "reanchor", json_null());
    }
    *out = dump(o);
    return *out ? 0 : REFBUS_ENOMEM;
}

static void print_key(FILE *f, const refbus_dir_key *k)
{
    char when[REFBUS_TIME_ISO_MAX], s[REFBUS_KEY_ID_HEX], e[REFBUS_KEY_ID_HEX],
        c[REFBUS_KEY_ID_HEX];
    refbus_time_iso(when, sizeof when, k->status_changed_ms, 1);
    refbus_key_id(s, k->sign_pk);
    refbus_key_id(e, k->enc_pk);
    refbus_key_id(c, k->curve_pk);
    fprintf(f, "  epoch %-4u %-8s since %s  sign %s  enc %s  curve %s\n", k->epoch,
            refbus_key_status_name(k->status), when, s, e, c);
    if (k->status == REFBUS_KEY_REVOKED)
        fprintf(f, "             reason: %s\n", k->revoked_reason);
}

int refbus_directory_print(FILE *f, const refbus_directory *d)
{
    char when[REFBUS_TIME_ISO_MAX], kid[REFBUS_KEY_ID_HEX], hex[65];
    const uint8_t *root = refbus_directory_root_pk(d);
    refbus_time_iso(when, sizeof when, refbus_directory_issued_ms(d), 1);
    fprintf(f, "directory serial %llu, issued %s\n", (unsigned long long)refbus_directory_serial(d),
            when);
    if (root) {
        refbus_key_id(kid, root);
        refbus_hex(hex, root, 32);
        fprintf(f, "root key %s (%s)\n", kid, hex);
    }
    fprintf(f, "signature: %s\n",
            refbus_directory_verified(d) ? "verified" : "NOT CHECKED (no root key given)");
    const char *bid = refbus_directory_broker_id(d);
    if (bid) {
        fprintf(f, "\nbroker %s\n", bid);
        for (size_t i = 0; i < refbus_directory_broker_endpoint_count(d); i++)
            fprintf(f, "  endpoint %s\n", refbus_directory_broker_endpoint(d, i));
        for (size_t k = 0; k < refbus_directory_broker_key_count(d); k++)
            print_key(f, refbus_directory_broker_key_at(d, k));
    } else {
        fprintf(f, "\nbroker: none enrolled\n");
    }
    for (size_t i = 0; i < refbus_directory_agency_count(d); i++) {
        const char *kind = refbus_agency_kind_name(refbus_directory_agency_kind(d, i));
        fprintf(f, "\nagency %s (%s): %s\n", refbus_directory_agency_id(d, i),
                kind ? kind : "unknown", refbus_directory_agency_name(d, i));
        for (size_t k = 0; k < refbus_directory_agency_key_count(d, i); k++)
            print_key(f, refbus_directory_agency_key_at(d, i, k));
    }
    fprintf(f, "\npolicy (default deny; a deny rule wins over any allow):\n");
    if (refbus_directory_policy_count(d) == 0)
        fprintf(f, "  (no rules: nobody may refer to anybody)\n");
    for (size_t i = 0; i < refbus_directory_policy_count(d); i++) {
        const char *from, *to;
        int allow;
        refbus_directory_policy_rule(d, i, &from, &to, &allow);
        fprintf(f, "  %-5s %s -> %s\n", allow ? "allow" : "deny", from, to);
    }
    const refbus_dir_reanchor *ra = refbus_directory_reanchor(d);
    if (ra) {
        refbus_hex(hex, ra->root, 32);
        refbus_time_iso(when, sizeof when, ra->time_ms, 1);
        fprintf(f,
                "\nre-anchor (after a broker restore), stated %s:\n  audit checkpoint size "
                "%llu root %s\n  reason: %s\n",
                when, (unsigned long long)ra->size, hex, ra->reason);
    }
    return ferror(f) ? REFBUS_EIO : 0;
}

static const char *role_name(enum refbus_keystore_role r)
{
    return r == REFBUS_KEYSTORE_ROOT ? "root" : r == REFBUS_KEYSTORE_BROKER ? "broker" : "agency";
}

int refbus_keystore_json(char **out, const refbus_keystore *ks)
{
    json_t *o = json_object(), *eps = json_array();
    json_object_set_new(o, "id", json_string(refbus_keystore_id(ks)));
    json_object_set_new(o, "role", json_string(role_name(refbus_keystore_role(ks))));
    json_object_set_new(o, "root_pk", hex_json(refbus_keystore_root_pk(ks), 32));
    json_object_set_new(o, "root_key_id", kid_json(refbus_keystore_root_pk(ks)));
    for (size_t i = 0; i < refbus_keystore_epoch_count(ks); i++) {
        const refbus_epoch_keys *e = refbus_keystore_epoch(ks, i);
        json_t *k = json_object();
        json_object_set_new(k, "epoch", json_integer(e->epoch));
        json_object_set_new(k, "key_id", kid_json(e->sign_pk));
        json_object_set_new(k, "sign_pk", hex_json(e->sign_pk, 32));
        json_object_set_new(k, "enc_pk", hex_json(e->enc_pk, 32));
        json_object_set_new(k, "curve_pk", hex_json(e->curve_pk, 32));
        json_array_append_new(eps, k);
    }
    json_object_set_new(o, "epochs", eps);
    *out = dump(o);
    return *out ? 0 : REFBUS_ENOMEM;
}

int refbus_keystore_print(FILE *f, const refbus_keystore *ks)
{
    char kid[REFBUS_KEY_ID_HEX];
    refbus_key_id(kid, refbus_keystore_root_pk(ks));
    fprintf(f, "%s bundle for %s, root key %s\n", role_name(refbus_keystore_role(ks)),
            refbus_keystore_id(ks), kid);
    for (size_t i = 0; i < refbus_keystore_epoch_count(ks); i++) {
        const refbus_epoch_keys *e = refbus_keystore_epoch(ks, i);
        char s[REFBUS_KEY_ID_HEX], en[REFBUS_KEY_ID_HEX], c[REFBUS_KEY_ID_HEX];
        refbus_key_id(s, e->sign_pk);
        refbus_key_id(en, e->enc_pk);
        refbus_key_id(c, e->curve_pk);
        fprintf(f, "  epoch %-4u sign %s  enc %s  curve %s\n", e->epoch, s, en, c);
    }
    return ferror(f) ? REFBUS_EIO : 0;
}
