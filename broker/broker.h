/* refbus-broker: authenticated routing with durable store-and-forward. One context struct, one
 * thread, one zmq_poll loop over the ROUTER (nodes), the ZAP handler and the admin socket.
 * The lifecycle is refbus_broker_open -> refbus_broker_run (until a signal) -> _close. */
#ifndef REFBUS_BROKER_BROKER_H
#define REFBUS_BROKER_BROKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct refbus_broker_config {
    char data_dir[512];
    char bind[256];  /* tcp://127.0.0.1:7700 */
    char admin[600]; /* ipc://DATA_DIR/admin.sock when empty */
    char keystore[512];
    char passphrase_file[512];
    char directory[512]; /* signed directory file (used when newer than the installed one) */
    char root_pk_hex[65];
    uint64_t map_size_mb;
    uint32_t checkpoint_records;
    uint32_t checkpoint_seconds;
    uint32_t redeliver_seconds;
    uint32_t expiry_scan_seconds;
    uint32_t max_batch; /* messages per loop pass = per group commit */
    uint32_t max_peers;
    /* New messages are refused (EMAPFULL, transient) once the live data would pass this share
     * of the map: the rest is kept for the work that frees space (receipts, acks, expiry). */
    uint32_t high_water_percent;
    /* Queued (undelivered) envelope bytes one sending agency may hold; over it its new
     * messages are refused with EQUOTA (transient). 0: a quarter of map_size_mb. */
    uint64_t agency_quota_mb;
    uint32_t handshake_seconds; /* a connection must finish its CURVE handshake by then */
    uint32_t max_memory_mb;     /* anonymous memory above which the connection holding the
                                 * most unread bytes is cut (broker/inflow.c) */
    int log_level;
    int syslog;
} refbus_broker_config;

typedef struct refbus_broker refbus_broker;

/* Defaults for every option. */
void refbus_broker_config_defaults(refbus_broker_config *c);
/* Read an ini file ([broker] section) with the one config loader (common/config.h): relative
 * paths are relative to the file's folder. Errors: REFBUS_ENOTFOUND, REFBUS_EIO, REFBUS_ECONFIG;
 * `err` says "FILE:LINE: key 'x': reason" (or "FILE: reason"). */
int refbus_broker_config_load(refbus_broker_config *c, const char *path, char *err,
                              size_t errlen) REFBUS_WUR;
/* Set one option by its ini name (also used for command-line flags; relative paths stay
 * relative to the working directory). REFBUS_ECONFIG if unknown or invalid: `err` says
 * "key 'x': reason". */
int refbus_broker_config_set(refbus_broker_config *c, const char *key, const char *value, char *err,
                             size_t errlen) REFBUS_WUR;

/* Create a new, empty store in cfg->data_dir (the directory is created 0700 if missing): the
 * one explicit act that starts a store. Errors: REFBUS_EEXIST (a data.mdb is already there, even
 * an empty or damaged one, or another broker holds the directory), REFBUS_ECONFIG, REFBUS_EIO,
 * REFBUS_ELMDB. */
int refbus_broker_init(const refbus_broker_config *cfg) REFBUS_WUR;

/* Take the data directory's lock (another broker there: REFBUS_EEXIST, its pid logged), then
 * open the existing store (never creating one: see refbus_broker_init), keys and directory,
 * start the ZAP handler, then bind. `stop` is the signal flag the loop watches. Errors: any
 * refbus code, logged with its reason. */
int refbus_broker_open(refbus_broker **out, const refbus_broker_config *cfg,
                       volatile sig_atomic_t *stop) REFBUS_WUR;
/* Serve until *stop; writes a final checkpoint on the way out. Returns 0 after a stop, or
 * REFBUS_ESTORAGE when the store became unusable (LMDB panic, corruption, I/O error): the
 * caller must exit non-zero so that the supervisor restarts it. */
int refbus_broker_run(refbus_broker *b) REFBUS_WUR;
void refbus_broker_close(refbus_broker **b);

/* Admin client: send `cmd` (and optional body) to a running broker's admin endpoint and print
 * the JSON answer on stdout. Returns 0 when the broker answered {"ok":true,...}. */
int refbus_broker_admin_request(const char *endpoint, const char *cmd, const uint8_t *body,
                                size_t body_len, int timeout_ms) REFBUS_WUR;

/* Admin client, raw: send `cmd` (no body) and return the answer as a NUL-terminated string in
 * *reply (malloc'd, the caller frees it) of *len bytes. Errors: REFBUS_EUNAVAILABLE (no answer
 * within timeout_ms: not running, or another endpoint), REFBUS_ETRANSPORT, REFBUS_ENOMEM. */
int refbus_broker_admin_fetch(const char *endpoint, const char *cmd, char **reply, size_t *len,
                              int timeout_ms) REFBUS_WUR;

/* Health levels of `refbus-broker check` (and its exit codes). */
enum { REFBUS_HEALTH_OK = 0, REFBUS_HEALTH_DEGRADED = 1, REFBUS_HEALTH_FAILED = 2 };

/* What `check` tolerates before it says degraded. */
typedef struct refbus_broker_check_limits {
    uint64_t max_queue_age_s;      /* an agency's oldest queued referral (default 3600) */
    unsigned storage_warn_percent; /* live data as a share of the map (default 80) */
    uint64_t max_checkpoint_age_s; /* no new signed checkpoint while the trail grew (600) */
} refbus_broker_check_limits;
void refbus_broker_check_defaults(refbus_broker_check_limits *lim);

/* Ask the broker at `endpoint` for its status and judge it: REFBUS_HEALTH_FAILED when it does
 * not answer or its storage is full (new referrals refused), REFBUS_HEALTH_DEGRADED when its
 * storage passes the warning share, an agency's oldest queued referral is older than the limit,
 * or no checkpoint was signed for too long, else REFBUS_HEALTH_OK. `why` receives one line
 * saying why (every reason found), or what a healthy broker is doing. */
int refbus_broker_check(const char *endpoint, const refbus_broker_check_limits *lim, char *why,
                        size_t why_len);

#endif
