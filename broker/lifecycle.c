/* Opening and closing the broker: store, keystore, directory (the newest of the installed one
 * and the configured file, never a rollback), the ZAP handler bound before the ROUTER, the
 * admin socket with mode 0600. */
#include "broker/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "audit/checkpoint.h"
#include "common/datadir.h"
#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "keys/passphrase.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* draft option in libzmq 4.3; set when the library has it */
#endif

static int load_keys(refbus_broker *b)
{
    char *pass = NULL;
    size_t plen = 0;
    int rc = refbus_passphrase_get(&pass, &plen,
                                   b->cfg.passphrase_file[0] ? b->cfg.passphrase_file : NULL,
                                   "broker keystore passphrase: ", 0);
    if (rc != 0) {
        log_error("cannot read the keystore passphrase: %s", refbus_strerror(rc));
        return rc;
    }
    rc = refbus_keystore_open(&b->ks, b->cfg.keystore, pass, plen);
    refbus_passphrase_free(&pass, plen);
    if (rc != 0) {
        log_error("keystore %s: %s", b->cfg.keystore, refbus_strerror(rc));
        return rc;
    }
    if (!refbus_keystore_is_broker(b->ks)) {
        log_error("keystore %s is not a broker keystore", b->cfg.keystore);
        return REFBUS_EKEYFORMAT;
    }
    const refbus_epoch_keys *k = refbus_keystore_current(b->ks);
    b->sign_sk = k->sign_sk;
    b->sign_epoch = k->epoch;
    snprintf(b->id, sizeof b->id, "%s", refbus_keystore_id(b->ks));
    if (b->cfg.root_pk_hex[0]) {
        if (refbus_unhex(b->root_pk, crypto_sign_PUBLICKEYBYTES, b->cfg.root_pk_hex) != 0)
            return REFBUS_ECONFIG;
    } else {
        memcpy(b->root_pk, refbus_keystore_root_pk(b->ks), crypto_sign_PUBLICKEYBYTES);
    }
    return 0;
}

static int load_directory(refbus_broker *b)
{
    MDB_txn *r = NULL;
    MDB_val v;
    int rc = refbus_bstore_err(mdb_txn_begin(b->store->env, NULL, MDB_RDONLY, &r));
    if (rc)
        return rc;
    if (refbus_bstore_meta_get(b->store, r, "directory", &v) == 0) {
        rc = refbus_directory_load(&b->dir, v.mv_data, v.mv_size, b->root_pk, NULL);
        if (rc != 0)
            log_error("store: broker.meta key \"directory\" (the installed directory) does not "
                      "verify: %s; refusing to start (restore data.mdb from a backup)",
                      refbus_strerror(rc));
    }
    mdb_txn_abort(r);
    if (rc)
        return rc;
    if (b->cfg.directory[0]) {
        uint8_t *bytes = NULL;
        size_t len = 0;
        rc = refbus_file_read(&bytes, &len, b->cfg.directory, 16u << 20);
        if (rc == 0) {
            if (!b->dir) {
                refbus_directory *d = NULL;
                rc = refbus_directory_load(&d, bytes, len, b->root_pk, NULL);
                if (rc == 0) {
                    b->dir = d; /* temporarily, so that install compares serials */
                    MDB_txn *w = NULL;
                    rc = refbus_bstore_err(mdb_txn_begin(b->store->env, NULL, 0, &w));
                    if (rc == 0) {
                        rc = refbus_bstore_meta_put(b->store, w, "directory", bytes, len);
                        Refbus__V1__AuditRecord a;
                        broker_audit_init(&a, REFBUS__V1__EVENT_TYPE__EVENT_DIRECTORY_INSTALLED);
                        a.directory_serial = refbus_directory_serial(d);
                        a.reason_text = (char *)"loaded at start";
                        if (rc == 0)
                            rc = broker_audit(b, w, &a);
                        if (rc == 0)
                            rc = refbus_bstore_err(mdb_txn_commit(w)); /* frees w either way */
                        else
                            mdb_txn_abort(w);
                    }
                }
            } else {
                int irc = broker_install_directory(b, bytes, len, 0);
                if (irc == REFBUS_EROLLBACK)
                    log_info("directory file %s is not newer than the installed one",
                             b->cfg.directory);
                else if (irc != 0)
                    log_warn("directory file %s refused: %s", b->cfg.directory,
                             refbus_strerror(irc));
            }
            free(bytes);
        } else if (b->dir) {
            rc = 0;
        }
        if (rc != 0) {
            log_error("directory %s: %s", b->cfg.directory, refbus_strerror(rc));
            return rc;
        }
    }
    if (!b->dir) {
        log_error("no directory: configure 'directory' with a signed directory file");
        return REFBUS_ECONFIG;
    }
    const uint8_t *bpk = refbus_directory_broker_sign_pk(b->dir);
    if (!bpk || sodium_memcmp(bpk, refbus_keystore_current(b->ks)->sign_pk,
                              crypto_sign_PUBLICKEYBYTES) != 0)
        log_warn("the directory's broker entry does not match this broker's keystore");
    return 0;
}

