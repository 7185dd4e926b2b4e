/* Broker internals shared by its modules (not a public API): they carry the broker's private
 * prefix broker_ (public names: refbus_broker_* in broker.h, refbus_bstore_* in store.h). */
#ifndef REFBUS_BROKER_INTERNAL_H
#define REFBUS_BROKER_INTERNAL_H

#include <lmdb.h>

#include "broker/broker.h"
#include "broker/store.h"
#include "keys/directory.h"
#include "keys/keystore.h"
#include "proto/envelope.h"
#include "proto/receipt.h"
#include "proto/wire.h"

#include "audit.pb-c.h"

#define MAX_INFLIGHT 256u

typedef struct inflight {
    uint64_t seq;
    uint64_t sent_ms; /* monotonic */
} inflight;

/* A connected node: one per agency (the newest HELLO wins). */
typedef struct peer {
    uint8_t rid[256];
    size_t rid_len;
    char agency[REFBUS_AGENCY_ID_MAX + 1];
    uint32_t epoch;
    int hello;       /* HELLO seen on this connection */
    int gone;        /* the ROUTER says this connection no longer exists */
    uint32_t credit; /* window size announced in HELLO */
    inflight *fl;    /* MAX_INFLIGHT entries */
    size_t n_fl;
    uint64_t cp_size; /* size of the last checkpoint pushed or announced */
    uint64_t last_seen_ms;
    int want_notices; /* resend pending notices */
    int want_deliver;
    uint64_t notices_sent_upto; /* highest nseq sent on this connection */
    int fd;            /* the connection's descriptor (ZMQ_SRCFD), -1 unknown (liveness.c) */
    int probe_left;    /* the monitor saw that descriptor close: probes still to send */
    uint64_t probe_at; /* monotonic */
} peer;

/* Something to do once the batch's transaction has committed. */
typedef struct outmsg {
    uint8_t rid[256];
    size_t rid_len;
    uint8_t cmd;
    uint8_t *body; /* malloc'd */
    size_t body_len;
    int storage_refusal; /* "storage full, try later" (ERROR): true whether or not the txn commits
                          */
} outmsg;

/* An ACCEPTED receipt waiting for the end of the pass, when the pass's receipts are signed
 * together (PROTOCOL 4, batch form). dup_of >= 0: a resend within the same pass, answered
 * with a copy of entry dup_of's receipt. */
typedef struct accepted {
    uint8_t rid[256];
    size_t rid_len;
    refbus_envelope_header h;
    uint64_t seq;
    refbus_receipt r;
    long dup_of;
} accepted;

/* Counters for `refbus-broker metrics` (metrics.c): audit records by event type and the
 * refusals by reason, counted when the transaction that wrote them commits (pend_* until
 * then), and the batch commit latency histogram. Since the process started. */
#define BROKER_METRIC_EVENTS 16
#define BROKER_METRIC_REASONS 48
#define BROKER_METRIC_BUCKETS 12
typedef struct broker_metrics {
    uint64_t events[BROKER_METRIC_EVENTS], pend_events[BROKER_METRIC_EVENTS];
    struct {
        int code;
        uint64_t n, pend;
    } reasons[BROKER_METRIC_REASONS];
    size_t n_reasons;
    uint64_t commit_le[BROKER_METRIC_BUCKETS]; /* per bucket, not cumulative */
    uint64_t commit_count, commit_sum_us;
    uint64_t start_ms; /* wall clock */
} broker_metrics;

