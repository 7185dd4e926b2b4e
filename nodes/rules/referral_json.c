/* Referral JSON -> Payload (payload.c goes the other way). The JSON side is strict: unknown fields,
 * wrong types, values out of range and missing required fields are refused with the field's path,
 * so that a typo in an agency system never sends a referral that silently lacks something. */
#include "nodes/rules/referral_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/harden.h"
#include "common/util.h"
#include "nodes/rules/referral_enums.h"
#include "nodes/rules/thread.h"
#include "proto/envelope.h"
#include "proto/pbutil.h"
#include "referral.pb-c.h"

#define MAX_LANGS 8
#define MAX_SERVICES 16
#define MAX_ATTACH 32
#define AGE_MAX 25

int refbus_referral_urgency_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "immediate") == 0 || strcmp(s, "immediate-danger") == 0)
        return REFBUS_URGENCY_IMMEDIATE_DANGER;
    return refbus_referral_enum_value(refbus_referral_urgencies, s);
}

const char *refbus_referral_urgency_name(int urgency)
{
    const char *n = refbus_referral_enum_name(refbus_referral_urgencies, urgency);
    return n ? n : "unspecified";
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, const char *path, const char *fmt,
                                                      ...)
{
    va_list ap;
    int o = snprintf(err, REFBUS_JSON_ERR_MAX, "field \"%s\": ", path);
    va_start(ap, fmt);
    if (o > 0 && o < (int)REFBUS_JSON_ERR_MAX)
        vsnprintf(err + o, REFBUS_JSON_ERR_MAX - (size_t)o, fmt, ap);
    va_end(ap);
    return REFBUS_EJSON;
}

static void join(char *out, size_t len, const char *parent, const char *key)
{
    snprintf(out, len, "%s%s%s", parent, parent[0] ? "." : "", key);
}

/* Refuse members not in `allowed` (catches typos such as "chlid"). */
static int only(const json_t *o, const char *path, const char *const *allowed, char *err)
{
    const char *key;
    json_t *v;
    char p[128];
    json_object_foreach((json_t *)o, key, v)
    {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, key) == 0;
        if (!ok) {
            join(p, sizeof p, path, key);
            return fail(err, p, "unknown field");
        }
    }
    return 0;
}

/* Control characters other than newline and tab have no place in referral text. */
static int clean_text(const char *s, int multiline)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) || *p == 0x7f)
            return 0;
    return 1;
}

/* A string member: NULL/absent allowed unless `required`; *out points into `o`. */
static int get_str(const char **out, const json_t *o, const char *path, const char *key,
                   int required, size_t max, int multiline, char *err)
{
    char p[128];
    json_t *v = json_object_get(o, key);
    join(p, sizeof p, path, key);
    *out = "";
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, p, "missing (required)");
        return 0;
    }
    if (!json_is_string(v))
        return fail(err, p, "expected a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (strlen(s) != n)
        return fail(err, p, "contains a NUL character");
    if (required && n == 0)
        return fail(err, p, "must not be empty");
    if (n > max)
        return fail(err, p, "too long (%zu bytes, at most %zu)", n, max);
    if (!clean_text(s, multiline))
        return fail(err, p, "contains control characters");
    *out = s;
    return 0;
}

static int get_enum(int *out, const json_t *o, const char *path, const char *key,
                    const refbus_enum_tab *t, int required, char *err)
{
    const char *s;
    char p[128], list[256];
    int rc = get_str(&s, o, path, key, required, 64, 0, err);
    *out = 0;
    if (rc || !s[0])
        return rc;
    join(p, sizeof p, path, key);
    if ((*out = refbus_referral_enum_value(t, s)) < 0) {
        refbus_referral_enum_list(list, sizeof list, t);
        return fail(err, p, "unknown value \"%s\" (one of: %s)", s, list);
    }
    return 0;
}

static int is_bcp47(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 35)
        return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-'))
            return 0;
    return 1;
}

