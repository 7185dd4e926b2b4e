/* Envelope seal / parse / verify / open. Constructions (docs/PROTOCOL.md section 2):
 * content key K -> payload key and key commitment by keyed BLAKE2b; payload under
 * XChaCha20-Poly1305 with the header bytes as associated data; K wrapped per recipient under a
 * key derived from X25519(ephemeral, recipient); one Ed25519 signature over a domain string,
 * the exact header and stanza bytes, and BLAKE2b-256 of the ciphertext. Parsing insists on the
 * canonical protobuf encoding, so the bytes that travel are the only encoding of a message. */
#include "proto/envelope.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/util.h"
#include "proto/batch.h"
#include "proto/merkle.h"
#include "proto/pbutil.h"
#include "envelope.pb-c.h"

_Static_assert(REFBUS_SIGN_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key");
_Static_assert(REFBUS_SIGN_SK_BYTES == crypto_sign_SECRETKEYBYTES, "Ed25519 secret key");
_Static_assert(REFBUS_ENC_PK_BYTES == crypto_box_PUBLICKEYBYTES, "X25519 public key");
_Static_assert(REFBUS_ENC_SK_BYTES == crypto_box_SECRETKEYBYTES, "X25519 secret key");
_Static_assert(REFBUS_HASH_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");

#define SIG_DOMAIN "refbus/v1/envelope-signature"
#define WRAP_DOMAIN "refbus/v1/wrap-key"
#define PAYLOAD_KEY_DOMAIN "refbus/v1/payload-key"
#define COMMIT_DOMAIN "refbus/v1/key-commitment"
#define WRAPPED_BYTES (32u + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define MIN_BUCKET 256u
#define LEN_PREFIX 4u

int refbus_agency_id_valid(const char *id)
{
    size_t n = 0;
    if (!id)
        return 0;
    for (; id[n]; n++) {
        char c = id[n];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        /* ids become file names: the first character is a letter or digit, never . or - */
        if (!alnum && (n == 0 || (c != '.' && c != '-')))
            return 0;
        if (n >= REFBUS_AGENCY_ID_MAX)
            return 0;
    }
    return n > 0;
}

/* Buckets: 256, then four steps between consecutive powers of two (at most 25% padding). */
static uint64_t bucket_of(uint64_t n)
{
    if (n <= MIN_BUCKET)
        return MIN_BUCKET;
    unsigned e = 63u - (unsigned)__builtin_clzll(n - 1); /* 2^e < n <= 2^(e+1) */
    uint64_t step = 1ull << (e - 2);
    return (n + step - 1) / step * step;
}

uint32_t refbus_envelope_bucket(size_t len)
{
    if (len > REFBUS_MAX_PAYLOAD)
        return 0;
    return (uint32_t)bucket_of((uint64_t)len + LEN_PREFIX);
}

/* BLAKE2b-256 keyed with `key` over `domain` (without its NUL) then `extra`. */
static void kdf(uint8_t out[32], const uint8_t key[32], const char *domain, const uint8_t *extra,
                size_t extra_len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, 32, 32);
    crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain));
    if (extra_len)
        crypto_generichash_update(&st, extra, extra_len);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
}

/* The wrap key for one recipient: BLAKE2b-256(key = X25519 shared secret, WRAP_DOMAIN ||
 * ephemeral_pk || recipient_pk || msg_id || u32be(epoch) || agency). */
static int wrap_key(uint8_t out[32], const uint8_t shared[32],
                    const uint8_t eph_pk[REFBUS_ENC_PK_BYTES],
                    const uint8_t rcpt_pk[REFBUS_ENC_PK_BYTES],
                    const uint8_t msg_id[REFBUS_MSG_ID_BYTES], uint32_t epoch, const char *agency)
{
    uint8_t info[32 + 32 + 16 + 4 + REFBUS_AGENCY_ID_MAX];
    size_t alen = strlen(agency);
    if (alen > REFBUS_AGENCY_ID_MAX)
        return REFBUS_EINVAL;
    memcpy(info, eph_pk, 32);
    memcpy(info + 32, rcpt_pk, 32);
    memcpy(info + 64, msg_id, 16);
    refbus_put_u32be(info + 80, epoch);
    memcpy(info + 84, agency, alen);
    kdf(out, shared, WRAP_DOMAIN, info, 84 + alen);
    return 0;
}

