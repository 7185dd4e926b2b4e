/* The config loader (see config.h). inih splits lines into sections and keys; everything else
 * (which keys exist, their types and ranges, duplicates, paths, the wording of every mistake)
 * is decided here, once, for both daemons. Lines are fed to inih by our own reader so that a
 * line number is known for every key (Debian's inih passes none to the handler) and a line too
 * long for inih's buffer is refused instead of being cut into two lines. */
#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "common/log.h"

/* The longest value a path or endpoint may become once resolved. */
#define RESOLVED_MAX (PATH_MAX + 64)

int refbus_config_parse_log_level(void *field, const char *value)
{
    int l = refbus_log_level_parse(value);
    if (l < 0)
        return -1;
    *(int *)field = l;
    return 0;
}

/* A value as shown in an error: at most 64 characters, anything unprintable as '?'. */
static const char *shown(char out[72], const char *v)
{
    size_t i = 0;
    for (; v[i] && i < 64; i++)
        out[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
    if (v[i]) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = 0;
    return out;
}

static int why_fmt(char *why, size_t wl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int why_fmt(char *why, size_t wl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, wl, fmt, ap);
    va_end(ap);
    return -1;
}

/* Copy `prefix` + (`base` + "/" when `rel` is relative and base is set) + `rel` into a field. */
static int put_text(const refbus_config_key *k, void *field, const char *prefix, const char *base,
                    const char *rel, char *why, size_t wl)
{
    char tmp[RESOLVED_MAX];
    int n;
    if (rel[0] == '/' || !base[0])
        n = snprintf(tmp, sizeof tmp, "%s%s", prefix, rel);
    else
        n = snprintf(tmp, sizeof tmp, "%s%s/%s", prefix, base, rel);
    if (n < 0 || (size_t)n >= sizeof tmp || (size_t)n >= k->size)
        return why_fmt(why, wl, "too long (at most %zu characters%s)", k->size - 1,
                       base[0] && rel[0] != '/' ? " once resolved against the config file's folder"
                                                : "");
    memcpy(field, tmp, (size_t)n + 1);
    return 0;
}

static int put_uint(const refbus_config_key *k, void *field, const char *v, char *why, size_t wl)
{
    char show[72], *end = NULL;
    unsigned long long n;
    errno = 0;
    if (!isdigit((unsigned char)v[0]))
        goto bad;
    n = strtoull(v, &end, 10);
    if (errno || *end || n < k->min || n > k->max)
        goto bad;
    if (k->size == sizeof(uint64_t)) {
        uint64_t x = n;
        memcpy(field, &x, sizeof x);
    } else {
        uint32_t x = (uint32_t)n;
        memcpy(field, &x, sizeof x);
    }
    return 0;
bad:
    return why_fmt(why, wl, "expected a whole number from %llu to %llu, got '%s'",
                   (unsigned long long)k->min, (unsigned long long)k->max, shown(show, v));
}

static int put_bool(void *field, const char *v, char *why, size_t wl)
{
    static const char *const yes[] = {"yes", "true", "1"}, *const no[] = {"no", "false", "0"};
    char show[72];
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *(int *)field = strcmp(v, yes[i]) == 0;
            return 0;
        }
    }
    return why_fmt(why, wl, "expected yes or no (also true/false, 1/0), got '%s'", shown(show, v));
}

static int put_enum(const refbus_config_key *k, void *field, const char *v, char *why, size_t wl)
{
    char show[72], list[256] = "";
    size_t used = 0;
    for (int i = 0; k->names[i]; i++) {
        if (strcmp(v, k->names[i]) == 0) {
            *(int *)field = i;
            return 0;
        }
        int n = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", k->names[i]);
        if (n > 0 && (size_t)n < sizeof list - used)
            used += (size_t)n;
    }
    return why_fmt(why, wl, "expected one of %s, got '%s'", list, shown(show, v));
}

