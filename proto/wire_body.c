/* Wire bodies (see wire_body.h): each encoder fills the protobuf-c message and packs it with
 * refbus_pb_pack; each decoder unpacks with refbus_pb_unpack, checks the body's rules and
 * copies into the caller's struct, so no protobuf-c memory outlives the call. */
#include "proto/wire_body.h"

#include <stdlib.h>
#include <string.h>

#include "proto/pbutil.h"
#include "wire.pb-c.h"

/* Bytes that are not the body are EPROTO on the wire (PROTOCOL.md: "a body that does not
 * decode"); running out of memory stays ENOMEM. */
static int unpack(void *out, const ProtobufCMessageDescriptor *desc, const uint8_t *b, size_t len)
{
    int rc = refbus_pb_unpack(out, desc, b, len);
    return rc == REFBUS_EMALFORMED ? REFBUS_EPROTO : rc;
}

/* A malloc'd copy of `len` bytes (NULL for none). */
static int copy_bytes(uint8_t **out, const uint8_t *b, size_t len)
{
    *out = NULL;
    if (!len)
        return 0;
    if (!(*out = malloc(len)))
        return REFBUS_ENOMEM;
    memcpy(*out, b, len);
    return 0;
}

/* ---- HELLO ------------------------------------------------------------------------------- */

int refbus_wire_hello_encode(uint8_t **out, size_t *len, const refbus_wire_hello *v)
{
    Refbus__V1__Hello h = REFBUS__V1__HELLO__INIT;
    h.version = v->version;
    h.agency = v->agency ? v->agency : (char *)"";
    h.epoch = v->epoch;
    h.credit = v->credit;
    h.directory_serial = v->directory_serial;
    h.checkpoint_size = v->checkpoint_size;
    return refbus_pb_pack(out, len, &h.base);
}

