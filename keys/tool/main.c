/* refbus-keys: the administrators' tool — root key, agency enrolment, rotation, revocation,
 * routing policy, and the signed directory. main() only takes the options common to every
 * command, finds the subcommand in the table below and hands it the rest of the command line;
 * each cmd_<name>.c parses its own options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/harden.h"
#include "common/log.h"
#include "keys/tool/cli.h"

/* One line per subcommand; a new one is an entry here and its cmd_<name>.c. */
static const cli_cmd commands[] = {
    {"init", cmd_init, "init                 create the root key and the empty directory"},
    {"pubkey", cmd_pubkey, "pubkey               print the root public key (hex)"},
    {"agency", cmd_agency, "agency add ID ...    enrol an agency, write its key bundle"},
    {"broker", cmd_broker, "broker add ID ...    enrol the broker, write its key bundle"},
    {"rotate", cmd_rotate, "rotate ID ...        new key epoch, new bundle keeping the old"},
    {"revoke", cmd_revoke, "revoke ID ...        revoke a key epoch (or all) with a reason"},
    {"policy", cmd_policy, "policy allow|deny|remove FROM TO   routing policy"},
    {"reanchor", cmd_reanchor,
     "reanchor --size N --root HEX --reason TEXT   nodes' audit anchor after a restore"},
    {"sign", cmd_sign, "sign [--out FILE]    sign the next directory (serial + 1)"},
    {"status", cmd_status, "status [--json]      show the working (unsigned) directory"},
    {"show", cmd_show, "show [FILE] [--json] print a signed directory"},
    {"verify", cmd_verify, "verify FILE ...      check a directory against the root key"},
    {"inspect", cmd_inspect, "inspect BUNDLE       show the public half of a key bundle"},
    {"passphrase", cmd_passphrase, "passphrase [--out F] make a strong random passphrase"},
};

static void usage(FILE *f)
{
    fputs("usage: refbus-keys [-d ADMIN_DIR] [--passphrase-file F] [--kdf COST] COMMAND ...\n"
          "       refbus-keys COMMAND --help | --help | --version\n\ncommands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fputs("\nADMIN_DIR: -d, or $REFBUS_ADMIN_DIR. Passphrases come from files or a prompt, never\n"
          "the command line; a new one must have 12 characters and about 60 bits (see\n"
          "'passphrase'; --allow-weak-passphrase for tests). See refbus-keys(1).\n"
          "Exit: 0 ok, 1 failure, 2 usage.\n",
          f);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    cli_ctx ctx = {0};
    int c;
    refbus_log_init("refbus-keys", REFBUS_LOG_WARN, 0);
    if (refbus_harden_process() != 0) /* the root key must never land in a core file */
        return 1;
    if (sodium_init() < 0) {
        fprintf(stderr, "refbus-keys: libsodium failed to initialise\n");
        return 1;
    }
    while ((c = getopt_long(argc, argv, "+" COMMON_SHORT, opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V')
            return refbus_cli_version("refbus-keys");
        if (!cli_common_opt(&ctx, c, ""))
            return cli_bad_option(NULL, c, argv, opts);
    }
    if (optind >= argc)
        return cli_misuse(NULL, "no command given");
    if (strcmp(argv[optind], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[optind], commands[i].name) == 0) {
            char **sub = argv + optind;
            int subc = argc - optind;
            optind = 0; /* glibc: restart getopt for the command's own arguments */
            ctx.cmd = commands[i].name;
            return commands[i].run(&ctx, subc, sub);
        }
    return cli_misuse(NULL, "unknown command '%s'", argv[optind]);
}
