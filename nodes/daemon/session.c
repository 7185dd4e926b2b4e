/* The broker session: a CurveZMQ DEALER made afresh for every connection (so HELLO is always
 * the first message on it), a socket monitor to see handshakes and disconnects, HELLO/WELCOME,
 * back-off, application pings, and the outbox pump with its send window and resend timer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "proto/frames.h"
#include "proto/wire.h"

#define MON_EVENTS                                                                              \
    (ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
#define RECV_BATCH 256 /* messages handled per wake-up before looking at the other sockets */

int nd_session_send(nd_daemon *d, uint8_t cmd, const void *body, size_t len)
{
    if (!d->dealer)
        return REFBUS_EAGAIN;
    int rc = refbus_wire_send(d->dealer, NULL, 0, cmd, body, len);
    if (rc && rc != REFBUS_EAGAIN)
        log_warn("send %s: %s", refbus_wire_cmd_name(cmd), refbus_strerror(rc));
    return rc;
}

static int setopt_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

void nd_session_connect(nd_daemon *d)
{
    const refbus_epoch_keys *k = nd_ident_keys(d);
    const uint8_t *bc = refbus_directory_broker_curve_pk(d->dir);
    const char *ep = d->cfg.broker[0] ? d->cfg.broker
                     : refbus_directory_broker_endpoint_count(d->dir)
                         ? refbus_directory_broker_endpoint(d->dir, 0)
                         : NULL;
    char mon_ep[64];
    int64_t maxmsg = REFBUS_WIRE_MAX_BODY + 64;
    d->reconnect_at = refbus_mono_ms() + d->cfg.reconnect_max_ms;
    if (!ep || !bc || !k) {
        nd_note_error(d, REFBUS_ECONFIG, "cannot connect: %s",
                      !ep   ? "no broker endpoint (config `broker` or the directory)"
                      : !bc ? "the directory has no broker key"
                            : "no keys for our epoch");
        return;
    }
    snprintf(d->endpoint, sizeof d->endpoint, "%s", ep);
    d->dealer = zmq_socket(d->zctx, ZMQ_DEALER);
    if (!d->dealer)
        goto fail;
    if (setopt_int(d->dealer, ZMQ_LINGER, 0) || setopt_int(d->dealer, ZMQ_IMMEDIATE, 1) ||
        zmq_setsockopt(d->dealer, ZMQ_CURVE_SERVERKEY, bc, 32) ||
        zmq_setsockopt(d->dealer, ZMQ_CURVE_PUBLICKEY, k->curve_pk, crypto_box_PUBLICKEYBYTES) ||
        zmq_setsockopt(d->dealer, ZMQ_CURVE_SECRETKEY, k->curve_sk, crypto_box_SECRETKEYBYTES) ||
        setopt_int(d->dealer, ZMQ_HEARTBEAT_IVL, (int)d->cfg.ping_seconds * 1000) ||
        setopt_int(d->dealer, ZMQ_HEARTBEAT_TIMEOUT, (int)d->cfg.ping_timeout_seconds * 1000) ||
        setopt_int(d->dealer, ZMQ_RECONNECT_IVL, (int)d->cfg.reconnect_min_ms) ||
        setopt_int(d->dealer, ZMQ_RECONNECT_IVL_MAX, (int)d->cfg.reconnect_max_ms) ||
        zmq_setsockopt(d->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        /* whole messages libzmq may hold for us: the broker never has more in flight than
         * our credit plus answers; past it libzmq stops reading (docs/PROTOCOL.md "Limits") */
        setopt_int(d->dealer, ZMQ_RCVHWM, (int)(d->cfg.credit + d->cfg.send_window + 256)))
        goto fail;
    snprintf(mon_ep, sizeof mon_ep, "inproc://refbus-node-monitor-%u", ++d->mon_n);
    if (zmq_socket_monitor(d->dealer, mon_ep, MON_EVENTS) ||
        !(d->mon = zmq_socket(d->zctx, ZMQ_PAIR)) || setopt_int(d->mon, ZMQ_LINGER, 0) ||
        zmq_connect(d->mon, mon_ep) || zmq_connect(d->dealer, ep))
        goto fail;
    memcpy(d->broker_curve, bc, 32);
    d->state = NODE_CONNECTING;
    log_info("connecting to broker %s as %s (epoch %u)", ep, d->me, d->epoch);
    return;
fail:
    nd_note_error(d, REFBUS_ETRANSPORT, "cannot connect to %s: %s", ep, zmq_strerror(errno));
    nd_session_drop(d, NULL, 1);
}

void nd_session_drop(nd_daemon *d, const char *why, int backoff)
{
    uint64_t now = refbus_mono_ms();
    nd_inbound_batch_end(d); /* stored for good; the receipts are sent again on redelivery */
    if (why)
        log_warn("broker session ended: %s", why);
    if (d->dealer)
        zmq_socket_monitor(d->dealer, NULL, 0);
    if (d->mon)
        zmq_close(d->mon);
    if (d->dealer)
        zmq_close(d->dealer);
    d->mon = d->dealer = NULL;
    d->conn_fd = -1;
    if (d->state != NODE_DOWN)
        d->n.reconnects++;
    d->state = NODE_DOWN;
    d->n_fl = 0;
    d->hello_pending = 0;
    d->session = NODE_SESSION_UNKNOWN;
    if (!backoff) {
        d->reconnect_at = now;
        return;
    }
    if (d->backoff_ms < d->cfg.reconnect_min_ms)
        d->backoff_ms = d->cfg.reconnect_min_ms;
    d->reconnect_at = now + d->backoff_ms;
    d->backoff_ms =
        d->backoff_ms * 2 > d->cfg.reconnect_max_ms ? d->cfg.reconnect_max_ms : d->backoff_ms * 2;
}

void nd_session_hello(nd_daemon *d)
{
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_wire_hello h = {.version = REFBUS_WIRE_VERSION,
                           .agency = d->me,
                           .epoch = d->epoch,
                           .credit = d->cfg.credit,
                           .directory_serial = refbus_directory_serial(d->dir),
                           .checkpoint_size = d->have_cp ? d->cp.size : 0};
    if (refbus_wire_hello_encode(&b, &n, &h))
        return;
    int rc = nd_session_send(d, REFBUS_CMD_HELLO, b, n);
    free(b);
    d->hello_pending = rc != 0;
}

void nd_session_on_monitor(nd_daemon *d)
{
    for (;;) {
        uint16_t event = 0;
        uint32_t value = 0;
        if (refbus_frames_monitor_event(d->mon, &event, &value) != 0)
            return;
        switch (event) {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            d->hello_at = d->last_rx = refbus_mono_ms();
            if (d->superseded) {
                nd_served_standby(d); /* ask first: HELLO only when nobody holds the session */
                break;
            }
            d->state = NODE_HELLO;
            nd_session_hello(d);
            break;
        case ZMQ_EVENT_DISCONNECTED:
            if (d->state >= NODE_HELLO) {
                nd_session_drop(d, "connection lost", 1);
                return; /* the monitor socket is gone */
            }
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: {
            int reconnect = 0;
            nd_note_error(d, REFBUS_EUNKNOWNPEER,
                          "the broker refused our transport key (ZAP status %u): unknown, "
                          "retired or revoked in its directory",
                          value);
            if (nd_ident_try_keystore(d, &reconnect) == 0 && reconnect) {
                nd_session_drop(d, "a newer key epoch is in the keystore: reconnecting with it", 0);
                return;
            }
            if (nd_ident_refresh(d, &reconnect) == 0 && d->revoked) {
                const refbus_dir_key *k = NULL;
                if (refbus_directory_current_key(d->dir, d->me, &k) != 0)
                    nd_inbound_fail_pending(d, REFBUS_EREVOKED, d->revoked_reason);
            } else if (!d->revoked && !d->rekey_pending) {
                nd_served_note_claim(d, REFBUS_EUNKNOWNPEER,
                                     "handshake refused: our transport key is "
                                     "unknown, retired or revoked at the broker");
            }
            /* libzmq does not reconnect after a refused handshake: a fresh socket after a
             * back-off, or the node would sit "connecting" for good (e.g. when it read its
             * rotated bundle before the broker had the directory that lists it). */
            nd_session_drop(d, NULL, 1);
            return; /* the monitor socket is gone */
        }
        default:
            nd_note_error(d, REFBUS_ETRANSPORT,
                          "CurveZMQ handshake with %s failed (is the directory's broker "
                          "key right?)",
                          d->endpoint);
            nd_session_drop(d, NULL, 1); /* as above: libzmq gives this connection up */
            return;
        }
    }
}

static void on_welcome(nd_daemon *d, const uint8_t *b, size_t n)
{
    refbus_wire_welcome w;
    if (d->state != NODE_HELLO || refbus_wire_welcome_decode(&w, b, n)) {
        log_warn("unexpected or malformed WELCOME ignored");
        return;
    }
    d->welcome = w;
    d->state = NODE_READY;
    d->session = NODE_SESSION_ACTIVE;
    d->superseded = 0;
    d->session_note[0] = 0;
    if (d->broker_claim)
        log_info("the broker serves us again: its earlier claim (%s) is withdrawn",
                 refbus_errname(d->broker_claim));
    d->broker_claim = 0;
    d->broker_claim_text[0] = 0;
    d->backoff_ms = d->cfg.reconnect_min_ms;
    d->ready_since_ms = refbus_now_ms();
    d->next_ping = refbus_mono_ms() + d->cfg.ping_seconds * 1000u;
    d->pump_from = 0;
    d->n_fl = 0;
    d->last_err = 0;
    d->proof_asked_ms = 0; /* a missing proof is asked for again on the new session */
    d->proof_outstanding = 0;
    log_info("session with broker %s ready (its directory serial %llu, audit size %llu)",
             w.broker_id, (unsigned long long)w.directory_serial, (unsigned long long)w.audit_size);
    nd_session_pump(d);
}

static void on_directory(nd_daemon *d, const uint8_t *b, size_t n)
{
    int reconnect = 0;
    int rc = nd_ident_install_directory(d, b, n, 1);
    if (rc == REFBUS_EROLLBACK)
        return;
    if (rc) {
        nd_note_error(d, rc, "the broker pushed a directory that was refused: %s",
                      refbus_strerror(rc));
        return;
    }
    if ((rc = nd_ident_refresh(d, &reconnect)))
        nd_note_error(d, rc, "after installing the directory: %s", refbus_strerror(rc));
    if (d->revoked)
        nd_inbound_fail_pending(d, REFBUS_EREVOKED, d->revoked_reason);
    if (reconnect)
        nd_session_drop(d, "keys changed: reconnecting with the new ones", 0);
    else
        nd_session_pump(d);
}

static void on_error(nd_daemon *d, const uint8_t *b, size_t n)
{
    refbus_wire_error e;
    int reconnect = 0;
    if (refbus_wire_error_decode(&e, b, n)) {
        nd_session_drop(d, "malformed ERROR from the broker", 1);
        return;
    }
    if (e.has_msg_id && !refbus_err_permanent(e.code)) {
        /* "Try again later" for one SUBMIT (the broker's storage is full, it ran out of
         * memory...): the message stays in the outbox and in flight, the resend timer submits
         * it again. The session is fine. */
        char hex[33];
        refbus_hex(hex, e.msg_id, REFBUS_MSG_ID_BYTES);
        nd_note_error(d, e.code, "broker cannot take %s now: %s (%s); will retry", hex, e.text,
                      refbus_errname(e.code));
        return;
    }
    if (nd_audit_cp_on_error(d, e.code, e.text))
        return; /* the answer to our PROOF_REQUEST, not about the session */
    if (e.code == REFBUS_ESUPERSEDED) {
        nd_served_superseded(d, e.text);
        return; /* the connection stays */
    }
    nd_note_error(d, e.code, "the broker refused this node: %s (%s)", e.text,
                  refbus_errname(e.code));
    if (e.code == REFBUS_EREVOKED || e.code == REFBUS_EUNKNOWNPEER || e.code == REFBUS_ERETIRED) {
        /* An ERROR is unsigned: the signed directory decides. Re-read the directory file and
         * the keystore (a rotated bundle may be there already); the next HELLO announces our
         * serial, and a broker with a newer directory pushes it. */
        if (nd_ident_try_keystore(d, &reconnect) == 0 && reconnect) {
            nd_session_drop(d, "a newer key epoch is in the keystore: reconnecting with it", 0);
            return;
        }
        if (nd_ident_refresh(d, &reconnect) == 0 && reconnect) {
            nd_session_drop(d, "keys changed: reconnecting with the new ones", 0);
            return;
        }
        const refbus_dir_key *k = NULL;
        if (d->revoked) {
            /* The directory confirms it: what is queued was signed by a revoked key. */
            if (refbus_directory_current_key(d->dir, d->me, &k) != 0)
                nd_inbound_fail_pending(d, REFBUS_EREVOKED, d->revoked_reason);
        } else if (!d->rekey_pending) {
            nd_served_note_claim(d, e.code, e.text);
        }
    }
    nd_session_drop(d, NULL, 1);
}

void nd_session_on_broker(nd_daemon *d)
{
    for (int i = 0; i < RECV_BATCH && d->dealer; i++) {
        refbus_wire_msg m;
        int rc = refbus_wire_recv(d->dealer, 0, &m);
        if (rc == REFBUS_EAGAIN)
            break;
        if (rc != REFBUS_ETRANSPORT)
            nd_inflow_taken(d, &m);
        if (rc) {
            log_warn("from broker: %s", refbus_strerror(rc));
            refbus_wire_msg_clear(&m);
            continue;
        }
        d->last_rx = refbus_mono_ms();
        if (m.cmd != REFBUS_CMD_DELIVER && m.cmd != REFBUS_CMD_ACCEPTED &&
            m.cmd != REFBUS_CMD_RECEIPT && m.cmd != REFBUS_CMD_PING)
            nd_inbound_batch_end(d); /* commit the pass's batch before anything else */
        switch (m.cmd) {
        case REFBUS_CMD_WELCOME: on_welcome(d, m.body, m.body_len); break;
        case REFBUS_CMD_ACCEPTED:
        case REFBUS_CMD_REJECTED: nd_inbound_broker_receipt(d, m.cmd, m.body, m.body_len); break;
        case REFBUS_CMD_DELIVER: nd_inbound_deliver(d, m.body, m.body_len); break;
        case REFBUS_CMD_RECEIPT: nd_inbound_notice(d, m.body, m.body_len); break;
        case REFBUS_CMD_PING: (void)nd_session_send(d, REFBUS_CMD_PONG, m.body, m.body_len); break;
        case REFBUS_CMD_PONG: nd_served_on_pong(d, m.body, m.body_len); break;
        case REFBUS_CMD_DIRECTORY: on_directory(d, m.body, m.body_len); break;
        case REFBUS_CMD_CHECKPOINT: nd_inbound_checkpoint(d, m.body, m.body_len); break;
        case REFBUS_CMD_ERROR: on_error(d, m.body, m.body_len); break;
        default: log_warn("unexpected %s from the broker ignored", refbus_wire_cmd_name(m.cmd));
        }
        refbus_wire_msg_clear(&m);
    }
    nd_inbound_batch_end(d);
}

static node_inflight *inflight_find(nd_daemon *d, const uint8_t msg_id[REFBUS_MSG_ID_BYTES])
{
    for (size_t i = 0; i < d->n_fl; i++)
        if (memcmp(d->fl[i].msg_id, msg_id, REFBUS_MSG_ID_BYTES) == 0)
            return &d->fl[i];
    return NULL;
}

void nd_session_inflight_remove(nd_daemon *d, const uint8_t msg_id[REFBUS_MSG_ID_BYTES])
{
    node_inflight *f = inflight_find(d, msg_id);
    if (f)
        *f = d->fl[--d->n_fl];
}

static int inflight_add(nd_daemon *d, uint64_t seq, const uint8_t msg_id[REFBUS_MSG_ID_BYTES])
{
    if (d->n_fl == d->cap_fl) {
        size_t cap = d->cap_fl ? d->cap_fl * 2 : 64;
        node_inflight *a = realloc(d->fl, cap * sizeof *a);
        if (!a)
            return REFBUS_ENOMEM;
        d->fl = a;
        d->cap_fl = cap;
    }
    d->fl[d->n_fl++] = (node_inflight){seq, {0}, refbus_mono_ms()};
    memcpy(d->fl[d->n_fl - 1].msg_id, msg_id, REFBUS_MSG_ID_BYTES);
    return 0;
}

typedef struct pump_ctx {
    nd_daemon *d;
    uint64_t reseal[64];
    size_t n_reseal;
    int blocked;
} pump_ctx;

static int pump_one(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t len)
{
    pump_ctx *p = ctx;
    nd_daemon *d = p->d;
    if (klen != 8)
        return 0;
    uint64_t seq = refbus_get_u64be(key);
    if (d->n_fl >= d->cfg.send_window)
        return 1;
    refbus_outbox_rec *r = refbus_nrec_outbox_unpack(val, len);
    if (!r || r->msg_id.len != 16 || r->state != REFBUS__NODESTORE__OUT_STATE__OUT_PENDING ||
        inflight_find(d, r->msg_id.data)) {
        d->pump_from = seq + 1;
        goto out;
    }
    if (r->sender_epoch != d->epoch && !d->rekey_pending) {
        if (p->n_reseal < sizeof p->reseal / sizeof p->reseal[0])
            p->reseal[p->n_reseal++] = seq;
        d->pump_from = seq + 1;
        goto out;
    }
    nd_crash_point("REFBUS_NODE_CRASH_BEFORE_SEND");
    int rc = nd_session_send(d, REFBUS_CMD_SUBMIT, r->envelope.data, r->envelope.len);
    if (rc) {
        p->blocked = 1;
        refbus_nstore_outbox_free(&r); /* wiped: it holds the plaintext payload */
        return 1;
    }
    d->n.submitted++;
    if (inflight_add(d, seq, r->msg_id.data)) {
        p->blocked = 1;
        refbus_nstore_outbox_free(&r); /* wiped: it holds the plaintext payload */
        return 1;
    }
    d->pump_from = seq + 1;
out:
    if (r)
        refbus_nstore_outbox_free(&r);
    return 0;
}

/* Re-seal records signed with an older epoch of ours (after a rotation), same msg id. */
static void reseal(nd_daemon *d, const uint64_t *seqs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        MDB_txn *txn = NULL;
        refbus_outbox_rec *r = NULL;
        int rc = refbus_nstore_begin(d->store, 1, &txn);
        if (!rc)
            rc = refbus_nstore_outbox_get(d->store, txn, seqs[i], &r);
        if (!rc && r->sender_epoch != d->epoch)
            rc = nd_compose_reseal(d, r);
        if (!rc)
            rc = refbus_nstore_outbox_update(d->store, txn, seqs[i], r);
        if (!rc)
            rc = refbus_nstore_commit(&txn);
        refbus_nstore_abort(&txn);
        refbus_nstore_outbox_free(&r);
        if (rc)
            log_warn("re-sealing outbox entry %llu: %s", (unsigned long long)seqs[i],
                     refbus_strerror(rc));
        if (seqs[i] < d->pump_from)
            d->pump_from = seqs[i];
    }
}

