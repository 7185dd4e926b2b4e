/* The broker's lifecycle and loop. Each pass: answer ZAP and admin requests, read up to
 * max_batch node messages, apply them all in ONE LMDB write transaction (group commit, full
 * sync), and only after the commit send receipts and forward anything that depends on it. */
#include "broker/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <zmq.h>

#include "audit/checkpoint.h"
#include "audit/log.h"
#include "common/datadir.h"
#include "common/log.h"
#include "common/sdnotify.h"
#include "common/util.h"
#include "keys/passphrase.h"
#include "proto/wire_body.h"

peer *broker_peer_by_rid(refbus_broker *b, const uint8_t *rid, size_t rid_len)
{
    for (size_t i = 0; i < b->n_peers; i++)
        if (b->peers[i].rid_len == rid_len && memcmp(b->peers[i].rid, rid, rid_len) == 0)
            return &b->peers[i];
    return NULL;
}

peer *broker_peer_by_agency(refbus_broker *b, const char *agency)
{
    for (size_t i = 0; i < b->n_peers; i++)
        if (b->peers[i].hello && strcmp(b->peers[i].agency, agency) == 0)
            return &b->peers[i];
    return NULL;
}

static void peer_drop(refbus_broker *b, peer *p)
{
    free(p->fl);
    size_t i = (size_t)(p - b->peers);
    b->peers[i] = b->peers[b->n_peers - 1];
    b->n_peers--;
}

void broker_queue_out(refbus_broker *b, const uint8_t *rid, size_t rid_len, uint8_t cmd,
                      uint8_t *body, size_t body_len)
{
    if (b->n_out == b->cap_out) {
        size_t cap = b->cap_out ? b->cap_out * 2 : 64;
        outmsg *n = realloc(b->out, cap * sizeof *n);
        if (!n) {
            free(body); /* the node resends; nothing durable is lost */
            return;
        }
        b->out = n;
        b->cap_out = cap;
    }
    outmsg *o = &b->out[b->n_out++];
    memcpy(o->rid, rid, rid_len);
    o->rid_len = rid_len;
    o->cmd = cmd;
    o->body = body;
    o->body_len = body_len;
    o->storage_refusal = 0;
}

void broker_send_out(refbus_broker *b)
{
    for (size_t i = 0; i < b->n_out; i++) {
        outmsg *o = &b->out[i];
        int rc = refbus_wire_send(b->router, o->rid, o->rid_len, o->cmd, o->body, o->body_len);
        if (rc != 0)
            log_debug("send %s: %s (the peer will ask again)", refbus_wire_cmd_name(o->cmd),
                      refbus_strerror(rc));
        free(o->body);
    }
    b->n_out = 0;
}

uint8_t *broker_error_body(int code, const char *text, const uint8_t *msg_id, size_t *len)
{
    refbus_wire_error e;
    uint8_t *buf = NULL;
    refbus_wire_error_set(&e, code, text, msg_id);
    return refbus_wire_error_encode(&buf, len, &e) == 0 ? buf : NULL;
}

void broker_send_error(refbus_broker *b, const uint8_t *rid, size_t rid_len, int code,
                       const char *text, const uint8_t *msg_id)
{
    size_t n = 0;
    uint8_t *buf = broker_error_body(code, text, msg_id, &n);
    if (buf)
        broker_queue_out(b, rid, rid_len, REFBUS_CMD_ERROR, buf, n);
}

static void send_error(refbus_broker *b, const uint8_t *rid, size_t rid_len, int code,
                       const char *text)
{
    broker_send_error(b, rid, rid_len, code, text, NULL);
}

/* ---- per-message handling inside the batch txn ------------------------------------------ */

/* Which agency is behind this connection, by its CURVE key and the CURRENT directory: checked
 * on every message, so a revocation bites on the next one. A RETIRED key passes here (it may
 * fetch the newer directory); what else it may do is decided per command (SESSION, SEND). */
static int authenticate(refbus_broker *b, const refbus_wire_msg *m, const char **agency,
                        uint32_t *epoch)
{
    uint8_t key[32];
    if (refbus_unhex(key, 32, m->peer_user_id) != 0)
        return REFBUS_EUNKNOWNPEER;
    return refbus_directory_curve_trust(b->dir, key, REFBUS_KEY_FETCH_DIRECTORY, agency, epoch);
}

