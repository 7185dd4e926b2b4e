/* The local control socket: a ZMQ_ROUTER on ipc:// (file mode 0600, or 0660 for a configured
 * group) that agency systems reach through nodes/client/refbus_node.h. One JSON request per
 * message:
 * {"cmd": "send" | "reply" | "inbox_list" | "inbox_show" | "thread_show" | "outbox" | "status",
 * ...}; one JSON answer: {"ok": true, ...} or {"ok": false, "error": NAME, "code": N,
 * "message": TEXT}. docs/NODE.md "Control protocol".
 *
 * Group commit: the requests readable in one loop pass that queue something (send, reply) are
 * stored in one shared write transaction and committed with one sync; their answers leave only
 * after that commit, so "queued" always means "in the outbox on disk". A write that fails taints
 * the pass: nothing of it is kept, and every answer that rested on it (queued, or EEXIST /
 * ETRANSITION found in the pass's own writes) becomes "not stored, retry with the same id"
 * (nested transactions per request cost ~3 MiB each in LMDB: not used). A ROUTER (not a REP) is
 * what lets the daemon read the next request before answering the one before; clients are REQ
 * sockets as before: each routing envelope (identity, empty delimiter) is kept and sent back with
 * the answer. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/node_int.h"
#include "proto/frames.h"

#define CONTROL_MAX_REQUEST (4 * 1024 * 1024)

typedef int (*handler_fn)(nd_daemon *d, const json_t *req, json_t **reply, char *why, size_t wl);

static const struct {
    const char *cmd;
    handler_fn fn;
    int pump; /* queued something: push the outbox after answering */
} handlers[] = {
    {"send", nd_compose_send, 1},
    {"reply", nd_compose_reply, 1},
    {"inbox_list", nd_view_inbox_list, 0},
    {"inbox_show", nd_view_inbox_show, 0},
    {"thread_show", nd_view_thread_show, 0},
    {"outbox", nd_view_outbox, 0},
    {"status", nd_view_status, 0},
};

int nd_control_open(nd_daemon *d)
{
    const char *ep = d->cfg.control;
    const char *path = ep + 6;
    int zero = 0, rc;
    int64_t max = CONTROL_MAX_REQUEST;
    if (strncmp(ep, "ipc://", 6) != 0) {
        log_error("control socket %s: only ipc:// endpoints", ep);
        return REFBUS_ECONFIG;
    }
    if (!(d->ctl = zmq_socket(d->zctx, ZMQ_ROUTER)))
        return REFBUS_ETRANSPORT;
    zmq_setsockopt(d->ctl, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d->ctl, ZMQ_MAXMSGSIZE, &max, sizeof max);
    /* Stale from a crash: we hold the data directory's lock, so no other daemon uses it. */
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("control socket %s: %s", path, strerror(errno));
    mode_t old = umask(d->cfg.control_mode == 0660 ? 0117 : 0177);
    rc = zmq_bind(d->ctl, ep);
    umask(old);
    if (rc != 0) {
        log_error("control socket %s: %s", ep, zmq_strerror(errno));
        return REFBUS_EIO;
    }
    if (chmod(path, d->cfg.control_mode) != 0) {
        log_error("control socket %s: chmod: %s", path, strerror(errno));
        return REFBUS_EIO;
    }
    if (d->cfg.control_group[0]) {
        struct group *g = getgrnam(d->cfg.control_group);
        if (!g || chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_error("control socket %s: group %s: %s", path, d->cfg.control_group,
                      g ? strerror(errno) : "no such group");
            return REFBUS_ECONFIG;
        }
    }
    return 0;
}

static void control_free(nd_daemon *d);

void nd_control_close(nd_daemon *d)
{
    control_free(d);
    if (d->ctl) {
        zmq_close(d->ctl);
        d->ctl = NULL;
        if (strncmp(d->cfg.control, "ipc://", 6) == 0)
            unlink(d->cfg.control + 6);
    }
}

