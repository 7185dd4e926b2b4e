/* The admin socket (ZMQ REP over ipc, file mode 0600): "status" answers JSON, "metrics" the
 * Prometheus text (metrics.c); "publish" takes a newly signed directory, verifies it (root
 * signature, higher serial), installs it without a restart, audits it, pushes it to connected
 * nodes and cuts off peers whose keys it revokes. */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zmq.h>

#include "audit/checkpoint.h"
#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/frames.h"

/* An ERROR sent at once (outside a batch: nothing durable depends on it). */
static void error_now(refbus_broker *b, const peer *p, int code, const char *text)
{
    size_t n = 0;
    uint8_t *buf = broker_error_body(code, text, NULL, &n);
    if (!buf)
        return;
    if (refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_ERROR, buf, n) != 0)
        log_debug("ERROR to %s not sent", p->agency);
    free(buf);
}

int broker_install_directory(refbus_broker *b, const uint8_t *bytes, size_t len, int from_admin)
{
    refbus_directory *nd = NULL;
    uint64_t trusted = refbus_directory_serial(b->dir);
    int rc = refbus_directory_load(&nd, bytes, len, b->root_pk, &trusted);
    if (rc != 0)
        return rc;
    MDB_txn *txn = NULL;
    if ((rc = refbus_bstore_err(mdb_txn_begin(b->store->env, NULL, 0, &txn))) != 0)
        goto fail;
    if ((rc = refbus_bstore_meta_put(b->store, txn, "directory", bytes, len)) != 0)
        goto fail;
    Refbus__V1__AuditRecord r;
    broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_DIRECTORY_INSTALLED);
    r.directory_serial = refbus_directory_serial(nd);
    r.reason_text = (char *)(from_admin ? "published by an administrator" : "loaded at start");
    /* A new re-anchor statement (after a restore) is named in the record, so the trail itself
     * says when the nodes were told to take a new anchor, and why. */
    char ratext[512]; /* fits the longest reason (255 bytes) whole: no cut UTF-8 */
    const refbus_dir_reanchor *ra = refbus_directory_reanchor(nd);
    const refbus_dir_reanchor *old_ra = refbus_directory_reanchor(b->dir);
    if (ra && (!old_ra || old_ra->size != ra->size ||
               memcmp(old_ra->root, ra->root, REFBUS_MERKLE_HASH_BYTES) != 0)) {
        char hex[65];
        refbus_hex(hex, ra->root, REFBUS_MERKLE_HASH_BYTES);
        snprintf(ratext, sizeof ratext, "%s; re-anchors the nodes at checkpoint %llu root %s: %s",
                 r.reason_text, (unsigned long long)ra->size, hex, ra->reason);
        r.reason_text = ratext;
        log_warn("directory serial %llu re-anchors the nodes at audit checkpoint %llu (%s)",
                 (unsigned long long)refbus_directory_serial(nd), (unsigned long long)ra->size,
                 ra->reason);
        refbus_checkpoint info;
        uint8_t *cp = NULL;
        size_t cl = 0;
        if (refbus_audit_checkpoint_at(b->store->audit, txn, ra->size, &cp, &cl) != 0 ||
            refbus_checkpoint_parse(&info, cp, cl) != 0 ||
            memcmp(info.root, ra->root, REFBUS_MERKLE_HASH_BYTES) != 0)
            log_warn("this broker's trail has no checkpoint of %llu records with that root: "
                     "no node can re-anchor until one that has is published",
                     (unsigned long long)ra->size);
        free(cp);
    }
    if ((rc = broker_audit(b, txn, &r)) != 0)
        goto fail;
    /* Connected peers whose key this directory revokes: recorded now, with the revocation. */
    for (size_t i = 0; i < b->n_peers; i++) {
        peer *p = &b->peers[i];
        if (!p->hello || refbus_directory_key_trust(nd, p->agency, p->epoch, REFBUS_KEY_SESSION,
                                                    NULL) != REFBUS_EREVOKED)
            continue;
        Refbus__V1__AuditRecord pr;
        broker_audit_init(&pr, REFBUS__V1__EVENT_TYPE__EVENT_PEER_REVOKED);
        pr.agency = p->agency;
        pr.sender_epoch = p->epoch;
        pr.reason = REFBUS_EREVOKED;
        pr.reason_text = (char *)"connected key revoked by the new directory";
        pr.directory_serial = refbus_directory_serial(nd);
        if ((rc = broker_audit(b, txn, &pr)) != 0)
            goto fail;
        log_warn("peer %s (epoch %u): key revoked by directory serial %llu", p->agency, p->epoch,
                 (unsigned long long)refbus_directory_serial(nd));
    }
    if ((rc = refbus_bstore_err(mdb_txn_commit(txn))) != 0) {
        txn = NULL;
        goto fail;
    }
    refbus_directory_free(&b->dir);
    b->dir = nd;
    log_info("installed directory serial %llu", (unsigned long long)refbus_directory_serial(nd));
    /* Push it to every connected node: a just-rotated one (RETIRED transport key) learns of
     * its new epoch from it, a just-revoked one learns why it is cut off (the directory is
     * public and signed). After that, peers whose key is REVOKED get nothing more; their next
     * message is refused (and audited) by the per-message check. */
    for (size_t i = 0; i < b->n_peers; i++) {
        peer *p = &b->peers[i];
        if (refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_DIRECTORY, bytes, len))
            log_debug("directory push to %s deferred to its next HELLO", p->agency);
        int trc = refbus_directory_key_trust(b->dir, p->agency, p->epoch, REFBUS_KEY_SESSION, NULL);
        if (p->hello && trc != 0) {
            /* Only the active key holds a session: this one ends, and is told why. */
            char text[160];
            snprintf(text, sizeof text,
                     "session ended: key epoch %u of %s is %s in directory "
                     "serial %llu",
                     p->epoch, p->agency, trc == REFBUS_ERETIRED ? "retired" : "revoked",
                     (unsigned long long)refbus_directory_serial(b->dir));
            error_now(b, p, trc, text);
            p->hello = 0;
            p->n_fl = 0;
        }
    }
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    refbus_directory_free(&nd);
    broker_sync_audit_size(b, NULL);
    return rc;
}

