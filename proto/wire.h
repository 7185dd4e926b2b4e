/* The broker <-> node framing over ZeroMQ (docs/PROTOCOL.md section 3): every message is
 * exactly three frames — protocol signature "RBUS" 0x01, a one-byte command, a body — preceded
 * on the broker's ROUTER side by the peer's routing id. Sends are non-blocking: EAGAIN and
 * EHOSTUNREACH mean "leave it queued", never "delivered". */
#ifndef REFBUS_PROTO_WIRE_H
#define REFBUS_PROTO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define REFBUS_WIRE_SIG "RBUS\x01"
#define REFBUS_WIRE_SIG_LEN 5u
#define REFBUS_WIRE_VERSION 1u
#define REFBUS_WIRE_MAX_BODY (1536u * 1024u) /* an envelope (<= 1400 KiB) plus slack */
#define REFBUS_ZAP_DOMAIN "refbus"

enum refbus_cmd {
    REFBUS_CMD_HELLO = 0x01,       /* node -> broker: Hello */
    REFBUS_CMD_WELCOME = 0x02,     /* broker -> node: Welcome */
    REFBUS_CMD_SUBMIT = 0x03,      /* node -> broker: envelope bytes */
    REFBUS_CMD_ACCEPTED = 0x04,    /* broker -> node: SignedReceipt (ACCEPTED) */
    REFBUS_CMD_REJECTED = 0x05,    /* broker -> node: SignedReceipt (REJECTED, reason) */
    REFBUS_CMD_DELIVER = 0x06,     /* broker -> node: envelope bytes */
    REFBUS_CMD_DELIVERED = 0x07,   /* node -> broker: SignedReceipt (DELIVERED) by recipient */
    REFBUS_CMD_RECEIPT = 0x08,     /* broker -> node: Notice (forwarded / EXPIRED receipt) */
    REFBUS_CMD_RECEIPT_ACK = 0x09, /* node -> broker: NoticeAck */
    REFBUS_CMD_PING = 0x0a,        /* either way: Ping */
    REFBUS_CMD_PONG = 0x0b,        /* either way: Ping (echoed) */
    REFBUS_CMD_DIRECTORY = 0x0c,   /* broker -> node: SignedDirectory bytes */
    REFBUS_CMD_CHECKPOINT = 0x0d,  /* broker -> node: CheckpointPush */
    REFBUS_CMD_ERROR = 0x0e,       /* broker -> node: WireError */
    /* 0x0f..0x12: reserved (not assigned in this version: refused with EPROTO) */
    REFBUS_CMD_PROOF_REQUEST = 0x13, /* node -> broker: ProofRequest; answered by CHECKPOINT */
    REFBUS_CMD_MAX = 0x13
};

/* One received message. `rid` is the ROUTER routing id (empty on a DEALER). `body` is malloc'd
 * and owned by the message: release with refbus_wire_msg_clear(). */
typedef struct refbus_wire_msg {
    uint8_t rid[256];
    size_t rid_len;
    uint8_t cmd;
    uint8_t *body;
    size_t body_len;
    char peer_user_id[256]; /* ZAP user id of the connection ("" when none) */
    int peer_fd;            /* the connection's descriptor (ZMQ_SRCFD), -1 when unknown */
    size_t wire_bytes;      /* what the message cost on the connection: its frames plus
                             * REFBUS_WIRE_FRAME_OVERHEAD each (broker/inflow.c) */
} refbus_wire_msg;

/* Bytes a frame costs on a CurveZMQ connection beyond its data, rounded up: the ZMTP command
 * header (up to 9), "\x07MESSAGE" (8), nonce (8), flags (1), MAC (16). */
#define REFBUS_WIRE_FRAME_OVERHEAD 48u

/* Send one message without blocking. `rid` NULL on a DEALER. Success is not delivery.
 * Errors: REFBUS_EAGAIN (EAGAIN: the peer's pipe is full; not sent, keep it queued),
 * REFBUS_EUNKNOWNPEER (EHOSTUNREACH on a ROUTER_MANDATORY socket: that connection is gone),
 * REFBUS_ETRANSPORT. */
int refbus_wire_send(void *sock, const uint8_t *rid, size_t rid_len, uint8_t cmd, const void *body,
                     size_t body_len) REFBUS_WUR;

/* Receive one whole message without blocking; every frame is consumed even when the message is
 * refused. Errors: REFBUS_EAGAIN (nothing waiting), REFBUS_EFRAMES (wrong frame count; msg->rid
 * is still set when it was there), REFBUS_EPROTO (bad signature frame or unknown command),
 * REFBUS_ETOOLARGE (body over REFBUS_WIRE_MAX_BODY), REFBUS_ENOMEM, REFBUS_ETRANSPORT. */
int refbus_wire_recv(void *sock, int router, refbus_wire_msg *msg) REFBUS_WUR;

void refbus_wire_msg_clear(refbus_wire_msg *msg);

/* The command's name ("SUBMIT"), or "UNKNOWN" for a number this version does not assign. */
const char *refbus_wire_cmd_name(uint8_t cmd);
/* 1 when `cmd` is a command of this version (the unassigned numbers below CMD_MAX are not). */
int refbus_wire_cmd_known(uint8_t cmd);

#endif