static void handle_hello(refbus_broker *b, MDB_txn *txn, const refbus_wire_msg *m,
                         const char *agency, uint32_t epoch)
{
    refbus_wire_hello h;
    int hrc = refbus_wire_hello_decode(&h, m->body, m->body_len);
    if (hrc == REFBUS_ENOMEM) {
        send_error(b, m->rid, m->rid_len, REFBUS_ENOMEM, "broker out of memory: try again");
        return;
    }
    if (hrc || h.version != REFBUS_WIRE_VERSION || strcmp(h.agency, agency) != 0) {
        send_error(b, m->rid, m->rid_len, hrc ? REFBUS_EPROTO : REFBUS_ESENDER,
                   hrc ? "HELLO body is not a Hello"
                       : "HELLO names another agency than the authenticated transport key");
        refbus_wire_hello_clear(&h);
        return;
    }
    /* Only the ACTIVE key holds the session: a rotated-away bundle gets the newer directory
     * and an explanation, and never displaces the session of the agency's real node. */
    int trc = refbus_directory_key_trust(b->dir, agency, epoch, REFBUS_KEY_SESSION, NULL);
    if (trc != 0) {
        char text[200];
        size_t dl = 0;
        const uint8_t *dir = refbus_directory_bytes(b->dir, &dl);
        uint8_t *copy = h.directory_serial < refbus_directory_serial(b->dir) ? malloc(dl) : NULL;
        if (copy) {
            memcpy(copy, dir, dl);
            broker_queue_out(b, m->rid, m->rid_len, REFBUS_CMD_DIRECTORY, copy, dl);
        }
        snprintf(text, sizeof text,
                 "key epoch %u of %s is %s: it may fetch the directory but not hold the "
                 "session; install the agency's current bundle",
                 epoch, agency, trc == REFBUS_ERETIRED ? "retired" : refbus_strerror(trc));
        send_error(b, m->rid, m->rid_len, trc, text);
        if (broker_audit_budget(b, agency)) {
            Refbus__V1__AuditRecord r;
            broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_PEER_REFUSED);
            r.agency = (char *)agency;
            r.sender_epoch = epoch;
            r.reason = trc;
            r.reason_text = text;
            (void)broker_audit(b, txn, &r);
            log_warn("HELLO from %s refused: %s", agency, text);
        }
        refbus_wire_hello_clear(&h);
        return;
    }
    /* One session per agency: a new HELLO under the active key takes it over (a restarted
     * node's old connection may be dead), everything in flight there is delivered again here,
     * and the old connection is told why, so that a duplicate node is seen, not silent. */
    peer *old = broker_peer_by_agency(b, agency);
    if (old && !(old->rid_len == m->rid_len && memcmp(old->rid, m->rid, m->rid_len) == 0)) {
        char text[200];
        snprintf(text, sizeof text,
                 "session of %s taken over by another connection with key epoch %u: is a "
                 "second node running with this agency's keys?",
                 agency, epoch);
        log_warn("%s", text);
        send_error(b, old->rid, old->rid_len, REFBUS_ESUPERSEDED, text);
        peer_drop(b, old);
    }
    peer *p = broker_peer_by_rid(b, m->rid, m->rid_len);
    if (!p) {
        if (b->n_peers >= b->cfg.max_peers) {
            send_error(b, m->rid, m->rid_len, REFBUS_EAGAIN, "too many peers");
            refbus_wire_hello_clear(&h);
            return;
        }
        inflight *fl = calloc(MAX_INFLIGHT, sizeof *fl);
        if (!fl) {
            send_error(b, m->rid, m->rid_len, REFBUS_ENOMEM, "broker out of memory");
            refbus_wire_hello_clear(&h);
            return;
        }
        p = &b->peers[b->n_peers++];
        memset(p, 0, sizeof *p);
        p->fl = fl;
        memcpy(p->rid, m->rid, m->rid_len);
        p->rid_len = m->rid_len;
    }
    snprintf(p->agency, sizeof p->agency, "%s", agency);
    p->epoch = epoch;
    p->hello = 1;
    p->fd = m->peer_fd;
    p->probe_left = 0;
    p->credit = h.credit == 0 ? 64 : (h.credit > MAX_INFLIGHT ? MAX_INFLIGHT : h.credit);
    p->n_fl = 0;
    p->cp_size = h.checkpoint_size;
    p->want_notices = 1;
    p->want_deliver = 1;
    p->notices_sent_upto = 0;
    p->last_seen_ms = refbus_mono_ms();
    uint64_t node_serial = h.directory_serial;
    refbus_wire_hello_clear(&h);

    Refbus__V1__AuditRecord r;
    broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_PEER_CONNECTED);
    r.agency = (char *)agency;
    r.sender_epoch = epoch;
    r.directory_serial = refbus_directory_serial(b->dir);
    if (broker_audit_budget(b, agency))
        (void)broker_audit(b, txn, &r);

    refbus_wire_welcome w = {.version = REFBUS_WIRE_VERSION,
                             .directory_serial = refbus_directory_serial(b->dir),
                             .max_envelope = REFBUS_MAX_ENVELOPE,
                             .audit_size = b->audit_size};
    uint8_t *buf = NULL;
    size_t n = 0;
    snprintf(w.broker_id, sizeof w.broker_id, "%s", b->id);
    if (refbus_wire_welcome_encode(&buf, &n, &w) == 0)
        broker_queue_out(b, m->rid, m->rid_len, REFBUS_CMD_WELCOME, buf, n);
    if (node_serial < refbus_directory_serial(b->dir)) {
        size_t dl = 0;
        const uint8_t *d = refbus_directory_bytes(b->dir, &dl);
        uint8_t *copy = malloc(dl);
        if (copy) {
            memcpy(copy, d, dl);
            broker_queue_out(b, m->rid, m->rid_len, REFBUS_CMD_DIRECTORY, copy, dl);
        }
    }
    log_info("peer %s (epoch %u) connected", agency, epoch);
}

