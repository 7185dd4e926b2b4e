/* Helpers for the keys unit tests (see keys_testutil.h). */
#include "keys_testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/util.h"

/* "Foundation for Child Development, Chiang Mai" in Thai. */
const char kt_thai_name[] = "มูลนิธิเพื่อการพัฒนาเด็ก เชียงใหม่";

static void seeded_root(uint8_t pk[32], uint8_t sk[64], uint8_t b)
{
    uint8_t seed[32];
    memset(seed, b, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

void kt_root(uint8_t pk[32], uint8_t sk[64])
{
    seeded_root(pk, sk, 0x52);
}

void kt_other_root(uint8_t pk[32], uint8_t sk[64])
{
    seeded_root(pk, sk, 0x53);
}

void kt_dir_key(refbus_dir_key *k, uint8_t seed, uint32_t epoch, enum refbus_key_status st,
                const char *reason)
{
    uint8_t s[32], sk[64];
    memset(k, 0, sizeof *k);
    k->epoch = epoch;
    memset(s, seed, sizeof s);
    crypto_sign_seed_keypair(k->sign_pk, sk, s);
    memset(s, (uint8_t)(seed + 0x40), sizeof s);
    crypto_scalarmult_base(k->enc_pk, s);
    memset(s, (uint8_t)(seed + 0x80), sizeof s);
    crypto_scalarmult_base(k->curve_pk, s);
    k->status = st;
    k->created_ms = 1700000000000ull + seed;
    k->status_changed_ms = 1700000500000ull + seed;
    if (reason)
        snprintf(k->revoked_reason, sizeof k->revoked_reason, "%s", reason);
}

static void add_agency(refbus_dd_agency *a, const char *id, const char *name, uint32_t kind,
                       size_t n_keys)
{
    memset(a, 0, sizeof *a);
    snprintf(a->id, sizeof a->id, "%s", id);
    a->name = name ? strdup(name) : NULL;
    a->kind = kind;
    a->keys = calloc(n_keys, sizeof *a->keys);
    a->n_keys = n_keys;
}

void kt_sample(refbus_dd *d, uint64_t serial)
{
    uint8_t pk[32], sk[64];
    memset(d, 0, sizeof *d);
    kt_root(pk, sk);
    d->version = 1;
    d->serial = serial;
    d->issued_ms = 1700001000000ull + serial;
    d->has_root_pk = 1;
    memcpy(d->root_pk, pk, 32);
    d->n_agencies = 3;
    d->agencies = calloc(3, sizeof *d->agencies);
    add_agency(&d->agencies[0], "cac.cm", "Chiang Mai CAC", REFBUS_AGENCY_CAC, 2);
    kt_dir_key(&d->agencies[0].keys[0], 0x20, 1, REFBUS_KEY_RETIRED, NULL);
    kt_dir_key(&d->agencies[0].keys[1], 0x21, 2, REFBUS_KEY_ACTIVE, NULL);
    add_agency(&d->agencies[1], "ngo.hots", kt_thai_name, REFBUS_AGENCY_NGO, 1);
    kt_dir_key(&d->agencies[1].keys[0], 0x30, 1, REFBUS_KEY_ACTIVE, NULL);
    add_agency(&d->agencies[2], "police.cm", "Provincial Police", REFBUS_AGENCY_POLICE, 1);
    kt_dir_key(&d->agencies[2].keys[0], 0x40, 1, REFBUS_KEY_REVOKED, "laptop stolen");
    d->has_broker = 1;
    add_agency(&d->broker, "broker.cm", NULL, 0, 1);
    kt_dir_key(&d->broker.keys[0], 0x10, 1, REFBUS_KEY_ACTIVE, NULL);
    d->n_endpoints = 1;
    d->endpoints = calloc(1, sizeof *d->endpoints);
    d->endpoints[0] = strdup("tcp://127.0.0.1:7700");
    d->n_rules = 2;
    d->rules = calloc(2, sizeof *d->rules);
    strcpy(d->rules[0].from, "*");
    strcpy(d->rules[0].to, "*");
    d->rules[0].allow = 1;
    strcpy(d->rules[1].from, "ngo.hots");
    strcpy(d->rules[1].to, "police.cm");
    d->rules[1].allow = 0;
}

void kt_sign_bytes(uint8_t **out, size_t *len, const uint8_t *dir, size_t dir_len,
                   const uint8_t sk[64])
{
    uint8_t *msg = NULL, sig[64];
    size_t msg_len = 0;
    if (refbus_dd_sig_input(&msg, &msg_len, dir, dir_len) != 0)
        abort();
    crypto_sign_detached(sig, NULL, msg, msg_len, sk);
    free(msg);
    if (refbus_dd_join_signed(out, len, dir, dir_len, sig) != 0)
        abort();
}

void kt_sign_dd(uint8_t **out, size_t *len, const refbus_dd *d, const uint8_t sk[64])
{
    uint8_t *dir = NULL;
    size_t dir_len = 0;
    if (refbus_dd_encode(d, &dir, &dir_len) != 0)
        abort();
    kt_sign_bytes(out, len, dir, dir_len, sk);
    free(dir);
}

char *kt_tmpdir(void)
{
    const char *t = getenv("TMPDIR");
    char *p = NULL;
    if (asprintf(&p, "%s/refbus-keys-test-XXXXXX", t && *t ? t : "/tmp") < 0 || !mkdtemp(p))
        abort();
    return p;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void kt_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

uint8_t *kt_slurp(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    if (refbus_file_read(&buf, len, path, 64u << 20) != 0)
        return NULL;
    return buf;
}