static json_t *error_json(int code, const char *msg)
{
    return json_pack("{s:b, s:s, s:i, s:s}", "ok", 0, "error", refbus_errname(code), "code", code,
                     "message", msg && msg[0] ? msg : refbus_strerror(code));
}

static void wipe_zmq_free(void *data, void *hint)
{
    (void)hint;
    refbus_wipe_free(data);
}

#define ROUTE_MAX REFBUS_FRAMES_MAX /* routing frames kept (a REQ client sends 2) */

/* One request of this pass: where its answer goes, and the answer once it is known. */
struct nd_ctl_answer {
    zmq_msg_t route[ROUTE_MAX];
    size_t n_route;
    json_t *reply;
    int queued;  /* stored in the pass's shared transaction, not yet committed */
    int batched; /* a send/reply answered while that transaction was open: its answer may rest
                  * on what the pass stored (EEXIST: "already sent", ETRANSITION) */
};

static void route_close(struct nd_ctl_answer *a)
{
    for (size_t i = 0; i < a->n_route; i++)
        zmq_msg_close(&a->route[i]);
    a->n_route = 0;
}

/* The answer may hold referral text (`inbox show`): it is handed to libzmq without a copy
 * (zmq_msg_init_data) and wiped by wipe_zmq_free once libzmq is done with it. The routing
 * frames go first (ROUTER): they are consumed. */
