/* The daemon's lifecycle: lock the data directory, open the identity and the store, bind the
 * control socket, then one zmq_poll loop over the control socket, the broker socket and its
 * monitor, with timers for reconnects, pings and resends; stop cleanly on SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "common/datadir.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "nodes/daemon/daemon.h"
#include "nodes/daemon/node_int.h"

static volatile sig_atomic_t stop_flag; /* the one piece of global state: set by signals */

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

void nd_note_error(nd_daemon *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->last_err_text, sizeof d->last_err_text, fmt, ap);
    va_end(ap);
    d->last_err = code;
    d->last_err_ms = refbus_now_ms();
    log_error("%s", d->last_err_text);
}

void nd_note_refusal(nd_daemon *d, const char *sender, const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                     int code, const char *text)
{
    node_refusal *r = &d->recent[d->recent_next];
    d->recent_next = (d->recent_next + 1) % NODE_RECENT;
    if (d->n_recent < NODE_RECENT)
        d->n_recent++;
    memset(r, 0, sizeof *r);
    r->time_ms = refbus_now_ms();
    snprintf(r->sender, sizeof r->sender, "%s", sender ? sender : "");
    if (msg_id)
        refbus_hex(r->msg_id, msg_id, REFBUS_MSG_ID_BYTES);
    r->code = code;
    snprintf(r->text, sizeof r->text, "%s", text ? text : "");
}

#ifdef REFBUS_TEST_HOOKS
void nd_crash_point(const char *name)
{
    const char *v = getenv(name);
    if (v && strcmp(v, "1") == 0) {
        /* Test-only fault injection. The short pause lets answers already handed to ZeroMQ
         * (the control socket's reply) leave; nothing not yet queued is sent. */
        log_warn("%s: exiting now (test fault injection)", name);
        usleep(200000);
        _exit(86);
    }
}
#endif

/* One node per data directory, before anything else: the directory is never created here (a
 * mistyped data_dir is an error, not a new store: refbus-node init creates one). */
static int lock_data_dir(nd_daemon *d)
{
    long holder = 0;
    int rc = refbus_datadir_lock(d->cfg.data_dir, "node.lock", &d->lock_fd, &holder);
    if (rc == REFBUS_ENOTFOUND)
        log_error("data directory %s does not exist: is data_dir right? A new store is created "
                  "only by 'refbus-node init'",
                  d->cfg.data_dir);
    else if (rc == REFBUS_EEXIST && holder > 0)
        log_error("another refbus-node (pid %ld) is running on %s", holder, d->cfg.data_dir);
    else if (rc == REFBUS_EEXIST)
        log_error("another refbus-node is running on %s", d->cfg.data_dir);
    else if (rc)
        log_error("%s/node.lock: %s", d->cfg.data_dir, strerror(errno));
    return rc;
}

/* Use the newer of the configured directory file and the one installed earlier. */
static int load_stored_directory(nd_daemon *d)
{
    MDB_txn *txn = NULL;
    uint8_t *b = NULL;
    size_t n = 0;
    int rc = refbus_nstore_begin(d->store, 0, &txn);
    if (rc)
        return rc;
    rc = refbus_nstore_meta_get(d->store, txn, "directory", &b, &n);
    refbus_nstore_abort(&txn);
    if (rc == 0) {
        rc = nd_ident_install_directory(d, b, n, 0);
        if (rc && rc != REFBUS_EROLLBACK)
            log_error("the directory installed earlier does not load (%s); using %s",
                      refbus_strerror(rc), d->cfg.directory);
    }
    refbus_nstore_free_value(&b, n);
    if (rc == REFBUS_ENOTFOUND || rc == REFBUS_EROLLBACK) { /* the file is newer: keep it */
        const uint8_t *fb = refbus_directory_bytes(d->dir, &n);
        if ((rc = refbus_nstore_begin(d->store, 1, &txn)) == 0 &&
            (rc = refbus_nstore_meta_put(d->store, txn, "directory", fb, n)) == 0)
            rc = refbus_nstore_commit(&txn);
        refbus_nstore_abort(&txn);
        return rc;
    }
    return 0;
}

