/* Payloads from other agencies (plaintext after opening): checked (shape, ranges, strict
 * UTF-8 in every string) and printed as JSON for agency systems. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nodes/rules/referral_enums.h"
#include "nodes/rules/referral_json.h"
#include "nodes/rules/thread.h"
#include "proto/envelope.h"
#include "proto/pbutil.h"
#include "referral.pb-c.h"

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

/* A sealed-file reference (PROTOCOL.md 2.11.6) has a 32-byte file_id and a 32-byte file_key,
 * both or neither, and then no blob hash: half a reference could never be fetched or opened. */
static int attachments_valid(const Refbus__V1__Referral *r)
{
    for (size_t i = 0; i < r->n_attachments; i++) {
        const Refbus__V1__AttachmentRef *a = r->attachments[i];
        if ((a->file_id.len != 0 && a->file_id.len != 32) || a->file_key.len != a->file_id.len ||
            (a->file_id.len && a->hash.len))
            return 0;
    }
    return 1;
}

int refbus_payload_inspect(refbus_payload_info *info, const uint8_t *payload, size_t len)
{
    Refbus__V1__Payload *pl = NULL;
    /* The same rule as the envelope (PROTOCOL.md 1.3): the bytes must be the one encoding of
     * what they say — no redundant varint, no field given twice (protobuf-c would keep the
     * last), no unknown field at any depth, not both a referral and a status (the oneof keeps
     * the last) — so every conforming reader sees the same content. ENOMEM (the parser ran out
     * of memory) is passed on: it says nothing about the bytes. */
    int rc = refbus_pb_unpack_with(&pl, &refbus_pb_wiping, 1, &refbus__v1__payload__descriptor,
                                   payload, len);
    if (rc)
        return rc;
    rc = REFBUS_EMALFORMED;
    memset(info, 0, offsetof(refbus_payload_info, text));
    info->text[0] = 0;
    if (!strings_valid(&pl->base))
        goto out;
    if (pl->body_case == REFBUS__V1__PAYLOAD__BODY_REFERRAL && pl->referral) {
        const Refbus__V1__Referral *r = pl->referral;
        if (r->thread_id.len != 16 || (int)r->urgency > REFBUS_URGENCY_IMMEDIATE_DANGER ||
            !attachments_valid(r))
            goto out;
        info->kind = REFBUS_KIND_REFERRAL;
        memcpy(info->thread_id, r->thread_id.data, 16);
        info->urgency = (int)r->urgency;
        copy_trunc(info->case_ref, sizeof info->case_ref, r->case_ref);
    } else if (pl->body_case == REFBUS__V1__PAYLOAD__BODY_STATUS && pl->status) {
        const Refbus__V1__StatusUpdate *s = pl->status;
        if (s->thread_id.len != 16 || (int)s->status < 1 || (int)s->status > REFBUS_TS_MAX ||
            (s->in_reply_to.len != 0 && s->in_reply_to.len != 16) || strlen(s->reason_code) > 64 ||
            strlen(s->text) > REFBUS_TEXT_MAX)
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
    refbus__v1__payload__free_unpacked(pl, &refbus_pb_wiping);
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
    set_str(o, "type", refbus_referral_enum_name(refbus_referral_types, (int)r->type));
    set_str(o, "urgency", refbus_referral_enum_name(refbus_referral_urgencies, (int)r->urgency));
    if (r->child) {
        const Refbus__V1__Child *c = r->child;
        json_t *cj = json_object();
        set_str(cj, "pseudonym", c->pseudonym);
        if (c->age)
            json_object_set_new(cj, "age", json_integer(c->age));
        set_str(cj, "age_band", c->age_band);
        set_str(cj, "gender", refbus_referral_enum_name(refbus_referral_genders, (int)c->gender));
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
            const char *n =
                refbus_referral_enum_name(refbus_referral_services, (int)r->services[i]);
            json_array_append_new(a, n ? json_string(n) : json_integer(r->services[i]));
        }
        json_object_set_new(o, "services", a);
    }
    if (r->consent) {
        json_t *cj = json_object();
        set_str(cj, "basis",
                refbus_referral_enum_name(refbus_referral_consent_bases, (int)r->consent->basis));
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
            set_hex(aj, "file_id", &at->file_id);
            set_hex(aj, "file_key", &at->file_key);
            json_array_append_new(a, aj);
        }
        json_object_set_new(o, "attachments", a);
    }
    return o;
}

int refbus_payload_to_json(json_t **out, const uint8_t *payload, size_t len)
{
    json_t *j = NULL, *b = NULL;
    Refbus__V1__Payload *pl = NULL;
    int rc = refbus_pb_unpack_with(&pl, &refbus_pb_wiping, 0, &refbus__v1__payload__descriptor,
                                   payload, len);
    if (rc)
        return rc;
    rc = REFBUS_EMALFORMED;
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
    refbus__v1__payload__free_unpacked(pl, &refbus_pb_wiping);
    return rc;
}
