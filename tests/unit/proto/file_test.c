/* Sealed files (proto/sfile.c, docs/PROTOCOL.md §2.11): the known answers of
 * tests/vectors/file-v1.json, then every forgery the format must refuse, each naming its chunk:
 * a changed byte in every chunk, reordered, dropped, duplicated, truncated, a chunk or leaf from
 * another file, a forged last-chunk flag, a wrong size, key or id; and byte ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>

#include "proto/sfile.h"
#include "testutil.h"

#define C REFBUS_SFILE_CHUNK
#define SC (REFBUS_SFILE_CHUNK + REFBUS_SFILE_TAG)

static int tmpfd(void)
{
    char path[] = "/tmp/refbus-file-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static int fd_with(const uint8_t *b, size_t len)
{
    int fd = tmpfd();
    assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
    return fd;
}

static uint8_t *fd_bytes(int fd, size_t *len)
{
    off_t n = lseek(fd, 0, SEEK_END);
    uint8_t *b = malloc((size_t)n + 1);
    assert_int_equal(pread(fd, b, (size_t)n, 0), n);
    *len = (size_t)n;
    return b;
}

static void pattern(uint8_t *p, size_t len)
{
    for (size_t j = 0; j < len; j++)
        p[j] = (uint8_t)(j % 251);
}

static void unhex(uint8_t *out, size_t n, const char *hex)
{
    size_t bl;
    assert_int_equal(strlen(hex), 2 * n);
    assert_int_equal(sodium_hex2bin(out, n, hex, 2 * n, NULL, &bl, NULL), 0);
    assert_int_equal(bl, n);
}

static void assert_hex(const uint8_t *b, size_t n, const char *want)
{
    char *h = malloc(2 * n + 1);
    sodium_bin2hex(h, 2 * n + 1, b, n);
    assert_string_equal(h, want);
    free(h);
}

/* Seal plaintext pt under key; returns the sealed bytes (malloc'd). */
static uint8_t *seal_bytes(const uint8_t *pt, size_t len, const uint8_t key[32], uint8_t id[32],
                           size_t *slen)
{
    int in = fd_with(pt, len), out = tmpfd();
    assert_int_equal(refbus_sfile_seal_key(id, key, out, in), 0);
    uint8_t *s = fd_bytes(out, slen);
    assert_int_equal(*slen, refbus_sfile_sealed_size(len));
    close(in);
    close(out);
    return s;
}

/* Open sealed bytes and verify all; returns the code, *bad the chunk blamed. */
static int verify_bytes(const uint8_t *s, size_t slen, const uint8_t id[32], const uint8_t *key,
                        uint64_t *bad)
{
    int fd = fd_with(s, slen);
    refbus_sfile *f = NULL;
    *bad = REFBUS_SFILE_NO_CHUNK;
    int rc = refbus_sfile_open(&f, fd, id, key);
    if (rc == 0) {
        rc = refbus_sfile_verify(f, bad);
        refbus_sfile_close(&f);
    }
    close(fd);
    return rc;
}

