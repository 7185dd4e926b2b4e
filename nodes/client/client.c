/* The C API: a ZMQ_REQ client of the daemon's control socket. A REQ socket that timed out is
 * stuck in its send/receive cycle, so every timeout closes it and the next call opens a new
 * one. */
#include "nodes/client/refbus_node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <sodium.h>
#include <zmq.h>

#include "common/harden.h"
#include "common/util.h"
#include "nodes/daemon/config.h"
#include "proto/frames.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_ANSWER (64 * 1024 * 1024)

struct refbus_node {
    void *ctx, *req;
    char endpoint[REFBUS_NODE_ENDPOINT_MAX];
    int timeout_ms;
    char last_error[512];
};

static int connect_req(refbus_node *n)
{
    int zero = 0, one = 1;
    int64_t max = MAX_ANSWER;
    if (n->req)
        return 0;
    if (!(n->req = zmq_socket(n->ctx, ZMQ_REQ)))
        return REFBUS_ETRANSPORT;
    zmq_setsockopt(n->req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(n->req, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(n->req, ZMQ_MAXMSGSIZE, &max, sizeof max);
    zmq_setsockopt(n->req, ZMQ_SNDTIMEO, &n->timeout_ms, sizeof n->timeout_ms);
    zmq_setsockopt(n->req, ZMQ_RCVTIMEO, &n->timeout_ms, sizeof n->timeout_ms);
    if (zmq_connect(n->req, n->endpoint) != 0) {
        zmq_close(n->req);
        n->req = NULL;
        return REFBUS_ETRANSPORT;
    }
    return 0;
}

int refbus_node_open_endpoint(refbus_node **out, const char *endpoint)
{
    struct stat st;
    refbus_node *n;
    int rc;
    if (!out || !endpoint || strlen(endpoint) >= REFBUS_NODE_ENDPOINT_MAX)
        return REFBUS_EINVAL;
    /* An ipc socket that is not there means no daemon: say so now rather than time out. */
    if (strncmp(endpoint, "ipc://", 6) == 0 && stat(endpoint + 6, &st) != 0)
        return REFBUS_EUNAVAILABLE;
    if (!(n = calloc(1, sizeof *n)))
        return REFBUS_ENOMEM;
    snprintf(n->endpoint, sizeof n->endpoint, "%s", endpoint);
    n->timeout_ms = DEFAULT_TIMEOUT_MS;
    if (!(n->ctx = zmq_ctx_new())) {
        free(n);
        return REFBUS_ETRANSPORT;
    }
    if ((rc = connect_req(n))) {
        refbus_node_close(&n);
        return rc;
    }
    *out = n;
    return 0;
}

int refbus_node_open(refbus_node **out, const char *config_path)
{
    refbus_node_config c;
    char err[512];
    int rc;
    refbus_node_config_init(&c);
    if ((rc = refbus_node_config_load(&c, config_path, err, sizeof err)) ||
        (rc = refbus_node_config_finish(&c, 0, err, sizeof err)))
        return rc;
    return refbus_node_open_endpoint(out, c.control);
}

void refbus_node_close(refbus_node **np)
{
    if (!np || !*np)
        return;
    refbus_node *n = *np;
    if (n->req)
        zmq_close(n->req);
    if (n->ctx)
        zmq_ctx_term(n->ctx);
    free(n);
    *np = NULL;
}

void refbus_node_set_timeout(refbus_node *n, int timeout_ms)
{
    n->timeout_ms = timeout_ms > 0 ? timeout_ms : DEFAULT_TIMEOUT_MS;
    if (n->req) {
        zmq_setsockopt(n->req, ZMQ_SNDTIMEO, &n->timeout_ms, sizeof n->timeout_ms);
        zmq_setsockopt(n->req, ZMQ_RCVTIMEO, &n->timeout_ms, sizeof n->timeout_ms);
    }
}

const char *refbus_node_last_error(const refbus_node *n)
{
    return n ? n->last_error : "";
}

/* Send the request, wait for the answer, turn {"ok":false,...} into its code. */
static int exchange(refbus_node *n, const char *text, char **reply)
{
    refbus_frames fs;
    int rc;
    n->last_error[0] = 0;
    if ((rc = connect_req(n)))
        return rc;
    if (zmq_send(n->req, text, strlen(text), 0) < 0) {
        int e = errno;
        zmq_close(n->req);
        n->req = NULL;
        snprintf(n->last_error, sizeof n->last_error, "no node daemon answers on %.400s",
                 n->endpoint);
        return e == EAGAIN ? REFBUS_EUNAVAILABLE : REFBUS_ETRANSPORT;
    }
    /* one JSON frame (ZMQ_MAXMSGSIZE bounds it); it may hold referral text (`inbox show`), so
     * every frame is wiped */
    if ((rc = refbus_frames_recv(&fs, n->req, 0, 1, SIZE_MAX, 1)) == REFBUS_EAGAIN ||
        rc == REFBUS_ETRANSPORT) {
        zmq_close(n->req);
        n->req = NULL;
        snprintf(n->last_error, sizeof n->last_error,
                 "the node daemon on %.400s did not answer within %d ms", n->endpoint,
                 n->timeout_ms);
        return rc == REFBUS_EAGAIN ? REFBUS_ETIMEOUT : REFBUS_ETRANSPORT;
    }
    size_t len = zmq_msg_size(&fs.part[0]);
    json_t *j = json_loadb(zmq_msg_data(&fs.part[0]), len, 0, NULL);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, zmq_msg_data(&fs.part[0]), len);
        copy[len] = 0;
    }
    refbus_frames_close(&fs);
    if (!j || !copy) {
        free(copy);
        json_decref(j);
        snprintf(n->last_error, sizeof n->last_error, "the node daemon's answer is not JSON");
        return j ? REFBUS_ENOMEM : REFBUS_EPROTO;
    }
    rc = 0;
    if (!json_is_true(json_object_get(j, "ok"))) {
        json_int_t code = json_integer_value(json_object_get(j, "code"));
        const char *msg = json_string_value(json_object_get(j, "message"));
        rc = code < 0 && code > -100000 ? (int)code : REFBUS_EPROTO;
        snprintf(n->last_error, sizeof n->last_error, "%s", msg ? msg : refbus_strerror(rc));
    }
    json_decref(j);
    if (reply)
        *reply = copy;
    else
        free(copy);
    return rc;
}

