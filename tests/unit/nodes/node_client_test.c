/* The C API against a stand-in daemon (a REP socket in a thread): answers come back as JSON and
 * {"ok":false} answers as the daemon's error code with its sentence; no socket file means
 * EUNAVAILABLE at once; a daemon that never answers means ETIMEOUT (and the next call still
 * works); an answer that is not JSON is EPROTO. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zmq.h>

#include "nodes/client/refbus_node.h"

static char dir[128], ep[200];
static void *zctx;

/* The stand-in: answers each request according to its "cmd"; "stall" gets no answer. */
static void *daemon_main(void *arg)
{
    void *rep = arg;
    for (;;) {
        char buf[32768];
        int n = zmq_recv(rep, buf, sizeof buf - 1, 0);
        if (n < 0)
            break;
        buf[n] = 0;
        json_t *req = json_loads(buf, 0, NULL);
        const char *cmd = json_string_value(json_object_get(req, "cmd"));
        const char *ans;
        char out[65536];
        if (cmd && strcmp(cmd, "quit") == 0) {
            zmq_send(rep, "{\"ok\":true}", 11, 0);
            json_decref(req);
            break;
        }
        const char *cref =
            json_string_value(json_object_get(json_object_get(req, "referral"), "case_ref"));
        if ((cmd && strcmp(cmd, "stall") == 0) || (cref && strcmp(cref, "stall") == 0)) {
            json_decref(req);
            usleep(600 * 1000); /* longer than the client waits */
            zmq_send(rep, "{\"ok\":true}", 11, 0);
            continue;
        }
        if (cmd && strcmp(cmd, "reply") == 0)
            ans = "{\"ok\":false,\"error\":\"ETRANSITION\",\"code\":-1407,"
                  "\"message\":\"police.ticac cannot go from declined to completed\"}";
        else if (cmd && strcmp(cmd, "status") == 0)
            ans = "not json";
        else {
            /* echo the request back inside an ok answer */
            snprintf(out, sizeof out, "{\"ok\":true,\"echo\":%s}", buf);
            ans = out;
        }
        zmq_send(rep, ans, strlen(ans), 0);
        json_decref(req);
    }
    return NULL;
}

static void test_api(void **s)
{
    (void)s;
    refbus_node *n = NULL;
    char *reply = NULL;
    pthread_t th;
    void *rep = zmq_socket(zctx, ZMQ_REP);
    assert_int_equal(zmq_bind(rep, ep), 0);
    assert_int_equal(pthread_create(&th, NULL, daemon_main, rep), 0);
    assert_int_equal(refbus_node_open_endpoint(&n, ep), 0);
    refbus_node_set_timeout(n, 300);

    const char *to[] = {"cac.chiangmai", "police.ticac"};
    refbus_node_send_opts o = {"urgent", 3600000, "00112233445566778899aabbccddeeff"};
    assert_int_equal(refbus_node_send(n, "{\"case_ref\":\"ด่าน\"}", to, 2, &o, &reply), 0);
    json_t *j = json_loads(reply, 0, NULL);
    json_t *e = json_object_get(j, "echo");
    assert_string_equal(json_string_value(json_object_get(e, "cmd")), "send");
    assert_string_equal(json_string_value(
                            json_object_get(json_object_get(e, "referral"), "case_ref")),
                        "ด่าน");
    assert_int_equal(json_array_size(json_object_get(e, "to")), 2);
    assert_string_equal(json_string_value(json_object_get(e, "urgency")), "urgent");
    assert_int_equal(json_integer_value(json_object_get(e, "expires_in_ms")), 3600000);
    json_decref(j);
    free(reply);
    reply = NULL;
    /* broken JSON never leaves the process */
    assert_int_equal(refbus_node_send(n, "{oops", to, 1, NULL, &reply), REFBUS_EJSON);
    assert_non_null(strstr(refbus_node_last_error(n), "line 1"));
    assert_null(reply);
    /* the daemon's refusal: its code and sentence, and the document */
    assert_int_equal(refbus_node_reply(n, "ab", "completed", NULL, NULL, &reply),
                     REFBUS_ETRANSITION);
    assert_string_equal(refbus_node_last_error(n),
                        "police.ticac cannot go from declined to completed");
    assert_non_null(strstr(reply, "ETRANSITION"));
    free(reply);
    reply = NULL;
    assert_int_equal(refbus_node_reply(n, "ab", "note", NULL, "bad \xff utf-8", &reply),
                     REFBUS_EINVAL);
    /* an answer that is not JSON */
    assert_int_equal(refbus_node_status(n, &reply), REFBUS_EPROTO);
    assert_null(reply);
    /* issue 10, defect 12: a send without a caller's msg id still carries one, and when the
     * daemon's answer is lost the reply names it (queued: unknown) so that nothing is sent
     * twice; the outbox list pages */
    assert_int_equal(refbus_node_send(n, "{\"case_ref\":\"x\"}", to, 1, NULL, &reply), 0);
    j = json_loads(reply, 0, NULL);
    const char *mid = json_string_value(json_object_get(json_object_get(j, "echo"), "msg_id"));
    assert_non_null(mid);
    assert_int_equal(strlen(mid), 32);
    json_decref(j);
    free(reply);
    reply = NULL;
    assert_int_equal(refbus_node_send(n, "{\"case_ref\":\"stall\"}", to, 1, NULL, &reply),
                     REFBUS_ETIMEOUT);
    assert_non_null(reply);
    j = json_loads(reply, 0, NULL);
    mid = json_string_value(json_object_get(j, "msg_id"));
    assert_non_null(mid);
    assert_int_equal(strlen(mid), 32);
    assert_true(json_is_null(json_object_get(j, "queued")));
    assert_string_equal(json_string_value(json_object_get(j, "error")), "ETIMEOUT");
    json_decref(j);
    free(reply);
    reply = NULL;
    usleep(500 * 1000);
    assert_int_equal(refbus_node_outbox_list(n, 7, 2, &reply), 0);
    assert_non_null(strstr(reply, "\"after\":7"));
    assert_non_null(strstr(reply, "\"limit\":2"));
    free(reply);
    reply = NULL;
    /* a daemon that does not answer in time; the next call works again */
    assert_int_equal(refbus_node_request(n, "{\"cmd\":\"stall\"}", &reply), REFBUS_ETIMEOUT);
    usleep(500 * 1000);
    assert_int_equal(refbus_node_inbox_poll(n, 5, 10, &reply), 0);
    assert_non_null(strstr(reply, "\"after\":5"));
    free(reply);
    assert_int_equal(refbus_node_request(n, "{\"cmd\":\"quit\"}", NULL), 0);
    refbus_node_close(&n);
    assert_null(n);
    refbus_node_close(&n);
    pthread_join(th, NULL);
    zmq_close(rep);
}

static void test_no_daemon(void **s)
{
    (void)s;
    refbus_node *n = NULL;
    char p[256];
    assert_int_equal(refbus_node_open_endpoint(&n, "ipc:///nonexistent/control.sock"),
                     REFBUS_EUNAVAILABLE);
    assert_null(n);
    snprintf(p, sizeof p, "%s/missing.conf", dir);
    assert_int_equal(refbus_node_open(&n, p), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_node_open_endpoint(&n, NULL), REFBUS_EINVAL);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/refbus-node-client-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(ep, sizeof ep, "ipc://%s/control.sock", dir);
    zctx = zmq_ctx_new();
    return zctx ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[200];
    zmq_ctx_term(zctx);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_api),
        cmocka_unit_test(test_no_daemon),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
