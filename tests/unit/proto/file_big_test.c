/* A large, mostly sparse file (REFBUS_FILE_BIG_MIB, 256 MiB by default, 2048 for the 2 GiB run
 * of issue 13) sealed, verified chunk by chunk with decryption, and read from the middle, with
 * the process's peak resident memory (VmHWM) under 32 MiB: memory does not grow with the file.
 *   file_big_test [MIB] [--bench]   another size; --bench also prints MB/s of sealing, of
 *   verifying with decryption, of the raw crypto in memory and of writing the same bytes with
 *   fdatasync (docs/BENCHMARKS.md). Timings are printed, never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

#define FAIL(...)                                       \
    do {                                                \
        fprintf(stderr, "file_big_test: " __VA_ARGS__); \
        fputc('\n', stderr);                            \
        return 1;                                       \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double mbps(uint64_t bytes, double secs)
{
    return secs > 0 ? (double)bytes / 1e6 / secs : 0;
}

/* What the format costs without any I/O: AEAD and the leaf hash over `bytes` in 64 KiB chunks. */
static double raw_crypto(uint64_t bytes)
{
    static uint8_t pt[REFBUS_SFILE_CHUNK], ct[REFBUS_SFILE_CHUNK + 16], key[32], nonce[24],
        leaf[32];
    double t = now();
    for (uint64_t i = 0; i < bytes / sizeof pt; i++) {
        nonce[0] = (uint8_t)i;
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct, NULL, pt, sizeof pt, NULL, 0, NULL, nonce,
                                                   key);
        crypto_generichash(leaf, 32, ct, sizeof ct, NULL, 0);
    }
    return mbps(bytes, now() - t);
}

/* The disk: `bytes` written in 1 MiB blocks and made durable with fdatasync. */
static double disk_sync(uint64_t bytes)
{
    static uint8_t blk[1 << 20];
    int fd = tmpfd();
    double t = now();
    for (uint64_t i = 0; fd >= 0 && i < bytes / sizeof blk; i++)
        if (write(fd, blk, sizeof blk) != (ssize_t)sizeof blk)
            return 0;
    if (fd < 0 || fdatasync(fd) != 0)
        return 0;
    t = now() - t;
    close(fd);
    return mbps(bytes, t);
}

int main(int argc, char **argv)
{
    uint64_t size = (uint64_t)REFBUS_FILE_BIG_MIB << 20;
    int bench = 0;
    double t0, t_seal, t_verify;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--bench") == 0)
            bench = 1;
        else if (atoi(argv[a]) > 0)
            size = (uint64_t)atoi(argv[a]) << 20;
    }
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
    t0 = now();
    int rc = refbus_sfile_seal(id, key, out, in);
    if (bench && fdatasync(out) != 0)
        FAIL("fdatasync");
    t_seal = now() - t0;
    if (rc)
        FAIL("seal: %s", refbus_strerror(rc));
    if ((uint64_t)lseek(out, 0, SEEK_END) != refbus_sfile_sealed_size(size))
        FAIL("sealed size");
    t0 = now();
    if ((rc = refbus_sfile_open(&f, out, id, key)) || (rc = refbus_sfile_verify(f, &bad)))
        FAIL("verify: %s", refbus_strerror(rc));
    t_verify = now() - t0;
    if ((rc = refbus_sfile_read(f, at[1], sizeof marker, got, &bad)))
        FAIL("read: %s", refbus_strerror(rc));
    char back[sizeof marker];
    if (pread(got, back, sizeof back, 0) != (ssize_t)sizeof back ||
        memcmp(back, marker, sizeof back))
        FAIL("the middle of the file did not come back");
    refbus_sfile_close(&f);
    long hwm = vm_hwm_kib();
    printf("file_big_test: %llu MiB sealed, verified and read; VmHWM %ld KiB (bound %d KiB)\n",
           (unsigned long long)(size >> 20), hwm, BOUND_KIB);
    if (hwm < 0 || hwm > BOUND_KIB)
        FAIL("peak resident memory %ld KiB over the bound", hwm);
    if (bench)
        printf("file_big_test: MB/s (1 MB = 10^6 bytes): seal+fdatasync %.0f, open+verify+decrypt "
               "%.0f, raw AEAD+BLAKE2b in memory %.0f, write+fdatasync of the same bytes %.0f\n",
               mbps(size, t_seal), mbps(size, t_verify), raw_crypto(size), disk_sync(size));
    close(in);
    close(out);
    close(got);
    return 0;
}
