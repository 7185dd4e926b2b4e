/* refbus-node C API for agency systems: send referrals, poll the inbox, answer in threads.
 *
 * Design choice: this is the CLIENT side of the node daemon's local control socket (ipc://,
 * mode 0600). The daemon (`refbus-node run`) alone holds the agency's keys, its encrypted store
 * and the broker session; a program linking this API needs neither the passphrase nor access
 * to the store, and any number of programs (and the refbus-node command line, which is built
 * on this API) can use one node at the same time. Every answer is JSON (the same documents
 * `refbus-node ... ` prints; docs/NODE.md), returned as a malloc'd NUL-terminated string the
 * caller frees with free().
 *
 * Errors: every function returns 0 or a negative REFBUS_E* code (common/err.h). When the
 * daemon refused the request, the code is the daemon's (REFBUS_EJSON for a bad referral,
 * REFBUS_ETRANSITION for a nonsense thread transition, REFBUS_EREVOKED, REFBUS_EPOLICY, ...)
 * and refbus_node_last_error() says why in a sentence. REFBUS_EUNAVAILABLE: no daemon answers
 * on the control socket; REFBUS_ETIMEOUT: it did not answer in time. */
#ifndef REFBUS_NODES_REFBUS_NODE_H
#define REFBUS_NODES_REFBUS_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct refbus_node refbus_node;

/* Connect to the daemon whose config file is `config_path` (its `control` key, or
 * ipc://DATA_DIR/control.sock). On success *out is the caller's (refbus_node_close).
 * Errors: REFBUS_ENOTFOUND, REFBUS_ECONFIG (the file), REFBUS_EUNAVAILABLE (no control socket
 * there), REFBUS_ETRANSPORT, REFBUS_ENOMEM. */
int refbus_node_open(refbus_node **out, const char *config_path) REFBUS_WUR;
/* The same with the control endpoint itself ("ipc:///var/lib/refbus/node/x/control.sock"). */
int refbus_node_open_endpoint(refbus_node **out, const char *endpoint) REFBUS_WUR;
/* Accepts NULL and *n == NULL; sets *n to NULL. */
void refbus_node_close(refbus_node **n);

/* How long to wait for each answer (default 10000 ms). */
void refbus_node_set_timeout(refbus_node *n, int timeout_ms);

/* The daemon's sentence for the last failed call ("" when none). Owned by n. */
const char *refbus_node_last_error(const refbus_node *n);

/* Options of refbus_node_send(); zero / NULL fields mean "the default". */
typedef struct refbus_node_send_opts {
    const char *urgency;    /* "routine", "urgent", "immediate_danger": sets the referral's
                               urgency when it has none (a different one is an error) */
    uint64_t expires_in_ms; /* 0: the node's default_expiry */
    const char *msg_id;     /* 32 hex digits chosen by the caller, so that a retried call
                               cannot queue the referral twice (REFBUS_EEXIST the 2nd time) */
} refbus_node_send_opts;

/* Queue the referral `referral_json` (docs/NODE.md "Referral JSON") for `n_to` agencies. The
 * daemon checks it (an error names the field; nothing is queued), seals it, stores it in its
 * outbox and answers {"ok":true,"msg_id":..,"thread_id":..,"state":"pending",...}; it is sent
 * to the broker and kept until ACCEPTED (see refbus_node_outbox). `reply` may be NULL; else
 * *reply is set (or NULL) on every return.
 *
 * Retrying safely (a child must never be referred twice): the msg id is chosen before the
 * request leaves (opts->msg_id, or a random one made here), and every answer that may have
 * queued something carries it in its "msg_id" field:
 *  - REFBUS_ETIMEOUT / REFBUS_ETRANSPORT: the daemon may or may not have queued it; *reply is
 *    {"ok":false,...,"msg_id":ID,"queued":null}. Do NOT send a new referral: look ID up with
 *    refbus_node_outbox(n, ID, ...) — found means queued (or already sent); REFBUS_ENOTFOUND
 *    means not queued, and the same call may be repeated with opts->msg_id = ID;
 *  - REFBUS_EEXIST: an earlier call with this msg id already queued it (nothing new queued);
 *  - the daemon's other refusals carry "msg_id" and "queued": false (nothing queued), or
 *    "queued": true when it failed after queuing (then it is in the outbox).
 * Repeating the call with the same opts->msg_id is always safe: it queues at most once. */
