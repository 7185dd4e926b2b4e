/* Framing over ZeroMQ multipart messages. Every frame of a message is read before judging it, so
 * a malformed message never leaves stray frames that would desynchronise the next one. */
#include "proto/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "proto/frames.h"

/* Indexed by command number; NULL for the numbers this version does not assign. */
static const char *const cmd_names[REFBUS_CMD_MAX + 1] = {
    [REFBUS_CMD_HELLO] = "HELLO",
    [REFBUS_CMD_WELCOME] = "WELCOME",
    [REFBUS_CMD_SUBMIT] = "SUBMIT",
    [REFBUS_CMD_ACCEPTED] = "ACCEPTED",
    [REFBUS_CMD_REJECTED] = "REJECTED",
    [REFBUS_CMD_DELIVER] = "DELIVER",
    [REFBUS_CMD_DELIVERED] = "DELIVERED",
    [REFBUS_CMD_RECEIPT] = "RECEIPT",
    [REFBUS_CMD_RECEIPT_ACK] = "RECEIPT_ACK",
    [REFBUS_CMD_PING] = "PING",
    [REFBUS_CMD_PONG] = "PONG",
    [REFBUS_CMD_DIRECTORY] = "DIRECTORY",
    [REFBUS_CMD_CHECKPOINT] = "CHECKPOINT",
    [REFBUS_CMD_ERROR] = "ERROR",
    [REFBUS_CMD_PROOF_REQUEST] = "PROOF_REQUEST",
};

int refbus_wire_cmd_known(uint8_t cmd)
{
    return cmd <= REFBUS_CMD_MAX && cmd_names[cmd] != NULL;
}

const char *refbus_wire_cmd_name(uint8_t cmd)
{
    return refbus_wire_cmd_known(cmd) ? cmd_names[cmd] : "UNKNOWN";
}

int refbus_wire_send(void *sock, const uint8_t *rid, size_t rid_len, uint8_t cmd, const void *body,
                     size_t body_len)
{
    /* The first frame decides: with ROUTER_MANDATORY an unroutable peer fails here with
     * EHOSTUNREACH and nothing is queued; later frames of an accepted message do not fail. */
    if (rid && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN         ? REFBUS_EAGAIN
               : errno == EHOSTUNREACH ? REFBUS_EUNKNOWNPEER
                                       : REFBUS_ETRANSPORT;
    if (zmq_send(sock, REFBUS_WIRE_SIG, REFBUS_WIRE_SIG_LEN, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return (errno == EAGAIN || errno == EHOSTUNREACH) ? REFBUS_EAGAIN : REFBUS_ETRANSPORT;
    if (zmq_send(sock, &cmd, 1, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return REFBUS_ETRANSPORT;
    if (zmq_send(sock, body_len ? body : "", body_len, ZMQ_DONTWAIT) < 0)
        return REFBUS_ETRANSPORT;
    return 0;
}

void refbus_wire_msg_clear(refbus_wire_msg *msg)
{
    if (!msg)
        return;
    free(msg->body);
    memset(msg, 0, sizeof *msg);
}

int refbus_wire_recv(void *sock, int router, refbus_wire_msg *msg)
{
    refbus_frames fs;
    size_t sig = router ? 1 : 0; /* index of the signature frame, after a routing id */
    int rc = 0;
    memset(msg, 0, sizeof *msg);
    msg->peer_fd = -1;
    /* The body's limit is applied below, in the protocol's order of errors (which one a
     * message with several faults gets is on the wire: PROTOCOL.md 3.1). */
    int frc = refbus_frames_recv(&fs, sock, ZMQ_DONTWAIT, sig + 3, REFBUS_WIRE_MAX_BODY, 0);
    if (frc == REFBUS_EAGAIN || frc == REFBUS_ETRANSPORT)
        return frc;
    for (size_t i = 0; i < fs.n; i++) {
        zmq_msg_t *part = &fs.part[i];
        const uint8_t *d = zmq_msg_data(part);
        size_t n = zmq_msg_size(part);
        if (!msg->peer_user_id[0]) {
            /* A ROUTER's routing-id frame is made locally and carries no metadata; the
             * frames that came over the connection do. */
            const char *uid = zmq_msg_gets(part, "User-Id");
            if (uid) {
                strncpy(msg->peer_user_id, uid, sizeof msg->peer_user_id - 1);
                msg->peer_fd = zmq_msg_get(part, ZMQ_SRCFD); /* -1 when libzmq has none */
            }
        }
        if (i >= sig && msg->peer_fd < 0) /* a DEALER's frames carry no User-Id, but their fd */
            msg->peer_fd = zmq_msg_get(part, ZMQ_SRCFD);
        if (i < sig) {
            if (n <= sizeof msg->rid) {
                memcpy(msg->rid, d, n);
                msg->rid_len = n;
            }
        } else if (i == sig) {
            if (n != REFBUS_WIRE_SIG_LEN || memcmp(d, REFBUS_WIRE_SIG, n) != 0)
                rc = rc ? rc : REFBUS_EPROTO;
        } else if (i == sig + 1) {
            if (n != 1 || !refbus_wire_cmd_known(d[0]))
                rc = rc ? rc : REFBUS_EPROTO;
            else
                msg->cmd = d[0];
        } else if (n > REFBUS_WIRE_MAX_BODY) {
            rc = rc ? rc : REFBUS_ETOOLARGE;
        } else if (!rc) {
            if (!(msg->body = malloc(n ? n : 1)))
                rc = REFBUS_ENOMEM;
            else {
                memcpy(msg->body, d, n);
                msg->body_len = n;
            }
        }
    }
    /* what the frames after the routing id cost on the connection, dropped ones included */
    size_t logical = fs.count - sig;
    msg->wire_bytes =
        fs.bytes - (sig ? zmq_msg_size(&fs.part[0]) : 0) + logical * REFBUS_WIRE_FRAME_OVERHEAD;
    refbus_frames_close(&fs);
    if (logical != 3 && (rc == 0 || rc == REFBUS_EPROTO))
        rc = REFBUS_EFRAMES;
    if (rc) {
        free(msg->body);
        msg->body = NULL;
        msg->body_len = 0;
    }
    return rc;
}
