/* Test-only LD_PRELOAD shim: once the file named by $REFBUS_SHIM_PANIC_FILE exists, every LMDB
 * transaction fails as after a fatal write error (MDB_PANIC: LMDB then refuses every begin, and a
 * commit in flight fails). It lets the storage scenario show that a daemon whose store became
 * unusable stops with the reason instead of running on. Never linked into a program. */
#include <dlfcn.h>
#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

static int tripped(void)
{
    const char *f = getenv("REFBUS_SHIM_PANIC_FILE");
    return f && access(f, F_OK) == 0;
}

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
    static int (*real)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **);
    if (tripped())
        return MDB_PANIC;
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_begin");
    return real(env, parent, flags, txn);
}

int mdb_txn_commit(MDB_txn *txn)
{
    static int (*real)(MDB_txn *);
    if (tripped()) {
        mdb_txn_abort(txn); /* a failed commit frees the txn too */
        return MDB_PANIC;
    }
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "mdb_txn_commit");
    return real(txn);
}
