/* The thread state machine: which answer may follow which, per agency, and the history of a
 * thread. Records are protobuf-c messages (nodes/store/node_store.proto); everything added here
 * is malloc'd so that the store's codec (refbus_nrec_free, nodes/store/codec.c) wipes and frees
 * it like an unpacked field. */
#include "nodes/rules/thread.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "nodes/store/codec.h"
#include "proto/pbutil.h"

static const char *const names[] = {"referred",  "received",          "accepted",
                                    "declined",  "in_progress",       "completed",
                                    "cancelled", "consent_withdrawn", "note"};

const char *refbus_thread_status_name(uint32_t status)
{
    return status <= REFBUS_TS_MAX ? names[status] : "unknown";
}

int refbus_thread_status_parse(const char *s)
{
    char buf[32];
    size_t i;
    if (!s)
        return -1;
    for (i = 0; s[i] && i < sizeof buf - 1; i++)
        buf[i] = s[i] == '-' ? '_' : (char)tolower((unsigned char)s[i]);
    if (s[i])
        return -1;
    buf[i] = 0;
    for (int k = 1; k <= REFBUS_TS_MAX; k++)
        if (strcmp(buf, names[k]) == 0)
            return k;
    return -1;
}

static char *dupstr(const char *s)
{
    return strdup(s ? s : "");
}

static Refbus__Nodestore__MemberState *member_new(const char *agency)
{
    Refbus__Nodestore__MemberState *m = malloc(sizeof *m);
    if (!m)
        return NULL;
    refbus__nodestore__member_state__init(m);
    m->agency = dupstr(agency);
    m->reason_code = dupstr("");
    if (!m->agency || !m->reason_code) {
        refbus_nrec_free(&m->base);
        return NULL;
    }
    return m;
}

int refbus_thread_add_member(refbus_thread *t, const char *agency)
{
    if (!t || !agency)
        return REFBUS_EINVAL;
    if (refbus_thread_has(t, agency))
        return 0;
    Refbus__Nodestore__MemberState **a =
        realloc(t->members, (t->n_members + 1) * sizeof *t->members);
    if (!a)
        return REFBUS_ENOMEM;
    t->members = a;
    if (!(a[t->n_members] = member_new(agency)))
        return REFBUS_ENOMEM;
    t->n_members++;
    return 0;
}

int refbus_thread_new(refbus_thread **out, const uint8_t thread_id[16], const char *origin,
                      const char *const *members, size_t n_members,
                      const uint8_t referral_msg_id[16], uint64_t now_ms)
{
    int rc = REFBUS_ENOMEM;
    refbus_thread *t;
    if (!out || !thread_id || !origin)
        return REFBUS_EINVAL;
    if (!(t = malloc(sizeof *t)))
        return REFBUS_ENOMEM;
    refbus__nodestore__thread_record__init(t);
    t->origin = dupstr(origin);
    t->case_ref = dupstr("");
    t->thread_id.data = malloc(16);
    if (!t->origin || !t->case_ref || !t->thread_id.data)
        goto out;
    memcpy(t->thread_id.data, thread_id, 16);
    t->thread_id.len = 16;
    if (referral_msg_id) {
        if (!(t->referral_msg_id.data = malloc(16)))
            goto out;
        memcpy(t->referral_msg_id.data, referral_msg_id, 16);
        t->referral_msg_id.len = 16;
    }
    for (size_t i = 0; i < n_members; i++)
        if (strcmp(members[i], origin) != 0 && (rc = refbus_thread_add_member(t, members[i])))
            goto out;
    t->created_ms = t->updated_ms = now_ms;
    *out = t;
    t = NULL;
    rc = 0;
out:
    refbus_thread_free(&t);
    return rc;
}

int refbus_thread_unpack(refbus_thread **out, const uint8_t *bytes, size_t len)
{
    refbus_thread *t =
        (refbus_thread *)refbus_nrec_unpack(&refbus__nodestore__thread_record__descriptor, bytes,
                                            len);
    if (!t)
        return REFBUS_ECORRUPT;
    if (t->thread_id.len != 16) {
        refbus_thread_free(&t);
        return REFBUS_ECORRUPT;
    }
    *out = t;
    return 0;
}

int refbus_thread_pack(uint8_t **out, size_t *len, const refbus_thread *t)
{
    return refbus_pb_pack(out, len, &t->base);
}

void refbus_thread_free(refbus_thread **t)
{
    if (t && *t) {
        refbus_nrec_free(&(*t)->base);
        *t = NULL;
    }
}