/* The signed message: SIG_DOMAIN || u32be(len h) || h || u32be(n) || (u32be(len s) || s)* ||
 * BLAKE2b-256(ciphertext). Fed to Ed25519ph? No: pure Ed25519 over the concatenation, which we
 * build in one buffer (header and stanzas are small; the ciphertext enters only as a hash). */
static int sig_message(uint8_t **out, size_t *out_len, const ProtobufCBinaryData *header,
                       const ProtobufCBinaryData *stanzas, size_t n_stanzas,
                       const ProtobufCBinaryData *ciphertext)
{
    size_t dlen = strlen(SIG_DOMAIN);
    size_t len = dlen + 4 + header->len + 4 + 32;
    for (size_t i = 0; i < n_stanzas; i++)
        len += 4 + stanzas[i].len;
    uint8_t *m = malloc(len), *p = m;
    if (!m)
        return REFBUS_ENOMEM;
    memcpy(p, SIG_DOMAIN, dlen);
    p += dlen;
    refbus_put_u32be(p, (uint32_t)header->len);
    p += 4;
    memcpy(p, header->data, header->len);
    p += header->len;
    refbus_put_u32be(p, (uint32_t)n_stanzas);
    p += 4;
    for (size_t i = 0; i < n_stanzas; i++) {
        refbus_put_u32be(p, (uint32_t)stanzas[i].len);
        p += 4;
        memcpy(p, stanzas[i].data, stanzas[i].len);
        p += stanzas[i].len;
    }
    crypto_generichash(p, 32, ciphertext->data, ciphertext->len, NULL, 0);
    *out = m;
    *out_len = len;
    return 0;
}

/* Per-message secrets and plaintext live in per-thread buffers locked in memory once
 * (sodium_mlock: never swapped, left out of core dumps) and wiped after every message, instead
 * of a sodium_malloc per message (an mmap, an mprotect and a munmap each: issue 12). Keys that
 * outlive a message stay in sodium_malloc memory (keys/keystore.c). A padded plaintext larger
 * than the locked buffer gets its own malloc'd copy, wiped before it is freed. */
#define SCRATCH_RND (5u * 32u) /* after the five keys: 104 random bytes for one seal */
#define SCRATCH_KEYS (5u * 32u + 104u)
#define SCRATCH_PLAIN (64u * 1024u)
static _Thread_local struct {
    _Alignas(64) uint8_t keys[SCRATCH_KEYS];
    _Alignas(64) uint8_t plain[SCRATCH_PLAIN];
    int locked;
} scratch;

static uint8_t *scratch_keys(void)
{
    if (!scratch.locked) {
        /* Failing to lock (RLIMIT_MEMLOCK) leaves the buffers wiped after use, as before. */
        (void)sodium_mlock(scratch.keys, sizeof scratch.keys);
        (void)sodium_mlock(scratch.plain, sizeof scratch.plain);
        scratch.locked = 1;
    }
    return scratch.keys;
}

/* A buffer for `len` bytes of plaintext: the locked one, or a fresh malloc for a large one. */
static uint8_t *plain_get(size_t len)
{
    (void)scratch_keys();
    return len <= SCRATCH_PLAIN ? scratch.plain : malloc(len);
}

/* Wipe `len` bytes of `b` (from plain_get) and release it. */
static void plain_put(uint8_t *b, size_t len)
{
    if (!b)
        return;
    sodium_memzero(b, len);
    if (b != scratch.plain)
        free(b);
}

/* One message sealed but not yet signed: its parts and its leaf. */
typedef struct sealed {
    uint8_t *hdr;
    size_t hdr_len;
    uint8_t *st_bufs[REFBUS_MAX_RECIPIENTS];
    ProtobufCBinaryData st_bin[REFBUS_MAX_RECIPIENTS];
    size_t n;
    uint8_t *ct;
    size_t ct_len;
    uint8_t *m; /* the signature input M of 2.7.1 */
    size_t m_len;
} sealed;

