/* refbus-node subcommands: `run` starts the daemon; the others are clients of its control
 * socket through the C API (nodes/client/refbus_node.h) and print its JSON answers. */
#include "nodes/client/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"
#include "nodes/daemon/daemon.h"
#include "nodes/client/refbus_node.h"

#define INPUT_MAX_BYTES (8u * 1024u * 1024u)

static void print_json_text(const refbus_node_cli *g, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    char *out = j ? json_dumps(j, g->compact ? JSON_COMPACT : JSON_INDENT(2)) : NULL;
    puts(out ? out : text);
    free(out);
    json_decref(j);
}

/* Print an error both ways: a JSON document for programs, a sentence for people. When the
 * referral was queued before the failure (`send --wait` timing out), `queued_id` names it in
 * the document's "msg_id" field so that a program looks it up instead of sending it again. */
static int fail_queued(const refbus_node_cli *g, const char *what, int code, const char *msg,
                       const char *queued_id)
{
    json_t *j = json_pack("{s:b, s:s, s:i, s:s}", "ok", 0, "error", refbus_errname(code), "code",
                          code, "message", msg && msg[0] ? msg : refbus_strerror(code));
    if (j && queued_id) {
        json_object_set_new(j, "msg_id", json_string(queued_id));
        json_object_set_new(j, "queued", json_true());
        json_object_set_new(j, "state", json_string("pending"));
    }
    char *out = j ? json_dumps(j, g->compact ? JSON_COMPACT : JSON_INDENT(2)) : NULL;
    if (out)
        puts(out);
    free(out);
    json_decref(j);
    fprintf(stderr, "refbus-node %s: %s (%s)\n", what,
            msg && msg[0] ? msg : refbus_strerror(code), refbus_errname(code));
    return 1;
}

static int fail(const refbus_node_cli *g, const char *what, int code, const char *msg)
{
    return fail_queued(g, what, code, msg, NULL);
}

static int connect_node(refbus_node_cli *g, refbus_node **n, const char *what)
{
    char err[512];
    int rc = refbus_node_config_finish(&g->cfg, 0, err, sizeof err);
    if (rc)
        return fail(g, what, rc, err);
    if ((rc = refbus_node_open_endpoint(n, g->cfg.control))) {
        snprintf(err, sizeof err, "no node daemon on %.400s (is `refbus-node run` running?)",
                 g->cfg.control);
        return fail(g, what, rc, err);
    }
    if (g->timeout_ms)
        refbus_node_set_timeout(*n, g->timeout_ms);
    return 0;
}

/* Print the answer of a finished call (the daemon's own {"ok":false,...} when it refused) and
 * close. */
static int finish(refbus_node_cli *g, refbus_node **n, const char *what, int rc, char *reply)
{
    int status = 0;
    if (rc && !reply) {
        status = fail(g, what, rc, refbus_node_last_error(*n));
    } else if (rc) {
        print_json_text(g, reply);
        fprintf(stderr, "refbus-node %s: %s (%s)\n", what, refbus_node_last_error(*n),
                refbus_errname(rc));
        status = 1;
    } else {
        print_json_text(g, reply);
    }
    free(reply);
    refbus_node_close(n);
    return status;
}

int refbus_node_cli_run(refbus_node_cli *g)
{
    char err[512];
    int rc = refbus_node_config_finish(&g->cfg, 1, err, sizeof err);
    if (rc) {
        fprintf(stderr, "refbus-node run: %s\n", err);
        return 1;
    }
    refbus_log_init("refbus-node", (enum refbus_log_level)g->cfg.log_level, g->cfg.syslog);
    rc = refbus_node_daemon_run(&g->cfg);
    if (rc) {
        fprintf(stderr, "refbus-node run: %s (%s)\n", refbus_strerror(rc), refbus_errname(rc));
        return 1;
    }
    return 0;
}

int refbus_node_cli_init(refbus_node_cli *g)
{
    char err[512];
    int rc = refbus_node_config_finish(&g->cfg, 1, err, sizeof err);
    if (rc) {
        fprintf(stderr, "refbus-node init: %s\n", err);
        return 1;
    }
    refbus_log_init("refbus-node", (enum refbus_log_level)g->cfg.log_level, g->cfg.syslog);
    rc = refbus_node_daemon_init(&g->cfg);
    if (rc) {
        fprintf(stderr, "refbus-node init: %s (%s)\n", refbus_strerror(rc), refbus_errname(rc));
        return 1;
    }
    return 0;
}

static int read_input(char **out, const char *file)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (file && strcmp(file, "-") != 0) {
        int rc = refbus_file_read(&b, &n, file, INPUT_MAX_BYTES);
        if (rc)
            return rc;
        *out = (char *)b;
        return 0;
    }
    size_t cap = 65536;
    if (!(b = malloc(cap + 1)))
        return REFBUS_ENOMEM;
    for (;;) {
        size_t got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            if (cap >= INPUT_MAX_BYTES) {
                free(b);
                return REFBUS_ETOOLARGE;
            }
            uint8_t *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                return REFBUS_ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
    }
    b[n] = 0;
    *out = (char *)b;
    return 0;
}

