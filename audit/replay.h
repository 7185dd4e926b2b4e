/* Replaying the trail for people: the history as a timeline (one line per event) or as JSON
 * lines (one object per record), filtered by agency, message, event and time range, optionally
 * grouped per message; and summary statistics (size, time span, counts per event and agency). */
#ifndef REFBUS_AUDIT_REPLAY_H
#define REFBUS_AUDIT_REPLAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "audit/reader.h"
#include "common/err.h"

enum refbus_replay_format { REFBUS_REPLAY_TEXT = 0, REFBUS_REPLAY_JSONL = 1 };

typedef struct refbus_replay_filter {
    const char *agency;    /* sender, a recipient or the agency the event is about; NULL: any */
    const uint8_t *msg_id; /* the first msg_id_len bytes of the message id; NULL: any */
    size_t msg_id_len;     /* 1..16 */
    int event;             /* an EventType number; -1: any */
    uint64_t since_ms;     /* time_ms >= since_ms */
    uint64_t until_ms;     /* time_ms < until_ms; 0: no limit */
    uint64_t from_index, to_index; /* index range [from, to); to 0: to the end */
} refbus_replay_filter;

/* A filter that lets everything through. */
void refbus_replay_filter_init(refbus_replay_filter *f);

/* Write the matching records to `out` in index order, or, when `group`, message by message
 * (in order of each message's first matching event; events without a message id last). Grouping
 * holds the matching lines in memory until the end: O(matches). *matched = records written (may
 * be NULL). Records that do not decode are shown as such, never skipped silently.
 * Errors: REFBUS_ELMDB, REFBUS_ECORRUPT, REFBUS_ENOMEM, REFBUS_EIO (writing failed). */
int refbus_audit_replay(refbus_audit_reader *r, const refbus_replay_filter *f,
                        enum refbus_replay_format fmt, int group, FILE *out,
                        uint64_t *matched) REFBUS_WUR;

/* Statistics as a JSON object (the caller owns it): records, first/last time and span, counts
 * per event, per agency (records naming it, as sender / recipient / subject agency), records
 * that do not decode, and the stored checkpoints (count, latest size and time, records not yet
 * covered). Errors: REFBUS_ELMDB, REFBUS_ECORRUPT, REFBUS_ENOMEM. */
int refbus_audit_stats(refbus_audit_reader *r, json_t **out) REFBUS_WUR;
/* Print statistics from refbus_audit_stats for people. */
void refbus_audit_stats_print(FILE *out, const json_t *stats);

#endif