static void sealed_free(sealed *s)
{
    free(s->hdr);
    for (size_t i = 0; i < REFBUS_MAX_RECIPIENTS; i++)
        free(s->st_bufs[i]);
    free(s->ct);
    free(s->m);
    memset(s, 0, sizeof *s);
}

static int check_params(const refbus_seal_params *p, const void *payload, size_t payload_len)
{
    if (!p || !p->sign_sk || !p->sender || (!payload && payload_len))
        return REFBUS_EINVAL;
    size_t n = p->n_recipients;
    if (n == 0 || !p->recipients)
        return REFBUS_EINVAL;
    if (n > REFBUS_MAX_RECIPIENTS)
        return REFBUS_ETOOMANYRCPT;
    if (payload_len > REFBUS_MAX_PAYLOAD)
        return REFBUS_ETOOLARGE;
    if (!refbus_agency_id_valid(p->sender) || p->sender_epoch == 0)
        return REFBUS_EINVAL;
    if (p->kind < REFBUS_KIND_REFERRAL || p->kind > REFBUS_KIND_RECEIPT ||
        p->priority > REFBUS_PRIORITY_IMMEDIATE)
        return REFBUS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const refbus_recipient *r = &p->recipients[i];
        if (!refbus_agency_id_valid(r->agency) || r->epoch == 0 || !r->enc_pk)
            return REFBUS_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->recipients[j].agency, r->agency) == 0)
                return REFBUS_EINVAL;
    }
    return 0;
}