static void check_vector(const json_t *v)
{
    uint8_t key[32], id[32];
    size_t size = (size_t)json_integer_value(json_object_get(v, "size")), slen;
    const json_t *e = json_object_get(v, "expected");
    uint8_t *pt = malloc(size + 1);
    const json_t *ph = json_object_get(v, "plaintext_hex");
    if (ph)
        unhex(pt, size, json_string_value(ph));
    else
        pattern(pt, size);
    unhex(key, 32, json_string_value(json_object_get(v, "key")));
    uint8_t *s = seal_bytes(pt, size, key, id, &slen);
    uint64_t n = refbus_sfile_chunks(size);
    assert_int_equal(n, json_integer_value(json_object_get(e, "chunks")));
    assert_int_equal(slen, json_integer_value(json_object_get(e, "sealed_size")));
    assert_hex(id, 32, json_string_value(json_object_get(e, "id")));
    uint8_t h[32];
    crypto_generichash(h, 32, s, slen, NULL, 0);
    assert_hex(h, 32, json_string_value(json_object_get(e, "sealed_blake2b")));
    if (json_object_get(e, "sealed_hex"))
        assert_hex(s, slen, json_string_value(json_object_get(e, "sealed_hex")));
    for (uint64_t i = 0; i < n; i++)
        assert_hex(s + REFBUS_SFILE_HEADER + 32 * i, 32,
                   json_string_value(json_array_get(json_object_get(e, "leaves"), i)));

    int fd = fd_with(s, slen);
    refbus_sfile *f = NULL;
    uint64_t bad;
    assert_int_equal(refbus_sfile_open(&f, fd, id, key), 0);
    assert_int_equal(refbus_sfile_size(f), size);
    assert_int_equal(refbus_sfile_verify(f, &bad), 0);
    assert_true(bad == REFBUS_SFILE_NO_CHUNK);
    for (uint64_t i = 0; i < n; i++) {
        uint8_t path[REFBUS_SFILE_MAX_DEPTH][32], *pt2 = malloc(C);
        unsigned depth;
        size_t plen;
        char key_i[24];
        assert_int_equal(refbus_sfile_path(f, i, path, &depth), 0);
        snprintf(key_i, sizeof key_i, "%llu", (unsigned long long)i);
        const json_t *jp = json_object_get(json_object_get(e, "paths"), key_i);
        assert_int_equal(depth, json_array_size(jp));
        for (unsigned k = 0; k < depth; k++)
            assert_hex(path[k], 32, json_string_value(json_array_get(jp, k)));
        /* the chunk alone, with its path: what the wire will carry */
        const uint8_t *c = s + REFBUS_SFILE_HEADER + 32 * n + i * SC;
        size_t clen = (i + 1 == n ? size - i * C : C) + REFBUS_SFILE_TAG;
        assert_int_equal(refbus_sfile_chunk_check(id, size, i, c, clen, (const uint8_t(*)[32])path,
                                                  depth),
                         0);
        assert_int_equal(refbus_sfile_chunk_open(pt2, &plen, key, size, i, c, clen), 0);
        assert_memory_equal(pt2, pt + i * C, plen);
        if (n > 1) /* the same chunk claimed at another index */
            assert_int_equal(refbus_sfile_chunk_check(id, size, (i + 1) % n, c, clen,
                                                      (const uint8_t(*)[32])path, depth),
                             REFBUS_EFILECHUNK);
        free(pt2);
    }
    /* the whole file back */
    int out = tmpfd();
    assert_int_equal(refbus_sfile_read(f, 0, size, out, &bad), 0);
    size_t olen;
    uint8_t *o = fd_bytes(out, &olen);
    assert_int_equal(olen, size);
    assert_memory_equal(o, pt, size);
    free(o);
    close(out);
    refbus_sfile_close(&f);
    assert_null(f);
    close(fd);
    free(s);
    free(pt);
}

static void test_vectors(void **st)
{
    (void)st;
    size_t len;
    char *txt = test_read_source("tests/vectors/file-v1.json", &len);
    assert_non_null(txt);
    json_error_t err;
    json_t *root = json_loads(txt, 0, &err);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "chunk_size")), C);
    json_t *vs = json_object_get(root, "vectors"), *v;
    size_t i;
    assert_true(json_array_size(vs) >= 5);
    json_array_foreach(vs, i, v) check_vector(v);
    json_decref(root);
    free(txt);
}

/* A four-chunk file (three full, a short last) and its parts. */
typedef struct {
    uint8_t key[32], id[32], *pt, *s;
    size_t size, slen;
    uint64_t n;
} fx;

static void fx_make(fx *x, uint8_t seed)
{
    x->size = 3 * C + 1000;
    x->pt = malloc(x->size);
    randombytes_buf(x->pt, x->size);
    memset(x->key, seed, 32);
    x->s = seal_bytes(x->pt, x->size, x->key, x->id, &x->slen);
    x->n = refbus_sfile_chunks(x->size);
}

static void fx_free(fx *x)
{
    free(x->pt);
    free(x->s);
}

static uint8_t *chunk_at(fx *x, uint8_t *s, uint64_t i)
{
    return s + REFBUS_SFILE_HEADER + 32 * x->n + i * SC;
}

static void expect(const uint8_t *s, size_t slen, fx *x, const uint8_t *key, int want,
                   uint64_t want_bad)
{
    uint64_t bad;
    assert_int_equal(verify_bytes(s, slen, x->id, key, &bad), want);
    assert_true(bad == want_bad);
}

static void test_tamper_every_chunk(void **st)
{
    (void)st;
    fx x;
    fx_make(&x, 1);
    uint8_t *t = malloc(x.slen);
    for (uint64_t i = 0; i < x.n; i++) {
        size_t clen = (i + 1 == x.n ? 1000 : C) + REFBUS_SFILE_TAG;
        size_t where[] = {0, clen / 2, clen - 1}; /* first byte, middle, the tag */
        for (size_t w = 0; w < 3; w++) {
            memcpy(t, x.s, x.slen);
            chunk_at(&x, t, i)[where[w]] ^= 0x20;
            expect(t, x.slen, &x, x.key, REFBUS_EFILECHUNK, i);
            expect(t, x.slen, &x, NULL, REFBUS_EFILECHUNK, i); /* the broker sees it too */
        }
    }
    expect(x.s, x.slen, &x, x.key, 0, REFBUS_SFILE_NO_CHUNK);
    free(t);
    fx_free(&x);
}

