/* The local control socket: a ZMQ_REP on ipc:// (file mode 0600, or 0660 for a configured
 * group) that agency systems reach through nodes/client/refbus_node.h. One JSON request per
 * message:
 * {"cmd": "send" | "reply" | "inbox_list" | "inbox_show" | "thread_show" | "outbox" | "status",
 * ...}; one JSON answer: {"ok": true, ...} or {"ok": false, "error": NAME, "code": N,
 * "message": TEXT}. docs/NODE.md "Control protocol". */
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
    if (!(d->ctl = zmq_socket(d->zctx, ZMQ_REP)))
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

void nd_control_close(nd_daemon *d)
{
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

/* The answer may hold referral text (`inbox show`): it is handed to libzmq without a copy
 * (zmq_msg_init_data) and wiped by wipe_zmq_free once libzmq is done with it. */
static void answer(nd_daemon *d, json_t *reply)
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
    if (rc == 0 && zmq_msg_send(&m, d->ctl, ZMQ_DONTWAIT) < 0) {
        log_warn("control: answer not sent: %s", zmq_strerror(errno));
        zmq_msg_close(&m); /* still ours after a failed send: wiped by wipe_zmq_free */
    }
}

static void one_request(nd_daemon *d, const char *body, size_t len)
{
    json_error_t je;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je), *reply = NULL;
    char why[512] = "";
    int pump = 0;
    if (!req || !json_is_object(req)) {
        snprintf(why, sizeof why, "request is not a JSON object: %s", req ? "" : je.text);
        reply = error_json(REFBUS_EJSON, why);
        goto out;
    }
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    for (size_t i = 0; cmd && i < sizeof handlers / sizeof handlers[0]; i++) {
        if (strcmp(cmd, handlers[i].cmd) != 0)
            continue;
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
                pump = d->req_queued;
            }
        } else {
            pump = handlers[i].pump;
        }
        goto out;
    }
    snprintf(why, sizeof why, "unknown command \"%s\"", cmd ? cmd : "");
    reply = error_json(REFBUS_EINVAL, why);
out:
    answer(d, reply);
    json_decref(reply);
    json_decref(req);
    if (pump)
        nd_session_pump(d);
}

void nd_control_on_request(nd_daemon *d)
{
    for (int i = 0; i < 64; i++) {
        /* one JSON frame per request (ZMQ_MAXMSGSIZE bounds it); every frame may hold
         * referral text, so all are wiped */
        refbus_frames fs;
        int frc = refbus_frames_recv(&fs, d->ctl, ZMQ_DONTWAIT, 1, SIZE_MAX, 1);
        if (frc == REFBUS_EAGAIN || frc == REFBUS_ETRANSPORT)
            return;
        if (frc == REFBUS_EFRAMES) {
            json_t *r = error_json(REFBUS_EFRAMES, "one JSON frame per request");
            answer(d, r);
            json_decref(r);
        } else {
            one_request(d, zmq_msg_data(&fs.part[0]), zmq_msg_size(&fs.part[0]));
        }
        refbus_frames_close(&fs);
    }
}
