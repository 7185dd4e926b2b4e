/* Encrypted LMDB tables. A sealed value is 0x01 || nonce (24) || XChaCha20-Poly1305 ciphertext
 * (tag appended), with associated data binding it to its table and key: a record copied to
 * another slot does not open. Values are written in place with MDB_RESERVE (no extra copy). */
#include "nodes/store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sodium.h>

#include "common/datadir.h"
#include "common/log.h"
#include "common/util.h"

#define SEAL_VERSION 1u
#define SEAL_OVERHEAD \
    (1u + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define AD_PREFIX "refbus-node/v1"
#define KDF_CONTEXT "rbnodest" /* crypto_kdf context: exactly 8 characters */
#define KEY_INDEX REFBUS_T_COUNT
#define KEY_CHECK (REFBUS_T_COUNT + 1)
#define N_KEYS (REFBUS_T_COUNT + 2)
#define CHECK_NAME "storage-key-check"
#define CHECK_TEXT "refbus-node storage key check v1"

static const char *const table_names[REFBUS_T_COUNT] = {"meta",  "outbox",    "outbox_ids", "sent",
                                                        "inbox", "inbox_idx", "threads"};
static const int sealed_tables[REFBUS_T_COUNT] = {0, 1, 0, 1, 1, 0, 1};

struct refbus_nstore {
    MDB_env *env;
    int fatal; /* the first fatal LMDB code seen (MDB_PANIC, ...): the env is unusable */
    MDB_dbi dbi[REFBUS_T_COUNT];
    uint8_t *keys;             /* N_KEYS x 32, sodium_malloc'd, read-only */
    uint64_t n_synced, n_lazy; /* write commits since open (refbus_nstore_commit_counts) */
    int unsynced;              /* a lazy commit not flushed yet */
};

/* The one mapping (refbus_lmdb_err); a fatal error is remembered so that the daemon stops. */
static int lmdb_err(refbus_nstore *s, int e, const char *what)
{
    int rc = refbus_lmdb_err(e, what);
    if (rc == REFBUS_ESTORAGE && s && !s->fatal)
        s->fatal = e;
    return rc;
}

static const uint8_t *key_of(const refbus_nstore *s, unsigned i)
{
    return s->keys + 32u * i;
}

/* AD = prefix || table || key. LMDB keys are at most 511 bytes. */
static size_t make_ad(uint8_t *ad, unsigned table, const void *key, size_t klen)
{
    size_t pl = sizeof AD_PREFIX - 1;
    memcpy(ad, AD_PREFIX, pl);
    ad[pl] = (uint8_t)table;
    memcpy(ad + pl + 1, key, klen);
    return pl + 1 + klen;
}

static void seal_into(const refbus_nstore *s, uint8_t *out, unsigned ki, unsigned table,
                      const void *key, size_t klen, const void *val, size_t len)
{
    uint8_t ad[sizeof AD_PREFIX + 512];
    size_t adlen = make_ad(ad, table, key, klen);
    out[0] = SEAL_VERSION;
    randombytes_buf(out + 1, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 1 +
                                                   crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                               NULL, val, len, ad, adlen, NULL, out + 1,
                                               key_of(s, ki));
}

static int open_from(const refbus_nstore *s, uint8_t **out, size_t *out_len, unsigned ki,
                     unsigned table, const void *key, size_t klen, const uint8_t *in, size_t len)
{
    uint8_t ad[sizeof AD_PREFIX + 512];
    uint8_t *p;
    if (len < SEAL_OVERHEAD || in[0] != SEAL_VERSION || klen > 511)
        return REFBUS_ECORRUPT;
    size_t plen = len - SEAL_OVERHEAD;
    if (!(p = malloc(plen ? plen : 1)))
        return REFBUS_ENOMEM;
    size_t adlen = make_ad(ad, table, key, klen);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            p, NULL, NULL, in + 1 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            len - 1 - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad, adlen, in + 1,
            key_of(s, ki)) != 0) {
        free(p);
        return REFBUS_ECORRUPT;
    }
    *out = p;
    *out_len = plen;
    return 0;
}

void refbus_nstore_free_value(uint8_t **val, size_t len)
{
    if (val && *val) {
        sodium_memzero(*val, len);
        free(*val);
        *val = NULL;
    }
}

