/* Shared by the fuzz targets that need a real broker: a small network enrolled with the keys
 * library (root, broker, ngo.hots and cac.chiangmai, allow-all policy, signed directory) in a
 * private temporary directory, and the broker itself, its node endpoint on a free loopback
 * port: on a thread of the fuzzer's process (refbus_broker_open/_run, when the target links
 * refbus_broker), or as a child process running REFBUS_BROKER_BIN (for targets that link
 * refbus_nodes, whose store symbols clash with the broker's). Setup failures abort. */
#ifndef REFBUS_FUZZ_NET_H
#define REFBUS_FUZZ_NET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <sodium.h>

#include "broker/broker.h"
#include "common/log.h"
#include "fuzz_util.h"
#include "keys/admin.h"

#define FUZZ_PASS "fuzz passphrase: long, random enough for any strength rule 7f3a9c"

typedef struct fuzz_net {
    char dir[300];       /* the temporary directory */
    char data[400];      /* the broker's data directory */
    char admin_ep[500];  /* ipc://DATA/admin.sock */
    char node_ep[64];    /* tcp://127.0.0.1:PORT */
    char directory[400]; /* the signed directory file */
    char bundle_ngo[400], bundle_cac[400], bundle_broker[400];
    char pass_file[400];
#ifndef REFBUS_BROKER_BIN
    refbus_broker_config cfg;
    refbus_broker *broker;
#endif
} fuzz_net;

static void fuzz_must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "fuzz setup: %s: %s\n", what, refbus_strerror(rc));
        abort();
    }
}

/* A loopback port nobody listens on right now. */
static int fuzz_free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0)
        abort();
    close(s);
    return ntohs(a.sin_port);
}

