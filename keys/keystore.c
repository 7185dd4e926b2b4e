/* Keystore at rest: Argon2id (crypto_pwhash) derives a key from the passphrase, the salt and the
 * cost stored in the header; crypto_secretbox seals the contents. Any change to the header
 * either fails the format checks or changes the derived key, so a byte flipped anywhere is
 * refused. Plaintext and derived keys exist only in sodium_malloc'd memory. */
#include "keys/keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "keys/keystore_int.h"

struct refbus_keystore {
    enum refbus_keystore_role role;
    char id[65];
    uint8_t root_pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t
        *secrets; /* sodium_malloc: storage key (32), then per epoch sign 64, enc 32, curve 32 */
    size_t secrets_len;
    refbus_epoch_keys *epochs;
    size_t n;
};

#define SECRET_EPOCH 128u

int refbus_kdf_named(refbus_kdf *out, const char *name)
{
    if (!name)
        name = getenv("REFBUS_KDF_LIMIT");
    if (!name || !*name || strcmp(name, "interactive") == 0) {
        out->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        out->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    } else if (strcmp(name, "moderate") == 0) {
        out->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
        out->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
    } else if (strcmp(name, "sensitive") == 0) {
        out->opslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
        out->memlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
    } else if (strcmp(name, "min") == 0) {
        out->opslimit = crypto_pwhash_OPSLIMIT_MIN;
        out->memlimit = crypto_pwhash_MEMLIMIT_MIN;
    } else {
        return REFBUS_EINVAL;
    }
    return 0;
}

int refbus_ks_kdf_ok(const refbus_kdf *kdf)
{
    return kdf->opslimit >= crypto_pwhash_OPSLIMIT_MIN && kdf->opslimit <= REFBUS_KS_OPSLIMIT_MAX &&
           kdf->memlimit >= crypto_pwhash_MEMLIMIT_MIN &&
           kdf->memlimit <= crypto_pwhash_MEMLIMIT_SENSITIVE;
}

void refbus_keystore_free(refbus_keystore **ks)
{
    if (!ks || !*ks)
        return;
    sodium_free((*ks)->secrets); /* wipes */
    free((*ks)->epochs);
    sodium_memzero(*ks, sizeof **ks);
    free(*ks);
    *ks = NULL;
}

/* A keystore shell with room for n epochs; secrets writable until seal(). */
static int alloc_ks(refbus_keystore **out, size_t n)
{
    refbus_keystore *ks = calloc(1, sizeof *ks);
    if (!ks)
        return REFBUS_ENOMEM;
    ks->secrets_len = 32 + n * SECRET_EPOCH;
    ks->secrets = sodium_malloc(ks->secrets_len);
    ks->epochs = calloc(n ? n : 1, sizeof *ks->epochs);
    if (!ks->secrets || !ks->epochs) {
        refbus_keystore_free(&ks);
        return REFBUS_ENOMEM;
    }
    ks->n = n;
    for (size_t i = 0; i < n; i++) {
        uint8_t *s = ks->secrets + 32 + i * SECRET_EPOCH;
        ks->epochs[i].sign_sk = s;
        ks->epochs[i].enc_sk = s + 64;
        ks->epochs[i].curve_sk = s + 96;
    }
    *out = ks;
    return 0;
}

static void seal_ro(refbus_keystore *ks)
{
    sodium_mprotect_readonly(ks->secrets);
}

/* Public keys must belong to the secrets next to them: a store that decrypts but does not hold
 * together was written by something else than this code. */
