/* Process hardening: no core files, not dumpable, a known file-descriptor limit. A core file
 * of a broker holds its CURVE secret key (libzmq copies it into ordinary heap memory that
 * refbus cannot wipe); a node's holds referral text. Disabling dumps costs nothing. */
#include "common/harden.h"

#include <malloc.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>

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
    if (mallopt(M_PERTURB, 0x5a) != 1)
        log_warn("mallopt(M_PERTURB) refused: freed heap blocks are not overwritten");
}

void refbus_harden_state(int *dumpable, uint64_t *core_limit)
{
    struct rlimit r;
    if (dumpable)
        *dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    if (core_limit)
        *core_limit = getrlimit(RLIMIT_CORE, &r) != 0      ? UINT64_MAX
                      : r.rlim_cur == RLIM_INFINITY ? UINT64_MAX
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
