/* stderr/syslog logging. Lines carry a UTC timestamp and the level so a demo or a journal reads
 * the same. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "common/util.h"

static struct {
    const char *ident;
    enum refbus_log_level level;
    int use_syslog;
} cfg = {"refbus", REFBUS_LOG_INFO, 0};

void refbus_log_init(const char *ident, enum refbus_log_level level, int use_syslog)
{
    cfg.ident = ident;
    cfg.level = level;
    cfg.use_syslog = use_syslog;
    if (use_syslog)
        openlog(ident, LOG_PID, LOG_DAEMON);
}

int refbus_log_level_parse(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void refbus_log(enum refbus_log_level level, const char *fmt, ...)
{
    static const char *tags[] = {"error", "warn", "info", "debug"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (level > cfg.level)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (cfg.use_syslog) {
        vsyslog(prio[level], fmt, ap);
    } else {
        char ts[REFBUS_TIME_ISO_MAX];
        refbus_time_iso(ts, sizeof ts, refbus_now_ms(), 0);
        fprintf(stderr, "%s %s[%s] ", ts, cfg.ident, tags[level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}
