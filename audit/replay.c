/* Timeline and JSON-lines replay with filters and per-message grouping. Records are decoded in
 * the paged walk of refbus_audit_scan, so a long replay never holds a read transaction open. */
#include "audit/replay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/merkle.h"
#include "audit/record.h"
#include "common/util.h"
#include "proto/envelope.h"

typedef struct group {
    uint8_t id[REFBUS_MSG_ID_BYTES];
    size_t id_len;
    char **lines;
    size_t n, cap;
} group;

typedef struct rctx {
    const refbus_replay_filter *f;
    enum refbus_replay_format fmt;
    int grouping;
    FILE *out;
    uint64_t matched;
    group *groups; /* groups[0]: events without a message id */
    size_t n_groups, cap_groups;
    size_t *table; /* open addressing: group index + 1, 0 = empty */
    size_t table_cap;
    int io_error;
} rctx;

void refbus_replay_filter_init(refbus_replay_filter *f)
{
    memset(f, 0, sizeof *f);
    f->event = -1;
}

static int matches(const refbus_replay_filter *f, uint64_t index, const Refbus__V1__AuditRecord *r)
{
    if (index < f->from_index || (f->to_index && index >= f->to_index))
        return 0;
    if (f->event >= 0 && (int)r->event != f->event)
        return 0;
    if (r->time_ms < f->since_ms || (f->until_ms && r->time_ms >= f->until_ms))
        return 0;
    if (f->msg_id &&
        (r->msg_id.len < f->msg_id_len || memcmp(r->msg_id.data, f->msg_id, f->msg_id_len) != 0))
        return 0;
    if (f->agency) {
        int hit = (r->sender && !strcmp(r->sender, f->agency)) ||
                  (r->agency && !strcmp(r->agency, f->agency));
        for (size_t i = 0; !hit && i < r->n_recipients; i++)
            hit = !strcmp(r->recipients[i], f->agency);
        if (!hit)
            return 0;
    }
    return 1;
}

static uint64_t hash_id(const uint8_t *id, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: ids are random already */
    for (size_t i = 0; i < len; i++)
        h = (h ^ id[i]) * 1099511628211ull;
    return h;
}

static int table_grow(rctx *c)
{
    size_t ncap = c->table_cap ? c->table_cap * 2 : 1024;
    size_t *t = calloc(ncap, sizeof *t);
    if (!t)
        return REFBUS_ENOMEM;
    for (size_t g = 1; g < c->n_groups; g++) {
        size_t s = hash_id(c->groups[g].id, c->groups[g].id_len) & (ncap - 1);
        while (t[s])
            s = (s + 1) & (ncap - 1);
        t[s] = g + 1;
    }
    free(c->table);
    c->table = t;
    c->table_cap = ncap;
    return 0;
}

/* The group of message `id` (created on first sight); group 0 when there is no id. */
static group *group_of(rctx *c, const uint8_t *id, size_t len)
{
    if (!c->groups) {
        if (!(c->groups = calloc(16, sizeof *c->groups)))
            return NULL;
        c->cap_groups = 16;
        c->n_groups = 1; /* group 0: events without a message id */
    }
    if (len > REFBUS_MSG_ID_BYTES)
        len = REFBUS_MSG_ID_BYTES;
    if (len == 0)
        return &c->groups[0];
    if ((c->n_groups + 1) * 2 > c->table_cap && table_grow(c) != 0)
        return NULL;
    size_t s = hash_id(id, len) & (c->table_cap - 1);
    for (; c->table[s]; s = (s + 1) & (c->table_cap - 1)) {
        group *g = &c->groups[c->table[s] - 1];
        if (g->id_len == len && !memcmp(g->id, id, len))
            return g;
    }
    if (c->n_groups == c->cap_groups) {
        group *ng = realloc(c->groups, c->cap_groups * 2 * sizeof *ng);
        if (!ng)
            return NULL;
        c->groups = ng;
        c->cap_groups *= 2;
    }
    group *g = &c->groups[c->n_groups];
    memset(g, 0, sizeof *g);
    memcpy(g->id, id, len);
    g->id_len = len;
    c->table[s] = ++c->n_groups;
    return g;
}

static int group_add(group *g, char *line)
{
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 8;
        char **nl = realloc(g->lines, ncap * sizeof *nl);
        if (!nl)
            return REFBUS_ENOMEM;
        g->lines = nl;
        g->cap = ncap;
    }
    g->lines[g->n++] = line;
    return 0;
}

