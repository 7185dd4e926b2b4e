/* Referral threads: the state each agency of a thread is in, and the transitions that make
 * sense (docs/NODE.md "Thread state machine"). Pure logic over the stored ThreadRecord; the
 * node checks every answer it sends here first and applies every answer it receives. */
#ifndef REFBUS_NODES_THREAD_H
#define REFBUS_NODES_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"
#include "node_store.pb-c.h"
#include "proto/envelope.h" /* REFBUS_MSG_ID_BYTES */
#include "proto/pbutil.h"   /* refbus_pb_set_string */

/* The values of refbus.v1.ThreadStatus; 0 is "referred, no answer yet" for a member. */
enum refbus_thread_status {
    REFBUS_TS_REFERRED = 0,
    REFBUS_TS_RECEIVED = 1,
    REFBUS_TS_ACCEPTED = 2,
    REFBUS_TS_DECLINED = 3,
    REFBUS_TS_IN_PROGRESS = 4,
    REFBUS_TS_COMPLETED = 5,
    REFBUS_TS_CANCELLED = 6,
    REFBUS_TS_CONSENT_WITHDRAWN = 7,
    REFBUS_TS_NOTE = 8,
    REFBUS_TS_MAX = 8
};

typedef Refbus__Nodestore__ThreadRecord refbus_thread;

/* "accepted", "in_progress", ... ("referred" for 0); "unknown" when out of range. */
const char *refbus_thread_status_name(uint32_t status);
/* The status named `s` ("in_progress" or "in-progress", any case), or -1. "referred" is not
 * something one can send and returns -1. */
int refbus_thread_status_parse(const char *s);

/* A new thread started by the referral `referral_msg_id` from `origin` to `members`.
 * *out is owned by the caller (refbus_thread_free). Errors: REFBUS_EINVAL, REFBUS_ENOMEM. */
int refbus_thread_new(refbus_thread **out, const uint8_t thread_id[16], const char *origin,
                      const char *const *members, size_t n_members,
                      const uint8_t referral_msg_id[16], uint64_t now_ms) REFBUS_WUR;

/* Decode a stored record (plaintext bytes). Errors: REFBUS_ECORRUPT, REFBUS_ENOMEM. */
int refbus_thread_unpack(refbus_thread **out, const uint8_t *bytes, size_t len) REFBUS_WUR;
/* Encode; *out malloc'd, owned by the caller. Errors: REFBUS_ENOMEM. */
int refbus_thread_pack(uint8_t **out, size_t *len, const refbus_thread *t) REFBUS_WUR;
void refbus_thread_free(refbus_thread **t);

/* May agency `actor` say `status` in thread `t` now? 0, or REFBUS_ETRANSITION with a sentence
 * in `why` (e.g. "police.ticac cannot go from declined to completed"). Also REFBUS_EINVAL for
 * an unknown status. Pure: `t` is not changed. */
int refbus_thread_check(const refbus_thread *t, const char *actor, uint32_t status, char *why,
                        size_t why_len) REFBUS_WUR;

/* Record that `actor` said `status` (already checked, or `applied` = 0 to keep a refused
 * incoming answer in the history without changing any state). Appends an event.
 * Errors: REFBUS_ENOMEM, REFBUS_EINVAL. */
int refbus_thread_apply(refbus_thread *t, const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                        const char *actor, uint32_t status, const char *reason_code,
                        const char *text, uint64_t time_ms, int outgoing, int applied,
                        int error) REFBUS_WUR;

/* Add `agency` as a member (state REFERRED) if it is not one yet; used when an answer arrives
 * for a thread whose referral this node has not seen. Errors: REFBUS_ENOMEM. */
int refbus_thread_add_member(refbus_thread *t, const char *agency) REFBUS_WUR;

/* 1 when `agency` is the origin or a member. */
int refbus_thread_has(const refbus_thread *t, const char *agency);

/* The agencies an answer from `me` goes to: every agency of the thread but `me`. Pointers into
 * `t`; at most `max`. Returns the count. */
size_t refbus_thread_peers(const refbus_thread *t, const char *me, const char **out, size_t max);

/* The thread as JSON (new reference). NULL on out of memory. */
json_t *refbus_thread_to_json(const refbus_thread *t);

#endif