int refbus_wire_hello_decode(refbus_wire_hello *v, const uint8_t *b, size_t len)
{
    Refbus__V1__Hello *m = NULL;
    int rc = unpack(&m, &refbus__v1__hello__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    const char *a = m->agency ? m->agency : "";
    if (!(v->agency = strdup(a))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    v->version = m->version;
    v->epoch = m->epoch;
    v->credit = m->credit;
    v->directory_serial = m->directory_serial;
    v->checkpoint_size = m->checkpoint_size;
out:
    refbus__v1__hello__free_unpacked(m, NULL);
    return rc;
}

void refbus_wire_hello_clear(refbus_wire_hello *v)
{
    if (v) {
        free(v->agency);
        memset(v, 0, sizeof *v);
    }
}

/* ---- WELCOME ----------------------------------------------------------------------------- */

int refbus_wire_welcome_encode(uint8_t **out, size_t *len, const refbus_wire_welcome *v)
{
    Refbus__V1__Welcome w = REFBUS__V1__WELCOME__INIT;
    if (!memchr(v->broker_id, 0, sizeof v->broker_id))
        return REFBUS_EINVAL;
    w.version = v->version;
    w.broker_id = (char *)v->broker_id;
    w.directory_serial = v->directory_serial;
    w.max_envelope = v->max_envelope;
    w.audit_size = v->audit_size;
    return refbus_pb_pack(out, len, &w.base);
}

int refbus_wire_welcome_decode(refbus_wire_welcome *v, const uint8_t *b, size_t len)
{
    Refbus__V1__Welcome *m = NULL;
    int rc = unpack(&m, &refbus__v1__welcome__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    size_t idl = m->broker_id ? strlen(m->broker_id) : 0;
    if (idl > REFBUS_AGENCY_ID_MAX) {
        rc = REFBUS_EPROTO;
        goto out;
    }
    memcpy(v->broker_id, m->broker_id ? m->broker_id : "", idl);
    v->version = m->version;
    v->directory_serial = m->directory_serial;
    v->max_envelope = m->max_envelope;
    v->audit_size = m->audit_size;
out:
    refbus__v1__welcome__free_unpacked(m, NULL);
    return rc;
}

/* ---- RECEIPT (Notice) -------------------------------------------------------------------- */

int refbus_wire_notice_encode(uint8_t **out, size_t *len, const refbus_wire_notice *v)
{
    Refbus__V1__Notice n = REFBUS__V1__NOTICE__INIT;
    n.seq = v->seq;
    n.receipt = (ProtobufCBinaryData){v->receipt_len, v->receipt};
    return refbus_pb_pack(out, len, &n.base);
}

int refbus_wire_notice_decode(refbus_wire_notice *v, const uint8_t *b, size_t len)
{
    Refbus__V1__Notice *m = NULL;
    int rc = unpack(&m, &refbus__v1__notice__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    if ((rc = copy_bytes(&v->receipt, m->receipt.data, m->receipt.len)) == 0) {
        v->receipt_len = m->receipt.len;
        v->seq = m->seq;
    }
    refbus__v1__notice__free_unpacked(m, NULL);
    return rc;
}

void refbus_wire_notice_clear(refbus_wire_notice *v)
{
    if (v) {
        free(v->receipt);
        memset(v, 0, sizeof *v);
    }
}

/* ---- RECEIPT_ACK (NoticeAck) ------------------------------------------------------------- */

int refbus_wire_notice_ack_encode(uint8_t **out, size_t *len, const refbus_wire_notice_ack *v)
{
    Refbus__V1__NoticeAck a = REFBUS__V1__NOTICE_ACK__INIT;
    a.n_seq = v->n_seq;
    a.seq = v->seq;
    return refbus_pb_pack(out, len, &a.base);
}

int refbus_wire_notice_ack_decode(refbus_wire_notice_ack *v, const uint8_t *b, size_t len)
{
    Refbus__V1__NoticeAck *m = NULL;
    int rc = unpack(&m, &refbus__v1__notice_ack__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    if (m->n_seq) {
        if (!(v->seq = malloc(m->n_seq * sizeof *v->seq)))
            rc = REFBUS_ENOMEM;
        else {
            memcpy(v->seq, m->seq, m->n_seq * sizeof *v->seq);
            v->n_seq = m->n_seq;
        }
    }
    refbus__v1__notice_ack__free_unpacked(m, NULL);
    return rc;
}

void refbus_wire_notice_ack_clear(refbus_wire_notice_ack *v)
{
    if (v) {
        free(v->seq);
        memset(v, 0, sizeof *v);
    }
}

/* ---- CHECKPOINT (CheckpointPush) --------------------------------------------------------- */

int refbus_wire_checkpoint_push_encode(uint8_t **out, size_t *len,
                                       const refbus_wire_checkpoint_push *v)
{
    ProtobufCBinaryData hs[REFBUS_WIRE_MAX_PROOF];
    Refbus__V1__CheckpointPush m = REFBUS__V1__CHECKPOINT_PUSH__INIT;
    if (v->signed_cp_len == 0 || v->n_proof > REFBUS_WIRE_MAX_PROOF)
        return REFBUS_EINVAL;
    for (size_t i = 0; i < v->n_proof; i++)
        hs[i] = (ProtobufCBinaryData){REFBUS_WIRE_HASH_BYTES, v->proof[i]};
    m.signed_checkpoint = (ProtobufCBinaryData){v->signed_cp_len, v->signed_cp};
    m.from_size = v->from_size;
    m.n_consistency = v->n_proof;
    m.consistency = v->n_proof ? hs : NULL;
    return refbus_pb_pack(out, len, &m.base);
}

int refbus_wire_checkpoint_push_decode(refbus_wire_checkpoint_push *v, const uint8_t *b, size_t len)
{
    Refbus__V1__CheckpointPush *m = NULL;
    int rc = unpack(&m, &refbus__v1__checkpoint_push__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    rc = REFBUS_EPROTO;
    if (m->signed_checkpoint.len == 0 || m->n_consistency > REFBUS_WIRE_MAX_PROOF)
        goto out;
    for (size_t i = 0; i < m->n_consistency; i++)
        if (m->consistency[i].len != REFBUS_WIRE_HASH_BYTES)
            goto out;
    if (m->n_consistency && !(v->proof = malloc(m->n_consistency * sizeof *v->proof))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < m->n_consistency; i++)
        memcpy(v->proof[i], m->consistency[i].data, REFBUS_WIRE_HASH_BYTES);
    if ((rc = copy_bytes(&v->signed_cp, m->signed_checkpoint.data, m->signed_checkpoint.len)))
        goto out;
    v->signed_cp_len = m->signed_checkpoint.len;
    v->n_proof = m->n_consistency;
    v->from_size = m->from_size;
out:
    if (rc)
        refbus_wire_checkpoint_push_clear(v);
    refbus__v1__checkpoint_push__free_unpacked(m, NULL);
    return rc;
}

void refbus_wire_checkpoint_push_clear(refbus_wire_checkpoint_push *v)
{
    if (v) {
        free(v->signed_cp);
        free(v->proof);
        memset(v, 0, sizeof *v);
    }
}

/* ---- PROOF_REQUEST ----------------------------------------------------------------------- */

int refbus_wire_proof_request_encode(uint8_t **out, size_t *len, const refbus_wire_proof_request *v)
{
    Refbus__V1__ProofRequest r = REFBUS__V1__PROOF_REQUEST__INIT;
    r.from_size = v->from_size;
    r.to_size = v->to_size;
    return refbus_pb_pack(out, len, &r.base);
}

int refbus_wire_proof_request_decode(refbus_wire_proof_request *v, const uint8_t *b, size_t len)
{
    Refbus__V1__ProofRequest *m = NULL;
    int rc = unpack(&m, &refbus__v1__proof_request__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    v->from_size = m->from_size;
    v->to_size = m->to_size;
    refbus__v1__proof_request__free_unpacked(m, NULL);
    return 0;
}

/* ---- ERROR (WireError) ------------------------------------------------------------------- */

void refbus_wire_error_set(refbus_wire_error *v, int code, const char *text, const uint8_t *msg_id)
{
    size_t tl = text ? strnlen(text, REFBUS_WIRE_ERROR_TEXT_MAX) : 0;
    memset(v, 0, sizeof *v);
    v->code = code;
    if (tl)
        memcpy(v->text, text, tl);
    if (msg_id) {
        v->has_msg_id = 1;
        memcpy(v->msg_id, msg_id, sizeof v->msg_id);
    }
}

int refbus_wire_error_encode(uint8_t **out, size_t *len, const refbus_wire_error *v)
{
    Refbus__V1__WireError e = REFBUS__V1__WIRE_ERROR__INIT;
    if (!memchr(v->text, 0, sizeof v->text))
        return REFBUS_EINVAL;
    e.code = v->code;
    e.text = (char *)v->text;
    if (v->has_msg_id)
        e.msg_id = (ProtobufCBinaryData){sizeof v->msg_id, (uint8_t *)v->msg_id};
    return refbus_pb_pack(out, len, &e.base);
}

int refbus_wire_error_decode(refbus_wire_error *v, const uint8_t *b, size_t len)
{
    Refbus__V1__WireError *m = NULL;
    int rc = unpack(&m, &refbus__v1__wire_error__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    if (m->msg_id.len != 0 && m->msg_id.len != sizeof v->msg_id) {
        rc = REFBUS_EPROTO;
        goto out;
    }
    v->code = m->code;
    if (m->msg_id.len) {
        v->has_msg_id = 1;
        memcpy(v->msg_id, m->msg_id.data, sizeof v->msg_id);
    }
    /* printable ASCII only: it goes to logs and status as is */
    size_t o = 0;
    for (const char *p = m->text ? m->text : ""; *p && o < REFBUS_WIRE_ERROR_TEXT_MAX; p++)
        v->text[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
out:
    refbus__v1__wire_error__free_unpacked(m, NULL);
    return rc;
}

/* ---- PING / PONG ------------------------------------------------------------------------- */

int refbus_wire_ping_encode(uint8_t **out, size_t *len, const refbus_wire_ping *v)
{
    Refbus__V1__Ping p = REFBUS__V1__PING__INIT;
    p.time_ms = v->time_ms;
    p.session = (Refbus__V1__SessionState)v->session;
    return refbus_pb_pack(out, len, &p.base);
}

int refbus_wire_ping_decode(refbus_wire_ping *v, const uint8_t *b, size_t len)
{
    Refbus__V1__Ping *m = NULL;
    int rc = unpack(&m, &refbus__v1__ping__descriptor, b, len);
    memset(v, 0, sizeof *v);
    if (rc)
        return rc;
    v->time_ms = m->time_ms;
    v->session = (int32_t)m->session;
    refbus__v1__ping__free_unpacked(m, NULL);
    return 0;
}
