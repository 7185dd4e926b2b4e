/* refbus-audit: the auditors' tool — verify a broker's audit trail, replay it, prove one record
 * and check such a proof, show statistics. main() only finds the subcommand in the table below
 * and hands it the rest of the command line; each cmd_*.c parses its own options. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include <signal.h>

#include "audit/guard.h"
#include "audit/tool/cli.h"
#include "common/log.h"

/* One line per subcommand; a new one is an entry here and its cmd_<name>.c. */
static const cli_cmd commands[] = {
    {"verify", cmd_verify,
     "verify DIR [--broker-pk HEX | --directory FILE --root-pk HEX] [--checkpoint FILE]\n"
     "              [--json]",
     1},
    {"replay", cmd_replay,
     "replay DIR [--agency ID] [--msg HEX] [--since T] [--until T] [--group]\n"
     "              [--format text|jsonl]",
     1},
    {"prove", cmd_prove, "prove DIR INDEX [-o FILE]  |  prove DIR --consistency M [-o FILE]", 1},
    {"check-proof", cmd_check_proof, "check-proof FILE [--broker-pk HEX] [--json]", 0},
    {"stats", cmd_stats, "stats DIR [--json]", 1},
    {"checkpoint", cmd_checkpoint, "checkpoint DIR [--at SIZE] [-o FILE] [--json]", 1},
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

typedef struct guarded {
    const cli_cmd *cmd;
    int argc;
    char **argv;
} guarded;

static int run_guarded(void *ctx, refbus_audit_watch *w)
{
    guarded *g = ctx;
    cli_set_watch(w);
    return g->cmd->run(g->argc, g->argv);
}

/* A command that reads a trail runs in a child (audit/guard.h): if LMDB crashes on a hostile
 * file, the auditor learns how far the reading got instead of seeing refbus-audit die. A
 * damaged file is a failure even when everything in it that could be read was fine. */
static int run_command(const cli_cmd *c, int argc, char **argv)
{
    guarded g = {c, argc, argv};
    refbus_audit_outcome o;
    if (!c->reads_trail)
        return c->run(argc, argv);
    if (refbus_audit_guard(run_guarded, &g, &o) != 0) {
        fprintf(stderr, "refbus-audit %s: cannot start the reader: %s\n", c->name, strerror(errno));
        return REFBUS_EXIT_FAIL;
    }
    const refbus_audit_watch *w = &o.seen;
    if (o.signal != 0 && o.signal != SIGSEGV && o.signal != SIGBUS && o.signal != SIGABRT &&
        o.signal != SIGFPE && o.signal != SIGILL) {
        /* not the file's doing (SIGPIPE from `| head`, SIGINT, SIGTERM): die the same way */
        signal(o.signal, SIG_DFL);
        raise(o.signal);
        return REFBUS_EXIT_FAIL;
    }
    if (o.signal == 0) {
        if (o.status == 0 && w->damaged) {
            fprintf(stderr,
                    "refbus-audit %s: %s is damaged (%s): what could be read is shown "
                    "above, but the file is not intact\n",
                    c->name, w->path, w->why);
            return REFBUS_EXIT_FAIL;
        }
        return o.status;
    }
    for (int i = 1; i < argc && strcmp(c->name, "verify") == 0; i++)
        if (strcmp(argv[i], "--json") == 0) { /* a program reading JSON gets JSON */
            json_t *j =
                json_pack("{s:b, s:s, s:I, s:I, s:I, s:s, s:s}", "ok", 0, "problem", "damaged",
                          "index", (json_int_t)w->read, "checked", (json_int_t)w->read, "covered",
                          (json_int_t)w->proven, "file", w->path, "detail", strsignal(o.signal));
            char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
            if (t)
                printf("%s\n", t);
            free(t);
            json_decref(j);
            break;
        }
    char proven[160] = "";
    if (w->proven)
        snprintf(proven, sizeof proven, "; records 0 to %llu match a verified signed checkpoint",
                 (unsigned long long)w->proven - 1);
    if (!w->opened)
        fprintf(stderr,
                "refbus-audit %s: %s: damaged: LMDB cannot open it (the reader died of "
                "signal %s)%s%s\n",
                c->name, w->path[0] ? w->path : "the trail", strsignal(o.signal),
                w->damaged ? ": " : "", w->damaged ? w->why : "");
    else if (w->read == 0)
        fprintf(stderr,
                "refbus-audit %s: %s: damaged: LMDB crashed (signal %s) before a "
                "single record could be read%s%s\n",
                c->name, w->path, strsignal(o.signal), w->damaged ? ": " : "",
                w->damaged ? w->why : "");
    else
        fprintf(stderr,
                "refbus-audit %s: %s: damaged at or after record %llu: reading it crashed LMDB "
                "(signal %s); records 0 to %llu were read%s\n",
                c->name, w->path, (unsigned long long)w->read, strsignal(o.signal),
                (unsigned long long)w->read - 1, proven);
    return REFBUS_EXIT_FAIL;
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
        return REFBUS_EXIT_FAIL;
    }
    while ((c = getopt_long(argc, argv, "+" REFBUS_CLI_OPTS "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        if (c == 'V')
            return refbus_cli_version("refbus-audit");
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
            return run_command(&commands[i], subc, sub);
        }
    return cli_misuse(NULL, "unknown command '%s'", argv[optind]);
}
