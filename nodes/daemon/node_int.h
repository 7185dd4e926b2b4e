/* The refbus-node daemon's context (nd_daemon) and the functions its modules share, all with
 * the daemon's private prefix nd_ (internal: agency systems use nodes/client/refbus_node.h; the
 * public entry points are refbus_node_daemon_* in daemon.h). One context per daemon, driven by
 * one zmq_poll loop (daemon.c); no other global state but the stop flag. */
#ifndef REFBUS_NODES_NODE_INT_H
#define REFBUS_NODES_NODE_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/checkpoint.h"
#include "keys/directory.h"
#include "keys/keystore.h"
#include "nodes/daemon/config.h"
#include "nodes/store/records.h"
#include "nodes/store/store.h"
#include "proto/receipt.h"
#include "proto/wire_body.h"
#include "proto/wire.h"

enum node_state { NODE_DOWN = 0, NODE_CONNECTING, NODE_HELLO, NODE_READY };
/* The broker's last word on whether our connection holds the agency's session (the values of
 * refbus.v1.SessionState, carried in its PONG). */
enum node_session {
    NODE_SESSION_UNKNOWN = 0,
    NODE_SESSION_ACTIVE,
    NODE_SESSION_OTHER,
    NODE_SESSION_NONE
};

#define NODE_RECENT 8
#define NODE_HELLO_TIMEOUT_MS 10000u
#define NODE_EXPIRY_GRACE_MS (5u * 60u * 1000u) /* clock skew we tolerate on delivery */
#define NODE_LAZY_SYNC_MS 100u /* a lazy commit is flushed within this (inbound.c) */

/* A SUBMIT sent on this session, not yet answered. */
typedef struct node_inflight {
    uint64_t seq;
    uint8_t msg_id[REFBUS_MSG_ID_BYTES];
    uint64_t sent_ms; /* monotonic */
} node_inflight;

/* A delivery we refused (or could not take yet), for `status`. */
typedef struct node_refusal {
    uint64_t time_ms;
    char sender[REFBUS_AGENCY_ID_MAX + 1];
    char msg_id[33];
    int code;
    char text[200];
} node_refusal;

typedef struct node_counters {
    uint64_t delivered_in, duplicates_in, refused_in, deferred_in;
    uint64_t submitted, accepted, rejected, receipts_in, bad_receipts;
    uint64_t directories_installed, checkpoints_verified, checkpoints_refused, reconnects;
    uint64_t checkpoints_unproven; /* times the "no proof in time" alarm was raised */
    uint64_t proof_requests, reanchors;
    uint64_t queue_commits;   /* group commits of control requests that queued something */
    uint64_t receipt_commits; /* commits of passes holding broker receipts or notices */
} node_counters;