static int check_key(refbus_nstore *s, MDB_txn *txn)
{
    MDB_val k = {sizeof CHECK_NAME - 1, (void *)CHECK_NAME}, v;
    uint8_t *plain = NULL;
    size_t plen = 0;
    int e = mdb_get(txn, s->dbi[REFBUS_T_META], &k, &v);
    if (e == MDB_NOTFOUND) {
        v.mv_size = SEAL_OVERHEAD + sizeof CHECK_TEXT - 1;
        if ((e = mdb_put(txn, s->dbi[REFBUS_T_META], &k, &v, MDB_RESERVE)))
            return lmdb_err(s, e, "write key check");
        seal_into(s, v.mv_data, KEY_CHECK, REFBUS_T_META, k.mv_data, k.mv_size, CHECK_TEXT,
                  sizeof CHECK_TEXT - 1);
        return 0;
    }
    if (e)
        return lmdb_err(s, e, "read key check");
    int rc = open_from(s, &plain, &plen, KEY_CHECK, REFBUS_T_META, k.mv_data, k.mv_size, v.mv_data,
                       v.mv_size);
    if (rc == 0 && (plen != sizeof CHECK_TEXT - 1 || memcmp(plain, CHECK_TEXT, plen) != 0))
        rc = REFBUS_ECORRUPT;
    refbus_nstore_free_value(&plain, plen);
    if (rc == REFBUS_ECORRUPT)
        log_error("store: this store was encrypted under another storage key (another "
                  "agency's keystore?); refusing to use it");
    return rc;
}

int refbus_nstore_open(refbus_nstore **out, const char *dir, const uint8_t storage_key[32],
                       size_t map_bytes, int create)
{
    int rc, e;
    refbus_nstore *s = NULL;
    MDB_txn *txn = NULL;
    char file[4200], why[256];
    if (!out || !dir || !storage_key || map_bytes < 1024 * 1024)
        return REFBUS_EINVAL;
    if (create && (rc = refbus_mkdirs(dir, 0700)))
        return rc;
    snprintf(file, sizeof file, "%s/data.mdb", dir);
    rc = refbus_lmdb_file_check(file, why, sizeof why, NULL);
    if (rc == REFBUS_ENOTFOUND && !create) {
        log_error("store: %s does not exist: is data_dir right? A new store is created only by "
                  "'refbus-node init'",
                  file);
        return rc;
    }
    if (rc != 0 && rc != REFBUS_ENOTFOUND) {
        log_error("store: %s is damaged: %s; refusing to use it (restore it from a backup)", file,
                  rc == REFBUS_ECORRUPT ? why : refbus_strerror(rc));
        return rc;
    }
    if (!(s = calloc(1, sizeof *s)) || !(s->keys = sodium_malloc(32u * N_KEYS))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < N_KEYS; i++)
        crypto_kdf_derive_from_key(s->keys + 32u * i, 32, i + 1, KDF_CONTEXT, storage_key);
    sodium_mprotect_readonly(s->keys);
    rc = REFBUS_ELMDB;
    if ((e = mdb_env_create(&s->env)) || (e = mdb_env_set_maxdbs(s->env, REFBUS_T_COUNT)) ||
        (e = mdb_env_set_mapsize(s->env, map_bytes)) || (e = mdb_env_open(s->env, dir, 0, 0600)) ||
        (e = mdb_env_set_userctx(s->env, s))) { /* commit() finds its counters here */
        rc = lmdb_err(s, e, file);
        goto out;
    }
    if ((e = mdb_txn_begin(s->env, NULL, 0, &txn))) {
        rc = lmdb_err(s, e, "begin");
        goto out;
    }
    for (int t = 0; t < REFBUS_T_COUNT; t++)
        if ((e = mdb_dbi_open(txn, table_names[t], create ? MDB_CREATE : 0, &s->dbi[t]))) {
            if (e == MDB_NOTFOUND)
                log_error("store: %s is not a refbus-node store (no table %s)", file,
                          table_names[t]);
            rc = lmdb_err(s, e, table_names[t]);
            goto out;
        }
    if ((rc = check_key(s, txn)))
        goto out;
    if ((e = mdb_txn_commit(txn))) {
        txn = NULL;
        rc = lmdb_err(s, e, "commit");
        goto out;
    }
    txn = NULL;
    *out = s;
    s = NULL;
    rc = 0;
out:
    if (txn)
        mdb_txn_abort(txn);
    refbus_nstore_close(&s);
    return rc;
}

int refbus_nstore_fatal(refbus_nstore *s)
{
    MDB_txn *t = NULL;
    if (!s || !s->env)
        return 0;
    if (!s->fatal) {
        /* LMDB marks the environment after a failed commit: every later begin says MDB_PANIC. */
        int e = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t);
        if (e == 0)
            mdb_txn_abort(t);
        else
            (void)lmdb_err(s, e, "begin");
    }
    return s->fatal ? REFBUS_ESTORAGE : 0;
}

