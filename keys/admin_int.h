/* Internal to keys/admin*.c: the open ADMIN_DIR and the helpers both halves use. */
#ifndef REFBUS_KEYS_ADMIN_INT_H
#define REFBUS_KEYS_ADMIN_INT_H

#include <limits.h>

#include "keys/admin.h"
#include "keys/dirdata.h"

struct refbus_admin {
    char dir[PATH_MAX];
    int lock_fd;
    refbus_dd dd; /* the working directory; dd.serial is the last signed serial */
};

/* dir + "/" + name into out (PATH_MAX). Errors: REFBUS_EINVAL (too long). */
int refbus_admin_path(char *out, const refbus_admin *a, const char *name) REFBUS_WUR;
/* Encode and validate the working state. Errors: those of refbus_dd_pack. */
int refbus_admin_pack_state(const refbus_admin *a, uint8_t **out, size_t *len) REFBUS_WUR;
/* Write state bytes atomically (0600). Errors: REFBUS_EIO, REFBUS_EINVAL. */
int refbus_admin_write_state(const refbus_admin *a, const uint8_t *bytes, size_t len) REFBUS_WUR;
/* Reload the working state from disk, dropping unsaved edits (after a failed change). */
void refbus_admin_revert(refbus_admin *a);
/* Save the edited state (pack + write) or revert it. Errors: those of pack and write. */
int refbus_admin_commit(refbus_admin *a) REFBUS_WUR;

#endif
