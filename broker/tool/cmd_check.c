/* refbus-broker check: the running broker's health for monitoring, from its admin socket: one
 * line and the exit status 0 healthy, 1 degraded, 2 failing (refbus_broker_check). */
#include <stdio.h>
#include <stdlib.h>

#include "broker/tool/cli.h"

static const char usage_text[] =
    "usage: refbus-broker check [-c FILE | -d DIR | -a ENDPOINT] [--max-queue-age S]\n"
    "                           [--storage-warn PERCENT] [--max-checkpoint-age S]\n"
    "  Prints one line, OK:, DEGRADED: or FAILED: with every reason found, and exits 0, 1 or 2\n"
    "  (2 also for a usage error). Failing: no answer (not running), the store is full.\n"
    "  Degraded: an agency's oldest queued referral is older than --max-queue-age seconds\n"
    "  (default 3600), the store is fuller than --storage-warn percent of its map (80), no\n"
    "  checkpoint was signed for --max-checkpoint-age seconds (600) while the trail "
    "grew.\n" CLI_ADMIN_HELP;

enum { OPT_QUEUE_AGE = 256, OPT_STORAGE_WARN, OPT_CHECKPOINT_AGE };

/* A decimal number from min to max, or a usage error naming the option. */
static int number(const char *opt, const char *arg, unsigned long long min, unsigned long long max,
                  unsigned long long *out)
{
    char *end = NULL;
    *out = arg[0] && arg[0] != '-' ? strtoull(arg, &end, 10) : 0;
    if (!end || *end || end == arg || *out < min || *out > max)
        return cli_misuse("check", "%s: a number from %llu to %llu, got '%s'", opt, min, max, arg);
    return 0;
}

int cmd_check(int argc, char **argv)
{
    static const struct option opts[] = {CLI_ADMIN_OPTS,
                                         {"max-queue-age", required_argument, NULL, OPT_QUEUE_AGE},
                                         {"storage-warn", required_argument, NULL,
                                          OPT_STORAGE_WARN},
                                         {"max-checkpoint-age", required_argument, NULL,
                                          OPT_CHECKPOINT_AGE},
                                         {NULL, 0, NULL, 0}};
    static const char *const names[] = {"OK", "DEGRADED", "FAILED"};
    refbus_broker_config cfg;
    refbus_broker_check_limits lim;
    cli_conf cc = {0};
    unsigned long long v = 0;
    int c, rc;
    refbus_broker_check_defaults(&lim);
    while ((c = getopt_long(argc, argv, CLI_ADMIN_SHORT, opts, NULL)) != -1) {
        if (c == OPT_QUEUE_AGE || c == OPT_CHECKPOINT_AGE) {
            if ((rc = number(c == OPT_QUEUE_AGE ? "--max-queue-age" : "--max-checkpoint-age",
                             optarg, 0, 100000000ull, &v)) != 0)
                return rc;
            *(c == OPT_QUEUE_AGE ? &lim.max_queue_age_s : &lim.max_checkpoint_age_s) = v;
        } else if (c == OPT_STORAGE_WARN) {
            if ((rc = number("--storage-warn", optarg, 1, 100, &v)) != 0)
                return rc;
            lim.storage_warn_percent = (unsigned)v;
        } else if (!cli_conf_opt(&cc, c, usage_text)) {
            return cli_bad_option("check", c, argv, opts);
        }
    }
    if (optind != argc)
        return cli_misuse("check", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_conf_apply("check", &cc, &cfg, 1)) != 0)
        return rc;
    char why[1024];
    int level = refbus_broker_check(cfg.admin, &lim, why, sizeof why);
    printf("%s: %s\n", names[level], why);
    return level;
}
