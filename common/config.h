/* The one config loader of the broker and the node: each part declares its keys in a table
 * (name, type, range, default, where the value goes) and this module reads an ini file (inih)
 * or one key from the command line by that table, so both parts accept the same syntax and
 * report mistakes in the same words: "FILE:LINE: key 'x': reason". */
#ifndef REFBUS_COMMON_CONFIG_H
#define REFBUS_COMMON_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The most keys one table may declare. */
#define REFBUS_CONFIG_MAX_KEYS 64

typedef enum refbus_config_type {
    REFBUS_CFG_STRING,   /* char[size]: taken as it is */
    REFBUS_CFG_PATH,     /* char[size]: a relative path is relative to the config file's folder
                          * (from the command line: to the working directory) */
    REFBUS_CFG_ENDPOINT, /* char[size]: a ZeroMQ endpoint ("scheme://..."); an ipc:// one with a
                          * relative path is resolved like a PATH */
    REFBUS_CFG_IPC,      /* as ENDPOINT, but only ipc:// (a socket without authentication of
                          * its own must never be reachable over the network) */
    REFBUS_CFG_UINT,     /* uint32_t (size 4) or uint64_t (size 8), decimal, min..max */
    REFBUS_CFG_BOOL,     /* int: yes/no, true/false, on/off, 1/0 */
    REFBUS_CFG_ENUM,     /* int: the index of the value in `names` */
    REFBUS_CFG_CUSTOM,   /* `parse` checks and stores it; `expect` says what it wants */
} refbus_config_type;

typedef struct refbus_config_key {
    const char *name;
    refbus_config_type type;
    size_t offset;            /* offsetof(the part's config struct, field) */
    size_t size;              /* sizeof the field */
    uint64_t min, max;        /* UINT */
    const char *const *names; /* ENUM: NULL-terminated */
    /* CUSTOM: 0, or -1 when `value` is refused; writes `field` only on success. */
    int (*parse)(void *field, const char *value);
    const char *expect; /* CUSTOM: "expected ..." in the error, e.g. "a duration (14d)" */
    const char *def;    /* default as it would be written in the file; NULL: none
                         * (zero or "") */
} refbus_config_key;

/* offsetof and sizeof of field `f` of struct type `T`, for a key's `offset, size`. */
#define REFBUS_CFG_FIELD(T, f) offsetof(T, f), sizeof(((T *)0)->f)

/* The keys both daemons have, with one meaning and one range. `T` must have the fields
 * data_dir, keystore, passphrase_file, directory (char arrays), map_size_mb (uint64_t),
 * max_memory_mb (uint32_t), log_level and syslog (int). */
#define REFBUS_CONFIG_SHARED_KEYS(T)                                                        \
    {.name = "data_dir", .type = REFBUS_CFG_PATH, REFBUS_CFG_FIELD(T, data_dir)},           \
        {.name = "keystore", .type = REFBUS_CFG_PATH, REFBUS_CFG_FIELD(T, keystore)},       \
        {.name = "passphrase_file",                                                         \
         .type = REFBUS_CFG_PATH,                                                           \
         REFBUS_CFG_FIELD(T, passphrase_file)},                                             \
        {.name = "directory", .type = REFBUS_CFG_PATH, REFBUS_CFG_FIELD(T, directory)},     \
        {.name = "map_size_mb",                                                             \
         .type = REFBUS_CFG_UINT,                                                           \
         REFBUS_CFG_FIELD(T, map_size_mb),                                                  \
         .min = 1,                                                                          \
         .max = 1u << 24,                                                                   \
         .def = "1024"},                                                                    \
        {.name = "max_memory_mb",                                                           \
         .type = REFBUS_CFG_UINT,                                                           \
         REFBUS_CFG_FIELD(T, max_memory_mb),                                                \
         .min = 16,                                                                         \
         .max = 1u << 20,                                                                   \
         .def = "256"},                                                                     \
        {.name = "log_level",                                                               \
         .type = REFBUS_CFG_CUSTOM,                                                         \
         REFBUS_CFG_FIELD(T, log_level),                                                    \
         .parse = refbus_config_parse_log_level,                                            \
         .expect = "error, warn, info or debug",                                            \
         .def = "info"},                                                                    \
    {                                                                                       \
        .name = "syslog", .type = REFBUS_CFG_BOOL, REFBUS_CFG_FIELD(T, syslog), .def = "no" \
    }

/* CUSTOM parser of a log level (refbus_log_level_parse) into an int. */
int refbus_config_parse_log_level(void *field, const char *value);

typedef struct refbus_config_schema {
    const char *section; /* the one ini section read, e.g. "node" */
    const refbus_config_key *keys;
    size_t n_keys; /* at most REFBUS_CONFIG_MAX_KEYS */
} refbus_config_schema;

/* Zero *cfg (`cfg_size` bytes) and apply every key's default.
 * Errors: REFBUS_ECONFIG (a default the table's own rules refuse: a bug; `err` says which). */
int refbus_config_defaults(const refbus_config_schema *s, void *cfg, size_t cfg_size, char *err,
                           size_t errlen) REFBUS_WUR;

/* Read the ini file `path`: only [section], every key known, each at most once, no empty
 * values, lines of at most the length inih reads whole. Relative paths and ipc:// endpoints are
 * resolved against the file's folder as named in `path`. Stops at the first mistake; keys read
 * before it keep their new values. `err` (always NUL-terminated when errlen > 0) says
 * "PATH:LINE: key 'x': reason", "PATH:LINE: reason" or "PATH: reason".
 * Errors: REFBUS_ENOTFOUND (no such file), REFBUS_EIO (cannot be read), REFBUS_ECONFIG. */
int refbus_config_load(const refbus_config_schema *s, void *cfg, const char *path, char *err,
                       size_t errlen) REFBUS_WUR;

/* Set one key as from the command line (relative paths stay relative to the working directory).
 * `err` says "key 'x': reason". Errors: REFBUS_ECONFIG (unknown key or bad value). */
int refbus_config_set(const refbus_config_schema *s, void *cfg, const char *key, const char *value,
                      char *err, size_t errlen) REFBUS_WUR;

#endif
