/* The node store's record codec (nodes/store/codec.c): the record types of
 * nodes/store/node_store.proto and the one place they are unpacked and freed. Needs protobuf-c
 * only (no LMDB): the thread rules (nodes/rules/) build on it, the store (records.h) too. */
#ifndef REFBUS_NODES_STORE_CODEC_H
#define REFBUS_NODES_STORE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "node_store.pb-c.h"

typedef Refbus__Nodestore__OutboxRecord refbus_outbox_rec;
typedef Refbus__Nodestore__SentRecord refbus_sent_rec;
typedef Refbus__Nodestore__InboxRecord refbus_inbox_rec;

/* The one place node store records are unpacked and freed (tests/check_nodestore_wipe.sh keeps
 * it so): protobuf-c's allocator here is malloc plus a free that wipes every block (strings,
 * bytes, repeated arrays, the message structs) before releasing it, so no case text, case
 * reference or payload outlives its record. Records built by hand with malloc/strdup (thread.c)
 * are freed the same way. unpack: NULL when the bytes do not decode (or out of memory). */
ProtobufCMessage *refbus_nrec_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *b,
                                     size_t len);
/* Wipe and free any node store record (unpacked or hand-built); accepts NULL. */
void refbus_nrec_free(ProtobufCMessage *m);
refbus_outbox_rec *refbus_nrec_outbox_unpack(const uint8_t *b, size_t len);
refbus_inbox_rec *refbus_nrec_inbox_unpack(const uint8_t *b, size_t len);

#endif
