/* A minimal node for broker tests: a CurveZMQ DEALER with an agency's keys, sealing, framing,
 * receiving, receipting; plus helpers to run the broker as a child process. Written from
 * docs/PROTOCOL.md, independent of nodes/; the wire bodies come from proto/wire_body.h (the one
 * codec; tests/interop/ is the independent second implementation). */
#ifndef REFBUS_TEST_BCLIENT_H
#define REFBUS_TEST_BCLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "keys/directory.h"
#include "keys/keystore.h"
#include "proto/envelope.h"
#include "proto/receipt.h"
#include "proto/wire.h"

typedef struct net {
    char dir[256];     /* work dir made by net_setup.sh */
    char endpoint[64]; /* tcp://127.0.0.1:PORT */
    char admin[300];
    char log_file[300]; /* when set, net_start_broker appends the broker's stderr to it */
    pid_t broker;
    refbus_directory *d;
    uint8_t root_pk[32];
} net;

typedef struct bclient {
    void *ctx, *sock;
    refbus_keystore *ks;
    char agency[65];
} bclient;

/* Run net_setup.sh into a fresh temp dir and load the directory. */
void net_init(net *n);
/* Start (or restart) the broker; extra "-o k=v" options may be given as NULL-terminated list. */
void net_start_broker(net *n, const char *const *extra);
void net_kill_broker(net *n, int sig); /* and wait */
void net_free(net *n);
/* Run a shell command in the net dir with the test environment; returns the exit status. */
int net_sh(net *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reload WORKDIR/directory.bin into n->d. */
void net_reload_directory(net *n);

/* Connect as `agency` (its bundle) and send HELLO with `credit`; waits for WELCOME when
 * `expect_welcome`. Returns 0 or -1. */
int bclient_open(bclient *c, net *n, const char *agency, uint32_t credit, int expect_welcome);
/* Connect with a raw CURVE key pair (for unknown-key tests); no HELLO. */
int bclient_open_raw(bclient *c, net *n, const uint8_t pk[32], const uint8_t sk[32]);
void bclient_close(bclient *c);
int bclient_hello(bclient *c, uint32_t credit);
/* HELLO naming any agency and epoch (the broker's checks of both); bodies by proto/wire_body. */
int bclient_hello_as(bclient *c, const char *agency, uint32_t epoch, uint32_t credit);
int bclient_ack(bclient *c, uint64_t seq); /* RECEIPT_ACK of one notice */
int bclient_ping(bclient *c, uint64_t time_ms);

/* Seal a payload from this client's agency to `to` (comma-separated) with its current keys. */
int bclient_seal(bclient *c, net *n, const char *to, const void *payload, size_t len,
                 uint32_t priority, uint64_t expires_ms, uint8_t **env, size_t *env_len);
int bclient_send(bclient *c, uint8_t cmd, const void *body, size_t len);
/* Receive one message within `timeout_ms` (REFBUS_EAGAIN on timeout). */
int bclient_recv(bclient *c, refbus_wire_msg *m, int timeout_ms);
/* Receive until a message with command `cmd` arrives (others discarded unless stash). */
int bclient_expect(bclient *c, uint8_t cmd, refbus_wire_msg *m, int timeout_ms);
/* Open a DELIVER body and send a DELIVERED receipt. Fills header and payload (caller frees
 * payload with refbus_envelope_payload_free). */
int bclient_accept_delivery(bclient *c, net *n, const refbus_wire_msg *m, refbus_envelope_header *h,
                            uint8_t **pl, size_t *pl_len);

/* SUBMIT `env` and wait up to timeout_ms for the broker's answer to it: ACCEPTED or REJECTED
 * (a broker-signed receipt, verified, in *r), or ERROR — "try again later" for a transient
 * reason: r->reason = the code, r->reason_text, r->msg_id (zero when the ERROR names none).
 * Other commands are skipped. Returns the command, or a negative code (no answer in time, a
 * receipt that does not verify, an ERROR body that does not decode). */
int bclient_submit(bclient *c, net *n, const uint8_t *env, size_t len, refbus_receipt *r,
                   int timeout_ms);

#endif