struct refbus_broker {
    refbus_broker_config cfg;
    volatile sig_atomic_t *stop;
    int lock_fd;  /* DATA_DIR/broker.lock, flock'd for the process lifetime */
    int fatal;    /* a storage error left the environment unusable: stop */
    int full_err; /* REFBUS_EMAPFULL or REFBUS_ENOSPC while retrying a batch (full_level) */
    uint64_t room_used, room_limit, room_map; /* live bytes at the start of the batch txn */
    uint64_t room_batch; /* estimated bytes of the messages accepted in this batch so far */
    int above_high_water;
    struct {
        int rc;
        uint64_t at_ms;
        uint32_t suppressed;
    } slog; /* rate limit of storage error lines (room.c) */
    refbus_bstore *store;
    refbus_keystore *ks;
    const uint8_t *sign_sk; /* broker's Ed25519 secret (inside ks) */
    uint32_t sign_epoch;
    refbus_batch_cache sigcache; /* verified batch signatures (PROTOCOL 2.7.2): one per batch */
    accepted *acc;               /* this pass's ACCEPTED receipts, signed at its end (accept.c) */
    size_t n_acc, cap_acc;
    char id[REFBUS_AGENCY_ID_MAX + 1];
    uint8_t root_pk[crypto_sign_PUBLICKEYBYTES];
    refbus_directory *dir;
    void *zctx, *router, *zap, *admin;
    void *mon; /* PAIR reading the ROUTER's socket monitor (liveness.c) */
    peer *peers;
    size_t n_peers;
    outmsg *out; /* post-commit sends */
    size_t n_out, cap_out;
    uint64_t last_cp_size, last_cp_ms, last_expiry_ms;
    uint64_t audit_size;
    int map_full;    /* the last batch hit MDB_MAP_FULL */
    int full_level;  /* while retrying a batch after MAP_FULL: 1 refuse new messages,
                      * 2 refuse them without auditing the refusals */
    int txn_error;   /* first storage error inside the current batch txn (it must abort) */
    int expiry_more; /* the last expiry pass stopped at its slice limit */
    struct {
        char agency[REFBUS_AGENCY_ID_MAX + 1]; /* "" when the key is unknown */
        char key[65];
        int reason;
    } zap_refusals[16]; /* handshakes refused since the last batch: audited by the next one */
    size_t n_zap_refusals;
    refbus_wire_msg *batch_msgs; /* max_batch entries, reused by every pass */
    int *batch_rcs;
    struct {
        char agency[REFBUS_AGENCY_ID_MAX + 1];
        uint64_t window_ms;
        uint32_t count;
        uint32_t dropped;
    } noisy[32]; /* per-agency budget of audited refusals (a flood must not fill the store) */
    struct {
        char key[65];
        uint64_t at_ms;
    } refused[64]; /* rate limit for PEER_REFUSED audit records */
    int n_refused_pending;
    struct broker_inflow_conn *conns; /* inflow.c: bytes refbus took from each connection */
    size_t n_conns, cap_conns;
    uint64_t inflow_cuts, inflow_next_ms, inflow_warned_ms;
    uint64_t nofile; /* RLIMIT_NOFILE in force (lifecycle.c) */
    broker_metrics metrics;
};

/* broker.c */
peer *broker_peer_by_rid(refbus_broker *b, const uint8_t *rid, size_t rid_len);
peer *broker_peer_by_agency(refbus_broker *b, const char *agency);
void broker_queue_out(refbus_broker *b, const uint8_t *rid, size_t rid_len, uint8_t cmd,
                      uint8_t *body, size_t body_len); /* takes ownership of body */
void broker_send_out(refbus_broker *b);
int broker_audit(refbus_broker *b, MDB_txn *txn, Refbus__V1__AuditRecord *r);
void broker_sync_audit_size(refbus_broker *b, MDB_txn *txn);
/* 1 when another refusal from `agency` may be audited (and logged) one by one: at most 120 a
 * minute per agency, the rest are answered and counted in one warning. */
int broker_audit_budget(refbus_broker *b, const char *agency);
/* Note a storage error inside the batch txn: the txn can no longer commit. Returns rc. */
int broker_txn_check(refbus_broker *b, int rc);
void broker_audit_init(Refbus__V1__AuditRecord *r, Refbus__V1__EventType ev);

/* inflow.c: memory bounded by what peers send (docs/PROTOCOL.md "Limits"). note(): a whole
 * message `m` came from its connection (counted against what libzmq read from it). check():
 * when the process's anonymous memory is over max_memory_mb, cut the connection that holds the
 * most bytes refbus has not received as whole messages (a multipart message libzmq is still
 * buffering), audit it (PEER_REFUSED, ETOOLARGE). Cheap when under the limit: one read of
 * /proc/self/statm. free(): at close. */
void broker_inflow_note(refbus_broker *b, const refbus_wire_msg *m, const char *agency);
void broker_inflow_check(refbus_broker *b);
void broker_inflow_free(refbus_broker *b);
void broker_inflow_forget(refbus_broker *b, int fd);

/* accept.c: SUBMIT handling inside the batch txn. */
int broker_submit(refbus_broker *b, MDB_txn *txn, const char *agency, const uint8_t *rid,
                  size_t rid_len, const uint8_t *env, size_t len);
/* Sign the pass's ACCEPTED receipts as one batch, store each beside its message (dedup) and
 * queue the answers; on failure set b->txn_error (nothing may commit without its receipt).
 * Called once per pass attempt, after the messages and before the commit; with
 * b->txn_error already set it only forgets them. */
void broker_accepted_flush(refbus_broker *b, MDB_txn *txn);