/* 2.6 steps 1-7 up to the signature input M. */
static int seal_one(sealed *s, const refbus_seal_params *p, const void *payload, size_t payload_len)
{
    int rc;
    uint8_t msg_id[REFBUS_MSG_ID_BYTES], eph_pk[REFBUS_ENC_PK_BYTES], nonce[24], commit[32];
    uint8_t *padded = NULL;
    uint32_t bucket = 0;
    size_t n;

    memset(s, 0, sizeof *s);
    if ((rc = check_params(p, payload, payload_len)) != 0)
        return rc;
    n = p->n_recipients;
    uint64_t created = p->created_ms ? p->created_ms : refbus_now_ms();
    if (p->expires_ms <= created)
        return REFBUS_EINVAL;

    uint8_t *k = scratch_keys(); /* K, payload key, e_sk, shared, wrap key: 5 x 32, wiped */
    uint8_t *K = k, *pkey = k + 32, *esk = k + 64, *shared = k + 96, *wk = k + 128;

    /* The fresh values in one draw (one getrandom call, not four), straight into the locked
     * scratch: msg id, K, nonce, ephemeral secret. */
    uint8_t *rnd = k + SCRATCH_RND;
    randombytes_buf(rnd, 16 + 32 + 24 + 32);
    memcpy(msg_id, p->msg_id ? p->msg_id : rnd, 16);
    memcpy(K, p->content_key ? p->content_key : rnd + 16, 32);
    memcpy(nonce, p->nonce ? p->nonce : rnd + 48, 24);
    memcpy(esk, p->ephemeral_sk ? p->ephemeral_sk : rnd + 72, 32);
    crypto_scalarmult_base(eph_pk, esk);
    kdf(pkey, K, PAYLOAD_KEY_DOMAIN, NULL, 0);
    kdf(commit, K, COMMIT_DOMAIN, NULL, 0);

    /* Stanzas: K wrapped to each recipient. */
    static const uint8_t zero_nonce[24] = {0};
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        const refbus_recipient *r = &p->recipients[i];
        uint8_t wrapped[WRAPPED_BYTES];
        if (crypto_scalarmult(shared, esk, r->enc_pk) != 0) {
            rc = REFBUS_EDECRYPT; /* low-order recipient key: refuse */
            goto out;
        }
        if ((rc = wrap_key(wk, shared, eph_pk, r->enc_pk, msg_id, r->epoch, r->agency)) != 0)
            goto out;
        crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped, NULL, K, 32, NULL, 0, NULL, zero_nonce,
                                                   wk);
        Refbus__V1__RecipientStanza st = REFBUS__V1__RECIPIENT_STANZA__INIT;
        st.agency = (char *)r->agency;
        st.epoch = r->epoch;
        st.wrapped_key.data = wrapped;
        st.wrapped_key.len = sizeof wrapped;
        size_t sl = 0;
        if ((rc = refbus_pb_pack(&s->st_bufs[i], &sl, &st.base)) != 0)
            goto out;
        s->st_bin[i].data = s->st_bufs[i];
        s->st_bin[i].len = sl;
    }

    /* Header. */
    bucket = refbus_envelope_bucket(payload_len);
    {
        Refbus__V1__EnvelopeHeader h = REFBUS__V1__ENVELOPE_HEADER__INIT;
        char *rcpts[REFBUS_MAX_RECIPIENTS];
        for (size_t i = 0; i < n; i++)
            rcpts[i] = (char *)p->recipients[i].agency;
        h.version = REFBUS_ENVELOPE_VERSION;
        h.msg_id = (ProtobufCBinaryData){REFBUS_MSG_ID_BYTES, msg_id};
        h.sender = (char *)p->sender;
        h.sender_epoch = p->sender_epoch;
        h.n_recipients = n;
        h.recipients = rcpts;
        h.created_ms = created;
        h.expires_ms = p->expires_ms;
        h.kind = (Refbus__V1__Kind)p->kind;
        h.priority = (Refbus__V1__Priority)p->priority;
        h.size_bucket = bucket;
        h.nonce = (ProtobufCBinaryData){24, nonce};
        h.ephemeral_pk = (ProtobufCBinaryData){REFBUS_ENC_PK_BYTES, eph_pk};
        h.key_commitment = (ProtobufCBinaryData){32, commit};
        if ((rc = refbus_pb_pack(&s->hdr, &s->hdr_len, &h.base)) != 0)
            goto out;
    }

    /* Payload: u32le(len) || payload || zeros, to the bucket; header bytes as AD. */
    padded = plain_get(bucket);
    s->ct_len = (size_t)bucket + TAG_BYTES;
    s->ct = malloc(s->ct_len);
    if (!padded || !s->ct) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    memset(padded, 0, bucket);
    refbus_put_u32le(padded, (uint32_t)payload_len);
    if (payload_len)
        memcpy(padded + LEN_PREFIX, payload, payload_len);
    crypto_aead_xchacha20poly1305_ietf_encrypt(s->ct, NULL, padded, bucket, s->hdr, s->hdr_len,
                                               NULL, nonce, pkey);
    ProtobufCBinaryData hb = {s->hdr_len, s->hdr}, cb = {s->ct_len, s->ct};
    rc = sig_message(&s->m, &s->m_len, &hb, s->st_bin, n, &cb);
out:
    sodium_memzero(k, SCRATCH_KEYS); /* K, payload key, ephemeral secret, shared, wrap key */
    plain_put(padded, bucket);
    if (rc)
        sealed_free(s);
    return rc;
}

/* The outer envelope (2.6 step 8): `path` NULL for the single form. */
static int pack_envelope(uint8_t **out, size_t *out_len, const sealed *s,
                         const uint8_t sig[crypto_sign_BYTES], uint32_t batch_size, uint32_t index,
                         uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES], size_t path_len)
{
    ProtobufCBinaryData pb[REFBUS_BATCH_MAX_PATH];
    Refbus__V1__Envelope e = REFBUS__V1__ENVELOPE__INIT;
    e.header = (ProtobufCBinaryData){s->hdr_len, s->hdr};
    e.n_stanzas = s->n;
    e.stanzas = (ProtobufCBinaryData *)s->st_bin;
    e.ciphertext = (ProtobufCBinaryData){s->ct_len, s->ct};
    e.signature = (ProtobufCBinaryData){crypto_sign_BYTES, (uint8_t *)sig};
    e.batch_size = batch_size;
    e.batch_index = index;
    for (size_t i = 0; i < path_len; i++)
        pb[i] = (ProtobufCBinaryData){REFBUS_MERKLE_HASH_BYTES, path[i]};
    e.n_batch_path = path_len;
    e.batch_path = path_len ? pb : NULL;
    return refbus_pb_pack(out, out_len, &e.base);
}

