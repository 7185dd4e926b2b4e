/* The thread state machine: the accept, decline and complete flows are allowed; nonsense
 * transitions (completing a declined referral, a recipient cancelling, the sender accepting,
 * anything after consent is withdrawn, strangers) are refused with ETRANSITION and a reason;
 * records survive a pack/unpack round trip and garbage records are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nodes/rules/thread.h"

static const uint8_t TID[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static const uint8_t MID[16] = {7};

static refbus_thread *mk(void)
{
    const char *members[] = {"cac.chiangmai", "police.ticac", "welfare.cm"};
    refbus_thread *t = NULL;
    assert_int_equal(refbus_thread_new(&t, TID, "ngo.hots", members, 3, MID, 1000), 0);
    assert_int_equal(t->n_members, 3);
    return t;
}

/* Check, then apply: what the node does for an answer it sends. */
static int say(refbus_thread *t, const char *who, int status, const char *rc)
{
    char why[256];
    int r = refbus_thread_check(t, who, (uint32_t)status, why, sizeof why);
    if (r == 0)
        assert_int_equal(refbus_thread_apply(t, MID, who, (uint32_t)status, rc, "", 2000, 1, 1, 0),
                         0);
    else
        assert_true(strlen(why) > 10);
    return r;
}

static void test_flows(void **s)
{
    (void)s;
    refbus_thread *t = mk();
    /* accept -> in progress (twice) -> complete */
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_RECEIVED, NULL), 0);
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_ACCEPTED, NULL), 0);
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_IN_PROGRESS, NULL), 0);
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_IN_PROGRESS, NULL), 0);
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_COMPLETED, NULL), 0);
    /* decline straight away */
    assert_int_equal(say(t, "police.ticac", REFBUS_TS_DECLINED, "no_jurisdiction"), 0);
    /* notes from anyone in the thread */
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_NOTE, NULL), 0);
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_NOTE, NULL), 0);
    /* the sender can still cancel: welfare.cm has not finished */
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_CANCELLED, NULL), 0);
    assert_int_equal(t->closed, REFBUS_TS_CANCELLED);
    /* and withdraw consent after that */
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_CONSENT_WITHDRAWN, NULL), 0);
    assert_int_equal(t->closed, REFBUS_TS_CONSENT_WITHDRAWN);
    assert_int_equal(t->n_events, 10);

    /* round trip through the store encoding */
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_thread *u = NULL;
    assert_int_equal(refbus_thread_pack(&b, &n, t), 0);
    assert_int_equal(refbus_thread_unpack(&u, b, n), 0);
    assert_int_equal(u->n_events, 10);
    assert_string_equal(u->members[1]->reason_code, "no_jurisdiction");
    assert_int_equal(u->members[0]->status, REFBUS_TS_COMPLETED);
    /* changing an unpacked record: its unset strings are protobuf-c's static "" (not freed) */
    assert_int_equal(refbus_thread_apply(u, MID, "welfare.cm", REFBUS_TS_RECEIVED, "seen", "", 5, 0,
                                         1, 0),
                     0);
    assert_string_equal(u->members[2]->reason_code, "seen");
    assert_int_equal(refbus_pb_set_string(&u->case_ref, "CASE-9"), 0);
    assert_int_equal(refbus_pb_set_string(&u->case_ref, NULL), 0);
    assert_string_equal(u->case_ref, "");
    json_t *j = refbus_thread_to_json(u);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "consent_withdrawn");
    assert_int_equal(json_array_size(json_object_get(j, "events")), 11);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(j, "agencies"), "police.ticac"),
                            "status")),
                        "declined");
    json_decref(j);
    free(b);
    refbus_thread_free(&u);
    refbus_thread_free(&t);
    refbus_thread_free(&t); /* NULL is fine */
}

