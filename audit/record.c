/* Record peeking, naming and rendering. The peek is a hand-written walk over the protobuf wire
 * format so verify pays no allocation per record; it is fuzzed with the rest of the parsers. */
#include "audit/record.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "proto/merkle.h"
#include "common/util.h"
#include "proto/receipt.h"

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*p >= end)
            return -1;
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

int refbus_audit_record_peek(refbus_audit_peek *out, const uint8_t *rec, size_t len)
{
    const uint8_t *p = rec, *end = rec + len;
    refbus_audit_peek pk;
    if (!out || (!rec && len))
        return REFBUS_EINVAL;
    memset(&pk, 0, sizeof pk);
    while (p < end) {
        uint64_t tag, v = 0;
        if (varint(&p, end, &tag) != 0 || (tag >> 3) == 0)
            return REFBUS_EMALFORMED;
        uint64_t field = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (varint(&p, end, &v) != 0)
                return REFBUS_EMALFORMED;
            if (field == 2)
                pk.event = (uint32_t)v;
            else if (field == 16)
                pk.checkpoint_size = v;
            else if (field == 18) {
                pk.index = v;
                pk.has_index = 1;
            }
            break;
        case 1:
            if ((size_t)(end - p) < 8)
                return REFBUS_EMALFORMED;
            p += 8;
            break;
        case 5:
            if ((size_t)(end - p) < 4)
                return REFBUS_EMALFORMED;
            p += 4;
            break;
        case 2:
            if (varint(&p, end, &v) != 0 || v > (uint64_t)(end - p))
                return REFBUS_EMALFORMED;
            if (field == 19) {
                pk.signed_cp = p;
                pk.signed_cp_len = (size_t)v;
            }
            p += v;
            break;
        default: return REFBUS_EMALFORMED; /* groups are not used by proto3 */
        }
    }
    *out = pk;
    return 0;
}

/* An enum value's schema name without its prefix: EVENT_PEER_CONNECTED -> PEER_CONNECTED.
 * The names come from the schema, so they stay stable for as long as it does. */
static const char *enum_name(const ProtobufCEnumDescriptor *d, int value, const char *prefix)
{
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, value);
    size_t pl = strlen(prefix);
    if (!ev)
        return "unknown";
    return strncmp(ev->name, prefix, pl) == 0 ? ev->name + pl : ev->name;
}

const char *refbus_audit_event_name(uint32_t event)
{
    return enum_name(&refbus__v1__event_type__descriptor, (int)event, "EVENT_");
}

int refbus_audit_event_parse(const char *name)
{
    for (unsigned i = 0; i < refbus__v1__event_type__descriptor.n_values; i++) {
        int v = refbus__v1__event_type__descriptor.values[i].value;
        if (strcasecmp(refbus_audit_event_name((uint32_t)v), name) == 0)
            return v;
    }
    return -1;
}

const char *refbus_audit_kind_name(uint32_t kind)
{
    return enum_name(&refbus__v1__kind__descriptor, (int)kind, "KIND_");
}

const char *refbus_audit_priority_name(uint32_t priority)
{
    return enum_name(&refbus__v1__priority__descriptor, (int)priority, "PRIORITY_");
}

int refbus_audit_time_parse(const char *s, uint64_t *ms)
{
    struct tm tm;
    int y, mo, d, h = 0, mi = 0, n = 0;
    unsigned sec = 0, frac = 0, fdig = 0;
    const char *p;
    if (!s || !*s || !ms)
        return REFBUS_EINVAL;
    for (p = s; isdigit((unsigned char)*p); p++)
        ;
    if (!*p && p - s <= 19) { /* plain milliseconds */
        *ms = strtoull(s, NULL, 10);
        return 0;
    }
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return REFBUS_EINVAL;
    p = s + n;
    if (*p == 'T' || *p == ' ') {
        int n2 = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &n2) != 2 || n2 != 5)
            return REFBUS_EINVAL;
        p += 1 + n2;
        if (*p == ':') {
            if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
                return REFBUS_EINVAL;
            sec = (unsigned)((p[1] - '0') * 10 + (p[2] - '0'));
            p += 3;
            if (*p == '.') {
                for (p++; isdigit((unsigned char)*p); p++)
                    if (fdig++ < 3)
                        frac = frac * 10 + (unsigned)(*p - '0');
                if (fdig == 0)
                    return REFBUS_EINVAL;
                for (; fdig < 3; fdig++)
                    frac *= 10;
            }
        }
    }
    if (*p == 'Z')
        p++;
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
        return REFBUS_EINVAL;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = (int)sec;
    time_t t = timegm(&tm);
    if (t < 0)
        return REFBUS_EINVAL;
    *ms = (uint64_t)t * 1000u + frac;
    return 0;
}

static json_t *hexj(const uint8_t *b, size_t len)
{
    char *h = malloc(2 * len + 1);
    if (!h)
        return NULL;
    refbus_hex(h, b, len);
    json_t *j = json_string(h);
    free(h);
    return j;
}

static json_t *receipt_json(const ProtobufCBinaryData *b)
{
    refbus_receipt rc;
    char hex[65];
    if (b->len == 0 || refbus_receipt_parse(&rc, b->data, b->len) != 0)
        return json_null();
    refbus_hex(hex, rc.msg_id, sizeof rc.msg_id);
    char ehex[65];
    refbus_hex(ehex, rc.envelope_hash, sizeof rc.envelope_hash);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I}", "type",
                     refbus_receipt_type_name(rc.type), "msg_id", hex, "sender", rc.sender,
                     "recipient", rc.recipient, "envelope_hash", ehex, "time_ms",
                     (json_int_t)rc.time_ms, "signer", rc.signer, "signer_epoch",
                     (json_int_t)rc.signer_epoch);
}

