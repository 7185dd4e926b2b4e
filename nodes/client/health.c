/* refbus-node check: judge a running node daemon from its status for monitoring, one line and
 * an exit status (0 healthy, 1 degraded, 2 failing), like `refbus-broker check`. The daemon
 * reports facts (status); what counts as degraded is decided here, with the limits given. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "nodes/client/cli.h"
#include "nodes/client/refbus_node.h"

enum { HEALTH_OK = 0, HEALTH_DEGRADED = 1, HEALTH_FAILED = 2 };

/* Raise *level to `lv` and append the formatted reason ("; " between reasons). */
static void reason(int *level, int lv, char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void reason(int *level, int lv, char *why, size_t why_len, const char *fmt, ...)
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
    if (lv > *level)
        *level = lv;
}

static uint64_t num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* The status document of a node -> a health level and why. */
static int judge(const json_t *st, uint64_t max_down_s, uint64_t now, char *why, size_t why_len)
{
    int level = HEALTH_OK;
    const json_t *broker = json_object_get(st, "broker");
    const char *state = json_string_value(json_object_get(broker, "state"));
    const char *key = json_string_value(json_object_get(st, "key_state"));
    why[0] = 0;
    if (key && strcmp(key, "active") != 0)
        reason(&level, HEALTH_FAILED, why, why_len, "this agency's key is %s in the directory",
               key);
    const json_t *alarm = json_object_get(st, "checkpoint_alarm");
    if (alarm && !json_is_null(alarm))
        reason(&level, HEALTH_FAILED, why, why_len,
               "checkpoint alarm: the broker showed an audit checkpoint inconsistent with the "
               "one this node holds (an incident until explained)");
    else if (json_is_true(json_object_get(st, "audit_alarm")))
        reason(&level, HEALTH_DEGRADED, why, why_len,
               "a newer audit checkpoint is still unproven");
    uint64_t down = num(broker, "down_since_ms");
    if (down && now > down && (now - down) / 1000 > max_down_s)
        reason(&level, HEALTH_DEGRADED, why, why_len,
               "no session with the broker for %llu s (limit %llu s; state %s)",
               (unsigned long long)((now - down) / 1000), (unsigned long long)max_down_s,
               state ? state : "unknown");
    const json_t *outbox = json_object_get(st, "outbox");
    if (num(outbox, "failed"))
        reason(&level, HEALTH_DEGRADED, why, why_len,
               "%llu referral(s) in the outbox failed for good (see `refbus-node outbox`)",
               (unsigned long long)num(outbox, "failed"));
    const char *agency = json_string_value(json_object_get(st, "agency"));
    if (level == HEALTH_OK)
        snprintf(why, why_len, "agency %s: broker session %s, %llu referral(s) waiting to be "
                 "accepted",
                 agency ? agency : "?", state ? state : "?",
                 (unsigned long long)(num(outbox, "pending") + num(outbox, "in_flight")));
    return level;
}

int refbus_node_cli_check(refbus_node_cli *g, uint64_t max_down_s)
{
    static const char *const names[] = {"OK", "DEGRADED", "FAILED"};
    char err[512], why[1024];
    refbus_node *n = NULL;
    char *reply = NULL;
    int level = HEALTH_FAILED;
    if (refbus_node_config_finish(&g->cfg, 0, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-node check: %s\n", err);
        return 2;
    }
    if (refbus_node_open_endpoint(&n, g->cfg.control) != 0) {
        snprintf(why, sizeof why, "no node daemon on %.400s: not running", g->cfg.control);
    } else {
        refbus_node_set_timeout(n, g->timeout_ms ? g->timeout_ms : 5000);
        if (refbus_node_status(n, &reply) != 0) {
            snprintf(why, sizeof why, "no answer from the node daemon on %.400s: %.200s",
                     g->cfg.control, refbus_node_last_error(n));
        } else {
            json_t *st = json_loads(reply, 0, NULL);
            if (json_is_object(st) && json_is_true(json_object_get(st, "ok")))
                level = judge(st, max_down_s, refbus_now_ms(), why, sizeof why);
            else
                snprintf(why, sizeof why, "the node daemon gave no usable status");
            json_decref(st);
        }
    }
    free(reply);
    refbus_node_close(&n);
    printf("%s: %s\n", names[level], why);
    return level;
}