static int epoch_consistent(const refbus_epoch_keys *e)
{
    uint8_t pk[32];
    uint8_t *tmp = sodium_malloc(64 + 32);
    int ok = 0;
    if (!tmp)
        return REFBUS_ENOMEM;
    crypto_sign_ed25519_sk_to_seed(tmp + 64, e->sign_sk);
    if (crypto_sign_seed_keypair(pk, tmp, tmp + 64) != 0)
        goto out;
    if (sodium_memcmp(pk, e->sign_pk, crypto_sign_PUBLICKEYBYTES) != 0 ||
        sodium_memcmp(tmp, e->sign_sk, crypto_sign_SECRETKEYBYTES) != 0)
        goto out;
    if (crypto_scalarmult_base(pk, e->enc_sk) != 0 ||
        sodium_memcmp(pk, e->enc_pk, crypto_box_PUBLICKEYBYTES) != 0)
        goto out;
    if (crypto_scalarmult_base(pk, e->curve_sk) != 0 ||
        sodium_memcmp(pk, e->curve_pk, crypto_box_PUBLICKEYBYTES) != 0)
        goto out;
    ok = 1;
out:
    sodium_free(tmp);
    return ok ? 0 : REFBUS_EKEYFORMAT;
}

int refbus_ks_parse_plain(refbus_keystore **out, const uint8_t *p, size_t len)
{
    refbus_keystore *ks = NULL;
    char id[65];
    int rc = REFBUS_EKEYFORMAT;
    if (len < 2)
        return rc;
    uint8_t role = p[0];
    size_t idlen = p[1];
    if (role < REFBUS_KEYSTORE_AGENCY || role > REFBUS_KEYSTORE_ROOT || idlen == 0 ||
        idlen > REFBUS_AGENCY_ID_MAX || len < 2 + idlen + 68)
        return rc;
    memcpy(id, p + 2, idlen);
    id[idlen] = 0;
    if (memchr(id, 0, idlen) || !refbus_agency_id_valid(id) ||
        (role == REFBUS_KEYSTORE_ROOT && strcmp(id, "root") != 0))
        return rc;
    const uint8_t *q = p + 2 + idlen;
    uint32_t n = refbus_get_u32be(q + 64);
    if (n == 0 || n > REFBUS_KEYSTORE_MAX_EPOCHS || (role == REFBUS_KEYSTORE_ROOT && n != 1) ||
        len != 2 + idlen + 68 + (size_t)n * REFBUS_KS_EPOCH_BYTES)
        return rc;
    if ((rc = alloc_ks(&ks, n)) != 0)
        return rc;
    ks->role = (enum refbus_keystore_role)role;
    memcpy(ks->id, id, idlen + 1);
    memcpy(ks->root_pk, q, crypto_sign_PUBLICKEYBYTES);
    memcpy(ks->secrets, q + 32, 32);
    q += 68;
    rc = REFBUS_EKEYFORMAT;
    for (uint32_t i = 0; i < n; i++, q += REFBUS_KS_EPOCH_BYTES) {
        refbus_epoch_keys *e = &ks->epochs[i];
        e->epoch = refbus_get_u32be(q);
        rc = REFBUS_EKEYFORMAT;
        if (e->epoch == 0 || (i > 0 && e->epoch <= ks->epochs[i - 1].epoch))
            goto out;
        memcpy(e->sign_pk, q + 4, crypto_sign_PUBLICKEYBYTES);
        memcpy(e->sign_sk, q + 36, crypto_sign_SECRETKEYBYTES);
        memcpy(e->enc_pk, q + 100, crypto_box_PUBLICKEYBYTES);
        memcpy(e->enc_sk, q + 132, crypto_box_SECRETKEYBYTES);
        memcpy(e->curve_pk, q + 164, crypto_box_PUBLICKEYBYTES);
        memcpy(e->curve_sk, q + 196, crypto_box_SECRETKEYBYTES);
        if ((rc = epoch_consistent(e)) != 0)
            goto out;
    }
    rc = REFBUS_EKEYFORMAT;
    if (!crypto_core_ed25519_is_valid_point(ks->root_pk) ||
        (role == REFBUS_KEYSTORE_ROOT &&
         memcmp(ks->root_pk, ks->epochs[0].sign_pk, crypto_sign_PUBLICKEYBYTES) != 0))
        goto out;
    seal_ro(ks);
    *out = ks;
    ks = NULL;
    rc = 0;
out:
    refbus_keystore_free(&ks);
    return rc;
}

/* The secretbox key: BLAKE2b-256 keyed with the Argon2id output, over the 72 header bytes.
 * Argon2id alone would ignore some header bits (it counts memory in KiB), so binding the whole
 * header this way makes any change to it fail the MAC. */
