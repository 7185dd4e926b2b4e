/* protobuf-c helpers shared by every part: one way to unpack untrusted bytes (which tells
 * running out of memory apart from malformed bytes), one canonical-encoding rule, one way to
 * pack into a buffer of the caller's. */
#ifndef REFBUS_PROTO_PBUTIL_H
#define REFBUS_PROTO_PBUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/err.h"

/* Unpack `len` bytes as a message of `desc`. protobuf-c's unpack returns NULL both for bytes
 * that do not parse and for an allocation that failed on the way; this one unpacks through an
 * allocator that notes a failed allocation, so the two are told apart: only bytes that do not
 * parse with all the memory the parser asked for are malformed (a permanent property of the
 * bytes), running out of memory is transient (refbus_err_permanent).
 * `out` is the address of a `T *` for the message type of `desc`; on success *out is the message
 * (the caller frees it with the type's __free_unpacked(m, NULL) or
 * protobuf_c_message_free_unpacked(m, NULL)); on failure *out is untouched.
 * Errors: REFBUS_ENOMEM (an allocation failed: try again later), REFBUS_EMALFORMED. */
int refbus_pb_unpack(void *out, const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                     size_t len) REFBUS_WUR;

/* refbus_pb_unpack() and then refbus_pb_canonical(): the bytes must also be the one encoding of
 * what they say. Same ownership; errors: REFBUS_ENOMEM, REFBUS_EMALFORMED (does not parse, or
 * not canonical). */
int refbus_pb_unpack_canonical(void *out, const ProtobufCMessageDescriptor *desc,
                               const uint8_t *bytes, size_t len) REFBUS_WUR;

/* Both of the above with the allocator `base` underneath (NULL = malloc/free), e.g.
 * &refbus_pb_wiping for messages that hold plaintext: the message is then freed with `base`.
 * `canonical` 1 adds the canonical check. Same errors. */
int refbus_pb_unpack_with(void *out, ProtobufCAllocator *base, int canonical,
                          const ProtobufCMessageDescriptor *desc, const uint8_t *bytes,
                          size_t len) REFBUS_WUR;

/* 1 when `m` (unpacked from `bytes`) re-encodes to exactly `bytes`, unknown fields (which
 * protobuf-c writes back) included: the byte comparison alone. The signed directory allows
 * unknown fields (KEYS-FORMAT.md); everything else uses refbus_pb_canonical(). No allocation. */
int refbus_pb_reencodes(const ProtobufCMessage *m, const uint8_t *bytes, size_t len);

/* 1 when `m` (unpacked from `bytes`) re-encodes to exactly `bytes`: no unknown fields (in `m` or
 * any message inside it), no reordering, no duplicate or non-minimal fields, no field given
 * twice. Signed bytes must be
 * the only encoding of what they say, so a hash of them names the message and nothing unsigned
 * rides along. Compares while packing (no allocation), so 0 is always a property of the bytes. */
int refbus_pb_canonical(const ProtobufCMessage *m, const uint8_t *bytes, size_t len);

/* The one way refbus packs a message into a buffer of its own: `prefix_len` bytes of `prefix`
 * (NULL, 0 for none; a file's magic, say) and then `m`, in one malloc'd block of at least one
 * byte. On success *out belongs to the caller, who releases it with free(), or with
 * refbus_wipe_free() when `m` held plaintext (no copy of it is left elsewhere); *out_len is its
 * length. On failure *out and *out_len are untouched. Errors: REFBUS_ENOMEM. */
int refbus_pb_pack(uint8_t **out, size_t *out_len, const ProtobufCMessage *m) REFBUS_WUR;
int refbus_pb_pack_prefixed(uint8_t **out, size_t *out_len, const void *prefix, size_t prefix_len,
                            const ProtobufCMessage *m) REFBUS_WUR;

/* An allocator for messages that hold plaintext (a decrypted Payload, the node's store
 * records): malloc, and a free that wipes every block before releasing it (strings, bytes,
 * repeated arrays, the structs). Compatible with plain malloc, so hand-built messages can be
 * freed with it too. Pass its address to *__unpack / *__free_unpacked. */
extern ProtobufCAllocator refbus_pb_wiping;

/* Replace a string field of a protobuf-c message with a malloc'd copy of `value` (NULL = "").
 * Unset fields of unpacked messages point to protobuf-c's static empty string, which must
 * never be freed; this knows. Errors: REFBUS_ENOMEM (the field is unchanged). */
int refbus_pb_set_string(char **field, const char *value) REFBUS_WUR;

#endif