/* The keys and the signed directory. */
static void fuzz_net_keys(fuzz_net *n, const char *what)
{
    char adm[400], *pf = n->pass_file;
    refbus_kdf kdf = {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
    refbus_admin *a = NULL;
    memset(n, 0, sizeof *n);
    if (sodium_init() < 0)
        abort();
    snprintf(n->dir, sizeof n->dir, "%s", fuzz_tmpdir(what));
    snprintf(adm, sizeof adm, "%s/admin", n->dir);
    snprintf(n->pass_file, sizeof n->pass_file, "%s/pass", n->dir);
    snprintf(n->directory, sizeof n->directory, "%s/directory.bin", n->dir);
    snprintf(n->bundle_broker, sizeof n->bundle_broker, "%s/broker.bundle", n->dir);
    snprintf(n->bundle_ngo, sizeof n->bundle_ngo, "%s/ngo.bundle", n->dir);
    snprintf(n->bundle_cac, sizeof n->bundle_cac, "%s/cac.bundle", n->dir);
    snprintf(n->data, sizeof n->data, "%s/data", n->dir);
    snprintf(n->admin_ep, sizeof n->admin_ep, "ipc://%s/admin.sock", n->data);
    snprintf(n->node_ep, sizeof n->node_ep, "tcp://127.0.0.1:%d", fuzz_free_port());
    const char *ep[] = {n->node_ep};
    FILE *f = fopen(pf, "w");
    if (!f || fputs(FUZZ_PASS "\n", f) < 0 || fclose(f) != 0 || mkdir(n->data, 0700) != 0)
        abort();
    fuzz_must(refbus_admin_init(adm, FUZZ_PASS, strlen(FUZZ_PASS), &kdf, NULL), "admin init");
    fuzz_must(refbus_admin_open(&a, adm), "admin open");
    fuzz_must(refbus_admin_broker_add(a, "broker.cm", ep, 1, n->bundle_broker, FUZZ_PASS,
                                      strlen(FUZZ_PASS), &kdf),
              "broker add");
    fuzz_must(refbus_admin_agency_add(a, "ngo.hots", "Heart of the Street", REFBUS_AGENCY_NGO,
                                      n->bundle_ngo, FUZZ_PASS, strlen(FUZZ_PASS), &kdf),
              "agency add");
    fuzz_must(refbus_admin_agency_add(a, "cac.chiangmai", "CAC", REFBUS_AGENCY_CAC, n->bundle_cac,
                                      FUZZ_PASS, strlen(FUZZ_PASS), &kdf),
              "agency add");
    fuzz_must(refbus_admin_policy(a, "*", "*", REFBUS_POLICY_ALLOW), "policy");
    fuzz_must(refbus_admin_sign(a, FUZZ_PASS, strlen(FUZZ_PASS), n->directory, NULL), "sign");
    refbus_admin_close(&a);

    refbus_log_init("fuzz", REFBUS_LOG_ERROR, 0);
}

#ifndef REFBUS_BROKER_BIN
static volatile sig_atomic_t fuzz_net_stop;

static void *fuzz_broker_thread(void *arg)
{
    int rc = refbus_broker_run(((fuzz_net *)arg)->broker);
    fprintf(stderr, "fuzz: the broker stopped: %s\n", refbus_strerror(rc));
    abort();
}

static void fuzz_set(fuzz_net *n, const char *k, const char *v)
{
    char err[300];
    if (refbus_broker_config_set(&n->cfg, k, v, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz setup: broker option refused: %s\n", err);
        abort();
    }
}

/* The network and the broker on a thread of this process. */
static void fuzz_net_start(fuzz_net *n, const char *what)
{
    fuzz_net_keys(n, what);
    refbus_broker_config_defaults(&n->cfg);
    fuzz_set(n, "data_dir", n->data);
    fuzz_set(n, "bind", n->node_ep);
    fuzz_set(n, "keystore", n->bundle_broker);
    fuzz_set(n, "passphrase_file", n->pass_file);
    fuzz_set(n, "directory", n->directory);
    fuzz_set(n, "log_level", "error");
    fuzz_set(n, "map_size_mb", "256");
    /* a store is created only by an explicit init; open never makes one */
    fuzz_must(refbus_broker_init(&n->cfg), "broker init");
    fuzz_must(refbus_broker_open(&n->broker, &n->cfg, &fuzz_net_stop), "broker open");
    pthread_t th;
    if (pthread_create(&th, NULL, fuzz_broker_thread, n) != 0)
        abort();
    pthread_detach(th);
}
#else
static pid_t fuzz_broker_pid;

static void fuzz_broker_kill(void) /* before the temporary directory goes (atexit: LIFO) */
{
    if (fuzz_broker_pid > 0) {
        kill(fuzz_broker_pid, SIGKILL);
        waitpid(fuzz_broker_pid, NULL, 0);
    }
}

/* The network and the broker as a child process (killed when this process dies). */
static void fuzz_net_start(fuzz_net *n, const char *what)
{
    char conf[400];
    fuzz_net_keys(n, what);
    snprintf(conf, sizeof conf, "%s/broker.conf", n->dir);
    FILE *f = fopen(conf, "w");
    if (!f ||
        fprintf(f,
                "[broker]\ndata_dir = %s\nbind = %s\nkeystore = %s\n"
                "passphrase_file = %s\ndirectory = %s\nlog_level = error\n"
                "map_size_mb = 256\n",
                n->data, n->node_ep, n->bundle_broker, n->pass_file, n->directory) < 0 ||
        fclose(f) != 0)
        abort();
    /* a store is created only by an explicit init; run never makes one */
    pid_t ipid = fork();
    int ist = 0;
    if (ipid < 0)
        abort();
    if (ipid == 0) {
        execl(REFBUS_BROKER_BIN, "refbus-broker", "init", "-c", conf, (char *)NULL);
        _exit(127);
    }
    if (waitpid(ipid, &ist, 0) != ipid || !WIFEXITED(ist) || WEXITSTATUS(ist) != 0) {
        fprintf(stderr, "fuzz setup: refbus-broker init failed\n");
        abort();
    }
    pid_t parent = getpid(), pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        execl(REFBUS_BROKER_BIN, "refbus-broker", "run", "-c", conf, (char *)NULL);
        _exit(127);
    }
    fuzz_broker_pid = pid;
    atexit(fuzz_broker_kill);
}
#endif

#endif
