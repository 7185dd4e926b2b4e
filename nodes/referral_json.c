/* Referral JSON <-> Payload. The JSON side is strict: unknown fields, wrong types, values out
 * of range and missing required fields are refused with the field's path, so that a typo in an
 * agency system never sends a referral that silently lacks something. */
#include "nodes/referral_json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "nodes/thread.h"
#include "proto/envelope.h"
#include "referral.pb-c.h"

#define MAX_LANGS 8
#define MAX_SERVICES 16
#define MAX_ATTACH 32
#define AGE_MAX 25

typedef struct tab {
    const char *name;
    int value;
} tab;

static const tab types[] = {{"sexual_exploitation", 1}, {"trafficking", 2},
                            {"online_sexual_exploitation", 3}, {"abuse", 4},
                            {"missing_child", 5}, {"other", 6}, {NULL, 0}};
static const tab urgencies[] = {{"routine", 1}, {"urgent", 2}, {"immediate_danger", 3},
                                {NULL, 0}};
static const tab genders[] = {{"female", 1}, {"male", 2}, {"other", 3}, {"unknown", 4},
                              {NULL, 0}};
static const tab services[] = {{"forensic_interview", 1}, {"medical", 2}, {"shelter", 3},
                               {"legal_aid", 4}, {"psychosocial", 5}, {"investigation", 6},
                               {"repatriation", 7}, {NULL, 0}};
static const tab bases[] = {{"child", 1}, {"parent", 2}, {"guardian", 3}, {"override", 4},
                            {NULL, 0}};

static const char *tab_name(const tab *t, int v)
{
    for (; t->name; t++)
        if (t->value == v)
            return t->name;
    return NULL;
}

static int tab_value(const tab *t, const char *s)
{
    for (; t->name; t++)
        if (strcmp(t->name, s) == 0)
            return t->value;
    return -1;
}

static void tab_list(char *buf, size_t len, const tab *t)
{
    size_t o = 0;
    buf[0] = 0;
    for (; t->name && o < len; t++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", t->name);
}

int refbus_urgency_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "immediate") == 0 || strcmp(s, "immediate-danger") == 0)
        return REFBUS_URGENCY_IMMEDIATE_DANGER;
    return tab_value(urgencies, s);
}

const char *refbus_urgency_name(int urgency)
{
    const char *n = tab_name(urgencies, urgency);
    return n ? n : "unspecified";
}

__attribute__((format(printf, 3, 4))) static int fail(char *err, const char *path,
                                                      const char *fmt, ...)
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
    json_object_foreach((json_t *)o, key, v) {
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
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) ||
            *p == 0x7f)
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

