/* The node store's record codec: the one place node store records (node_store.proto) are
 * unpacked and freed (they are packed with refbus_pb_pack), with protobuf-c's wiping allocator
 * (tests/check_nodestore_wipe.sh keeps it so). No LMDB here, so the thread rules
 * (nodes/rules/thread.c) use it without the store. */
#include "nodes/store/codec.h"

#include <stdlib.h>

#include "proto/pbutil.h"

ProtobufCMessage *refbus_nrec_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *b,
                                     size_t len)
{
    return protobuf_c_message_unpack(desc, &refbus_pb_wiping, len, b);
}

void refbus_nrec_free(ProtobufCMessage *m)
{
    if (m)
        protobuf_c_message_free_unpacked(m, &refbus_pb_wiping);
}

refbus_outbox_rec *refbus_nrec_outbox_unpack(const uint8_t *b, size_t len)
{
    return (refbus_outbox_rec *)refbus_nrec_unpack(&refbus__nodestore__outbox_record__descriptor, b,
                                                   len);
}

refbus_inbox_rec *refbus_nrec_inbox_unpack(const uint8_t *b, size_t len)
{
    return (refbus_inbox_rec *)refbus_nrec_unpack(&refbus__nodestore__inbox_record__descriptor, b,
                                                  len);
}