typedef struct nd_daemon {
    refbus_node_config cfg;
    char me[REFBUS_AGENCY_ID_MAX + 1];
    volatile sig_atomic_t *stop;

    /* identity (ident.c) */
    char *pass; /* sodium_malloc'd: kept to re-read the keystore after a rotation */
    size_t pass_len;
    refbus_keystore *ks;
    refbus_directory *dir;
    uint8_t root_pk[crypto_sign_PUBLICKEYBYTES];
    uint32_t epoch; /* the epoch we sign and connect with */
    int revoked;    /* our key is revoked: nothing can be sent */
    char revoked_reason[256];
    int rekey_pending;       /* the directory names an epoch our keystore lacks */
    uint64_t files_check_ms; /* next look at the keystore and directory files */
    struct node_file_stamp {
        unsigned long long ino, size, mtime_ns;
    } ks_stamp, dir_stamp;
    uint64_t rekey_retry_ms;
    uint8_t broker_curve[32]; /* the server key the current socket was made with */

    /* store */
    refbus_nstore *store;
    int lock_fd;

    /* transport (session.c) */
    void *zctx, *dealer, *mon, *ctl;
    unsigned mon_n;
    enum node_state state;
    char endpoint[REFBUS_NODE_ENDPOINT_MAX];
    uint64_t backoff_ms, reconnect_at, hello_at, last_rx, next_ping, ready_since_ms;
    uint64_t down_since_ms; /* wall clock: not served by the broker since (0: served; daemon.c) */
    int down_warned;        /* the "no session for long" warning was logged (daemon.c) */
    int hello_pending;
    refbus_wire_welcome welcome;
    node_inflight *fl;
    size_t n_fl, cap_fl;
    uint64_t pump_from; /* next outbox seq to consider on this session */
    /* inflow guard (inflow.c): the broker connection's socket, the bytes of whole messages
     * taken from it, since when, and the next check */
    int conn_fd;
    uint64_t conn_taken, conn_since_ms, guard_next_ms;
    uint64_t pump_retry_at;
    /* Not served: another connection with our keys holds the session (told ESUPERSEDED, or a
     * PONG said so). The connection stays (it still sends its outbox) and takes the session
     * back only when the broker says nobody holds it: two nodes never fight over it. */
    enum node_session session;
    int superseded;
    char session_note[256];
    /* An unsigned ERROR (EREVOKED, ...) that the signed directory does not confirm: reported,
     * retried with back-off, never a reason to stop sending. 0: none. */
    int broker_claim;
    char broker_claim_text[256];
    uint64_t broker_claim_ms;

    /* deliveries, ACCEPTED receipts and receipt notices of one receive pass share one write
     * transaction (inbound.c, receipts.c); the DELIVERED receipts and NoticeAcks go out only
     * after its synced commit. A pass with neither commits lazily (refbus_nstore_commit_lazy:
     * only ACCEPTEDs, which a resend gets again) and is flushed by the next synced commit or
     * at sync_at. */
    MDB_txn *batch;
    uint64_t *acks; /* RECEIPT notices stored in the batch, to acknowledge after its commit */
    size_t n_acks, cap_acks;
    int batch_receipts; /* broker receipts or notices in the batch */
    int batch_taint;    /* a write in the batch failed (its code): the batch is dropped whole */
    int batch_pump;     /* an ACCEPTED in the batch freed a send-window slot */
    uint64_t sync_at;   /* monotonic: flush a lazy commit by then (0: nothing unflushed) */
    struct node_pending_receipt {
        uint8_t msg_id[REFBUS_MSG_ID_BYTES];
        char sender[REFBUS_AGENCY_ID_MAX + 1];
        uint8_t hash[REFBUS_HASH_BYTES];
        int dup;
    } * pending;
    size_t n_pending, cap_pending;

    /* audit checkpoint (audit_cp.c) */
    int have_cp;
    refbus_checkpoint cp;
    json_t *cp_alarm; /* the last refused checkpoint, reported in status; NULL = none */
    /* a newer checkpoint the broker showed without a proof from ours: we ask for one */
    int behind;
    refbus_checkpoint ahead;     /* the newest such checkpoint (its signature verified) */
    uint64_t behind_since_ms;    /* wall clock; kept in the store, so a restart does not reset it */
    int unproven_alarm;          /* behind for cfg.checkpoint_proof_seconds or longer */
    uint64_t unproven_logged_ms; /* monotonic: the alarm is logged again every period */
    uint64_t proof_asked_ms;     /* monotonic time of the last PROOF_REQUEST; 0 = ask now */
    int proof_outstanding;       /* a PROOF_REQUEST has no answer yet */
    uint64_t asked_to[8];        /* to_size of the last PROOF_REQUESTs: a late answer to one of
                                  * them is older than what we hold by then, not a truncation */
    unsigned asked_next;
    char proof_refused[200]; /* the broker's last refusal of a PROOF_REQUEST ("" = none) */
    /* re-anchoring after a broker restore (audit_cp.c): a root-signed statement in the
     * directory names the checkpoint to take as the new anchor */
    uint64_t ra_serial_seen; /* directory serial last looked at, plus one (0 = never) */
    int ra_wanted;
    refbus_dir_reanchor ra; /* the statement not applied yet */
    int ra_have_applied;
    uint8_t ra_applied[40]; /* size (u64be) || root of the last statement applied */
    json_t *ra_last;        /* the last re-anchor applied, for status; NULL = none */

    /* send/reply requests of one control pass share one write transaction (one sync); their
     * answers wait in ctl_answers until it commits (control.c) */
    MDB_txn *ctl_batch;
    int ctl_taint; /* a write in ctl_batch failed (its code): the batch is dropped whole */
    struct nd_ctl_answer *ctl_answers;
    size_t n_ctl_answers, cap_ctl_answers;
    int test_gathered; /* REFBUS_NODE_TEST_GATHER (test variant only, control.c) */
    uint64_t test_gather_until;

    /* the control request being answered (control.c): the msg id a send/reply chose, and
     * whether it was queued, so that even an error answer names it */
    char req_msg_id[33];
    int req_queued;

    refbus_batch_cache sigcache; /* verified batch signatures (PROTOCOL 2.7.2); calloc = empty */

    /* status */
    int last_err;
    char last_err_text[256];
    uint64_t last_err_ms;
    node_counters n;
    node_refusal recent[NODE_RECENT];
    size_t n_recent, recent_next;
} nd_daemon;

