/* Referral JSON (what agency systems hand in and get out, docs/NODE.md "Referral JSON") <->
 * the refbus.v1.Payload bytes sealed inside an envelope. Every refusal names the field.
 * JSON in: referral_json.c; payload checks and JSON out: payload.c. */
#ifndef REFBUS_NODES_REFERRAL_JSON_H
#define REFBUS_NODES_REFERRAL_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

#define REFBUS_JSON_ERR_MAX 256
#define REFBUS_SUMMARY_MAX (16u * 1024u) /* bytes of UTF-8 */
#define REFBUS_TEXT_MAX (16u * 1024u)

/* Urgency values of refbus.v1.Urgency. */
enum refbus_urgency {
    REFBUS_URGENCY_UNSPECIFIED = 0,
    REFBUS_URGENCY_ROUTINE = 1,
    REFBUS_URGENCY_URGENT = 2,
    REFBUS_URGENCY_IMMEDIATE_DANGER = 3
};

/* "routine", "urgent", "immediate_danger" (also "immediate", "immediate-danger") -> value, or
 * -1. */
int refbus_referral_urgency_parse(const char *s);
const char *refbus_referral_urgency_name(int urgency);

/* Check a referral given as a JSON object and encode it as a Payload (body = referral).
 * `thread_id` (16 bytes) is written into the referral; a "thread_id" member in the JSON is
 * refused (a referral starts a new thread and the node names it). On success *payload is
 * malloc'd (caller frees) and *urgency is set. On failure `err` holds a sentence that starts
 * with the field path, e.g. `field "child.age": expected an integer from 0 to 25`.
 * Errors: REFBUS_EJSON (any content error), REFBUS_ENOMEM, REFBUS_EINVAL. */
int refbus_referral_from_json(uint8_t **payload, size_t *payload_len, int *urgency,
                              const json_t *referral, const uint8_t thread_id[16],
                              char err[REFBUS_JSON_ERR_MAX]) REFBUS_WUR;

/* Parse JSON text (a syntax error names line and column) into a new reference *out.
 * Errors: REFBUS_EJSON, REFBUS_ENOMEM. */
int refbus_referral_json_parse_text(json_t **out, const char *text, size_t len,
                                    char err[REFBUS_JSON_ERR_MAX]) REFBUS_WUR;

/* A status update (an answer in a thread) encoded as a Payload (body = status).
 * Errors: REFBUS_EINVAL (bad status, reason code or text; `err` says which), REFBUS_ENOMEM. */
int refbus_referral_status_payload(uint8_t **payload, size_t *payload_len,
                                   const uint8_t thread_id[16], const uint8_t in_reply_to[16],
                                   uint32_t status, const char *reason_code, const char *text,
                                   char err[REFBUS_JSON_ERR_MAX]) REFBUS_WUR;

/* What the node needs from a payload it received (bytes from another agency: checked here). */
typedef struct refbus_payload_info {
    int kind; /* REFBUS_KIND_REFERRAL or REFBUS_KIND_STATUS */
    uint8_t thread_id[16];
    int urgency;       /* referral */
    char case_ref[65]; /* referral, truncated */
    uint32_t status;   /* status update */
    int has_in_reply_to;
    uint8_t in_reply_to[16];
    char reason_code[65];
    char text[REFBUS_TEXT_MAX + 1]; /* status update text (notes, decline reasons) */
} refbus_payload_info;

/* Decode and check a payload (PROTOCOL.md 2.14). Errors: REFBUS_EMALFORMED (not a Payload, not
 * its canonical encoding — a redundant varint, a field given twice, an unknown field, both a
 * referral and a status —, no body, thread id not 16 bytes, status out of range, over-long
 * fields, invalid UTF-8: permanent), REFBUS_ENOMEM (transient). */
int refbus_payload_inspect(refbus_payload_info *info, const uint8_t *payload,
                           size_t len) REFBUS_WUR;

/* The payload as JSON: {"referral": {...}} or {"status": {...}} (new reference in *out).
 * Errors: REFBUS_EMALFORMED, REFBUS_ENOMEM. */
int refbus_payload_to_json(json_t **out, const uint8_t *payload, size_t len) REFBUS_WUR;

#endif
