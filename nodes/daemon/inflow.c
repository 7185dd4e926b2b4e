/* The node's inflow guard: memory bounded by what the broker sends (docs/PROTOCOL.md
 * "Limits"). libzmq keeps every frame of a message until its last one arrives, and nothing in
 * libzmq bounds the number of frames, so the node watches its one broker connection itself. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"

/* libzmq holds a multipart message until its last frame and nothing in libzmq bounds its
 * frames (ZMQ_MAXMSGSIZE is per frame): a broker could fill our memory with one endless
 * message. So every 20 ms the bytes libzmq read from the broker connection (TCP_INFO minus
 * SIOCINQ) are compared with the bytes of whole messages we took from it: more than
 * NODE_INFLOW_MAX ahead (plus 64 bytes a second for heartbeats) means an unfinished message
 * bigger than any legal one, and the session is dropped (closing the socket frees it). Over
 * max_memory_mb of anonymous memory the session is dropped too (a backstop). */
#define NODE_INFLOW_MAX (16u << 20)

void nd_inflow_check(nd_daemon *d, uint64_t now)
{
    uint64_t limit = (uint64_t)d->cfg.max_memory_mb << 20, read = 0;
    char why[200] = "";
    if (!d->dealer || now < d->guard_next_ms)
        return;
    d->guard_next_ms = now + 20;
    if (d->conn_fd < 0) { /* no whole message yet: find the connection by the broker's port */
        const char *colon = strrchr(d->endpoint, ':');
        int fd = colon && strncmp(d->endpoint, "tcp://", 6) == 0
                     ? refbus_sock_find_port(atoi(colon + 1), 0, -1)
                     : -1;
        if (fd >= 0) {
            d->conn_fd = fd;
            d->conn_taken = 0;
            d->conn_since_ms = now;
        }
    }
    if (d->conn_fd >= 0 && refbus_sock_bytes_read(d->conn_fd, &read) == 0) {
        uint64_t allowed = NODE_INFLOW_MAX + (now - d->conn_since_ms) / 1000u * 64u;
        if (read > d->conn_taken && read - d->conn_taken > allowed)
            snprintf(why, sizeof why,
                     "the broker sent %llu MiB without finishing a message "
                     "(more than any legal one)",
                     (unsigned long long)((read - d->conn_taken) >> 20));
    }
    if (!why[0] && refbus_mem_anon_bytes() > limit) {
        malloc_trim(0);
        uint64_t anon = refbus_mem_anon_bytes();
        if (anon > limit)
            snprintf(why, sizeof why, "memory %llu MiB over max_memory_mb %u",
                     (unsigned long long)(anon >> 20), d->cfg.max_memory_mb);
    }
    if (!why[0])
        return;
    nd_note_error(d, REFBUS_ETOOLARGE, "broker session dropped: %s", why);
    nd_session_drop(d, why, 1);
}

/* A whole message came from the broker: count it against what its connection read. */
void nd_inflow_taken(nd_daemon *d, const refbus_wire_msg *m)
{
    if (m->peer_fd < 0)
        return;
    if (m->peer_fd != d->conn_fd) {
        d->conn_fd = m->peer_fd;
        d->conn_taken = 0;
        d->conn_since_ms = refbus_mono_ms();
    }
    d->conn_taken += m->wire_bytes;
}