/* ident.c */
int nd_ident_open(nd_daemon *d) REFBUS_WUR;
void nd_ident_close(nd_daemon *d);
/* After a directory change: find our epoch, reload the keystore if the directory names a newer
 * one, notice a revocation. Sets *reconnect when the transport keys changed. */
int nd_ident_refresh(nd_daemon *d, int *reconnect) REFBUS_WUR;
/* The broker refused our key, or a message is sealed to an epoch we lack: re-read the
 * configured directory file (installed when newer) and the keystore (when the file changed
 * since it was last read), and move to a newer epoch found there. Sets *reconnect when it
 * did. */
int nd_ident_try_keystore(nd_daemon *d, int *reconnect) REFBUS_WUR;
/* Every 2 s: has an administrator written a new bundle over the keystore or a new directory
 * file? Then read it (a newer directory is installed, a newer epoch is switched to). Sets
 * *reconnect when the transport keys changed. A rotation thus takes effect even when the broker
 * does not push the directory to a node whose key it has just retired. */
void nd_ident_watch_files(nd_daemon *d, uint64_t now, int *reconnect);
/* Install a signed directory (from the broker or the store). Errors: those of
 * refbus_directory_load (REFBUS_EROLLBACK for an older or equal serial), store errors. */
int nd_ident_install_directory(nd_daemon *d, const uint8_t *bytes, size_t len,
                               int persist) REFBUS_WUR;
const refbus_epoch_keys *nd_ident_keys(const nd_daemon *d);
/* Is our signing key usable? 0, or REFBUS_EREVOKED with `why` filled. */
int nd_ident_can_send(const nd_daemon *d, char *why, size_t why_len) REFBUS_WUR;

/* session.c */
void nd_session_connect(nd_daemon *d);
void nd_session_drop(nd_daemon *d, const char *why, int backoff);
void nd_session_on_monitor(nd_daemon *d);
void nd_session_on_broker(nd_daemon *d);
void nd_session_timers(nd_daemon *d, uint64_t now);
uint64_t nd_session_next_timer(const nd_daemon *d, uint64_t now);
void nd_session_pump(nd_daemon *d);
int nd_session_send(nd_daemon *d, uint8_t cmd, const void *body, size_t len);
void nd_session_inflight_remove(nd_daemon *d, const uint8_t msg_id[REFBUS_MSG_ID_BYTES]);
void nd_session_hello(nd_daemon *d); /* send HELLO (again when the socket is busy) */

/* served.c: the broker's word on our session, and unsigned claims about our key. */
/* An unsigned refusal (EREVOKED, ...) that the signed directory does not confirm: status,
 * a warning once, nothing else (the caller reconnects with back-off). */
void nd_served_note_claim(nd_daemon *d, int code, const char *text);
/* Connected without the session: READY, pinging at once, no HELLO until it is free. */
void nd_served_standby(nd_daemon *d);
/* Told ESUPERSEDED (or a PONG said another connection holds the session). */
void nd_served_superseded(nd_daemon *d, const char *text);
/* A PONG: ACTIVE, OTHER (standby) or NONE (take the session with HELLO). */
void nd_served_on_pong(nd_daemon *d, const uint8_t *b, size_t n);

/* inflow.c: check() every 20 ms while a session is up drops it when the broker connection is
 * far ahead of the whole messages taken from it (an unfinished message larger than any legal
 * one) or memory passes max_memory_mb; taken() counts each whole message received. */
void nd_inflow_check(nd_daemon *d, uint64_t now);
void nd_inflow_taken(nd_daemon *d, const refbus_wire_msg *m);

/* inbound.c. nd_inbound_deliver() stores into the current batch (opened on demand);
 * nd_inbound_batch_end() commits it and only then sends the DELIVERED receipts. The session calls
 * it before anything else that touches the store, and at the end of each receive pass. */
void nd_inbound_deliver(nd_daemon *d, const uint8_t *env, size_t len);
void nd_inbound_batch_end(nd_daemon *d);
/* The pass's batch transaction (opened on demand), for one receipt: end its share with
 * nd_share_end. Store errors. */