/* Everything allocated while building the message; released after packing. */
typedef struct scratch {
    Refbus__V1__Referral r;
    Refbus__V1__Child child;
    Refbus__V1__Consent consent;
    Refbus__V1__Contact contact;
    char *langs[MAX_LANGS];
    Refbus__V1__Service svc[MAX_SERVICES];
    Refbus__V1__AttachmentRef att[MAX_ATTACH];
    Refbus__V1__AttachmentRef *attp[MAX_ATTACH];
    uint8_t hashes[MAX_ATTACH][32];
    uint8_t file_ids[MAX_ATTACH][32];
    uint8_t file_keys[MAX_ATTACH][32]; /* wiped with the scratch (refbus_referral_from_json) */
} scratch;

static int parse_child(scratch *s, const json_t *c, char *err)
{
    static const char *const keys[] = {"pseudonym",   "age",       "age_band",  "gender",
                                       "nationality", "stateless", "languages", NULL};
    const char *str;
    int rc, g;
    if (!json_is_object(c))
        return fail(err, "child", c ? "expected an object" : "missing (required)");
    if ((rc = only(c, "child", keys, err)))
        return rc;
    if ((rc = get_str(&str, c, "child", "pseudonym", 1, 64, 0, err)))
        return rc;
    s->child.pseudonym = (char *)str;
    json_t *age = json_object_get(c, "age");
    if (age && !json_is_null(age)) {
        if (!json_is_integer(age) || json_integer_value(age) < 0 ||
            json_integer_value(age) > AGE_MAX)
            return fail(err, "child.age", "expected an integer from 0 to %d (0 = unknown)",
                        AGE_MAX);
        s->child.age = (uint32_t)json_integer_value(age);
    }
    if ((rc = get_str(&str, c, "child", "age_band", 0, 16, 0, err)))
        return rc;
    s->child.age_band = (char *)str;
    if ((rc = get_enum(&g, c, "child", "gender", refbus_referral_genders, 0, err)))
        return rc;
    s->child.gender = (Refbus__V1__Gender)g;
    if ((rc = get_str(&str, c, "child", "nationality", 0, 2, 0, err)))
        return rc;
    if (str[0] &&
        (strlen(str) != 2 || str[0] < 'A' || str[0] > 'Z' || str[1] < 'A' || str[1] > 'Z'))
        return fail(err, "child.nationality",
                    "expected an ISO 3166 alpha-2 code such as "
                    "\"MM\" (or leave it out and set stateless)");
    s->child.nationality = (char *)str;
    json_t *st = json_object_get(c, "stateless");
    if (st && !json_is_null(st)) {
        if (!json_is_boolean(st))
            return fail(err, "child.stateless", "expected true or false");
        s->child.stateless = json_is_true(st);
    }
    json_t *langs = json_object_get(c, "languages");
    if (langs && !json_is_null(langs)) {
        size_t i;
        json_t *l;
        if (!json_is_array(langs) || json_array_size(langs) > MAX_LANGS)
            return fail(err, "child.languages", "expected an array of at most %d language tags",
                        MAX_LANGS);
        json_array_foreach(langs, i, l)
        {
            if (!json_is_string(l) || !is_bcp47(json_string_value(l)))
                return fail(err, "child.languages",
                            "item %zu: expected a BCP 47 tag such as "
                            "\"th\" or \"my\"",
                            i);
            s->langs[i] = (char *)json_string_value(l);
        }
        s->child.n_languages = json_array_size(langs);
        s->child.languages = s->langs;
    }
    s->r.child = &s->child;
    return 0;
}