static int put_endpoint(const refbus_config_key *k, void *field, const char *base, const char *v,
                        char *why, size_t wl)
{
    char show[72];
    const char *sep = strstr(v, "://");
    int ipc = strncmp(v, "ipc://", 6) == 0 && v[6];
    if (k->type == REFBUS_CFG_IPC && !ipc)
        return why_fmt(why, wl,
                       "expected an ipc:// endpoint (this socket has no authentication of its "
                       "own: never tcp://), got '%s'",
                       shown(show, v));
    if (!sep || sep == v || !sep[3])
        return why_fmt(why, wl,
                       "expected a ZeroMQ endpoint such as tcp://broker.example:7700, got '%s'",
                       shown(show, v));
    if (ipc)
        return put_text(k, field, "ipc://", base, v + 6, why, wl);
    return put_text(k, field, "", "", v, why, wl);
}

/* Check `v` by the key's rules and store it; on failure `why` says what was expected. */
static int apply(const refbus_config_key *k, void *cfg, const char *base, const char *v, char *why,
                 size_t wl)
{
    char show[72];
    void *field = (char *)cfg + k->offset;
    if (!v[0])
        return why_fmt(why, wl, "no value (leave the key out for its default)");
    switch (k->type) {
    case REFBUS_CFG_STRING: return put_text(k, field, "", "", v, why, wl);
    case REFBUS_CFG_PATH: return put_text(k, field, "", base, v, why, wl);
    case REFBUS_CFG_ENDPOINT:
    case REFBUS_CFG_IPC: return put_endpoint(k, field, base, v, why, wl);
    case REFBUS_CFG_UINT: return put_uint(k, field, v, why, wl);
    case REFBUS_CFG_BOOL: return put_bool(field, v, why, wl);
    case REFBUS_CFG_ENUM: return put_enum(k, field, v, why, wl);
    case REFBUS_CFG_CUSTOM:
        if (k->parse(field, v) == 0)
            return 0;
        return why_fmt(why, wl, "expected %s, got '%s'", k->expect, shown(show, v));
    }
    return why_fmt(why, wl, "unknown key type (a bug)");
}

static const refbus_config_key *find(const refbus_config_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_keys; i++)
        if (strcmp(s->keys[i].name, name) == 0)
            return &s->keys[i];
    return NULL;
}

int refbus_config_defaults(const refbus_config_schema *s, void *cfg, size_t cfg_size, char *err,
                           size_t errlen)
{
    char why[256];
    memset(cfg, 0, cfg_size);
    for (size_t i = 0; i < s->n_keys; i++) {
        const refbus_config_key *k = &s->keys[i];
        if (k->offset + k->size > cfg_size ||
            (k->def && apply(k, cfg, "", k->def, why, sizeof why) != 0)) {
            snprintf(err, errlen, "key '%s': bad default (a bug): %s", k->name,
                     k->offset + k->size > cfg_size ? "field outside the struct" : why);
            return REFBUS_ECONFIG;
        }
    }
    return 0;
}

int refbus_config_set(const refbus_config_schema *s, void *cfg, const char *key, const char *value,
                      char *err, size_t errlen)
{
    char why[256], show[72];
    const refbus_config_key *k = find(s, key);
    if (!k) {
        snprintf(err, errlen, "key '%s': unknown key", shown(show, key));
        return REFBUS_ECONFIG;
    }
    if (apply(k, cfg, "", value, why, sizeof why) != 0) {
        snprintf(err, errlen, "key '%s': %s", k->name, why);
        return REFBUS_ECONFIG;
    }
    return 0;
}

typedef struct load_ctx {
    const refbus_config_schema *s;
    void *cfg;
    const char *path;
    char base[PATH_MAX];
    FILE *f;
    char *buf; /* the current physical line (getline) */
    size_t cap;
    unsigned line;      /* its number, from 1 */
    int indented;       /* it starts with a blank: inih may take it as a continuation */
    int have_key;       /* a key was read in this section: an indented line continues it */
    int read_errno;     /* reading the file failed */
    unsigned fail_line; /* the first mistake found by us (0: none) */
    unsigned set_on[REFBUS_CONFIG_MAX_KEYS]; /* where each key was set (0: not yet) */
    char *err;
    size_t errlen;
} load_ctx;

