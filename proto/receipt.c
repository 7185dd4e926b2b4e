/* Receipt signing and verification. Canonical encoding is required, as for envelopes, so the
 * receipt bytes stored in the audit trail are the only encoding of that receipt. */
#include "proto/receipt.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/pbutil.h"
#include "receipt.pb-c.h"

#define RECEIPT_DOMAIN "refbus/v1/receipt-signature"

const char *refbus_receipt_type_name(uint32_t type)
{
    switch (type) {
    case REFBUS_RECEIPT_ACCEPTED: return "ACCEPTED";
    case REFBUS_RECEIPT_REJECTED: return "REJECTED";
    case REFBUS_RECEIPT_DELIVERED: return "DELIVERED";
    case REFBUS_RECEIPT_EXPIRED: return "EXPIRED";
    default: return "UNKNOWN";
    }
}

static int sign_input(uint8_t **m, size_t *mlen, const uint8_t *body, size_t len)
{
    size_t dl = strlen(RECEIPT_DOMAIN);
    *m = malloc(dl + len + 1);
    if (!*m)
        return REFBUS_ENOMEM;
    memcpy(*m, RECEIPT_DOMAIN, dl);
    memcpy(*m + dl, body, len);
    *mlen = dl + len;
    return 0;
}

int refbus_receipt_sign(uint8_t **out, size_t *out_len, const refbus_receipt *r,
                        const uint8_t sign_sk[64])
{
    int rc;
    uint8_t *body = NULL, *m = NULL, sig[64];
    size_t mlen = 0;
    if (!out || !out_len || !r || !sign_sk || r->type < 1 || r->type > 4)
        return REFBUS_EINVAL;
    Refbus__V1__ReceiptBody b = REFBUS__V1__RECEIPT_BODY__INIT;
    b.version = 1;
    b.type = (Refbus__V1__ReceiptType)r->type;
    if (!sodium_is_zero(r->msg_id, sizeof r->msg_id))
        b.msg_id = (ProtobufCBinaryData){sizeof r->msg_id, (uint8_t *)r->msg_id};
    b.sender = (char *)r->sender;
    b.recipient = (char *)r->recipient;
    if (!sodium_is_zero(r->envelope_hash, sizeof r->envelope_hash))
        b.envelope_hash = (ProtobufCBinaryData){32, (uint8_t *)r->envelope_hash};
    b.time_ms = r->time_ms;
    b.reason = r->reason;
    b.reason_text = (char *)r->reason_text;
    b.audit_index = r->audit_index;
    b.signer = (char *)r->signer;
    b.signer_epoch = r->signer_epoch;
    size_t blen = 0;
    if ((rc = refbus_pb_pack(&body, &blen, &b.base)) != 0)
        return rc;
    if ((rc = sign_input(&m, &mlen, body, blen)) != 0)
        goto out;
    crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
    Refbus__V1__SignedReceipt s = REFBUS__V1__SIGNED_RECEIPT__INIT;
    s.body = (ProtobufCBinaryData){blen, body};
    s.signature = (ProtobufCBinaryData){64, sig};
    rc = refbus_pb_pack(out, out_len, &s.base);
out:
    free(body);
    free(m);
    return rc;
}

static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        return REFBUS_ERECEIPT;
    memcpy(dst, src ? src : "", n + 1);
    return 0;
}

static int parse(refbus_receipt *r, Refbus__V1__SignedReceipt **sp, const uint8_t *bytes,
                 size_t len)
{
    Refbus__V1__SignedReceipt *s = NULL;
    Refbus__V1__ReceiptBody *b = NULL;
    /* out of memory is not a property of the receipt: ENOMEM, not ERECEIPT */
    int rc = refbus_pb_unpack_canonical(&s, &refbus__v1__signed_receipt__descriptor, bytes, len);
    if (rc) {
        rc = rc == REFBUS_ENOMEM ? rc : REFBUS_ERECEIPT;
        goto out;
    }
    rc = REFBUS_ERECEIPT;
    if (s->signature.len != 64)
        goto out;
    if ((rc = refbus_pb_unpack_canonical(&b, &refbus__v1__receipt_body__descriptor, s->body.data,
                                         s->body.len))) {
        rc = rc == REFBUS_ENOMEM ? rc : REFBUS_ERECEIPT;
        goto out;
    }
    rc = REFBUS_ERECEIPT;
    if (b->version != 1 || b->type < 1 || b->type > 4 ||
        (b->msg_id.len != 0 && b->msg_id.len != 16) ||
        (b->envelope_hash.len != 0 && b->envelope_hash.len != 32))
        goto out;
    if (r) {
        memset(r, 0, sizeof *r);
        r->type = (uint32_t)b->type;
        if (b->msg_id.len)
            memcpy(r->msg_id, b->msg_id.data, 16);
        if (b->envelope_hash.len)
            memcpy(r->envelope_hash, b->envelope_hash.data, 32);
        if (copy_str(r->sender, sizeof r->sender, b->sender) ||
            copy_str(r->recipient, sizeof r->recipient, b->recipient) ||
            copy_str(r->reason_text, sizeof r->reason_text, b->reason_text) ||
            copy_str(r->signer, sizeof r->signer, b->signer))
            goto out;
        r->time_ms = b->time_ms;
        r->reason = b->reason;
        r->audit_index = b->audit_index;
        r->signer_epoch = b->signer_epoch;
    }
    rc = 0;
    *sp = s;
    s = NULL;
out:
    if (b)
        refbus__v1__receipt_body__free_unpacked(b, NULL);
    if (s)
        refbus__v1__signed_receipt__free_unpacked(s, NULL);
    return rc;
}

int refbus_receipt_parse(refbus_receipt *r, const uint8_t *bytes, size_t len)
{
    Refbus__V1__SignedReceipt *s = NULL;
    int rc = parse(r, &s, bytes, len);
    if (s)
        refbus__v1__signed_receipt__free_unpacked(s, NULL);
    return rc;
}

int refbus_receipt_verify(refbus_receipt *r, const uint8_t *bytes, size_t len,
                          const uint8_t sign_pk[32])
{
    Refbus__V1__SignedReceipt *s = NULL;
    uint8_t *m = NULL;
    size_t mlen = 0;
    int rc = parse(r, &s, bytes, len);
    if (rc)
        return rc;
    if ((rc = sign_input(&m, &mlen, s->body.data, s->body.len)) == 0)
        rc = crypto_sign_verify_detached(s->signature.data, m, mlen, sign_pk) == 0
                 ? 0
                 : REFBUS_EBADSIG;
    free(m);
    refbus__v1__signed_receipt__free_unpacked(s, NULL);
    return rc;
}