int refbus_envelope_seal_batch(uint8_t **outs, size_t *out_lens, const refbus_seal_params *ps,
                               const void *const *payloads, const size_t *payload_lens, size_t n)
{
    int rc = 0;
    sealed *s = NULL;
    uint8_t(*leaves)[REFBUS_MERKLE_HASH_BYTES] = NULL, sig[crypto_sign_BYTES],
    path[REFBUS_BATCH_MAX_PATH][REFBUS_MERKLE_HASH_BYTES];
    refbus_batch_tree t = {0};
    size_t done = 0;
    if (!outs || !out_lens || !ps || !payloads || !payload_lens || n == 0)
        return REFBUS_EINVAL;
    if (n > REFBUS_BATCH_MAX)
        return REFBUS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        /* one signer: the same sender, epoch and key for every message of the batch */
        if ((rc = check_params(&ps[i], payloads[i], payload_lens[i])) != 0)
            return rc;
        if (strcmp(ps[i].sender, ps[0].sender) != 0 || ps[i].sender_epoch != ps[0].sender_epoch ||
            sodium_memcmp(ps[i].sign_sk, ps[0].sign_sk, REFBUS_SIGN_SK_BYTES) != 0 ||
            (ps[i].batch_of_one && n != 1))
            return REFBUS_EINVAL;
    }
    s = calloc(n, sizeof *s);
    leaves = malloc(n * sizeof *leaves);
    if (!s || !leaves) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = seal_one(&s[i], &ps[i], payloads[i], payload_lens[i])) != 0)
            goto out;
        refbus_merkle_leaf(leaves[i], s[i].m, s[i].m_len);
    }
    if (n == 1 && !ps[0].batch_of_one) { /* the single form */
        crypto_sign_detached(sig, NULL, s[0].m, s[0].m_len, ps[0].sign_sk);
        if ((rc = pack_envelope(&outs[0], &out_lens[0], &s[0], sig, 0, 0, NULL, 0)) != 0)
            goto out;
        done = 1;
        goto out;
    }
    if ((rc = refbus_batch_tree_build(&t, (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])leaves,
                                      (uint32_t)n)) != 0)
        goto out;
    refbus_batch_sign(sig, ps[0].sign_sk, (uint32_t)n, refbus_batch_tree_root(&t));
    for (; done < n; done++) {
        size_t pl = refbus_batch_tree_path(&t, (uint32_t)done, path);
        if ((rc = pack_envelope(&outs[done], &out_lens[done], &s[done], sig, (uint32_t)n,
                                (uint32_t)done, path, pl)) != 0)
            goto out;
    }
out:
    if (rc)
        for (size_t i = 0; i < done; i++) {
            free(outs[i]);
            outs[i] = NULL;
        }
    for (size_t i = 0; s && i < n; i++)
        sealed_free(&s[i]);
    free(s);
    free(leaves);
    refbus_batch_tree_free(&t);
    return rc;
}

int refbus_envelope_seal(uint8_t **out, size_t *out_len, const refbus_seal_params *p,
                         const void *payload, size_t payload_len)
{
    if (!p)
        return REFBUS_EINVAL;
    return refbus_envelope_seal_batch(out, out_len, p, &payload, &payload_len, 1);
}

/* ---- parsing ---------------------------------------------------------------------------- */

typedef struct parsed {
    Refbus__V1__Envelope *env;
    Refbus__V1__EnvelopeHeader *h;
    Refbus__V1__RecipientStanza *st[REFBUS_MAX_RECIPIENTS];
    size_t n;
} parsed;

static void parsed_free(parsed *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->st[i])
            refbus__v1__recipient_stanza__free_unpacked(ps->st[i], NULL);
    if (ps->h)
        refbus__v1__envelope_header__free_unpacked(ps->h, NULL);
    if (ps->env)
        refbus__v1__envelope__free_unpacked(ps->env, NULL);
    memset(ps, 0, sizeof *ps);
}