/* Build, dump and exchange a request object (consumed). */
static int request(refbus_node *n, json_t *req, char **reply)
{
    if (!n)
        return REFBUS_EINVAL;
    if (!req)
        return REFBUS_ENOMEM;
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return REFBUS_ENOMEM;
    int rc = exchange(n, text, reply);
    refbus_wipe_free(text); /* a referral, as sent */
    return rc;
}

int refbus_node_request(refbus_node *n, const char *request_json, char **reply)
{
    if (!n || !request_json)
        return REFBUS_EINVAL;
    return exchange(n, request_json, reply);
}

/* request() for something that queues a message with id `mid`: when the request left but no
 * answer came (whether the daemon queued it is unknown), the answer made here names the id to
 * look up (refbus_node_outbox) before anything is sent again. */
static int request_queuing(refbus_node *n, json_t *req, const char *mid, char **reply)
{
    int rc = request(n, req, reply);
    if ((rc == REFBUS_ETIMEOUT || rc == REFBUS_ETRANSPORT) && reply && !*reply) {
        json_t *j =
            json_pack("{s:b, s:s, s:i, s:s, s:s, s:n}", "ok", 0, "error", refbus_errname(rc),
                      "code", rc, "message", n->last_error, "msg_id", mid, "queued");
        *reply = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
    }
    return rc;
}