/* One output line (malloc'd, no newline) for a record. */
static int render(rctx *c, char **line, uint64_t index, const uint8_t *rec, size_t len,
                  const Refbus__V1__AuditRecord *r)
{
    if (c->fmt == REFBUS_REPLAY_JSONL) {
        json_t *j = refbus_audit_record_json(index, rec, len);
        *line = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(j);
        return *line ? 0 : REFBUS_ENOMEM;
    }
    if (!r) {
        char h[65];
        uint8_t leaf[REFBUS_MERKLE_HASH_BYTES];
        refbus_merkle_leaf(leaf, rec, len);
        refbus_hex(h, leaf, REFBUS_MERKLE_HASH_BYTES);
        return asprintf(line, "#%-7llu (a record of %zu bytes that does not decode; leaf %s)",
                        (unsigned long long)index, len, h) < 0
                   ? REFBUS_ENOMEM
                   : 0;
    }
    return refbus_audit_record_text(line, index, r);
}

static int on_record(void *vctx, uint64_t index, const uint8_t *rec, size_t len)
{
    rctx *c = vctx;
    char *line = NULL;
    int rc;
    Refbus__V1__AuditRecord *r = refbus__v1__audit_record__unpack(NULL, len, rec);
    /* An undecodable record matches only an unfiltered replay: it must not vanish unseen. */
    const refbus_replay_filter *f = c->f;
    int unfiltered = !f->agency && !f->msg_id && f->event < 0 && !f->since_ms && !f->until_ms;
    if (r ? !matches(f, index, r)
          : !unfiltered || index < f->from_index || (f->to_index && index >= f->to_index)) {
        rc = 0;
        goto out;
    }
    if ((rc = render(c, &line, index, rec, len, r)) != 0)
        goto out;
    c->matched++;
    if (c->grouping) {
        group *g = group_of(c, r ? r->msg_id.data : NULL, r ? r->msg_id.len : 0);
        if (!g || group_add(g, line) != 0) {
            rc = REFBUS_ENOMEM;
            goto out;
        }
        line = NULL;
    } else if (fprintf(c->out, "%s\n", line) < 0) {
        c->io_error = 1;
        rc = REFBUS_EIO;
    }
out:
    free(line);
    if (r)
        refbus__v1__audit_record__free_unpacked(r, NULL);
    return rc;
}

static void print_groups(rctx *c)
{
    /* Messages first (in order of first appearance), then events without a message. */
    for (size_t k = 1; k <= c->n_groups; k++) {
        group *g = &c->groups[k % c->n_groups];
        if (g->n == 0)
            continue;
        if (c->fmt == REFBUS_REPLAY_TEXT) {
            char h[33];
            refbus_hex(h, g->id, g->id_len);
            if (g->id_len)
                fprintf(c->out, "== message %s (%zu event%s)\n", h, g->n, g->n == 1 ? "" : "s");
            else
                fprintf(c->out, "== events without a message (%zu)\n", g->n);
        }
        for (size_t i = 0; i < g->n; i++)
            if (fprintf(c->out, "%s%s\n", c->fmt == REFBUS_REPLAY_TEXT ? "  " : "", g->lines[i]) <
                0)
                c->io_error = 1;
    }
}

int refbus_audit_replay(refbus_audit_reader *r, const refbus_replay_filter *f,
                        enum refbus_replay_format fmt, int by_message, FILE *out, uint64_t *matched)
{
    rctx c;
    uint64_t size;
    MDB_txn *txn;
    int rc;
    if (!r || !f || !out)
        return REFBUS_EINVAL;
    memset(&c, 0, sizeof c);
    c.f = f;
    c.fmt = fmt;
    c.grouping = by_message;
    c.out = out;
    if ((rc = refbus_audit_reader_txn(r, &txn)) != 0)
        return rc;
    rc = refbus_audit_size(refbus_audit_reader_log(r), txn, &size);
    refbus_audit_reader_release(r);
    if (rc != 0)
        return rc;
    rc = refbus_audit_scan(r, f->from_index, f->to_index ? f->to_index : size, on_record, &c);
    if (rc == 0 && by_message)
        print_groups(&c);
    if (fflush(out) != 0 || c.io_error)
        rc = rc ? rc : REFBUS_EIO;
    for (size_t g = 0; g < c.n_groups; g++) {
        for (size_t i = 0; i < c.groups[g].n; i++)
            free(c.groups[g].lines[i]);
        free(c.groups[g].lines);
    }
    free(c.groups);
    free(c.table);
    if (matched)
        *matched = c.matched;
    return rc;
}