static int parse(parsed *ps, refbus_envelope_header *hdr, const uint8_t *bytes, size_t len)
{
    memset(ps, 0, sizeof *ps);
    if (!bytes)
        return REFBUS_EINVAL;
    if (len > REFBUS_MAX_ENVELOPE)
        return REFBUS_ETOOLARGE;
    /* ENOMEM (the parser ran out of memory) says nothing about the bytes: transient. */
    int rc = refbus_pb_unpack_canonical(&ps->env, &refbus__v1__envelope__descriptor, bytes, len);
    if (rc)
        return rc;
    Refbus__V1__Envelope *e = ps->env;
    if ((rc = refbus_pb_unpack(&ps->h, &refbus__v1__envelope_header__descriptor, e->header.data,
                               e->header.len)))
        return rc;
    Refbus__V1__EnvelopeHeader *h = ps->h;
    if (h->version != REFBUS_ENVELOPE_VERSION)
        return REFBUS_EVERSION;
    if (!refbus_pb_canonical(&h->base, e->header.data, e->header.len))
        return REFBUS_EMALFORMED;
    if (h->msg_id.len != REFBUS_MSG_ID_BYTES || h->nonce.len != 24 ||
        h->ephemeral_pk.len != REFBUS_ENC_PK_BYTES || h->key_commitment.len != 32 ||
        e->signature.len != crypto_sign_BYTES || !refbus_agency_id_valid(h->sender) ||
        h->sender_epoch == 0 || h->expires_ms <= h->created_ms ||
        h->kind < REFBUS__V1__KIND__KIND_REFERRAL || h->kind > REFBUS__V1__KIND__KIND_RECEIPT ||
        (unsigned)h->priority > 2u)
        return REFBUS_EMALFORMED;
    if (h->n_recipients > REFBUS_MAX_RECIPIENTS || e->n_stanzas > REFBUS_MAX_RECIPIENTS)
        return REFBUS_ETOOMANYRCPT;
    if (h->n_recipients == 0 || h->n_recipients != e->n_stanzas)
        return REFBUS_EMALFORMED;
    if (h->size_bucket > bucket_of(REFBUS_MAX_PAYLOAD + LEN_PREFIX))
        return REFBUS_ETOOLARGE;
    if (h->size_bucket < MIN_BUCKET || bucket_of(h->size_bucket) != h->size_bucket ||
        e->ciphertext.len != (size_t)h->size_bucket + TAG_BYTES)
        return REFBUS_EMALFORMED;
    for (size_t i = 0; i < h->n_recipients; i++) {
        if (!refbus_agency_id_valid(h->recipients[i]))
            return REFBUS_EMALFORMED;
        for (size_t j = 0; j < i; j++)
            if (strcmp(h->recipients[i], h->recipients[j]) == 0)
                return REFBUS_EMALFORMED;
        ps->n = i + 1;
        if ((rc = refbus_pb_unpack_canonical(&ps->st[i], &refbus__v1__recipient_stanza__descriptor,
                                             e->stanzas[i].data, e->stanzas[i].len)))
            return rc;
        Refbus__V1__RecipientStanza *s = ps->st[i];
        if (strcmp(s->agency, h->recipients[i]) != 0 || s->epoch == 0 ||
            s->wrapped_key.len != WRAPPED_BYTES)
            return REFBUS_EMALFORMED;
    }
    /* P12: the signature form. No batch fields: the single form (2.7.1); else the batch form
     * (2.7.2), whose path length is fixed by the index and the size. */
    if (!refbus_batch_form_ok(e->batch_size, e->batch_index, e->n_batch_path, e->batch_path))
        return REFBUS_EMALFORMED;
    if (hdr) {
        memset(hdr, 0, sizeof *hdr);
        hdr->batch_size = e->batch_size;
        hdr->batch_index = e->batch_index;
        hdr->version = h->version;
        memcpy(hdr->msg_id, h->msg_id.data, REFBUS_MSG_ID_BYTES);
        strcpy(hdr->sender, h->sender);
        hdr->sender_epoch = h->sender_epoch;
        hdr->n_recipients = h->n_recipients;
        for (size_t i = 0; i < h->n_recipients; i++) {
            strcpy(hdr->recipients[i].agency, h->recipients[i]);
            hdr->recipients[i].epoch = ps->st[i]->epoch;
        }
        hdr->created_ms = h->created_ms;
        hdr->expires_ms = h->expires_ms;
        hdr->kind = (uint32_t)h->kind;
        hdr->priority = (uint32_t)h->priority;
        hdr->size_bucket = h->size_bucket;
        crypto_generichash(hdr->envelope_hash, REFBUS_HASH_BYTES, bytes, len, NULL, 0);
    }
    return 0;
}