void refbus_nstore_close(refbus_nstore **sp)
{
    if (!sp || !*sp)
        return;
    refbus_nstore *s = *sp;
    if (s->env)
        mdb_env_close(s->env);
    sodium_free(s->keys); /* wipes */
    free(s);
    *sp = NULL;
}

int refbus_nstore_begin(refbus_nstore *s, int write, MDB_txn **txn)
{
    int e = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
    return e ? lmdb_err(s, e, "begin") : 0;
}

static int commit(MDB_txn **txn, int lazy)
{
    const char *dir = NULL;
    MDB_env *env = mdb_txn_env(*txn);
    refbus_nstore *s = mdb_env_get_userctx(env);
    if (mdb_env_get_path(env, &dir) != 0)
        dir = NULL;
    if (lazy)
        (void)mdb_env_set_flags(env, MDB_NOMETASYNC, 1); /* between transactions: allowed */
    int e = mdb_txn_commit(*txn);
    if (lazy)
        (void)mdb_env_set_flags(env, MDB_NOMETASYNC, 0);
    *txn = NULL;
    if (!e) {
        if (s) { /* write transactions only: read ones end with abort() */
            if (lazy) {
                s->n_lazy++;
                s->unsynced = 1;
            } else {
                s->n_synced++;
                s->unsynced = 0; /* a synced commit flushes the whole file, earlier ones too */
            }
        }
        return 0;
    }
    /* LMDB reports a write cut short by a full disk as EIO: say "disk full" when it is (the
     * same rule as the broker's), so deliveries wait for room instead of looking like a
     * broken disk. A fatal one shows at the next begin. */
    int rc = dir ? refbus_lmdb_commit_code(e, dir) : REFBUS_EIO;
    if (rc == REFBUS_ENOSPC) {
        log_error("store: commit: the disk holding %s is full", dir);
        return rc;
    }
    return lmdb_err(NULL, e, "commit");
}

int refbus_nstore_commit(MDB_txn **txn)
{
    return commit(txn, 0);
}

int refbus_nstore_commit_lazy(MDB_txn **txn)
{
    return commit(txn, 1);
}

int refbus_nstore_sync(refbus_nstore *s)
{
    if (!s->unsynced)
        return 0;
    int e = mdb_env_sync(s->env, 1);
    if (e)
        return lmdb_err(s, e, "sync");
    s->unsynced = 0;
    s->n_synced++;
    return 0;
}

int refbus_nstore_unsynced(const refbus_nstore *s)
{
    return s->unsynced;
}

void refbus_nstore_commit_counts(const refbus_nstore *s, uint64_t *synced, uint64_t *lazy)
{
    *synced = s->n_synced;
    *lazy = s->n_lazy;
}

void refbus_nstore_abort(MDB_txn **txn)
{
    if (txn && *txn) {
        mdb_txn_abort(*txn);
        *txn = NULL;
    }
}

int refbus_nstore_put(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                      size_t klen, const void *val, size_t len)
{
    if ((unsigned)t >= REFBUS_T_COUNT || klen == 0 || klen > 511)
        return REFBUS_EINVAL;
    if (len > 0xffffffffu)
        return REFBUS_ETOOLARGE;
    MDB_val k = {klen, (void *)key}, v = {len, (void *)val};
    int e;
    if (!sealed_tables[t])
        return (e = mdb_put(txn, s->dbi[t], &k, &v, 0)) ? lmdb_err(s, e, "put") : 0;
    v.mv_size = len + SEAL_OVERHEAD;
    if ((e = mdb_put(txn, s->dbi[t], &k, &v, MDB_RESERVE)))
        return lmdb_err(s, e, "put");
    seal_into(s, v.mv_data, (unsigned)t, (unsigned)t, key, klen, val, len);
    return 0;
}

static int value_out(refbus_nstore *s, enum refbus_table t, const MDB_val *k, const MDB_val *v,
                     uint8_t **val, size_t *len)
{
    if (sealed_tables[t])
        return open_from(s, val, len, (unsigned)t, (unsigned)t, k->mv_data, k->mv_size, v->mv_data,
                         v->mv_size);
    uint8_t *p = malloc(v->mv_size ? v->mv_size : 1);
    if (!p)
        return REFBUS_ENOMEM;
    memcpy(p, v->mv_data, v->mv_size);
    *val = p;
    *len = v->mv_size;
    return 0;
}

