/* Referral JSON <-> Payload: the example round-trips (Thai and Burmese intact), every kind of
 * bad input is refused with an error that names the field, and status payloads are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nodes/rules/referral_json.h"
#include "nodes/rules/thread.h"
#include "proto/envelope.h"
#include "referral.pb-c.h"
#include "testutil.h"

static const uint8_t TID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static json_t *example(void)
{
    size_t len;
    char *text = test_read_source("deploy/examples/referral.json", &len);
    char err[REFBUS_JSON_ERR_MAX];
    json_t *j = NULL;
    assert_non_null(text);
    assert_int_equal(refbus_referral_json_parse_text(&j, text, len, err), 0);
    free(text);
    return j;
}

static void test_example_roundtrip(void **s)
{
    (void)s;
    json_t *j = example(), *back = NULL;
    char err[REFBUS_JSON_ERR_MAX];
    uint8_t *pl = NULL;
    size_t len = 0;
    int urg = 0;
    assert_int_equal(refbus_referral_from_json(&pl, &len, &urg, j, TID, err), 0);
    assert_int_equal(urg, REFBUS_URGENCY_URGENT);
    refbus_payload_info *info = malloc(sizeof *info);
    assert_int_equal(refbus_payload_inspect(info, pl, len), 0);
    assert_int_equal(info->kind, REFBUS_KIND_REFERRAL);
    assert_memory_equal(info->thread_id, TID, 16);
    assert_string_equal(info->case_ref, "HOTS-2025-0117");
    free(info);
    assert_int_equal(refbus_payload_to_json(&back, pl, len), 0);
    json_t *r = json_object_get(back, "referral");
    assert_non_null(r);
    /* every input member comes back equal (the output adds thread_id) */
    json_object_set_new(j, "thread_id", json_string("0102030405060708090a0b0c0d0e0f10"));
    json_t *cj = json_object_get(j, "child");
    json_object_del(cj, "stateless"); /* false is the default and is not printed */
    assert_true(json_equal(j, r));
    const char *summary = json_string_value(json_object_get(r, "summary"));
    assert_non_null(strstr(summary, "ด่านแม่สาย"));
    assert_non_null(strstr(summary, "မြန်မာစကား"));
    json_decref(back);
    json_decref(j);
    free(pl);
}

/* Each mutation must be refused with an error naming `field`. */
static void expect_field_error(const char *mutation_json, const char *remove, const char *field)
{
    json_t *j = example();
    char err[REFBUS_JSON_ERR_MAX], needle[96];
    uint8_t *pl = NULL;
    size_t len = 0;
    int urg = 0;
    if (remove) {
        /* "a.b" removes member b of object a */
        const char *dot = strchr(remove, '.');
        if (dot) {
            char parent[32];
            snprintf(parent, sizeof parent, "%.*s", (int)(dot - remove), remove);
            json_object_del(json_object_get(j, parent), dot + 1);
        } else {
            json_object_del(j, remove);
        }
    }
    if (mutation_json) {
        json_error_t je;
        json_t *m = json_loads(mutation_json, 0, &je);
        assert_non_null(m);
        const char *k;
        json_t *v;
        json_object_foreach(m, k, v)
        {
            json_t *cur = json_object_get(j, k);
            if (json_is_object(v) && json_is_object(cur))
                json_object_update(cur, v);
            else
                json_object_set(j, k, v);
        }
        json_decref(m);
    }
    int rc = refbus_referral_from_json(&pl, &len, &urg, j, TID, err);
    snprintf(needle, sizeof needle, "field \"%s\"", field);
    if (rc != REFBUS_EJSON || !strstr(err, needle))
        fail_msg("expected an error naming %s, got %d: %s", field, rc, err);
    assert_null(pl);
    json_decref(j);
}

static void test_bad_fields(void **s)
{
    (void)s;
    expect_field_error(NULL, "case_ref", "case_ref");
    expect_field_error(NULL, "summary", "summary");
    expect_field_error(NULL, "child", "child");
    expect_field_error(NULL, "child.pseudonym", "child.pseudonym");
    expect_field_error(NULL, "consent", "consent");
    expect_field_error(NULL, "urgency", "urgency");
    expect_field_error("{\"type\": \"kidnapping\"}", NULL, "type");
    expect_field_error("{\"urgency\": 3}", NULL, "urgency");
    expect_field_error("{\"chlid\": {}}", NULL, "chlid");
    expect_field_error("{\"child\": {\"age\": -1}}", NULL, "child.age");
    expect_field_error("{\"child\": {\"age\": 99}}", NULL, "child.age");
    expect_field_error("{\"child\": {\"age\": \"14\"}}", NULL, "child.age");
    expect_field_error("{\"child\": {\"gender\": \"f\"}}", NULL, "child.gender");
    expect_field_error("{\"child\": {\"nationality\": \"Myanmar\"}}", NULL, "child.nationality");
    expect_field_error("{\"child\": {\"languages\": [\"th\", 7]}}", NULL, "child.languages");
    expect_field_error("{\"child\": {\"stateless\": \"no\"}}", NULL, "child.stateless");
    expect_field_error("{\"child\": {\"eyes\": \"brown\"}}", NULL, "child.eyes");
    expect_field_error("{\"services\": [\"medical\", \"taxi\"]}", NULL, "services[1]");
    expect_field_error("{\"consent\": {\"basis\": \"override\"}}", NULL, "consent.override_reason");
    expect_field_error("{\"consent\": {\"basis\": \"maybe\"}}", NULL, "consent.basis");
    expect_field_error("{\"contact\": {\"name\": 5}}", NULL, "contact.name");
    expect_field_error("{\"attachments\": [{\"hash\": \"abc\", \"size\": 1}]}", NULL,
                       "attachments[0].hash");
    expect_field_error("{\"thread_id\": \"00\"}", NULL, "thread_id");
    expect_field_error("{\"case_ref\": \"line\\u0007bell\"}", NULL, "case_ref");
    expect_field_error("{\"case_ref\": \"\"}", NULL, "case_ref");
}