static int parse_consent(scratch *s, const json_t *c, char *err)
{
    static const char *const keys[] = {"basis", "given_by", "override_reason", NULL};
    const char *str;
    int rc, b;
    if (!json_is_object(c))
        return fail(err, "consent", c ? "expected an object" : "missing (required)");
    if ((rc = only(c, "consent", keys, err)) ||
        (rc = get_enum(&b, c, "consent", "basis", refbus_referral_consent_bases, 1, err)))
        return rc;
    s->consent.basis = (Refbus__V1__ConsentBasis)b;
    if ((rc = get_str(&str, c, "consent", "given_by", 0, 128, 0, err)))
        return rc;
    s->consent.given_by = (char *)str;
    if ((rc = get_str(&str, c, "consent", "override_reason", b == 4, 64, 0, err)))
        return rc;
    if (b != 4 && str[0])
        return fail(err, "consent.override_reason", "only with basis \"override\"");
    s->consent.override_reason = (char *)str;
    if (b != 4 && !s->consent.given_by[0])
        return fail(err, "consent.given_by", "missing (required unless basis is \"override\")");
    s->r.consent = &s->consent;
    return 0;
}

static int parse_contact(Refbus__V1__Contact *ct, const json_t *c, const char *path, char *err)
{
    static const char *const keys[] = {"name", "role", "phone", "email", NULL};
    const char *str[4];
    int rc;
    if (!json_is_object(c))
        return fail(err, path, "expected an object");
    if ((rc = only(c, path, keys, err)))
        return rc;
    for (int i = 0; i < 4; i++)
        if ((rc = get_str(&str[i], c, path, keys[i], i == 0, 128, 0, err)))
            return rc;
    ct->name = (char *)str[0];
    ct->role = (char *)str[1];
    ct->phone = (char *)str[2];
    ct->email = (char *)str[3];
    return 0;
}

/* A 64-hex-digit field of attachment p into out; absent is 0 with *have = 0. */
static int get_hex32(uint8_t out[32], int *have, const json_t *it, const char *p, const char *key,
                     const char *what, char *err)
{
    const char *h;
    char q[96];
    int rc = get_str(&h, it, p, key, 0, 64, 0, err);
    if (rc)
        return rc;
    *have = h && *h;
    if (*have && (strlen(h) != 64 || refbus_unhex(out, 32, h) != 0)) {
        join(q, sizeof q, p, key);
        return fail(err, q, "expected 64 hex digits (%s)", what);
    }
    return 0;
}

/* Either an opaque blob (`hash`) or a sealed file (`file_id` and `file_key`, PROTOCOL 2.11). */
static int parse_attachments(scratch *s, const json_t *a, char *err)
{
    static const char *const keys[] = {"hash",    "size",     "media_type", "name",
                                       "file_id", "file_key", NULL};
    size_t i;
    json_t *it;
    int rc;
    char p[64];
    if (!json_is_array(a) || json_array_size(a) > MAX_ATTACH)
        return fail(err, "attachments", "expected an array of at most %d items", MAX_ATTACH);
    json_array_foreach(a, i, it)
    {
        const char *mt, *nm;
        int has_hash, has_id, has_key;
        char q[96];
        Refbus__V1__AttachmentRef *r = &s->att[i];
        snprintf(p, sizeof p, "attachments[%zu]", i);
        if (!json_is_object(it))
            return fail(err, p, "expected an object");
        refbus__v1__attachment_ref__init(r);
        if ((rc = only(it, p, keys, err)) ||
            (rc = get_hex32(s->hashes[i], &has_hash, it, p, "hash", "BLAKE2b-256 of the blob",
                            err)) ||
            (rc = get_hex32(s->file_ids[i], &has_id, it, p, "file_id", "the sealed file's id",
                            err)) ||
            (rc = get_hex32(s->file_keys[i], &has_key, it, p, "file_key", "the sealed file's key",
                            err)) ||
            (rc = get_str(&mt, it, p, "media_type", 0, 128, 0, err)) ||
            (rc = get_str(&nm, it, p, "name", 0, 255, 0, err)))
            return rc;
        if (has_id != has_key) {
            join(q, sizeof q, p, has_id ? "file_key" : "file_id");
            return fail(err, q, "required with %s", has_id ? "file_id" : "file_key");
        }
        if (has_hash == has_id) {
            join(q, sizeof q, p, "hash");
            return fail(err, q,
                        has_hash ? "not with file_id (a sealed file has no blob hash)"
                                 : "required (or file_id and file_key)");
        }
        json_t *sz = json_object_get(it, "size");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
            join(q, sizeof q, p, "size");
            return fail(err, q, "expected a byte count");
        }
        if (has_hash)
            r->hash = (ProtobufCBinaryData){32, s->hashes[i]};
        if (has_id) {
            r->file_id = (ProtobufCBinaryData){32, s->file_ids[i]};
            r->file_key = (ProtobufCBinaryData){32, s->file_keys[i]};
        }
        r->size = (uint64_t)json_integer_value(sz);
        r->media_type = (char *)mt;
        r->name = (char *)nm;
        s->attp[i] = r;
    }
    s->r.n_attachments = json_array_size(a);
    s->r.attachments = s->attp;
    return 0;
}

