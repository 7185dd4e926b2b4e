/* Data directory lock and LMDB file checks (see datadir.h). The meta page layout read here is
 * LMDB's on-disk format 1 (lmdb 0.9.x, 64-bit): a 16-byte page header, then MDB_meta. */
#include "common/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"

#define META_MAGIC 0xBEEFC0DEu
#define DATA_VERSION 1u
#define PAGE_HDR 16u
#define P_META 0x08u
/* Offsets inside MDB_meta (after the page header), 64-bit layout. */
#define M_MAGIC 0u
#define M_VERSION 4u
#define M_PSIZE 24u      /* mm_dbs[FREE_DBI].md_pad holds the page size */
#define M_FREE_ROOT 64u  /* mm_dbs[0].md_root */
#define M_MAIN_ROOT 112u /* mm_dbs[1].md_root */
#define M_LAST_PG 120u
#define M_TXNID 128u
#define META_END 136u
#define P_INVALID UINT64_MAX

int refbus_datadir_lock(const char *dir, const char *name, int *fd_out, long *holder)
{
    char path[4096], buf[32];
    struct stat st;
    int fd;
    *holder = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return REFBUS_ENOTFOUND;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return REFBUS_EINVAL;
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return REFBUS_EIO;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = 0;
            *holder = strtol(buf, NULL, 10);
        }
        close(fd);
        errno = e;
        return e == EWOULDBLOCK ? REFBUS_EEXIST : REFBUS_EIO;
    }
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        close(fd);
        return REFBUS_EIO;
    }
    *fd_out = fd;
    return 0;
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

typedef struct meta_info {
    int ok;
    uint32_t psize;
    uint64_t last_pg, txnid;
    char why[96];
} meta_info;

/* Check the meta page at `off`; `psize` is 0 for the first one (it names the page size). */
static void read_meta(int fd, off_t off, uint64_t fsize, meta_info *m)
{
    uint8_t pg[PAGE_HDR + META_END];
    memset(m, 0, sizeof *m);
    if ((uint64_t)off + sizeof pg > fsize) {
        snprintf(m->why, sizeof m->why, "missing (the file ends at byte %llu)",
                 (unsigned long long)fsize);
        return;
    }
    if (pread(fd, pg, sizeof pg, off) != (ssize_t)sizeof pg) {
        snprintf(m->why, sizeof m->why, "unreadable: %s", strerror(errno));
        return;
    }
    const uint8_t *mm = pg + PAGE_HDR;
    uint16_t flags = (uint16_t)(pg[10] | pg[11] << 8);
    uint32_t ps = get32(mm + M_PSIZE);
    if (!(flags & P_META) || get32(mm + M_MAGIC) != META_MAGIC) {
        snprintf(m->why, sizeof m->why, "not an LMDB meta page (bad magic)");
        return;
    }
    if (get32(mm + M_VERSION) != DATA_VERSION) {
        snprintf(m->why, sizeof m->why, "unknown LMDB format version %u", get32(mm + M_VERSION));
        return;
    }
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0) {
        snprintf(m->why, sizeof m->why, "bad page size %u", ps);
        return;
    }
    m->psize = ps;
    m->last_pg = get64(mm + M_LAST_PG);
    m->txnid = get64(mm + M_TXNID);
    uint64_t fr = get64(mm + M_FREE_ROOT), mr = get64(mm + M_MAIN_ROOT);
    if (m->last_pg < 1 || m->last_pg > (UINT64_MAX / 65536u) - 1) {
        snprintf(m->why, sizeof m->why, "bad last page number %llu",
                 (unsigned long long)m->last_pg);
        return;
    }
    if ((fr != P_INVALID && (fr < 2 || fr > m->last_pg)) ||
        (mr != P_INVALID && (mr < 2 || mr > m->last_pg))) {
        snprintf(m->why, sizeof m->why, "a root page lies outside the file's pages");
        return;
    }
    m->ok = 1;
}

int refbus_lmdb_file_check(const char *path, char *why, size_t whylen, int *truncated)
{
    struct stat st;
    meta_info m0, m1;
    int rc = REFBUS_ECORRUPT;
    if (whylen)
        why[0] = 0;
    if (truncated)
        *truncated = 0;
    if (sizeof(size_t) != 8)
        return 0; /* the offsets above are the 64-bit layout; LMDB checks the rest itself */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? REFBUS_ENOTFOUND : REFBUS_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        goto out;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize == 0) {
        snprintf(why, whylen, "empty file (0 bytes): not a store");
        goto out;
    }
    read_meta(fd, 0, fsize, &m0);
    if (!m0.ok) {
        snprintf(why, whylen, "meta page 0 %s", m0.why);
        goto out;
    }
    read_meta(fd, (off_t)m0.psize, fsize, &m1);
    if (!m1.ok) {
        snprintf(why, whylen, "meta page 1 %s", m1.why);
        goto out;
    }
    if (m1.psize != m0.psize) {
        snprintf(why, whylen, "the meta pages disagree on the page size (%u, %u)", m0.psize,
                 m1.psize);
        goto out;
    }
    /* LMDB uses the meta page with the higher transaction id. */
    const meta_info *m = m1.txnid > m0.txnid ? &m1 : &m0;
    uint64_t need = (m->last_pg + 1) * m->psize;
    if (fsize < need) {
        snprintf(why, whylen,
                 "truncated: %llu bytes, but the last committed transaction uses %llu pages of "
                 "%u bytes (%llu bytes)",
                 (unsigned long long)fsize, (unsigned long long)(m->last_pg + 1), m->psize,
                 (unsigned long long)need);
        if (truncated)
            *truncated = 1;
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

int refbus_lmdb_code(int mdb_rc)
{
    switch (mdb_rc) {
    case 0: return 0;
    case MDB_NOTFOUND: return REFBUS_ENOTFOUND;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL: return REFBUS_EMAPFULL;
    case ENOSPC:
    case EDQUOT: return REFBUS_ENOSPC;
    case ENOMEM: return REFBUS_ENOMEM;
    case EIO: return REFBUS_EIO;
    case MDB_KEYEXIST: return REFBUS_ECORRUPT;
    case MDB_PANIC:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH: return REFBUS_ESTORAGE;
    default: return REFBUS_ELMDB;
    }
}

int refbus_lmdb_err(int mdb_rc, const char *what)
{
    int rc = refbus_lmdb_code(mdb_rc);
    if (rc == REFBUS_ELMDB || rc == REFBUS_ESTORAGE || rc == REFBUS_EIO || rc == REFBUS_ECORRUPT)
        log_error("lmdb: %s: %s", what, mdb_strerror(mdb_rc));
    return rc;
}

int refbus_lmdb_commit_code(int mdb_rc, const char *dir)
{
    struct statvfs fs;
    int rc = refbus_lmdb_code(mdb_rc);
    if ((rc == REFBUS_EIO || rc == REFBUS_ENOSPC) && statvfs(dir, &fs) == 0) {
        uint64_t avail = (uint64_t)fs.f_bavail * fs.f_frsize;
        uint64_t total = (uint64_t)fs.f_blocks * fs.f_frsize;
        if (avail < (16u << 20) || avail < total / 100u)
            return REFBUS_ENOSPC;
    }
    return rc;
}
