/* Passphrases for keystores: from a file (automation) or a no-echo prompt on the terminal,
 * never from the command line (visible in ps and shell history). The result lives in
 * sodium_malloc'd memory and is wiped when freed. */
#ifndef REFBUS_KEYS_PASSPHRASE_H
#define REFBUS_KEYS_PASSPHRASE_H

#include <stddef.h>

#include "common/err.h"

#define REFBUS_PASSPHRASE_MAX 1024u /* bytes */

/* From `file` if non-NULL, else the file named by $REFBUS_PASSPHRASE_FILE, else a no-echo
 * prompt on /dev/tty (asked twice when `confirm`). One trailing newline ("\n" or "\r\n") is
 * stripped. *out is sodium_malloc'd and NUL-terminated, *len its length; free it with
 * refbus_passphrase_free. Errors: REFBUS_ENOTFOUND (no such file), REFBUS_EIO, REFBUS_ENOMEM,
 * REFBUS_EINVAL (empty, longer than REFBUS_PASSPHRASE_MAX, contains a NUL, the two entries
 * differ, or no file and no terminal). */
int refbus_passphrase_get(char **out, size_t *len, const char *file, const char *prompt,
                          int confirm) REFBUS_WUR;

/* The same, consulting the environment variable `env` (NULL: none) instead of
 * REFBUS_PASSPHRASE_FILE: an agency bundle's passphrase must never silently fall back to the
 * root's passphrase file. */
int refbus_passphrase_get_env(char **out, size_t *len, const char *file, const char *env,
                              const char *prompt, int confirm) REFBUS_WUR;

/* Wipe and free; accepts NULL and *p == NULL; sets *p to NULL. */
void refbus_passphrase_free(char **p, size_t len);

#endif
