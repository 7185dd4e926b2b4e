/* The refbus-node subcommands (main.c parses the arguments and calls these). Each prints JSON
 * on standard output and returns the exit status: 0 done, 1 refused or failed (the reason on
 * standard error and in the printed {"ok":false,...}). */
#ifndef REFBUS_NODES_CLI_H
#define REFBUS_NODES_CLI_H

#include <stdint.h>

#include "nodes/daemon/config.h"

typedef struct refbus_node_cli {
    refbus_node_config cfg;
    int compact;    /* one JSON document per line instead of indented */
    int timeout_ms; /* per answer from the daemon */
} refbus_node_cli;

int refbus_node_cli_run(refbus_node_cli *g);
/* refbus-node init: create the data directory's store (refbus_node_daemon_init). */
int refbus_node_cli_init(refbus_node_cli *g);
/* `file` NULL or "-" = standard input; `to` comma-separated; `urgency`, `expires_in`,
 * `msg_id` NULL = default; `wait_s` > 0: wait that long for the broker's ACCEPTED. */
int refbus_node_cli_send(refbus_node_cli *g, const char *file, const char *to, const char *urgency,
                         const char *expires_in, const char *msg_id, int wait_s);
int refbus_node_cli_inbox_list(refbus_node_cli *g, uint64_t after, unsigned limit);
int refbus_node_cli_inbox_show(refbus_node_cli *g, const char *id);
/* `text_file` (may be "-") instead of `text` for long notes. */
int refbus_node_cli_reply(refbus_node_cli *g, const char *msg_id, const char *status,
                          const char *reason_code, const char *text, const char *text_file,
                          const char *reply_id);
int refbus_node_cli_thread_show(refbus_node_cli *g, const char *thread_id);
/* One message (msg_id), or one page of the outbox list: entries with a sequence number above
 * `after`, at most `limit` (0 = 1000). */
int refbus_node_cli_outbox(refbus_node_cli *g, const char *msg_id, uint64_t after, unsigned limit);
int refbus_node_cli_status(refbus_node_cli *g);
/* refbus-node check (health.c): one line, and returns 0 healthy, 1 degraded (no broker
 * session for more than max_down_s, an unproven checkpoint, failed outbox entries), 2 failing
 * (not running, checkpoint alarm, our key not active). */
int refbus_node_cli_check(refbus_node_cli *g, uint64_t max_down_s);
/* refbus-node metrics (health.c): the status as Prometheus text; 1 when no daemon answers. */
int refbus_node_cli_metrics(refbus_node_cli *g);

#endif