/* A message from a connection whose key is unknown or revoked: refuse, audit (rate-limited so
 * that a flood cannot fill the trail), and forget the connection's state. */
static void refuse_peer(refbus_broker *b, MDB_txn *txn, const refbus_wire_msg *m, int why)
{
    peer *p = broker_peer_by_rid(b, m->rid, m->rid_len);
    char agency[REFBUS_AGENCY_ID_MAX + 1] = "";
    if (p) {
        snprintf(agency, sizeof agency, "%s", p->agency);
        peer_drop(b, p);
    }
    uint64_t now = refbus_mono_ms();
    int slot = -1, audit = 1;
    for (int i = 0; i < 64; i++) {
        if (strcmp(b->refused[i].key, m->peer_user_id) == 0) {
            slot = i;
            audit = now - b->refused[i].at_ms > 60000;
            break;
        }
        if (slot < 0 && b->refused[i].key[0] == 0)
            slot = i;
    }
    if (slot < 0)
        slot = (int)(now % 64);
    if (audit) {
        snprintf(b->refused[slot].key, sizeof b->refused[slot].key, "%.64s", m->peer_user_id);
        b->refused[slot].at_ms = now;
        Refbus__V1__AuditRecord r;
        broker_audit_init(&r, why == REFBUS_EREVOKED ? REFBUS__V1__EVENT_TYPE__EVENT_PEER_REVOKED
                                                     : REFBUS__V1__EVENT_TYPE__EVENT_PEER_REFUSED);
        uint8_t key[32];
        r.agency = agency;
        if (refbus_unhex(key, 32, m->peer_user_id) == 0) /* which key was refused */
            r.peer_key = (ProtobufCBinaryData){32, key};
        r.reason = why;
        r.reason_text = (char *)refbus_strerror(why);
        (void)broker_audit(b, txn, &r);
        log_warn("refused a message from %s (key %.16s...): %s", agency[0] ? agency : "?",
                 m->peer_user_id, refbus_strerror(why));
    }
    send_error(b, m->rid, m->rid_len, why,
               why == REFBUS_EREVOKED ? "your transport key is revoked or retired"
                                      : "unknown transport key");
}

/* PONG: the Ping's time and whether this connection holds the agency's session, so that a
 * node that is connected but not served (taken over, or never told) notices. */