static void test_nonsense_refused(void **s)
{
    (void)s;
    char why[256];
    refbus_thread *t = mk();
    assert_int_equal(say(t, "police.ticac", REFBUS_TS_DECLINED, "no_capacity"), 0);
    /* completing a declined referral */
    assert_int_equal(refbus_thread_check(t, "police.ticac", REFBUS_TS_COMPLETED, why, sizeof why),
                     REFBUS_ETRANSITION);
    assert_non_null(strstr(why, "declined to completed"));
    /* accepting after declining, in progress before accepting, completing before accepting */
    assert_int_equal(say(t, "police.ticac", REFBUS_TS_ACCEPTED, NULL), REFBUS_ETRANSITION);
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_IN_PROGRESS, NULL), REFBUS_ETRANSITION);
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_COMPLETED, NULL), REFBUS_ETRANSITION);
    /* received twice */
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_RECEIVED, NULL), 0);
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_RECEIVED, NULL), REFBUS_ETRANSITION);
    /* the sender cannot accept its own referral; a recipient cannot cancel it */
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_ACCEPTED, NULL), REFBUS_ETRANSITION);
    assert_int_equal(refbus_thread_check(t, "cac.chiangmai", REFBUS_TS_CANCELLED, why, sizeof why),
                     REFBUS_ETRANSITION);
    assert_non_null(strstr(why, "ngo.hots"));
    /* strangers */
    assert_int_equal(refbus_thread_check(t, "court.cm", REFBUS_TS_NOTE, why, sizeof why),
                     REFBUS_ETRANSITION);
    assert_non_null(strstr(why, "not an agency of this thread"));
    /* unknown status values */
    assert_int_equal(refbus_thread_check(t, "welfare.cm", 0, why, sizeof why), REFBUS_EINVAL);
    assert_int_equal(refbus_thread_check(t, "welfare.cm", 99, why, sizeof why), REFBUS_EINVAL);
    /* after a cancel only consent withdrawal; after that nothing */
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_CANCELLED, NULL), 0);
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_ACCEPTED, NULL), REFBUS_ETRANSITION);
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_NOTE, NULL), REFBUS_ETRANSITION);
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_CONSENT_WITHDRAWN, NULL), 0);
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_CONSENT_WITHDRAWN, NULL), REFBUS_ETRANSITION);
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_NOTE, NULL), REFBUS_ETRANSITION);
    refbus_thread_free(&t);

    /* nothing left to cancel once every recipient declined or completed */
    t = mk();
    assert_int_equal(say(t, "cac.chiangmai", REFBUS_TS_DECLINED, "a"), 0);
    assert_int_equal(say(t, "police.ticac", REFBUS_TS_DECLINED, "b"), 0);
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_ACCEPTED, NULL), 0);
    assert_int_equal(say(t, "welfare.cm", REFBUS_TS_COMPLETED, NULL), 0);
    assert_int_equal(say(t, "ngo.hots", REFBUS_TS_CANCELLED, NULL), REFBUS_ETRANSITION);
    json_t *j = refbus_thread_to_json(t);
    assert_string_equal(json_string_value(json_object_get(j, "state")), "finished");
    json_decref(j);
    /* a refused incoming answer is kept in the history without changing state */
    assert_int_equal(refbus_thread_apply(t, MID, "police.ticac", REFBUS_TS_COMPLETED, "", "", 3000,
                                         0, 0, REFBUS_ETRANSITION),
                     0);
    assert_int_equal(t->members[1]->status, REFBUS_TS_DECLINED);
    assert_false(t->events[t->n_events - 1]->applied);
    refbus_thread_free(&t);
}

static void test_names_and_garbage(void **s)
{
    (void)s;
    assert_int_equal(refbus_thread_status_parse("in-progress"), REFBUS_TS_IN_PROGRESS);
    assert_int_equal(refbus_thread_status_parse("ACCEPTED"), REFBUS_TS_ACCEPTED);
    assert_int_equal(refbus_thread_status_parse("referred"), -1);
    assert_int_equal(refbus_thread_status_parse("acceptedx"), -1);
    assert_int_equal(refbus_thread_status_parse(NULL), -1);
    assert_string_equal(refbus_thread_status_name(REFBUS_TS_CONSENT_WITHDRAWN),
                        "consent_withdrawn");
    assert_string_equal(refbus_thread_status_name(77), "unknown");
    refbus_thread *t = NULL;
    uint8_t junk[] = {0x0a, 0x05, 1, 2}; /* truncated */
    assert_int_equal(refbus_thread_unpack(&t, junk, sizeof junk), REFBUS_ECORRUPT);
    uint8_t short_id[] = {0x0a, 0x02, 1, 2}; /* thread id of 2 bytes */
    assert_int_equal(refbus_thread_unpack(&t, short_id, sizeof short_id), REFBUS_ECORRUPT);
    assert_null(t);
    /* peers: everyone but me */
    refbus_thread *u = mk();
    const char *p[8];
    assert_int_equal(refbus_thread_peers(u, "police.ticac", p, 8), 3);
    assert_string_equal(p[0], "ngo.hots");
    refbus_thread_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flows),
        cmocka_unit_test(test_nonsense_refused),
        cmocka_unit_test(test_names_and_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
