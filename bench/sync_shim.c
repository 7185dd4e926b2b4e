/* librefbus_bench_sync.so: counts the requests a process makes to flush data to the disk, for
 * refbus-bench's "fsyncs per referral". Loaded with LD_PRELOAD into the processes the benchmark
 * starts (broker, nodes, redis-server) and nothing else; it changes no behaviour, it only counts.
 *
 * Counted as one flush each: fsync, fdatasync, syncfs, sync, sync_file_range, msync with MS_SYNC,
 * and every write to a descriptor opened with O_SYNC or O_DSYNC (LMDB writes its meta page that
 * way on Linux, so one synced LMDB commit is one fdatasync plus one such write). The counts go to
 * a shared page in $REFBUS_BENCH_SYNC_DIR/PID.sync (created 0600), which the benchmark reads while
 * the process runs. Without that variable the shim counts nothing. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench/sync_counts.h"

#define MAX_FD 65536

static refbus_bench_sync_counts *counts; /* the shared page, or NULL: count nothing */
static unsigned char dsync_fd[MAX_FD];   /* 1: opened with O_SYNC / O_DSYNC */

__attribute__((constructor)) static void shim_init(void)
{
    const char *dir = getenv("REFBUS_BENCH_SYNC_DIR");
    char path[4096];
    if (!dir || snprintf(path, sizeof path, "%s/%d.sync", dir, (int)getpid()) >= (int)sizeof path)
        return;
    /* The raw system call: our own open() below must not count (or recurse). */
    long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (ftruncate((int)fd, (off_t)sizeof *counts) == 0) {
        void *p = mmap(NULL, sizeof *counts, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
        if (p != MAP_FAILED)
            counts = p;
    }
    syscall(SYS_close, fd);
}

static void count_flush(void)
{
    if (counts)
        __atomic_add_fetch(&counts->fsyncs, 1, __ATOMIC_RELAXED);
}

#define REAL(name)                                        \
    static __typeof__(&name) real_##name;                 \
    if (!real_##name)                                     \
        *(void **)&real_##name = dlsym(RTLD_NEXT, #name); \
    if (!real_##name) {                                   \
        errno = ENOSYS;                                   \
        return -1;                                        \
    }

static void note_open(int fd, int flags)
{
    if (fd >= 0 && fd < MAX_FD)
        dsync_fd[fd] = (flags & (O_SYNC | O_DSYNC)) ? 1 : 0;
}

static void note_write(int fd)
{
    if (fd >= 0 && fd < MAX_FD && dsync_fd[fd] && counts)
        __atomic_add_fetch(&counts->dsync_writes, 1, __ATOMIC_RELAXED);
}

/* open and openat take a mode only with O_CREAT / O_TMPFILE. */
#define OPEN_MODE(flags, last)               \
    mode_t mode = 0;                         \
    if ((flags) & (O_CREAT | __O_TMPFILE)) { \
        va_list ap;                          \
        va_start(ap, last);                  \
        mode = (mode_t)va_arg(ap, int);      \
        va_end(ap);                          \
    }

int open(const char *path, int flags, ...);
int open(const char *path, int flags, ...)
{
    OPEN_MODE(flags, flags)
    REAL(open)
    int fd = real_open(path, flags, mode);
    note_open(fd, flags);
    return fd;
}

int open64(const char *path, int flags, ...);
int open64(const char *path, int flags, ...)
{
    OPEN_MODE(flags, flags)
    REAL(open64)
    int fd = real_open64(path, flags, mode);
    note_open(fd, flags);
    return fd;
}

int openat(int dirfd, const char *path, int flags, ...);
int openat(int dirfd, const char *path, int flags, ...)
{
    OPEN_MODE(flags, flags)
    REAL(openat)
    int fd = real_openat(dirfd, path, flags, mode);
    note_open(fd, flags);
    return fd;
}

int openat64(int dirfd, const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...)
{
    OPEN_MODE(flags, flags)
    REAL(openat64)
    int fd = real_openat64(dirfd, path, flags, mode);
    note_open(fd, flags);
    return fd;
}

int fcntl(int fd, int cmd, ...);
int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *); /* every fcntl argument fits a pointer */
    va_end(ap);
    REAL(fcntl)
    int rc = real_fcntl(fd, cmd, arg);
    if (rc >= 0 && cmd == F_SETFL)
        note_open(fd, (int)(intptr_t)arg);
    else if (rc >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fd >= 0 && fd < MAX_FD &&
             rc < MAX_FD)
        dsync_fd[rc] = dsync_fd[fd];
    return rc;
}

int close(int fd)
{
    REAL(close)
    if (fd >= 0 && fd < MAX_FD)
        dsync_fd[fd] = 0;
    return real_close(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(write)
    note_write(fd);
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite)
    note_write(fd);
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off);
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite64)
    note_write(fd);
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev)
    note_write(fd);
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev)
    note_write(fd);
    return real_pwritev(fd, iov, cnt, off);
}

int fsync(int fd)
{
    REAL(fsync)
    count_flush();
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync)
    count_flush();
    return real_fdatasync(fd);
}

int syncfs(int fd)
{
    REAL(syncfs)
    count_flush();
    return real_syncfs(fd);
}

int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    REAL(sync_file_range)
    count_flush();
    return real_sync_file_range(fd, off, n, flags);
}

int msync(void *addr, size_t len, int flags)
{
    REAL(msync)
    if (flags & MS_SYNC)
        count_flush();
    return real_msync(addr, len, flags);
}

void sync(void)
{
    static void (*real_sync)(void);
    if (!real_sync)
        *(void **)&real_sync = dlsym(RTLD_NEXT, "sync");
    count_flush();
    if (real_sync)
        real_sync();
}
