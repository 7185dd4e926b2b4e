/* refbus-broker: the authenticated, durable store-and-forward broker. main() only hardens the
 * process, finds the subcommand in the table below (none: run) and hands it the rest of the
 * command line; each cmd_<name>.c parses its own options and calls the broker library. */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "broker/tool/cli.h"
#include "common/harden.h"

/* One line per subcommand; a new one is an entry here and its cmd_<name>.c. */
static const cli_cmd commands[] = {
    {"init", cmd_init, "init [-c FILE] [-d DIR]           create a new, empty store"},
    {"run", cmd_run, "[run] [-c FILE] [options]         run the broker on a store made by init"},
    {"status", cmd_status, "status [-c FILE | -a ENDPOINT]    print its state as JSON"},
    {"publish", cmd_publish,
     "publish [-c FILE | -a ENDPOINT] DIRECTORY_FILE\n"
     "                                    install a newly signed directory"},
    {"checkpoint", cmd_checkpoint,
     "checkpoint [-c FILE | -a ENDPOINT]\n"
     "                                    ask for a signed audit checkpoint now"},
    {"check", cmd_check,
     "check [-c FILE | -a ENDPOINT] [--max-queue-age S] [--storage-warn PERCENT]\n"
     "                                    health in one line; exit 0 ok, 1 degraded, 2 failing"},
    {"metrics", cmd_metrics, "metrics [-c FILE | -a ENDPOINT]   Prometheus text format"},
};

static void usage(FILE *f)
{
    fputs("usage: refbus-broker COMMAND [options] [ARGS]\n"
          "       refbus-broker [options]          (no command: run)\n"
          "       refbus-broker COMMAND --help | --help | --version\n\ncommands:\n",
          f);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %s\n", commands[i].synopsis);
    fputs("\nOptions are each also a key of the [broker] section of the config file (-c); see\n"
          "'refbus-broker run --help' and refbus-broker(1). Exit: 0 ok, 1 failure, 2 usage.\n",
          f);
}

int main(int argc, char **argv)
{
    /* before anything is read: no core file may ever hold the keys */
    if (refbus_harden_process() != 0)
        return REFBUS_EXIT_FAIL;
    refbus_harden_heap_return(); /* what a cut connection buffered goes back to the system */
    if (sodium_init() < 0) {
        fprintf(stderr, "refbus-broker: libsodium failed to initialise\n");
        return REFBUS_EXIT_FAIL;
    }
    const char *first = argc > 1 ? argv[1] : "";
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0 || strcmp(first, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0)
        return refbus_cli_version("refbus-broker");
    if (first[0] == '-' || argc == 1) {
        /* no command: run, every argument one of its options (`refbus-broker -c FILE`) */
        argv[0] = (char *)"run";
        return cmd_run(argc, argv);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(first, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return refbus_cli_misuse("refbus-broker", NULL, "unknown command '%s'", first);
}