static int parse_referral(scratch *s, const json_t *j, int *urgency, char *err)
{
    static const char *const keys[] = {"case_ref", "thread_id",   "type",     "urgency",
                                       "child",    "summary",     "services", "consent",
                                       "contact",  "attachments", NULL};
    const char *str;
    int rc, v;
    if (!json_is_object(j))
        return fail(err, "(referral)", "expected a JSON object");
    if ((rc = only(j, "", keys, err)))
        return rc;
    if (json_object_get(j, "thread_id"))
        return fail(err, "thread_id",
                    "a referral starts a new thread; the node names it "
                    "(answer in an existing thread with reply)");
    if ((rc = get_str(&str, j, "", "case_ref", 1, 64, 0, err)))
        return rc;
    s->r.case_ref = (char *)str;
    if ((rc = get_enum(&v, j, "", "type", refbus_referral_types, 1, err)))
        return rc;
    s->r.type = (Refbus__V1__ReferralType)v;
    if ((rc = get_enum(&v, j, "", "urgency", refbus_referral_urgencies, 1, err)))
        return rc;
    s->r.urgency = (Refbus__V1__Urgency)v;
    *urgency = v;
    if ((rc = parse_child(s, json_object_get(j, "child"), err)))
        return rc;
    if ((rc = get_str(&str, j, "", "summary", 1, REFBUS_SUMMARY_MAX, 1, err)))
        return rc;
    s->r.summary = (char *)str;
    json_t *sv = json_object_get(j, "services");
    if (sv && !json_is_null(sv)) {
        size_t i;
        json_t *it;
        char list[256];
        if (!json_is_array(sv) || json_array_size(sv) > MAX_SERVICES)
            return fail(err, "services", "expected an array of service names");
        json_array_foreach(sv, i, it)
        {
            int x = json_is_string(it) ? refbus_referral_enum_value(refbus_referral_services,
                                                                    json_string_value(it))
                                       : -1;
            if (x < 0) {
                char p[32];
                refbus_referral_enum_list(list, sizeof list, refbus_referral_services);
                snprintf(p, sizeof p, "services[%zu]", i);
                return fail(err, p, "unknown service (one of: %s)", list);
            }
            s->svc[i] = (Refbus__V1__Service)x;
        }
        s->r.n_services = json_array_size(sv);
        s->r.services = s->svc;
    }
    if ((rc = parse_consent(s, json_object_get(j, "consent"), err)))
        return rc;
    json_t *ct = json_object_get(j, "contact");
    if (ct && !json_is_null(ct)) {
        if ((rc = parse_contact(&s->contact, ct, "contact", err)))
            return rc;
        s->r.contact = &s->contact;
    }
    json_t *at = json_object_get(j, "attachments");
    if (at && !json_is_null(at) && (rc = parse_attachments(s, at, err)))
        return rc;
    return 0;
}

