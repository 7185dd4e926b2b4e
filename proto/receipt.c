/* Receipt signing and verification. Canonical encoding is required, as for envelopes, so the
 * receipt bytes stored in the audit trail are the only encoding of that receipt. */
#include "proto/receipt.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "proto/batch.h"
#include "proto/merkle.h"
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

static int encode_body(uint8_t **out, size_t *out_len, const refbus_receipt *r)
{
    if (!r || r->type < 1 || r->type > 4)
        return REFBUS_EINVAL;
    Refbus__V1__ReceiptBody b = REFBUS__V1__RECEIPT_BODY__INIT;
    b.version = 1;
    b.type = (Refbus__V1__ReceiptType)r->type;
    if (!sodium_is_zero(r->msg_id, sizeof r->msg_id))
        b.msg_id = (ProtobufCBinaryData){sizeof r->msg_id, (uint8_t *)r->msg_id};
    b.sender = (char *)r->sender;
    b.recipient = (char *)r->recipient;
    if (!sodium_is_zero(r->envelope_hash, sizeof r->envelope_hash))
        b.envelope_hash = (ProtobufCBinaryData){REFBUS_HASH_BYTES, (uint8_t *)r->envelope_hash};
    b.time_ms = r->time_ms;
    b.reason = r->reason;
    b.reason_text = (char *)r->reason_text;
    b.audit_index = r->audit_index;
    b.signer = (char *)r->signer;
    b.signer_epoch = r->signer_epoch;
    return refbus_pb_pack(out, out_len, &b.base);
}

static int pack_signed(uint8_t **out, size_t *out_len, const uint8_t *body, size_t blen,
                       const uint8_t sig[crypto_sign_BYTES], uint32_t batch_size, uint32_t index,
                       uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES], size_t path_len)
{
    ProtobufCBinaryData pb[REFBUS_BATCH_MAX_PATH];
    Refbus__V1__SignedReceipt s = REFBUS__V1__SIGNED_RECEIPT__INIT;
    s.body = (ProtobufCBinaryData){blen, (uint8_t *)body};
    s.signature = (ProtobufCBinaryData){crypto_sign_BYTES, (uint8_t *)sig};
    s.batch_size = batch_size;
    s.batch_index = index;
    for (size_t i = 0; i < path_len; i++)
        pb[i] = (ProtobufCBinaryData){REFBUS_MERKLE_HASH_BYTES, path[i]};
    s.n_batch_path = path_len;
    s.batch_path = path_len ? pb : NULL;
    return refbus_pb_pack(out, out_len, &s.base);
}

int refbus_receipt_sign_batch(uint8_t **outs, size_t *out_lens, const refbus_receipt *rs, size_t n,
                              const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES])
{
    int rc = 0;
    uint8_t **bodies = NULL, (*leaves)[REFBUS_MERKLE_HASH_BYTES] = NULL, sig[crypto_sign_BYTES],
            path[REFBUS_BATCH_MAX_PATH][REFBUS_MERKLE_HASH_BYTES];
    size_t *blens = NULL, done = 0;
    refbus_batch_tree t = {0};
    if (!outs || !out_lens || !rs || !sign_sk || n == 0 || n > REFBUS_BATCH_MAX)
        return REFBUS_EINVAL;
    bodies = calloc(n, sizeof *bodies);
    blens = calloc(n, sizeof *blens);
    leaves = malloc(n * sizeof *leaves);
    if (!bodies || !blens || !leaves) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *m = NULL;
        size_t mlen = 0;
        if ((rc = encode_body(&bodies[i], &blens[i], &rs[i])) != 0 ||
            (rc = sign_input(&m, &mlen, bodies[i], blens[i])) != 0)
            goto out;
        if (n == 1) /* a batch of one: the single form, which every version-1 peer reads */
            crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
        else
            refbus_merkle_leaf(leaves[i], m, mlen);
        free(m);
    }
    if (n == 1) {
        rc = pack_signed(&outs[0], &out_lens[0], bodies[0], blens[0], sig, 0, 0, NULL, 0);
        done = rc == 0;
        goto out;
    }
    if ((rc = refbus_batch_tree_build(&t, (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])leaves,
                                      (uint32_t)n)) != 0)
        goto out;
    refbus_batch_sign(sig, sign_sk, (uint32_t)n, refbus_batch_tree_root(&t));
    for (; done < n; done++) {
        size_t pl = refbus_batch_tree_path(&t, (uint32_t)done, path);
        if ((rc = pack_signed(&outs[done], &out_lens[done], bodies[done], blens[done], sig,
                              (uint32_t)n, (uint32_t)done, path, pl)) != 0)
            goto out;
    }