static int get_enum(int *out, const json_t *o, const char *path, const char *key, const tab *t,
                    int required, char *err)
{
    const char *s;
    char p[128], list[256];
    int rc = get_str(&s, o, path, key, required, 64, 0, err);
    *out = 0;
    if (rc || !s[0])
        return rc;
    join(p, sizeof p, path, key);
    if ((*out = tab_value(t, s)) < 0) {
        tab_list(list, sizeof list, t);
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
} scratch;

static int parse_child(scratch *s, const json_t *c, char *err)
{
    static const char *const keys[] = {"pseudonym", "age",       "age_band",  "gender",
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
    if ((rc = get_enum(&g, c, "child", "gender", genders, 0, err)))
        return rc;
    s->child.gender = (Refbus__V1__Gender)g;
    if ((rc = get_str(&str, c, "child", "nationality", 0, 2, 0, err)))
        return rc;
    if (str[0] && (strlen(str) != 2 || str[0] < 'A' || str[0] > 'Z' || str[1] < 'A' ||
                   str[1] > 'Z'))
        return fail(err, "child.nationality", "expected an ISO 3166 alpha-2 code such as "
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
        json_array_foreach(langs, i, l) {
            if (!json_is_string(l) || !is_bcp47(json_string_value(l)))
                return fail(err, "child.languages", "item %zu: expected a BCP 47 tag such as "
                                                    "\"th\" or \"my\"", i);
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
        (rc = get_enum(&b, c, "consent", "basis", bases, 1, err)))
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

static int parse_attachments(scratch *s, const json_t *a, char *err)
{
    static const char *const keys[] = {"hash", "size", "media_type", "name", NULL};
    size_t i;
    json_t *it;
    int rc;
    char p[64];
    if (!json_is_array(a) || json_array_size(a) > MAX_ATTACH)
        return fail(err, "attachments", "expected an array of at most %d items", MAX_ATTACH);
    json_array_foreach(a, i, it) {
        const char *h, *mt, *nm;
        Refbus__V1__AttachmentRef *r = &s->att[i];
        snprintf(p, sizeof p, "attachments[%zu]", i);
        if (!json_is_object(it))
            return fail(err, p, "expected an object");
        refbus__v1__attachment_ref__init(r);
        if ((rc = only(it, p, keys, err)) ||
            (rc = get_str(&h, it, p, "hash", 1, 64, 0, err)) ||
            (rc = get_str(&mt, it, p, "media_type", 0, 128, 0, err)) ||
            (rc = get_str(&nm, it, p, "name", 0, 255, 0, err)))
            return rc;
        if (strlen(h) != 64 || refbus_unhex(s->hashes[i], 32, h) != 0) {
            char q[96];
            join(q, sizeof q, p, "hash");
            return fail(err, q, "expected 64 hex digits (BLAKE2b-256 of the blob)");
        }
        json_t *sz = json_object_get(it, "size");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0) {
            char q[96];
            join(q, sizeof q, p, "size");
            return fail(err, q, "expected a byte count");
        }
        r->hash = (ProtobufCBinaryData){32, s->hashes[i]};
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
    static const char *const keys[] = {"case_ref", "thread_id", "type",    "urgency",
                                       "child",    "summary",   "services", "consent",
                                       "contact",  "attachments", NULL};
    const char *str;
    int rc, v;
    if (!json_is_object(j))
        return fail(err, "(referral)", "expected a JSON object");
    if ((rc = only(j, "", keys, err)))
        return rc;
    if (json_object_get(j, "thread_id"))
        return fail(err, "thread_id", "a referral starts a new thread; the node names it "
                                      "(answer in an existing thread with reply)");
    if ((rc = get_str(&str, j, "", "case_ref", 1, 64, 0, err)))
        return rc;
    s->r.case_ref = (char *)str;
    if ((rc = get_enum(&v, j, "", "type", types, 1, err)))
        return rc;
    s->r.type = (Refbus__V1__ReferralType)v;
    if ((rc = get_enum(&v, j, "", "urgency", urgencies, 1, err)))
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
        json_array_foreach(sv, i, it) {
            int x = json_is_string(it) ? tab_value(services, json_string_value(it)) : -1;
            if (x < 0) {
                char p[32];
                tab_list(list, sizeof list, services);
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

static int pack_payload(uint8_t **out, size_t *len, Refbus__V1__Payload *pl)
{
    size_t n = refbus__v1__payload__get_packed_size(pl);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return REFBUS_ENOMEM;
    refbus__v1__payload__pack(pl, b);
    *out = b;
    *len = n;
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
    if ((rc = pack_payload(payload, payload_len, &pl)))
        goto out;
    if (*payload_len > REFBUS_MAX_PAYLOAD) {
        free(*payload);
        *payload = NULL;
        rc = fail(err, "(referral)", "too large: %zu bytes encoded, at most %u", *payload_len,
                  REFBUS_MAX_PAYLOAD);
        goto out;
    }
    if (urgency)
        *urgency = urg;
out:
    free(s);
    return rc;
}

int refbus_json_parse_text(json_t **out, const char *text, size_t len,
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

int refbus_status_payload(uint8_t **payload, size_t *payload_len, const uint8_t thread_id[16],
                          const uint8_t in_reply_to[16], uint32_t status,
                          const char *reason_code, const char *text,
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
        snprintf(err, REFBUS_JSON_ERR_MAX,
                 "reason code \"%.64s\": expected 1 to 64 of [a-z0-9_.-]", reason_code);
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
    return pack_payload(payload, payload_len, &pl);
}

static void copy_trunc(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s++;
        int n;
        unsigned min, cp;
        if (c < 0x80)
            continue;
        if ((c & 0xe0) == 0xc0)
            n = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        while (n--) {
            if ((*s & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (*s++ & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
    }
    return 1;
}

/* Every string field of `m` and its sub-messages is valid UTF-8 (protobuf-c does not check,
 * and JSON output needs it). Walks the descriptors, so it covers fields added later. */
static int strings_valid(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        size_t n = 1;
        const void *const *items = (const void *const *)base;
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(const void *const *const *)base;
        } else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (*(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id)
                continue;
        }
        for (size_t k = 0; k < n; k++) {
            const void *v = items[k];
            if (!v)
                continue;
            if (f->type == PROTOBUF_C_TYPE_STRING ? !utf8_valid(v) : !strings_valid(v))
                return 0;
        }
    }
    return 1;
}

int refbus_payload_inspect(refbus_payload_info *info, const uint8_t *payload, size_t len)
{
    int rc = REFBUS_EMALFORMED;
    Refbus__V1__Payload *pl = refbus__v1__payload__unpack(NULL, len, payload);
    if (!pl)
        return REFBUS_EMALFORMED;
    memset(info, 0, offsetof(refbus_payload_info, text));
    info->text[0] = 0;
    if (!strings_valid(&pl->base))
        goto out;
    if (pl->body_case == REFBUS__V1__PAYLOAD__BODY_REFERRAL && pl->referral) {
        const Refbus__V1__Referral *r = pl->referral;
        if (r->thread_id.len != 16 || (int)r->urgency > REFBUS_URGENCY_IMMEDIATE_DANGER)
            goto out;
        info->kind = REFBUS_KIND_REFERRAL;
        memcpy(info->thread_id, r->thread_id.data, 16);
        info->urgency = (int)r->urgency;
        copy_trunc(info->case_ref, sizeof info->case_ref, r->case_ref);
    } else if (pl->body_case == REFBUS__V1__PAYLOAD__BODY_STATUS && pl->status) {
        const Refbus__V1__StatusUpdate *s = pl->status;
        if (s->thread_id.len != 16 || (int)s->status < 1 || (int)s->status > REFBUS_TS_MAX ||
            (s->in_reply_to.len != 0 && s->in_reply_to.len != 16) ||
            strlen(s->reason_code) > 64 || strlen(s->text) > REFBUS_TEXT_MAX)
            goto out;
        info->kind = REFBUS_KIND_STATUS;
        memcpy(info->thread_id, s->thread_id.data, 16);
        info->status = (uint32_t)s->status;
        if ((info->has_in_reply_to = s->in_reply_to.len == 16))
            memcpy(info->in_reply_to, s->in_reply_to.data, 16);
        copy_trunc(info->reason_code, sizeof info->reason_code, s->reason_code);
        copy_trunc(info->text, sizeof info->text, s->text);
    } else {
        goto out;
    }
    rc = 0;
out:
    refbus__v1__payload__free_unpacked(pl, NULL);
    return rc;
}

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v && v[0])
        json_object_set_new(o, k, json_string(v));
}

static void set_hex(json_t *o, const char *k, const ProtobufCBinaryData *b)
{
    char hex[65];
    if (b->len > 0 && b->len <= 32) {
        refbus_hex(hex, b->data, b->len);
        json_object_set_new(o, k, json_string(hex));
    }
}

static json_t *contact_json(const Refbus__V1__Contact *c)
{
    json_t *o = json_object();
    set_str(o, "name", c->name);
    set_str(o, "role", c->role);
    set_str(o, "phone", c->phone);
    set_str(o, "email", c->email);
    return o;
}

static json_t *referral_json(const Refbus__V1__Referral *r)
{
    json_t *o = json_object(), *a;
    set_str(o, "case_ref", r->case_ref);
    set_hex(o, "thread_id", &r->thread_id);
    set_str(o, "type", tab_name(types, (int)r->type));
    set_str(o, "urgency", tab_name(urgencies, (int)r->urgency));
    if (r->child) {
        const Refbus__V1__Child *c = r->child;
        json_t *cj = json_object();
        set_str(cj, "pseudonym", c->pseudonym);
        if (c->age)
            json_object_set_new(cj, "age", json_integer(c->age));
        set_str(cj, "age_band", c->age_band);
        set_str(cj, "gender", tab_name(genders, (int)c->gender));
        set_str(cj, "nationality", c->nationality);
        if (c->stateless)
            json_object_set_new(cj, "stateless", json_true());
        if (c->n_languages) {
            a = json_array();
            for (size_t i = 0; i < c->n_languages; i++)
                json_array_append_new(a, json_string(c->languages[i]));
            json_object_set_new(cj, "languages", a);
        }
        json_object_set_new(o, "child", cj);
    }
    set_str(o, "summary", r->summary);
    if (r->n_services) {
        a = json_array();
        for (size_t i = 0; i < r->n_services; i++) {
            const char *n = tab_name(services, (int)r->services[i]);
            json_array_append_new(a, n ? json_string(n) : json_integer(r->services[i]));
        }
        json_object_set_new(o, "services", a);
    }
    if (r->consent) {
        json_t *cj = json_object();
        set_str(cj, "basis", tab_name(bases, (int)r->consent->basis));
        set_str(cj, "given_by", r->consent->given_by);
        set_str(cj, "override_reason", r->consent->override_reason);
        json_object_set_new(o, "consent", cj);
    }
    if (r->contact)
        json_object_set_new(o, "contact", contact_json(r->contact));
    if (r->n_attachments) {
        a = json_array();
        for (size_t i = 0; i < r->n_attachments; i++) {
            const Refbus__V1__AttachmentRef *at = r->attachments[i];
            json_t *aj = json_object();
            set_hex(aj, "hash", &at->hash);
            json_object_set_new(aj, "size", json_integer((json_int_t)at->size));
            set_str(aj, "media_type", at->media_type);
            set_str(aj, "name", at->name);
            json_array_append_new(a, aj);
        }
        json_object_set_new(o, "attachments", a);
    }
    return o;
}

int refbus_payload_to_json(json_t **out, const uint8_t *payload, size_t len)
{
    int rc = REFBUS_EMALFORMED;
    json_t *j = NULL, *b = NULL;
    Refbus__V1__Payload *pl = refbus__v1__payload__unpack(NULL, len, payload);
    if (!pl)
        return REFBUS_EMALFORMED;
    if (pl->body_case == REFBUS__V1__PAYLOAD__BODY_REFERRAL && pl->referral) {
        b = referral_json(pl->referral);
        j = json_pack("{s:o}", "referral", b);
    } else if (pl->body_case == REFBUS__V1__PAYLOAD__BODY_STATUS && pl->status) {
        const Refbus__V1__StatusUpdate *s = pl->status;
        b = json_object();
        set_hex(b, "thread_id", &s->thread_id);
        set_hex(b, "in_reply_to", &s->in_reply_to);
        json_object_set_new(b, "status", json_string(refbus_thread_status_name(s->status)));
        set_str(b, "reason_code", s->reason_code);
        set_str(b, "text", s->text);
        if (s->contact)
            json_object_set_new(b, "contact", contact_json(s->contact));
        j = json_pack("{s:o}", "status", b);
    } else {
        goto out;
    }
    rc = j ? 0 : REFBUS_ENOMEM;
    if (j)
        *out = j;
out:
    refbus__v1__payload__free_unpacked(pl, NULL);
    return rc;
}