static void answer(nd_daemon *d, struct nd_ctl_answer *a, json_t *reply)
{
    static const char nomem[] = "{\"ok\":false,\"error\":\"ENOMEM\",\"code\":-1000}";
    char *text = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    zmq_msg_t m;
    int rc;
    if (text) {
        rc = zmq_msg_init_data(&m, text, strlen(text), wipe_zmq_free, NULL);
        if (rc != 0)
            refbus_wipe_free(text);
    } else {
        rc = zmq_msg_init_size(&m, sizeof nomem - 1);
        if (rc == 0)
            memcpy(zmq_msg_data(&m), nomem, sizeof nomem - 1);
    }
    for (size_t i = 0; rc == 0 && i < a->n_route; i++)
        if (zmq_msg_send(&a->route[i], d->ctl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            rc = -1;
    route_close(a);
    if (rc == 0 && zmq_msg_send(&m, d->ctl, ZMQ_DONTWAIT) < 0) {
        log_warn("control: answer not sent: %s", zmq_strerror(errno));
        zmq_msg_close(&m); /* still ours after a failed send: wiped by wipe_zmq_free */
    }
}

int nd_control_txn(nd_daemon *d, MDB_txn **txn)
{
    int rc;
    if (!d->ctl_batch && (rc = refbus_nstore_begin(d->store, 1, &d->ctl_batch)))
        return rc;
    *txn = d->ctl_batch;
    return 0;
}

void nd_share_end(nd_daemon *d, MDB_txn **txn, int failed_write)
{
    if (*txn && failed_write) {
        if (*txn == d->ctl_batch && !d->ctl_taint)
            d->ctl_taint = failed_write;
        if (*txn == d->batch && !d->batch_taint)
            d->batch_taint = failed_write;
    }
    *txn = NULL;
}

static struct nd_ctl_answer *answer_slot(nd_daemon *d)
{
    if (d->n_ctl_answers == d->cap_ctl_answers) {
        size_t cap = d->cap_ctl_answers ? d->cap_ctl_answers * 2 : 16;
        struct nd_ctl_answer *a = realloc(d->ctl_answers, cap * sizeof *a);
        if (!a)
            return NULL;
        d->ctl_answers = a;
        d->cap_ctl_answers = cap;
    }
    struct nd_ctl_answer *a = &d->ctl_answers[d->n_ctl_answers];
    memset(a, 0, sizeof *a);
    return a;
}

/* Commit the pass's shared transaction (one sync for every request queued in it), then answer
 * every request of the pass in order, then push the outbox. When the commit fails, nothing of
 * it was stored: each "queued" answer becomes an error saying so (queued: false). */
void nd_control_batch_end(nd_daemon *d)
{
    size_t queued = 0;
    int rc = 0;
    for (size_t i = 0; i < d->n_ctl_answers; i++)
        queued += d->ctl_answers[i].queued != 0;
    if (d->ctl_batch) {
        if (queued)
            nd_crash_point("REFBUS_NODE_CRASH_BEFORE_QUEUE_COMMIT");
        if ((rc = d->ctl_taint) != 0)
            refbus_nstore_abort(&d->ctl_batch); /* a failed write: none of it is kept */
        else
            rc = refbus_nstore_commit(&d->ctl_batch);
        d->ctl_taint = 0;
        if (rc == 0 && queued) {
            d->n.queue_commits++;
            nd_crash_point("REFBUS_NODE_CRASH_AFTER_QUEUE_COMMIT");
        }
        if (rc)
            nd_note_error(d, rc, "storing %zu queued message(s) in the outbox: %s", queued,
                          refbus_strerror(rc));
    }
    for (size_t i = 0; i < d->n_ctl_answers; i++) {
        struct nd_ctl_answer *a = &d->ctl_answers[i];
        /* A failed commit undoes the whole pass: every answer that may rest on it says
         * "not stored, retry with the same id" — an EEXIST or ETRANSITION found only in the
         * pass's own writes is as void as a "queued" (a retry then gets the true answer). */
        int voided = a->queued;
        if (rc && a->batched && !voided) {
            int code = (int)json_integer_value(json_object_get(a->reply, "code"));
            voided = code == REFBUS_EEXIST || code == REFBUS_ETRANSITION;
        }
        if (rc && voided) {
            json_t *mid = json_incref(json_object_get(a->reply, "msg_id"));
            char why[300];
            snprintf(why, sizeof why, "storing in the outbox: %s", refbus_strerror(rc));
            json_decref(a->reply);
            a->reply = error_json(rc, why);
            if (a->reply && mid)
                json_object_set(a->reply, "msg_id", mid);
            if (a->reply)
                json_object_set_new(a->reply, "queued", json_false());
            json_decref(mid);
        }
        answer(d, a, a->reply);
        json_decref(a->reply);
    }
    d->n_ctl_answers = 0;
    if (queued && rc == 0)
        nd_session_pump(d);
}

/* Run one request; its answer is kept in `a` (sent by batch_end). A request that does not queue
 * anything first ends the pass's batch: it reads the store, and must see what was answered. */
static void one_request(nd_daemon *d, struct nd_ctl_answer *a, const char *body, size_t len)
{
    json_error_t je;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *reply = NULL;
    char why[512] = "";
    if (!req || !json_is_object(req)) {
        snprintf(why, sizeof why, "request is not a JSON object: %s", req ? "" : je.text);
        reply = error_json(REFBUS_EJSON, why);
        goto out;
    }
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    for (size_t i = 0; cmd && i < sizeof handlers / sizeof handlers[0]; i++) {
        if (strcmp(cmd, handlers[i].cmd) != 0)
            continue;
        if (!handlers[i].pump && d->n_ctl_answers > 0) {
            /* answer the batch now; this request's routing frames move to the first slot */
            nd_control_batch_end(d);
            struct nd_ctl_answer *b = answer_slot(d); /* slot 0: no reallocation */
            for (size_t j = 0; j < a->n_route; j++) {
                zmq_msg_init(&b->route[j]);
                zmq_msg_move(&b->route[j], &a->route[j]);
                zmq_msg_close(&a->route[j]);
            }
            b->n_route = a->n_route;
            a->n_route = 0;
            a = b;
        }
        d->req_msg_id[0] = 0;
        d->req_queued = 0;
        int rc = handlers[i].fn(d, req, &reply, why, sizeof why);
        if (rc) {
            json_decref(reply);
            reply = error_json(rc, why);
            /* Once a msg id was chosen the answer names it, and says whether this request
             * queued it, so that a program never sends the same referral twice. */
            if (reply && d->req_msg_id[0]) {
                json_object_set_new(reply, "msg_id", json_string(d->req_msg_id));
                json_object_set_new(reply, "queued", json_boolean(d->req_queued));
            }
        }
        a->queued = d->req_queued;
        a->batched = handlers[i].pump && d->ctl_batch != NULL;
        goto out;
    }
    snprintf(why, sizeof why, "unknown command \"%s\"", cmd ? cmd : "");
    reply = error_json(REFBUS_EINVAL, why);
out:
    a->reply = reply;
    d->n_ctl_answers++;
    json_decref(req);
}

/* One whole message from the ROUTER: the routing frames up to the empty delimiter, then the
 * request. Without a delimiter it is not from a REQ client and is dropped (as a REP socket
 * would); anything but one request frame is refused. Every frame may hold referral text: all
 * are wiped (refbus_frames). */
static int take_request(nd_daemon *d)
{
    struct nd_ctl_answer *a = answer_slot(d);
    refbus_frames fs;
    size_t k = 0;
    if (!a)
        return 0; /* out of memory: the requests wait in libzmq */
    int frc = refbus_frames_recv(&fs, d->ctl, ZMQ_DONTWAIT, REFBUS_FRAMES_MAX, SIZE_MAX, 1);
    if (frc == REFBUS_EAGAIN || frc == REFBUS_ETRANSPORT)
        return 0;
    while (k < fs.n && zmq_msg_size(&fs.part[k]) != 0)
        k++;
    if (k == 0 || k >= fs.n) {
        refbus_frames_close(&fs);
        return 1;
    }
    for (size_t i = 0; i <= k; i++) {
        zmq_msg_init(&a->route[i]);
        zmq_msg_move(&a->route[i], &fs.part[i]);
    }
    a->n_route = k + 1;
    if (fs.count != k + 2) {
        a->reply = error_json(REFBUS_EFRAMES, "one JSON frame per request");
        d->n_ctl_answers++;
    } else {
        one_request(d, a, zmq_msg_data(&fs.part[k + 1]), zmq_msg_size(&fs.part[k + 1]));
    }
    refbus_frames_close(&fs);
    return 1;
}

#ifdef REFBUS_TEST_HOOKS
/* Test variant only: REFBUS_NODE_TEST_GATHER=N makes the first pass that queues something wait
 * (at most 30 s) until N requests are taken, so that a test sees N concurrent sends in one
 * group commit without depending on timing. Then the hook is spent. */
static int gather_more(nd_daemon *d, int taken)
{
    const char *v = getenv("REFBUS_NODE_TEST_GATHER");
    int want = v ? atoi(v) : 0;
    if (d->test_gathered || want <= 0 || !d->ctl_batch)
        return 0;
    if (!d->test_gather_until)
        d->test_gather_until = refbus_mono_ms() + 30000;
    if (taken >= want || refbus_mono_ms() > d->test_gather_until) {
        d->test_gathered = 1;
        return 0;
    }
    zmq_pollitem_t it = {d->ctl, 0, ZMQ_POLLIN, 0};
    (void)zmq_poll(&it, 1, 100);
    return 1;
}
#else
#define gather_more(d, taken) 0
#endif

void nd_control_on_request(nd_daemon *d)
{
    int taken = 0;
    do {
        while (taken < 64 && take_request(d))
            taken++;
    } while (gather_more(d, taken));
    nd_control_batch_end(d);
}

static void control_free(nd_daemon *d)
{
    refbus_nstore_abort(&d->ctl_batch);
    for (size_t i = 0; i < d->n_ctl_answers; i++) {
        route_close(&d->ctl_answers[i]);
        json_decref(d->ctl_answers[i].reply);
    }
    free(d->ctl_answers);
    d->ctl_answers = NULL;
    d->n_ctl_answers = d->cap_ctl_answers = 0;
}