/* Wait for the broker's answer about msg_id: 0 accepted, 1 failed or timed out. */
static int wait_accepted(refbus_node_cli *g, refbus_node *n, const char *msg_id, int wait_s)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    uint64_t until = refbus_mono_ms() + (uint64_t)wait_s * 1000u;
    for (;;) {
        char *reply = NULL;
        int rc = refbus_node_outbox(n, msg_id, &reply);
        json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
        const char *state = json_string_value(json_object_get(j, "state"));
        if (rc == 0 && state && strcmp(state, "pending") != 0) {
            print_json_text(g, reply);
            int failed = strcmp(state, "failed") == 0;
            if (failed)
                fprintf(stderr, "refbus-node send: refused by the broker: %s (%s)\n",
                        json_string_value(json_object_get(j, "reason")),
                        json_string_value(json_object_get(j, "error")));
            json_decref(j);
            free(reply);
            return failed;
        }
        json_decref(j);
        free(reply);
        if (rc && rc != REFBUS_ETIMEOUT)
            return fail_queued(g, "send", rc, refbus_node_last_error(n), msg_id);
        if (refbus_mono_ms() >= until) {
            char msg[160];
            snprintf(msg, sizeof msg, "not accepted by the broker within %d s; still queued, "
                                      "do not send it again (see `refbus-node outbox %s`)",
                     wait_s, msg_id);
            return fail_queued(g, "send", REFBUS_ETIMEOUT, msg, msg_id);
        }
        nanosleep(&ts, NULL);
    }
}

int refbus_node_cli_send(refbus_node_cli *g, const char *file, const char *to,
                         const char *urgency, const char *expires_in, const char *msg_id,
                         int wait_s)
{
    refbus_node *n = NULL;
    char *text = NULL, *reply = NULL, *tos = NULL, msg[256];
    const char *list[32];
    size_t nt = 0;
    uint64_t exp = 0;
    int rc;
    refbus_node_send_opts o = {urgency, 0, msg_id};
    if (expires_in && refbus_node_config_duration(&exp, expires_in))
        return fail(g, "send", REFBUS_EINVAL, "--expires-in: a duration such as 7d, 12h, 30m");
    o.expires_in_ms = exp;
    if (!to || !*to)
        return fail(g, "send", REFBUS_EINVAL, "--to AGENCY[,AGENCY...] is required");
    if (!(tos = strdup(to)))
        return fail(g, "send", REFBUS_ENOMEM, NULL);
    for (char *save = NULL, *t = strtok_r(tos, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (nt == sizeof list / sizeof list[0]) {
            free(tos);
            return fail(g, "send", REFBUS_ETOOMANYRCPT, "--to: too many agencies");
        }
        list[nt++] = t;
    }
    if ((rc = read_input(&text, file))) {
        snprintf(msg, sizeof msg, "%s: %s", file && strcmp(file, "-") ? file : "standard input",
                 refbus_strerror(rc));
        free(tos);
        return fail(g, "send", rc, msg);
    }
    if ((rc = connect_node(g, &n, "send"))) {
        free(tos);
        refbus_wipe_free(text);
        return rc;
    }
    rc = refbus_node_send(n, text, list, nt, &o, &reply);
    refbus_wipe_free(text);
    free(tos);
    if (rc || wait_s <= 0)
        return finish(g, &n, "send", rc, reply);
    json_t *j = json_loads(reply, 0, NULL);
    const char *mid = json_string_value(json_object_get(j, "msg_id"));
    int status = mid ? wait_accepted(g, n, mid, wait_s) : fail(g, "send", REFBUS_EPROTO, NULL);
    json_decref(j);
    free(reply);
    refbus_node_close(&n);
    return status;
}

int refbus_node_cli_inbox_list(refbus_node_cli *g, uint64_t after, unsigned limit)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = connect_node(g, &n, "inbox list");
    if (rc)
        return rc;
    rc = refbus_node_inbox_poll(n, after, limit, &reply);
    return finish(g, &n, "inbox list", rc, reply);
}

int refbus_node_cli_inbox_show(refbus_node_cli *g, const char *id)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = connect_node(g, &n, "inbox show");
    if (rc)
        return rc;
    rc = refbus_node_inbox_show(n, id, &reply);
    return finish(g, &n, "inbox show", rc, reply);
}

int refbus_node_cli_reply(refbus_node_cli *g, const char *msg_id, const char *status,
                          const char *reason_code, const char *text, const char *text_file,
                          const char *reply_id)
{
    refbus_node *n = NULL;
    char *reply = NULL, *ftext = NULL;
    int rc;
    if (text_file) {
        if ((rc = read_input(&ftext, text_file)))
            return fail(g, "reply", rc, "--text-file: cannot read it");
        size_t l = strlen(ftext);
        while (l && (ftext[l - 1] == '\n' || ftext[l - 1] == '\r'))
            ftext[--l] = 0;
        text = ftext;
    }
    if ((rc = connect_node(g, &n, "reply")) == 0) {
        rc = refbus_node_reply_id(n, msg_id, reply_id, status, reason_code, text, &reply);
        rc = finish(g, &n, "reply", rc, reply);
    }
    free(ftext);
    return rc;
}

int refbus_node_cli_thread_show(refbus_node_cli *g, const char *thread_id)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = connect_node(g, &n, "thread show");
    if (rc)
        return rc;
    rc = refbus_node_thread_show(n, thread_id, &reply);
    return finish(g, &n, "thread show", rc, reply);
}

int refbus_node_cli_outbox(refbus_node_cli *g, const char *msg_id, uint64_t after,
                           unsigned limit)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = connect_node(g, &n, "outbox");
    if (rc)
        return rc;
    rc = msg_id ? refbus_node_outbox(n, msg_id, &reply)
                : refbus_node_outbox_list(n, after, limit, &reply);
    return finish(g, &n, "outbox", rc, reply);
}

int refbus_node_cli_status(refbus_node_cli *g)
{
    refbus_node *n = NULL;
    char *reply = NULL;
    int rc = connect_node(g, &n, "status");
    if (rc)
        return rc;
    rc = refbus_node_status(n, &reply);
    return finish(g, &n, "status", rc, reply);
}
