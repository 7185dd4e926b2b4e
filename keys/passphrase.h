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

/* The minimum strength of a passphrase that protects a new root key or bundle. */
#define REFBUS_PASSPHRASE_MIN_CHARS 12u /* characters (UTF-8 code points) */
#define REFBUS_PASSPHRASE_MIN_BITS 60u  /* estimated, see refbus_passphrase_strength */

/* A deliberately simple estimate of a passphrase's strength in bits: the number of characters
 * that add something (not a repeat of the one before, not the next or previous letter or digit
 * of a run such as "abc" or "321") times log2 of the alphabet its character classes span
 * (lower 26, upper 26, digits 10, ASCII symbols and space 33, any non-ASCII 100). It is meant
 * to refuse "a", "password1234" and "aaaaaaaaaaaaaaaa", not to rank good passphrases; four
 * random dictionary words or a generated passphrase pass easily. *chars gets the length in
 * characters (may be NULL). */
unsigned refbus_passphrase_strength(const char *p, size_t len, size_t *chars);

/* 0 when the passphrase is strong enough to protect a new key (at least
 * REFBUS_PASSPHRASE_MIN_CHARS characters and REFBUS_PASSPHRASE_MIN_BITS estimated bits), else
 * REFBUS_EWEAK with the reason in `why` (a sentence naming the rule that was not met). */
int refbus_passphrase_check(const char *p, size_t len, char *why, size_t why_len) REFBUS_WUR;

/* A new random passphrase: six groups of five characters from a 32-letter alphabet without
 * look-alikes (a-z, 2-9 minus l, o, 0, 1), joined by '-': 150 bits, easy to read aloud and to
 * type. *out is sodium_malloc'd and NUL-terminated (refbus_passphrase_free), *len its length.
 * Errors: REFBUS_ENOMEM. */
int refbus_passphrase_generate(char **out, size_t *len) REFBUS_WUR;

/* Wipe and free; accepts NULL and *p == NULL; sets *p to NULL. */
void refbus_passphrase_free(char **p, size_t len);

#endif
