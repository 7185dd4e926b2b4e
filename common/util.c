/* Clocks, hex and file helpers. The atomic write is what keeps keystores and directories whole
 * through a crash: temp file + fsync + rename + directory fsync. */
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

uint64_t refbus_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t refbus_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void refbus_time_iso(char *out, size_t cap, uint64_t ms, int with_ms)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (ms / 1000u > (uint64_t)INT64_MAX || !gmtime_r(&t, &tm)) {
        snprintf(out, cap, "@%llu", (unsigned long long)ms);
        return;
    }
    if (with_ms)
        snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000u));
    else
        snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void refbus_put_u64be(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t refbus_get_u64be(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

void refbus_put_u32be(uint8_t out[4], uint32_t v)
{
    for (int i = 3; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint32_t refbus_get_u32be(const uint8_t in[4])
{
    return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
}

void refbus_put_u32le(uint8_t out[4], uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint32_t refbus_get_u32le(const uint8_t in[4])
{
    return (uint32_t)in[3] << 24 | (uint32_t)in[2] << 16 | (uint32_t)in[1] << 8 | in[0];
}

void refbus_hex(char *out, const uint8_t *in, size_t len)
{
    sodium_bin2hex(out, len * 2 + 1, in, len);
}

int refbus_unhex(uint8_t *out, size_t len, const char *hex)
{
    size_t got = 0;
    const char *end = NULL;
    if (!hex || strlen(hex) != len * 2)
        return REFBUS_EINVAL;
    if (sodium_hex2bin(out, len, hex, len * 2, NULL, &got, &end) != 0 || got != len)
        return REFBUS_EINVAL;
    return 0;
}

int refbus_file_read(uint8_t **out, size_t *out_len, const char *path, size_t max)
{
    int rc = REFBUS_EIO;
    uint8_t *buf = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? REFBUS_ENOTFOUND : REFBUS_EIO;
    if (fstat(fd, &st) != 0)
        goto out;
    if ((uint64_t)st.st_size > max) {
        rc = REFBUS_ETOOLARGE;
        goto out;
    }
    size_t size = (size_t)st.st_size, done = 0;
    buf = malloc(size + 1);
    if (!buf) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    while (done < size) {
        ssize_t n = read(fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        done += (size_t)n;
    }
    buf[size] = 0;
    *out = buf;
    *out_len = size;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    close(fd);
    return rc;
}

static int fsync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return REFBUS_EINVAL;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return REFBUS_EIO;
    int r = fsync(fd);
    close(fd);
    return r == 0 ? 0 : REFBUS_EIO;
}

int refbus_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             int exclusive)
{
    char tmp[PATH_MAX];
    uint8_t rnd[8];
    char rhex[17];
    int fd = -1, rc = REFBUS_EIO;

    randombytes_buf(rnd, sizeof rnd);
    refbus_hex(rhex, rnd, sizeof rnd);
    if (snprintf(tmp, sizeof tmp, "%s.tmp-%s", path, rhex) >= (int)sizeof tmp)
        return REFBUS_EINVAL;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return REFBUS_EIO;
    if (fchmod(fd, mode) != 0)
        goto fail;
    const uint8_t *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        done += (size_t)n;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (exclusive) {
        /* link() fails with EEXIST instead of replacing: exactly one racer wins. */
        if (link(tmp, path) != 0) {
            rc = errno == EEXIST ? REFBUS_EEXIST : REFBUS_EIO;
            goto fail;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        goto fail;
    }
    return fsync_dir_of(path);
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

int refbus_mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return REFBUS_EINVAL;
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return REFBUS_EIO;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return REFBUS_EIO;
    return 0;
}
