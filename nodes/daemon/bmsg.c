/* Broker -> node bodies: protobuf-c decoding into fixed structs, with sizes checked; and the
 * few bodies the node builds. */
#include "nodes/daemon/bmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pbutil.h"
#include "wire.pb-c.h"

/* The one unpack (proto/pbutil.h): bytes that do not parse are EPROTO, running out of memory on
 * the way is ENOMEM (transient: the broker sends it again). */
static int unpack(void *out, const ProtobufCMessageDescriptor *desc, const uint8_t *b,
                  size_t len)
{
    int rc = refbus_pb_unpack(out, desc, b, len);
    return rc == REFBUS_EMALFORMED ? REFBUS_EPROTO : rc;
}

int nd_bmsg_welcome_parse(nd_bmsg_welcome *w, const uint8_t *b, size_t len)
{
    int rc = REFBUS_EPROTO;
    Refbus__V1__Welcome *m = NULL;
    int urc = unpack(&m, &refbus__v1__welcome__descriptor, b, len);
    if (urc)
        return urc;
    memset(w, 0, sizeof *w);
    if (strlen(m->broker_id) > REFBUS_AGENCY_ID_MAX)
        goto out;
    w->version = m->version;
    snprintf(w->broker_id, sizeof w->broker_id, "%s", m->broker_id);
    w->directory_serial = m->directory_serial;
    w->max_envelope = m->max_envelope;
    w->audit_size = m->audit_size;
    rc = 0;
out:
    refbus__v1__welcome__free_unpacked(m, NULL);
    return rc;
}

void nd_bmsg_notice_clear(nd_bmsg_notice *n)
{
    if (n) {
        free(n->receipt);
        memset(n, 0, sizeof *n);
    }
}

int nd_bmsg_notice_parse(nd_bmsg_notice *n, const uint8_t *b, size_t len)
{
    int rc = REFBUS_EPROTO;
    Refbus__V1__Notice *m = NULL;
    int urc = unpack(&m, &refbus__v1__notice__descriptor, b, len);
    memset(n, 0, sizeof *n);
    if (urc)
        return urc;
    n->seq = m->seq; /* known even when the receipt is bad: the notice can still be acked */
    rc = m->receipt.len == 0
             ? REFBUS_ERECEIPT
             : refbus_receipt_parse(&n->parsed, m->receipt.data, m->receipt.len);
    if (rc) /* ERECEIPT, or ENOMEM (transient: not acked, so the broker sends it again) */
        goto out;
    if (!(n->receipt = malloc(m->receipt.len))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    memcpy(n->receipt, m->receipt.data, m->receipt.len);
    n->receipt_len = m->receipt.len;
    rc = 0;
out:
    refbus__v1__notice__free_unpacked(m, NULL);
    return rc;
}

void nd_bmsg_checkpoint_clear(nd_bmsg_checkpoint *c)
{
    if (c) {
        free(c->signed_cp);
        c->signed_cp = NULL;
        c->signed_cp_len = 0;
        c->n_proof = 0;
    }
}

int nd_bmsg_checkpoint_parse(nd_bmsg_checkpoint *c, const uint8_t *b, size_t len)
{
    int rc = REFBUS_EPROTO;
    Refbus__V1__CheckpointPush *m = NULL;
    int urc = unpack(&m, &refbus__v1__checkpoint_push__descriptor, b, len);
    c->signed_cp = NULL;
    c->signed_cp_len = 0;
    c->n_proof = 0;
    if (urc)
        return urc;
    if (m->signed_checkpoint.len == 0 || m->n_consistency > REFBUS_BMSG_MAX_PROOF)
        goto out;
    for (size_t i = 0; i < m->n_consistency; i++) {
        if (m->consistency[i].len != 32)
            goto out;
        memcpy(c->proof[i], m->consistency[i].data, 32);
    }
    if (!(c->signed_cp = malloc(m->signed_checkpoint.len))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    memcpy(c->signed_cp, m->signed_checkpoint.data, m->signed_checkpoint.len);
    c->signed_cp_len = m->signed_checkpoint.len;
    c->n_proof = m->n_consistency;
    c->from_size = m->from_size;
    rc = 0;
out:
    refbus__v1__checkpoint_push__free_unpacked(m, NULL);
    return rc;
}

int nd_bmsg_error_parse(nd_bmsg_error *e, const uint8_t *b, size_t len)
{
    Refbus__V1__WireError *m = NULL;
    int urc = unpack(&m, &refbus__v1__wire_error__descriptor, b, len);
    if (urc)
        return urc;
    e->code = m->code;
    e->has_msg_id = 0;
    if (m->msg_id.len != 0 && m->msg_id.len != 16) {
        refbus__v1__wire_error__free_unpacked(m, NULL);
        return REFBUS_EPROTO;
    }
    if (m->msg_id.len == 16) {
        e->has_msg_id = 1;
        memcpy(e->msg_id, m->msg_id.data, 16);
    }
    /* printable ASCII only: it goes to the log and to status as is */
    size_t o = 0;
    for (const char *p = m->text; *p && o < sizeof e->text - 1; p++)
        e->text[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
    e->text[o] = 0;
    refbus__v1__wire_error__free_unpacked(m, NULL);
    return 0;
}

int nd_bmsg_ping_parse(uint64_t *time_ms, int *session, const uint8_t *b, size_t len)
{
    Refbus__V1__Ping *m = NULL;
    int urc = unpack(&m, &refbus__v1__ping__descriptor, b, len);
    if (urc)
        return urc;
    *time_ms = m->time_ms;
    if (session)
        *session = (int)m->session;
    refbus__v1__ping__free_unpacked(m, NULL);
    return 0;
}

static int pack(uint8_t **out, size_t *len, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return REFBUS_ENOMEM;
    protobuf_c_message_pack(m, b);
    *out = b;
    *len = n;
    return 0;
}

int nd_bmsg_hello(uint8_t **out, size_t *len, const char *agency, uint32_t epoch,
                      uint32_t credit, uint64_t directory_serial, uint64_t checkpoint_size)
{
    Refbus__V1__Hello h = REFBUS__V1__HELLO__INIT;
    h.version = 1;
    h.agency = (char *)agency;
    h.epoch = epoch;
    h.credit = credit;
    h.directory_serial = directory_serial;
    h.checkpoint_size = checkpoint_size;
    return pack(out, len, &h.base);
}

int nd_bmsg_notice_ack(uint8_t **out, size_t *len, const uint64_t *seqs, size_t n)
{
    Refbus__V1__NoticeAck a = REFBUS__V1__NOTICE_ACK__INIT;
    a.n_seq = n;
    a.seq = (uint64_t *)seqs;
    return pack(out, len, &a.base);
}

int nd_bmsg_ping(uint8_t **out, size_t *len, uint64_t time_ms)
{
    Refbus__V1__Ping p = REFBUS__V1__PING__INIT;
    p.time_ms = time_ms;
    return pack(out, len, &p.base);
}

int nd_bmsg_proof_request(uint8_t **out, size_t *len, uint64_t from_size, uint64_t to_size)
{
    Refbus__V1__ProofRequest r = REFBUS__V1__PROOF_REQUEST__INIT;
    r.from_size = from_size;
    r.to_size = to_size;
    return pack(out, len, &r.base);
}
