/* Reading a passphrase from a file or the terminal straight into sodium_malloc'd memory, one
 * byte at a time from the terminal so that no stdio buffer ever holds it. */
#include "keys/passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"

#define BUF (REFBUS_PASSPHRASE_MAX + 4) /* "\r\n", one byte to see it is too long, a NUL */

static int cls_of(unsigned char c)
{
    return c >= 0x80              ? 4
           : c >= 'a' && c <= 'z' ? 0
           : c >= 'A' && c <= 'Z' ? 1
           : c >= '0' && c <= '9' ? 2
                                  : 3;
}

unsigned refbus_passphrase_strength(const char *p, size_t len, size_t *chars)
{
    static const unsigned pool[5] = {26, 26, 10, 33, 100};
    const unsigned char *s = (const unsigned char *)p;
    unsigned used = 0, alphabet = 0;
    size_t n = 0, eff = 0;
    long prev = -1;
    for (size_t i = 0; i < len; i++) {
        if ((s[i] & 0xc0) == 0x80)
            continue; /* a UTF-8 continuation byte: part of the character before */
        long cp = s[i];
        if (s[i] >= 0x80) /* a multibyte character: a value that orders like its code point */
            for (size_t j = i + 1; j < len && (s[j] & 0xc0) == 0x80; j++)
                cp = cp * 64 + (s[j] & 0x3f);
        used |= 1u << cls_of(s[i]);
        n++;
        int run = prev >= 0 && cls_of(s[i]) != 3 && (cp == prev + 1 || cp == prev - 1);
        if (cp != prev && !run)
            eff++;
        prev = cp;
    }
    for (int c = 0; c < 5; c++)
        if (used & (1u << c))
            alphabet += pool[c];
    if (chars)
        *chars = n;
    return alphabet ? (unsigned)((double)eff * log2((double)alphabet)) : 0;
}

int refbus_passphrase_check(const char *p, size_t len, char *why, size_t why_len)
{
    size_t chars = 0;
    unsigned bits = refbus_passphrase_strength(p, len, &chars);
    if (chars < REFBUS_PASSPHRASE_MIN_CHARS) {
        snprintf(why, why_len, "too short: %zu characters, at least %u are required", chars,
                 REFBUS_PASSPHRASE_MIN_CHARS);
        return REFBUS_EWEAK;
    }
    if (bits < REFBUS_PASSPHRASE_MIN_BITS) {
        snprintf(why, why_len,
                 "too easy to guess: about %u bits (repeats and runs such as \"aaa\" or "
                 "\"123\" count little), at least %u are required",
                 bits, REFBUS_PASSPHRASE_MIN_BITS);
        return REFBUS_EWEAK;
    }
    return 0;
}

int refbus_passphrase_generate(char **out, size_t *len)
{
    static const char alpha[] = "abcdefghijkmnpqrstuvwxyz23456789"; /* 32: 5 bits each */
    enum { GROUPS = 6, GROUP = 5, N = GROUPS * (GROUP + 1) - 1 };
    char *b = sodium_malloc(N + 1);
    if (!b)
        return REFBUS_ENOMEM;
    for (size_t i = 0, k = 0; i < GROUPS; i++) {
        for (size_t j = 0; j < GROUP; j++)
            b[k++] = alpha[randombytes_uniform(32)];
        if (i + 1 < GROUPS)
            b[k++] = '-';
    }
    b[N] = 0;
    *out = b;
    *len = N;
    return 0;
}

void refbus_passphrase_free(char **p, size_t len)
{
    (void)len; /* sodium_free wipes the whole allocation */
    if (!p || !*p)
        return;
    sodium_free(*p);
    *p = NULL;
}