int refbus_node_send(refbus_node *n, const char *referral_json, const char *const *to, size_t n_to,
                     const refbus_node_send_opts *opts, char **reply)
{
    json_error_t je;
    json_t *ref, *arr, *req;
    if (reply)
        *reply = NULL;
    if (!n || !referral_json || !to)
        return REFBUS_EINVAL;
    if (sodium_init() < 0) /* idempotent; randombytes below */
        return REFBUS_ENOMEM;
    if (!(ref = json_loads(referral_json, JSON_REJECT_DUPLICATES, &je))) {
        snprintf(n->last_error, sizeof n->last_error, "invalid JSON at line %d column %d: %s",
                 je.line, je.column, je.text);
        return REFBUS_EJSON;
    }
    arr = json_array();
    for (size_t i = 0; arr && i < n_to; i++)
        json_array_append_new(arr, to[i] ? json_string(to[i]) : NULL);
    if (!arr || json_array_size(arr) != n_to) {
        json_decref(ref);
        json_decref(arr);
        snprintf(n->last_error, sizeof n->last_error, "--to: agency ids must be UTF-8 text");
        return REFBUS_EINVAL;
    }
    /* The msg id is chosen here when the caller did not: then even an answer lost in transit
     * (a timeout) can name the referral that may have been queued. */
    char mid[33];
    if (opts && opts->msg_id) {
        snprintf(mid, sizeof mid, "%s", opts->msg_id);
    } else {
        uint8_t raw[16];
        randombytes_buf(raw, sizeof raw);
        refbus_hex(mid, raw, sizeof raw);
    }
    req = json_pack("{s:s, s:o, s:o, s:s}", "cmd", "send", "referral", ref, "to", arr, "msg_id",
                    opts && opts->msg_id ? opts->msg_id : mid);
    if (req && opts) {
        if (opts->urgency)
            json_object_set_new(req, "urgency", json_string(opts->urgency));
        if (opts->expires_in_ms)
            json_object_set_new(req, "expires_in_ms",
                                json_integer((json_int_t)opts->expires_in_ms));
    }
    return request_queuing(n, req, mid, reply);
}

int refbus_node_inbox_poll(refbus_node *n, uint64_t after_seq, unsigned max, char **reply)
{
    return request(n,
                   json_pack("{s:s, s:I, s:i}", "cmd", "inbox_list", "after", (json_int_t)after_seq,
                             "limit", max ? (int)max : 100),
                   reply);
}

int refbus_node_inbox_show(refbus_node *n, const char *id, char **reply)
{
    return request(n, id ? json_pack("{s:s, s:s}", "cmd", "inbox_show", "id", id) : NULL, reply);
}

int refbus_node_reply_id(refbus_node *n, const char *msg_id, const char *reply_id,
                         const char *status, const char *reason_code, const char *text,
                         char **reply)
{
    if (reply)
        *reply = NULL;
    if (!n || !msg_id || !status)
        return REFBUS_EINVAL;
    if (sodium_init() < 0)
        return REFBUS_ENOMEM;
    /* As for send: the answer's id is chosen before the request leaves, so that even a lost
     * answer names what may have been queued. */
    char mid[33];
    if (reply_id) {
        snprintf(mid, sizeof mid, "%s", reply_id);
    } else {
        uint8_t raw[16];
        randombytes_buf(raw, sizeof raw);
        refbus_hex(mid, raw, sizeof raw);
    }
    json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "cmd", "reply", "msg_id", msg_id, "status",
                            status, "reply_id", reply_id ? reply_id : mid);
    if (req &&
        ((reason_code && json_object_set_new(req, "reason_code", json_string(reason_code))) ||
         (text && json_object_set_new(req, "text", json_string(text))))) {
        json_decref(req);
        snprintf(n->last_error, sizeof n->last_error, "reason code and text must be UTF-8");
        return REFBUS_EINVAL;
    }
    return request_queuing(n, req, mid, reply);
}

int refbus_node_reply(refbus_node *n, const char *msg_id, const char *status,
                      const char *reason_code, const char *text, char **reply)
{
    return refbus_node_reply_id(n, msg_id, NULL, status, reason_code, text, reply);
}

int refbus_node_thread_show(refbus_node *n, const char *thread_id, char **reply)
{
    return request(n,
                   thread_id ? json_pack("{s:s, s:s}", "cmd", "thread_show", "thread_id", thread_id)
                             : NULL,
                   reply);
}

int refbus_node_outbox_list(refbus_node *n, uint64_t after_seq, unsigned max, char **reply)
{
    return request(n,
                   json_pack("{s:s, s:I, s:i}", "cmd", "outbox", "after", (json_int_t)after_seq,
                             "limit", max ? (int)max : 1000),
                   reply);
}

int refbus_node_outbox(refbus_node *n, const char *msg_id, char **reply)
{
    json_t *req = json_pack("{s:s}", "cmd", "outbox");
    if (req && msg_id)
        json_object_set_new(req, "msg_id", json_string(msg_id));
    return request(n, req, reply);
}

int refbus_node_status(refbus_node *n, char **reply)
{
    return request(n, json_pack("{s:s}", "cmd", "status"), reply);
}