int nd_inbound_batch_txn(nd_daemon *d, MDB_txn **txn) REFBUS_WUR;
/* Acknowledge the notice `seq` once the batch is durable. Errors: REFBUS_ENOMEM. */
int nd_inbound_batch_ack(nd_daemon *d, uint64_t seq) REFBUS_WUR;
/* Every loop pass: flush a lazy commit once its time has come. */
void nd_inbound_sync_timer(nd_daemon *d, uint64_t now);
void nd_inbound_notice(nd_daemon *d, const uint8_t *body, size_t len);
void nd_inbound_broker_receipt(nd_daemon *d, uint8_t cmd, const uint8_t *body, size_t len);
/* audit_cp.c: checkpoints pushed by the broker (or answering our PROOF_REQUEST), the
 * "behind without a proof" alarm, re-anchoring. */
void nd_inbound_checkpoint(nd_daemon *d, const uint8_t *body, size_t len);
int nd_inbound_load_checkpoint(nd_daemon *d) REFBUS_WUR;
/* Every loop pass (monotonic `now`): ask for missing proofs, raise the alarm when one is
 * overdue, notice a re-anchor statement in a newly installed directory. */
void nd_audit_cp_timers(nd_daemon *d, uint64_t now);
/* An ERROR from the broker: 1 when it answers our PROOF_REQUEST (noted, the session goes on),
 * 0 when it is about the session. */
int nd_audit_cp_on_error(nd_daemon *d, int code, const char *text);
/* Add the audit fields (checkpoint_unproven, reanchor, counters) to a status reply. */
void nd_audit_cp_status(nd_daemon *d, json_t *reply);
void nd_audit_cp_free(nd_daemon *d);
/* Mark every PENDING outbox entry FAILED with `code` and `text` (our key was revoked). */
void nd_inbound_fail_pending(nd_daemon *d, int code, const char *text);

/* compose.c: seal and queue. Each returns 0 and sets *reply, or an error code with `why`. */
int nd_compose_send(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                    size_t why_len) REFBUS_WUR;
int nd_compose_reply(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                     size_t why_len) REFBUS_WUR;
/* Re-seal an outbox record with our current epoch (same msg id, same payload). */
int nd_compose_reseal(nd_daemon *d, refbus_outbox_rec *r) REFBUS_WUR;

/* views.c: read-only JSON answers. */
int nd_view_inbox_list(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                       size_t wl) REFBUS_WUR;
int nd_view_inbox_show(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                       size_t wl) REFBUS_WUR;
int nd_view_thread_show(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                        size_t wl) REFBUS_WUR;
int nd_view_outbox(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                   size_t wl) REFBUS_WUR;
int nd_view_status(nd_daemon *d, const json_t *req, json_t **reply, char *why,
                   size_t wl) REFBUS_WUR;

/* control.c */
int nd_control_open(nd_daemon *d) REFBUS_WUR;
void nd_control_close(nd_daemon *d);
void nd_control_on_request(nd_daemon *d);
/* For a request that queues something: the pass's shared write transaction (opened on demand;
 * committed with one sync before any answer). End the request's share with nd_share_end.
 * Errors: store errors. */
int nd_control_txn(nd_daemon *d, MDB_txn **txn) REFBUS_WUR;
/* End the pass's group commit: commit (one sync), then the answers, then push the outbox. */
void nd_control_batch_end(nd_daemon *d);
/* End one request's (or receipt's) share of a batch transaction: *txn = NULL. `failed_write`:
 * a write in it failed (LMDB cannot undo part of a transaction: no nested ones, they cost 3 MiB
 * of allocation each), so the whole batch is dropped and nothing of it is answered as stored;
 * the code is reported. Accepts a NULL *txn. */
void nd_share_end(nd_daemon *d, MDB_txn **txn, int failed_write);

/* daemon.c helpers */
void nd_note_error(nd_daemon *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void nd_note_refusal(nd_daemon *d, const char *sender, const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                     int code, const char *text);
/* Crash points, for the test variant (refbus-node-testhooks, built with REFBUS_TEST_HOOKS)
 * only: _exit(86) when the environment variable `name` is "1". In every other build, the
 * installed refbus-node included, they compile to nothing and nothing reads the environment. */
#ifdef REFBUS_TEST_HOOKS
void nd_crash_point(const char *name);
#else
#define nd_crash_point(name) ((void)0)
#endif

#endif