static void fail_at(load_ctx *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail_at(load_ctx *l, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(l->err, l->errlen, "%s:%u: %s", l->path, l->line, msg);
    l->fail_line = l->line;
}

/* inih's reader: one whole physical line per call, counted; NULL ends the parse (end of file,
 * a read error, or a mistake already found). */
static char *read_line(char *str, int num, void *stream)
{
    load_ctx *l = stream;
    if (l->fail_line || l->read_errno)
        return NULL;
    errno = 0;
    ssize_t n = getline(&l->buf, &l->cap, l->f);
    if (n < 0) {
        if (ferror(l->f))
            l->read_errno = errno ? errno : EIO;
        return NULL;
    }
    l->line++;
    if (memchr(l->buf, 0, (size_t)n)) {
        fail_at(l, "a NUL byte in the line");
        return NULL;
    }
    if (num < 2 || (size_t)n > (size_t)num - 1) {
        fail_at(l, "line too long (at most %d characters)", num - 2);
        return NULL;
    }
    memcpy(str, l->buf, (size_t)n + 1);
    l->indented = l->buf[0] == ' ' || l->buf[0] == '\t';
    const char *p = l->buf + strspn(l->buf, " \t");
    if (*p == '[')
        l->have_key = 0; /* inih forgets the previous key at a section header */
    return str;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *l = user;
    char why[256], show[72];
    if (l->fail_line)
        return 0;
    if (l->indented && l->have_key) {
        fail_at(l,
                "an indented line would continue key '%s': continuation lines are not "
                "allowed (remove the indentation)",
                shown(show, name));
        return 0;
    }
    l->have_key = 1;
    if (strcmp(section, l->s->section) != 0) {
        if (!section[0])
            fail_at(l, "key '%s': outside a section (put it under [%s])", shown(show, name),
                    l->s->section);
        else
            fail_at(l, "section [%s]: only [%s] is read", shown(show, section), l->s->section);
        return 0;
    }
    const refbus_config_key *k = find(l->s, name);
    if (!k) {
        fail_at(l, "key '%s': unknown key", shown(show, name));
        return 0;
    }
    size_t i = (size_t)(k - l->s->keys);
    if (l->set_on[i]) {
        fail_at(l, "key '%s': set twice (first on line %u)", k->name, l->set_on[i]);
        return 0;
    }
    if (apply(k, l->cfg, l->base, value, why, sizeof why) != 0) {
        fail_at(l, "key '%s': %s", k->name, why);
        return 0;
    }
    l->set_on[i] = l->line;
    return 1;
}

int refbus_config_load(const refbus_config_schema *s, void *cfg, const char *path, char *err,
                       size_t errlen)
{
    load_ctx *l = NULL;
    int rc = REFBUS_ECONFIG, r;
    if (errlen)
        err[0] = 0;
    if (s->n_keys > REFBUS_CONFIG_MAX_KEYS) {
        snprintf(err, errlen, "%s: too many keys in the table (a bug)", path);
        return REFBUS_ECONFIG;
    }
    if (!(l = calloc(1, sizeof *l))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return REFBUS_ENOMEM;
    }
    l->s = s;
    l->cfg = cfg;
    l->path = path;
    l->err = err;
    l->errlen = errlen;
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(l->base, sizeof l->base, ".");
    else if (slash == path)
        snprintf(l->base, sizeof l->base, "/");
    else if ((size_t)(slash - path) >= sizeof l->base) {
        snprintf(err, errlen, "%s: path too long", path);
        goto out;
    } else
        snprintf(l->base, sizeof l->base, "%.*s", (int)(slash - path), path);
    if (!(l->f = fopen(path, "r"))) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        rc = e == ENOENT || e == ENOTDIR ? REFBUS_ENOTFOUND : REFBUS_EIO;
        goto out;
    }
    r = ini_parse_stream(read_line, l, on_entry, l);
    if (l->read_errno) {
        snprintf(err, errlen, "%s: %s", path, strerror(l->read_errno));
        rc = REFBUS_EIO;
    } else if (r > 0 && (!l->fail_line || (unsigned)r < l->fail_line)) {
        snprintf(err, errlen, "%s:%d: not a 'key = value' line or a [section] header", path, r);
    } else if (l->fail_line) {
        /* err is set */
    } else if (r < 0) {
        snprintf(err, errlen, "%s: cannot be parsed (inih error %d)", path, r);
        rc = REFBUS_EIO;
    } else {
        rc = 0;
    }
out:
    if (l->f)
        fclose(l->f);
    free(l->buf);
    free(l);
    return rc;
}