void nd_session_pump(nd_daemon *d)
{
    MDB_txn *txn = NULL;
    pump_ctx p = {.d = d};
    uint8_t from[8];
    if (d->state != NODE_READY || d->revoked)
        return;
    for (int round = 0; round < 2; round++) {
        p.n_reseal = 0;
        refbus_put_u64be(from, d->pump_from);
        if (refbus_nstore_begin(d->store, 0, &txn))
            return;
        int rc = refbus_nstore_scan(d->store, txn, REFBUS_T_OUTBOX, from, 8, 0, pump_one, &p);
        refbus_nstore_abort(&txn);
        if (rc)
            log_warn("outbox: %s", refbus_strerror(rc));
        if (!p.n_reseal)
            break;
        reseal(d, p.reseal, p.n_reseal);
    }
    d->pump_retry_at = p.blocked ? refbus_mono_ms() + 50 : 0;
}

static void resend_stale(nd_daemon *d, uint64_t now)
{
    for (size_t i = 0; i < d->n_fl; i++) {
        node_inflight *f = &d->fl[i];
        if (now - f->sent_ms < d->cfg.resend_seconds * 1000ull)
            continue;
        MDB_txn *txn = NULL;
        refbus_outbox_rec *r = NULL;
        if (refbus_nstore_begin(d->store, 0, &txn) == 0 &&
            refbus_nstore_outbox_get(d->store, txn, f->seq, &r) == 0 &&
            nd_session_send(d, REFBUS_CMD_SUBMIT, r->envelope.data, r->envelope.len) == 0) {
            log_info("no answer from the broker for outbox entry %llu: sent again",
                     (unsigned long long)f->seq);
            d->n.submitted++;
        }
        f->sent_ms = now;
        refbus_nstore_outbox_free(&r);
        refbus_nstore_abort(&txn);
    }
}

