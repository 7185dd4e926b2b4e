/* Process hardening every program that holds secrets or plaintext does first: no core files
 * (the CurveZMQ secret keys that libzmq copies into ordinary memory, a node's referral text)
 * and no ptrace attach by other processes of the same user, and a file-descriptor limit the
 * daemons can count on. Linux (prctl, setrlimit). */
#ifndef REFBUS_COMMON_HARDEN_H
#define REFBUS_COMMON_HARDEN_H

#include <stdint.h>

#include "common/err.h"

/* Set RLIMIT_CORE to 0 (soft and hard: a child cannot raise it again) and mark the process
 * not dumpable (PR_SET_DUMPABLE 0: no core file even under a core_pattern pipe, /proc/PID/mem
 * and ptrace closed to other processes of the same user). Call first thing in main(), before
 * any key is read. Errors: REFBUS_EIO (either call failed; the caller must not go on). */
int refbus_harden_process(void) REFBUS_WUR;

/* What refbus_harden_process() left in force, for `status`: *dumpable is PR_GET_DUMPABLE (0 =
 * not dumpable), *core_limit the soft RLIMIT_CORE in bytes (UINT64_MAX: unlimited). */
void refbus_harden_state(int *dumpable, uint64_t *core_limit);

/* free() that first wipes the whole allocation (malloc_usable_size bytes). Takes any pointer
 * from malloc/calloc/realloc (so it can be handed to libraries as their free function even for
 * memory they got before the switch) and NULL. Costs one memset of the block per free. */
void refbus_wipe_free(void *p);

/* glibc's M_PERTURB: every block freed by anyone in the process (libzmq's I/O buffers, which
 * hold each control answer on its way out and are freed with the connection; LMDB's; the
 * libraries') is overwritten when it goes back to the heap. Blocks small enough for glibc's
 * per-thread cache (up to ~1 KiB) are not, which is why refbus wipes its own plaintext
 * explicitly too (refbus_wipe_free). Costs a memset per malloc and free. */
void refbus_harden_heap_wipe(void);

/* The process's anonymous resident memory in bytes (resident minus file-backed and shared
 * pages, /proc/self/statm): the heap and what libzmq buffers, not the LMDB map. 0 when it
 * cannot be read. One small read; cheap enough for every loop pass. */
uint64_t refbus_mem_anon_bytes(void);

/* Large blocks (above 256 KiB) straight from mmap and back to the system when freed, so that
 * memory a peer made libzmq buffer is returned once that connection is cut (glibc otherwise
 * raises its mmap threshold after the first such free and keeps the memory in the heap). */
void refbus_harden_heap_return(void);

/* Bytes libzmq (or whoever reads it) has read from the TCP socket `fd`: what the kernel
 * received (TCP_INFO) minus what still waits in its queue (SIOCINQ). Errors: REFBUS_EINVAL
 * (not an ESTABLISHED TCP socket, e.g. one already shut down), REFBUS_EIO. */
int refbus_sock_bytes_read(int fd, uint64_t *read) REFBUS_WUR;
/* The port of an AF_INET / AF_INET6 address (host order), -1 for any other family. */
struct sockaddr_storage;
int refbus_sockaddr_port(const struct sockaddr_storage *s);
/* The first ESTABLISHED TCP socket of this process whose local (`local` = 1) or remote port is
 * `port`, from `after` + 1 on (start with -1); -1 when there is none. Walks /proc/self/fd. */
int refbus_sock_find_port(int port, int local, int after);

/* Raise the soft RLIMIT_NOFILE towards `want` (at most the hard limit) and return in *got the
 * soft limit now in force. Errors: REFBUS_EIO (getrlimit failed). */
int refbus_harden_nofile(uint64_t want, uint64_t *got) REFBUS_WUR;

#endif