static void pong(refbus_broker *b, const refbus_wire_msg *m, const char *agency)
{
    refbus_wire_ping in;
    int urc =
        m->body_len <= 64 ? refbus_wire_ping_decode(&in, m->body, m->body_len) : REFBUS_EPROTO;
    if (urc) { /* a Ping is a timestamp: do not echo (and buffer) megabytes */
        send_error(b, m->rid, m->rid_len, urc == REFBUS_ENOMEM ? REFBUS_ENOMEM : REFBUS_EPROTO,
                   urc == REFBUS_ENOMEM ? "broker out of memory: try again"
                   : m->body_len > 64   ? "PING body too large"
                                        : "PING body is not a Ping");
        return;
    }
    const peer *s = broker_peer_by_agency(b, agency);
    refbus_wire_ping out = {.time_ms = in.time_ms,
                            .session = !s ? REFBUS_WIRE_SESSION_NONE
                                       : s->rid_len == m->rid_len &&
                                               memcmp(s->rid, m->rid, m->rid_len) == 0
                                           ? REFBUS_WIRE_SESSION_ACTIVE
                                           : REFBUS_WIRE_SESSION_OTHER};
    uint8_t *buf = NULL;
    size_t n = 0;
    if (refbus_wire_ping_encode(&buf, &n, &out) == 0)
        broker_queue_out(b, m->rid, m->rid_len, REFBUS_CMD_PONG, buf, n);
}

static void handle_msg(refbus_broker *b, MDB_txn *txn, refbus_wire_msg *m, int rc)
{
    const char *agency = NULL;
    uint32_t epoch = 0;
    int arc = authenticate(b, m, &agency, &epoch);
    if (arc != 0) {
        refuse_peer(b, txn, m, arc);
        return;
    }
    if (rc != 0) {
        /* Bad framing from an authenticated peer: say why, audit, keep serving. */
        Refbus__V1__AuditRecord r;
        broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_REJECTED);
        r.agency = (char *)agency;
        r.sender = (char *)agency;
        r.reason = rc;
        r.reason_text = (char *)refbus_strerror(rc);
        if (broker_audit_budget(b, agency))
            (void)broker_audit(b, txn, &r);
        if (m->rid_len)
            broker_reject(b, NULL, m->rid, m->rid_len, agency, NULL, rc, refbus_strerror(rc));
        return;
    }
    peer *p = broker_peer_by_rid(b, m->rid, m->rid_len);
    if (p && strcmp(p->agency, agency) != 0)
        p = NULL; /* a stale entry whose routing id now belongs to someone else */
    if (p)
        p->last_seen_ms = refbus_mono_ms();
    switch (m->cmd) {
    case REFBUS_CMD_HELLO: handle_hello(b, txn, m, agency, epoch); break;
    case REFBUS_CMD_SUBMIT:
        (void)broker_submit(b, txn, agency, m->rid, m->rid_len, m->body, m->body_len);
        break;
    case REFBUS_CMD_DELIVERED:
        if (p && p->hello)
            (void)broker_delivered(b, txn, p, m->body, m->body_len);
        break;
    case REFBUS_CMD_RECEIPT_ACK:
        if (p && p->hello)
            (void)broker_notice_ack(b, txn, p, m->body, m->body_len);
        break;
    case REFBUS_CMD_PROOF_REQUEST:
        if (p && p->hello)
            broker_proof_request(b, txn, p, m->body, m->body_len);
        break;
    case REFBUS_CMD_PING: pong(b, m, agency); break;
    case REFBUS_CMD_PONG: break;
    default:
        send_error(b, m->rid, m->rid_len, REFBUS_EPROTO, "command not accepted by the broker");
        break;
    }
}

