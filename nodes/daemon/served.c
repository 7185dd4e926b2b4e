/* Is this node being served? The broker's word on our session (its PONG says whether this
 * connection holds the agency's session; ESUPERSEDED says another took it over), standby
 * without fighting a duplicate node for the session, and claims about our key that only the
 * signed directory may confirm (an ERROR is unsigned). DESIGN §7.8: nothing stalls silently. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"

/* The broker said something about our key that only the signed directory may decide (an
 * ERROR is not signed, and the broker is trusted for availability only): keep everything,
 * say so in status and the log, and try again with back-off. */
void nd_served_note_claim(nd_daemon *d, int code, const char *text)
{
    const refbus_dir_key *k = NULL;
    int st = refbus_directory_key_trust(d->dir, d->me, d->epoch, REFBUS_KEY_SEND, &k);
    if (d->broker_claim != code)
        log_warn("the broker says %s (%s), but our signed directory (serial %llu) says key "
                 "epoch %u of %s is %s: the outbox is kept and sending is retried; ask the "
                 "administrators if it persists",
                 text, refbus_errname(code), (unsigned long long)refbus_directory_serial(d->dir),
                 d->epoch, d->me, st == 0 ? "active" : refbus_strerror(st));
    d->broker_claim = code;
    snprintf(d->broker_claim_text, sizeof d->broker_claim_text, "%s", text);
    d->broker_claim_ms = refbus_now_ms();
}

/* Connected, but another connection holds the agency's session: keep the connection (the
 * outbox still goes out, ACCEPTED comes back here), ping now to learn when the session is
 * free, and never take it over by HELLO while someone else holds it. */
void nd_served_standby(nd_daemon *d)
{
    d->state = NODE_READY;
    d->session = NODE_SESSION_OTHER;
    d->superseded = 1;
    d->ready_since_ms = refbus_now_ms();
    d->next_ping = refbus_mono_ms();
    d->pump_from = 0;
    d->n_fl = 0;
}

void nd_served_superseded(nd_daemon *d, const char *text)
{
    if (!d->superseded || d->session != NODE_SESSION_OTHER)
        log_warn("NOT SERVED: %s; this node keeps its connection and outbox but receives "
                 "nothing until the session is free (stop the other node)",
                 text);
    snprintf(d->session_note, sizeof d->session_note, "%s", text);
    if (d->state == NODE_READY || d->state == NODE_HELLO)
        nd_served_standby(d);
    d->superseded = 1;
}

/* PONG from the broker: does this connection hold our session? */
void nd_served_on_pong(nd_daemon *d, const uint8_t *b, size_t n)
{
    refbus_wire_ping pong;
    if (refbus_wire_ping_decode(&pong, b, n) || d->state != NODE_READY)
        return;
    switch (pong.session) {
    case NODE_SESSION_ACTIVE:
        d->session = NODE_SESSION_ACTIVE;
        d->superseded = 0;
        d->session_note[0] = 0;
        break;
    case NODE_SESSION_OTHER:
        if (d->session != NODE_SESSION_OTHER || !d->superseded)
            nd_served_superseded(d, d->session_note[0] ? d->session_note
                                                       : "connected, but another connection holds "
                                                         "this agency's session at the broker (a "
                                                         "second node with these keys?)");
        break;
    case NODE_SESSION_NONE:
        /* Nobody holds it (the other node is gone, or the broker ended ours): take it. */
        log_info("the broker says nobody holds %s's session: taking it", d->me);
        d->session = NODE_SESSION_NONE;
        d->state = NODE_HELLO;
        d->hello_at = refbus_mono_ms();
        nd_session_hello(d);
        break;
    default: break; /* a broker that does not say */
    }
}
