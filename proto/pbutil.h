/* protobuf-c helpers shared by every parser of signed bytes. */
#ifndef REFBUS_PROTO_PBUTIL_H
#define REFBUS_PROTO_PBUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* 1 when `m` (unpacked from `bytes`) re-encodes to exactly `bytes`: no unknown fields, no
 * reordering, no duplicate or non-minimal fields. Signed bytes must be the only encoding of
 * what they say, so a hash of them names the message and nothing unsigned rides along.
 * Costs one pack into a temporary buffer. */
int refbus_pb_canonical(const ProtobufCMessage *m, const uint8_t *bytes, size_t len);

/* An allocator for messages that hold plaintext (a decrypted Payload, the node's store
 * records): malloc, and a free that wipes every block before releasing it (strings, bytes,
 * repeated arrays, the structs). Compatible with plain malloc, so hand-built messages can be
 * freed with it too. Pass its address to *__unpack / *__free_unpacked. */
extern ProtobufCAllocator refbus_pb_wiping;

#endif
