/* Audit records for people and programs: a cheap field peek for verify (no allocation), stable
 * names for events, kinds and priorities, one JSON object per record (jansson) with every field,
 * one timeline line per record, and UTC time parsing / formatting. Field names are snake_case;
 * enum values are the schema's names without their prefix ("ACCEPTED", "URGENT"). */
#ifndef REFBUS_AUDIT_RECORD_H
#define REFBUS_AUDIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit.pb-c.h"
#include "common/err.h"

/* What verify needs from a record, read straight from the protobuf encoding. Pointers point
 * into the record bytes. */
typedef struct refbus_audit_peek {
    uint32_t event;
    uint64_t index; /* the record's own position; 0 when absent */
    int has_index;
    uint64_t checkpoint_size;
    const uint8_t *signed_cp; /* NULL when absent */
    size_t signed_cp_len;
} refbus_audit_peek;

/* Scan the top-level fields of an encoded AuditRecord. Errors: REFBUS_EMALFORMED (not valid
 * protobuf wire format; records appended as other raw bytes are like that). */
int refbus_audit_record_peek(refbus_audit_peek *out, const uint8_t *rec, size_t len) REFBUS_WUR;

/* "ACCEPTED", "PEER_CONNECTED", ... (the schema's names); "unknown" otherwise. */
const char *refbus_audit_event_name(uint32_t event);
/* The event number for a name as above, in any case; -1 when unknown. */
int refbus_audit_event_parse(const char *name);
const char *refbus_audit_kind_name(uint32_t kind);
const char *refbus_audit_priority_name(uint32_t priority);

/* Milliseconds since the epoch from an integer ("1767225600000") or an ISO-8601 UTC time
 * ("2026-01-01", "2026-01-01T08:30", "2026-01-01T08:30:00.5Z"). Errors: REFBUS_EINVAL. */
int refbus_audit_time_parse(const char *s, uint64_t *ms) REFBUS_WUR;

/* A new JSON object for record `index` (its bytes `rec`): every field under a stable name, ids
 * and hashes as lower-case hex, times as ms and ISO-8601; a DELIVERED receipt decoded too.
 * An undecodable record gives {"index", "leaf_hash", "malformed": true, "bytes"}.
 * Returns NULL only when out of memory; the caller owns the reference. */
json_t *refbus_audit_record_json(uint64_t index, const uint8_t *rec, size_t len);

/* One timeline line (no newline) for a decoded record, malloc'd into *out.
 * Errors: REFBUS_ENOMEM. */
int refbus_audit_record_text(char **out, uint64_t index,
                             const Refbus__V1__AuditRecord *r) REFBUS_WUR;

#endif
