/* Reading a passphrase from a file or the terminal straight into sodium_malloc'd memory, one
 * byte at a time from the terminal so that no stdio buffer ever holds it. */
#include "keys/passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"

#define BUF (REFBUS_PASSPHRASE_MAX + 4) /* "\r\n", one byte to see it is too long, a NUL */

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
                  n == 0 ? "it is empty"
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
