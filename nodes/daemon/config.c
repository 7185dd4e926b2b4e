/* Configuration: defaults, the ini file (inih), command-line overrides, derived values. */
#include "nodes/daemon/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

void refbus_node_config_init(refbus_node_config *c)
{
    memset(c, 0, sizeof *c);
    c->control_mode = 0600;
    c->credit = 32;
    c->send_window = 64;
    c->max_memory_mb = 256;
    c->ping_seconds = 5;
    c->ping_timeout_seconds = 20;
    c->reconnect_min_ms = 100;
    c->reconnect_max_ms = 10000;
    c->resend_seconds = 30;
    c->checkpoint_proof_seconds = 600;
    c->default_expiry_ms = 14ull * 86400 * 1000;
    c->map_size_mb = 1024;
    c->log_level = REFBUS_LOG_INFO;
}

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

static int set_u32(uint32_t *out, const char *v, uint32_t lo, uint32_t hi)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || end == v || *end || *v == '-' || x < lo || x > hi)
        return -1;
    *out = (uint32_t)x;
    return 0;
}

/* Copy a path, resolving it against `base` (a directory, "" = as is) when relative. */
static int set_path(char *out, size_t cap, const char *base, const char *v)
{
    int n;
    if (!*v)
        return -1;
    if (v[0] == '/' || !base[0])
        n = snprintf(out, cap, "%s", v);
    else
        n = snprintf(out, cap, "%s/%s", base, v);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int set_str(char *out, size_t cap, const char *v)
{
    int n = snprintf(out, cap, "%s", v);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* An ipc:// endpoint with a relative path is resolved like a path. */
static int set_endpoint(char *out, size_t cap, const char *base, const char *v)
{
    char p[PATH_MAX];
    if (strncmp(v, "ipc://", 6) == 0 && v[6] != '/' && base[0]) {
        if (set_path(p, sizeof p, base, v + 6))
            return -1;
        return snprintf(out, cap, "ipc://%s", p) >= (int)cap ? -1 : 0;
    }
    return set_str(out, cap, v);
}

static int apply(refbus_node_config *c, const char *base, const char *k, const char *v,
                 const char **why)
{
    uint32_t u;
    *why = "bad value";
    if (strcmp(k, "agency") == 0) {
        *why = "not a valid agency id";
        return refbus_agency_id_valid(v) ? set_str(c->agency, sizeof c->agency, v) : -1;
    }
    if (strcmp(k, "keystore") == 0)
        return set_path(c->keystore, sizeof c->keystore, base, v);
    if (strcmp(k, "passphrase_file") == 0)
        return set_path(c->passphrase_file, sizeof c->passphrase_file, base, v);
    if (strcmp(k, "directory") == 0)
        return set_path(c->directory, sizeof c->directory, base, v);
    if (strcmp(k, "data_dir") == 0)
        return set_path(c->data_dir, sizeof c->data_dir, base, v);
    if (strcmp(k, "broker") == 0) {
        *why = "expected a ZeroMQ endpoint such as tcp://broker.example:7700";
        return strstr(v, "://") ? set_str(c->broker, sizeof c->broker, v) : -1;
    }
    if (strcmp(k, "control") == 0) {
        *why = "expected an ipc:// endpoint (the control socket has no authentication of its "
               "own: never tcp://)";
        return strncmp(v, "ipc://", 6) == 0 && v[6]
                   ? set_endpoint(c->control, sizeof c->control, base, v)
                   : -1;
    }
    if (strcmp(k, "control_mode") == 0) {
        char *end;
        unsigned long m = strtoul(v, &end, 8);
        *why = "expected 0600 or 0660 (octal)";
        if (*end || (m != 0600 && m != 0660))
            return -1;
        c->control_mode = (unsigned)m;
        return 0;
    }
    if (strcmp(k, "control_group") == 0)
        return set_str(c->control_group, sizeof c->control_group, v);
    if (strcmp(k, "credit") == 0)
        return (*why = "expected 1..1024", set_u32(&c->credit, v, 1, 1024));
    if (strcmp(k, "send_window") == 0)
        return (*why = "expected 1..1024", set_u32(&c->send_window, v, 1, 1024));
    if (strcmp(k, "max_memory_mb") == 0)
        return (*why = "expected 16..1048576", set_u32(&c->max_memory_mb, v, 16, 1u << 20));
    if (strcmp(k, "ping_seconds") == 0)
        return (*why = "expected 1..3600", set_u32(&c->ping_seconds, v, 1, 3600));
    if (strcmp(k, "ping_timeout_seconds") == 0)
        return (*why = "expected 2..86400", set_u32(&c->ping_timeout_seconds, v, 2, 86400));
    if (strcmp(k, "reconnect_min_ms") == 0)
        return (*why = "expected 10..60000", set_u32(&c->reconnect_min_ms, v, 10, 60000));
    if (strcmp(k, "reconnect_max_ms") == 0)
        return (*why = "expected 10..600000", set_u32(&c->reconnect_max_ms, v, 10, 600000));
    if (strcmp(k, "resend_seconds") == 0)
        return (*why = "expected 1..86400", set_u32(&c->resend_seconds, v, 1, 86400));
    if (strcmp(k, "checkpoint_proof_seconds") == 0)
        return (*why = "expected 1..86400",
                set_u32(&c->checkpoint_proof_seconds, v, 1, 86400));
    if (strcmp(k, "default_expiry") == 0) {
        *why = "expected a duration such as 14d, 12h, 30m";
        return refbus_node_config_duration(&c->default_expiry_ms, v) ? -1 : 0;
    }
    if (strcmp(k, "map_size_mb") == 0) {
        *why = "expected 1..1048576";
        if (set_u32(&u, v, 1, 1048576))
            return -1;
        c->map_size_mb = u;
        return 0;
    }
    if (strcmp(k, "log_level") == 0) {
        *why = "expected error, warn, info or debug";
        int l = refbus_log_level_parse(v);
        return l < 0 ? -1 : (c->log_level = l, 0);
    }
    if (strcmp(k, "syslog") == 0) {
        *why = "expected true or false";
        if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
            return c->syslog = 1, 0;
        if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
            return c->syslog = 0, 0;
        return -1;
    }
    *why = "unknown key";
    return -1;
}

typedef struct load_ctx {
    refbus_node_config *c;
    char base[PATH_MAX];
    char *err;
    size_t errlen;
    int failed;
} load_ctx;

/* inih as built by Debian passes no line number; ini_parse_file() returns the line of the
 * first refused entry, which is added to the message afterwards. */
static int on_line(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *l = user;
    const char *why;
    if (l->failed)
        return 0;
    if (strcmp(section, "node") != 0) {
        snprintf(l->err, l->errlen, "section [%s]: only [node] is read", section);
        l->failed = 1;
        return 0;
    }
    if (apply(l->c, l->base, name, value, &why)) {
        snprintf(l->err, l->errlen, "%s = %s: %s", name, value, why);
        l->failed = 1;
        return 0;
    }
    return 1;
}

int refbus_node_config_load(refbus_node_config *c, const char *path, char *err, size_t errlen)
{
    load_ctx l = {.c = c, .err = err, .errlen = errlen};
    FILE *f;
    if (set_str(c->path, sizeof c->path, path)) {
        snprintf(err, errlen, "config path too long");
        return REFBUS_ECONFIG;
    }
    const char *slash = strrchr(path, '/');
    if (slash)
        snprintf(l.base, sizeof l.base, "%.*s", (int)(slash - path), path);
    else
        snprintf(l.base, sizeof l.base, ".");
    if (slash == path)
        snprintf(l.base, sizeof l.base, "/");
    if (!(f = fopen(path, "r"))) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? REFBUS_ENOTFOUND : REFBUS_EIO;
    }
    int r = ini_parse_file(f, on_line, &l);
    fclose(f);
    if (l.failed) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errlen, "%s line %d: %s", path, r, msg);
        return REFBUS_ECONFIG;
    }
    if (r != 0) {
        snprintf(err, errlen, "%s line %d: not an ini line", path, r);
        return REFBUS_ECONFIG;
    }
    return 0;
}

int refbus_node_config_set(refbus_node_config *c, const char *key, const char *value, char *err,
                           size_t errlen)
{
    const char *why;
    if (apply(c, "", key, value, &why)) {
        snprintf(err, errlen, "%s = %s: %s", key, value, why);
        return REFBUS_ECONFIG;
    }
    return 0;
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
            snprintf(err, errlen, "no control socket: give -c CONFIG, -d DATA_DIR or -s "
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