int refbus_nstore_get(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                      size_t klen, uint8_t **val, size_t *len)
{
    if ((unsigned)t >= REFBUS_T_COUNT || klen == 0 || klen > 511)
        return REFBUS_EINVAL;
    MDB_val k = {klen, (void *)key}, v;
    int e = mdb_get(txn, s->dbi[t], &k, &v);
    if (e)
        return lmdb_err(s, e, "get");
    return value_out(s, t, &k, &v, val, len);
}

int refbus_nstore_del(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *key,
                      size_t klen)
{
    if ((unsigned)t >= REFBUS_T_COUNT || klen == 0 || klen > 511)
        return REFBUS_EINVAL;
    MDB_val k = {klen, (void *)key};
    int e = mdb_del(txn, s->dbi[t], &k, NULL);
    return e ? lmdb_err(s, e, "del") : 0;
}

int refbus_nstore_next_seq(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, uint64_t *seq)
{
    MDB_cursor *c;
    MDB_val k, v;
    int e = mdb_cursor_open(txn, s->dbi[t], &c);
    if (e)
        return lmdb_err(s, e, "cursor");
    e = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (e == MDB_NOTFOUND) {
        *seq = 1;
        return 0;
    }
    if (e)
        return lmdb_err(s, e, "last");
    if (k.mv_size != 8)
        return REFBUS_ECORRUPT;
    *seq = refbus_get_u64be(k.mv_data) + 1;
    return 0;
}

int refbus_nstore_scan(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, const void *from,
                       size_t flen, int reverse, refbus_nstore_fn fn, void *ctx)
{
    MDB_cursor *c;
    MDB_val k = {flen, (void *)from}, v;
    int rc = 0, e = mdb_cursor_open(txn, s->dbi[t], &c);
    MDB_cursor_op step = reverse ? MDB_PREV : MDB_NEXT;
    if (e)
        return lmdb_err(s, e, "cursor");
    if (!from) {
        e = mdb_cursor_get(c, &k, &v, reverse ? MDB_LAST : MDB_FIRST);
    } else {
        e = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (reverse && e == MDB_NOTFOUND)
            e = mdb_cursor_get(c, &k, &v, MDB_LAST);
        else if (reverse && e == 0 && (k.mv_size != flen || memcmp(k.mv_data, from, flen) != 0))
            e = mdb_cursor_get(c, &k, &v, MDB_PREV);
    }
    while (e == 0) {
        uint8_t *val = NULL;
        size_t len = 0;
        if ((rc = value_out(s, t, &k, &v, &val, &len)) == REFBUS_ECORRUPT) {
            /* one damaged record must not stop the others (the outbox pump, the views) */
            char hex[2 * 32 + 1];
            refbus_hex(hex, k.mv_data, k.mv_size < 32 ? k.mv_size : 32);
            log_warn("store: %s key %s: the record does not open (damaged); skipped",
                     table_names[t], hex);
            rc = 0;
            e = mdb_cursor_get(c, &k, &v, step);
            continue;
        }
        if (rc)
            break;
        rc = fn(ctx, k.mv_data, k.mv_size, val, len);
        refbus_nstore_free_value(&val, len);
        if (rc)
            break;
        e = mdb_cursor_get(c, &k, &v, step);
    }
    mdb_cursor_close(c);
    if (rc == 1)
        return 0;
    if (rc)
        return rc;
    return e == MDB_NOTFOUND ? 0 : lmdb_err(s, e, "scan");
}

int refbus_nstore_count(refbus_nstore *s, MDB_txn *txn, enum refbus_table t, uint64_t *n)
{
    MDB_stat st;
    int e = mdb_stat(txn, s->dbi[t], &st);
    if (e)
        return lmdb_err(s, e, "stat");
    *n = st.ms_entries;
    return 0;
}

void refbus_nstore_index_key(const refbus_nstore *s, uint8_t out[32], const char *domain,
                             const void *a, size_t alen, const void *b, size_t blen)
{
    crypto_generichash_state st;
    uint8_t l[8];
    crypto_generichash_init(&st, key_of(s, KEY_INDEX), 32, 32);
    crypto_generichash_update(&st, (const uint8_t *)domain, strlen(domain) + 1);
    refbus_put_u64be(l, alen); /* length-prefixed: ("ab","c") != ("a","bc") */
    crypto_generichash_update(&st, l, 8);
    crypto_generichash_update(&st, a, alen);
    refbus_put_u64be(l, blen);
    crypto_generichash_update(&st, l, 8);
    if (blen)
        crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, 32);
}
