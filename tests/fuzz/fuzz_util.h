/* Shared by the fuzz targets that need files: a private temporary directory (on /dev/shm when
 * there is one, so fsync costs nothing) removed when the fuzzer exits. */
#ifndef REFBUS_FUZZ_UTIL_H
#define REFBUS_FUZZ_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_tmp[256];

static int fuzz_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    (void)remove(p);
    return 0;
}

static void fuzz_tmp_remove(void)
{
    if (fuzz_tmp[0])
        nftw(fuzz_tmp, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Create the directory once (name includes `what` and the pid); returns its path. */
static const char *fuzz_tmpdir(const char *what)
{
    struct stat st;
    if (fuzz_tmp[0])
        return fuzz_tmp;
    snprintf(fuzz_tmp, sizeof fuzz_tmp, "%s/refbus-fuzz-%s.%ld",
             stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp", what,
             (long)getpid());
    if (mkdir(fuzz_tmp, 0700) != 0)
        abort();
    atexit(fuzz_tmp_remove);
    return fuzz_tmp;
}

#endif
