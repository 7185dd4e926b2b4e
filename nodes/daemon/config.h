/* refbus-node configuration: an ini file ([node] section, read with inih) and the same keys from
 * the command line, which wins. deploy/examples/node.conf explains every key. */
#ifndef REFBUS_NODES_CONFIG_H
#define REFBUS_NODES_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/envelope.h"

#define REFBUS_NODE_ENDPOINT_MAX (PATH_MAX + 16)

typedef struct refbus_node_config {
    char agency[REFBUS_AGENCY_ID_MAX + 1]; /* "" = the keystore's agency */
    char keystore[PATH_MAX];
    char passphrase_file[PATH_MAX];        /* "" = $REFBUS_PASSPHRASE_FILE or the terminal */
    char directory[PATH_MAX];              /* signed directory file (bootstrap) */
    char broker[REFBUS_NODE_ENDPOINT_MAX]; /* "" = the directory's first broker endpoint */
    char data_dir[PATH_MAX];
    char control[REFBUS_NODE_ENDPOINT_MAX]; /* "" = ipc://DATA_DIR/control.sock */
    unsigned control_mode;                  /* file mode of the ipc socket, default 0600 */
    char control_group[64];                 /* "" = the daemon's group */
    uint32_t credit;                        /* DELIVERs in flight, 1..1024 */
    uint32_t send_window;                   /* SUBMITs without ACCEPTED, 1..1024 */
    uint32_t max_memory_mb;                 /* anonymous memory above which the broker
                                             * session is dropped (a message no broker may
                                             * send is being buffered), 16..1048576 */
    uint32_t ping_seconds;
    uint32_t ping_timeout_seconds;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    uint32_t resend_seconds;           /* resubmit without ACCEPTED after this */
    uint32_t checkpoint_proof_seconds; /* audit alarm when a newer checkpoint stays
                                        * unproven this long (default 600) */
    uint64_t default_expiry_ms;
    uint64_t map_size_mb;
    int log_level; /* enum refbus_log_level */
    int syslog;
    char path[PATH_MAX]; /* the file read ("" = none) */
} refbus_node_config;

/* Defaults for everything. */
void refbus_node_config_init(refbus_node_config *c);

/* Read `path` ([node] section). Relative paths in it are taken relative to the file's
 * directory. On error `err` names the line and key.
 * Errors: REFBUS_ENOTFOUND, REFBUS_ECONFIG, REFBUS_EIO. */
int refbus_node_config_load(refbus_node_config *c, const char *path, char *err,
                            size_t errlen) REFBUS_WUR;

/* Set one key (as from the command line; relative paths relative to the working directory).
 * Errors: REFBUS_ECONFIG (unknown key or bad value; `err` says which). */
int refbus_node_config_set(refbus_node_config *c, const char *key, const char *value, char *err,
                           size_t errlen) REFBUS_WUR;

/* Fill derived defaults (control endpoint from data_dir) and check what the daemon needs
 * (`for_daemon`: keystore, directory, data_dir) or a client needs (a control endpoint).
 * Errors: REFBUS_ECONFIG. */
int refbus_node_config_finish(refbus_node_config *c, int for_daemon, char *err,
                              size_t errlen) REFBUS_WUR;

/* "3d", "12h", "30m", "90s", "1500ms" or plain seconds -> milliseconds. Errors: REFBUS_EINVAL. */
int refbus_node_config_duration(uint64_t *ms, const char *s) REFBUS_WUR;

#endif
