/* Logging to stderr or syslog with levels. The level and sink are set once at start-up by a
 * daemon's main() (the one piece of process-wide state besides the signal flag). */
#ifndef REFBUS_COMMON_LOG_H
#define REFBUS_COMMON_LOG_H

enum refbus_log_level { REFBUS_LOG_ERROR = 0, REFBUS_LOG_WARN, REFBUS_LOG_INFO, REFBUS_LOG_DEBUG };

/* `ident` names the program; `use_syslog` sends to syslog instead of stderr. Also looks once
 * whether stderr is the systemd journal (JOURNAL_STREAM): then lines are "<PRIO>LEVEL: text" with
 * the syslog priority (3 error, 4 warn, 6 info, 7 debug) and without a timestamp; otherwise
 * "TIMESTAMP IDENT[LEVEL] text". */
void refbus_log_init(const char *ident, enum refbus_log_level level, int use_syslog);
/* Parse "error", "warn", "info", "debug". Returns -1 when unknown. */
int refbus_log_level_parse(const char *s);
void refbus_log(enum refbus_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) refbus_log(REFBUS_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) refbus_log(REFBUS_LOG_WARN, __VA_ARGS__)
#define log_info(...) refbus_log(REFBUS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) refbus_log(REFBUS_LOG_DEBUG, __VA_ARGS__)

#endif
