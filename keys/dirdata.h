/* Internal to keys/: the directory's contents as plain C data, with the one parser (protobuf
 * bytes -> validated data) and the one encoder (data -> bytes) that the reader (directory.c)
 * and the administrators' tool (admin.c) share, so the tool can never write what readers
 * refuse. Not for use outside keys/. */
#ifndef REFBUS_KEYS_DIRDATA_H
#define REFBUS_KEYS_DIRDATA_H

#include <stddef.h>
#include <stdint.h>

#include "keys/directory.h"

#define REFBUS_DIR_SIG_DOMAIN "refbus/v1/directory-signature"

/* An agency, or the broker (name NULL, kind 0). */
typedef struct refbus_dd_agency {
    char id[65];
    char *name; /* malloc'd UTF-8 */
    uint32_t kind;
    refbus_dir_key *keys; /* malloc'd, ascending epoch */
    size_t n_keys;
} refbus_dd_agency;

typedef struct refbus_dd_rule {
    char from[65];
    char to[65];
    int allow;
} refbus_dd_rule;

typedef struct refbus_dd {
    uint32_t version;
    uint64_t serial;
    uint64_t issued_ms;
    int has_root_pk;
    uint8_t root_pk[crypto_sign_PUBLICKEYBYTES];
    refbus_dd_agency *agencies; /* malloc'd, ascending id */
    size_t n_agencies;
    int has_broker;
    refbus_dd_agency broker;
    char **endpoints; /* malloc'd strings */
    size_t n_endpoints;
    refbus_dd_rule *rules;
    size_t n_rules;
    int has_reanchor;
    refbus_dir_reanchor reanchor;
} refbus_dd;

/* Decode a Directory (not signed) and apply every rule of docs/KEYS-FORMAT.md section 3.
 * On success fills *out (the caller clears it with refbus_dd_clear).
 * Errors: REFBUS_EMALFORMED, REFBUS_EVERSION, REFBUS_EKEYFORMAT, REFBUS_EBADID, REFBUS_ENOMEM. */
int refbus_dd_parse(refbus_dd *out, const uint8_t *bytes, size_t len) REFBUS_WUR;

/* The validation rules alone. Errors: as parse, without ENOMEM. */
int refbus_dd_validate(const refbus_dd *d) REFBUS_WUR;

/* Encode (after validating). *out is malloc'd, the caller frees it.
 * Errors: those of validate, REFBUS_ENOMEM. */
int refbus_dd_pack(const refbus_dd *d, uint8_t **out, size_t *len) REFBUS_WUR;

/* Encode without validating: only for tests that need a signed directory readers must refuse.
 * Errors: REFBUS_ENOMEM. */
int refbus_dd_encode(const refbus_dd *d, uint8_t **out, size_t *len) REFBUS_WUR;

/* The SignedDirectory: parse its two fields (no signature check), or build it.
 * split: *dir points into `bytes`. Errors: REFBUS_EMALFORMED, REFBUS_ENOMEM, REFBUS_ETOOLARGE. */
int refbus_dd_split_signed(const uint8_t *bytes, size_t len, const uint8_t **dir, size_t *dir_len,
                           uint8_t sig[crypto_sign_BYTES]) REFBUS_WUR;
int refbus_dd_join_signed(uint8_t **out, size_t *out_len, const uint8_t *dir, size_t dir_len,
                          const uint8_t sig[crypto_sign_BYTES]) REFBUS_WUR;
/* The signing input: domain || u32be(len) || dir, malloc'd. Errors: REFBUS_ENOMEM. */
int refbus_dd_sig_input(uint8_t **out, size_t *out_len, const uint8_t *dir,
                        size_t dir_len) REFBUS_WUR;

void refbus_dd_clear(refbus_dd *d);
void refbus_dd_agency_clear(refbus_dd_agency *a);

/* 1 when `s` is valid UTF-8 of 1..max bytes with no control or bidirectional-override
 * characters (display names and reasons are printed on administrators' terminals). */
int refbus_dd_text_valid(const char *s, size_t max);

/* Index of agency `id` in d (binary search), or -1. */
long refbus_dd_find(const refbus_dd *d, const char *id);

#endif
