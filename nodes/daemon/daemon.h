/* refbus-node run: the daemon's lifecycle (docs/NODE.md). */
#ifndef REFBUS_NODES_DAEMON_H
#define REFBUS_NODES_DAEMON_H

#include "common/err.h"
#include "nodes/daemon/config.h"

/* refbus-node init: create DATA_DIR (0700) and a new, empty store in DATA_DIR/store bound to
 * the agency's storage key (the keystore is opened to derive it): the one explicit act that
 * starts a store. Errors: REFBUS_EEXIST (a store is already there, even an empty or damaged
 * one, or a daemon holds the directory), REFBUS_EPASSPHRASE, REFBUS_EIO, REFBUS_ELMDB, ... */
int refbus_node_daemon_init(const refbus_node_config *c) REFBUS_WUR;

/* Lock the data directory (which must exist), open the identity and the existing store
 * (never creating one: a missing store is REFBUS_ENOTFOUND, a damaged one REFBUS_ECORRUPT), serve
 * the control socket and keep a session with the broker until SIGINT or SIGTERM. Returns 0 after a
 * clean stop, REFBUS_ESTORAGE when the store became unusable while running (the caller exits
 * non-zero), or the start-up error (REFBUS_ECONFIG, REFBUS_EPASSPHRASE, REFBUS_EBADSIG,
 * REFBUS_EEXIST (another daemon holds the data directory), REFBUS_ELMDB, REFBUS_ECORRUPT,
 * REFBUS_EIO, ...). `c` is finished (refbus_node_config_finish(c, 1, ...)). */
int refbus_node_daemon_run(const refbus_node_config *c) REFBUS_WUR;

#endif
