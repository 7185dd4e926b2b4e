/* What every refbus program's command line shares (STYLE.md rules 9 and 16): the exit codes, the
 * version from the build, and how a usage error reads — one line on stderr naming the problem
 * and the help to read, never the whole help. Each program keeps its own dispatch table and
 * parses each command's options with getopt_long; these functions only word the outcome. */
#ifndef REFBUS_COMMON_CLI_H
#define REFBUS_COMMON_CLI_H

#include <getopt.h>

#define REFBUS_EXIT_FAIL 1  /* a runtime or verification failure */
#define REFBUS_EXIT_USAGE 2 /* the command line was wrong */

/* Start every getopt_long optstring with this (after a leading "+" where one is used): getopt
 * then prints nothing itself and returns ':' for a missing argument, so that
 * refbus_cli_bad_option can say what was wrong in our one line. */
#define REFBUS_CLI_OPTS ":"

/* The version of this build (CMake's project(refbus VERSION ...)), e.g. "0.1.0". Static. */
const char *refbus_version(void);

/* `--version`: "PROG VERSION" on stdout. Returns 0, or REFBUS_EXIT_FAIL when stdout fails. */
int refbus_cli_version(const char *prog);

/* A usage error: one line on stderr,
 *     PROG[ CMD]: MESSAGE. Try 'PROG[ CMD] --help'.
 * `cmd` NULL for the program's own options. Returns REFBUS_EXIT_USAGE. */
int refbus_cli_misuse(const char *prog, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The usage error for what getopt_long just refused: `c` is what it returned ('?' or ':'),
 * argv and longopts what it was given (longopts may be NULL). Names the option: unknown,
 * ambiguous, needing an argument, or taking none. Returns REFBUS_EXIT_USAGE. */
int refbus_cli_bad_option(const char *prog, const char *cmd, int c, char **argv,
                          const struct option *longopts);

#endif
