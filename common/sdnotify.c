/* sd_notify(3) for the daemons: readiness, status, stopping and the watchdog (sdnotify.h). A
 * thin layer over libsystemd so that the daemons' loops carry one line each, and the wording of
 * the messages lives here. */
#include "common/sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "common/log.h"

/* Send "<head>STATUS=<text>", the text on one line. */
static void notify(const char *head, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void notify(const char *head, const char *fmt, va_list ap)
{
    char text[256];
    vsnprintf(text, sizeof text, fmt, ap);
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = ' ';
    int rc = sd_notifyf(0, "%sSTATUS=%s", head, text);
    if (rc < 0)
        log_debug("sd_notify %s: %s", head[0] ? head : "STATUS", strerror(-rc));
}

void refbus_sd_ready(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    notify("READY=1\n", fmt, ap);
    va_end(ap);
}

void refbus_sd_status(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    notify("", fmt, ap);
    va_end(ap);
}

void refbus_sd_stopping(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    notify("STOPPING=1\n", fmt, ap);
    va_end(ap);
}

void refbus_sd_watchdog_init(refbus_sd_watchdog *w)
{
    uint64_t usec = 0;
    w->interval_ms = 0;
    w->last_ms = 0;
    /* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set) is this process */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        w->interval_ms = usec / 2000; /* half the timeout, in ms */
        if (w->interval_ms == 0)
            w->interval_ms = 1;
        log_info("systemd watchdog: %llu ms, pinged every %llu ms",
                 (unsigned long long)(usec / 1000), (unsigned long long)w->interval_ms);
    }
}

uint64_t refbus_sd_watchdog_kick(refbus_sd_watchdog *w, uint64_t now_ms)
{
    if (w->interval_ms == 0)
        return UINT64_MAX;
    if (w->last_ms == 0 || now_ms - w->last_ms >= w->interval_ms) {
        int rc = sd_notify(0, "WATCHDOG=1");
        if (rc < 0)
            log_debug("sd_notify WATCHDOG=1: %s", strerror(-rc));
        w->last_ms = now_ms ? now_ms : 1;
        return w->interval_ms;
    }
    return w->interval_ms - (now_ms - w->last_ms);
}
