/* The bodies of the broker <-> node wire commands (proto/wire.proto, docs/PROTOCOL.md section 3):
 * one encoder and one decoder per body, used by the broker, the node and the test client, so
 * that a body's shape rules (sizes of ids and hashes, how many proof hashes) live here only.
 * Envelopes, receipts and directories travel as their own bytes and have their own modules.
 *
 * Encoders: *out is malloc'd (at least one byte) and belongs to the caller (free()); on failure
 * *out and *len are untouched. Errors: REFBUS_ENOMEM, and REFBUS_EINVAL where a value breaks the
 * body's rules (said per body) — what an encoder writes, the decoder accepts.
 * Decoders read untrusted bytes (through refbus_pb_unpack: not canonical-strict, as the wire
 * never was); on success the struct is filled, owning what the body says; on failure it is left
 * cleared (safe to _clear). Errors: REFBUS_EPROTO (the bytes are not that body, or break its
 * rules: permanent), REFBUS_ENOMEM (transient: the peer sends it again). */
#ifndef REFBUS_PROTO_WIRE_BODY_H
#define REFBUS_PROTO_WIRE_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/envelope.h"
#include "proto/merkle.h"

#define REFBUS_WIRE_HASH_BYTES REFBUS_MERKLE_HASH_BYTES /* a Merkle hash in a consistency proof */
#define REFBUS_WIRE_MAX_PROOF 128u      /* consistency hashes in a CHECKPOINT (MERKLE_MAX_PATH) */
#define REFBUS_WIRE_ERROR_TEXT_MAX 255u /* bytes of WireError.text kept (and sent) */

/* SessionState of a PONG (wire.proto). */
enum refbus_wire_session {
    REFBUS_WIRE_SESSION_UNSPECIFIED = 0,
    REFBUS_WIRE_SESSION_ACTIVE = 1, /* this connection holds the agency's session */
    REFBUS_WIRE_SESSION_OTHER = 2,  /* another connection holds it */
    REFBUS_WIRE_SESSION_NONE = 3    /* nobody holds it */
};

/* HELLO. No rule on `agency` here: a name that is not the authenticated agency is the
 * broker's ESENDER, not a malformed body. Decoded: `agency` malloc'd (never NULL), released by
 * refbus_wire_hello_clear(); encoded: read only (NULL sends ""). */
typedef struct refbus_wire_hello {
    uint32_t version;
    char *agency;
    uint32_t epoch;
    uint32_t credit;
    uint64_t directory_serial;
    uint64_t checkpoint_size;
} refbus_wire_hello;

/* WELCOME. Rule: broker_id at most REFBUS_AGENCY_ID_MAX bytes (a longer one cannot be
 * encoded from this struct, and does not decode). */
typedef struct refbus_wire_welcome {
    uint32_t version;
    char broker_id[REFBUS_AGENCY_ID_MAX + 1];
    uint64_t directory_serial;
    uint32_t max_envelope;
    uint64_t audit_size;
} refbus_wire_welcome;

/* RECEIPT (Notice). The receipt bytes are not looked at here (an empty or bad receipt is the
 * node's ERECEIPT: the seq is still known, so the notice can be acknowledged). Decoded:
 * `receipt` a malloc'd copy (NULL when empty), released by refbus_wire_notice_clear(). */
typedef struct refbus_wire_notice {
    uint64_t seq;
    uint8_t *receipt;
    size_t receipt_len;
} refbus_wire_notice;

/* RECEIPT_ACK (NoticeAck). Decoded: `seq` malloc'd (NULL when n_seq is 0), released by
 * refbus_wire_notice_ack_clear(). */
typedef struct refbus_wire_notice_ack {
    uint64_t *seq;
    size_t n_seq;
} refbus_wire_notice_ack;

/* CHECKPOINT (CheckpointPush). Rules: signed_cp not empty, at most REFBUS_WIRE_MAX_PROOF
 * consistency hashes of REFBUS_WIRE_HASH_BYTES each (EINVAL / EPROTO otherwise). Decoded:
 * `signed_cp` and `proof` malloc'd (proof NULL when n_proof is 0), released by
 * refbus_wire_checkpoint_push_clear(). */
typedef struct refbus_wire_checkpoint_push {
    uint8_t *signed_cp; /* SignedCheckpoint bytes, not checked here */
    size_t signed_cp_len;
    uint64_t from_size;
    uint8_t (*proof)[REFBUS_WIRE_HASH_BYTES];
    size_t n_proof;
} refbus_wire_checkpoint_push;