int refbus_envelope_parse(refbus_envelope_header *hdr, const uint8_t *env, size_t env_len)
{
    parsed ps;
    int rc = parse(&ps, hdr, env, env_len);
    parsed_free(&ps);
    return rc;
}

static int check_sig(const parsed *ps, const uint8_t pk[REFBUS_SIGN_PK_BYTES],
                     refbus_batch_cache *cache)
{
    const Refbus__V1__Envelope *e = ps->env;
    uint8_t *m = NULL, leaf[REFBUS_MERKLE_HASH_BYTES],
            path[REFBUS_BATCH_MAX_PATH][REFBUS_MERKLE_HASH_BYTES];
    size_t m_len = 0;
    int rc = sig_message(&m, &m_len, &e->header, e->stanzas, e->n_stanzas, &e->ciphertext);
    if (rc != 0)
        return rc;
    if (e->batch_size == 0) { /* the single form: Ed25519 over M */
        rc = crypto_sign_verify_detached(e->signature.data, m, m_len, pk) == 0 ? 0 : REFBUS_EBADSIG;
    } else { /* the batch form: M's leaf, the path to the root, the root's signature */
        refbus_merkle_leaf(leaf, m, m_len);
        for (size_t i = 0; i < e->n_batch_path; i++)
            memcpy(path[i], e->batch_path[i].data, REFBUS_MERKLE_HASH_BYTES);
        rc = refbus_batch_verify(cache, pk, e->batch_size, e->batch_index, leaf,
                                 (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])path, e->n_batch_path,
                                 e->signature.data);
    }
    free(m);
    return rc;
}

int refbus_envelope_verify_cached(refbus_envelope_header *hdr, const uint8_t *env, size_t env_len,
                                  const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES],
                                  uint64_t now_ms, refbus_batch_cache *cache)
{
    parsed ps;
    int rc;
    if (!sender_sign_pk)
        return REFBUS_EINVAL;
    if ((rc = parse(&ps, hdr, env, env_len)) != 0)
        goto out;
    if ((rc = check_sig(&ps, sender_sign_pk, cache)) != 0)
        goto out;
    if (now_ms && now_ms >= ps.h->expires_ms)
        rc = REFBUS_EEXPIRED;
out:
    parsed_free(&ps);
    return rc;
}

int refbus_envelope_verify(refbus_envelope_header *hdr, const uint8_t *env, size_t env_len,
                           const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES], uint64_t now_ms)
{
    return refbus_envelope_verify_cached(hdr, env, env_len, sender_sign_pk, now_ms, NULL);
}

void refbus_envelope_payload_free(uint8_t **payload, size_t payload_len)
{
    if (!payload || !*payload)
        return;
    sodium_memzero(*payload, payload_len);
    free(*payload);
    *payload = NULL;
}

int refbus_envelope_open(uint8_t **payload, size_t *payload_len, refbus_envelope_header *hdr,
                         const uint8_t *env, size_t env_len,
                         const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES], const char *me,
                         const refbus_enc_key *keys, size_t n_keys, uint64_t now_ms)
{
    return refbus_envelope_open_cached(payload, payload_len, hdr, env, env_len, sender_sign_pk, me,
                                       keys, n_keys, now_ms, NULL);
}