/* One pass: read what is waiting, apply it in one transaction, commit, then send. */
static int batch(refbus_broker *b)
{
    MDB_txn *txn = NULL;
    refbus_wire_msg *msgs = b->batch_msgs; /* allocated once, at open */
    int *rcs = b->batch_rcs;
    size_t n = 0;
    int rc = 0;
    while (n < b->cfg.max_batch) {
        int r = refbus_wire_recv(b->router, 1, &msgs[n]);
        if (r == REFBUS_EAGAIN)
            break;
        if (r == REFBUS_ETRANSPORT) {
            refbus_wire_msg_clear(&msgs[n]);
            break;
        }
        broker_inflow_note(b, &msgs[n], NULL);
        rcs[n++] = r;
    }
    uint64_t now = refbus_now_ms();
    int need_expiry = now - b->last_expiry_ms >= (uint64_t)b->cfg.expiry_scan_seconds * 1000u;
    int need_cp = b->audit_size > b->last_cp_size + 1 &&
                  (b->audit_size - b->last_cp_size >= b->cfg.checkpoint_records ||
                   refbus_mono_ms() - b->last_cp_ms >= (uint64_t)b->cfg.checkpoint_seconds * 1000u);
    if (n == 0 && !need_expiry && !need_cp && b->n_zap_refusals == 0)
        goto out;
    /* One transaction for the whole pass. When the store is full the transaction is thrown
     * away and the same messages are applied again refusing new ones (level 1), then refusing
     * them without auditing the refusals (level 2): receipts, deliveries and acks still go
     * through, and they are what frees space. */
    for (b->full_level = 0; b->full_level <= 2; b->full_level++) {
        int mrc = mdb_txn_begin(b->store->env, NULL, 0, &txn);
        if (mrc != 0) {
            rc = refbus_bstore_err(mrc);
            goto out;
        }
        b->txn_error = 0;
        broker_metrics_begin(b); /* what an abandoned attempt counted does not count */
        broker_room_begin(b, txn);
        broker_zap_audit(b, txn);
        b->n_acc = 0;
        for (size_t i = 0; i < n; i++)
            handle_msg(b, txn, &msgs[i], rcs[i]);
        broker_accepted_flush(b, txn); /* the pass's ACCEPTED receipts: one signature */
        if (need_expiry && !b->txn_error)
            b->expiry_more = broker_expire(b, txn, now) >= 512;
        if (need_cp && !b->txn_error && b->full_level == 0)
            (void)broker_checkpoint(b, txn);
        uint64_t t_commit = broker_metrics_clock_us();
        mrc = b->txn_error ? MDB_MAP_FULL : mdb_txn_commit(txn); /* full sync: never NOSYNC */
        uint64_t commit_us = broker_metrics_clock_us() - t_commit;
        log_debug("batch: %zu message(s), commit %llu ms", n,
                  (unsigned long long)(commit_us / 1000));
        if (!b->txn_error)
            broker_metrics_commit_latency(b, commit_us);
        if (mrc == 0)
            broker_metrics_committed(b);
        if (b->txn_error)
            mdb_txn_abort(txn);
        txn = NULL;
        if (mrc == 0)
            break;
        /* Nothing of this attempt is durable: drop every answer we were about to send, but
         * for the last attempt's "storage full, try again" refusals, which hold whether or not
         * anything was written (the sender hears why instead of waiting for a timeout). */
        rc = b->txn_error ? b->txn_error : refbus_lmdb_commit_code(mrc, b->cfg.data_dir);
        int last = rc == REFBUS_ESTORAGE || (rc != REFBUS_EMAPFULL && rc != REFBUS_ENOSPC) ||
                   b->full_level == 2;
        size_t kept = 0;
        for (size_t i = 0; i < b->n_out; i++) {
            if (last && b->out[i].storage_refusal && rc != REFBUS_ESTORAGE)
                b->out[kept++] = b->out[i];
            else
                free(b->out[i].body);
        }
        b->n_out = kept;
        broker_sync_audit_size(b, NULL);
        if (rc == REFBUS_ESTORAGE) {
            b->fatal = 1;
            b->full_level = 0;
            goto out;
        }
        if (last) {
            broker_storage_log(b, rc,
                               "batch not committed: %s; %zu message(s) not applied "
                               "(nodes send them again)",
                               refbus_strerror(rc), n);
            b->full_level = 0;
            broker_send_out(b);
            goto out;
        }
        b->full_err = rc;
        if (!b->map_full)
            log_error("storage full: %s", refbus_strerror(rc));
        b->map_full = 1;
    }
    rc = 0;
    b->n_zap_refusals = 0;
    if (need_expiry && !b->expiry_more)
        b->last_expiry_ms = now; /* otherwise the next pass expires the next slice */
    b->full_level = 0;
    broker_send_out(b);
out:
    for (size_t i = 0; i < n; i++)
        refbus_wire_msg_clear(&msgs[i]);
    return rc ? rc : (int)n;
}

/* After a commit: deliveries, notices and checkpoints for every peer that can take them. */
static void pump_all(refbus_broker *b)
{
    MDB_txn *r = NULL;
    if (mdb_txn_begin(b->store->env, NULL, MDB_RDONLY, &r) != 0)
        return;
    for (size_t i = 0; i < b->n_peers; i++) {
        peer *p = &b->peers[i];
        if (!p->hello)
            continue;
        broker_pump(b, p, r);
        if (!p->gone && p->cp_size != b->last_cp_size)
            broker_push_checkpoint(b, p, r);
    }
    mdb_txn_abort(r);
    for (size_t i = 0; i < b->n_peers;) {
        if (b->peers[i].gone) {
            log_info("peer %s disconnected", b->peers[i].agency);
            peer_drop(b, &b->peers[i]);
        } else {
            i++;
        }
    }
}

