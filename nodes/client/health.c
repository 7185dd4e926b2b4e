/* refbus-node check and metrics, for monitoring: judge a running node daemon from its status
 * (one line and an exit status, 0 healthy, 1 degraded, 2 failing, like `refbus-broker check`),
 * or print its status as Prometheus text. The daemon reports facts (status); what counts as
 * degraded is decided here, with the limits given. */
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
        reason(&level, HEALTH_DEGRADED, why, why_len, "a newer audit checkpoint is still unproven");
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
        snprintf(why, why_len,
                 "agency %s: broker session %s, %llu referral(s) waiting to be "
                 "accepted",
                 agency ? agency : "?", state ? state : "?",
                 (unsigned long long)(num(outbox, "pending") + num(outbox, "in_flight")));
    return level;
}

/* The daemon's status document (*st, the caller json_decref()s it), or why not. */
static int fetch_status(cli_state *g, json_t **st, char *why, size_t why_len)
{
    char err[512];
    refbus_node *n = NULL;
    char *reply = NULL;
    *st = NULL;
    if (refbus_node_config_finish(&g->cfg, 0, err, sizeof err) != 0) {
        snprintf(why, why_len, "%s", err);
        return REFBUS_ECONFIG;
    }
    int rc = refbus_node_open_endpoint(&n, g->cfg.control);
    if (rc != 0) {
        snprintf(why, why_len, "no node daemon on %.400s: not running", g->cfg.control);
        return rc;
    }
    refbus_node_set_timeout(n, g->timeout_ms ? g->timeout_ms : 5000);
    if ((rc = refbus_node_status(n, &reply)) != 0) {
        snprintf(why, why_len, "no answer from the node daemon on %.400s: %.200s", g->cfg.control,
                 refbus_node_last_error(n));
    } else {
        *st = json_loads(reply, 0, NULL);
        if (!json_is_object(*st) || !json_is_true(json_object_get(*st, "ok"))) {
            snprintf(why, why_len, "the node daemon gave no usable status");
            json_decref(*st);
            *st = NULL;
            rc = REFBUS_EPROTO;
        }
    }
    free(reply);
    refbus_node_close(&n);
    return rc;
}

static void gauge(const char *name, const char *help, double v)
{
    printf("# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

int cli_node_metrics(cli_state *g)
{
    char why[1024];
    json_t *st = NULL;
    if (fetch_status(g, &st, why, sizeof why) != 0) {
        fprintf(stderr, "refbus-node metrics: %s\n", why);
        return 1;
    }
    uint64_t now = refbus_now_ms();
    const json_t *broker = json_object_get(st, "broker"), *outbox = json_object_get(st, "outbox");
    const json_t *cp = json_object_get(st, "checkpoint");
    const char *state = json_string_value(json_object_get(broker, "state"));
    uint64_t down = num(broker, "down_since_ms"), cp_ms = num(cp, "time_ms");
    /* the daemon's own counters (since it started), each a counter family */
    const char *key;
    const json_t *v;
    json_object_foreach(json_object_get(st, "counters"), key, v)
    {
        if (!json_is_integer(v))
            continue;
        printf("# HELP refbus_node_%s_total The node's %s counter (since it started).\n"
               "# TYPE refbus_node_%s_total counter\nrefbus_node_%s_total %lld\n",
               key, key, key, key, (long long)json_integer_value(v));
    }
    gauge("refbus_node_outbox_pending", "Referrals and answers waiting to be sent to the broker.",
          (double)num(outbox, "pending"));
    gauge("refbus_node_outbox_in_flight", "Sent, the broker's ACCEPTED not yet received.",
          (double)num(outbox, "in_flight"));
    gauge("refbus_node_outbox_failed", "Outbox entries refused for good.",
          (double)num(outbox, "failed"));
    gauge("refbus_node_inbox_messages", "Messages in the inbox.",
          (double)num(json_object_get(st, "inbox"), "messages"));
    gauge("refbus_node_broker_session_ready", "1 while the broker serves this node.",
          state && strcmp(state, "ready") == 0 ? 1 : 0);
    gauge("refbus_node_broker_down_seconds", "How long the node has not been served (0: served).",
          down && now > down ? (double)(now - down) / 1000.0 : 0);
    gauge("refbus_node_audit_alarm", "1 while a checkpoint alarm or an unproven checkpoint stands.",
          json_is_true(json_object_get(st, "audit_alarm")) ? 1 : 0);
    gauge("refbus_node_checkpoint_size", "Tree size of the latest verified audit checkpoint.",
          (double)num(cp, "size"));
    gauge("refbus_node_checkpoint_age_seconds", "Age of the latest verified audit checkpoint.",
          cp_ms && now > cp_ms ? (double)(now - cp_ms) / 1000.0 : 0);
    gauge("refbus_node_directory_serial", "Serial of the installed agency directory.",
          (double)num(json_object_get(st, "directory"), "serial"));
    json_decref(st);
    return 0;
}

int cli_node_check(cli_state *g, uint64_t max_down_s)
{
    static const char *const names[] = {"OK", "DEGRADED", "FAILED"};
    char why[1024];
    json_t *st = NULL;
    int rc = fetch_status(g, &st, why, sizeof why);
    if (rc == REFBUS_ECONFIG) {
        fprintf(stderr, "refbus-node check: %s\n", why);
        return 2;
    }
    int level = rc == 0 ? judge(st, max_down_s, refbus_now_ms(), why, sizeof why) : HEALTH_FAILED;
    json_decref(st);
    printf("%s: %s\n", names[level], why);
    return level;
}
