/* Process hardening: no core files, not dumpable, a known file-descriptor limit. A core file
 * of a broker holds its CURVE secret key (libzmq copies it into ordinary heap memory that
 * refbus cannot wipe); a node's holds referral text. Disabling dumps costs nothing. */
#include "common/harden.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sodium.h>

#include "common/log.h"

void refbus_wipe_free(void *p)
{
    if (!p)
        return;
    /* The usable size, not the requested one: realloc and the allocator's rounding may have
     * left plaintext in the slack too. */
    sodium_memzero(p, malloc_usable_size(p));
    free(p);
}

int refbus_harden_process(void)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) {
        log_error("cannot disable core files (setrlimit RLIMIT_CORE)");
        return REFBUS_EIO;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        log_error("cannot mark the process not dumpable (prctl PR_SET_DUMPABLE)");
        return REFBUS_EIO;
    }
    return 0;
}

void refbus_harden_heap_wipe(void)
{
    if (mallopt(M_PERTURB, 0x5a) != 1) /* refused under a sanitizer's allocator */
        log_debug("mallopt(M_PERTURB) refused: freed heap blocks are not overwritten");
}

uint64_t refbus_mem_anon_bytes(void)
{
    char buf[128];
    unsigned long long size = 0, resident = 0, shared = 0;
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3 || shared > resident)
        return 0;
    return (uint64_t)(resident - shared) * (uint64_t)sysconf(_SC_PAGESIZE);
}

void refbus_harden_heap_return(void)
{
    if (mallopt(M_MMAP_THRESHOLD, 256 * 1024) != 1) /* refused under a sanitizer's allocator */
        log_debug("mallopt(M_MMAP_THRESHOLD) refused: freed buffers may stay in the heap");
}

int refbus_sock_bytes_read(int fd, uint64_t *read)
{
    struct tcp_info ti;
    socklen_t tl = sizeof ti;
    int queued = 0;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0)
        return REFBUS_EINVAL;
    /* 1 = TCP_ESTABLISHED: a socket being shut down is already on its way out */
    if (ti.tcpi_state != 1 ||
        tl < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof ti.tcpi_bytes_received)
        return REFBUS_EINVAL;
    if (ioctl(fd, SIOCINQ, &queued) != 0 || queued < 0)
        return REFBUS_EIO;
    uint64_t got = ti.tcpi_bytes_received;
    *read = got > (uint64_t)queued ? got - (uint64_t)queued : 0;
    return 0;
}

int refbus_sockaddr_port(const struct sockaddr_storage *s)
{
    if (s->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)s)->sin_port);
    if (s->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)s)->sin6_port);
    return -1;
}

int refbus_sock_find_port(int port, int local, int after)
{
    DIR *dir = opendir("/proc/self/fd");
    int found = -1;
    for (struct dirent *e; dir && found < 0 && (e = readdir(dir));) {
        struct stat st;
        struct sockaddr_storage a;
        socklen_t al = sizeof a;
        uint64_t read;
        int fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd <= after || fd == dirfd(dir))
            continue;
        if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        if ((local ? getsockname(fd, (struct sockaddr *)&a, &al)
                   : getpeername(fd, (struct sockaddr *)&a, &al)) != 0 ||
            refbus_sockaddr_port(&a) != port)
            continue;
        if (local && getpeername(fd, (struct sockaddr *)&a, &(socklen_t){sizeof a}) != 0)
            continue; /* the listening socket */
        if (refbus_sock_bytes_read(fd, &read) == 0)
            found = fd;
    }
    if (dir)
        closedir(dir);
    return found;
}

void refbus_harden_state(int *dumpable, uint64_t *core_limit)
{
    struct rlimit r;
    if (dumpable)
        *dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (core_limit)
        *core_limit = getrlimit(RLIMIT_CORE, &r) != 0 ? UINT64_MAX
                      : r.rlim_cur == RLIM_INFINITY   ? UINT64_MAX
                                                      : (uint64_t)r.rlim_cur;
}

int refbus_harden_nofile(uint64_t want, uint64_t *got)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return REFBUS_EIO;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want) {
        rlim_t to = r.rlim_max == RLIM_INFINITY || r.rlim_max > want ? (rlim_t)want : r.rlim_max;
        struct rlimit n = {to, r.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &n) == 0)
            r.rlim_cur = to;
    }
    *got = r.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)r.rlim_cur;
    return 0;
}