#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
/* A sealed file (docs/PROTOCOL.md 2.11) next to an opaque blob: both round-trip; a half or
 * doubled reference is refused naming the field. */
static void test_sealed_attachment(void **s)
{
    (void)s;
    static const char *att = "{\"attachments\": [{\"file_id\": \"" H64(
        "a1") "\", \"file_key\": \"" H64("b2") "\", \"size\": 1073741824, \"media_type\": "
                                               "\"video/mp4\", \"name\": \"interview.mp4\"},"
                                               " {\"hash\": \"" H64("c3") "\", \"size\": 5}]}";
    json_error_t je;
    json_t *j = example(), *m = json_loads(att, 0, &je), *back = NULL;
    char err[REFBUS_JSON_ERR_MAX];
    uint8_t *pl = NULL;
    size_t len = 0;
    int urg = 0;
    assert_non_null(m);
    json_object_set(j, "attachments", json_object_get(m, "attachments"));
    assert_int_equal(refbus_referral_from_json(&pl, &len, &urg, j, TID, err), 0);
    assert_int_equal(refbus_payload_to_json(&back, pl, len), 0);
    json_t *ba = json_object_get(json_object_get(back, "referral"), "attachments");
    assert_true(json_equal(ba, json_object_get(m, "attachments")));
    json_decref(back);
    json_decref(j);
    json_decref(m);
    free(pl);
    expect_field_error("{\"attachments\": [{\"file_id\": \"" H64("a1") "\", \"size\": 1}]}", NULL,
                       "attachments[0].file_key");
    expect_field_error("{\"attachments\": [{\"file_key\": \"" H64("a1") "\", \"size\": 1}]}", NULL,
                       "attachments[0].file_id");
    expect_field_error("{\"attachments\": [{\"file_id\": \"" H64("a1") "\", \"file_key\": \"" H64(
                           "zz") "\", \"size\": 1}]}",
                       NULL, "attachments[0].file_key");
    expect_field_error("{\"attachments\": [{\"hash\": \"" H64("a1") "\", \"file_id\": \"" H64(
                           "a1") "\", \"file_key\": \"" H64("a1") "\", \"size\": 1}]}",
                       NULL, "attachments[0].hash");
    expect_field_error("{\"attachments\": [{\"size\": 1}]}", NULL, "attachments[0].hash");
    expect_field_error("{\"attachments\": [{\"file_id\": \"" H64("a1") "\", \"file_key\": \"" H64(
                           "a1") "\"}]}",
                       NULL, "attachments[0].size");
}

static void test_syntax_errors(void **s)
{
    (void)s;
    char err[REFBUS_JSON_ERR_MAX];
    json_t *j = NULL;
    const char *bad = "{\n  \"case_ref\": \"x\",\n  oops\n}";
    assert_int_equal(refbus_referral_json_parse_text(&j, bad, strlen(bad), err), REFBUS_EJSON);
    assert_non_null(strstr(err, "line 3"));
    const char *dup = "{\"a\": 1, \"a\": 2}";
    assert_int_equal(refbus_referral_json_parse_text(&j, dup, strlen(dup), err), REFBUS_EJSON);
    const char badutf8[] = "{\"case_ref\": \"\xff\xfe\"}";
    assert_int_equal(refbus_referral_json_parse_text(&j, badutf8, strlen(badutf8), err),
                     REFBUS_EJSON);
    /* not an object at all */
    uint8_t *pl = NULL;
    size_t len;
    int urg;
    json_t *arr = json_array();
    assert_int_equal(refbus_referral_from_json(&pl, &len, &urg, arr, TID, err), REFBUS_EJSON);
    json_decref(arr);
}

