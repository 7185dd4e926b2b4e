/* Sealed files, docs/PROTOCOL.md §2.11: chunk sealing (XChaCha20-Poly1305, nonce from index and
 * last flag, the file size in the AD), the file id (BLAKE2b Merkle root, RFC 6962 shape) and the
 * sealed-file container. Streaming throughout: one chunk buffer and a 64-entry hash stack, so a
 * multi-gigabyte recording costs the same memory as a photo. */
#include "proto/sfile.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

_Static_assert(REFBUS_SFILE_HASHBYTES == crypto_generichash_BYTES,
               "chunk-tree hashes are BLAKE2b-256");
_Static_assert(REFBUS_SFILE_KEYBYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "file key");
_Static_assert(REFBUS_SFILE_TAG == crypto_aead_xchacha20poly1305_ietf_ABYTES, "chunk tag");

#define DOM_CHUNK "refbus/v1/file-chunk"
#define DOM_ID "refbus/v1/file-id"
static const uint8_t MAGIC[8] = {'r', 'e', 'f', 'b', 'u', 's', 'F', '1'};
#define SEALED_CHUNK (REFBUS_SFILE_CHUNK + REFBUS_SFILE_TAG)
#define LEAF_BLOCK 128 /* leaves per read when streaming the leaf list (4 KiB) */

struct refbus_sfile {
    int fd;
    uint64_t size, n, flen;
    uint8_t id[REFBUS_SFILE_IDBYTES];
    uint8_t *key; /* sodium_malloc, NULL when opened to verify only */
    uint8_t *ct;  /* one sealed chunk */
};

/* RFC 6962 Merkle tree hash built leaf by leaf: h[l] is the pending perfect subtree of 2^l
 * leaves when bit l of count is set. */
typedef struct {
    uint8_t h[64][REFBUS_SFILE_HASHBYTES];
    uint64_t count;
} acc;

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void node_hash(uint8_t out[REFBUS_SFILE_HASHBYTES], const uint8_t l[REFBUS_SFILE_HASHBYTES],
                      const uint8_t r[REFBUS_SFILE_HASHBYTES])
{
    crypto_generichash_state st;
    const uint8_t one = 1;
    crypto_generichash_init(&st, NULL, 0, REFBUS_SFILE_HASHBYTES);
    crypto_generichash_update(&st, &one, 1);
    crypto_generichash_update(&st, l, REFBUS_SFILE_HASHBYTES);
    crypto_generichash_update(&st, r, REFBUS_SFILE_HASHBYTES);
    crypto_generichash_final(&st, out, REFBUS_SFILE_HASHBYTES);
}

static void leaf_hash(uint8_t out[REFBUS_SFILE_HASHBYTES], const uint8_t *c, size_t clen)
{
    crypto_generichash_state st;
    const uint8_t zero = 0;
    crypto_generichash_init(&st, NULL, 0, REFBUS_SFILE_HASHBYTES);
    crypto_generichash_update(&st, &zero, 1);
    crypto_generichash_update(&st, c, clen);
    crypto_generichash_final(&st, out, REFBUS_SFILE_HASHBYTES);
}

static void acc_push(acc *a, const uint8_t leaf[REFBUS_SFILE_HASHBYTES])
{
    uint8_t h[REFBUS_SFILE_HASHBYTES];
    unsigned l = 0;
    memcpy(h, leaf, REFBUS_SFILE_HASHBYTES);
    for (; (a->count >> l) & 1; l++)
        node_hash(h, a->h[l], h);
    memcpy(a->h[l], h, REFBUS_SFILE_HASHBYTES);
    a->count++;
}

/* The root: the pending subtrees folded right (smallest) to left. count must be > 0. */
static void acc_root(const acc *a, uint8_t out[REFBUS_SFILE_HASHBYTES])
{
    int have = 0;
    for (unsigned l = 0; l < 64; l++) {
        if (!((a->count >> l) & 1))
            continue;
        if (!have)
            memcpy(out, a->h[l], REFBUS_SFILE_HASHBYTES);
        else
            node_hash(out, a->h[l], out);
        have = 1;
    }
}