static void test_reorder_drop_duplicate(void **st)
{
    (void)st;
    fx x;
    fx_make(&x, 2);
    uint8_t *t = malloc(x.slen + SC);
    /* reordered: chunks 0 and 1 swapped */
    memcpy(t, x.s, x.slen);
    memcpy(chunk_at(&x, t, 0), chunk_at(&x, x.s, 1), SC);
    memcpy(chunk_at(&x, t, 1), chunk_at(&x, x.s, 0), SC);
    expect(t, x.slen, &x, x.key, REFBUS_EFILECHUNK, 0);
    /* dropped: chunk 1 gone, the rest moved up (the file is now a chunk short) */
    memcpy(t, x.s, x.slen);
    memmove(chunk_at(&x, t, 1), chunk_at(&x, x.s, 2),
            x.slen - (size_t)(chunk_at(&x, x.s, 2) - x.s));
    expect(t, x.slen - SC, &x, x.key, REFBUS_EFILECHUNK, 1);
    /* duplicated in place: chunk 1 written over chunk 2 */
    memcpy(t, x.s, x.slen);
    memcpy(chunk_at(&x, t, 2), chunk_at(&x, x.s, 1), SC);
    expect(t, x.slen, &x, x.key, REFBUS_EFILECHUNK, 2);
    /* duplicated by insertion: more bytes than the size allows */
    memcpy(t, x.s, (size_t)(chunk_at(&x, x.s, 2) - x.s));
    memcpy(chunk_at(&x, t, 2), chunk_at(&x, x.s, 1), SC);
    memcpy(chunk_at(&x, t, 3), chunk_at(&x, x.s, 2), x.slen - (size_t)(chunk_at(&x, x.s, 2) - x.s));
    expect(t, x.slen + SC, &x, x.key, REFBUS_EFILEFORMAT, REFBUS_SFILE_NO_CHUNK);
    free(t);
    fx_free(&x);
}

static void test_truncated(void **st)
{
    (void)st;
    fx x;
    fx_make(&x, 3);
    /* cut inside every chunk, and exactly at each chunk boundary */
    for (uint64_t i = 0; i < x.n; i++) {
        size_t at = (size_t)(chunk_at(&x, x.s, i) - x.s);
        expect(x.s, at, &x, x.key, REFBUS_EFILEINCOMPLETE, i);
        expect(x.s, at + 7, &x, x.key, REFBUS_EFILEINCOMPLETE, i);
        expect(x.s, at + 7, &x, NULL, REFBUS_EFILEINCOMPLETE, i);
    }
    /* a partial file still serves the chunks it has (resume, play from the start) */
    int fd = fd_with(x.s, (size_t)(chunk_at(&x, x.s, 2) - x.s));
    refbus_sfile *f = NULL;
    uint8_t *pt = malloc(C);
    size_t plen;
    assert_int_equal(refbus_sfile_open(&f, fd, x.id, x.key), 0);
    assert_int_equal(refbus_sfile_chunk(f, 1, pt, &plen), 0);
    assert_memory_equal(pt, x.pt + C, C);
    assert_int_equal(refbus_sfile_chunk(f, 2, pt, &plen), REFBUS_EFILEINCOMPLETE);
    refbus_sfile_close(&f);
    close(fd);
    free(pt);
    /* cut in the leaves or the header: the file cannot even be named */
    expect(x.s, REFBUS_SFILE_HEADER + 40, &x, x.key, REFBUS_EFILEFORMAT, REFBUS_SFILE_NO_CHUNK);
    expect(x.s, 20, &x, x.key, REFBUS_EFILEFORMAT, REFBUS_SFILE_NO_CHUNK);
    expect(x.s, 0, &x, x.key, REFBUS_EFILEFORMAT, REFBUS_SFILE_NO_CHUNK);
    fx_free(&x);
}