static int box_key(uint8_t key[32], const char *pass, size_t pass_len, const uint8_t *header,
                   const refbus_kdf *kdf, const uint8_t *salt)
{
    uint8_t *stretched = sodium_malloc(32);
    int rc = -1;
    if (!stretched)
        return -1;
    if (crypto_pwhash(stretched, 32, pass, pass_len, salt, kdf->opslimit, (size_t)kdf->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) == 0)
        rc = crypto_generichash(key, 32, header, REFBUS_KS_HEADER_BYTES, stretched, 32);
    sodium_free(stretched);
    return rc;
}

int refbus_ks_parse_header(refbus_ks_header *h, const uint8_t *f, size_t len)
{
    if (!f || len < REFBUS_KS_HEADER_BYTES || len > REFBUS_KEYSTORE_MAX_BYTES)
        return REFBUS_EKEYFORMAT;
    if (memcmp(f, REFBUS_KS_MAGIC, 8) != 0 || f[8] != REFBUS_KS_VERSION ||
        f[9] != crypto_pwhash_ALG_ARGON2ID13 || f[10] != 0 || f[11] != 0)
        return REFBUS_EKEYFORMAT;
    memset(h, 0, sizeof *h);
    h->kdf.opslimit = refbus_get_u64be(f + 12);
    h->kdf.memlimit = refbus_get_u64be(f + 20);
    memcpy(h->salt, f + 28, 16);
    memcpy(h->nonce, f + 44, 24);
    h->box_len = refbus_get_u32be(f + 68);
    h->box = f + REFBUS_KS_HEADER_BYTES;
    if (!refbus_ks_kdf_ok(&h->kdf) || h->box_len != len - REFBUS_KS_HEADER_BYTES ||
        h->box_len <= crypto_secretbox_MACBYTES)
        return REFBUS_EKEYFORMAT;
    return 0;
}

int refbus_keystore_open_bytes(refbus_keystore **out, const uint8_t *file, size_t len,
                               const char *pass, size_t pass_len)
{
    refbus_ks_header h;
    uint8_t *key = NULL, *plain = NULL;
    size_t plain_len = 0;
    if (!out || !pass)
        return REFBUS_EINVAL;
    int rc = refbus_ks_parse_header(&h, file, len);
    if (rc != 0)
        return rc;
    plain_len = h.box_len - crypto_secretbox_MACBYTES;
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    plain = sodium_malloc(plain_len);
    rc = REFBUS_ENOMEM;
    if (!key || !plain)
        goto out;
    if (box_key(key, pass, pass_len, file, &h.kdf, h.salt) != 0)
        goto out; /* only fails for want of memory once the bounds are checked */
    if (crypto_secretbox_open_easy(plain, h.box, h.box_len, h.nonce, key) != 0) {
        rc = REFBUS_EPASSPHRASE;
        goto out;
    }
    rc = refbus_ks_parse_plain(out, plain, plain_len);
out:
    sodium_free(plain);
    sodium_free(key);
    return rc;
}

int refbus_keystore_open(refbus_keystore **out, const char *path, const char *pass, size_t pass_len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t done = 0;
    int rc = REFBUS_EIO;
    if (!path || !out || !pass)
        return REFBUS_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? REFBUS_ENOTFOUND : REFBUS_EIO;
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        rc = REFBUS_EKEYFORMAT;
        goto out;
    }
    if (st.st_mode & 077) {
        log_warn("%s: keystore is accessible by group or others (mode %04o); refusing it: "
                 "chmod 600 it, and consider the keys inside exposed",
                 path, (unsigned)(st.st_mode & 07777));
        rc = REFBUS_EPERM;
        goto out;
    }
    if ((uint64_t)st.st_size > REFBUS_KEYSTORE_MAX_BYTES) {
        rc = REFBUS_EKEYFORMAT;
        goto out;
    }
    if (!(buf = malloc((size_t)st.st_size + 1))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    while (done < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + done, (size_t)st.st_size - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        done += (size_t)r;
    }
    rc = refbus_keystore_open_bytes(out, buf, done, pass, pass_len);
out:
    free(buf);
    close(fd);
    return rc;
}

