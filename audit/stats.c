/* Trail statistics: one paged walk decoding every record; per-agency counts in a JSON object
 * keyed by agency id (agencies are few: tens to hundreds). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "audit/record.h"
#include "audit/replay.h"
#include "common/util.h"

#define SEEN_MAX 32 /* agencies one record names: sender, subject, up to 16 recipients */

typedef struct sctx {
    json_t *events, *agencies;
    uint64_t records, malformed, first_ms, last_ms;
    int have_time;
} sctx;

/* agencies[id][role] += 1, creating the entry on first sight. */
static int bump(sctx *c, const char *id, const char *role)
{
    if (!id || !*id)
        return 0;
    json_t *a = json_object_get(c->agencies, id);
    if (!a) {
        a = json_pack("{s:I, s:I, s:I, s:I}", "records", (json_int_t)0, "as_sender", (json_int_t)0,
                      "as_recipient", (json_int_t)0, "as_agency", (json_int_t)0);
        if (!a || json_object_set_new(c->agencies, id, a) != 0)
            return REFBUS_ENOMEM;
    }
    json_t *n = json_object_get(a, role);
    return json_integer_set(n, json_integer_value(n) + 1) == 0 ? 0 : REFBUS_ENOMEM;
}

static int on_record(void *vctx, uint64_t index, const uint8_t *rec, size_t len)
{
    sctx *c = vctx;
    int rc = 0;
    (void)index;
    c->records++;
    Refbus__V1__AuditRecord *r = refbus__v1__audit_record__unpack(NULL, len, rec);
    if (!r) {
        c->malformed++;
        return 0;
    }
    const char *ev = refbus_audit_event_name(r->event);
    json_t *n = json_object_get(c->events, ev);
    if (n)
        json_integer_set(n, json_integer_value(n) + 1);
    else if (json_object_set_new(c->events, ev, json_integer(1)) != 0)
        rc = REFBUS_ENOMEM;
    if (r->time_ms) {
        if (!c->have_time || r->time_ms < c->first_ms)
            c->first_ms = r->time_ms;
        if (!c->have_time || r->time_ms > c->last_ms)
            c->last_ms = r->time_ms;
        c->have_time = 1;
    }
    /* "records" counts each record once per agency, whatever roles it plays in it. */
    const char *seen[SEEN_MAX];
    size_t ns = 0;
    const char *names[2] = {r->sender, r->agency};
    const char *roles[2] = {"as_sender", "as_agency"};
    for (int k = 0; rc == 0 && k < 2; k++) {
        if ((rc = bump(c, names[k], roles[k])) != 0 || !names[k] || !*names[k])
            continue;
        seen[ns++] = names[k];
    }
    for (size_t i = 0; rc == 0 && i < r->n_recipients; i++) {
        rc = bump(c, r->recipients[i], "as_recipient");
        if (ns < SEEN_MAX)
            seen[ns++] = r->recipients[i];
    }
    for (size_t i = 0; rc == 0 && i < ns; i++) {
        int dup = 0;
        for (size_t j = 0; j < i && !dup; j++)
            dup = !strcmp(seen[i], seen[j]);
        if (!dup)
            rc = bump(c, seen[i], "records");
    }
    refbus__v1__audit_record__free_unpacked(r, NULL);
    return rc;
}

/* The stored checkpoints: how many, the latest, and how much of the trail it covers. */
static int checkpoint_stats(refbus_audit_reader *r, uint64_t size, json_t **out)
{
    refbus_audit *a = refbus_audit_reader_log(r);
    refbus_audit_dbis db;
    MDB_txn *txn;
    MDB_stat ms;
    uint8_t *cp = NULL;
    size_t cp_len = 0;
    refbus_checkpoint c;
    char t[40], root[65], pk[65];
    int rc;
    refbus_audit_get_dbis(a, &db);
    if ((rc = refbus_audit_reader_txn(r, &txn)) != 0)
        return rc;
    if (mdb_stat(txn, db.checkpoints, &ms) != 0) {
        rc = REFBUS_ELMDB;
        goto out;
    }
    rc = refbus_audit_latest_checkpoint(a, txn, &cp, &cp_len);
    if (rc == REFBUS_ENOTFOUND) {
        *out = json_pack("{s:I, s:n, s:I}", "count", (json_int_t)0, "latest", "uncovered",
                         (json_int_t)size);
        rc = *out ? 0 : REFBUS_ENOMEM;
        goto out;
    }
    if (rc != 0)
        goto out;
    if (refbus_checkpoint_parse(&c, cp, cp_len) != 0) {
        rc = REFBUS_ECORRUPT;
        goto out;
    }
    refbus_time_iso(t, sizeof t, c.time_ms, 1);
    refbus_hex(root, c.root, REFBUS_MERKLE_HASH_BYTES);
    refbus_hex(pk, c.signer_pk, crypto_sign_PUBLICKEYBYTES);
    /* not yet covered: records after the checkpoint's size (its own record included) */
    *out = json_pack("{s:I, s:{s:I, s:I, s:s, s:s, s:s}, s:I}", "count", (json_int_t)ms.ms_entries,
                     "latest", "size", (json_int_t)c.size, "time_ms", (json_int_t)c.time_ms, "time",
                     t, "root", root, "signer_pk", pk, "uncovered",
                     (json_int_t)(size > c.size ? size - c.size : 0));
    rc = *out ? 0 : REFBUS_ENOMEM;
out:
    free(cp);
    refbus_audit_reader_release(r);
    return rc;
}