static int start(nd_daemon *d)
{
    char path[PATH_MAX + 16];
    int rc, reconnect;
    if ((rc = lock_data_dir(d)) || (rc = nd_ident_open(d)))
        return rc;
    snprintf(path, sizeof path, "%s/store", d->cfg.data_dir);
    if ((rc = refbus_nstore_open(&d->store, path, refbus_keystore_storage_key(d->ks),
                                 (size_t)d->cfg.map_size_mb * 1024 * 1024, 0))) {
        log_error("store %s: %s", path, refbus_strerror(rc));
        return rc;
    }
    if ((rc = load_stored_directory(d)) || (rc = nd_inbound_load_checkpoint(d)))
        return rc;
    if ((rc = nd_ident_refresh(d, &reconnect))) {
        log_error("our keys and the directory disagree: %s", refbus_strerror(rc));
        return rc;
    }
    if (!(d->zctx = zmq_ctx_new()))
        return REFBUS_ETRANSPORT;
    if ((rc = nd_control_open(d)))
        return rc;
    d->reconnect_at = refbus_mono_ms();
    return 0;
}

static void stop(nd_daemon *d)
{
    nd_session_drop(d, NULL, 0);
    if (d->store && refbus_nstore_sync(d->store)) /* a lazy commit still unflushed */
        log_warn("flushing the store at exit failed");
    nd_control_close(d);
    if (d->zctx)
        zmq_ctx_term(d->zctx);
    refbus_nstore_close(&d->store);
    nd_ident_close(d);
    nd_audit_cp_free(d);
    free(d->fl);
    free(d->pending);
    free(d->acks);
    if (d->lock_fd >= 0)
        close(d->lock_fd);
}

/* What `systemctl status` shows for the broker session. */
static const char *state_text(enum node_state s)
{
    switch (s) {
    case NODE_READY: return "session with the broker ready";
    case NODE_HELLO: return "greeting the broker";
    case NODE_CONNECTING: return "connecting to the broker";
    default: return "no broker session: (re)connecting";
    }
}

/* The broker session as operators see it: STATUS= on each change of state; down_since_ms for
 * `status` (and `check`); a warning once the node has not been served for longer than ten of
 * its longest reconnect back-offs (10 x reconnect_max_ms: 100 s by default), so that a node that
 * cannot reach its broker does not only say "connecting"; an info line when it is back. */
static void watch_session(nd_daemon *d, enum node_state *shown)
{
    uint64_t now = refbus_now_ms();
    if (d->state != *shown)
        refbus_sd_status("agency %s: %s", d->me, state_text(*shown = d->state));
    if (d->state == NODE_READY && !d->superseded) {
        if (d->down_warned)
            log_info("session with the broker %s back after %llu s", d->endpoint,
                     (unsigned long long)((now - d->down_since_ms) / 1000));
        d->down_since_ms = 0;
        d->down_warned = 0;
        return;
    }
    if (!d->down_since_ms)
        d->down_since_ms = now;
    if (!d->down_warned && now - d->down_since_ms > 10ull * d->cfg.reconnect_max_ms) {
        log_warn("no session with the broker %s for %llu s (%s): referrals wait in the outbox",
                 d->endpoint, (unsigned long long)((now - d->down_since_ms) / 1000),
                 d->superseded ? "another node with our keys holds it"
                 : d->last_err ? d->last_err_text
                               : state_text(d->state));
        d->down_warned = 1;
    }
}

