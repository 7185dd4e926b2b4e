/* refbus-audit: the auditors' tool — verify a broker's audit trail, replay it, prove one record
 * and check such a proof, show statistics. main() only finds the subcommand in the table below
 * and hands it the rest of the command line; each cmd_*.c parses its own options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit/tool/cli.h"
#include "common/log.h"

#ifndef REFBUS_VERSION
#define REFBUS_VERSION "0.1.0"
#endif

static const cli_cmd commands[] = {
    {"verify", cmd_verify,
     "verify DIR [--broker-pk HEX | --directory FILE --root-pk HEX] [--checkpoint FILE]\n"
     "              [--json]"},
    {"replay", cmd_replay,
     "replay DIR [--agency ID] [--msg HEX] [--since T] [--until T] [--group]\n"
     "              [--format text|jsonl]"},
    {"prove", cmd_prove, "prove DIR INDEX [-o FILE]  |  prove DIR --consistency M [-o FILE]"},
    {"check-proof", cmd_check_proof, "check-proof FILE [--broker-pk HEX] [--json]"},
    {"stats", cmd_stats, "stats DIR [--json]"},
    {"checkpoint", cmd_checkpoint, "checkpoint DIR [--at SIZE] [-o FILE] [--json]"},
};

static void usage(FILE *f)
{
    fputs("usage: refbus-audit COMMAND ARGS...\n"
          "       refbus-audit COMMAND --help | --help | --version\n\ncommands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fputs("\nDIR: a broker data directory (or an mdb_copy of it, or the data file itself),\n"
          "opened read-only. See refbus-audit(1). Exit: 0 ok, 1 failure, 2 usage.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    int c;
    refbus_log_init("refbus-audit", REFBUS_LOG_WARN, 0);
    if (sodium_init() < 0) {
        fprintf(stderr, "refbus-audit: libsodium failed to initialise\n");
        return EXIT_FAIL;
    }
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V') {
            printf("refbus-audit %s\n", REFBUS_VERSION);
            return 0;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    if (optind >= argc) {
        fprintf(stderr, "refbus-audit: no command given\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[optind], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[optind], commands[i].name) == 0) {
            char **sub = argv + optind;
            int subc = argc - optind;
            optind = 0; /* glibc: restart getopt for the command's own arguments */
            return commands[i].run(subc, sub);
        }
    fprintf(stderr, "refbus-audit: unknown command '%s'\n", argv[optind]);
    usage(stderr);
    return EXIT_USAGE;
}