static Refbus__Nodestore__MemberState *find_member(const refbus_thread *t, const char *agency)
{
    for (size_t i = 0; i < t->n_members; i++)
        if (strcmp(t->members[i]->agency, agency) == 0)
            return t->members[i];
    return NULL;
}

int refbus_thread_has(const refbus_thread *t, const char *agency)
{
    return (t->origin[0] && strcmp(t->origin, agency) == 0) || find_member(t, agency) != NULL;
}

size_t refbus_thread_peers(const refbus_thread *t, const char *me, const char **out, size_t max)
{
    size_t n = 0;
    if (t->origin[0] && strcmp(t->origin, me) != 0 && n < max)
        out[n++] = t->origin;
    for (size_t i = 0; i < t->n_members && n < max; i++)
        if (strcmp(t->members[i]->agency, me) != 0)
            out[n++] = t->members[i]->agency;
    return n;
}

static int open_members(const refbus_thread *t)
{
    int open = 0;
    for (size_t i = 0; i < t->n_members; i++)
        if (t->members[i]->status != REFBUS_TS_DECLINED &&
            t->members[i]->status != REFBUS_TS_COMPLETED)
            open++;
    return open;
}

/* What a recipient may say after `cur`. Repeated IN_PROGRESS is a progress report. */
static int member_allows(uint32_t cur, uint32_t next)
{
    switch (next) {
    case REFBUS_TS_RECEIVED: return cur == REFBUS_TS_REFERRED;
    case REFBUS_TS_ACCEPTED:
    case REFBUS_TS_DECLINED: return cur == REFBUS_TS_REFERRED || cur == REFBUS_TS_RECEIVED;
    case REFBUS_TS_IN_PROGRESS: return cur == REFBUS_TS_ACCEPTED || cur == REFBUS_TS_IN_PROGRESS;
    case REFBUS_TS_COMPLETED: return cur == REFBUS_TS_ACCEPTED || cur == REFBUS_TS_IN_PROGRESS;
    case REFBUS_TS_NOTE: return 1;
    default: return 0;
    }
}

#define WHY(...) (snprintf(why, why_len, __VA_ARGS__), REFBUS_ETRANSITION)

int refbus_thread_check(const refbus_thread *t, const char *actor, uint32_t status, char *why,
                        size_t why_len)
{
    char dummy[8];
    if (!why) {
        why = dummy;
        why_len = sizeof dummy;
    }
    why[0] = 0;
    if (!t || !actor || status < 1 || status > REFBUS_TS_MAX) {
        snprintf(why, why_len, "unknown status %u", status);
        return REFBUS_EINVAL;
    }
    const char *sn = names[status];
    if (t->closed == REFBUS_TS_CONSENT_WITHDRAWN)
        return WHY("consent was withdrawn on this thread: nothing more may be sent in it "
                   "(%s refused)",
                   sn);
    if (t->closed == REFBUS_TS_CANCELLED && status != REFBUS_TS_CONSENT_WITHDRAWN)
        return WHY("the referral was cancelled by %s: %s refused", t->origin, sn);
    if (!refbus_thread_has(t, actor))
        return WHY("%s is not an agency of this thread", actor);
    if (t->origin[0] && strcmp(t->origin, actor) == 0) {
        switch (status) {
        case REFBUS_TS_NOTE:
        case REFBUS_TS_CONSENT_WITHDRAWN: return 0;
        case REFBUS_TS_CANCELLED:
            if (!open_members(t))
                return WHY("nothing left to cancel: every recipient has declined or completed");
            return 0;
        default: return WHY("%s sent this referral: only a recipient can answer %s", actor, sn);
        }
    }
    if (status == REFBUS_TS_CANCELLED || status == REFBUS_TS_CONSENT_WITHDRAWN) {
        if (!t->origin[0])
            return 0; /* the referral has not arrived here yet: cannot tell who the origin is */
        return WHY("only the referring agency (%s) can say %s", t->origin, sn);
    }
    const Refbus__Nodestore__MemberState *m = find_member(t, actor);
    if (!member_allows(m->status, status))
        return WHY("%s cannot go from %s to %s", actor, names[m->status], sn);
    return 0;
}