json_t *refbus_audit_record_json(uint64_t index, const uint8_t *rec, size_t len)
{
    uint8_t leaf[REFBUS_MERKLE_HASH_BYTES];
    char t[40];
    refbus_merkle_leaf(leaf, rec, len);
    Refbus__V1__AuditRecord *r = refbus__v1__audit_record__unpack(NULL, len, rec);
    if (!r)
        return json_pack("{s:I, s:o, s:b, s:o}", "index", (json_int_t)index, "leaf_hash",
                         hexj(leaf, REFBUS_MERKLE_HASH_BYTES), "malformed", 1, "bytes",
                         hexj(rec, len));
    json_t *rcpt = json_array();
    for (size_t i = 0; rcpt && i < r->n_recipients; i++)
        json_array_append_new(rcpt, json_string(r->recipients[i]));
    refbus_time_iso(t, sizeof t, r->time_ms, 1);
    /* json_pack steals the "o" references even on failure, so nothing leaks on ENOMEM. */
    json_t *j = json_pack(
        "{s:I, s:o, s:I, s:s, s:i, s:I, s:s, s:o, s:s, s:o, s:s, s:o, s:i, s:s, s:s, s:o, s:o,"
        " s:I, s:s, s:s, s:I, s:I, s:o, s:o, s:o}",
        "index", (json_int_t)index, "leaf_hash", hexj(leaf, REFBUS_MERKLE_HASH_BYTES), "version",
        (json_int_t)r->version, "event", refbus_audit_event_name(r->event), "event_code",
        (int)r->event, "time_ms", (json_int_t)r->time_ms, "time", t, "msg_id",
        hexj(r->msg_id.data, r->msg_id.len), "sender", r->sender ? r->sender : "", "recipients",
        rcpt, "agency", r->agency ? r->agency : "", "envelope_hash",
        hexj(r->envelope_hash.data, r->envelope_hash.len), "reason", (int)r->reason, "reason_name",
        r->reason ? refbus_errname(r->reason) : "", "reason_text",
        r->reason_text ? r->reason_text : "", "receipt", hexj(r->receipt.data, r->receipt.len),
        "receipt_body", receipt_json(&r->receipt), "directory_serial",
        (json_int_t)r->directory_serial, "kind", refbus_audit_kind_name(r->kind), "priority",
        refbus_audit_priority_name(r->priority), "sender_epoch", (json_int_t)r->sender_epoch,
        "checkpoint_size", (json_int_t)r->checkpoint_size, "checkpoint_root",
        hexj(r->checkpoint_root.data, r->checkpoint_root.len), "signed_checkpoint",
        hexj(r->signed_checkpoint.data, r->signed_checkpoint.len), "peer_key",
        hexj(r->peer_key.data, r->peer_key.len));
    refbus__v1__audit_record__free_unpacked(r, NULL);
    return j;
}

/* A growing string for one timeline line. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    if (b->oom)
        return;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 256) + (size_t)n;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void sb_hex(sbuf *b, const char *label, const ProtobufCBinaryData *d)
{
    char h[2 * 64 + 1];
    if (d->len == 0)
        return;
    refbus_hex(h, d->data, d->len > 64 ? 64 : d->len);
    sb_printf(b, " %s=%s", label, h);
}

int refbus_audit_record_text(char **out, uint64_t index, const Refbus__V1__AuditRecord *r)
{
    sbuf b = {0};
    char t[40];
    refbus_time_iso(t, sizeof t, r->time_ms, 1);
    sb_printf(&b, "%s #%-7llu %-19s", t, (unsigned long long)index,
              refbus_audit_event_name(r->event));
    sb_hex(&b, "msg", &r->msg_id);
    if (r->sender && *r->sender) {
        sb_printf(&b, " %s", r->sender);
        if (r->n_recipients) {
            sb_printf(&b, " ->");
            for (size_t i = 0; i < r->n_recipients; i++)
                sb_printf(&b, "%s%s", i ? "," : " ", r->recipients[i]);
        }
    }
    if (r->agency && *r->agency)
        sb_printf(&b, " agency=%s", r->agency);
    if (r->kind)
        sb_printf(&b, " %s", refbus_audit_kind_name(r->kind));
    if (r->priority)
        sb_printf(&b, " %s", refbus_audit_priority_name(r->priority));
    if (r->reason)
        sb_printf(&b, " reason=%s", refbus_errname(r->reason));
    if (r->reason_text && *r->reason_text)
        sb_printf(&b, " (%s)", r->reason_text);
    if (r->receipt.len) {
        refbus_receipt rc;
        if (refbus_receipt_parse(&rc, r->receipt.data, r->receipt.len) == 0)
            sb_printf(&b, " receipt=%s by %s", refbus_receipt_type_name(rc.type), rc.signer);
        else
            sb_printf(&b, " receipt=(undecodable, %zu bytes)", r->receipt.len);
    }
    if (r->directory_serial)
        sb_printf(&b, " directory_serial=%llu", (unsigned long long)r->directory_serial);
    if (r->event == REFBUS__V1__EVENT_TYPE__EVENT_CHECKPOINT) {
        sb_printf(&b, " size=%llu", (unsigned long long)r->checkpoint_size);
        sb_hex(&b, "root", &r->checkpoint_root);
    }
    if (b.oom || !b.p) {
        free(b.p);
        return REFBUS_ENOMEM;
    }
    *out = b.p;
    return 0;
}
