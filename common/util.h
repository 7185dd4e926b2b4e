/* Small helpers every part needs: clocks, hex, whole-file reads and atomic, exclusive writes. */
#ifndef REFBUS_COMMON_UTIL_H
#define REFBUS_COMMON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* Wall-clock Unix time in milliseconds. */
uint64_t refbus_now_ms(void);
/* Monotonic milliseconds, for timeouts. */
uint64_t refbus_mono_ms(void);

/* Room for any refbus_time_iso() text. */
#define REFBUS_TIME_ISO_MAX 40
/* The one time format, ISO-8601 in UTC: "2026-03-14T09:30:00Z", or with `with_ms`
 * "2026-03-14T09:30:00.250Z", for Unix time `ms` (milliseconds) into `out` (`cap` bytes,
 * REFBUS_TIME_ISO_MAX is always enough; always NUL-terminated when cap > 0). A time gmtime
 * cannot convert is written "@MS". */
void refbus_time_iso(char *out, size_t cap, uint64_t ms, int with_ms);

/* The one big-endian codec (network order): LMDB keys that sort in numeric order, the length
 * and counter fields of signed inputs and key files. */
void refbus_put_u64be(uint8_t out[8], uint64_t v);
uint64_t refbus_get_u64be(const uint8_t in[8]);
void refbus_put_u32be(uint8_t out[4], uint32_t v);
uint32_t refbus_get_u32be(const uint8_t in[4]);
/* Little-endian 32 bits: the envelope's padded-length prefix (docs/PROTOCOL.md) and the
 * broker's pending-recipient counter, formats fixed before the rule above. */
void refbus_put_u32le(uint8_t out[4], uint32_t v);
uint32_t refbus_get_u32le(const uint8_t in[4]);

/* Lower-case hex of `len` bytes into `out` (2*len+1 bytes, NUL-terminated). */
void refbus_hex(char *out, const uint8_t *in, size_t len);
/* Parse exactly `len` bytes of hex. Returns 0 or REFBUS_EINVAL. */
int refbus_unhex(uint8_t *out, size_t len, const char *hex) REFBUS_WUR;

/* Read a whole file into malloc'd memory (caller frees; a NUL is appended but not counted).
 * At most `max` bytes. Errors: REFBUS_ENOTFOUND, REFBUS_EIO, REFBUS_ETOOLARGE, REFBUS_ENOMEM. */
int refbus_file_read(uint8_t **out, size_t *out_len, const char *path, size_t max) REFBUS_WUR;

/* Write `len` bytes to `path` atomically: a temporary file in the same directory created with
 * O_EXCL and `mode`, written, fsync'd, then renamed over `path` (or, when `exclusive`, linked
 * so that an existing `path` is never replaced), and the directory fsync'd. A crash leaves
 * either the old file or the new one, never half of one.
 * Errors: REFBUS_EEXIST (exclusive and the file exists), REFBUS_EIO. */
int refbus_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             int exclusive) REFBUS_WUR;

/* Create a directory (and parents) with `mode` if missing. Errors: REFBUS_EIO. */
int refbus_mkdirs(const char *path, mode_t mode) REFBUS_WUR;

#endif
