/* The command-line conventions every refbus program shares (see cli.h). REFBUS_VERSION comes
 * from CMake (common/CMakeLists.txt), the one place the version is written. */
#include "common/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef REFBUS_VERSION
#error "REFBUS_VERSION must come from CMake's project() (common/CMakeLists.txt)"
#endif

const char *refbus_version(void)
{
    return REFBUS_VERSION;
}

int refbus_cli_version(const char *prog)
{
    printf("%s %s\n", prog, REFBUS_VERSION);
    return fflush(stdout) == 0 ? 0 : REFBUS_EXIT_FAIL;
}

__attribute__((format(printf, 3, 0))) static void vmisuse(const char *prog, const char *cmd,
                                                          const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* one line, whatever the message holds (an argument echoed back may have newlines) */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "%s%s%s: %s. Try '%s%s%s --help'.\n", prog, cmd ? " " : "", cmd ? cmd : "", msg,
            prog, cmd ? " " : "", cmd ? cmd : "");
}

int refbus_cli_misuse(const char *prog, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmisuse(prog, cmd, fmt, ap);
    va_end(ap);
    return REFBUS_EXIT_USAGE;
}

/* How many long options `name` (without "--" and "=...") is a prefix of; 1 when it names one
 * exactly, as getopt_long counts. */
static int matches(const struct option *longopts, const char *name, size_t len)
{
    int n = 0;
    for (const struct option *o = longopts; o && o->name; o++) {
        if (strncmp(o->name, name, len) != 0)
            continue;
        if (strlen(o->name) == len)
            return 1;
        n++;
    }
    return n;
}

int refbus_cli_bad_option(const char *prog, const char *cmd, int c, char **argv,
                          const struct option *longopts)
{
    /* After a long option, getopt_long has moved optind past the element that held it and set
     * optopt to 0 (unknown, ambiguous) or to the option's value; after a short one optopt is
     * the letter (and argv[optind - 1] may be an earlier element). */
    const char *arg = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
    if (strncmp(arg, "--", 2) == 0 && arg[2]) {
        const char *name = arg + 2;
        int len = (int)strcspn(name, "=");
        if (c == ':')
            return refbus_cli_misuse(prog, cmd, "option '--%.*s' needs an argument", len, name);
        if (optopt == 0 && matches(longopts, name, (size_t)len) > 1)
            return refbus_cli_misuse(prog, cmd, "ambiguous option '--%.*s'", len, name);
        if (optopt == 0)
            return refbus_cli_misuse(prog, cmd, "unknown option '--%.*s'", len, name);
        if (name[len] == '=')
            return refbus_cli_misuse(prog, cmd, "option '--%.*s' takes no argument", len, name);
    }
    if (c == ':')
        return refbus_cli_misuse(prog, cmd, "option '-%c' needs an argument", optopt);
    if (optopt > ' ' && optopt < 127)
        return refbus_cli_misuse(prog, cmd, "unknown option '-%c'", optopt);
    return refbus_cli_misuse(prog, cmd, "unknown option '%s'", arg);
}
