/* stderr/syslog logging. On a terminal or in a file, lines carry a UTC timestamp and the level;
 * when stderr is the systemd journal (JOURNAL_STREAM names it) they carry the journal's priority
 * prefix instead ("<4>warn: ...", sd-daemon(3)) and no timestamp, which the journal adds. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common/util.h"

static struct {
    const char *ident;
    enum refbus_log_level level;
    int use_syslog;
    int journal; /* stderr is the journal: priority prefixes, no timestamps */
} cfg = {"refbus", REFBUS_LOG_INFO, 0, 0};

/* systemd sets JOURNAL_STREAM=DEV:INO for the journal stream it gave us as stdout/stderr. It is
 * inherited by children and survives redirection, so it counts only when stderr is that very
 * stream (systemd.exec(5)). */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    char tail;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void refbus_log_init(const char *ident, enum refbus_log_level level, int use_syslog)
{
    cfg.ident = ident;
    cfg.level = level;
    cfg.use_syslog = use_syslog;
    cfg.journal = stderr_is_journal();
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
    } else if (cfg.journal) {
        fprintf(stderr, "<%d>%s: ", prio[level], tags[level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    } else {
        char ts[REFBUS_TIME_ISO_MAX];
        refbus_time_iso(ts, sizeof ts, refbus_now_ms(), 0);
        fprintf(stderr, "%s %s[%s] ", ts, cfg.ident, tags[level]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}
