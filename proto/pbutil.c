/* The one way refbus unpacks untrusted protobuf bytes (allocation failure told apart from
 * malformed input), the canonical-encoding check, and the one pack into a malloc'd buffer. */
#include "proto/pbutil.h"

#include <stdlib.h>
#include <string.h>

#include "common/harden.h"

static void *wipe_alloc(void *data, size_t size)
{
    (void)data;
    return malloc(size ? size : 1);
}

static void wipe_release(void *data, void *p)
{
    (void)data;
    refbus_wipe_free(p);
}

ProtobufCAllocator refbus_pb_wiping = {wipe_alloc, wipe_release, NULL};

/* protobuf-c calls this for every allocation of an unpack: the base allocator (or malloc) does
 * the work, and a failure is noted, so that NULL from the unpack can be told apart. */
typedef struct track {
    ProtobufCAllocator *base; /* NULL: malloc / free */
    int failed;
} track;

static void *track_alloc(void *data, size_t size)
{
    track *t = data;
    void *p = t->base ? t->base->alloc(t->base->allocator_data, size) : malloc(size ? size : 1);
    if (!p)
        t->failed = 1;
    return p;
}

static void track_free(void *data, void *p)
{
    track *t = data;
    if (t->base)
        t->base->free(t->base->allocator_data, p);
    else
        free(p);
}

int refbus_pb_unpack_with(void *out, ProtobufCAllocator *base, int canonical,
                          const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len)
{
    track t = {base, 0};
    ProtobufCAllocator a = {track_alloc, track_free, &t};
    if (!bytes && len)
        return REFBUS_EMALFORMED;
    ProtobufCMessage *m =
        protobuf_c_message_unpack(desc, &a, len, bytes ? bytes : (const uint8_t *)"");
    if (!m)
        return t.failed ? REFBUS_ENOMEM : REFBUS_EMALFORMED;
    if (canonical && !refbus_pb_canonical(m, bytes, len)) {
        protobuf_c_message_free_unpacked(m, base);
        return REFBUS_EMALFORMED;
    }
    memcpy(out, &m, sizeof m);
    return 0;
}

int refbus_pb_unpack(void *out, const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                     size_t len)
{
    return refbus_pb_unpack_with(out, NULL, 0, desc, bytes, len);
}

int refbus_pb_unpack_canonical(void *out, const ProtobufCMessageDescriptor *desc,
                               const uint8_t *bytes, size_t len)
{
    return refbus_pb_unpack_with(out, NULL, 1, desc, bytes, len);
}

/* A ProtobufCBuffer that compares what is packed with the expected bytes instead of storing it. */
typedef struct cmp_buf {
    ProtobufCBuffer base;
    const uint8_t *want;
    size_t len, off;
    int differs;
} cmp_buf;

static void cmp_append(ProtobufCBuffer *buf, size_t n, const uint8_t *data)
{
    cmp_buf *c = (cmp_buf *)buf;
    if (c->differs)
        return;
    if (n > c->len - c->off || (n && memcmp(c->want + c->off, data, n) != 0)) {
        c->differs = 1;
        return;
    }
    c->off += n;
}

/* 1 when `m` or any message inside it carries unknown fields. protobuf-c packs unknown fields
 * back out, so only this walk (over the descriptors, covering fields added later) finds them
 * in sub-messages. */
static int has_unknown(const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (m->n_unknown_fields)
        return 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        const void *const *items = (const void *const *)base;
        size_t n = 1;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)m + f->quantifier_offset);
            items = *(const void *const *const *)base;
        } else if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                   *(const uint32_t *)((const char *)m + f->quantifier_offset) != f->id) {
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (items[k] && has_unknown(items[k]))
                return 1;
    }
    return 0;
}

int refbus_pb_canonical(const ProtobufCMessage *m, const uint8_t *bytes, size_t len)
{
    return !has_unknown(m) && refbus_pb_reencodes(m, bytes, len);
}

int refbus_pb_reencodes(const ProtobufCMessage *m, const uint8_t *bytes, size_t len)
{
    if (protobuf_c_message_get_packed_size(m) != len)
        return 0;
    cmp_buf c = {{cmp_append}, bytes, len, 0, 0};
    protobuf_c_message_pack_to_buffer(m, &c.base);
    return !c.differs && c.off == len;
}

int refbus_pb_pack_prefixed(uint8_t **out, size_t *out_len, const void *prefix, size_t prefix_len,
                            const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > SIZE_MAX - 1 - prefix_len)
        return REFBUS_ENOMEM;
    uint8_t *b = malloc(prefix_len + n ? prefix_len + n : 1);
    if (!b)
        return REFBUS_ENOMEM;
    if (prefix_len)
        memcpy(b, prefix, prefix_len);
    protobuf_c_message_pack(m, b + prefix_len);
    *out = b;
    *out_len = prefix_len + n;
    return 0;
}

int refbus_pb_pack(uint8_t **out, size_t *out_len, const ProtobufCMessage *m)
{
    return refbus_pb_pack_prefixed(out, out_len, NULL, 0, m);
}

int refbus_pb_set_string(char **field, const char *value)
{
    char *c = strdup(value ? value : "");
    if (!c)
        return REFBUS_ENOMEM;
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = c;
    return 0;
}