static void file_id(uint8_t id[REFBUS_SFILE_IDBYTES], uint64_t size,
                    const uint8_t root[REFBUS_SFILE_HASHBYTES])
{
    crypto_generichash_state st;
    uint8_t sz[8];
    be64(sz, size);
    crypto_generichash_init(&st, NULL, 0, REFBUS_SFILE_HASHBYTES);
    crypto_generichash_update(&st, (const uint8_t *)DOM_ID, sizeof DOM_ID - 1);
    crypto_generichash_update(&st, sz, 8);
    crypto_generichash_update(&st, root, REFBUS_SFILE_HASHBYTES);
    crypto_generichash_final(&st, id, REFBUS_SFILE_IDBYTES);
}

uint64_t refbus_sfile_chunks(uint64_t size)
{
    return size == 0 ? 1 : (size - 1) / REFBUS_SFILE_CHUNK + 1;
}

uint64_t refbus_sfile_sealed_size(uint64_t size)
{
    uint64_t n = refbus_sfile_chunks(size);
    return REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * n + size + REFBUS_SFILE_TAG * n;
}

/* Plaintext length of chunk i of a file of size bytes (i < n). */
static size_t chunk_len(uint64_t size, uint64_t i)
{
    uint64_t left = size - i * REFBUS_SFILE_CHUNK;
    return (size_t)(left < REFBUS_SFILE_CHUNK ? left : REFBUS_SFILE_CHUNK);
}

static void nonce_ad(uint8_t nonce[24], uint8_t ad[sizeof DOM_CHUNK - 1 + 8], uint64_t size,
                     uint64_t i)
{
    memset(nonce, 0, 24);
    be64(nonce, i);
    nonce[8] = i + 1 == refbus_sfile_chunks(size);
    memcpy(ad, DOM_CHUNK, sizeof DOM_CHUNK - 1);
    be64(ad + sizeof DOM_CHUNK - 1, size);
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return REFBUS_EIO;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

static int pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return REFBUS_EIO;
        done += (size_t)r;
    }
    return 0;
}

int refbus_sfile_seal_key(uint8_t id_out[REFBUS_SFILE_IDBYTES],
                          const uint8_t key[REFBUS_SFILE_KEYBYTES], int out_fd, int in_fd)
{
    int rc = REFBUS_ENOMEM;
    uint8_t *pt = sodium_malloc(REFBUS_SFILE_CHUNK), *ct = NULL;
    acc *a = NULL;
    struct stat st;
    uint8_t hdr[REFBUS_SFILE_HEADER], leaf[REFBUS_SFILE_HASHBYTES], root[REFBUS_SFILE_HASHBYTES],
        nonce[24], ad[sizeof DOM_CHUNK - 1 + 8];
    if (!pt || !(ct = malloc(SEALED_CHUNK)) || !(a = calloc(1, sizeof *a)))
        goto out;
    rc = REFBUS_EINVAL;
    if (fstat(in_fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        goto out;
    uint64_t size = (uint64_t)st.st_size, n = refbus_sfile_chunks(size);
    rc = REFBUS_ETOOLARGE;
    if (size > REFBUS_SFILE_MAX_SIZE)
        goto out;
    uint64_t coff = REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * n;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = chunk_len(size, i), got;
        unsigned long long clen;
        if ((rc = pread_full(in_fd, pt, len, i * REFBUS_SFILE_CHUNK, &got)))
            goto out;
        rc = REFBUS_EIO; /* the file shrank under us */
        if (got != len)
            goto out;
        nonce_ad(nonce, ad, size, i);
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, pt, len, ad, sizeof ad, NULL, nonce,
                                                   key);
        leaf_hash(leaf, ct, (size_t)clen);
        acc_push(a, leaf);
        if ((rc = pwrite_full(out_fd, leaf, REFBUS_SFILE_HASHBYTES,
                              REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * i)) ||
            (rc = pwrite_full(out_fd, ct, (size_t)clen, coff)))
            goto out;
        coff += clen;
    }
    size_t extra;
    if ((rc = pread_full(in_fd, pt, 1, size, &extra)))
        goto out;
    rc = REFBUS_EIO; /* the file grew under us: the id would not name what it holds now */
    if (extra != 0)
        goto out;
    acc_root(a, root);
    file_id(id_out, size, root);
    memcpy(hdr, MAGIC, 8);
    be64(hdr + 8, size);
    memcpy(hdr + 16, id_out, REFBUS_SFILE_IDBYTES);
    rc = pwrite_full(out_fd, hdr, sizeof hdr, 0);
out:
    if (rc)
        sodium_memzero(id_out, REFBUS_SFILE_IDBYTES);
    sodium_free(pt); /* wipes the plaintext */
    free(ct);
    free(a);
    return rc;
}