int refbus_referral_from_json(uint8_t **payload, size_t *payload_len, int *urgency,
                              const json_t *referral, const uint8_t thread_id[16],
                              char err[REFBUS_JSON_ERR_MAX])
{
    int rc, urg = 0;
    scratch *s;
    if (!payload || !payload_len || !referral || !thread_id || !err)
        return REFBUS_EINVAL;
    err[0] = 0;
    if (!(s = calloc(1, sizeof *s)))
        return REFBUS_ENOMEM;
    refbus__v1__referral__init(&s->r);
    refbus__v1__child__init(&s->child);
    refbus__v1__consent__init(&s->consent);
    refbus__v1__contact__init(&s->contact);
    if ((rc = parse_referral(s, referral, &urg, err)))
        goto out;
    s->r.thread_id = (ProtobufCBinaryData){16, (uint8_t *)thread_id};
    Refbus__V1__Payload pl = REFBUS__V1__PAYLOAD__INIT;
    pl.body_case = REFBUS__V1__PAYLOAD__BODY_REFERRAL;
    pl.referral = &s->r;
    if ((rc = refbus_pb_pack(payload, payload_len, &pl.base)))
        goto out;
    if (*payload_len > REFBUS_MAX_PAYLOAD) {
        refbus_wipe_free(*payload);
        *payload = NULL;
        rc = fail(err, "(referral)", "too large: %zu bytes encoded, at most %u", *payload_len,
                  REFBUS_MAX_PAYLOAD);
        goto out;
    }
    if (urgency)
        *urgency = urg;
out:
    refbus_wipe_free(s);
    return rc;
}

int refbus_referral_json_parse_text(json_t **out, const char *text, size_t len,
                                    char err[REFBUS_JSON_ERR_MAX])
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, REFBUS_JSON_ERR_MAX, "invalid JSON at line %d column %d: %s", je.line,
                 je.column, je.text);
        return REFBUS_EJSON;
    }
    *out = j;
    return 0;
}

static int reason_code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              *s == '.'))
            return 0;
    return 1;
}

int refbus_referral_status_payload(uint8_t **payload, size_t *payload_len,
                                   const uint8_t thread_id[16], const uint8_t in_reply_to[16],
                                   uint32_t status, const char *reason_code, const char *text,
                                   char err[REFBUS_JSON_ERR_MAX])
{
    if (!payload || !payload_len || !thread_id || !err)
        return REFBUS_EINVAL;
    err[0] = 0;
    if (status < REFBUS_TS_RECEIVED || status > REFBUS_TS_MAX) {
        snprintf(err, REFBUS_JSON_ERR_MAX, "unknown status %u", status);
        return REFBUS_EINVAL;
    }
    reason_code = reason_code ? reason_code : "";
    text = text ? text : "";
    if (status == REFBUS_TS_DECLINED && !reason_code[0]) {
        snprintf(err, REFBUS_JSON_ERR_MAX, "declined needs a reason code (--reason-code)");
        return REFBUS_EINVAL;
    }
    if (reason_code[0] && !reason_code_ok(reason_code)) {
        snprintf(err, REFBUS_JSON_ERR_MAX, "reason code \"%.64s\": expected 1 to 64 of [a-z0-9_.-]",
                 reason_code);
        return REFBUS_EINVAL;
    }
    if (status == REFBUS_TS_NOTE && !text[0]) {
        snprintf(err, REFBUS_JSON_ERR_MAX, "a note needs text (--text)");
        return REFBUS_EINVAL;
    }
    if (strlen(text) > REFBUS_TEXT_MAX || !clean_text(text, 1)) {
        snprintf(err, REFBUS_JSON_ERR_MAX, "text: too long or contains control characters");
        return REFBUS_EINVAL;
    }
    Refbus__V1__StatusUpdate su = REFBUS__V1__STATUS_UPDATE__INIT;
    su.thread_id = (ProtobufCBinaryData){16, (uint8_t *)thread_id};
    if (in_reply_to)
        su.in_reply_to = (ProtobufCBinaryData){16, (uint8_t *)in_reply_to};
    su.status = (Refbus__V1__ThreadStatus)status;
    su.reason_code = (char *)reason_code;
    su.text = (char *)text;
    Refbus__V1__Payload pl = REFBUS__V1__PAYLOAD__INIT;
    pl.body_case = REFBUS__V1__PAYLOAD__BODY_STATUS;
    pl.status = &su;
    return refbus_pb_pack(payload, payload_len, &pl.base);
}
