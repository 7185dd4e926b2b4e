/* Broker configuration: defaults, an ini file ([broker] section, read with inih), and the same
 * keys as command-line flags. */
#include "broker/broker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "common/log.h"

void refbus_broker_config_defaults(refbus_broker_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->bind, sizeof c->bind, "tcp://127.0.0.1:7700");
    c->map_size_mb = 1024;
    c->checkpoint_records = 1000;
    c->checkpoint_seconds = 10;
    c->redeliver_seconds = 30;
    c->expiry_scan_seconds = 1;
    c->max_batch = 256;
    c->max_peers = 1024;
    c->high_water_percent = 90;
    c->agency_quota_mb = 0; /* a quarter of the map */
    c->handshake_seconds = 10;
    c->max_memory_mb = 256;
    c->log_level = REFBUS_LOG_INFO;
}

static int set_str(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap)
        return REFBUS_ECONFIG;
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_u(uint64_t *dst, const char *v, uint64_t min, uint64_t max)
{
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || !end || *end || end == v || n < min || n > max)
        return REFBUS_ECONFIG;
    *dst = n;
    return 0;
}

int refbus_broker_config_set(refbus_broker_config *c, const char *key, const char *v)
{
    uint64_t n = 0;
    int rc;
#define STR(name)                                                                               \
    if (strcmp(key, #name) == 0)                                                                \
        return set_str(c->name, sizeof c->name, v);
#define U32(name, lo, hi)                                                                       \
    if (strcmp(key, #name) == 0) {                                                              \
        if ((rc = set_u(&n, v, lo, hi)) == 0)                                                   \
            c->name = (uint32_t)n;                                                              \
        return rc;                                                                              \
    }
    STR(data_dir)
    STR(bind)
    STR(admin)
    STR(keystore)
    STR(passphrase_file)
    STR(directory)
    if (strcmp(key, "root_pk") == 0) {
        if (strlen(v) != 64)
            return REFBUS_ECONFIG;
        return set_str(c->root_pk_hex, sizeof c->root_pk_hex, v);
    }
    if (strcmp(key, "map_size_mb") == 0)
        return set_u(&c->map_size_mb, v, 1, 1u << 24);
    U32(checkpoint_records, 1, 100000000)
    U32(checkpoint_seconds, 1, 86400)
    U32(redeliver_seconds, 1, 86400)
    U32(expiry_scan_seconds, 1, 3600)
    U32(max_batch, 1, 65536)
    U32(max_peers, 1, 65536)
    U32(high_water_percent, 10, 99)
    if (strcmp(key, "agency_quota_mb") == 0)
        return set_u(&c->agency_quota_mb, v, 0, 1u << 24);
    U32(handshake_seconds, 1, 3600)
    U32(max_memory_mb, 16, 1u << 20)
    if (strcmp(key, "log_level") == 0) {
        int l = refbus_log_level_parse(v);
        if (l < 0)
            return REFBUS_ECONFIG;
        c->log_level = l;
        return 0;
    }
    if (strcmp(key, "syslog") == 0) {
        if (strcmp(v, "yes") && strcmp(v, "no") && strcmp(v, "true") && strcmp(v, "false"))
            return REFBUS_ECONFIG;
        c->syslog = v[0] == 'y' || v[0] == 't';
        return 0;
    }
#undef STR
#undef U32
    return REFBUS_ECONFIG;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    refbus_broker_config *c = user;
    if (strcmp(section, "broker") != 0) {
        fprintf(stderr, "config: unknown section [%s]\n", section);
        return 0;
    }
    if (refbus_broker_config_set(c, name, value) != 0) {
        fprintf(stderr, "config: bad value for '%s': '%s'\n", name, value);
        return 0;
    }
    return 1;
}

int refbus_broker_config_load(refbus_broker_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "config: cannot open %s: %s\n", path, strerror(errno));
        return REFBUS_ENOTFOUND;
    }
    int line = ini_parse_file(f, on_entry, c);
    fclose(f);
    if (line != 0) {
        fprintf(stderr, "config: %s: error on line %d\n", path, line);
        return REFBUS_ECONFIG;
    }
    return 0;
}