const char *refbus_keystore_id(const refbus_keystore *ks)
{
    return ks->id;
}

enum refbus_keystore_role refbus_keystore_role(const refbus_keystore *ks)
{
    return ks->role;
}

int refbus_keystore_is_broker(const refbus_keystore *ks)
{
    return ks->role == REFBUS_KEYSTORE_BROKER;
}

const uint8_t *refbus_keystore_root_pk(const refbus_keystore *ks)
{
    return ks->root_pk;
}

size_t refbus_keystore_epoch_count(const refbus_keystore *ks)
{
    return ks->n;
}

const refbus_epoch_keys *refbus_keystore_epoch(const refbus_keystore *ks, size_t i)
{
    return i < ks->n ? &ks->epochs[i] : NULL;
}

const refbus_epoch_keys *refbus_keystore_current(const refbus_keystore *ks)
{
    return ks->n ? &ks->epochs[ks->n - 1] : NULL;
}

const refbus_epoch_keys *refbus_keystore_find(const refbus_keystore *ks, uint32_t epoch)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->epochs[i].epoch == epoch)
            return &ks->epochs[i];
    return NULL;
}

const uint8_t *refbus_keystore_storage_key(const refbus_keystore *ks)
{
    return ks->secrets;
}

size_t refbus_keystore_enc_keys(const refbus_keystore *ks, refbus_enc_key *out, size_t max)
{
    size_t n = 0;
    for (size_t i = ks->n; i > 0 && n < max; i--, n++) { /* newest first */
        out[n].epoch = ks->epochs[i - 1].epoch;
        out[n].sk = ks->epochs[i - 1].enc_sk;
        out[n].pk = ks->epochs[i - 1].enc_pk;
    }
    return n;
}

static void fresh_epoch(refbus_epoch_keys *e, uint32_t epoch)
{
    e->epoch = epoch;
    crypto_sign_keypair(e->sign_pk, e->sign_sk);
    crypto_box_keypair(e->enc_pk, e->enc_sk);
    crypto_box_keypair(e->curve_pk, e->curve_sk);
}

int refbus_keystore_generate(refbus_keystore **out, enum refbus_keystore_role role, const char *id,
                             const uint8_t root_pk[crypto_sign_PUBLICKEYBYTES], uint32_t epoch)
{
    refbus_keystore *ks = NULL;
    if (!out || epoch == 0 || role < REFBUS_KEYSTORE_AGENCY || role > REFBUS_KEYSTORE_ROOT)
        return REFBUS_EINVAL;
    if (role == REFBUS_KEYSTORE_ROOT) {
        id = "root";
        epoch = 1;
    } else if (!refbus_agency_id_valid(id) || !root_pk) {
        return REFBUS_EINVAL;
    }
    int rc = alloc_ks(&ks, 1);
    if (rc != 0)
        return rc;
    ks->role = role;
    snprintf(ks->id, sizeof ks->id, "%s", id);
    randombytes_buf(ks->secrets, 32);
    fresh_epoch(&ks->epochs[0], epoch);
    memcpy(ks->root_pk, role == REFBUS_KEYSTORE_ROOT ? ks->epochs[0].sign_pk : root_pk,
           crypto_sign_PUBLICKEYBYTES);
    seal_ro(ks);
    *out = ks;
    return 0;
}

int refbus_keystore_rotate(refbus_keystore **out, const refbus_keystore *old, uint32_t epoch)
{
    refbus_keystore *ks = NULL;
    if (!out || !old || old->role == REFBUS_KEYSTORE_ROOT || old->n == 0 ||
        old->n >= REFBUS_KEYSTORE_MAX_EPOCHS || epoch <= old->epochs[old->n - 1].epoch)
        return REFBUS_EINVAL;
    int rc = alloc_ks(&ks, old->n + 1);
    if (rc != 0)
        return rc;
    ks->role = old->role;
    memcpy(ks->id, old->id, sizeof ks->id);
    memcpy(ks->root_pk, old->root_pk, crypto_sign_PUBLICKEYBYTES);
    memcpy(ks->secrets, old->secrets, old->secrets_len); /* storage key + every epoch */
    for (size_t i = 0; i < old->n; i++) {
        ks->epochs[i].epoch = old->epochs[i].epoch;
        memcpy(ks->epochs[i].sign_pk, old->epochs[i].sign_pk, crypto_sign_PUBLICKEYBYTES);
        memcpy(ks->epochs[i].enc_pk, old->epochs[i].enc_pk, crypto_box_PUBLICKEYBYTES);
        memcpy(ks->epochs[i].curve_pk, old->epochs[i].curve_pk, crypto_box_PUBLICKEYBYTES);
    }
    fresh_epoch(&ks->epochs[old->n], epoch);
    seal_ro(ks);
    *out = ks;
    return 0;
}