int refbus_audit_stats(refbus_audit_reader *r, json_t **out)
{
    sctx c;
    MDB_txn *txn;
    uint64_t size;
    json_t *cps = NULL, *j = NULL;
    uint8_t id[REFBUS_AUDIT_LOG_ID_BYTES];
    char idhex[2 * REFBUS_AUDIT_LOG_ID_BYTES + 1], t1[40], t2[40];
    int rc;
    if (!r || !out)
        return REFBUS_EINVAL;
    memset(&c, 0, sizeof c);
    if (!(c.events = json_object()) || !(c.agencies = json_object())) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    if ((rc = refbus_audit_reader_txn(r, &txn)) != 0)
        goto out;
    rc = refbus_audit_size(refbus_audit_reader_log(r), txn, &size);
    refbus_audit_reader_release(r);
    if (rc != 0 || (rc = refbus_audit_scan(r, 0, size, on_record, &c)) != 0 ||
        (rc = checkpoint_stats(r, size, &cps)) != 0)
        goto out;
    refbus_audit_log_id(refbus_audit_reader_log(r), id);
    refbus_hex(idhex, id, REFBUS_AUDIT_LOG_ID_BYTES);
    refbus_time_iso(t1, sizeof t1, c.first_ms, 1);
    refbus_time_iso(t2, sizeof t2, c.last_ms, 1);
    j = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:s, s:I, s:O, s:O, s:O}", "log_id", idhex,
                  "records", (json_int_t)c.records, "malformed", (json_int_t)c.malformed,
                  "first_time_ms", (json_int_t)c.first_ms, "first_time", c.have_time ? t1 : "",
                  "last_time_ms", (json_int_t)c.last_ms, "last_time", c.have_time ? t2 : "",
                  "span_ms", (json_int_t)(c.last_ms - c.first_ms), "events", c.events, "agencies",
                  c.agencies, "checkpoints", cps);
    if (!j) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    *out = j;
out:
    json_decref(cps);
    json_decref(c.events);
    json_decref(c.agencies);
    return rc;
}

static void span_text(char *out, size_t cap, uint64_t ms)
{
    uint64_t s = ms / 1000;
    if (s >= 86400)
        snprintf(out, cap, "%llud %lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
    else if (s >= 3600)
        snprintf(out, cap, "%lluh %llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(out, cap, "%llum %llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
}

void refbus_audit_stats_print(FILE *f, const json_t *s)
{
    const char *key;
    json_t *v;
    char span[32];
    span_text(span, sizeof span, (uint64_t)json_integer_value(json_object_get(s, "span_ms")));
    fprintf(f, "log id       %s\n", json_string_value(json_object_get(s, "log_id")));
    fprintf(f, "records      %lld", (long long)json_integer_value(json_object_get(s, "records")));
    if (*json_string_value(json_object_get(s, "first_time")))
        fprintf(f, "  from %s to %s (%s)", json_string_value(json_object_get(s, "first_time")),
                json_string_value(json_object_get(s, "last_time")), span);
    fputc('\n', f);
    long long bad = (long long)json_integer_value(json_object_get(s, "malformed"));
    if (bad)
        fprintf(f, "undecodable  %lld records\n", bad);
    json_t *cps = json_object_get(s, "checkpoints"), *latest = json_object_get(cps, "latest");
    fprintf(f, "checkpoints  %lld", (long long)json_integer_value(json_object_get(cps, "count")));
    if (json_is_object(latest))
        fprintf(f, "; the latest signs %lld records at %s",
                (long long)json_integer_value(json_object_get(latest, "size")),
                json_string_value(json_object_get(latest, "time")));
    long long unc = (long long)json_integer_value(json_object_get(cps, "uncovered"));
    fprintf(f, "; %lld record%s not yet covered\n", unc, unc == 1 ? "" : "s");
    fprintf(f, "\nevents\n");
    json_object_foreach((json_t *)json_object_get(s, "events"), key, v)
        fprintf(f, "  %-22s %10lld\n", key, (long long)json_integer_value(v));
    fprintf(f, "\n%-24s %10s %10s %12s %10s\n", "agencies", "records", "as sender", "as recipient",
            "as agency");
    json_object_foreach((json_t *)json_object_get(s, "agencies"), key, v)
        fprintf(f, "  %-22s %10lld %10lld %12lld %10lld\n", key,
                (long long)json_integer_value(json_object_get(v, "records")),
                (long long)json_integer_value(json_object_get(v, "as_sender")),
                (long long)json_integer_value(json_object_get(v, "as_recipient")),
                (long long)json_integer_value(json_object_get(v, "as_agency")));
}
