/* Fault injection for tests only (see fault.h): allocation and I/O failures on demand, by
 * interposing the libc functions. glibc's __libc_* entry points are called for the real work,
 * so the shim needs no dlsym (which itself allocates) for the allocator. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fault.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

typedef struct window {
    long start, count; /* armed when start > 0 */
    long seen, failed;
} window;

static window mem, io;

/* 1 when this call falls in the armed window. Atomic: daemons have threads (ZAP, the node's
 * API thread). */
static int hit(window *w)
{
    long start = __atomic_load_n(&w->start, __ATOMIC_RELAXED);
    if (start <= 0)
        return 0;
    long n = __atomic_add_fetch(&w->seen, 1, __ATOMIC_RELAXED);
    long count = __atomic_load_n(&w->count, __ATOMIC_RELAXED);
    if (n < start || (count > 0 && n >= start + count))
        return 0;
    __atomic_add_fetch(&w->failed, 1, __ATOMIC_RELAXED);
    return 1;
}

static void arm(window *w, long start, long count)
{
    __atomic_store_n(&w->start, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->seen, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&w->count, count, __ATOMIC_RELAXED);
    __atomic_store_n(&w->start, start, __ATOMIC_RELAXED);
}

void refbus_fault_malloc(long start, long count)
{
    arm(&mem, start, count);
}

long refbus_fault_malloc_failed(void)
{
    return __atomic_load_n(&mem.failed, __ATOMIC_RELAXED);
}

void refbus_fault_io(long start, long count)
{
    arm(&io, start, count);
}

long refbus_fault_io_failed(void)
{
    return __atomic_load_n(&io.failed, __ATOMIC_RELAXED);
}

/* Allocations made by libzmq (directly, through libstdc++'s operator new, or in the transports
 * it links: libpgm, libnorm) are left alone: libzmq is not out-of-memory safe by design
 * (alloc_assert, std::bad_alloc and pgm_malloc abort the process, and it asserts when a libc
 * call it makes fails for want of memory — so libc's own allocations are left alone too, and
 * the dynamic loader's: pthread_create allocates a new thread's TLS in ld.so, and libzmq
 * aborts when it cannot start its I/O thread),
 * so failing them tests libzmq, not refbus. Such a death is a crash, which the kill -9 suite
 * covers. Filled once, before anything is armed. */
static struct range {
    uintptr_t lo, hi;
} exempt[16];
static int n_exempt;

static int note_object(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    const char *name = info->dlpi_name ? info->dlpi_name : "";
    if (!strstr(name, "libzmq") && !strstr(name, "libstdc++") && !strstr(name, "libpgm") &&
        !strstr(name, "libnorm") && !strstr(name, "libc.so") && !strstr(name, "/ld-linux"))
        return 0;
    for (int i = 0; i < info->dlpi_phnum && n_exempt < 16; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            exempt[n_exempt].lo = info->dlpi_addr + ph->p_vaddr;
            exempt[n_exempt].hi = exempt[n_exempt].lo + ph->p_memsz;
            n_exempt++;
        }
    }
    return 0;
}

static int exempt_caller(const void *ret)
{
    uintptr_t a = (uintptr_t)ret;
    for (int i = 0; i < n_exempt; i++)
        if (a >= exempt[i].lo && a < exempt[i].hi)
            return 1;
    return 0;
}

/* "start:count" (count optional, 0 = for ever) from the environment, for LD_PRELOAD runs. */
static void arm_from_env(window *w, const char *name)
{
    const char *v = getenv(name);
    char *end = NULL;
    if (!v || !*v)
        return;
    long start = strtol(v, &end, 10), count = 0;
    if (end && *end == ':')
        count = strtol(end + 1, NULL, 10);
    arm(w, start, count);
}

__attribute__((constructor)) static void fault_init(void)
{
    dl_iterate_phdr(note_object, NULL);
    arm_from_env(&mem, "REFBUS_FAULT_MALLOC");
    arm_from_env(&io, "REFBUS_FAULT_IO");
}

/* At a normal exit of a process armed from the environment: what the window hit (a test can
 * tell a fault that fired from one that never did). Straight to fd 2: no stdio buffers. */
__attribute__((destructor)) static void fault_report(void)
{
    char line[160];
    if (!getenv("REFBUS_FAULT_MALLOC") && !getenv("REFBUS_FAULT_IO"))
        return;
    int n = snprintf(line, sizeof line,
                     "fault shim: %ld allocations counted, %ld failed; %ld I/O calls counted, "
                     "%ld failed\n",
                     mem.seen, mem.failed, io.seen, io.failed);
    if (n > 0)
        (void)!write(2, line, (size_t)n);
}

void *malloc(size_t n)
{
    if (!exempt_caller(__builtin_return_address(0)) && hit(&mem)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (!exempt_caller(__builtin_return_address(0)) && hit(&mem)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    /* realloc(p, 0) frees: not an allocation that can fail */
    if (n && !exempt_caller(__builtin_return_address(0)) && hit(&mem)) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

/* The I/O calls: the real ones through dlsym (they do not allocate on the path we use). */
#define REAL(ret, name, ...)                \
    static ret (*real_##name)(__VA_ARGS__); \
    if (!real_##name)                       \
        *(void **)&real_##name = dlsym(RTLD_NEXT, #name);

int fdatasync(int fd)
{
    REAL(int, fdatasync, int)
    if (hit(&io)) {
        errno = EIO;
        return -1;
    }
    return real_fdatasync(fd);
}

int fsync(int fd)
{
    REAL(int, fsync, int)
    if (hit(&io)) {
        errno = EIO;
        return -1;
    }
    return real_fsync(fd);
}

int msync(void *addr, size_t len, int flags)
{
    REAL(int, msync, void *, size_t, int)
    if (hit(&io)) {
        errno = EIO;
        return -1;
    }
    return real_msync(addr, len, flags);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
    if (hit(&io)) {
        errno = EIO;
        return -1;
    }
    return real_pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    REAL(ssize_t, writev, int, const struct iovec *, int)
    if (hit(&io)) { /* LMDB writes runs of pages with writev */
        errno = EIO;
        return -1;
    }
    return real_writev(fd, iov, n);
}