static int loop(nd_daemon *d)
{
    refbus_sd_watchdog wd;
    enum node_state shown = d->state;
    refbus_sd_ready("serving agency %s: %s", d->me, state_text(shown));
    refbus_sd_watchdog_init(&wd);
    while (!*d->stop) {
        /* A store that can no longer be written (MDB_PANIC, I/O error): stop and say why, so
         * that the supervisor restarts us, instead of answering as if all were well. */
        int frc = refbus_nstore_fatal(d->store);
        if (frc) {
            log_error("the store %s/store is unusable (%s): stopping", d->cfg.data_dir,
                      refbus_strerror(frc));
            return frc;
        }
        zmq_pollitem_t it[3];
        int n = 0, ictl, idealer = -1, imon = -1;
        void *dealer = d->dealer, *mon = d->mon;
        it[ictl = n++] = (zmq_pollitem_t){d->ctl, 0, ZMQ_POLLIN, 0};
        if (dealer)
            it[idealer = n++] = (zmq_pollitem_t){dealer, 0, ZMQ_POLLIN, 0};
        if (mon)
            it[imon = n++] = (zmq_pollitem_t){mon, 0, ZMQ_POLLIN, 0};
        watch_session(d, &shown);
        uint64_t now = refbus_mono_ms(), next = nd_session_next_timer(d, now);
        uint64_t wdw = refbus_sd_watchdog_kick(&wd, now);
        if (next - now > wdw)
            next = now + wdw;
        if (zmq_poll(it, n, (long)(next - now)) < 0) {
            if (errno == EINTR)
                continue;
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return REFBUS_ETRANSPORT;
        }
        /* Each handler may replace the broker socket: only touch the ones polled. */
        if (idealer >= 0 && (it[idealer].revents & ZMQ_POLLIN) && d->dealer == dealer)
            nd_session_on_broker(d);
        if (imon >= 0 && (it[imon].revents & ZMQ_POLLIN) && d->mon == mon)
            nd_session_on_monitor(d);
        if (it[ictl].revents & ZMQ_POLLIN)
            nd_control_on_request(d);
        nd_session_timers(d, refbus_mono_ms());
    }
    return 0;
}

int refbus_node_daemon_init(const refbus_node_config *c)
{
    char path[PATH_MAX + 16];
    nd_daemon *d = calloc(1, sizeof *d);
    int rc;
    if (!d)
        return REFBUS_ENOMEM;
    if (sodium_init() < 0) {
        free(d);
        return REFBUS_ENOMEM;
    }
    d->cfg = *c;
    d->lock_fd = -1;
    if ((rc = refbus_mkdirs(d->cfg.data_dir, 0700))) {
        log_error("data_dir %s: cannot create", d->cfg.data_dir);
        goto out;
    }
    if ((rc = lock_data_dir(d)) || (rc = nd_ident_open(d)))
        goto out;
    snprintf(path, sizeof path, "%s/store/data.mdb", d->cfg.data_dir);
    if (access(path, F_OK) == 0) {
        log_error("%s already exists; refusing to start a new store over it (move it away "
                  "first if that is really meant)",
                  path);
        rc = REFBUS_EEXIST;
        goto out;
    }
    snprintf(path, sizeof path, "%s/store", d->cfg.data_dir);
    if ((rc = refbus_nstore_open(&d->store, path, refbus_keystore_storage_key(d->ks),
                                 (size_t)d->cfg.map_size_mb * 1024 * 1024, 1)) == 0)
        log_info("new store %s/data.mdb created for %s", path, d->me);
out:
    refbus_nstore_close(&d->store);
    nd_ident_close(d); /* wipes the passphrase too */
    if (d->lock_fd >= 0)
        close(d->lock_fd);
    free(d);
    return rc;
}

int refbus_node_daemon_run(const refbus_node_config *c)
{
    nd_daemon *d = calloc(1, sizeof *d);
    struct sigaction sa;
    int rc;
    if (!d)
        return REFBUS_ENOMEM;
    if (sodium_init() < 0) {
        free(d);
        return REFBUS_ENOMEM;
    }
    d->cfg = *c;
    d->stop = &stop_flag;
    d->lock_fd = -1;
    d->conn_fd = -1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = start(d)) == 0) {
        log_info("refbus-node for %s running: data %s, control %s", d->me, d->cfg.data_dir,
                 d->cfg.control);
        rc = loop(d);
        log_info("refbus-node for %s stopping", d->me);
        refbus_sd_stopping("stopping%s%s", rc ? ": " : "", rc ? refbus_strerror(rc) : "");
    }
    stop(d);
    free(d);
    return rc;
}
