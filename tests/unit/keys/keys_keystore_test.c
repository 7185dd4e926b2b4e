/* Keystores at rest: round trip, mode 0600, no clobbering, refusal when others can read it,
 * wrong passphrase, a byte flipped anywhere, truncation, cost bounds, inconsistent contents;
 * rotation keeps every older secret so that, after two rotations, the newest bundle opens
 * envelopes sealed to epochs 1, 2 and 3; a golden file pins the format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "keys/keystore.h"
#include "keys/keystore_int.h"
#include "keys_testutil.h"
#include "proto/envelope.h"

/* The golden keystore of test_golden_file (392 bytes). */
#define KT_KS_VECTOR                                                   \
    "5245464255534b530102000000000000000000010000000000002000682720ca" \
    "e7f5f95a1e1dbca82660ae9f8f9cfa34c8224ae22207695d9ada93d97d359b57" \
    "c39d5d0b00000140dfc4b489cc23929f6284afa2f61f57d525a56427004a995d" \
    "58a65278dee1cb5bff110de7fc084dfde67809008159cdeb0198f6eefe793e59" \
    "03d49a41526269f4382d63bcaa22d99921d0f38f0b74019757cb6943371c1a78" \
    "62bc6931b58047568381a2f432216102902d6e20f6de3612bec5f164c4e2f886" \
    "c1da646a3940c1b1c964686726cc63bcb5e9e138cee8b0df3a8d365888941b4e" \
    "e2c15a51995e8fc7fb47f09e71ff8acafc3b9cede102c0511cfe75e223cddf4d" \
    "c47fac02c2173a9bd2de247d2a56947b4228d6ba0f718c2eff9acec8f2a00dcf" \
    "6dd54cb281bbdc464b72daca001f15c07ce9a6cb430190bc38e56249c828da3a" \
    "01968616f7ec3a871048eff05f4f418205a589d8e6fd0d2668a81580da427e1f" \
    "576e9bf7ca9aa7b3cfaf3d83dd2615fea4c8557617cc0256d6abbf87508be042" \
    "0fc8c0e103d07eee"
#define KT_KS_SIGN_PK "5745b80d806c3e83246267cc54f5ba0ee4ed0fecdca3f9423d839baa60e99f08"
#define KT_KS_ROOT_PK "2012cb90ca60e8e5d8daf66e2272d2233e0486d557e8c66141ed8920177d7eb7"

static const char PASS[] = "correct horse battery staple";
static refbus_kdf MIN;
static uint8_t root_pk[32], root_sk[64];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    MIN.opslimit = crypto_pwhash_OPSLIMIT_MIN;
    MIN.memlimit = crypto_pwhash_MEMLIMIT_MIN;
    kt_root(root_pk, root_sk);
    return 0;
}

static char *path_in(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    return p;
}

static refbus_keystore *agency_ks(const char *id)
{
    refbus_keystore *ks = NULL;
    assert_int_equal(refbus_keystore_generate(&ks, REFBUS_KEYSTORE_AGENCY, id, root_pk, 1), 0);
    return ks;
}

static void assert_same(const refbus_keystore *a, const refbus_keystore *b)
{
    assert_string_equal(refbus_keystore_id(a), refbus_keystore_id(b));
    assert_int_equal(refbus_keystore_role(a), refbus_keystore_role(b));
    assert_memory_equal(refbus_keystore_root_pk(a), refbus_keystore_root_pk(b), 32);
    assert_int_equal(sodium_memcmp(refbus_keystore_storage_key(a), refbus_keystore_storage_key(b),
                                   32),
                     0);
    assert_int_equal(refbus_keystore_epoch_count(a), refbus_keystore_epoch_count(b));
    for (size_t i = 0; i < refbus_keystore_epoch_count(a); i++) {
        const refbus_epoch_keys *x = refbus_keystore_epoch(a, i), *y = refbus_keystore_epoch(b, i);
        assert_int_equal(x->epoch, y->epoch);
        assert_memory_equal(x->sign_pk, y->sign_pk, 32);
        assert_memory_equal(x->enc_pk, y->enc_pk, 32);
        assert_memory_equal(x->curve_pk, y->curve_pk, 32);
        assert_int_equal(sodium_memcmp(x->sign_sk, y->sign_sk, 64), 0);
        assert_int_equal(sodium_memcmp(x->enc_sk, y->enc_sk, 32), 0);
        assert_int_equal(sodium_memcmp(x->curve_sk, y->curve_sk, 32), 0);
    }
}