void nd_session_timers(nd_daemon *d, uint64_t now)
{
    int changed = 0;
    nd_inbound_sync_timer(d, now);
    nd_inflow_check(d, now);
    nd_audit_cp_timers(d, now);
    nd_ident_watch_files(d, now, &changed);
    if (changed && d->state != NODE_DOWN)
        nd_session_drop(d, "keys changed: reconnecting with the new ones", 0);
    if (d->rekey_pending && now >= d->rekey_retry_ms) {
        int reconnect = 0;
        d->rekey_retry_ms = now + 2000;
        if (nd_ident_refresh(d, &reconnect) == 0 && reconnect)
            nd_session_drop(d, "keys changed: reconnecting with the new ones", 0);
    }
    if (d->state == NODE_DOWN) {
        if (now >= d->reconnect_at)
            nd_session_connect(d);
        return;
    }
    if (d->state == NODE_HELLO) {
        if (d->hello_pending)
            nd_session_hello(d);
        if (now - d->hello_at > NODE_HELLO_TIMEOUT_MS)
            nd_session_drop(d, "no WELCOME from the broker", 1);
        return;
    }
    if (d->state != NODE_READY)
        return;
    if (now - d->last_rx > d->cfg.ping_timeout_seconds * 1000ull) {
        nd_session_drop(d, "the broker has been silent too long", 1);
        return;
    }
    if (now >= d->next_ping) {
        uint8_t *b = NULL;
        size_t n = 0;
        refbus_wire_ping p = {.time_ms = refbus_now_ms()};
        if (refbus_wire_ping_encode(&b, &n, &p) == 0)
            (void)nd_session_send(d, REFBUS_CMD_PING, b, n);
        free(b);
        d->next_ping = now + d->cfg.ping_seconds * 1000ull;
    }
    resend_stale(d, now);
    if (d->pump_retry_at && now >= d->pump_retry_at)
        nd_session_pump(d);
}

uint64_t nd_session_next_timer(const nd_daemon *d, uint64_t now)
{
    /* 20 ms while a session is up: a broker filling our memory with an unfinished message
     * sends nothing that wakes the loop (nd_session_timers runs the inflow guard) */
    uint64_t t = now + (d->dealer ? 20 : 1000);
#define EARLIER(x)                     \
    do {                               \
        if ((x) < t)                   \
            t = (x) < now ? now : (x); \
    } while (0)
    if (d->state == NODE_DOWN)
        EARLIER(d->reconnect_at);
    if (d->state == NODE_HELLO && d->hello_pending)
        EARLIER(now + 20);
    if (d->state == NODE_READY) {
        EARLIER(d->next_ping);
        if (d->pump_retry_at)
            EARLIER(d->pump_retry_at);
    }
    if (d->rekey_pending)
        EARLIER(d->rekey_retry_ms);
    if (d->sync_at)
        EARLIER(d->sync_at);
#undef EARLIER
    return t;
}