out:
    if (rc)
        for (size_t i = 0; i < done; i++) {
            free(outs[i]);
            outs[i] = NULL;
        }
    for (size_t i = 0; bodies && i < n; i++)
        free(bodies[i]);
    free(bodies);
    free(blens);
    free(leaves);
    refbus_batch_tree_free(&t);
    return rc;
}

int refbus_receipt_sign(uint8_t **out, size_t *out_len, const refbus_receipt *r,
                        const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES])
{
    return refbus_receipt_sign_batch(out, out_len, r, 1, sign_sk);
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
    if (s->signature.len != crypto_sign_BYTES)
        goto out;
    /* the signature form: single (no batch fields) or a valid batch form, as P12 of 2.9 */
    if (!refbus_batch_form_ok(s->batch_size, s->batch_index, s->n_batch_path, s->batch_path))
        goto out;
    if ((rc = refbus_pb_unpack_canonical(&b, &refbus__v1__receipt_body__descriptor, s->body.data,
                                         s->body.len))) {
        rc = rc == REFBUS_ENOMEM ? rc : REFBUS_ERECEIPT;
        goto out;
    }
    rc = REFBUS_ERECEIPT;
    if (b->version != 1 || b->type < 1 || b->type > 4 ||
        (b->msg_id.len != 0 && b->msg_id.len != REFBUS_MSG_ID_BYTES) ||
        (b->envelope_hash.len != 0 && b->envelope_hash.len != REFBUS_HASH_BYTES))
        goto out;
    if (r) {
        memset(r, 0, sizeof *r);
        r->type = (uint32_t)b->type;
        if (b->msg_id.len)
            memcpy(r->msg_id, b->msg_id.data, REFBUS_MSG_ID_BYTES);
        if (b->envelope_hash.len)
            memcpy(r->envelope_hash, b->envelope_hash.data, REFBUS_HASH_BYTES);
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

int refbus_receipt_verify_cached(refbus_receipt *r, const uint8_t *bytes, size_t len,
                                 const uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES],
                                 refbus_batch_cache *cache)
{
    Refbus__V1__SignedReceipt *s = NULL;
    uint8_t *m = NULL, leaf[REFBUS_MERKLE_HASH_BYTES],
            path[REFBUS_BATCH_MAX_PATH][REFBUS_MERKLE_HASH_BYTES];
    size_t mlen = 0;
    int rc = parse(r, &s, bytes, len);
    if (rc)
        return rc;
    if ((rc = sign_input(&m, &mlen, s->body.data, s->body.len)) != 0)
        goto out;
    if (s->batch_size == 0) {
        rc = crypto_sign_verify_detached(s->signature.data, m, mlen, sign_pk) == 0 ? 0
                                                                                   : REFBUS_EBADSIG;
    } else {
        refbus_merkle_leaf(leaf, m, mlen);
        for (size_t i = 0; i < s->n_batch_path; i++)
            memcpy(path[i], s->batch_path[i].data, REFBUS_MERKLE_HASH_BYTES);
        rc = refbus_batch_verify(cache, sign_pk, s->batch_size, s->batch_index, leaf,
                                 (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])path, s->n_batch_path,
                                 s->signature.data);
    }
out:
    free(m);
    refbus__v1__signed_receipt__free_unpacked(s, NULL);
    return rc;
}

int refbus_receipt_verify(refbus_receipt *r, const uint8_t *bytes, size_t len,
                          const uint8_t sign_pk[crypto_sign_PUBLICKEYBYTES])
{
    return refbus_receipt_verify_cached(r, bytes, len, sign_pk, NULL);
}