static void test_status_payload(void **s)
{
    (void)s;
    char err[REFBUS_JSON_ERR_MAX];
    uint8_t *pl = NULL;
    size_t len;
    uint8_t irt[16];
    memset(irt, 0xab, sizeof irt);
    assert_int_equal(refbus_referral_status_payload(&pl, &len, TID, irt, REFBUS_TS_DECLINED,
                                                    "no_capacity", "ไม่มีที่ว่าง", err),
                     0);
    refbus_payload_info *info = malloc(sizeof *info);
    assert_int_equal(refbus_payload_inspect(info, pl, len), 0);
    assert_int_equal(info->kind, REFBUS_KIND_STATUS);
    assert_int_equal(info->status, REFBUS_TS_DECLINED);
    assert_true(info->has_in_reply_to);
    assert_memory_equal(info->in_reply_to, irt, 16);
    assert_string_equal(info->reason_code, "no_capacity");
    assert_string_equal(info->text, "ไม่มีที่ว่าง");
    json_t *j = NULL;
    assert_int_equal(refbus_payload_to_json(&j, pl, len), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "status"), "status")),
                        "declined");
    json_decref(j);
    free(pl);
    pl = NULL;
    /* declined without a reason code, bad reason code, note without text, unknown status */
    assert_int_equal(refbus_referral_status_payload(&pl, &len, TID, irt, REFBUS_TS_DECLINED, NULL,
                                                    "x", err),
                     REFBUS_EINVAL);
    assert_non_null(strstr(err, "reason"));
    assert_int_equal(refbus_referral_status_payload(&pl, &len, TID, irt, REFBUS_TS_DECLINED,
                                                    "No Room", "", err),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_referral_status_payload(&pl, &len, TID, irt, REFBUS_TS_NOTE, "", "",
                                                    err),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_referral_status_payload(&pl, &len, TID, irt, 0, "", "", err),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_referral_status_payload(&pl, &len, TID, irt, 9, "", "", err),
                     REFBUS_EINVAL);
    assert_null(pl);
    free(info);
}

/* Payload bytes from another agency: garbage, wrong thread id length, bad status, bad UTF-8. */
static void test_inspect_refuses(void **s)
{
    (void)s;
    refbus_payload_info *info = malloc(sizeof *info);
    uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
    assert_int_equal(refbus_payload_inspect(info, junk, sizeof junk), REFBUS_EMALFORMED);
    assert_int_equal(refbus_payload_inspect(info, NULL, 0), REFBUS_EMALFORMED); /* no body */
    Refbus__V1__StatusUpdate su = REFBUS__V1__STATUS_UPDATE__INIT;
    Refbus__V1__Payload p = REFBUS__V1__PAYLOAD__INIT;
    uint8_t buf[256];
    p.body_case = REFBUS__V1__PAYLOAD__BODY_STATUS;
    p.status = &su;
    su.thread_id = (ProtobufCBinaryData){15, (uint8_t *)TID};
    su.status = REFBUS__V1__THREAD_STATUS__THREAD_STATUS_ACCEPTED;
    size_t n = refbus__v1__payload__pack(&p, buf);
    assert_int_equal(refbus_payload_inspect(info, buf, n), REFBUS_EMALFORMED);
    su.thread_id.len = 16;
    su.status = (Refbus__V1__ThreadStatus)42;
    n = refbus__v1__payload__pack(&p, buf);
    assert_int_equal(refbus_payload_inspect(info, buf, n), REFBUS_EMALFORMED);
    su.status = REFBUS__V1__THREAD_STATUS__THREAD_STATUS_NOTE;
    su.text = (char *)"bad \xc0\xaf utf-8";
    n = refbus__v1__payload__pack(&p, buf);
    assert_int_equal(refbus_payload_inspect(info, buf, n), REFBUS_EMALFORMED);
    su.text = (char *)"fine";
    n = refbus__v1__payload__pack(&p, buf);
    assert_int_equal(refbus_payload_inspect(info, buf, n), 0);
    /* a referral naming half a sealed file, or a sealed file and a blob hash at once */
    static const uint8_t k32[32] = {7};
    Refbus__V1__Referral r = REFBUS__V1__REFERRAL__INIT;
    Refbus__V1__AttachmentRef at = REFBUS__V1__ATTACHMENT_REF__INIT, *atp = &at;
    p.body_case = REFBUS__V1__PAYLOAD__BODY_REFERRAL;
    p.referral = &r;
    r.thread_id = (ProtobufCBinaryData){16, (uint8_t *)TID};
    r.n_attachments = 1;
    r.attachments = &atp;
    at.size = 1;
    at.file_id = (ProtobufCBinaryData){32, (uint8_t *)k32};
    at.file_key = (ProtobufCBinaryData){32, (uint8_t *)k32};
    n = refbus__v1__payload__pack(&p, buf);
    assert_int_equal(refbus_payload_inspect(info, buf, n), 0);
    const struct {
        size_t id, key, hash;
    } bad[] = {{32, 0, 0}, {0, 32, 0}, {31, 31, 0}, {32, 32, 32}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        at.file_id.len = bad[k].id;
        at.file_key.len = bad[k].key;
        at.hash = (ProtobufCBinaryData){bad[k].hash, (uint8_t *)k32};
        n = refbus__v1__payload__pack(&p, buf);
        assert_int_equal(refbus_payload_inspect(info, buf, n), REFBUS_EMALFORMED);
    }
    free(info);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_roundtrip), cmocka_unit_test(test_bad_fields),
        cmocka_unit_test(test_syntax_errors),     cmocka_unit_test(test_status_payload),
        cmocka_unit_test(test_inspect_refuses),   cmocka_unit_test(test_sealed_attachment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
