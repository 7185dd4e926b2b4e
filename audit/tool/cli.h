/* refbus-audit: what every subcommand shares — the dispatch entry type, exit codes, and small
 * helpers for keys, files and opening a trail. Each cmd_*.c parses its own arguments with getopt
 * and calls the audit library; none holds audit logic of its own. */
#ifndef REFBUS_AUDIT_CLI_H
#define REFBUS_AUDIT_CLI_H

#include <getopt.h>

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/reader.h"
#include "common/cli.h"
#define CLI_MAX_PKS 8
#define CLI_MAX_ANCHORS 64

typedef struct cli_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
    const char *synopsis;
    int reads_trail; /* runs in a guarded child (audit/guard.h): a hostile file cannot crash us */
} cli_cmd;

int cmd_verify(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_prove(int argc, char **argv);
int cmd_check_proof(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);

/* The one-line usage error "refbus-audit CMD: <msg>. Try 'refbus-audit CMD --help'." on
 * stderr; returns REFBUS_EXIT_USAGE. */
int cli_misuse(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for an option getopt_long refused (it returned `c`, '?' or ':'). Returns
 * REFBUS_EXIT_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts);
/* "refbus-audit CMD: <what>: <strerror(rc)>" on stderr; returns REFBUS_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *what, int rc);
/* A broker public key from 64 hex digits or @FILE (a file holding them). 0 or -1. */
int cli_pk(uint8_t out[crypto_sign_PUBLICKEYBYTES], const char *arg);
/* Add the broker's signing keys (every epoch not revoked) from a signed agency directory, after
 * checking it against the root key (64 hex digits or @FILE). Returns 0, or an exit code after a
 * message. *n is the number of keys in pks (room for CLI_MAX_PKS). */
int cli_directory_pks(const char *cmd, const char *dir_file, const char *root_pk,
                      uint8_t (*pks)[crypto_sign_PUBLICKEYBYTES], size_t *n);
/* A decimal number with no sign or junk. 0 or -1. */
int cli_u64(uint64_t *out, const char *arg);
/* The watch of the guarded child this command runs in (main.c sets it before running the
 * command; NULL when unguarded): cli_open opens through it. */
void cli_set_watch(refbus_audit_watch *w);
/* Open a trail read-only, reporting failures. 0 or REFBUS_EXIT_FAIL. Warns when opened unlocked,
 * and when the data file is damaged (truncated, bad meta pages): then what can be read is read,
 * and main.c makes the exit status 1 whatever the command found. */
int cli_open(const char *cmd, const char *path, refbus_audit_reader **r);
/* Read a whole file ("-": standard input), at most `max` bytes. 0 or a REFBUS_E* code. */
int cli_read(const char *path, uint8_t **out, size_t *len, size_t max);
/* A SignedCheckpoint from a file holding its bytes, or their hex (whitespace allowed), as
 * `refbus-audit checkpoint` writes them. 0 or a REFBUS_E* code. */
int cli_read_checkpoint(const char *path, uint8_t **out, size_t *len);

#endif
