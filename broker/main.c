/* refbus-broker: parse arguments, then run the broker's lifecycle (or talk to a running
 * broker's admin socket). Everything else lives in the broker library. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "broker/broker.h"
#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: refbus-broker init [-c FILE] [-d DIR]        create a new, empty store\n"
            "       refbus-broker [run] [-c FILE] [options]     run the broker (on an existing\n"
            "                                                   store: see init)\n"
            "       refbus-broker status [-c FILE | -a ENDPOINT]  print status as JSON\n"
            "       refbus-broker publish [-c FILE | -a ENDPOINT] DIRECTORY_FILE\n"
            "       refbus-broker checkpoint [-c FILE | -a ENDPOINT]\n"
            "       refbus-broker check [-c FILE | -a ENDPOINT] [--max-queue-age S]\n"
            "                     [--storage-warn PERCENT] [--max-checkpoint-age S]\n"
            "                                 one line; exit 0 healthy, 1 degraded, 2 failing\n"
            "       refbus-broker metrics [-c FILE | -a ENDPOINT]  Prometheus text format\n"
            "options (each also a key of the [broker] section of the config file):\n"
            "  -c, --config FILE          ini file\n"
            "  -d, --data-dir DIR         data directory (LMDB)\n"
            "  -b, --bind ENDPOINT        node endpoint, e.g. tcp://127.0.0.1:7700\n"
            "  -a, --admin ENDPOINT       admin socket (default ipc://DATA_DIR/admin.sock)\n"
            "  -k, --keystore FILE        the broker's key bundle\n"
            "  -p, --passphrase-file FILE keystore passphrase (or $REFBUS_PASSPHRASE_FILE)\n"
            "  -D, --directory FILE       signed agency directory\n"
            "  -o, --set KEY=VALUE        any other config key (map_size_mb, checkpoint_records,\n"
            "                             checkpoint_seconds, redeliver_seconds, max_batch, ...)\n"
            "  -l, --log-level LEVEL      error, warn, info, debug\n"
            "  -h, --help                 this help;  -V, --version  the version\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},   {"data-dir", required_argument, 0, 'd'},
        {"bind", required_argument, 0, 'b'},     {"admin", required_argument, 0, 'a'},
        {"keystore", required_argument, 0, 'k'}, {"passphrase-file", required_argument, 0, 'p'},
        {"directory", required_argument, 0, 'D'}, {"set", required_argument, 0, 'o'},
        {"log-level", required_argument, 0, 'l'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},        {"max-queue-age", required_argument, 0, 'Q'},
        {"storage-warn", required_argument, 0, 'W'},
        {"max-checkpoint-age", required_argument, 0, 'C'}, {0, 0, 0, 0}};
    refbus_broker_check_limits lim;
    refbus_broker_check_defaults(&lim);
    refbus_broker_config cfg;
    const char *sub = "run";
    char *sets[64];
    int nsets = 0, c, rc;
    /* before anything is read: no core file may ever hold the keys */
    if (refbus_harden_process() != 0)
        return 1;
    refbus_harden_heap_return(); /* what a cut connection buffered goes back to the system */
    refbus_broker_config_defaults(&cfg);
    if (argc > 1 && argv[1][0] != '-') {
        sub = argv[1];
        argv++;
        argc--;
    }
    struct { char key[32]; const char *val; } flags[64];
    int nflags = 0;
    const char *config = NULL;
    while ((c = getopt_long(argc, argv, "c:d:b:a:k:p:D:o:l:hV", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': key = "data_dir"; break;
        case 'b': key = "bind"; break;
        case 'a': key = "admin"; break;
        case 'k': key = "keystore"; break;
        case 'p': key = "passphrase_file"; break;
        case 'D': key = "directory"; break;
        case 'l': key = "log_level"; break;
        case 'o':
            if (nsets < 64)
                sets[nsets++] = optarg;
            break;
        case 'Q':
        case 'W':
        case 'C': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-' ||
                (c == 'W' && (v < 1 || v > 100))) {
                fprintf(stderr, "refbus-broker: bad number: %s\n", optarg);
                return 2;
            }
            if (c == 'Q')
                lim.max_queue_age_s = v;
            else if (c == 'W')
                lim.storage_warn_percent = (unsigned)v;
            else
                lim.max_checkpoint_age_s = v;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("refbus-broker 0.1.0\n"); return 0;
        default: usage(stderr); return 2;
        }
        if (key && nflags < 64) {
            snprintf(flags[nflags].key, sizeof flags[nflags].key, "%s", key);
            flags[nflags++].val = optarg;
        }
    }
    char err[600];
    if (config && refbus_broker_config_load(&cfg, config, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-broker: %s\n", err);
        return 2;
    }
    for (int i = 0; i < nflags; i++)
        if (refbus_broker_config_set(&cfg, flags[i].key, flags[i].val, err, sizeof err) != 0) {
            fprintf(stderr, "refbus-broker: %s\n", err);
            return 2;
        }
    for (int i = 0; i < nsets; i++) {
        char *eq = strchr(sets[i], '=');
        if (!eq) {
            fprintf(stderr, "refbus-broker: -o wants KEY=VALUE\n");
            return 2;
        }
        *eq = 0;
        if (refbus_broker_config_set(&cfg, sets[i], eq + 1, err, sizeof err) != 0) {
            fprintf(stderr, "refbus-broker: %s\n", err);
            return 2;
        }
    }
    if (sodium_init() < 0)
        return 1;
    if (!cfg.admin[0] && cfg.data_dir[0])
        snprintf(cfg.admin, sizeof cfg.admin, "ipc://%s/admin.sock", cfg.data_dir);

    if (strcmp(sub, "status") == 0 || strcmp(sub, "checkpoint") == 0) {
        if (optind != argc || !cfg.admin[0]) {
            usage(stderr);
            return 2;
        }
        return refbus_broker_admin_request(cfg.admin, sub, NULL, 0, 5000) == 0 ? 0 : 1;
    }
    if (strcmp(sub, "check") == 0 || strcmp(sub, "metrics") == 0) {
        if (optind != argc || !cfg.admin[0]) {
            usage(stderr);
            return 2;
        }
        if (strcmp(sub, "metrics") == 0) {
            char *text = NULL;
            size_t len = 0;
            if (refbus_broker_admin_fetch(cfg.admin, "metrics", &text, &len, 5000) != 0) {
                fprintf(stderr, "refbus-broker: no answer from %s (is the broker running?)\n",
                        cfg.admin);
                return 1;
            }
            fwrite(text, 1, len, stdout);
            free(text);
            return 0;
        }
        char why[1024];
        int level = refbus_broker_check(cfg.admin, &lim, why, sizeof why);
        static const char *names[] = {"OK", "DEGRADED", "FAILED"};
        printf("%s: %s\n", names[level], why);
        return level;
    }
    if (strcmp(sub, "publish") == 0) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        if (optind != argc - 1 || !cfg.admin[0]) {
            usage(stderr);
            return 2;
        }
        if ((rc = refbus_file_read(&bytes, &len, argv[optind], 16u << 20)) != 0) {
            fprintf(stderr, "refbus-broker: %s: %s\n", argv[optind], refbus_strerror(rc));
            return 1;
        }
        rc = refbus_broker_admin_request(cfg.admin, "publish", bytes, len, 10000);
        free(bytes);
        return rc == 0 ? 0 : 1;
    }
    if ((strcmp(sub, "run") != 0 && strcmp(sub, "init") != 0) || optind != argc) {
        usage(stderr);
        return 2;
    }

    refbus_log_init("refbus-broker", (enum refbus_log_level)cfg.log_level, cfg.syslog);
    if (strcmp(sub, "init") == 0) {
        if ((rc = refbus_broker_init(&cfg)) != 0) {
            log_error("init: %s", refbus_strerror(rc));
            return 1;
        }
        return 0;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    refbus_broker *b = NULL;
    if ((rc = refbus_broker_open(&b, &cfg, &stop_flag)) != 0) {
        log_error("cannot start: %s", refbus_strerror(rc));
        return 1;
    }
    rc = refbus_broker_run(b);
    refbus_broker_close(&b);
    if (rc != 0) {
        /* Exit non-zero with the reason: the supervisor restarts us, and a store that cannot
         * be opened again is then refused with its file named. */
        log_error("stopping: %s", refbus_strerror(rc));
        return 1;
    }
    return 0;
}
