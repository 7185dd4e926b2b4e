/* `refbus-broker check` and `metrics`, the client side: ask a running broker's admin socket and
 * judge its health for monitoring (exit 0 healthy, 1 degraded, 2 failing, one line saying why),
 * or fetch its Prometheus text. The broker answers from its own state (admin.c, metrics.c). */
#include "broker/broker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zmq.h>

#include "common/util.h"

void refbus_broker_check_defaults(refbus_broker_check_limits *lim)
{
    lim->max_queue_age_s = 3600;
    lim->storage_warn_percent = 80;
    lim->max_checkpoint_age_s = 600;
}

int refbus_broker_admin_fetch(const char *endpoint, const char *cmd, char **reply, size_t *len,
                              int timeout_ms)
{
    void *ctx = zmq_ctx_new(), *s = NULL;
    int zero = 0, rc = REFBUS_EUNAVAILABLE;
    zmq_msg_t m;
    zmq_msg_init(&m);
    *reply = NULL;
    *len = 0;
    if (!ctx || !(s = zmq_socket(ctx, ZMQ_REQ))) {
        rc = REFBUS_ETRANSPORT;
        goto out;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    if (zmq_connect(s, endpoint) != 0 || zmq_send(s, cmd, strlen(cmd), 0) < 0 ||
        zmq_msg_recv(&m, s, 0) < 0)
        goto out;
    size_t n = zmq_msg_size(&m);
    char *text = malloc(n + 1);
    if (!text) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    memcpy(text, zmq_msg_data(&m), n);
    text[n] = 0;
    *reply = text;
    *len = n;
    rc = 0;
out:
    zmq_msg_close(&m);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

/* Append "; " and the formatted reason to why (the first reason goes first). */
static void add_reason(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_reason(char *why, size_t why_len, const char *fmt, ...)
{
    size_t used = strlen(why);
    if (used && used + 2 < why_len) {
        memcpy(why + used, "; ", 3);
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + used, why_len - used, fmt, ap);
    va_end(ap);
}

static uint64_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

int refbus_broker_check(const char *endpoint, const refbus_broker_check_limits *lim, char *why,
                        size_t why_len)
{
    char *reply = NULL;
    size_t len = 0;
    int level = REFBUS_HEALTH_OK;
    why[0] = 0;
    if (refbus_broker_admin_fetch(endpoint, "status", &reply, &len, 5000) != 0) {
        snprintf(why, why_len, "no answer from %s: the broker is not running there", endpoint);
        return REFBUS_HEALTH_FAILED;
    }
    json_t *st = json_loadb(reply, len, 0, NULL);
    free(reply);
    if (!json_is_object(st) || !json_is_true(json_object_get(st, "ok"))) {
        snprintf(why, why_len, "the broker at %s gave no usable status", endpoint);
        json_decref(st);
        return REFBUS_HEALTH_FAILED;
    }
    const json_t *storage = json_object_get(st, "storage");
    uint64_t used = num(storage, "used_bytes"), map = num(storage, "map_bytes");
    if (json_is_true(json_object_get(st, "storage_full"))) {
        add_reason(why, why_len, "storage full: new referrals are refused (%llu of %llu MiB used)",
                   (unsigned long long)(used >> 20), (unsigned long long)(map >> 20));
        level = REFBUS_HEALTH_FAILED;
    } else if (map && used * 100 >= map * lim->storage_warn_percent) {
        add_reason(why, why_len, "storage nearly full: %llu%% of the map used (warning at %u%%)",
                   (unsigned long long)(used * 100 / map), lim->storage_warn_percent);
        level = REFBUS_HEALTH_DEGRADED;
    }
    /* the agency whose oldest queued referral is the oldest */
    const char *agency, *worst = NULL;
    const json_t *age;
    uint64_t worst_age = 0;
    json_object_foreach(json_object_get(st, "queue_oldest_age_seconds"), agency, age)
    {
        uint64_t a = json_is_integer(age) ? (uint64_t)json_integer_value(age) : 0;
        if (a > worst_age) {
            worst_age = a;
            worst = agency;
        }
    }
    if (worst && worst_age > lim->max_queue_age_s) {
        add_reason(why, why_len,
                   "the oldest referral queued for %s is %llu s old (limit %llu s): its node is "
                   "not taking them",
                   worst, (unsigned long long)worst_age, (unsigned long long)lim->max_queue_age_s);
        if (level < REFBUS_HEALTH_DEGRADED)
            level = REFBUS_HEALTH_DEGRADED;
    }
    const json_t *cp = json_object_get(st, "last_checkpoint");
    uint64_t cp_ms = num(cp, "time_ms"), now = refbus_now_ms();
    if (num(st, "audit_size") > num(cp, "size") + 1 && cp_ms && now > cp_ms &&
        (now - cp_ms) / 1000 > lim->max_checkpoint_age_s) {
        add_reason(why, why_len, "no signed checkpoint for %llu s although the trail grew",
                   (unsigned long long)((now - cp_ms) / 1000));
        if (level < REFBUS_HEALTH_DEGRADED)
            level = REFBUS_HEALTH_DEGRADED;
    }
    if (level == REFBUS_HEALTH_OK) {
        uint64_t queued = 0;
        const json_t *depth;
        json_object_foreach(json_object_get(st, "queues"), agency, depth) queued +=
            json_is_integer(depth) ? (uint64_t)json_integer_value(depth) : 0;
        snprintf(why, why_len,
                 "serving: %zu node(s) connected, %llu referral(s) queued, audit "
                 "size %llu",
                 json_array_size(json_object_get(st, "peers")), (unsigned long long)queued,
                 (unsigned long long)num(st, "audit_size"));
    }
    json_decref(st);
    return level;
}
