/* libFuzzer: the sealed-file reader and the lone-chunk checks of proto/sfile.h on arbitrary
 * bytes. Byte 0 even: the rest is a sealed file (docs/PROTOCOL.md 2.11.4); when its size is
 * small the harness repairs its header id from its own leaves (computed here, independently),
 * so the fuzzer reaches the chunk checks F5-F7, ranges and paths instead of stopping at F4.
 * Byte 0 odd: size, index and depth from the input, then a path and a chunk, checked and opened
 * alone. Must never crash, leak or read out of bounds; a repaired file must open. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "proto/sfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[32] = {1, 2, 3};

static void mth(uint8_t out[32], const uint8_t *leaves, uint64_t n)
{
    if (n == 1) {
        memcpy(out, leaves, 32);
        return;
    }
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    uint8_t buf[65];
    buf[0] = 1;
    mth(buf + 1, leaves, k);
    mth(buf + 33, leaves + 32 * k, n - k);
    crypto_generichash(out, 32, buf, 65, NULL, 0);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void sealed(const uint8_t *d, size_t n)
{
    uint8_t *b = malloc(n + 1), id[32] = {0};
    memcpy(b, d, n);
    int repaired = 0;
    if (n >= REFBUS_SFILE_HEADER) {
        uint64_t sz = be64(b + 8), cn = refbus_sfile_chunks(sz);
        memcpy(id, b + 16, 32);
        if (memcmp(b, "refbusF1", 8) == 0 && sz <= (1u << 20) &&
            n >= REFBUS_SFILE_HEADER + 32 * cn && n <= refbus_sfile_sealed_size(sz)) {
            uint8_t root[32], in[17 + 8 + 32];
            mth(root, b + REFBUS_SFILE_HEADER, cn);
            memcpy(in, "refbus/v1/file-id", 17);
            memcpy(in + 17, b + 8, 8);
            memcpy(in + 25, root, 32);
            crypto_generichash(id, 32, in, sizeof in, NULL, 0);
            memcpy(b + 16, id, 32);
            repaired = 1;
        }
    }
    int fd = memfd_create("fuzz_file", 0);
    if (fd < 0 || (n && write(fd, b, n) != (ssize_t)n))
        abort();
    for (int withkey = 0; withkey < 2; withkey++) {
        refbus_sfile *f = NULL;
        uint64_t bad;
        int rc = refbus_sfile_open(&f, fd, id, withkey ? KEY : NULL);
        if (repaired && rc != 0)
            abort(); /* the reader and this harness disagree on the id */
        if (rc)
            continue;
        uint64_t fs = refbus_sfile_size(f), cn = refbus_sfile_chunks(fs);
        rc = refbus_sfile_verify(f, &bad);
        if (rc == 0 ? bad != REFBUS_SFILE_NO_CHUNK
                    : (rc == REFBUS_EFILECHUNK || rc == REFBUS_EFILEINCOMPLETE) && bad >= cn)
            abort();
        uint8_t path[REFBUS_SFILE_MAX_DEPTH][32];
        unsigned depth;
        uint64_t idx = n > 60 ? d[60] % cn : 0;
        if (refbus_sfile_path(f, idx, path, &depth) != 0 || depth > REFBUS_SFILE_MAX_DEPTH)
            abort();
        if (withkey) {
            int out = memfd_create("fuzz_out", 0);
            uint64_t off = n > 61 ? d[61] * (fs / 256 + 1) : 0;
            if (off > fs)
                off = fs;
            (void)refbus_sfile_read(f, off, fs - off, out, &bad);
            close(out);
        }
        refbus_sfile_close(&f);
    }
    close(fd);
    free(b);
}

static void lone_chunk(const uint8_t *d, size_t n)
{
    if (n < 13)
        return;
    uint64_t sz = be64(d) >> 20; /* up to 16 TiB: past the limit too */
    uint64_t idx = (uint64_t)d[8] << 8 | d[9];
    unsigned depth = d[10] % 32;
    d += 11;
    n -= 11;
    uint8_t path[32][32] = {{0}}, id[32] = {0}, *pt = malloc(REFBUS_SFILE_CHUNK);
    size_t take = depth * 32u < n ? depth * 32u : n, plen;
    memcpy(path, d, take);
    d += take;
    n -= take;
    (void)refbus_sfile_chunk_check(id, sz, idx, d, n, (const uint8_t(*)[32])path, depth);
    if (refbus_sfile_chunk_open(pt, &plen, KEY, sz, idx, d, n) == 0)
        abort(); /* nothing here was sealed under KEY */
    free(pt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || sodium_init() < 0)
        return 0;
    if (data[0] & 1)
        lone_chunk(data + 1, size - 1);
    else
        sealed(data + 1, size - 1);
    return 0;
}