int refbus_keystore_save(const refbus_keystore *ks, const char *path, const char *pass,
                         size_t pass_len, const refbus_kdf *kdf, int exclusive)
{
    refbus_kdf k;
    uint8_t *plain = NULL, *key = NULL, *file = NULL;
    size_t idlen = strlen(ks->id);
    size_t plain_len = 2 + idlen + 68 + ks->n * REFBUS_KS_EPOCH_BYTES;
    size_t file_len = REFBUS_KS_HEADER_BYTES + crypto_secretbox_MACBYTES + plain_len;
    int rc = REFBUS_EINVAL;
    if (!path || !pass || pass_len == 0)
        return rc;
    if (kdf)
        k = *kdf;
    else if ((rc = refbus_kdf_named(&k, NULL)) != 0)
        return rc;
    if (!refbus_ks_kdf_ok(&k))
        return REFBUS_EINVAL;
    rc = REFBUS_ENOMEM;
    plain = sodium_malloc(plain_len);
    key = sodium_malloc(crypto_secretbox_KEYBYTES);
    file = malloc(file_len); /* ciphertext only: not secret */
    if (!plain || !key || !file)
        goto out;
    uint8_t *p = plain;
    *p++ = (uint8_t)ks->role;
    *p++ = (uint8_t)idlen;
    memcpy(p, ks->id, idlen);
    p += idlen;
    memcpy(p, ks->root_pk, crypto_sign_PUBLICKEYBYTES);
    memcpy(p + 32, ks->secrets, 32);
    refbus_put_u32be(p + 64, (uint32_t)ks->n);
    p += 68;
    for (size_t i = 0; i < ks->n; i++, p += REFBUS_KS_EPOCH_BYTES) {
        const refbus_epoch_keys *e = &ks->epochs[i];
        refbus_put_u32be(p, e->epoch);
        memcpy(p + 4, e->sign_pk, crypto_sign_PUBLICKEYBYTES);
        memcpy(p + 36, e->sign_sk, crypto_sign_SECRETKEYBYTES);
        memcpy(p + 100, e->enc_pk, crypto_box_PUBLICKEYBYTES);
        memcpy(p + 132, e->enc_sk, crypto_box_SECRETKEYBYTES);
        memcpy(p + 164, e->curve_pk, crypto_box_PUBLICKEYBYTES);
        memcpy(p + 196, e->curve_sk, crypto_box_SECRETKEYBYTES);
    }
    memcpy(file, REFBUS_KS_MAGIC, 8);
    file[8] = REFBUS_KS_VERSION;
    file[9] = crypto_pwhash_ALG_ARGON2ID13;
    file[10] = file[11] = 0;
    refbus_put_u64be(file + 12, k.opslimit);
    refbus_put_u64be(file + 20, k.memlimit);
    randombytes_buf(file + 28, 16 + 24); /* salt, nonce */
    refbus_put_u32be(file + 68, (uint32_t)(crypto_secretbox_MACBYTES + plain_len));
    if (box_key(key, pass, pass_len, file, &k, file + 28) != 0)
        goto out;
    crypto_secretbox_easy(file + REFBUS_KS_HEADER_BYTES, plain, plain_len, file + 44, key);
    rc = refbus_file_write_atomic(path, file, file_len, 0600, exclusive);
out:
    sodium_free(key);
    sodium_free(plain);
    free(file);
    return rc;
}