/* Refuse a SUBMIT: audited (within the budget) with the envelope's msg id and hash when it
 * parsed. A permanent `reason` (refbus_err_permanent) is answered with a signed REJECTED
 * receipt; a transient one (ours to fix: storage, memory, a directory we do not hold yet) with
 * ERROR `reason` naming the msg id — "try again later", never a signed refusal. */
void broker_reject(refbus_broker *b, MDB_txn *txn, const uint8_t *rid, size_t rid_len,
                   const char *agency, const refbus_envelope_header *h, int reason,
                   const char *text);
/* broker.c: a WireError body by proto/wire_body (text cut to REFBUS_WIRE_ERROR_TEXT_MAX bytes;
 * malloc'd, the caller frees it; NULL when out of memory). */
uint8_t *broker_error_body(int code, const char *text, const uint8_t *msg_id, size_t *len);
/* broker.c: queue ERROR `code` with `text` and, when it answers one SUBMIT, its msg id. */
void broker_send_error(refbus_broker *b, const uint8_t *rid, size_t rid_len, int code,
                       const char *text, const uint8_t *msg_id);

/* deliver.c */
int broker_delivered(refbus_broker *b, MDB_txn *txn, peer *p, const uint8_t *body, size_t len);
int broker_notice_ack(refbus_broker *b, MDB_txn *txn, peer *p, const uint8_t *body, size_t len);
void broker_pump(refbus_broker *b, peer *p, MDB_txn *rtxn);
/* Expire at most 512 queue entries; returns how many were looked at, or a negative code. */
int broker_expire(refbus_broker *b, MDB_txn *txn, uint64_t now_ms);
void broker_redeliver_timeouts(refbus_broker *b);

/* lifecycle.c: take DATA_DIR/broker.lock (refbus_datadir_lock), logging who holds it. */
int broker_lock_data_dir(const char *dir, int *fd);

/* room.c: measure the store at the start of a batch txn; admit a new message (0) or refuse it
 * transiently (REFBUS_EMAPFULL above the high-water mark or while retrying a full batch,
 * REFBUS_ENOSPC on a full disk, REFBUS_EQUOTA over the sender's quota) with a reason in why. */
void broker_room_begin(refbus_broker *b, MDB_txn *txn);
int broker_room_admit(refbus_broker *b, MDB_txn *txn, const refbus_envelope_header *h, size_t len,
                      char *why, size_t whylen);
/* log_error, at most once per 10 s for the same code (the rest are counted in the next line). */
void broker_storage_log(refbus_broker *b, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* liveness.c: the ROUTER's socket monitor, and probes of peers whose connection closed. */
int broker_monitor_open(refbus_broker *b);
void broker_monitor_close(refbus_broker *b);
void broker_monitor_handle(refbus_broker *b);
void broker_probe(refbus_broker *b);
uint64_t broker_probe_due(const refbus_broker *b); /* monotonic ms, UINT64_MAX: none */

/* admin.c */
void broker_admin_handle(refbus_broker *b);
int broker_install_directory(refbus_broker *b, const uint8_t *bytes, size_t len, int from_admin);

/* metrics.c: audited() counts a record written in the current txn (broker_audit), begin()
 * forgets what an abandoned txn counted, committed() makes it count; commit_latency() observes
 * one batch commit (microseconds, from broker_metrics_clock_us). text(): the Prometheus text
 * exposition (malloc'd, the caller frees it; NULL when out of memory). */
void broker_metrics_audited(refbus_broker *b, const Refbus__V1__AuditRecord *r);
void broker_metrics_begin(refbus_broker *b);
void broker_metrics_committed(refbus_broker *b);
void broker_metrics_commit_latency(refbus_broker *b, uint64_t us);
uint64_t broker_metrics_clock_us(void); /* monotonic */
char *broker_metrics_text(refbus_broker *b);

/* zap.c */
void broker_zap_handle(refbus_broker *b);
/* Write the audit records of refused handshakes noted since the last batch. */
void broker_zap_audit(refbus_broker *b, MDB_txn *txn);

/* checkpoints (trail.c) */
int broker_checkpoint(refbus_broker *b, MDB_txn *txn);
void broker_push_checkpoint(refbus_broker *b, peer *p, MDB_txn *rtxn);
/* PROOF_REQUEST: queue a CHECKPOINT with the stored checkpoint of to_size and PROOF(from_size,
 * to_size), or an ERROR saying why not (EPROTO, EINVAL, ENOTFOUND, the proof's error). */
void broker_proof_request(refbus_broker *b, MDB_txn *txn, peer *p, const uint8_t *body, size_t len);

#endif
