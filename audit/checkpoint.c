/* Checkpoint encoding, signing and verification. The signature covers the exact Checkpoint
 * bytes, and parsing insists on the canonical encoding, so one tree head has one signed form. */
#include "audit/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit.pb-c.h"
#include "proto/merkle.h"
#include "proto/pbutil.h"

/* DOMAIN || body in one malloc'd buffer. */
static int sign_input(uint8_t **m, size_t *mlen, const uint8_t *body, size_t len)
{
    size_t dl = strlen(REFBUS_CHECKPOINT_DOMAIN);
    *m = malloc(dl + len + 1);
    if (!*m)
        return REFBUS_ENOMEM;
    memcpy(*m, REFBUS_CHECKPOINT_DOMAIN, dl);
    if (len)
        memcpy(*m + dl, body, len);
    *mlen = dl + len;
    return 0;
}

int refbus_checkpoint_sign(uint8_t **out, size_t *out_len, const refbus_checkpoint *cp,
                           const uint8_t sign_sk[crypto_sign_SECRETKEYBYTES])
{
    int rc;
    uint8_t *body = NULL, *m = NULL, sig[crypto_sign_BYTES], pk[crypto_sign_PUBLICKEYBYTES];
    size_t blen = 0, mlen = 0;
    if (!out || !out_len || !cp || !sign_sk)
        return REFBUS_EINVAL;
    Refbus__V1__Checkpoint c = REFBUS__V1__CHECKPOINT__INIT;
    c.log_id = (ProtobufCBinaryData){REFBUS_AUDIT_LOG_ID_BYTES, (uint8_t *)cp->log_id};
    c.size = cp->size;
    c.root = (ProtobufCBinaryData){REFBUS_MERKLE_HASH_BYTES, (uint8_t *)cp->root};
    c.time_ms = cp->time_ms;
    if ((rc = refbus_pb_pack(&body, &blen, &c.base)) != 0)
        goto out;
    if ((rc = sign_input(&m, &mlen, body, blen)) != 0)
        goto out;
    crypto_sign_ed25519_detached(sig, NULL, m, mlen, sign_sk);
    crypto_sign_ed25519_sk_to_pk(pk, sign_sk);
    Refbus__V1__SignedCheckpoint s = REFBUS__V1__SIGNED_CHECKPOINT__INIT;
    s.checkpoint = (ProtobufCBinaryData){blen, body};
    s.signature = (ProtobufCBinaryData){crypto_sign_BYTES, sig};
    s.signer_pk = (ProtobufCBinaryData){crypto_sign_PUBLICKEYBYTES, pk};
    rc = refbus_pb_pack(out, out_len, &s.base);
out:
    free(m);
    free(body);
    return rc;
}

/* Parse both layers into *cp; on success *sc is the unpacked outer message (caller frees). */
static int parse(refbus_checkpoint *cp, Refbus__V1__SignedCheckpoint **sc, const uint8_t *b,
                 size_t len)
{
    Refbus__V1__SignedCheckpoint *s = NULL;
    Refbus__V1__Checkpoint *c = NULL;
    int rc = REFBUS_EMALFORMED;
    if (!b || len == 0 || len > REFBUS_CHECKPOINT_MAX)
        return REFBUS_EMALFORMED;
    /* ENOMEM (out of memory while unpacking) is passed on: it says nothing about the bytes */
    if ((rc = refbus_pb_unpack_canonical(&s, &refbus__v1__signed_checkpoint__descriptor, b, len)))
        goto out;
    rc = REFBUS_EMALFORMED;
    if (s->signature.len != crypto_sign_BYTES || s->signer_pk.len != crypto_sign_PUBLICKEYBYTES ||
        s->checkpoint.len == 0)
        goto out;
    if ((rc = refbus_pb_unpack_canonical(&c, &refbus__v1__checkpoint__descriptor,
                                         s->checkpoint.data, s->checkpoint.len)))
        goto out;
    rc = REFBUS_EMALFORMED;
    if (c->log_id.len != REFBUS_AUDIT_LOG_ID_BYTES || c->root.len != REFBUS_MERKLE_HASH_BYTES)
        goto out;
    memcpy(cp->log_id, c->log_id.data, REFBUS_AUDIT_LOG_ID_BYTES);
    cp->size = c->size;
    memcpy(cp->root, c->root.data, REFBUS_MERKLE_HASH_BYTES);
    cp->time_ms = c->time_ms;
    memcpy(cp->signer_pk, s->signer_pk.data, crypto_sign_PUBLICKEYBYTES);
    if (cp->size == 0) {
        uint8_t empty[REFBUS_MERKLE_HASH_BYTES];
        refbus_merkle_empty_root(empty);
        if (memcmp(empty, cp->root, REFBUS_MERKLE_HASH_BYTES) != 0)
            goto out;
    }
    *sc = s;
    s = NULL;
    rc = 0;
out:
    if (c)
        refbus__v1__checkpoint__free_unpacked(c, NULL);
    if (s)
        refbus__v1__signed_checkpoint__free_unpacked(s, NULL);
    return rc;
}

int refbus_checkpoint_parse(refbus_checkpoint *out, const uint8_t *signed_cp, size_t len)
{
    Refbus__V1__SignedCheckpoint *s = NULL;
    refbus_checkpoint cp;
    if (!out)
        return REFBUS_EINVAL;
    int rc = parse(&cp, &s, signed_cp, len);
    if (rc != 0)
        return rc;
    refbus__v1__signed_checkpoint__free_unpacked(s, NULL);
    *out = cp;
    return 0;
}

int refbus_checkpoint_verify(refbus_checkpoint *out, const uint8_t *signed_cp, size_t len,
                             const uint8_t broker_pk[crypto_sign_PUBLICKEYBYTES])
{
    Refbus__V1__SignedCheckpoint *s = NULL;
    refbus_checkpoint cp;
    uint8_t *m = NULL;
    size_t mlen = 0;
    int rc;
    if (!broker_pk)
        return REFBUS_EINVAL;
    if ((rc = parse(&cp, &s, signed_cp, len)) != 0)
        return rc;
    if (sodium_memcmp(cp.signer_pk, broker_pk, crypto_sign_PUBLICKEYBYTES) != 0) {
        rc = REFBUS_EBADSIG;
        goto out;
    }
    if ((rc = sign_input(&m, &mlen, s->checkpoint.data, s->checkpoint.len)) != 0)
        goto out;
    if (crypto_sign_ed25519_verify_detached(s->signature.data, m, mlen, broker_pk) != 0) {
        rc = REFBUS_EBADSIG;
        goto out;
    }
    if (out)
        *out = cp;
    rc = 0;
out:
    free(m);
    refbus__v1__signed_checkpoint__free_unpacked(s, NULL);
    return rc;
}

int refbus_checkpoint_consistent(const refbus_checkpoint *older, const refbus_checkpoint *newer,
                                 const uint8_t (*proof)[REFBUS_MERKLE_HASH_BYTES], size_t count)
{
    if (!older || !newer)
        return REFBUS_EINVAL;
    /* The signer may differ (the broker's key rotates); each signature is checked on its own. */
    if (memcmp(older->log_id, newer->log_id, REFBUS_AUDIT_LOG_ID_BYTES) != 0 ||
        newer->size < older->size)
        return REFBUS_EINCONSISTENT;
    if (refbus_merkle_verify_consistency(older->size, newer->size, older->root, newer->root, proof,
                                         count) != 0)
        return REFBUS_EINCONSISTENT;
    return 0;
}
