/* Canonical-encoding check for protobuf-c messages. */
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

int refbus_pb_canonical(const ProtobufCMessage *m, const uint8_t *bytes, size_t len)
{
    uint8_t stackbuf[1024], *buf = stackbuf;
    if (m->n_unknown_fields != 0)
        return 0;
    if (protobuf_c_message_get_packed_size(m) != len)
        return 0;
    if (len == 0)
        return 1; /* an empty message: nothing to compare (and memcmp(NULL, ...) is UB) */
    if (len > sizeof stackbuf && !(buf = malloc(len)))
        return 0;
    protobuf_c_message_pack(m, buf);
    int same = memcmp(buf, bytes, len) == 0;
    if (buf != stackbuf)
        free(buf);
    return same;
}
