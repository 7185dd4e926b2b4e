/* Test helpers: deterministic identities and an independent re-signer. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void test_agency_make(test_agency *a, const char *id, uint8_t seed)
{
    uint8_t s[32];
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    a->epoch = 1;
    memset(s, seed, sizeof s);
    crypto_sign_seed_keypair(a->sign_pk, a->sign_sk, s);
    memset(a->enc_sk, (uint8_t)(seed ^ 0x5a), 32);
    crypto_scalarmult_base(a->enc_pk, a->enc_sk);
}

refbus_recipient test_recipient(const test_agency *a)
{
    refbus_recipient r = {a->id, a->epoch, a->enc_pk};
    return r;
}

refbus_enc_key test_enc_key(const test_agency *a)
{
    refbus_enc_key k = {a->epoch, a->enc_sk, a->enc_pk};
    return k;
}

static void u32be(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* protobuf: field key + varint length + bytes, written by hand so the test does not lean on
 * the code under test. */
static size_t put_varint(uint8_t *p, size_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_bytes(uint8_t *p, unsigned field, const uint8_t *b, size_t len)
{
    size_t n = 0;
    p[n++] = (uint8_t)(field << 3 | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, b, len);
    return n + len;
}

int test_envelope_build(uint8_t **out, size_t *out_len, const uint8_t *header, size_t hlen,
                        const uint8_t *const *stanzas, const size_t *slens, size_t n,
                        const uint8_t *ct, size_t ctlen, const uint8_t *sign_sk)
{
    const char *dom = "refbus/v1/envelope-signature";
    size_t mlen = strlen(dom) + 4 + hlen + 4 + 32, total = hlen + ctlen + 64 + 64;
    for (size_t i = 0; i < n; i++) {
        mlen += 4 + slens[i];
        total += slens[i] + 16;
    }
    uint8_t *m = malloc(mlen), *p = m, sig[64];
    memcpy(p, dom, strlen(dom));
    p += strlen(dom);
    u32be(p, hlen);
    p += 4;
    memcpy(p, header, hlen);
    p += hlen;
    u32be(p, n);
    p += 4;
    for (size_t i = 0; i < n; i++) {
        u32be(p, slens[i]);
        p += 4;
        memcpy(p, stanzas[i], slens[i]);
        p += slens[i];
    }
    crypto_generichash(p, 32, ct, ctlen, NULL, 0);
    crypto_sign_detached(sig, NULL, m, mlen, sign_sk);
    free(m);
    uint8_t *e = malloc(total);
    size_t k = 0;
    if (hlen)
        k += put_bytes(e + k, 1, header, hlen);
    for (size_t i = 0; i < n; i++)
        k += put_bytes(e + k, 2, stanzas[i], slens[i]);
    k += put_bytes(e + k, 3, ct, ctlen);
    k += put_bytes(e + k, 4, sig, 64);
    *out = e;
    *out_len = k;
    return 0;
}

char *test_read_source(const char *rel, size_t *len)
{
    const char *root = getenv("REFBUS_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    if (len)
        *len = got;
    return buf;
}