static void test_two_files(void **st)
{
    (void)st;
    fx a, b;
    fx_make(&a, 4);
    fx_make(&b, 5);
    uint8_t *t = malloc(a.slen);
    /* chunk 1 of b in a */
    memcpy(t, a.s, a.slen);
    memcpy(chunk_at(&a, t, 1), chunk_at(&b, b.s, 1), SC);
    expect(t, a.slen, &a, a.key, REFBUS_EFILECHUNK, 1);
    /* and its leaf with it: the leaves no longer make a's id */
    memcpy(t + REFBUS_SFILE_HEADER + 32, b.s + REFBUS_SFILE_HEADER + 32, 32);
    expect(t, a.slen, &a, a.key, REFBUS_EFILEID, REFBUS_SFILE_NO_CHUNK);
    /* all of b presented as a: the header's id is not a's */
    expect(b.s, b.slen, &a, a.key, REFBUS_EFILEID, REFBUS_SFILE_NO_CHUNK);
    /* a's bytes under b's key: every chunk is a's, none opens */
    expect(a.s, a.slen, &a, b.key, REFBUS_EFILECHUNK, 0);
    /* bad magic; bytes after the last chunk */
    memcpy(t, a.s, a.slen);
    t[0] ^= 1;
    expect(t, a.slen, &a, a.key, REFBUS_EFILEFORMAT, REFBUS_SFILE_NO_CHUNK);
    uint8_t *longer = malloc(a.slen + 1);
    memcpy(longer, a.s, a.slen);
    longer[a.slen] = 0;
    expect(longer, a.slen + 1, &a, a.key, REFBUS_EFILEFORMAT, REFBUS_SFILE_NO_CHUNK);
    free(longer);
    free(t);
    fx_free(&a);
    fx_free(&b);
}

static void bhash(uint8_t out[32], uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
                  size_t blen)
{
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, 32);
    crypto_generichash_update(&s, &prefix, 1);
    crypto_generichash_update(&s, a, alen);
    crypto_generichash_update(&s, b, blen);
    crypto_generichash_final(&s, out, 32);
}

/* A malicious sealer (it has the key) marks chunk 0 of two as the last one, so that a reader
 * that trusted the flag would stop there; it builds leaves and id to match, so only the AEAD,
 * whose nonce the reader derives from the index and the size, can catch it. Built here from
 * the specification, independently of proto/sfile.c. */
static void test_forged_last_flag(void **st)
{
    (void)st;
    const uint64_t size = C + 10;
    uint8_t key[32], nonce[24] = {0}, ad[28], leaves[2][32], root[32], id[32], szb[8];
    uint8_t *pt = malloc(size), *c[2];
    randombytes_buf(key, 32);
    randombytes_buf(pt, size);
    for (int k = 0; k < 8; k++)
        szb[k] = (uint8_t)(size >> (56 - 8 * k));
    memcpy(ad, "refbus/v1/file-chunk", 20);
    memcpy(ad + 20, szb, 8);
    size_t lens[2] = {C, 10};
    for (int i = 0; i < 2; i++) {
        memset(nonce, 0, sizeof nonce);
        nonce[7] = (uint8_t)i;
        nonce[8] = 1; /* forged for i = 0; true for i = 1 */
        c[i] = malloc(lens[i] + 16);
        crypto_aead_xchacha20poly1305_ietf_encrypt(c[i], NULL, pt + i * C, lens[i], ad, 28, NULL,
                                                   nonce, key);
        bhash(leaves[i], 0, c[i], lens[i] + 16, NULL, 0);
    }
    bhash(root, 1, leaves[0], 32, leaves[1], 32);
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    crypto_generichash_update(&hs, (const uint8_t *)"refbus/v1/file-id", 17);
    crypto_generichash_update(&hs, szb, 8);
    crypto_generichash_update(&hs, root, 32);
    crypto_generichash_final(&hs, id, 32);
    size_t slen = (size_t)refbus_sfile_sealed_size(size);
    uint8_t *s = malloc(slen), *p = s;
    memcpy(p, "refbusF1", 8);
    memcpy(p + 8, szb, 8);
    memcpy(p + 16, id, 32);
    p += 48;
    memcpy(p, leaves, 64);
    p += 64;
    memcpy(p, c[0], C + 16);
    memcpy(p + C + 16, c[1], 26);
    fx x = {.n = 2};
    memcpy(x.id, id, 32);
    expect(s, slen, &x, NULL, 0, REFBUS_SFILE_NO_CHUNK); /* the ciphertext is what it claims */
    expect(s, slen, &x, key, REFBUS_EFILECHUNK, 0);      /* but chunk 0 is not the last */
    /* while the true last chunk opens: the reader derives the flag, it does not ignore it */
    int fd = fd_with(s, slen);
    refbus_sfile *f = NULL;
    uint8_t *o = malloc(C);
    size_t olen;
    assert_int_equal(refbus_sfile_open(&f, fd, id, key), 0);
    assert_int_equal(refbus_sfile_chunk(f, 1, o, &olen), 0);
    assert_int_equal(olen, 10);
    assert_memory_equal(o, pt + C, 10);
    assert_int_equal(refbus_sfile_chunk(f, 0, o, &olen), REFBUS_EFILECHUNK);
    refbus_sfile_close(&f);
    close(fd);
    /* and the first chunk alone, passed off as a whole file of C bytes, does not open */
    assert_int_equal(refbus_sfile_chunk_open(o, &olen, key, C, 0, c[0], C + 16), REFBUS_EFILECHUNK);
    free(o);
    free(s);
    free(c[0]);
    free(c[1]);
    free(pt);
}