static int open_sockets(refbus_broker *b)
{
    int one = 1, zero = 0, hb = 5000, hbt = 15000;
    const refbus_epoch_keys *k = refbus_keystore_current(b->ks);
    /* Every connection, even one still in its handshake, is a file descriptor: take what the
     * hard limit allows, so that running out needs many connections within handshake_seconds
     * (libzmq then refuses new ones and keeps serving the established). */
    if (refbus_harden_nofile(1u << 20, &b->nofile) == 0)
        log_info("file descriptor limit %llu", (unsigned long long)b->nofile);
    b->zctx = zmq_ctx_new();
    if (!b->zctx)
        return REFBUS_ETRANSPORT;
    /* ZAP first: the handler must exist before any CURVE handshake can happen. */
    b->zap = zmq_socket(b->zctx, ZMQ_REP);
    if (!b->zap || zmq_bind(b->zap, "inproc://zeromq.zap.01") != 0) {
        log_error("cannot start the ZAP handler: %s", zmq_strerror(errno));
        return REFBUS_ETRANSPORT;
    }
    b->router = zmq_socket(b->zctx, ZMQ_ROUTER);
    zmq_setsockopt(b->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(b->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(b->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(b->router, ZMQ_CURVE_SECRETKEY, k->curve_sk, crypto_box_SECRETKEYBYTES);
    zmq_setsockopt(b->router, ZMQ_ZAP_DOMAIN, REFBUS_ZAP_DOMAIN, strlen(REFBUS_ZAP_DOMAIN));
    if (zmq_setsockopt(b->router, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0)
        log_debug("libzmq has no ZMQ_ZAP_ENFORCE_DOMAIN; the handler enforces the domain");
    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_IVL, &hb, sizeof hb);
    zmq_setsockopt(b->router, ZMQ_HEARTBEAT_TIMEOUT, &hbt, sizeof hbt);
    /* Limits (docs/PROTOCOL.md "Limits"). Per frame: libzmq drops a connection that sends a
     * frame over REFBUS_WIRE_MAX_BODY + 4096; a body frame between REFBUS_WIRE_MAX_BODY and that
     * is read, answered ETOOLARGE and audited by refbus itself (refbus_wire_recv). Per message:
     * libzmq cannot bound the frames of one message; inflow.c cuts the connection instead. A
     * connection that has not finished its CURVE handshake after handshake_seconds is closed,
     * so idle unauthenticated connections cannot pile up and take every file descriptor. */
    int64_t maxmsg = REFBUS_WIRE_MAX_BODY + 4096;
    int hs = (int)b->cfg.handshake_seconds * 1000;
    zmq_setsockopt(b->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(b->router, ZMQ_HANDSHAKE_IVL, &hs, sizeof hs);
    /* Per-peer pipe limit: a peer that stops reading makes sends fail (EAGAIN: the message
     * stays in LMDB) instead of growing the broker's memory. Above the largest credit window
     * plus a batch of notices and answers. */
    int hwm = (int)MAX_INFLIGHT + 512;
    zmq_setsockopt(b->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    /* The same bound on whole messages read but not yet taken, per connection: a node never
     * has more in flight (its send window), and past it libzmq stops reading that socket. */
    zmq_setsockopt(b->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(b->router, b->cfg.bind) != 0) {
        log_error("cannot bind %s: %s", b->cfg.bind, zmq_strerror(errno));
        return REFBUS_ETRANSPORT;
    }
    b->admin = zmq_socket(b->zctx, ZMQ_REP);
    zmq_setsockopt(b->admin, ZMQ_LINGER, &zero, sizeof zero);
    mode_t old = umask(0077); /* the ipc socket file is created 0600 */
    int brc = zmq_bind(b->admin, b->cfg.admin);
    umask(old);
    if (brc != 0) {
        log_error("cannot bind the admin socket %s: %s", b->cfg.admin, zmq_strerror(errno));
        return REFBUS_ETRANSPORT;
    }
    if (strncmp(b->cfg.admin, "ipc://", 6) == 0)
        chmod(b->cfg.admin + 6, 0600);
    return 0;
}

int refbus_broker_open(refbus_broker **out, const refbus_broker_config *cfg,
                       volatile sig_atomic_t *stop)
{
    int rc;
    refbus_broker *b = calloc(1, sizeof *b);
    if (!b)
        return REFBUS_ENOMEM;
    b->cfg = *cfg;
    b->stop = stop;
    b->lock_fd = -1;
    b->metrics.start_ms = refbus_now_ms();
    if (!b->cfg.data_dir[0] || !b->cfg.keystore[0]) {
        log_error("data_dir and keystore must be configured");
        rc = REFBUS_ECONFIG;
        goto fail;
    }
    if (!b->cfg.admin[0])
        snprintf(b->cfg.admin, sizeof b->cfg.admin, "ipc://%s/admin.sock", b->cfg.data_dir);
    /* Before anything else (and long before the admin socket is bound): one broker per data
     * directory, or two would write one store and fight over the admin socket. */
    if ((rc = broker_lock_data_dir(b->cfg.data_dir, &b->lock_fd)) != 0)
        goto fail;
    b->peers = calloc(b->cfg.max_peers, sizeof *b->peers);
    b->batch_msgs = calloc(b->cfg.max_batch, sizeof *b->batch_msgs);
    b->batch_rcs = calloc(b->cfg.max_batch, sizeof *b->batch_rcs);
    if (!b->peers || !b->batch_msgs || !b->batch_rcs) {
        rc = REFBUS_ENOMEM;
        goto fail;
    }
    if ((rc = load_keys(b)) != 0)
        goto fail;
    if ((rc = refbus_bstore_open(&b->store, b->cfg.data_dir, b->cfg.map_size_mb << 20, 0)) != 0)
        goto fail;
    broker_sync_audit_size(b, NULL);
    if ((rc = load_directory(b)) != 0)
        goto fail;
    {
        /* A full store must still start (so that it can drain): a BROKER_STARTED record that
         * does not fit is logged, not fatal. mdb_txn_commit frees the txn even when it fails,
         * so it is never aborted after a commit. */
        MDB_txn *w = NULL;
        int src = refbus_bstore_err(mdb_txn_begin(b->store->env, NULL, 0, &w));
        if (src == 0) {
            Refbus__V1__AuditRecord a;
            broker_audit_init(&a, REFBUS__V1__EVENT_TYPE__EVENT_BROKER_STARTED);
            a.directory_serial = refbus_directory_serial(b->dir);
            a.agency = b->id;
            if ((src = broker_audit(b, w, &a)) == 0)
                src = refbus_bstore_err(mdb_txn_commit(w));
            else
                mdb_txn_abort(w);
            w = NULL;
        }
        if (src == REFBUS_ESTORAGE) {
            rc = src;
            goto fail;
        }
        if (src != 0)
            log_warn("BROKER_STARTED not recorded: %s", refbus_strerror(src));
        broker_sync_audit_size(b, NULL);
        uint8_t *cp = NULL;
        size_t cl = 0;
        MDB_txn *r = NULL;
        refbus_checkpoint info;
        if (mdb_txn_begin(b->store->env, NULL, MDB_RDONLY, &r) == 0) {
            broker_sync_audit_size(b, r);
            if (refbus_audit_latest_checkpoint(b->store->audit, r, &cp, &cl) == 0 &&
                refbus_checkpoint_verify(&info, cp, cl, refbus_keystore_current(b->ks)->sign_pk) ==
                    0)
                b->last_cp_size = info.size;
            mdb_txn_abort(r);
        }
        free(cp);
    }
    b->last_cp_ms = refbus_mono_ms();
    if ((rc = open_sockets(b)) != 0)
        goto fail;
    *out = b;
    return 0;
fail:
    refbus_broker_close(&b);
    return rc;
}

void refbus_broker_close(refbus_broker **bp)
{
    if (!bp || !*bp)
        return;
    refbus_broker *b = *bp;
    if (b->router)
        zmq_close(b->router);
    if (b->zap)
        zmq_close(b->zap);
    if (b->admin)
        zmq_close(b->admin);
    if (b->zctx)
        zmq_ctx_term(b->zctx);
    for (size_t i = 0; i < b->n_peers; i++)
        free(b->peers[i].fl);
    free(b->peers);
    free(b->batch_msgs);
    free(b->batch_rcs);
    free(b->acc);
    broker_inflow_free(b);
    for (size_t i = 0; i < b->n_out; i++)
        free(b->out[i].body);
    free(b->out);
    refbus_directory_free(&b->dir);
    refbus_bstore_close(&b->store);
    refbus_keystore_free(&b->ks);
    if (b->lock_fd >= 0)
        close(b->lock_fd); /* releases the data directory */
    free(b);
    *bp = NULL;
}

int broker_lock_data_dir(const char *dir, int *fd)
{
    long holder = 0;
    int rc = refbus_datadir_lock(dir, "broker.lock", fd, &holder);
    if (rc == REFBUS_ENOTFOUND)
        log_error("data directory %s does not exist: is data_dir right? A new store is created "
                  "only by 'refbus-broker init'",
                  dir);
    else if (rc == REFBUS_EEXIST && holder > 0)
        log_error("another refbus-broker (pid %ld) is running on %s", holder, dir);
    else if (rc == REFBUS_EEXIST)
        log_error("another refbus-broker is running on %s", dir);
    else if (rc != 0)
        log_error("%s/broker.lock: %s", dir, strerror(errno));
    return rc;
}

int refbus_broker_init(const refbus_broker_config *cfg)
{
    refbus_bstore *s = NULL;
    int fd = -1, rc;
    if (!cfg->data_dir[0]) {
        log_error("data_dir must be configured");
        return REFBUS_ECONFIG;
    }
    if ((rc = refbus_mkdirs(cfg->data_dir, 0700)) != 0) {
        log_error("cannot create %s", cfg->data_dir);
        return rc;
    }
    if ((rc = broker_lock_data_dir(cfg->data_dir, &fd)) != 0)
        return rc;
    rc = refbus_bstore_open(&s, cfg->data_dir, cfg->map_size_mb << 20, 1);
    refbus_bstore_close(&s);
    close(fd);
    if (rc == 0)
        log_info("new store %s/data.mdb created", cfg->data_dir);
    return rc;
}