int refbus_broker_run(refbus_broker *b)
{
    (void)broker_monitor_open(b); /* without it, dead peers are found by failed sends only */
    zmq_pollitem_t items[4] = {{b->router, 0, ZMQ_POLLIN, 0},
                               {b->zap, 0, ZMQ_POLLIN, 0},
                               {b->admin, 0, ZMQ_POLLIN, 0},
                               {b->mon, 0, ZMQ_POLLIN, 0}};
    log_info("broker %s serving on %s (directory serial %llu, audit size %llu)", b->id, b->cfg.bind,
             (unsigned long long)refbus_directory_serial(b->dir),
             (unsigned long long)b->audit_size);
    refbus_sd_ready("serving on %s (directory serial %llu, audit size %llu)", b->cfg.bind,
                    (unsigned long long)refbus_directory_serial(b->dir),
                    (unsigned long long)b->audit_size);
    refbus_sd_watchdog wd;
    refbus_sd_watchdog_init(&wd);
    int fatal = 0;
    while (!*b->stop) {
        /* A store that can no longer be written must not be hidden behind a running process
         * (welcoming nobody, status ok): stop with the reason, the supervisor restarts us. */
        if (b->fatal || (fatal = refbus_bstore_health(b->store)) != 0) {
            fatal = REFBUS_ESTORAGE;
            log_error("the store %s/data.mdb is unusable (%s): stopping", b->cfg.data_dir,
                      refbus_strerror(fatal));
            break;
        }
        /* at most 50 ms: the inflow check (a peer filling memory with an unfinished message
         * sends nothing that wakes the loop) */
        uint64_t due = broker_probe_due(b), now = refbus_mono_ms();
        long wait = due <= now ? 0 : due - now < 50 ? (long)(due - now) : 50;
        uint64_t wdw = refbus_sd_watchdog_kick(&wd, now);
        if ((uint64_t)wait > wdw)
            wait = (long)wdw;
        int n = zmq_poll(items, b->mon ? 4 : 3, wait);
        if (n < 0 && errno != EINTR) {
            log_error("zmq_poll: %s", zmq_strerror(errno));
            return REFBUS_ETRANSPORT;
        }
        if (items[1].revents & ZMQ_POLLIN)
            broker_zap_handle(b);
        if (items[2].revents & ZMQ_POLLIN)
            broker_admin_handle(b);
        if (b->mon && (items[3].revents & ZMQ_POLLIN))
            broker_monitor_handle(b);
        broker_probe(b);
        int got, passes = 0;
        do {
            got = batch(b);
            if (got == REFBUS_ESTORAGE)
                b->fatal = 1;
            if (b->fatal)
                break;
            pump_all(b);
            /* A busy peer must not starve handshakes (ZAP) or the administrators (a revocation
             * arrives through the admin socket): look at both between passes. */
            zmq_pollitem_t side[2] = {{b->zap, 0, ZMQ_POLLIN, 0}, {b->admin, 0, ZMQ_POLLIN, 0}};
            if (zmq_poll(side, 2, 0) > 0) {
                if (side[0].revents & ZMQ_POLLIN)
                    broker_zap_handle(b);
                if (side[1].revents & ZMQ_POLLIN)
                    broker_admin_handle(b);
            }
            if (++passes % 64 == 0)
                broker_redeliver_timeouts(b);
            (void)refbus_sd_watchdog_kick(&wd, refbus_mono_ms()); /* a busy broker lives too */
            broker_inflow_check(b);
        } while (got > 0 && !*b->stop);
        broker_redeliver_timeouts(b);
        broker_inflow_check(b);
    }
    broker_monitor_close(b);
    refbus_sd_stopping(fatal ? "the store is unusable: stopping" : "stopping: final checkpoint");
    if (fatal)
        return fatal; /* nothing more can be written */
    /* Clean shutdown: a final checkpoint and a BROKER_STOPPED record. */
    MDB_txn *txn = NULL;
    if (mdb_txn_begin(b->store->env, NULL, 0, &txn) == 0) {
        Refbus__V1__AuditRecord r;
        broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_BROKER_STOPPED);
        (void)broker_audit(b, txn, &r);
        (void)broker_checkpoint(b, txn);
        if (mdb_txn_commit(txn) != 0)
            log_error("final checkpoint not committed");
    }
    log_info("broker stopped (audit size %llu)", (unsigned long long)b->audit_size);
    return 0;
}
