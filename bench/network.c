/* Builds and starts the refbus network for refbus-bench the way an administrator does
 * (docs/ADMIN-GUIDE.md, deploy/demo.sh): refbus-keys init / broker add / agency add / policy /
 * sign, `refbus-broker init` and `run`, `refbus-node init` and `run` with a config each. The
 * configs keep every default that matters for speed (node send_window, credit, broker
 * max_batch, full sync); only logging is at "info" so that debug lines cost nothing. */
#include "bench/network.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "nodes/client/refbus_node.h"

#define FAIL(...)                           \
    do {                                    \
        snprintf(err, errlen, __VA_ARGS__); \
        return -1;                          \
    } while (0)

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* refbus-keys -d ADMIN --passphrase-file PASS ARGS... */
static int keys(bench_net *n, const char *const *args)
{
    char prog[PATH_MAX + 16], admin[PATH_MAX + 8], pass[PATH_MAX + 8], log[PATH_MAX + 8];
    char *argv[24];
    size_t k = 0;
    snprintf(prog, sizeof prog, "%s/refbus-keys", n->bin);
    snprintf(admin, sizeof admin, "%s/admin", n->dir);
    snprintf(pass, sizeof pass, "%s/pass", n->dir);
    snprintf(log, sizeof log, "%s/keys.log", n->dir);
    argv[k++] = prog;
    argv[k++] = "-d";
    argv[k++] = admin;
    argv[k++] = "--passphrase-file";
    argv[k++] = pass;
    for (size_t i = 0; args[i] && k < 23; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    return bench_run(argv, log, 60) == 0 ? 0 : -1;
}

static int make_keys(bench_net *n, char *err, size_t errlen)
{
    char out[PATH_MAX + 64], pass[PATH_MAX + 8], ep[64];
    snprintf(pass, sizeof pass, "%s/pass", n->dir);
    if (write_file(pass, "refbus-bench passphrase, not for production\n"))
        FAIL("cannot write %s: %s", pass, strerror(errno));
    snprintf(out, sizeof out, "%s/keys", n->dir);
    if (mkdir(out, 0700) != 0)
        FAIL("cannot make %s: %s", out, strerror(errno));
    const char *init[] = {"init", NULL};
    if (keys(n, init))
        FAIL("refbus-keys init failed (see %s/keys.log)", n->dir);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", n->port);
    snprintf(out, sizeof out, "%s/keys/broker.bundle", n->dir);
    const char *broker[] = {
        "broker", "add", "broker.bench", "--endpoint", ep, "--out", out, "--bundle-passphrase-file",
        pass,     NULL};
    if (keys(n, broker))
        FAIL("refbus-keys broker add failed (see %s/keys.log)", n->dir);
    for (int i = 0; i < n->n_send + n->n_recv; i++) {
        snprintf(out, sizeof out, "%s/keys/%s.bundle", n->dir, n->ids[i]);
        const char *agency[] = {"agency",
                                "add",
                                n->ids[i],
                                "--name",
                                n->ids[i],
                                "--kind",
                                i < n->n_send ? "ngo" : "cac",
                                "--out",
                                out,
                                "--bundle-passphrase-file",
                                pass,
                                NULL};
        if (keys(n, agency))
            FAIL("refbus-keys agency add %s failed (see %s/keys.log)", n->ids[i], n->dir);
    }
    const char *policy[] = {"policy", "allow", "*", "*", NULL};
    snprintf(out, sizeof out, "%s/directory.bin", n->dir);
    const char *sign[] = {"sign", "--out", out, NULL};
    if (keys(n, policy) || keys(n, sign))
        FAIL("refbus-keys policy / sign failed (see %s/keys.log)", n->dir);
    return 0;
}

static int start_broker(bench_net *n, char *const *env, char *err, size_t errlen)
{
    char conf[PATH_MAX + 16], text[4 * PATH_MAX + 512], prog[PATH_MAX + 16], log[PATH_MAX + 16];
    snprintf(conf, sizeof conf, "%s/broker.conf", n->dir);
    snprintf(text, sizeof text,
             "[broker]\ndata_dir = %s/broker\nbind = tcp://127.0.0.1:%d\n"
             "keystore = %s/keys/broker.bundle\npassphrase_file = %s/pass\n"
             "directory = %s/directory.bin\nlog_level = info\n",
             n->dir, n->port, n->dir, n->dir, n->dir);
    snprintf(prog, sizeof prog, "%s/broker", n->dir);
    if (mkdir(prog, 0700) != 0 || write_file(conf, text))
        FAIL("cannot write the broker's config: %s", strerror(errno));
    snprintf(prog, sizeof prog, "%s/refbus-broker", n->bin);
    snprintf(log, sizeof log, "%s/broker.log", n->dir);
    char *init[] = {prog, "init", "-c", conf, NULL};
    if (bench_run(init, log, 60) != 0)
        FAIL("refbus-broker init failed (see %s)", log);
    char *run[] = {prog, "run", "-c", conf, NULL};
    if (bench_spawn(&n->broker, "broker", run, env, log))
        FAIL("cannot start refbus-broker: %s", strerror(errno));
    char *status[] = {prog, "status", "-c", conf, NULL};
    char slog[PATH_MAX + 16];
    snprintf(slog, sizeof slog, "%s/broker-status.log", n->dir);
    for (int i = 0; i < 300; i++) { /* 30 s */
        if (bench_interrupted)
            FAIL("interrupted");
        if (!bench_alive(&n->broker))
            FAIL("refbus-broker exited at start (see %s)", log);
        if (bench_run(status, slog, 10) == 0)
            return 0;
        usleep(100000);
    }
    FAIL("refbus-broker did not answer status within 30 s (see %s)", log);
}

static int start_node(bench_net *n, int i, char *const *env, char *err, size_t errlen)
{
    char d[2100], text[3 * PATH_MAX + 512], prog[PATH_MAX + 16], log[PATH_MAX + 80];
    char ks[PATH_MAX + 80], src[PATH_MAX + 80];
    snprintf(d, sizeof d, "%s/%s", n->dir, n->ids[i]);
    if (mkdir(d, 0700) != 0)
        FAIL("cannot make %s: %s", d, strerror(errno));
    /* the node's own copy of its bundle, as a deployment has it */
    snprintf(src, sizeof src, "%s/keys/%s.bundle", n->dir, n->ids[i]);
    snprintf(ks, sizeof ks, "%s/keystore", d);
    if (link(src, ks) != 0)
        FAIL("cannot place %s: %s", ks, strerror(errno));
    snprintf(text, sizeof text,
             "[node]\nagency = %s\nkeystore = keystore\npassphrase_file = %s/pass\n"
             "directory = %s/directory.bin\nbroker = tcp://127.0.0.1:%d\ndata_dir = data\n"
             "log_level = info\n",
             n->ids[i], n->dir, n->dir, n->port);
    snprintf(n->confs[i], sizeof n->confs[i], "%s/node.conf", d);
    if (write_file(n->confs[i], text))
        FAIL("cannot write %s: %s", n->confs[i], strerror(errno));
    snprintf(prog, sizeof prog, "%s/refbus-node", n->bin);
    snprintf(log, sizeof log, "%s/log", d);
    char *init[] = {prog, "init", "-c", n->confs[i], NULL};
    if (bench_run(init, log, 60) != 0)
        FAIL("refbus-node init %s failed (see %s)", n->ids[i], log);
    char *run[] = {prog, "run", "-c", n->confs[i], NULL};
    if (bench_spawn(&n->nodes[i], n->ids[i], run, env, log))
        FAIL("cannot start refbus-node: %s", strerror(errno));
    return 0;
}

/* The node answers status with "broker": {"state": "ready"}. */
static int node_ready(bench_net *n, int i)
{
    refbus_node *h = NULL;
    char *reply = NULL;
    int ready = 0;
    if (refbus_node_open(&h, n->confs[i]) != 0)
        return 0;
    refbus_node_set_timeout(h, 2000);
    if (refbus_node_status(h, &reply) == 0) {
        json_t *j = json_loads(reply, 0, NULL);
        const char *st = json_string_value(json_object_get(json_object_get(j, "broker"), "state"));
        ready = st && strcmp(st, "ready") == 0;
        json_decref(j);
    }
    free(reply);
    refbus_node_close(&h);
    return ready;
}

int bench_net_start(bench_net *n, const bench_opts *o, const char *self_dir, char *err,
                    size_t errlen)
{
    const char *tmp = getenv("TMPDIR");
    struct stat st;
    memset(n, 0, sizeof *n);
    snprintf(n->bin, sizeof n->bin, "%s", o->bin_dir ? o->bin_dir : self_dir);
    snprintf(n->dir, sizeof n->dir, "%s/refbus-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(n->dir)) {
        n->dir[0] = 0;
        FAIL("cannot make a temporary directory: %s", strerror(errno));
    }
    const char *need[] = {"refbus-keys", "refbus-broker", "refbus-node"};
    for (size_t i = 0; i < 3; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", n->bin, need[i]);
        if (access(p, X_OK) != 0)
            FAIL("%s: not found (give --bin-dir DIR)", p);
    }
    /* The shim sits next to the program (build tree) or in ../lib/refbus (installed). */
    snprintf(n->shim, sizeof n->shim, "%s/librefbus_bench_sync.so", self_dir);
    if (stat(n->shim, &st) != 0)
        snprintf(n->shim, sizeof n->shim, "%s/../lib/refbus/librefbus_bench_sync.so", self_dir);
    if (stat(n->shim, &st) != 0)
        n->shim[0] = 0;
    snprintf(n->sync_dir, sizeof n->sync_dir, "%s/sync", n->dir);
    if (mkdir(n->sync_dir, 0700) != 0)
        FAIL("cannot make %s: %s", n->sync_dir, strerror(errno));
    if ((n->port = bench_free_port()) < 0)
        FAIL("no free loopback port");
    n->n_send = o->senders;
    n->n_recv = o->recipients;
    for (int i = 0; i < n->n_send; i++)
        snprintf(n->ids[i], sizeof n->ids[i], "bench.s%d", i + 1);
    for (int i = 0; i < n->n_recv; i++)
        snprintf(n->ids[n->n_send + i], sizeof n->ids[0], "bench.r%d", i + 1);
    if (make_keys(n, err, errlen))
        return -1;
    static char preload[PATH_MAX + 16], syncenv[PATH_MAX + 32];
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s", n->shim);
    snprintf(syncenv, sizeof syncenv, "REFBUS_BENCH_SYNC_DIR=%s", n->sync_dir);
    char *env[] = {syncenv, n->shim[0] ? preload : NULL, NULL};
    if (start_broker(n, env, err, errlen))
        return -1;
    for (int i = 0; i < n->n_send + n->n_recv; i++)
        if (start_node(n, i, env, err, errlen))
            return -1;
    for (int i = 0; i < n->n_send + n->n_recv; i++) {
        int k = 0;
        for (; k < 600 && !node_ready(n, i); k++) { /* 60 s */
            if (bench_interrupted)
                FAIL("interrupted");
            if (!bench_alive(&n->nodes[i]))
                FAIL("refbus-node %s exited at start (see %s/%s/log)", n->ids[i], n->dir,
                     n->ids[i]);
            usleep(100000);
        }
        if (k == 600)
            FAIL("refbus-node %s has no broker session after 60 s (see %s/%s/log)", n->ids[i],
                 n->dir, n->ids[i]);
    }
    return 0;
}

void bench_net_stop(bench_net *n)
{
    for (int i = 0; i < n->n_send + n->n_recv; i++)
        bench_stop(&n->nodes[i]);
    bench_stop(&n->broker);
}

void bench_net_free(bench_net *n, int keep)
{
    if (!n->dir[0])
        return;
    if (keep)
        fprintf(stderr, "refbus-bench: kept %s\n", n->dir);
    else
        bench_rm_rf(n->dir);
}