/* What bounds the process (refbus_harden_process, the connection limits): for operators. */
static json_t *broker_process_json(const refbus_broker *b)
{
    int dumpable = 1;
    uint64_t core = 0;
    refbus_harden_state(&dumpable, &core);
    return json_pack("{s:b, s:I, s:I, s:I, s:i, s:i, s:I}", "dumpable", dumpable != 0, "core_limit",
                     core == UINT64_MAX ? (json_int_t)-1 : (json_int_t)core, "nofile",
                     b->nofile == UINT64_MAX ? (json_int_t)-1 : (json_int_t)b->nofile, "memory_mb",
                     (json_int_t)(refbus_mem_anon_bytes() >> 20), "max_memory_mb",
                     (int)b->cfg.max_memory_mb, "handshake_seconds", (int)b->cfg.handshake_seconds,
                     "connections_cut", (json_int_t)b->inflow_cuts);
}

static json_t *status_json(refbus_broker *b)
{
    json_t *o = json_object(), *peers = json_array(), *queues = json_object();
    MDB_txn *r = NULL;
    json_object_set_new(o, "ok", json_true());
    json_object_set_new(o, "broker_id", json_string(b->id));
    json_object_set_new(o, "directory_serial",
                        json_integer((json_int_t)refbus_directory_serial(b->dir)));
    /* Full: the map or disk is full, or the live data passed the high-water mark (new
     * messages refused; deliveries, receipts and expiry go on). */
    json_object_set_new(o, "storage_full", json_boolean(b->map_full || b->above_high_water));
    uint64_t used = 0, map = 0;
    if (refbus_bstore_usage(b->store, NULL, 0, &used, &map) == 0)
        json_object_set_new(o, "storage",
                            json_pack("{s:I, s:I, s:i}", "used_bytes", (json_int_t)used,
                                      "map_bytes", (json_int_t)map, "high_water_percent",
                                      (int)b->cfg.high_water_percent));
    json_object_set_new(o, "process", broker_process_json(b));
    for (size_t i = 0; i < b->n_peers; i++) {
        peer *p = &b->peers[i];
        if (!p->hello)
            continue;
        json_t *pj = json_object();
        json_object_set_new(pj, "agency", json_string(p->agency));
        json_object_set_new(pj, "epoch", json_integer(p->epoch));
        json_object_set_new(pj, "in_flight", json_integer((json_int_t)p->n_fl));
        json_object_set_new(pj, "credit", json_integer(p->credit));
        json_array_append_new(peers, pj);
    }
    json_object_set_new(o, "peers", peers);
    if (mdb_txn_begin(b->store->env, NULL, MDB_RDONLY, &r) == 0) {
        json_t *ages = json_object();
        uint64_t now = refbus_now_ms();
        for (size_t i = 0; i < refbus_directory_agency_count(b->dir); i++) {
            const char *a = refbus_directory_agency_id(b->dir, i);
            uint64_t depth = 0, oldest = 0;
            if (refbus_bstore_queue_oldest(b->store, r, a, &depth, &oldest) != 0)
                depth = refbus_bstore_queue_depth(b->store, r, a);
            json_object_set_new(queues, a, json_integer((json_int_t)depth));
            /* seconds since the oldest queued envelope was created (0: none) */
            json_object_set_new(ages, a,
                                json_integer(oldest && now > oldest
                                                 ? (json_int_t)((now - oldest) / 1000)
                                                 : 0));
        }
        json_object_set_new(o, "queue_oldest_age_seconds", ages);
        uint64_t size = 0;
        if (refbus_audit_size(b->store->audit, r, &size) != 0)
            size = 0;
        json_object_set_new(o, "audit_size", json_integer((json_int_t)size));
        uint8_t *cp = NULL;
        size_t cl = 0;
        refbus_checkpoint info;
        if (refbus_audit_latest_checkpoint(b->store->audit, r, &cp, &cl) == 0 &&
            refbus_checkpoint_verify(&info, cp, cl, refbus_keystore_current(b->ks)->sign_pk) == 0) {
            char root[65];
            refbus_hex(root, info.root, REFBUS_MERKLE_HASH_BYTES);
            json_t *c = json_object();
            json_object_set_new(c, "size", json_integer((json_int_t)info.size));
            json_object_set_new(c, "root", json_string(root));
            json_object_set_new(c, "time_ms", json_integer((json_int_t)info.time_ms));
            json_object_set_new(o, "last_checkpoint", c);
        }
        free(cp);
        mdb_txn_abort(r);
    }
    json_object_set_new(o, "queues", queues);
    return o;
}

