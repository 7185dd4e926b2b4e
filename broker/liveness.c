/* Dead peers are forgotten promptly (DESIGN §7.8). libzmq notices a closed or silent
 * connection (TCP close, ZMTP heartbeats) but a ROUTER says nothing: the broker would keep a
 * dead connection as its agency's session, and a node that was taken over would never hear
 * that the session is free. A socket monitor reports each DISCONNECTED with the connection's
 * file descriptor; every message carries the descriptor it came from (ZMQ_SRCFD), so the peer
 * behind it is known, and a probe (a PING, refused with EHOSTUNREACH once libzmq has
 * dropped the pipe) confirms it before the peer is forgotten. */
#include "broker/internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/frames.h"
#include "proto/wire_body.h"

#define MONITOR_EP "inproc://refbus-broker-monitor"
#define PROBE_TRIES 20 /* the pipe goes away a moment after the event */
#define PROBE_GAP_MS 50u

int broker_monitor_open(refbus_broker *b)
{
    int zero = 0;
    if (zmq_socket_monitor(b->router, MONITOR_EP, ZMQ_EVENT_DISCONNECTED) != 0 ||
        !(b->mon = zmq_socket(b->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(b->mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(b->mon, MONITOR_EP) != 0) {
        log_warn("no socket monitor (%s): dead peers are noticed only when a send fails",
                 zmq_strerror(errno));
        broker_monitor_close(b);
        return REFBUS_ETRANSPORT;
    }
    return 0;
}

void broker_monitor_close(refbus_broker *b)
{
    if (b->router)
        (void)zmq_socket_monitor(b->router, NULL, 0);
    if (b->mon)
        zmq_close(b->mon);
    b->mon = NULL;
}

void broker_monitor_handle(refbus_broker *b)
{
    for (int i = 0; b->mon && i < 256; i++) {
        uint16_t event = 0;
        uint32_t fd = 0;
        if (refbus_frames_monitor_event(b->mon, &event, &fd) != 0)
            return;
        if (event != ZMQ_EVENT_DISCONNECTED)
            continue;
        broker_inflow_forget(b, (int)fd);
        for (size_t j = 0; j < b->n_peers; j++)
            if (b->peers[j].fd == (int)fd) {
                b->peers[j].probe_left = PROBE_TRIES;
                b->peers[j].probe_at = refbus_mono_ms();
            }
    }
}

/* Send a PING to each peer whose connection was reported closed: EHOSTUNREACH means libzmq
 * has forgotten the routing id, so the broker forgets it too (pump_all drops `gone` peers).
 * A live connection that now has the same descriptor just answers PONG. */
void broker_probe(refbus_broker *b)
{
    uint64_t now = refbus_mono_ms();
    for (size_t i = 0; i < b->n_peers; i++) {
        peer *p = &b->peers[i];
        if (!p->probe_left || p->gone || now < p->probe_at)
            continue;
        refbus_wire_ping ping = {.time_ms = refbus_now_ms()};
        uint8_t *buf = NULL;
        size_t n = 0;
        int rc = refbus_wire_ping_encode(&buf, &n, &ping);
        if (rc == 0)
            rc = refbus_wire_send(b->router, p->rid, p->rid_len, REFBUS_CMD_PING, buf, n);
        free(buf);
        if (rc == REFBUS_EUNKNOWNPEER) {
            p->gone = 1;
            p->probe_left = 0;
            continue;
        }
        p->probe_left--;
        p->probe_at = now + PROBE_GAP_MS;
    }
}

uint64_t broker_probe_due(const refbus_broker *b)
{
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < b->n_peers; i++)
        if (b->peers[i].probe_left && b->peers[i].probe_at < t)
            t = b->peers[i].probe_at;
    return t;
}