static void test_round_trip_and_mode(void **state)
{
    (void)state;
    char *dir = kt_tmpdir(), *p = path_in(dir, "cac.bundle");
    refbus_keystore *ks = agency_ks("cac.cm"), *back = NULL;
    struct stat st;
    assert_int_equal(refbus_keystore_save(ks, p, PASS, strlen(PASS), &MIN, 1), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(refbus_keystore_open(&back, p, PASS, strlen(PASS)), 0);
    assert_same(ks, back);
    assert_false(refbus_keystore_is_broker(back));
    const refbus_epoch_keys *e = refbus_keystore_current(back);
    assert_int_equal(e->epoch, 1);
    assert_ptr_equal(refbus_keystore_find(back, 1), e);
    assert_null(refbus_keystore_find(back, 2));
    assert_null(refbus_keystore_epoch(back, 1));
    /* The CURVE pair is a Curve25519 pair, as zmq_curve_keypair() would make. */
    uint8_t pk[32];
    assert_int_equal(crypto_scalarmult_base(pk, e->curve_sk), 0);
    assert_memory_equal(pk, e->curve_pk, 32);
    refbus_keystore_free(&back);
    assert_null(back);
    refbus_keystore_free(&back);
    refbus_keystore_free(NULL);
    /* Saving over an existing file: exclusive refuses and leaves it alone; otherwise atomic
     * replacement, still 0600. */
    size_t n1 = 0, n2 = 0;
    uint8_t *before = kt_slurp(p, &n1);
    refbus_keystore *other = agency_ks("cac.cm");
    assert_int_equal(refbus_keystore_save(other, p, PASS, strlen(PASS), &MIN, 1), REFBUS_EEXIST);
    uint8_t *after = kt_slurp(p, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    chmod(p, 0644);
    assert_int_equal(refbus_keystore_save(other, p, PASS, strlen(PASS), &MIN, 0), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(refbus_keystore_open(&back, p, PASS, strlen(PASS)), 0);
    assert_same(other, back);
    refbus_keystore_free(&back);
    refbus_keystore_free(&other);
    free(before);
    free(after);
    refbus_keystore_free(&ks);
    kt_rmrf(dir);
    free(p);
    free(dir);
}

static void test_refusals(void **state)
{
    (void)state;
    char *dir = kt_tmpdir(), *p = path_in(dir, "b");
    refbus_keystore *ks = agency_ks("ngo.hots"), *back = NULL;
    assert_int_equal(refbus_keystore_save(ks, p, PASS, strlen(PASS), &MIN, 1), 0);
    /* Wrong passphrase: a clear code, nothing else. */
    assert_int_equal(refbus_keystore_open(&back, p, "wrong", 5), REFBUS_EPASSPHRASE);
    assert_int_equal(refbus_keystore_open(&back, p, PASS, strlen(PASS) - 1), REFBUS_EPASSPHRASE);
    assert_int_equal(refbus_keystore_open(&back, p, "", 0), REFBUS_EPASSPHRASE);
    assert_null(back);
    /* Readable or writable by group or others: refused, whatever the passphrase. */
    static const mode_t open_modes[] = {0640, 0604, 0620, 0602, 0660, 0644};
    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        chmod(p, open_modes[i]);
        assert_int_equal(refbus_keystore_open(&back, p, PASS, strlen(PASS)), REFBUS_EPERM);
    }
    chmod(p, 0400);
    assert_int_equal(refbus_keystore_open(&back, p, PASS, strlen(PASS)), 0);
    refbus_keystore_free(&back);
    assert_int_equal(refbus_keystore_open(&back, dir, PASS, strlen(PASS)), REFBUS_EKEYFORMAT);
    char *missing = path_in(dir, "missing");
    assert_int_equal(refbus_keystore_open(&back, missing, PASS, strlen(PASS)), REFBUS_ENOTFOUND);
    /* Saving needs a passphrase and a sane cost. */
    refbus_kdf silly = {0, 0};
    assert_int_equal(refbus_keystore_save(ks, missing, "", 0, &MIN, 1), REFBUS_EINVAL);
    assert_int_equal(refbus_keystore_save(ks, missing, PASS, strlen(PASS), &silly, 1),
                     REFBUS_EINVAL);
    assert_int_equal(access(missing, F_OK), -1);
    free(missing);
    refbus_keystore_free(&ks);
    kt_rmrf(dir);
    free(p);
    free(dir);
}

static void test_every_byte_flipped(void **state)
{
    (void)state;
    char *dir = kt_tmpdir(), *p = path_in(dir, "b");
    refbus_keystore *ks = agency_ks("police.cm"), *back = NULL;
    size_t n = 0;
    assert_int_equal(refbus_keystore_save(ks, p, PASS, strlen(PASS), &MIN, 1), 0);
    uint8_t *f = kt_slurp(p, &n);
    assert_int_equal(n, REFBUS_KS_HEADER_BYTES + 16 + 2 + 9 + 68 + REFBUS_KS_EPOCH_BYTES);
    static const uint8_t masks[] = {0x01, 0x80};
    for (size_t i = 0; i < n; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            f[i] ^= masks[m];
            int rc = refbus_keystore_open_bytes(&back, f, n, PASS, strlen(PASS));
            if (rc == 0)
                fail_msg("byte %zu ^ 0x%02x accepted", i, masks[m]);
            assert_true(rc == REFBUS_EPASSPHRASE || rc == REFBUS_EKEYFORMAT);
            f[i] ^= masks[m];
        }
    for (size_t len = 0; len < n; len++)
        assert_int_equal(refbus_keystore_open_bytes(&back, f, len, PASS, strlen(PASS)),
                         REFBUS_EKEYFORMAT);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, f, n);
    longer[n] = 0;
    assert_int_equal(refbus_keystore_open_bytes(&back, longer, n + 1, PASS, strlen(PASS)),
                     REFBUS_EKEYFORMAT);
    assert_int_equal(refbus_keystore_open_bytes(&back, f, n, PASS, strlen(PASS)), 0);
    refbus_keystore_free(&back);
    free(longer);
    free(f);
    refbus_keystore_free(&ks);
    kt_rmrf(dir);
    free(p);
    free(dir);
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void test_cost(void **state)
{
    (void)state;
    refbus_kdf k;
    unsetenv("REFBUS_KDF_LIMIT");
    assert_int_equal(refbus_kdf_named(&k, NULL), 0);
    assert_int_equal(k.opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE); /* the default */
    assert_int_equal(k.memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
    assert_int_equal(refbus_kdf_named(&k, "sensitive"), 0);
    assert_int_equal(k.memlimit, crypto_pwhash_MEMLIMIT_SENSITIVE);
    assert_int_equal(refbus_kdf_named(&k, "moderate"), 0);
    assert_int_equal(k.opslimit, crypto_pwhash_OPSLIMIT_MODERATE);
    assert_int_equal(refbus_kdf_named(&k, "fast"), REFBUS_EINVAL);
    setenv("REFBUS_KDF_LIMIT", "min", 1);
    assert_int_equal(refbus_kdf_named(&k, NULL), 0);
    assert_int_equal(k.memlimit, crypto_pwhash_MEMLIMIT_MIN);
    setenv("REFBUS_KDF_LIMIT", "bogus", 1);
    assert_int_equal(refbus_kdf_named(&k, NULL), REFBUS_EINVAL);
    unsetenv("REFBUS_KDF_LIMIT");

    /* The cost is stored in the file: saved at "min", it opens whatever the default. */
    char *dir = kt_tmpdir(), *p = path_in(dir, "b");
    refbus_keystore *ks = agency_ks("court.cm"), *back = NULL;
    size_t n = 0;
    refbus_kdf two = {2, 16384};
    assert_int_equal(refbus_keystore_save(ks, p, PASS, strlen(PASS), &two, 1), 0);
    uint8_t *f = kt_slurp(p, &n);
    refbus_ks_header h;
    assert_int_equal(refbus_ks_parse_header(&h, f, n), 0);
    assert_int_equal(h.kdf.opslimit, 2);
    assert_int_equal(h.kdf.memlimit, 16384);
    assert_int_equal(refbus_keystore_open_bytes(&back, f, n, PASS, strlen(PASS)), 0);
    refbus_keystore_free(&back);
    /* Costs out of bounds are refused before any work is done (a hostile file cannot make us
     * allocate terabytes). */
    static const uint64_t bad[][2] = {{0, 16384},
                                      {17, 16384},
                                      {2, 4096},
                                      {2, (1ull << 30) + 1},
                                      {UINT64_MAX, 16384}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        put_u64(f + 12, bad[i][0]);
        put_u64(f + 20, bad[i][1]);
        assert_int_equal(refbus_keystore_open_bytes(&back, f, n, PASS, strlen(PASS)),
                         REFBUS_EKEYFORMAT);
    }
    free(f);
    refbus_keystore_free(&ks);
    kt_rmrf(dir);
    free(p);
    free(dir);
}

/* Seal `msg` from a test sender to `id` at `epoch` with public key enc_pk. */
static uint8_t *seal_to(const char *id, uint32_t epoch, const uint8_t enc_pk[32], const char *msg,
                        const uint8_t sender_sk[64], size_t *len)
{
    refbus_recipient r = {id, epoch, enc_pk};
    refbus_seal_params sp = {.sender = "cac.cm",
                             .sender_epoch = 1,
                             .sign_sk = sender_sk,
                             .recipients = &r,
                             .n_recipients = 1,
                             .kind = REFBUS_KIND_REFERRAL,
                             .priority = REFBUS_PRIORITY_ROUTINE,
                             .created_ms = 1700000000000ull,
                             .expires_ms = 1900000000000ull};
    uint8_t *env = NULL;
    assert_int_equal(refbus_envelope_seal(&env, len, &sp, msg, strlen(msg)), 0);
    return env;
}

static int open_with(const refbus_keystore *ks, const uint8_t *env, size_t len,
                     const uint8_t sender_pk[32], const char *expect)
{
    refbus_enc_key keys[8];
    size_t n = refbus_keystore_enc_keys(ks, keys, 8);
    uint8_t *pl = NULL;
    size_t pl_len = 0;
    int rc = refbus_envelope_open(&pl, &pl_len, NULL, env, len, sender_pk, refbus_keystore_id(ks),
                                  keys, n, 0);
    if (rc == 0) {
        assert_int_equal(pl_len, strlen(expect));
        assert_memory_equal(pl, expect, pl_len);
    }
    refbus_envelope_payload_free(&pl, pl_len);
    return rc;
}

static void test_rotation_keeps_old_epochs(void **state)
{
    (void)state;
    char *dir = kt_tmpdir(), *p1 = path_in(dir, "e1"), *p3 = path_in(dir, "e3");
    refbus_keystore *e1 = agency_ks("welfare.cm"), *e2 = NULL, *e3 = NULL, *back = NULL;
    uint8_t spk[32], ssk[64];
    crypto_sign_keypair(spk, ssk);
    assert_int_equal(refbus_keystore_rotate(&e2, e1, 1), REFBUS_EINVAL); /* not newer */
    assert_int_equal(refbus_keystore_rotate(&e2, e1, 2), 0);
    assert_int_equal(refbus_keystore_rotate(&e3, e2, 3), 0);
    assert_int_equal(refbus_keystore_save(e1, p1, PASS, strlen(PASS), &MIN, 1), 0);
    assert_int_equal(refbus_keystore_save(e3, p3, PASS, strlen(PASS), &MIN, 1), 0);
    assert_int_equal(refbus_keystore_open(&back, p3, PASS, strlen(PASS)), 0);
    assert_same(e3, back);
    assert_int_equal(refbus_keystore_epoch_count(back), 3);
    assert_int_equal(refbus_keystore_current(back)->epoch, 3);
    /* Same storage key and the very same older secrets. */
    assert_int_equal(sodium_memcmp(refbus_keystore_storage_key(e1),
                                   refbus_keystore_storage_key(back), 32),
                     0);
    const refbus_epoch_keys *o = refbus_keystore_epoch(e1, 0), *b1 = refbus_keystore_epoch(back, 0);
    assert_int_equal(sodium_memcmp(o->enc_sk, b1->enc_sk, 32), 0);
    assert_int_equal(sodium_memcmp(o->sign_sk, b1->sign_sk, 64), 0);
    assert_memory_not_equal(refbus_keystore_epoch(back, 1)->enc_pk, o->enc_pk, 32);

    /* Envelopes sealed to each epoch while the rotations propagated: all open. */
    const char *msgs[] = {"to epoch 1", "to epoch 2", "to epoch 3"};
    uint8_t *env[3];
    size_t len[3];
    for (int i = 0; i < 3; i++)
        env[i] = seal_to("welfare.cm", (uint32_t)i + 1,
                         refbus_keystore_epoch(back, (size_t)i)->enc_pk, msgs[i], ssk, &len[i]);
    for (int i = 0; i < 3; i++)
        assert_int_equal(open_with(back, env[i], len[i], spk, msgs[i]), 0);
    /* The epoch-1 bundle cannot open what was sealed to later epochs. */
    refbus_keystore *old = NULL;
    assert_int_equal(refbus_keystore_open(&old, p1, PASS, strlen(PASS)), 0);
    assert_int_equal(open_with(old, env[0], len[0], spk, msgs[0]), 0);
    assert_int_equal(open_with(old, env[1], len[1], spk, msgs[1]), REFBUS_ENOEPOCHKEY);
    assert_int_equal(open_with(old, env[2], len[2], spk, msgs[2]), REFBUS_ENOEPOCHKEY);
    refbus_keystore_free(&old);
    for (int i = 0; i < 3; i++)
        free(env[i]);
    refbus_keystore_free(&back);
    refbus_keystore_free(&e3);
    refbus_keystore_free(&e2);
    refbus_keystore_free(&e1);
    kt_rmrf(dir);
    free(p1);
    free(p3);
    free(dir);
}

static void test_roles(void **state)
{
    (void)state;
    refbus_keystore *ks = NULL, *r2 = NULL;
    assert_int_equal(refbus_keystore_generate(&ks, REFBUS_KEYSTORE_ROOT, NULL, NULL, 1), 0);
    assert_string_equal(refbus_keystore_id(ks), "root");
    assert_memory_equal(refbus_keystore_root_pk(ks), refbus_keystore_current(ks)->sign_pk, 32);
    assert_int_equal(refbus_keystore_rotate(&r2, ks, 2), REFBUS_EINVAL); /* the root does not */
    refbus_keystore_free(&ks);
    assert_int_equal(refbus_keystore_generate(&ks, REFBUS_KEYSTORE_BROKER, "broker.cm", root_pk, 1),
                     0);
    assert_true(refbus_keystore_is_broker(ks));
    refbus_keystore_free(&ks);
    assert_int_equal(refbus_keystore_generate(&ks, REFBUS_KEYSTORE_AGENCY, "Bad Id", root_pk, 1),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_keystore_generate(&ks, REFBUS_KEYSTORE_AGENCY, "a", root_pk, 0),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_keystore_generate(&ks, (enum refbus_keystore_role)4, "a", root_pk, 1),
                     REFBUS_EINVAL);
    assert_null(ks);
}

/* The decrypted layout, written here by hand from docs/KEYS-FORMAT.md section 1. */
static size_t plain_make(uint8_t *p, uint8_t role, const char *id, uint32_t n_epochs,
                         const uint8_t *rpk)
{
    size_t o = 0, idlen = strlen(id);
    p[o++] = role;
    p[o++] = (uint8_t)idlen;
    memcpy(p + o, id, idlen), o += idlen;
    memcpy(p + o, rpk, 32), o += 32;
    memset(p + o, 0x5a, 32), o += 32; /* storage key */
    p[o] = 0, p[o + 1] = 0, p[o + 2] = 0, p[o + 3] = (uint8_t)n_epochs, o += 4;
    for (uint32_t e = 1; e <= n_epochs; e++) {
        uint8_t seed[32];
        p[o] = 0, p[o + 1] = 0, p[o + 2] = 0, p[o + 3] = (uint8_t)e;
        memset(seed, (int)(0x60 + e), 32);
        crypto_sign_seed_keypair(p + o + 4, p + o + 36, seed);
        memset(p + o + 132, (int)(0x70 + e), 32);
        crypto_scalarmult_base(p + o + 100, p + o + 132);
        memset(p + o + 196, (int)(0x80 + e), 32);
        crypto_scalarmult_base(p + o + 164, p + o + 196);
        o += REFBUS_KS_EPOCH_BYTES;
    }
    return o;
}

static void test_plain_layer(void **state)
{
    (void)state;
    uint8_t p[2048];
    refbus_keystore *ks = NULL;
    size_t n = plain_make(p, 1, "ngo.hots", 2, root_pk);
    assert_int_equal(refbus_ks_parse_plain(&ks, p, n), 0);
    assert_string_equal(refbus_keystore_id(ks), "ngo.hots");
    assert_int_equal(refbus_keystore_epoch_count(ks), 2);
    assert_int_equal(refbus_keystore_storage_key(ks)[0], 0x5a);
    refbus_keystore_free(&ks);
#define BAD(stmt)                                                  \
    do {                                                           \
        n = plain_make(p, 1, "ngo.hots", 2, root_pk);              \
        stmt;                                                      \
        if (refbus_ks_parse_plain(&ks, p, n) != REFBUS_EKEYFORMAT) \
            fail_msg("accepted: %s", #stmt);                       \
    } while (0)
    size_t e1 = 2 + 8 + 68, e2 = e1 + REFBUS_KS_EPOCH_BYTES;
    BAD(p[0] = 0); /* role */
    BAD(p[0] = 4);
    BAD(p[1] = 0);   /* id length */
    BAD(p[2] = 'N'); /* id characters */
    BAD(p[2] = 0);
    BAD(p[e1 - 1] = 3); /* epoch count disagrees with the length */
    BAD(p[e1 - 1] = 0);
    BAD(n -= 1);
    BAD(p[n++] = 0);
    BAD(p[e1 + 3] = 0);         /* epoch 0 */
    BAD(p[e2 + 3] = 1);         /* not ascending */
    BAD(p[e1 + 4] ^= 1);        /* sign_pk not the secret's */
    BAD(p[e1 + 36] ^= 1);       /* sign seed */
    BAD(p[e1 + 99] ^= 1);       /* the public half inside the secret key */
    BAD(p[e2 + 100] ^= 1);      /* enc_pk */
    BAD(p[e2 + 132] ^= 0x40);   /* enc_sk */
    BAD(p[e1 + 164] ^= 1);      /* curve_pk */
    BAD(p[e1 + 196] ^= 0x40);   /* curve_sk */
    BAD(memset(p + 10, 0, 32)); /* root_pk not a point */
    /* The root's store: id "root", one epoch, root_pk its own signing key. */
    n = plain_make(p, 3, "root", 1, root_pk);
    assert_int_equal(refbus_ks_parse_plain(&ks, p, n), REFBUS_EKEYFORMAT);
    memcpy(p + 2 + 4, p + 2 + 4 + 68 + 4, 32);
    assert_int_equal(refbus_ks_parse_plain(&ks, p, n), 0);
    refbus_keystore_free(&ks);
    n = plain_make(p, 3, "rooty", 1, root_pk);
    assert_int_equal(refbus_ks_parse_plain(&ks, p, n), REFBUS_EKEYFORMAT);
#undef BAD
}

/* A keystore written by this format's first version (agency "cac.cm", one epoch, passphrase
 * "refbus keystore vector", cost min). Its layout was checked independently against
 * docs/KEYS-FORMAT.md section 1 with Python (header fields; libsodium via ctypes for the
 * crypto, then the plaintext fields by hand). A reader must open it forever. */
static const char VECTOR_HEX[] = KT_KS_VECTOR;

static void test_golden_file(void **state)
{
    (void)state;
    size_t n = sizeof VECTOR_HEX / 2;
    uint8_t *f = malloc(n);
    refbus_keystore *ks = NULL;
    char hex[65];
    assert_int_equal(refbus_unhex(f, n, VECTOR_HEX), 0);
    assert_int_equal(refbus_keystore_open_bytes(&ks, f, n, "refbus keystore vector", 22), 0);
    assert_string_equal(refbus_keystore_id(ks), "cac.cm");
    assert_int_equal(refbus_keystore_role(ks), REFBUS_KEYSTORE_AGENCY);
    assert_int_equal(refbus_keystore_current(ks)->epoch, 1);
    refbus_hex(hex, refbus_keystore_current(ks)->sign_pk, 32);
    assert_string_equal(hex, KT_KS_SIGN_PK);
    refbus_hex(hex, refbus_keystore_root_pk(ks), 32);
    assert_string_equal(hex, KT_KS_ROOT_PK);
    refbus_keystore_free(&ks);
    assert_int_equal(refbus_keystore_open_bytes(&ks, f, n, "refbus keystore vectoR", 22),
                     REFBUS_EPASSPHRASE);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_mode),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_cost),
        cmocka_unit_test(test_rotation_keeps_old_epochs),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_plain_layer),
        cmocka_unit_test(test_golden_file),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
