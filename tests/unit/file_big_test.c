/* A large, mostly sparse file (REFBUS_FILE_BIG_MIB, 256 MiB by default, 2048 for the 2 GiB run
 * of issue 13) sealed, verified chunk by chunk with decryption, and read from the middle, with
 * the process's peak resident memory (VmHWM) under 32 MiB: memory does not grow with the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "proto/sfile.h"

#ifndef REFBUS_FILE_BIG_MIB
#define REFBUS_FILE_BIG_MIB 256
#endif
#define BOUND_KIB (32 * 1024)

static long vm_hwm_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

static int tmpfd(void)
{
    char path[] = "/tmp/refbus-file-big-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

#define FAIL(...) do { fprintf(stderr, "file_big_test: " __VA_ARGS__); fputc('\n', stderr); return 1; } while (0)

int main(void)
{
    const uint64_t size = (uint64_t)REFBUS_FILE_BIG_MIB << 20;
    static const char marker[] = "REFBUS-MARKER-forensic-interview";
    uint8_t key[32], id[32];
    uint64_t bad;
    refbus_sfile *f = NULL;
    if (sodium_init() < 0)
        return 1;
    int in = tmpfd(), out = tmpfd(), got = tmpfd();
    if (in < 0 || out < 0 || got < 0 || ftruncate(in, (off_t)size) != 0)
        FAIL("cannot make the %llu-byte input", (unsigned long long)size);
    /* markers at the start, across a chunk boundary in the middle and at the very end */
    const uint64_t at[] = {0, size / 2 - 5, size - sizeof marker};
    for (size_t k = 0; k < 3; k++)
        if (pwrite(in, marker, sizeof marker, (off_t)at[k]) != (ssize_t)sizeof marker)
            FAIL("pwrite");
    int rc = refbus_sfile_seal(id, key, out, in);
    if (rc)
        FAIL("seal: %s", refbus_strerror(rc));
    if ((uint64_t)lseek(out, 0, SEEK_END) != refbus_sfile_sealed_size(size))
        FAIL("sealed size");
    if ((rc = refbus_sfile_open(&f, out, id, key)) || (rc = refbus_sfile_verify(f, &bad)))
        FAIL("verify: %s", refbus_strerror(rc));
    if ((rc = refbus_sfile_read(f, at[1], sizeof marker, got, &bad)))
        FAIL("read: %s", refbus_strerror(rc));
    char back[sizeof marker];
    if (pread(got, back, sizeof back, 0) != (ssize_t)sizeof back || memcmp(back, marker, sizeof back))
        FAIL("the middle of the file did not come back");
    refbus_sfile_close(&f);
    long hwm = vm_hwm_kib();
    printf("file_big_test: %llu MiB sealed, verified and read; VmHWM %ld KiB (bound %d KiB)\n",
           (unsigned long long)(size >> 20), hwm, BOUND_KIB);
    if (hwm < 0 || hwm > BOUND_KIB)
        FAIL("peak resident memory %ld KiB over the bound", hwm);
    close(in);
    close(out);
    close(got);
    return 0;
}