/* PROOF_REQUEST. */
typedef struct refbus_wire_proof_request {
    uint64_t from_size;
    uint64_t to_size;
} refbus_wire_proof_request;

/* ERROR (WireError). Rules: msg_id absent or REFBUS_MSG_ID_BYTES long (EPROTO otherwise);
 * text is what goes to logs and status as is, so it is kept as printable ASCII, every other
 * byte decoded as '?', and at most REFBUS_WIRE_ERROR_TEXT_MAX bytes (a longer one is cut, on
 * both sides). */
typedef struct refbus_wire_error {
    int32_t code;
    char text[REFBUS_WIRE_ERROR_TEXT_MAX + 1];
    int has_msg_id; /* the answer to one SUBMIT (a transient "try again later") */
    uint8_t msg_id[REFBUS_MSG_ID_BYTES];
} refbus_wire_error;

/* PING / PONG. `session`: an enum refbus_wire_session as sent (a value this version does not
 * know is kept as is: the reader decides). */
typedef struct refbus_wire_ping {
    uint64_t time_ms;
    int32_t session;
} refbus_wire_ping;

int refbus_wire_hello_encode(uint8_t **out, size_t *len, const refbus_wire_hello *v) REFBUS_WUR;
int refbus_wire_hello_decode(refbus_wire_hello *v, const uint8_t *b, size_t len) REFBUS_WUR;
void refbus_wire_hello_clear(refbus_wire_hello *v);

/* Errors also: REFBUS_EINVAL (broker_id not terminated within the struct). */
int refbus_wire_welcome_encode(uint8_t **out, size_t *len, const refbus_wire_welcome *v) REFBUS_WUR;
int refbus_wire_welcome_decode(refbus_wire_welcome *v, const uint8_t *b, size_t len) REFBUS_WUR;

int refbus_wire_notice_encode(uint8_t **out, size_t *len, const refbus_wire_notice *v) REFBUS_WUR;
int refbus_wire_notice_decode(refbus_wire_notice *v, const uint8_t *b, size_t len) REFBUS_WUR;
void refbus_wire_notice_clear(refbus_wire_notice *v);

int refbus_wire_notice_ack_encode(uint8_t **out, size_t *len,
                                  const refbus_wire_notice_ack *v) REFBUS_WUR;
int refbus_wire_notice_ack_decode(refbus_wire_notice_ack *v, const uint8_t *b,
                                  size_t len) REFBUS_WUR;
void refbus_wire_notice_ack_clear(refbus_wire_notice_ack *v);

/* Errors also: REFBUS_EINVAL (an empty signed_cp, too many proof hashes). */
int refbus_wire_checkpoint_push_encode(uint8_t **out, size_t *len,
                                       const refbus_wire_checkpoint_push *v) REFBUS_WUR;
int refbus_wire_checkpoint_push_decode(refbus_wire_checkpoint_push *v, const uint8_t *b,
                                       size_t len) REFBUS_WUR;
void refbus_wire_checkpoint_push_clear(refbus_wire_checkpoint_push *v);

int refbus_wire_proof_request_encode(uint8_t **out, size_t *len,
                                     const refbus_wire_proof_request *v) REFBUS_WUR;
int refbus_wire_proof_request_decode(refbus_wire_proof_request *v, const uint8_t *b,
                                     size_t len) REFBUS_WUR;

/* Errors also: REFBUS_EINVAL (text not terminated within the struct). */
int refbus_wire_error_encode(uint8_t **out, size_t *len, const refbus_wire_error *v) REFBUS_WUR;
int refbus_wire_error_decode(refbus_wire_error *v, const uint8_t *b, size_t len) REFBUS_WUR;
/* Fill *v for an encode: text cut to REFBUS_WIRE_ERROR_TEXT_MAX bytes, msg_id NULL for none. */
void refbus_wire_error_set(refbus_wire_error *v, int code, const char *text, const uint8_t *msg_id);

int refbus_wire_ping_encode(uint8_t **out, size_t *len, const refbus_wire_ping *v) REFBUS_WUR;
int refbus_wire_ping_decode(refbus_wire_ping *v, const uint8_t *b, size_t len) REFBUS_WUR;

#endif
