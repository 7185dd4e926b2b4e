/* Node configuration: the [node] section's keys, their types, ranges and defaults, read by the
 * one config loader (common/config.c); derived values; durations. */
#include "nodes/daemon/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int refbus_node_config_duration(uint64_t *ms, const char *s)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return REFBUS_EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul;
    if (errno || end == s)
        return REFBUS_EINVAL;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (*end == 0 || strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (strcmp(end, "d") == 0)
        mul = 86400000;
    else
        return REFBUS_EINVAL;
    if (v == 0 || v > UINT64_MAX / mul / 2)
        return REFBUS_EINVAL;
    *ms = v * mul;
    return 0;
}

static int parse_agency(void *field, const char *v)
{
    if (!refbus_agency_id_valid(v))
        return -1;
    snprintf(field, REFBUS_AGENCY_ID_MAX + 1, "%s", v);
    return 0;
}

static int parse_mode(void *field, const char *v)
{
    char *end;
    unsigned long m = strtoul(v, &end, 8);
    if (*end || (m != 0600 && m != 0660))
        return -1;
    *(unsigned *)field = (unsigned)m;
    return 0;
}

static int parse_duration(void *field, const char *v)
{
    return refbus_node_config_duration(field, v) ? -1 : 0;
}

#define F(f) REFBUS_CFG_FIELD(refbus_node_config, f)
static const refbus_config_key keys[] = {
    REFBUS_CONFIG_SHARED_KEYS(refbus_node_config),
    {.name = "agency",
     .type = REFBUS_CFG_CUSTOM,
     F(agency),
     .parse = parse_agency,
     .expect = "an agency id ([a-z0-9.-], 1 to 64 characters)"},
    {.name = "broker", .type = REFBUS_CFG_ENDPOINT, F(broker)},
    {.name = "control", .type = REFBUS_CFG_IPC, F(control)}, /* "": ipc://DATA_DIR/control.sock */
    {.name = "control_mode",
     .type = REFBUS_CFG_CUSTOM,
     F(control_mode),
     .parse = parse_mode,
     .expect = "0600 or 0660 (octal)",
     .def = "0600"},
    {.name = "control_group", .type = REFBUS_CFG_STRING, F(control_group)},
    {.name = "credit", .type = REFBUS_CFG_UINT, F(credit), .min = 1, .max = 1024, .def = "32"},
    {.name = "send_window",
     .type = REFBUS_CFG_UINT,
     F(send_window),
     .min = 1,
     .max = 1024,
     .def = "64"},
    {.name = "ping_seconds",
     .type = REFBUS_CFG_UINT,
     F(ping_seconds),
     .min = 1,
     .max = 3600,
     .def = "5"},
    {.name = "ping_timeout_seconds",
     .type = REFBUS_CFG_UINT,
     F(ping_timeout_seconds),
     .min = 2,
     .max = 86400,
     .def = "20"},
    {.name = "reconnect_min_ms",
     .type = REFBUS_CFG_UINT,
     F(reconnect_min_ms),
     .min = 10,
     .max = 60000,
     .def = "100"},
    {.name = "reconnect_max_ms",
     .type = REFBUS_CFG_UINT,
     F(reconnect_max_ms),
     .min = 10,
     .max = 600000,
     .def = "10000"},
    {.name = "resend_seconds",
     .type = REFBUS_CFG_UINT,
     F(resend_seconds),
     .min = 1,
     .max = 86400,
     .def = "30"},
    {.name = "checkpoint_proof_seconds",
     .type = REFBUS_CFG_UINT,
     F(checkpoint_proof_seconds),
     .min = 1,
     .max = 86400,
     .def = "600"},
    {.name = "default_expiry",
     .type = REFBUS_CFG_CUSTOM,
     F(default_expiry_ms),
     .parse = parse_duration,
     .expect = "a duration such as 90s, 30m, 12h or 14d",
     .def = "14d"},
};
#undef F

static const refbus_config_schema schema = {"node", keys, sizeof keys / sizeof keys[0]};

void refbus_node_config_init(refbus_node_config *c)
{
    char err[256];
    /* The table's defaults pass its own rules (config_test checks): a failure is a bug. */
    if (refbus_config_defaults(&schema, c, sizeof *c, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-node: config table: %s\n", err);
        abort();
    }
}

int refbus_node_config_load(refbus_node_config *c, const char *path, char *err, size_t errlen)
{
    int n = snprintf(c->path, sizeof c->path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof c->path) {
        c->path[0] = 0;
        snprintf(err, errlen, "%.200s...: path too long", path);
        return REFBUS_ECONFIG;
    }
    return refbus_config_load(&schema, c, path, err, errlen);
}

int refbus_node_config_set(refbus_node_config *c, const char *key, const char *value, char *err,
                           size_t errlen)
{
    return refbus_config_set(&schema, c, key, value, err, errlen);
}

int refbus_node_config_finish(refbus_node_config *c, int for_daemon, char *err, size_t errlen)
{
    if (!c->control[0] && c->data_dir[0]) {
        int n = snprintf(c->control, sizeof c->control, "ipc://%s/control.sock", c->data_dir);
        if (n < 0 || (size_t)n >= sizeof c->control) {
            snprintf(err, errlen, "data_dir too long");
            return REFBUS_ECONFIG;
        }
    }
    if (c->reconnect_max_ms < c->reconnect_min_ms)
        c->reconnect_max_ms = c->reconnect_min_ms;
    if (c->ping_timeout_seconds <= c->ping_seconds)
        c->ping_timeout_seconds = c->ping_seconds * 3;
    if (!for_daemon) {
        if (!c->control[0]) {
            snprintf(err, errlen,
                     "no control socket: give -c CONFIG, -d DATA_DIR or -s "
                     "ENDPOINT");
            return REFBUS_ECONFIG;
        }
        return 0;
    }
    const char *missing = !c->data_dir[0]    ? "data_dir"
                          : !c->keystore[0]  ? "keystore"
                          : !c->directory[0] ? "directory"
                                             : NULL;
    if (missing) {
        snprintf(err, errlen, "%s is not set (config file or command line)", missing);
        return REFBUS_ECONFIG;
    }
    return 0;
}
