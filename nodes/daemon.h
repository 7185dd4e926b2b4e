/* refbus-node run: the daemon's lifecycle (docs/NODE.md). */
#ifndef REFBUS_NODES_DAEMON_H
#define REFBUS_NODES_DAEMON_H

#include "common/err.h"
#include "nodes/config.h"

/* Open the identity and the store, serve the control socket and keep a session with the
 * broker until SIGINT or SIGTERM. Returns 0 after a clean stop, or the start-up error
 * (REFBUS_ECONFIG, REFBUS_EPASSPHRASE, REFBUS_EBADSIG, REFBUS_EEXIST (another daemon holds
 * the data directory), REFBUS_ELMDB, REFBUS_ECORRUPT, REFBUS_EIO, ...). `c` is finished
 * (refbus_node_config_finish(c, 1, ...)). */
int refbus_node_daemon_run(const refbus_node_config *c) REFBUS_WUR;

#endif
