/* Telling systemd how a daemon is doing (sd_notify(3), libsystemd): READY=1 once it serves,
 * STOPPING=1 when it stops, a one-line STATUS=, and the WATCHDOG=1 pings that WatchdogSec= asks
 * for. Outside systemd (no NOTIFY_SOCKET, no WATCHDOG_USEC) every call does nothing, so the
 * daemons call them unconditionally. */
#ifndef REFBUS_COMMON_SDNOTIFY_H
#define REFBUS_COMMON_SDNOTIFY_H

#include <stdint.h>

/* No return values: a notification that cannot be sent is logged at debug level and otherwise
 * ignored. Acting on it is systemd's job (a missing READY=1 or watchdog ping times the unit out);
 * a daemon that stopped serving because its supervisor is gone would lose more than it saves. */

/* READY=1 with STATUS=<the formatted text>: call once the daemon accepts work (sockets bound). */
void refbus_sd_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STATUS=<the formatted text> (shown by `systemctl status`). A newline becomes a space. */
void refbus_sd_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1 with STATUS=<the formatted text>: call when a stop begins. */
void refbus_sd_stopping(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog of one daemon's main loop. interval_ms is half of WatchdogSec= (systemd's advice:
 * ping at half the timeout), 0 when no watchdog is set for this process. */
typedef struct refbus_sd_watchdog {
    uint64_t interval_ms;
    uint64_t last_ms; /* monotonic ms of the last ping, 0 before the first */
} refbus_sd_watchdog;

/* Read WATCHDOG_USEC (and WATCHDOG_PID, which must be ours) through sd_watchdog_enabled(). */
void refbus_sd_watchdog_init(refbus_sd_watchdog *w);
/* Call on every pass of the main loop with the monotonic time: sends WATCHDOG=1 when the
 * interval has passed since the last ping. Returns the ms until the next ping is due (the
 * longest the loop may sleep), UINT64_MAX when there is no watchdog. */
uint64_t refbus_sd_watchdog_kick(refbus_sd_watchdog *w, uint64_t now_ms);

#endif