int refbus_sfile_seal(uint8_t id_out[REFBUS_SFILE_IDBYTES], uint8_t key_out[REFBUS_SFILE_KEYBYTES],
                      int out_fd, int in_fd)
{
    randombytes_buf(key_out, REFBUS_SFILE_KEYBYTES);
    int rc = refbus_sfile_seal_key(id_out, key_out, out_fd, in_fd);
    if (rc)
        sodium_memzero(key_out, REFBUS_SFILE_KEYBYTES);
    return rc;
}

/* RFC 9162 §2.1.3.2: fold the inclusion path of `leaf` at index in a tree of n leaves into the
 * root it proves. 0, or -1 when the path has the wrong shape for (index, n). */
static int fold_path(uint8_t root[REFBUS_SFILE_HASHBYTES], uint64_t n, uint64_t index,
                     const uint8_t leaf[REFBUS_SFILE_HASHBYTES],
                     const uint8_t (*path)[REFBUS_SFILE_HASHBYTES], unsigned depth)
{
    uint64_t fn = index, sn = n - 1;
    if (index >= n)
        return -1;
    memcpy(root, leaf, REFBUS_SFILE_HASHBYTES);
    for (unsigned k = 0; k < depth; k++) {
        if (sn == 0)
            return -1;
        if ((fn & 1) || fn == sn) {
            node_hash(root, path[k], root);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            node_hash(root, root, path[k]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 ? 0 : -1;
}

int refbus_sfile_chunk_check(const uint8_t id[REFBUS_SFILE_IDBYTES], uint64_t size, uint64_t index,
                             const uint8_t *c, size_t clen,
                             const uint8_t (*path)[REFBUS_SFILE_HASHBYTES], unsigned depth)
{
    uint8_t leaf[REFBUS_SFILE_HASHBYTES], root[REFBUS_SFILE_HASHBYTES], want[REFBUS_SFILE_IDBYTES];
    /* the path proves a root; the id binds that root to the size, so one comparison of ids
     * checks the chunk, its position and the file it belongs to */
    if (size > REFBUS_SFILE_MAX_SIZE || index >= refbus_sfile_chunks(size) ||
        depth > REFBUS_SFILE_MAX_DEPTH || clen != chunk_len(size, index) + REFBUS_SFILE_TAG)
        return REFBUS_EFILECHUNK;
    leaf_hash(leaf, c, clen);
    if (fold_path(root, refbus_sfile_chunks(size), index, leaf, path, depth) != 0)
        return REFBUS_EFILECHUNK;
    file_id(want, size, root);
    return sodium_memcmp(want, id, REFBUS_SFILE_IDBYTES) == 0 ? 0 : REFBUS_EFILECHUNK;
}

int refbus_sfile_chunk_open(uint8_t *pt, size_t *pt_len, const uint8_t key[REFBUS_SFILE_KEYBYTES],
                            uint64_t size, uint64_t index, const uint8_t *c, size_t clen)
{
    uint8_t nonce[24], ad[sizeof DOM_CHUNK - 1 + 8];
    unsigned long long mlen;
    if (size > REFBUS_SFILE_MAX_SIZE || index >= refbus_sfile_chunks(size) ||
        clen != chunk_len(size, index) + REFBUS_SFILE_TAG)
        return REFBUS_EFILECHUNK;
    nonce_ad(nonce, ad, size, index);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &mlen, NULL, c, clen, ad, sizeof ad, nonce,
                                                   key) != 0) {
        sodium_memzero(pt, clen - REFBUS_SFILE_TAG);
        return REFBUS_EFILECHUNK;
    }
    *pt_len = (size_t)mlen;
    return 0;
}

/* Stream the leaves [lo, hi) of f through a fresh accumulator into their subtree hash. */
static int leaves_root(refbus_sfile *f, uint64_t lo, uint64_t hi,
                       uint8_t out[REFBUS_SFILE_HASHBYTES])
{
    acc a;
    uint8_t blk[LEAF_BLOCK][REFBUS_SFILE_HASHBYTES];
    memset(&a, 0, sizeof a);
    for (uint64_t i = lo; i < hi;) {
        size_t want = (size_t)(hi - i < LEAF_BLOCK ? hi - i : LEAF_BLOCK), got;
        int rc = pread_full(f->fd, blk, want * REFBUS_SFILE_HASHBYTES,
                            REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * i, &got);
        if (rc)
            return rc;
        if (got != want * REFBUS_SFILE_HASHBYTES)
            return REFBUS_EFILEFORMAT;
        for (size_t k = 0; k < want; k++)
            acc_push(&a, blk[k]);
        i += want;
    }
    acc_root(&a, out);
    return 0;
}

int refbus_sfile_open(refbus_sfile **out, int fd, const uint8_t id[REFBUS_SFILE_IDBYTES],
                      const uint8_t *key)
{
    int rc = REFBUS_ENOMEM;
    uint8_t hdr[REFBUS_SFILE_HEADER], root[REFBUS_SFILE_HASHBYTES], want[REFBUS_SFILE_IDBYTES];
    struct stat st;
    size_t got;
    refbus_sfile *f = calloc(1, sizeof *f);
    if (!f || !(f->ct = malloc(SEALED_CHUNK)))
        goto out;
    if (key) {
        if (!(f->key = sodium_malloc(REFBUS_SFILE_KEYBYTES)))
            goto out;
        memcpy(f->key, key, REFBUS_SFILE_KEYBYTES);
    }
    f->fd = fd;
    rc = REFBUS_EIO;
    if (fstat(fd, &st) != 0 || st.st_size < 0)
        goto out;
    f->flen = (uint64_t)st.st_size;
    if ((rc = pread_full(fd, hdr, sizeof hdr, 0, &got)))
        goto out;
    rc = REFBUS_EFILEFORMAT;
    if (got != sizeof hdr || memcmp(hdr, MAGIC, 8) != 0)
        goto out;
    f->size = get_be64(hdr + 8);
    if (f->size > REFBUS_SFILE_MAX_SIZE)
        goto out;
    f->n = refbus_sfile_chunks(f->size);
    /* header and every leaf must be there (they are written first); chunks may still be
     * arriving; nothing may follow the last chunk */
    if (f->flen < REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * f->n ||
        f->flen > refbus_sfile_sealed_size(f->size))
        goto out;
    rc = REFBUS_EFILEID;
    if (sodium_memcmp(hdr + 16, id, REFBUS_SFILE_IDBYTES) != 0)
        goto out;
    if ((rc = leaves_root(f, 0, f->n, root)))
        goto out;
    file_id(want, f->size, root);
    rc = REFBUS_EFILEID;
    if (sodium_memcmp(want, id, REFBUS_SFILE_IDBYTES) != 0)
        goto out;
    memcpy(f->id, id, REFBUS_SFILE_IDBYTES);
    *out = f;
    f = NULL;
    rc = 0;
out:
    refbus_sfile_close(&f);
    return rc;
}

uint64_t refbus_sfile_size(const refbus_sfile *f)
{
    return f->size;
}

int refbus_sfile_chunk(refbus_sfile *f, uint64_t index, uint8_t *pt, size_t *pt_len)
{
    uint8_t leaf[REFBUS_SFILE_HASHBYTES], got_leaf[REFBUS_SFILE_HASHBYTES];
    size_t got;
    int rc;
    if (index >= f->n || (f->key && (!pt || !pt_len)))
        return REFBUS_EINVAL;
    size_t clen = chunk_len(f->size, index) + REFBUS_SFILE_TAG;
    /* every chunk before index is full, so the offset is a product */
    uint64_t off =
        REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * f->n + index * (uint64_t)SEALED_CHUNK;
    if ((rc = pread_full(f->fd, leaf, REFBUS_SFILE_HASHBYTES,
                         REFBUS_SFILE_HEADER + REFBUS_SFILE_HASHBYTES * index, &got)))
        return rc;
    if (got != REFBUS_SFILE_HASHBYTES)
        return REFBUS_EFILEFORMAT; /* the file shrank since open */
    if ((rc = pread_full(f->fd, f->ct, clen, off, &got)))
        return rc;
    if (got != clen)
        return REFBUS_EFILEINCOMPLETE;
    leaf_hash(got_leaf, f->ct, clen);
    if (sodium_memcmp(got_leaf, leaf, REFBUS_SFILE_HASHBYTES) != 0)
        return REFBUS_EFILECHUNK;
    if (!f->key)
        return 0;
    return refbus_sfile_chunk_open(pt, pt_len, f->key, f->size, index, f->ct, clen);
}

static int chunk_err(int rc)
{
    return rc == REFBUS_EFILECHUNK || rc == REFBUS_EFILEINCOMPLETE;
}

int refbus_sfile_verify(refbus_sfile *f, uint64_t *bad)
{
    int rc = 0;
    size_t len;
    uint8_t *pt = NULL;
    if (bad)
        *bad = REFBUS_SFILE_NO_CHUNK;
    if (f->key && !(pt = sodium_malloc(REFBUS_SFILE_CHUNK)))
        return REFBUS_ENOMEM;
    for (uint64_t i = 0; i < f->n && !rc; i++)
        if ((rc = refbus_sfile_chunk(f, i, pt, &len)) && chunk_err(rc) && bad)
            *bad = i;
    sodium_free(pt);
    return rc;
}

int refbus_sfile_read(refbus_sfile *f, uint64_t off, uint64_t len, int out_fd, uint64_t *bad)
{
    int rc = 0;
    size_t plen;
    uint8_t *pt = NULL;
    if (bad)
        *bad = REFBUS_SFILE_NO_CHUNK;
    if (!f->key || off > f->size || len > f->size - off)
        return REFBUS_EINVAL;
    if (len == 0)
        return 0;
    if (!(pt = sodium_malloc(REFBUS_SFILE_CHUNK)))
        return REFBUS_ENOMEM;
    for (uint64_t i = off / REFBUS_SFILE_CHUNK; i <= (off + len - 1) / REFBUS_SFILE_CHUNK; i++) {
        if ((rc = refbus_sfile_chunk(f, i, pt, &plen))) {
            if (chunk_err(rc) && bad)
                *bad = i;
            break;
        }
        uint64_t start = i * REFBUS_SFILE_CHUNK;
        uint64_t a = off > start ? off - start : 0;
        uint64_t b = off + len - start < plen ? off + len - start : plen;
        const uint8_t *p = pt + a;
        size_t left = (size_t)(b - a);
        while (left) {
            ssize_t w = write(out_fd, p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = REFBUS_EIO;
                goto out;
            }
            p += w;
            left -= (size_t)w;
        }
    }
out:
    sodium_free(pt); /* wipes the plaintext */
    return rc;
}

int refbus_sfile_path(refbus_sfile *f, uint64_t index,
                      uint8_t path[REFBUS_SFILE_MAX_DEPTH][REFBUS_SFILE_HASHBYTES], unsigned *depth)
{
    uint8_t top[REFBUS_SFILE_MAX_DEPTH][REFBUS_SFILE_HASHBYTES]; /* siblings, top down */
    unsigned cnt = 0;
    uint64_t lo = 0, hi = f->n;
    int rc;
    if (index >= f->n)
        return REFBUS_EINVAL;
    /* RFC 6962 PATH(m, D[lo:hi]): the sibling subtrees on the way down are disjoint, so all
     * of them together read each leaf at most once */
    while (hi - lo > 1) {
        uint64_t k = 1;
        while (k << 1 < hi - lo)
            k <<= 1;
        if (index < lo + k) {
            rc = leaves_root(f, lo + k, hi, top[cnt++]);
            hi = lo + k;
        } else {
            rc = leaves_root(f, lo, lo + k, top[cnt++]);
            lo = lo + k;
        }
        if (rc)
            return rc;
    }
    for (unsigned k = 0; k < cnt; k++)
        memcpy(path[k], top[cnt - 1 - k], REFBUS_SFILE_HASHBYTES);
    *depth = cnt;
    return 0;
}

void refbus_sfile_close(refbus_sfile **fp)
{
    if (!fp || !*fp)
        return;
    sodium_free((*fp)->key); /* wipes */
    free((*fp)->ct);
    free(*fp);
    *fp = NULL;
}