int refbus_node_send(refbus_node *n, const char *referral_json, const char *const *to, size_t n_to,
                     const refbus_node_send_opts *opts, char **reply) REFBUS_WUR;

/* Inbox items with a sequence number above `after_seq`, at most `max` (1..1000; 0 = 100), in
 * arrival order: {"ok":true,"items":[...],"last_seq":N,"more":bool}. An agency system keeps
 * last_seq and passes it next time: every message is seen once, in order. */
int refbus_node_inbox_poll(refbus_node *n, uint64_t after_seq, unsigned max,
                           char **reply) REFBUS_WUR;
/* One inbox message with its decrypted content; `id` is its sequence number or msg id. */
int refbus_node_inbox_show(refbus_node *n, const char *id, char **reply) REFBUS_WUR;

/* Answer in the thread of message `msg_id` (inbox or sent): `status` is "received",
 * "accepted", "declined" (needs reason_code), "in_progress", "completed", "note" (needs text),
 * or, for the referring agency, "cancelled" / "consent_withdrawn". Refused with
 * REFBUS_ETRANSITION when it makes no sense in the thread's state. reason_code / text may be
 * NULL. *reply may be NULL. The answer is itself a message with an id of its own ("msg_id" in
 * every answer that may have queued it, "in_reply_to" the one answered); retry exactly as for
 * refbus_node_send: after REFBUS_ETIMEOUT / REFBUS_ETRANSPORT ("queued": null) look that id up
 * with refbus_node_outbox, and repeat only with the same id (refbus_node_reply_id), which
 * answers REFBUS_EEXIST when it was queued already. */
int refbus_node_reply(refbus_node *n, const char *msg_id, const char *status,
                      const char *reason_code, const char *text, char **reply) REFBUS_WUR;
/* The same with the answer's own id chosen by the caller (32 hex digits; NULL: a random one):
 * repeating the call with the same reply_id queues the answer at most once. */
int refbus_node_reply_id(refbus_node *n, const char *msg_id, const char *reply_id,
                         const char *status, const char *reason_code, const char *text,
                         char **reply) REFBUS_WUR;

/* The thread's state per agency and its history. */
int refbus_node_thread_show(refbus_node *n, const char *thread_id, char **reply) REFBUS_WUR;
/* What is waiting for the broker (msg_id NULL), or one message: pending / failed (with the
 * reason) / accepted with each recipient's delivery receipt. */
int refbus_node_outbox(refbus_node *n, const char *msg_id, char **reply) REFBUS_WUR;
/* One page of the outbox list: entries with a sequence number above `after_seq`, at most `max`
 * (1..1000; 0 = 1000), oldest first: {"ok":true,"items":[...],"last_seq":N,"more":bool}. When
 * "more" is true, call again with after_seq = last_seq for the rest. refbus_node_outbox(n,
 * NULL, ...) is the first page. */
int refbus_node_outbox_list(refbus_node *n, uint64_t after_seq, unsigned max,
                            char **reply) REFBUS_WUR;
/* The node's state: broker session, key state, directory, outbox, inbox, audit checkpoint. */
int refbus_node_status(refbus_node *n, char **reply) REFBUS_WUR;

/* Any request document (see docs/NODE.md "Control protocol"); the others are built on it. */
int refbus_node_request(refbus_node *n, const char *request_json, char **reply) REFBUS_WUR;

#endif
