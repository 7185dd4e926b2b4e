/* Read-only opening of a trail and paged walks over it. A read transaction pins the pages it
 * sees, so a reader that stays in one for a whole 10-million-record walk would make a live broker
 * grow its file; pages of REFBUS_AUDIT_PAGE records keep each one well under a second. */
#include "audit/reader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/datadir.h"
#include "common/log.h"

struct refbus_audit_reader {
    MDB_env *env;
    refbus_audit *log;
    MDB_txn *txn;
    int txn_live; /* txn begun and not reset */
    int unlocked;
    refbus_audit_watch *watch;
};

static int env_try(MDB_env **out, const char *path, unsigned flags)
{
    MDB_env *env = NULL;
    int mrc;
    if ((mrc = mdb_env_create(&env)) != 0)
        return mrc;
    /* The broker's own databases plus ours; named DBs are opened only when asked for. */
    if ((mrc = mdb_env_set_maxdbs(env, 32)) != 0 ||
        (mrc = mdb_env_open(env, path, flags | MDB_RDONLY, 0600)) != 0) {
        mdb_env_close(env);
        return mrc;
    }
    *out = env;
    return 0;
}

int refbus_audit_reader_open(refbus_audit_reader **out, const char *path)
{
    return refbus_audit_reader_open_watched(out, path, NULL);
}

refbus_audit_watch *refbus_audit_reader_watch(refbus_audit_reader *r)
{
    return r->watch;
}

int refbus_audit_reader_open_watched(refbus_audit_reader **out, const char *path,
                                     refbus_audit_watch *w)
{
    refbus_audit_reader *r = NULL;
    struct stat st;
    char data[4200], why[256];
    unsigned flags = 0;
    int rc, mrc;
    if (!out || !path)
        return REFBUS_EINVAL;
    if (stat(path, &st) != 0)
        return REFBUS_ENOTFOUND;
    if (S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(data, sizeof data, "%s/data.mdb", path) >= sizeof data)
            return REFBUS_EINVAL;
    } else {
        snprintf(data, sizeof data, "%s", path);
        flags |= MDB_NOSUBDIR;
    }
    /* Before LMDB maps it: a truncated file would be SIGBUS, not an error. */
    int truncated = 0;
    rc = refbus_lmdb_file_check(data, why, sizeof why, &truncated);
    if (rc == REFBUS_ENOTFOUND || rc == REFBUS_EIO)
        return rc;
    if (w) {
        snprintf(w->path, sizeof w->path, "%.500s", data);
        if (rc == REFBUS_ECORRUPT) {
            w->damaged = 1;
            snprintf(w->why, sizeof w->why, "%s", why);
        }
    }
    /* Only a file that is merely too short is worth reading (under the guard): with broken
     * meta pages LMDB has nothing to start from. */
    if (rc == REFBUS_ECORRUPT && (!w || !truncated)) {
        log_debug("audit reader: %s: %s", data, why);
        return rc;
    }
    if (!(r = calloc(1, sizeof *r)))
        return REFBUS_ENOMEM;
    r->watch = w;
    mrc = env_try(&r->env, path, flags);
    if (mrc == EACCES || mrc == EROFS || mrc == EPERM) {
        /* No lock file to be had: a copy on read-only media, or files we may only read. */
        mrc = env_try(&r->env, path, flags | MDB_NOLOCK);
        r->unlocked = mrc == 0;
    }
    if (mrc != 0) {
        log_debug("audit reader: %s: %s", path, mdb_strerror(mrc));
        rc = mrc == ENOENT ? REFBUS_ENOTFOUND : REFBUS_ELMDB;
        goto out;
    }
    if (w)
        w->opened = 1;
    if ((rc = refbus_audit_open(&r->log, r->env, 1)) != 0)
        goto out;
    *out = r;
    r = NULL;
out:
    refbus_audit_reader_close(&r);
    return rc;
}

void refbus_audit_reader_close(refbus_audit_reader **rp)
{
    if (!rp || !*rp)
        return;
    refbus_audit_reader *r = *rp;
    if (r->txn)
        mdb_txn_abort(r->txn);
    refbus_audit_free(&r->log);
    if (r->env)
        mdb_env_close(r->env);
    free(r);
    *rp = NULL;
}

int refbus_audit_reader_unlocked(const refbus_audit_reader *r)
{
    return r->unlocked;
}

refbus_audit *refbus_audit_reader_log(refbus_audit_reader *r)
{
    return r->log;
}

int refbus_audit_reader_txn(refbus_audit_reader *r, MDB_txn **txn)
{
    int mrc;
    if (r->txn && r->txn_live)
        mdb_txn_reset(r->txn);
    r->txn_live = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (r->txn)
            mrc = mdb_txn_renew(r->txn);
        else
            mrc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, &r->txn);
        if (mrc == MDB_MAP_RESIZED) {
            /* The writer grew the map: adopt its size and start over. */
            if (r->txn) {
                mdb_txn_abort(r->txn);
                r->txn = NULL;
            }
            if (mdb_env_set_mapsize(r->env, 0) != 0)
                return REFBUS_ELMDB;
            continue;
        }
        if (mrc != 0)
            return REFBUS_ELMDB;
        r->txn_live = 1;
        *txn = r->txn;
        return 0;
    }
    return REFBUS_ELMDB;
}

void refbus_audit_reader_release(refbus_audit_reader *r)
{
    if (r->txn && r->txn_live)
        mdb_txn_reset(r->txn);
    r->txn_live = 0;
}

int refbus_audit_scan(refbus_audit_reader *r, uint64_t from, uint64_t to, refbus_audit_record_fn fn,
                      void *ctx)
{
    refbus_audit_dbis db;
    uint64_t next = from;
    int rc = 0;
    refbus_audit_get_dbis(r->log, &db);
    while (next < to) {
        MDB_txn *txn;
        MDB_cursor *c = NULL;
        uint8_t kb[8];
        MDB_val k = {8, kb}, v;
        unsigned n = 0;
        if ((rc = refbus_audit_reader_txn(r, &txn)) != 0)
            return rc;
        if (mdb_cursor_open(txn, db.records, &c) != 0) {
            rc = REFBUS_ELMDB;
            break;
        }
        refbus_audit_key(kb, next);
        int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        for (; mrc == 0 && n < REFBUS_AUDIT_PAGE; n++) {
            if (k.mv_size != 8) {
                rc = REFBUS_ECORRUPT;
                break;
            }
            uint64_t idx = refbus_audit_key_get(k.mv_data);
            if (idx >= to) {
                mrc = MDB_NOTFOUND;
                break;
            }
            if ((rc = fn(ctx, idx, v.mv_data, v.mv_size)) != 0)
                break;
            next = idx + 1;
            if (r->watch)
                r->watch->read = next;
            mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
        refbus_audit_reader_release(r);
        if (rc != 0)
            break;
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != 0) {
            rc = REFBUS_ELMDB;
            break;
        }
    }
    return rc == 1 ? 0 : rc;
}