static void answer(void *sock, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        zmq_send(sock, s, strlen(s), ZMQ_DONTWAIT);
        free(s);
    } else {
        zmq_send(sock, "{\"ok\":false}", 12, ZMQ_DONTWAIT);
    }
    json_decref(o);
}

void broker_admin_handle(refbus_broker *b)
{
    /* The frame count and sizes are judged below: a REP socket answers every request. A
     * directory over its limit is refused by refbus_directory_load, as from a file. */
    refbus_frames fs;
    int frc = refbus_frames_recv(&fs, b->admin, ZMQ_DONTWAIT, 2, SIZE_MAX, 0);
    if (frc == REFBUS_EAGAIN || frc == REFBUS_ETRANSPORT)
        return;
    zmq_msg_t *f = fs.part;
    size_t n = fs.count;
    json_t *o = NULL;
    size_t cl = zmq_msg_size(&f[0]);
    const char *cmd = zmq_msg_data(&f[0]);
    if (n == 1 && cl == 6 && memcmp(cmd, "status", 6) == 0) {
        o = status_json(b);
    } else if (n == 1 && cl == 7 && memcmp(cmd, "metrics", 7) == 0) {
        /* the Prometheus text itself, not JSON (a scraper or `refbus-broker metrics` reads it) */
        char *text = broker_metrics_text(b);
        refbus_frames_close(&fs);
        if (text) {
            zmq_send(b->admin, text, strlen(text), ZMQ_DONTWAIT);
            free(text);
        } else {
            zmq_send(b->admin, "# out of memory\n", 16, ZMQ_DONTWAIT);
        }
        return;
    } else if (n == 2 && cl == 7 && memcmp(cmd, "publish", 7) == 0) {
        int rc = broker_install_directory(b, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), 1);
        o = json_object();
        json_object_set_new(o, "ok", json_boolean(rc == 0));
        if (rc == 0) {
            json_object_set_new(o, "serial",
                                json_integer((json_int_t)refbus_directory_serial(b->dir)));
        } else {
            json_object_set_new(o, "error", json_string(refbus_errname(rc)));
            json_object_set_new(o, "reason", json_string(refbus_strerror(rc)));
        }
    } else if (n == 1 && cl == 10 && memcmp(cmd, "checkpoint", 10) == 0) {
        MDB_txn *txn = NULL;
        int rc = refbus_bstore_err(mdb_txn_begin(b->store->env, NULL, 0, &txn));
        if (rc == 0) {
            rc = broker_checkpoint(b, txn);
            if (rc == 0)
                rc = refbus_bstore_err(mdb_txn_commit(txn));
            else
                mdb_txn_abort(txn);
        }
        o = json_object();
        json_object_set_new(o, "ok", json_boolean(rc == 0));
        json_object_set_new(o, "size", json_integer((json_int_t)b->last_cp_size));
    } else {
        o = json_object();
        json_object_set_new(o, "ok", json_false());
        json_object_set_new(o, "error",
                            json_string("unknown command (status, metrics, publish, checkpoint)"));
    }
    refbus_frames_close(&fs);
    answer(b->admin, o);
}

int refbus_broker_admin_request(const char *endpoint, const char *cmd, const uint8_t *body,
                                size_t body_len, int timeout_ms)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_REQ);
    int zero = 0, rc = REFBUS_EUNAVAILABLE;
    char buf[65536];
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_connect(s, endpoint) != 0)
        goto out;
    if (zmq_send(s, cmd, strlen(cmd), body ? ZMQ_SNDMORE : 0) < 0)
        goto out;
    if (body && zmq_send(s, body, body_len, 0) < 0)
        goto out;
    int n = zmq_recv(s, buf, sizeof buf - 1, 0);
    if (n < 0) {
        fprintf(stderr, "refbus-broker: no answer from %s (is the broker running?)\n", endpoint);
        goto out;
    }
    if ((size_t)n > sizeof buf - 1)
        n = (int)sizeof buf - 1;
    buf[n] = 0;
    printf("%s\n", buf);
    json_t *o = json_loads(buf, 0, NULL);
    rc = o && json_is_true(json_object_get(o, "ok")) ? 0 : REFBUS_EINVAL;
    json_decref(o);
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}
