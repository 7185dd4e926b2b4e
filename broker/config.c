/* Broker configuration: the [broker] section's keys, their types, ranges and defaults, read by
 * the one config loader (common/config.c) from an ini file and from the command line. */
#include "broker/broker.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

/* root_pk: the root key as 64 hex digits (checked again, as a key, when the broker starts). */
static int parse_root_pk(void *field, const char *v)
{
    if (strlen(v) != 64)
        return -1;
    for (size_t i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)v[i]))
            return -1;
    memcpy(field, v, 65);
    return 0;
}

#define F(f) REFBUS_CFG_FIELD(refbus_broker_config, f)
static const refbus_config_key keys[] = {
    REFBUS_CONFIG_SHARED_KEYS(refbus_broker_config),
    {.name = "bind", .type = REFBUS_CFG_ENDPOINT, F(bind), .def = "tcp://127.0.0.1:7700"},
    {.name = "admin", .type = REFBUS_CFG_IPC, F(admin)}, /* "": ipc://DATA_DIR/admin.sock */
    {.name = "root_pk",
     .type = REFBUS_CFG_CUSTOM,
     F(root_pk_hex),
     .parse = parse_root_pk,
     .expect = "64 hex digits (refbus-keys pubkey)"},
    {.name = "checkpoint_records",
     .type = REFBUS_CFG_UINT,
     F(checkpoint_records),
     .min = 1,
     .max = 100000000,
     .def = "1000"},
    {.name = "checkpoint_seconds",
     .type = REFBUS_CFG_UINT,
     F(checkpoint_seconds),
     .min = 1,
     .max = 86400,
     .def = "10"},
    {.name = "redeliver_seconds",
     .type = REFBUS_CFG_UINT,
     F(redeliver_seconds),
     .min = 1,
     .max = 86400,
     .def = "30"},
    {.name = "expiry_scan_seconds",
     .type = REFBUS_CFG_UINT,
     F(expiry_scan_seconds),
     .min = 1,
     .max = 3600,
     .def = "1"},
    {.name = "max_batch",
     .type = REFBUS_CFG_UINT,
     F(max_batch),
     .min = 1,
     .max = 65536,
     .def = "256"},
    {.name = "max_peers",
     .type = REFBUS_CFG_UINT,
     F(max_peers),
     .min = 1,
     .max = 65536,
     .def = "1024"},
    {.name = "high_water_percent",
     .type = REFBUS_CFG_UINT,
     F(high_water_percent),
     .min = 10,
     .max = 99,
     .def = "90"},
    /* 0: a quarter of the map */
    {.name = "agency_quota_mb",
     .type = REFBUS_CFG_UINT,
     F(agency_quota_mb),
     .min = 0,
     .max = 1u << 24,
     .def = "0"},
    {.name = "handshake_seconds",
     .type = REFBUS_CFG_UINT,
     F(handshake_seconds),
     .min = 1,
     .max = 3600,
     .def = "10"},
};
#undef F

static const refbus_config_schema schema = {"broker", keys, sizeof keys / sizeof keys[0]};

void refbus_broker_config_defaults(refbus_broker_config *c)
{
    char err[256];
    /* The table's defaults pass its own rules (config_test checks): a failure is a bug. */
    if (refbus_config_defaults(&schema, c, sizeof *c, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-broker: config table: %s\n", err);
        abort();
    }
}

int refbus_broker_config_set(refbus_broker_config *c, const char *key, const char *value, char *err,
                             size_t errlen)
{
    return refbus_config_set(&schema, c, key, value, err, errlen);
}

int refbus_broker_config_load(refbus_broker_config *c, const char *path, char *err, size_t errlen)
{
    return refbus_config_load(&schema, c, path, err, errlen);
}