/* Strip one trailing newline; refuse empty, NUL-bearing or overlong results. */
static int finish(char *buf, size_t n, size_t *len, const char *from)
{
    if (n > 0 && buf[n - 1] == '\n') {
        n--;
        if (n > 0 && buf[n - 1] == '\r')
            n--;
    }
    buf[n] = 0;
    if (n == 0 || n > REFBUS_PASSPHRASE_MAX || memchr(buf, 0, n)) {
        log_error("%s: passphrase refused: %s", from,
                  n == 0                      ? "it is empty"
                  : n > REFBUS_PASSPHRASE_MAX ? "longer than 1024 bytes"
                                              : "it contains a NUL byte");
        return REFBUS_EINVAL;
    }
    *len = n;
    return 0;
}

static int from_file(char *buf, size_t *len, const char *path)
{
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? REFBUS_ENOTFOUND : REFBUS_EIO;
    for (;;) {
        ssize_t r = read(fd, buf + n, BUF - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return REFBUS_EIO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == BUF - 1) { /* longer than any passphrase we accept */
            close(fd);
            log_error("%s: passphrase refused: longer than 1024 bytes", path);
            return REFBUS_EINVAL;
        }
    }
    close(fd);
    return finish(buf, n, len, path);
}

/* One line from the terminal with echo off. */
static int ask(int tty, const char *prompt, char *buf, size_t *len)
{
    struct termios old, quiet;
    size_t n = 0;
    int rc = REFBUS_EIO, too_long = 0;
    if (tcgetattr(tty, &old) != 0)
        return REFBUS_EINVAL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    if (tcsetattr(tty, TCSAFLUSH, &quiet) != 0)
        return REFBUS_EIO;
    if (write(tty, prompt, strlen(prompt)) < 0)
        goto out;
    for (;;) {
        char c;
        ssize_t r = read(tty, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto out;
        if (r == 0 || c == '\n')
            break;
        if (n < BUF - 2)
            buf[n++] = c;
        else
            too_long = 1;
        c = 0;
    }
    if (too_long)
        log_error("terminal: passphrase refused: longer than 1024 bytes");
    rc = too_long ? REFBUS_EINVAL : finish(buf, n, len, "terminal");
out:
    tcsetattr(tty, TCSAFLUSH, &old);
    if (write(tty, "\n", 1) < 0) {
        /* nothing to do: the prompt line just stays open */
    }
    return rc;
}

static int from_tty(char *buf, size_t *len, const char *prompt, int confirm)
{
    char *again = NULL;
    size_t len2 = 0;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0) {
        log_error("no passphrase file given and no terminal to ask on");
        return REFBUS_EINVAL;
    }
    int rc = ask(tty, prompt ? prompt : "Passphrase: ", buf, len);
    if (rc == 0 && confirm) {
        if (!(again = sodium_malloc(BUF))) {
            rc = REFBUS_ENOMEM;
        } else if ((rc = ask(tty, "Again: ", again, &len2)) == 0 &&
                   (len2 != *len || sodium_memcmp(buf, again, len2) != 0)) {
            static const char msg[] = "the passphrases differ\n";
            if (write(tty, msg, sizeof msg - 1) < 0) {
                /* the error code says it too */
            }
            rc = REFBUS_EINVAL;
        }
    }
    sodium_free(again);
    close(tty);
    return rc;
}

int refbus_passphrase_get_env(char **out, size_t *len, const char *file, const char *env,
                              const char *prompt, int confirm)
{
    size_t n = 0;
    int rc;
    if (!out || !len)
        return REFBUS_EINVAL;
    char *buf = sodium_malloc(BUF);
    if (!buf)
        return REFBUS_ENOMEM;
    const char *envfile = env ? getenv(env) : NULL;
    if (file)
        rc = from_file(buf, &n, file);
    else if (envfile && *envfile)
        rc = from_file(buf, &n, envfile);
    else
        rc = from_tty(buf, &n, prompt, confirm);
    if (rc != 0) {
        sodium_free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

int refbus_passphrase_get(char **out, size_t *len, const char *file, const char *prompt,
                          int confirm)
{
    return refbus_passphrase_get_env(out, len, file, "REFBUS_PASSPHRASE_FILE", prompt, confirm);
}