static void test_ranges_and_limits(void **st)
{
    (void)st;
    fx x;
    fx_make(&x, 6);
    int fd = fd_with(x.s, x.slen);
    refbus_sfile *f = NULL;
    uint64_t bad;
    assert_int_equal(refbus_sfile_open(&f, fd, x.id, x.key), 0);
    const uint64_t r[][2] = {{0, 1},      {C - 1, 2},         {C, C}, {5, 3 * C}, {3 * C + 999, 1},
                             {x.size, 0}, {100, x.size - 100}};
    for (size_t k = 0; k < sizeof r / sizeof r[0]; k++) {
        int out = tmpfd();
        size_t olen;
        assert_int_equal(refbus_sfile_read(f, r[k][0], r[k][1], out, &bad), 0);
        uint8_t *o = fd_bytes(out, &olen);
        assert_int_equal(olen, r[k][1]);
        assert_memory_equal(o, x.pt + r[k][0], olen);
        free(o);
        close(out);
    }
    assert_int_equal(refbus_sfile_read(f, x.size, 1, 1, &bad), REFBUS_EINVAL);
    assert_int_equal(refbus_sfile_read(f, 1, UINT64_MAX, 1, &bad), REFBUS_EINVAL);
    uint8_t path[REFBUS_SFILE_MAX_DEPTH][32];
    unsigned depth;
    assert_int_equal(refbus_sfile_path(f, x.n, path, &depth), REFBUS_EINVAL);
    refbus_sfile_close(&f);
    refbus_sfile_close(&f); /* NULL is fine */
    /* no key: verify only, no reading */
    assert_int_equal(refbus_sfile_open(&f, fd, x.id, NULL), 0);
    assert_int_equal(refbus_sfile_verify(f, &bad), 0);
    assert_int_equal(refbus_sfile_read(f, 0, 1, 1, &bad), REFBUS_EINVAL);
    refbus_sfile_close(&f);
    close(fd);
    /* a chunk check with a path too long, a wrong size, an index past the end */
    const uint8_t *c0 = chunk_at(&x, x.s, 0);
    assert_int_equal(refbus_sfile_chunk_check(x.id, x.size, 0, c0, SC, path, 25),
                     REFBUS_EFILECHUNK);
    assert_int_equal(refbus_sfile_chunk_check(x.id, x.size, 9, c0, SC, path, 2), REFBUS_EFILECHUNK);
    assert_int_equal(refbus_sfile_chunk_check(x.id, REFBUS_SFILE_MAX_SIZE + 1, 0, c0, SC, path, 2),
                     REFBUS_EFILECHUNK);
    /* sealing something that is not a regular file */
    int p[2];
    uint8_t key[32], id[32];
    assert_int_equal(pipe(p), 0);
    int out = tmpfd();
    assert_int_equal(refbus_sfile_seal(id, key, out, p[0]), REFBUS_EINVAL);
    close(p[0]);
    close(p[1]);
    close(out);
    /* a fresh key every time: the same bytes seal to two different ids */
    uint8_t k1[32], k2[32], id1[32], id2[32];
    int in = fd_with(x.pt, 100), o1 = tmpfd(), o2 = tmpfd();
    assert_int_equal(refbus_sfile_seal(id1, k1, o1, in), 0);
    assert_int_equal(refbus_sfile_seal(id2, k2, o2, in), 0);
    assert_memory_not_equal(k1, k2, 32);
    assert_memory_not_equal(id1, id2, 32);
    close(in);
    close(o1);
    close(o2);
    fx_free(&x);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_tamper_every_chunk),
        cmocka_unit_test(test_reorder_drop_duplicate),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_two_files),
        cmocka_unit_test(test_forged_last_flag),
        cmocka_unit_test(test_ranges_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
