/* What the node reads from the broker besides envelopes: the bodies of WELCOME, RECEIPT
 * (Notice), CHECKPOINT (CheckpointPush), ERROR (WireError), PING/PONG, and the signed receipts
 * of ACCEPTED / REJECTED. Decoded into fixed-size structs and checked for shape here, so the
 * session logic never touches raw protobuf from the network (and the fuzzer can hit it all). */
#ifndef REFBUS_NODES_BMSG_H
#define REFBUS_NODES_BMSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/envelope.h"
#include "proto/receipt.h"

#define REFBUS_BMSG_MAX_PROOF 128 /* REFBUS_MERKLE_MAX_PATH */

typedef struct nd_bmsg_welcome {
    uint32_t version;
    char broker_id[REFBUS_AGENCY_ID_MAX + 1];
    uint64_t directory_serial;
    uint32_t max_envelope;
    uint64_t audit_size;
} nd_bmsg_welcome;

/* A RECEIPT notice: the receipt bytes are copied (malloc'd; nd_bmsg_notice_clear). */
typedef struct nd_bmsg_notice {
    uint64_t seq;
    uint8_t *receipt;
    size_t receipt_len;
    refbus_receipt parsed; /* decoded, signature NOT checked */
} nd_bmsg_notice;

typedef struct nd_bmsg_checkpoint {
    uint8_t *signed_cp; /* malloc'd SignedCheckpoint bytes */
    size_t signed_cp_len;
    uint64_t from_size;
    size_t n_proof;
    uint8_t proof[REFBUS_BMSG_MAX_PROOF][32];
} nd_bmsg_checkpoint;

typedef struct nd_bmsg_error {
    int32_t code;
    char text[256];
    int has_msg_id; /* the answer to one SUBMIT (a transient "try again later") */
    uint8_t msg_id[16];
} nd_bmsg_error;

/* Each: Errors: REFBUS_EPROTO (not that message, or fields of the wrong size), REFBUS_ENOMEM;
 * notice_parse also REFBUS_ERECEIPT (a Notice whose receipt does not decode: n->seq is set). */
int nd_bmsg_welcome_parse(nd_bmsg_welcome *w, const uint8_t *b, size_t len) REFBUS_WUR;
int nd_bmsg_notice_parse(nd_bmsg_notice *n, const uint8_t *b, size_t len) REFBUS_WUR;
void nd_bmsg_notice_clear(nd_bmsg_notice *n);
int nd_bmsg_checkpoint_parse(nd_bmsg_checkpoint *c, const uint8_t *b, size_t len)
    REFBUS_WUR;
void nd_bmsg_checkpoint_clear(nd_bmsg_checkpoint *c);
int nd_bmsg_error_parse(nd_bmsg_error *e, const uint8_t *b, size_t len) REFBUS_WUR;
/* *session (may be NULL): the SessionState a broker's PONG carries (0 when absent). */
int nd_bmsg_ping_parse(uint64_t *time_ms, int *session, const uint8_t *b, size_t len)
    REFBUS_WUR;

/* Bodies the node sends. *out malloc'd, owned by the caller. Errors: REFBUS_ENOMEM. */
int nd_bmsg_hello(uint8_t **out, size_t *len, const char *agency, uint32_t epoch,
                      uint32_t credit, uint64_t directory_serial, uint64_t checkpoint_size)
    REFBUS_WUR;
int nd_bmsg_notice_ack(uint8_t **out, size_t *len, const uint64_t *seqs, size_t n)
    REFBUS_WUR;
int nd_bmsg_ping(uint8_t **out, size_t *len, uint64_t time_ms) REFBUS_WUR;
int nd_bmsg_proof_request(uint8_t **out, size_t *len, uint64_t from_size, uint64_t to_size)
    REFBUS_WUR;

#endif