int refbus_envelope_open_cached(uint8_t **payload, size_t *payload_len, refbus_envelope_header *hdr,
                                const uint8_t *env, size_t env_len,
                                const uint8_t sender_sign_pk[REFBUS_SIGN_PK_BYTES], const char *me,
                                const refbus_enc_key *keys, size_t n_keys, uint64_t now_ms,
                                refbus_batch_cache *cache)
{
    static const uint8_t zero_nonce[24] = {0};
    parsed ps;
    int rc;
    uint8_t *k = NULL, *padded = NULL, *outbuf = NULL;
    uint8_t commit[32];
    if (!payload || !payload_len || !sender_sign_pk || !me || (!keys && n_keys))
        return REFBUS_EINVAL;
    if ((rc = parse(&ps, hdr, env, env_len)) != 0)
        goto out;
    if ((rc = check_sig(&ps, sender_sign_pk, cache)) != 0)
        goto out;
    if (now_ms && now_ms >= ps.h->expires_ms) {
        rc = REFBUS_EEXPIRED;
        goto out;
    }
    size_t idx = ps.n;
    for (size_t i = 0; i < ps.n; i++)
        if (strcmp(ps.st[i]->agency, me) == 0)
            idx = i;
    if (idx == ps.n) {
        rc = REFBUS_ENOTRECIPIENT;
        goto out;
    }
    const refbus_enc_key *key = NULL;
    for (size_t i = 0; i < n_keys; i++)
        if (keys[i].epoch == ps.st[idx]->epoch)
            key = &keys[i];
    if (!key) {
        rc = REFBUS_ENOEPOCHKEY;
        goto out;
    }
    k = scratch_keys();
    uint8_t *K = k, *pkey = k + 32, *shared = k + 64, *wk = k + 96;
    if (crypto_scalarmult(shared, key->sk, ps.h->ephemeral_pk.data) != 0) {
        rc = REFBUS_EDECRYPT;
        goto out;
    }
    if ((rc = wrap_key(wk, shared, ps.h->ephemeral_pk.data, key->pk, ps.h->msg_id.data,
                       ps.st[idx]->epoch, me)) != 0)
        goto out;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(K, NULL, NULL, ps.st[idx]->wrapped_key.data,
                                                   WRAPPED_BYTES, NULL, 0, zero_nonce, wk) != 0) {
        rc = REFBUS_EDECRYPT;
        goto out;
    }
    kdf(commit, K, COMMIT_DOMAIN, NULL, 0);
    if (sodium_memcmp(commit, ps.h->key_commitment.data, 32) != 0) {
        rc = REFBUS_ECOMMIT;
        goto out;
    }
    kdf(pkey, K, PAYLOAD_KEY_DOMAIN, NULL, 0);
    size_t bucket = ps.h->size_bucket;
    padded = plain_get(bucket); /* plaintext: wiped after use */
    if (!padded) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, NULL, NULL, ps.env->ciphertext.data,
                                                   ps.env->ciphertext.len, ps.env->header.data,
                                                   ps.env->header.len, ps.h->nonce.data,
                                                   pkey) != 0) {
        rc = REFBUS_EDECRYPT;
        goto out;
    }
    size_t plen = refbus_get_u32le(padded);
    if (plen > bucket - LEN_PREFIX || plen > REFBUS_MAX_PAYLOAD ||
        refbus_envelope_bucket(plen) != bucket ||
        (bucket - LEN_PREFIX - plen &&
         !sodium_is_zero(padded + LEN_PREFIX + plen, bucket - LEN_PREFIX - plen))) {
        rc = REFBUS_EDECRYPT; /* bad padding: the sender sealed garbage */
        goto out;
    }
    outbuf = malloc(plen ? plen : 1);
    if (!outbuf) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    memcpy(outbuf, padded + LEN_PREFIX, plen);
    *payload = outbuf;
    *payload_len = plen;
    outbuf = NULL;
    rc = 0;
out:
    if (k)
        sodium_memzero(k, SCRATCH_KEYS);
    plain_put(padded, padded ? ps.h->size_bucket : 0);
    free(outbuf); /* only on failure, before anything was copied into it */
    parsed_free(&ps);
    return rc;
}
