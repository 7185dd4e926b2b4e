/* Directories and keystores for people and programs: text for administrators' terminals, JSON
 * with stable field names for scripts (docs/man/refbus-keys.1 lists them). Keystores are shown
 * by their public half only; no secret is ever rendered. */
#ifndef REFBUS_KEYS_RENDER_H
#define REFBUS_KEYS_RENDER_H

#include <stdio.h>

#include "common/err.h"
#include "keys/directory.h"
#include "keys/keystore.h"

/* Errors: REFBUS_EIO (write failed). */
int refbus_directory_print(FILE *f, const refbus_directory *d) REFBUS_WUR;
/* *out: malloc'd, NUL-terminated JSON (one object, indented, with a final newline); the caller
 * frees it. Errors: REFBUS_ENOMEM. */
int refbus_directory_json(char **out, const refbus_directory *d) REFBUS_WUR;

int refbus_keystore_print(FILE *f, const refbus_keystore *ks) REFBUS_WUR;
int refbus_keystore_json(char **out, const refbus_keystore *ks) REFBUS_WUR;

#endif