int refbus_thread_apply(refbus_thread *t, const uint8_t msg_id[REFBUS_MSG_ID_BYTES],
                        const char *actor, uint32_t status, const char *reason_code,
                        const char *text, uint64_t time_ms, int outgoing, int applied, int error)
{
    Refbus__Nodestore__ThreadEvent *e = NULL, **ev;
    if (!t || !actor || status > REFBUS_TS_MAX)
        return REFBUS_EINVAL;
    if (!(e = malloc(sizeof *e)))
        return REFBUS_ENOMEM;
    refbus__nodestore__thread_event__init(e);
    e->from = dupstr(actor);
    e->reason_code = dupstr(reason_code);
    e->text = dupstr(text);
    if (msg_id && (e->msg_id.data = malloc(REFBUS_MSG_ID_BYTES))) {
        memcpy(e->msg_id.data, msg_id, REFBUS_MSG_ID_BYTES);
        e->msg_id.len = REFBUS_MSG_ID_BYTES;
    }
    if (!e->from || !e->reason_code || !e->text || (msg_id && !e->msg_id.data))
        goto nomem;
    e->status = status;
    e->time_ms = time_ms;
    e->outgoing = outgoing != 0;
    e->applied = applied != 0;
    e->error = error;
    if (!(ev = realloc(t->events, (t->n_events + 1) * sizeof *ev)))
        goto nomem;
    t->events = ev;
    ev[t->n_events++] = e;
    t->updated_ms = time_ms;
    if (!applied || status == REFBUS_TS_NOTE || status == REFBUS_TS_REFERRED)
        return 0;
    if (status == REFBUS_TS_CANCELLED || status == REFBUS_TS_CONSENT_WITHDRAWN) {
        t->closed = status;
        return 0;
    }
    Refbus__Nodestore__MemberState *m = find_member(t, actor);
    if (!m) {
        int rc = refbus_thread_add_member(t, actor);
        if (rc)
            return rc;
        m = find_member(t, actor);
    }
    if (refbus_pb_set_string(&m->reason_code, reason_code))
        return REFBUS_ENOMEM;
    m->status = status;
    m->time_ms = time_ms;
    return 0;
nomem:
    refbus_nrec_free(&e->base);
    return REFBUS_ENOMEM;
}

static json_t *hexj(const ProtobufCBinaryData *b)
{
    char hex[2 * 32 + 1];
    if (b->len == 0 || b->len > 32)
        return json_null();
    refbus_hex(hex, b->data, b->len);
    return json_string(hex);
}

json_t *refbus_thread_to_json(const refbus_thread *t)
{
    json_t *j = json_object(), *agencies = json_object(), *events = json_array();
    if (!j || !agencies || !events)
        goto fail;
    const char *state = t->closed == REFBUS_TS_CANCELLED           ? "cancelled"
                        : t->closed == REFBUS_TS_CONSENT_WITHDRAWN ? "consent_withdrawn"
                        : open_members(t) || !t->n_members         ? "open"
                                                                   : "finished";
    json_object_set_new(j, "thread_id", hexj(&t->thread_id));
    json_object_set_new(j, "origin", t->origin[0] ? json_string(t->origin) : json_null());
    json_object_set_new(j, "case_ref", json_string(t->case_ref));
    json_object_set_new(j, "referral_msg_id", hexj(&t->referral_msg_id));
    json_object_set_new(j, "state", json_string(state));
    json_object_set_new(j, "created_ms", json_integer((json_int_t)t->created_ms));
    json_object_set_new(j, "updated_ms", json_integer((json_int_t)t->updated_ms));
    for (size_t i = 0; i < t->n_members; i++) {
        const Refbus__Nodestore__MemberState *m = t->members[i];
        json_t *a = json_pack("{s:s, s:I}", "status", refbus_thread_status_name(m->status),
                              "time_ms", (json_int_t)m->time_ms);
        if (!a)
            goto fail;
        if (m->reason_code[0])
            json_object_set_new(a, "reason_code", json_string(m->reason_code));
        json_object_set_new(agencies, m->agency, a);
    }
    json_object_set_new(j, "agencies", agencies);
    agencies = NULL;
    for (size_t i = 0; i < t->n_events; i++) {
        const Refbus__Nodestore__ThreadEvent *e = t->events[i];
        json_t *o =
            json_pack("{s:o, s:s, s:s, s:I, s:s, s:b}", "msg_id", hexj(&e->msg_id), "from", e->from,
                      "status", e->status ? refbus_thread_status_name(e->status) : "referral",
                      "time_ms", (json_int_t)e->time_ms, "direction", e->outgoing ? "out" : "in",
                      "applied", e->applied);
        if (!o)
            goto fail;
        if (e->reason_code[0])
            json_object_set_new(o, "reason_code", json_string(e->reason_code));
        if (e->text[0])
            json_object_set_new(o, "text", json_string(e->text));
        if (!e->applied && e->error) {
            json_object_set_new(o, "error", json_string(refbus_errname(e->error)));
        }
        json_array_append_new(events, o);
    }
    json_object_set_new(j, "events", events);
    return j;
fail:
    json_decref(j);
    json_decref(agencies);
    json_decref(events);
    return NULL;
}
