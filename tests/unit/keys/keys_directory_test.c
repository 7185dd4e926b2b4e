/* The signed directory as readers see it: a good one loads and answers every lookup right
 * (active / retired / revoked, transport admission, policy with wildcards and deny-wins, Thai
 * names); a byte flipped anywhere, a truncation, another root, a missing domain string, an
 * older or equal serial, and root-signed contents that break a rule are all refused with the
 * right code. Golden vectors pin the key id and the signing input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "directory.pb-c.h"
#include "keys/directory.h"
#include "keys_testutil.h"

/* The signed sample at serial 7 (see test_signed_vector). */
#define KT_VECTOR_LEN 984
#define KT_VECTOR_BLAKE2B "de62d8397d6ee50c30a29522d3924d3b6e78b6467e4d1cdb0388ac40b3692c1e"
#define KT_VECTOR_SIG                                                  \
    "a7dd47f1b18770550c4fcb8ee255bc8d178ad60183301006f0f70dd10e111570" \
    "41776d098a27780017830d900ee7c456a2d9fe067ab9b507e1af577fe237470f"

static uint8_t root_pk[32], root_sk[64], other_pk[32], other_sk[64];

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    kt_root(root_pk, root_sk);
    kt_other_root(other_pk, other_sk);
    return 0;
}

static void sample_signed(uint8_t **out, size_t *len, uint64_t serial)
{
    refbus_dd d;
    kt_sample(&d, serial);
    kt_sign_dd(out, len, &d, root_sk);
    refbus_dd_clear(&d);
}

static refbus_directory *load_sample(uint64_t serial)
{
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_directory *d = NULL;
    sample_signed(&b, &n, serial);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), 0);
    free(b);
    return d;
}

/* Sign d as given (no validation) and return what load() says. */
static int load_dd(const refbus_dd *dd)
{
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_directory *d = NULL;
    kt_sign_dd(&b, &n, dd, root_sk);
    int rc = refbus_directory_load(&d, b, n, root_pk, NULL);
    refbus_directory_free(&d);
    free(b);
    return rc;
}

static void test_load_and_read(void **state)
{
    (void)state;
    uint8_t *b = NULL;
    size_t n = 0, len = 0, i = 0;
    refbus_directory *d = NULL;
    sample_signed(&b, &n, 5);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), 0);
    assert_int_equal(refbus_directory_serial(d), 5);
    assert_int_equal(refbus_directory_issued_ms(d), 1700001000005ull);
    assert_true(refbus_directory_verified(d));
    assert_memory_equal(refbus_directory_root_pk(d), root_pk, 32);
    const uint8_t *bytes = refbus_directory_bytes(d, &len);
    assert_int_equal(len, n);
    assert_memory_equal(bytes, b, n); /* the exact bytes, to push on to nodes */
    assert_int_equal(refbus_directory_agency_count(d), 3);
    assert_string_equal(refbus_directory_agency_id(d, 0), "cac.cm");
    assert_string_equal(refbus_directory_agency_id(d, 1), "ngo.hots");
    assert_string_equal(refbus_directory_agency_name(d, 1), kt_thai_name); /* Thai round trip */
    assert_int_equal(refbus_directory_agency_kind(d, 2), REFBUS_AGENCY_POLICE);
    assert_null(refbus_directory_agency_id(d, 3));
    assert_int_equal(refbus_directory_agency_index(d, "police.cm", &i), 0);
    assert_int_equal(i, 2);
    assert_int_equal(refbus_directory_agency_index(d, "nobody", &i), REFBUS_EUNKNOWNAGENCY);
    assert_int_equal(refbus_directory_agency_key_count(d, 0), 2);
    assert_string_equal(refbus_directory_broker_id(d), "broker.cm");
    assert_int_equal(refbus_directory_broker_endpoint_count(d), 1);
    assert_string_equal(refbus_directory_broker_endpoint(d, 0), "tcp://127.0.0.1:7700");
    refbus_directory_free(&d);
    assert_null(d);
    refbus_directory_free(&d); /* NULL is fine */
    refbus_directory_free(NULL);
    /* The unverified loader (display only) says so. */
    assert_int_equal(refbus_directory_load_unverified(&d, b, n), 0);
    assert_false(refbus_directory_verified(d));
    refbus_directory_free(&d);
    free(b);
}

static void test_key_status(void **state)
{
    (void)state;
    refbus_directory *d = load_sample(1);
    const refbus_dir_key *k = NULL;
    refbus_dir_key expect;
    /* cac.cm: epoch 2 active, epoch 1 retired. */
    assert_int_equal(refbus_directory_key_trust(d, "cac.cm", 2, REFBUS_KEY_SEND, &k), 0);
    kt_dir_key(&expect, 0x21, 2, REFBUS_KEY_ACTIVE, NULL);
    assert_memory_equal(k->sign_pk, expect.sign_pk, 32);
    assert_memory_equal(k->enc_pk, expect.enc_pk, 32);
    assert_memory_equal(k->curve_pk, expect.curve_pk, 32);
    assert_int_equal(refbus_directory_key_trust(d, "cac.cm", 1, REFBUS_KEY_SEND, &k),
                     REFBUS_ERETIRED);
    assert_int_equal(refbus_directory_key_trust(d, "cac.cm", 3, REFBUS_KEY_SEND, &k),
                     REFBUS_ENOTFOUND);
    assert_int_equal(refbus_directory_key_trust(d, "nobody", 1, REFBUS_KEY_SEND, &k),
                     REFBUS_EUNKNOWNAGENCY);
    /* police.cm: revoked, with its reason and time. */
    assert_int_equal(refbus_directory_key_trust(d, "police.cm", 1, REFBUS_KEY_SEND, &k),
                     REFBUS_EREVOKED);
    assert_int_equal(refbus_directory_key(d, "police.cm", 1, &k), 0);
    assert_int_equal(k->status, REFBUS_KEY_REVOKED);
    assert_string_equal(k->revoked_reason, "laptop stolen");
    assert_int_equal(k->status_changed_ms, 1700000500000ull + 0x40);
    assert_int_equal(refbus_directory_current_key(d, "police.cm", &k), REFBUS_EREVOKED);
    /* Any epoch for old messages; the current one to seal to. */
    assert_int_equal(refbus_directory_key(d, "cac.cm", 1, &k), 0);
    assert_int_equal(k->status, REFBUS_KEY_RETIRED);
    assert_int_equal(refbus_directory_key(d, "cac.cm", 9, &k), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_directory_key(d, "x", 1, &k), REFBUS_EUNKNOWNAGENCY);
    assert_int_equal(refbus_directory_current_key(d, "cac.cm", &k), 0);
    assert_int_equal(k->epoch, 2);
    assert_int_equal(refbus_directory_current_key(d, "nobody", &k), REFBUS_EUNKNOWNAGENCY);
    refbus_directory_free(&d);
}

static void test_find_curve(void **state)
{
    (void)state;
    refbus_directory *d = load_sample(1);
    refbus_dir_key k;
    const char *ag = NULL;
    uint32_t epoch = 0;
    kt_dir_key(&k, 0x21, 2, REFBUS_KEY_ACTIVE, NULL);
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_SESSION, &ag, &epoch),
                     0);
    assert_string_equal(ag, "cac.cm");
    assert_int_equal(epoch, 2);
    kt_dir_key(&k, 0x30, 1, REFBUS_KEY_ACTIVE, NULL);
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_SESSION, &ag, NULL), 0);
    assert_string_equal(ag, "ngo.hots");
    /* retired: may fetch the directory, never hold the session */
    kt_dir_key(&k, 0x20, 1, REFBUS_KEY_RETIRED, NULL);
    ag = NULL;
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_SESSION, &ag, &epoch),
                     REFBUS_ERETIRED);
    assert_null(ag); /* nothing written on failure */
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_FETCH_DIRECTORY, &ag,
                                                  &epoch),
                     0);
    assert_string_equal(ag, "cac.cm");
    assert_int_equal(epoch, 1);
    kt_dir_key(&k, 0x40, 1, REFBUS_KEY_REVOKED, NULL);
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_FETCH_DIRECTORY, NULL,
                                                  NULL),
                     REFBUS_EREVOKED);
    kt_dir_key(&k, 0x10, 1, REFBUS_KEY_ACTIVE, NULL); /* the broker's own key is no peer */
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_READ, NULL, NULL),
                     REFBUS_EUNKNOWNPEER);
    kt_dir_key(&k, 0x77, 1, REFBUS_KEY_ACTIVE, NULL);
    assert_int_equal(refbus_directory_curve_trust(d, k.curve_pk, REFBUS_KEY_READ, NULL, NULL),
                     REFBUS_EUNKNOWNPEER);
    /* The sign key of an active epoch is not its CURVE key. */
    kt_dir_key(&k, 0x21, 2, REFBUS_KEY_ACTIVE, NULL);
    assert_int_equal(refbus_directory_curve_trust(d, k.sign_pk, REFBUS_KEY_READ, NULL, NULL),
                     REFBUS_EUNKNOWNPEER);
    refbus_directory_free(&d);
}

/* The one key-trust rule, every purpose x status x "a later epoch is revoked". Agency a.cm:
 * epochs 1 retired, 2 revoked, 3 retired, 4 active (a stolen bundle held 1 and 2; 3 and 4 were
 * issued after); b.cm: 1 retired, 2 active (plain rotation); c.cm: 1 retired, 2 retired,
 * 3 revoked (whole agency shut out); the broker: 1 retired, 2 active. */
static const enum refbus_key_purpose purposes[] = {REFBUS_KEY_SEND, REFBUS_KEY_SESSION,
                                                   REFBUS_KEY_RECEIPT, REFBUS_KEY_READ,
                                                   REFBUS_KEY_FETCH_DIRECTORY};

static refbus_directory *load_matrix(void)
{
    refbus_dd dd;
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_directory *d = NULL;
    static const struct {
        const char *id;
        size_t n;
        enum refbus_key_status st[4];
    } ag[] = {{"a.cm",
               4,
               {REFBUS_KEY_RETIRED, REFBUS_KEY_REVOKED, REFBUS_KEY_RETIRED, REFBUS_KEY_ACTIVE}},
              {"b.cm", 2, {REFBUS_KEY_RETIRED, REFBUS_KEY_ACTIVE}},
              {"c.cm", 3, {REFBUS_KEY_RETIRED, REFBUS_KEY_RETIRED, REFBUS_KEY_REVOKED}}};
    kt_sample(&dd, 1);
    for (size_t i = 0; i < dd.n_agencies; i++)
        refbus_dd_agency_clear(&dd.agencies[i]);
    free(dd.agencies);
    dd.n_agencies = 3;
    dd.agencies = calloc(3, sizeof *dd.agencies);
    assert_non_null(dd.agencies);
    uint8_t seed = 0x50;
    for (size_t i = 0; i < 3; i++) {
        refbus_dd_agency *a = &dd.agencies[i];
        snprintf(a->id, sizeof a->id, "%s", ag[i].id);
        a->name = strdup("Agency");
        a->kind = REFBUS_AGENCY_NGO;
        a->keys = calloc(ag[i].n, sizeof *a->keys);
        a->n_keys = ag[i].n;
        for (size_t k = 0; k < ag[i].n; k++)
            kt_dir_key(&a->keys[k], seed++, (uint32_t)k + 1, ag[i].st[k],
                       ag[i].st[k] == REFBUS_KEY_REVOKED ? "device stolen" : NULL);
    }
    dd.n_rules = 1; /* "*" -> "*": the sample's other rule names agencies not in this one */
    refbus_dd_agency_clear(&dd.broker);
    snprintf(dd.broker.id, sizeof dd.broker.id, "broker.cm");
    dd.broker.keys = calloc(2, sizeof *dd.broker.keys);
    dd.broker.n_keys = 2;
    kt_dir_key(&dd.broker.keys[0], 0x10, 1, REFBUS_KEY_RETIRED, NULL);
    kt_dir_key(&dd.broker.keys[1], 0x11, 2, REFBUS_KEY_ACTIVE, NULL);
    kt_sign_dd(&b, &n, &dd, root_sk);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), 0);
    free(b);
    refbus_dd_clear(&dd);
    return d;
}

/* What the rule must say: revoked (itself or a later epoch) refuses everything; retired is
 * good for READ and FETCH_DIRECTORY only; active for everything. */
static int expected(enum refbus_key_status st, int later_revoked, enum refbus_key_purpose p)
{
    if (st == REFBUS_KEY_REVOKED || later_revoked)
        return REFBUS_EREVOKED;
    if (st == REFBUS_KEY_RETIRED && p != REFBUS_KEY_READ && p != REFBUS_KEY_FETCH_DIRECTORY)
        return REFBUS_ERETIRED;
    return 0;
}

static void test_key_trust_matrix(void **state)
{
    (void)state;
    refbus_directory *d = load_matrix();
    int checked = 0;
    for (size_t i = 0; i < refbus_directory_agency_count(d); i++) {
        const char *id = refbus_directory_agency_id(d, i);
        size_t nk = refbus_directory_agency_key_count(d, i);
        for (size_t k = 0; k < nk; k++) {
            const refbus_dir_key *key = refbus_directory_agency_key_at(d, i, k);
            int later_revoked = 0;
            for (size_t j = k + 1; j < nk; j++)
                later_revoked |=
                    refbus_directory_agency_key_at(d, i, j)->status == REFBUS_KEY_REVOKED;
            for (size_t p = 0; p < sizeof purposes / sizeof purposes[0]; p++) {
                const refbus_dir_key *out = NULL;
                const char *who = NULL;
                uint32_t ep = 0;
                int want = expected(key->status, later_revoked, purposes[p]);
                int rc = refbus_directory_key_trust(d, id, key->epoch, purposes[p], &out);
                if (rc != want)
                    fail_msg("%s epoch %u (%s) for %s: got %s, want %s", id, key->epoch,
                             refbus_key_status_name(key->status),
                             refbus_key_purpose_name(purposes[p]), refbus_errname(rc),
                             refbus_errname(want));
                if (rc == 0)
                    assert_ptr_equal(out, key);
                else
                    assert_null(out);
                /* the transport lookup applies the very same rule */
                rc = refbus_directory_curve_trust(d, key->curve_pk, purposes[p], &who, &ep);
                assert_int_equal(rc, want);
                if (rc == 0) {
                    assert_string_equal(who, id);
                    assert_int_equal(ep, key->epoch);
                }
                checked++;
            }
        }
    }
    assert_int_equal(checked, (4 + 2 + 3) * 5);
    /* Spot checks that say the rule in words. */
    assert_int_equal(refbus_directory_key_trust(d, "a.cm", 1, REFBUS_KEY_READ, NULL),
                     REFBUS_EREVOKED); /* retired, but below the revoked epoch 2 */
    assert_int_equal(refbus_directory_key_trust(d, "a.cm", 3, REFBUS_KEY_READ, NULL), 0);
    assert_int_equal(refbus_directory_key_trust(d, "a.cm", 3, REFBUS_KEY_SESSION, NULL),
                     REFBUS_ERETIRED);
    assert_int_equal(refbus_directory_key_trust(d, "a.cm", 4, REFBUS_KEY_RECEIPT, NULL), 0);
    assert_int_equal(refbus_directory_key_trust(d, "c.cm", 1, REFBUS_KEY_FETCH_DIRECTORY, NULL),
                     REFBUS_EREVOKED);
    /* The broker's epochs follow the same rule (its receipts and checkpoints). */
    assert_int_equal(refbus_directory_key_trust(d, "broker.cm", 1, REFBUS_KEY_READ, NULL), 0);
    assert_int_equal(refbus_directory_key_trust(d, "broker.cm", 1, REFBUS_KEY_RECEIPT, NULL),
                     REFBUS_ERETIRED);
    assert_int_equal(refbus_directory_key_trust(d, "broker.cm", 2, REFBUS_KEY_RECEIPT, NULL), 0);
    assert_int_equal(refbus_directory_key_trust(d, "broker.cm", 3, REFBUS_KEY_READ, NULL),
                     REFBUS_ENOTFOUND);
    /* Unknown names and epochs, bad arguments. */
    assert_int_equal(refbus_directory_key_trust(d, "nobody", 1, REFBUS_KEY_READ, NULL),
                     REFBUS_EUNKNOWNAGENCY);
    assert_int_equal(refbus_directory_key_trust(d, "b.cm", 0, REFBUS_KEY_READ, NULL),
                     REFBUS_ENOTFOUND);
    assert_int_equal(refbus_directory_key_trust(d, "b.cm", 9, REFBUS_KEY_READ, NULL),
                     REFBUS_ENOTFOUND);
    assert_int_equal(refbus_directory_key_trust(d, "b.cm", 2, (enum refbus_key_purpose)0, NULL),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_directory_key_trust(d, "b.cm", 2, (enum refbus_key_purpose)99, NULL),
                     REFBUS_EINVAL);
    assert_int_equal(refbus_directory_key_trust(d, NULL, 2, REFBUS_KEY_READ, NULL), REFBUS_EINVAL);
    assert_int_equal(refbus_directory_key_trust(NULL, "b.cm", 2, REFBUS_KEY_READ, NULL),
                     REFBUS_EINVAL);
    assert_string_equal(refbus_directory_revocation(d, "a.cm", 1), "device stolen");
    assert_null(refbus_directory_revocation(d, "a.cm", 3));
    assert_null(refbus_directory_revocation(d, "b.cm", 1));
    assert_string_equal(refbus_key_purpose_name(REFBUS_KEY_FETCH_DIRECTORY), "fetch-directory");
    assert_string_equal(refbus_key_purpose_name((enum refbus_key_purpose)99), "unknown");
    refbus_directory_free(&d);
}

static void test_broker(void **state)
{
    (void)state;
    refbus_directory *d = load_sample(1);
    refbus_dir_key k;
    const refbus_dir_key *bk = NULL;
    kt_dir_key(&k, 0x10, 1, REFBUS_KEY_ACTIVE, NULL);
    assert_memory_equal(refbus_directory_broker_sign_pk(d), k.sign_pk, 32);
    assert_memory_equal(refbus_directory_broker_curve_pk(d), k.curve_pk, 32);
    assert_int_equal(refbus_directory_broker_key(d, 1, &bk), 0);
    assert_int_equal(bk->epoch, 1);
    assert_int_equal(refbus_directory_broker_key(d, 2, &bk), REFBUS_ENOTFOUND);
    assert_int_equal(refbus_directory_broker_key_count(d), 1);
    refbus_directory_free(&d);

    /* No broker enrolled: NULLs, and the broker's epochs are unknown. */
    refbus_dd dd;
    uint8_t *b = NULL;
    size_t n = 0;
    kt_sample(&dd, 1);
    refbus_dd_agency_clear(&dd.broker);
    for (size_t i = 0; i < dd.n_endpoints; i++)
        free(dd.endpoints[i]);
    dd.n_endpoints = 0;
    dd.has_broker = 0;
    kt_sign_dd(&b, &n, &dd, root_sk);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), 0);
    assert_null(refbus_directory_broker_id(d));
    assert_null(refbus_directory_broker_sign_pk(d));
    assert_null(refbus_directory_broker_curve_pk(d));
    assert_int_equal(refbus_directory_broker_key(d, 1, &bk), REFBUS_EUNKNOWNPEER);
    refbus_directory_free(&d);
    refbus_dd_clear(&dd);
    free(b);
}

static refbus_directory *with_rules(const char *const (*rules)[3], size_t n)
{
    refbus_dd dd;
    uint8_t *b = NULL;
    size_t len = 0;
    refbus_directory *d = NULL;
    kt_sample(&dd, 1);
    free(dd.rules);
    dd.rules = calloc(n + 1, sizeof *dd.rules);
    dd.n_rules = n;
    for (size_t i = 0; i < n; i++) {
        strcpy(dd.rules[i].from, rules[i][0]);
        strcpy(dd.rules[i].to, rules[i][1]);
        dd.rules[i].allow = strcmp(rules[i][2], "allow") == 0;
    }
    kt_sign_dd(&b, &len, &dd, root_sk);
    assert_int_equal(refbus_directory_load(&d, b, len, root_pk, NULL), 0);
    refbus_dd_clear(&dd);
    free(b);
    return d;
}

static void test_policy(void **state)
{
    (void)state;
    /* The sample: allow * -> *, deny ngo.hots -> police.cm. */
    refbus_directory *d = load_sample(1);
    assert_int_equal(refbus_directory_allowed(d, "cac.cm", "police.cm"), 1);
    assert_int_equal(refbus_directory_allowed(d, "ngo.hots", "police.cm"), 0); /* deny wins */
    assert_int_equal(refbus_directory_allowed(d, "ngo.hots", "cac.cm"), 1);
    assert_int_equal(refbus_directory_allowed(d, "police.cm", "ngo.hots"), 1);
    assert_int_equal(refbus_directory_allowed(d, "nobody", "cac.cm"), 0); /* unknown: never */
    assert_int_equal(refbus_directory_allowed(d, "cac.cm", "nobody"), 0);
    assert_int_equal(refbus_directory_allowed(d, "cac.cm", "*"), 0);
    assert_int_equal(refbus_directory_policy_count(d), 2);
    const char *from, *to;
    int allow;
    refbus_directory_policy_rule(d, 1, &from, &to, &allow);
    assert_string_equal(from, "ngo.hots");
    assert_string_equal(to, "police.cm");
    assert_int_equal(allow, 0);
    refbus_directory_free(&d);

    /* No rules: default deny. */
    d = with_rules(NULL, 0);
    assert_int_equal(refbus_directory_allowed(d, "cac.cm", "police.cm"), 0);
    refbus_directory_free(&d);

    /* Specific allows; a wildcard deny on a recipient beats them all. */
    static const char *const r1[][3] = {{"cac.cm", "police.cm", "allow"},
                                        {"ngo.hots", "*", "allow"},
                                        {"*", "ngo.hots", "deny"}};
    d = with_rules(r1, 3);
    assert_int_equal(refbus_directory_allowed(d, "cac.cm", "police.cm"), 1);
    assert_int_equal(refbus_directory_allowed(d, "police.cm", "cac.cm"), 0); /* not allowed */
    assert_int_equal(refbus_directory_allowed(d, "ngo.hots", "cac.cm"), 1);
    assert_int_equal(refbus_directory_allowed(d, "ngo.hots", "police.cm"), 1);
    assert_int_equal(refbus_directory_allowed(d, "cac.cm", "ngo.hots"), 0);
    assert_int_equal(refbus_directory_allowed(d, "ngo.hots", "ngo.hots"), 0);
    refbus_directory_free(&d);
}

static void test_every_byte_flipped(void **state)
{
    (void)state;
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_directory *d = NULL;
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    sample_signed(&b, &n, 3);
    for (size_t i = 0; i < n; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            b[i] ^= masks[m];
            int rc = refbus_directory_load(&d, b, n, root_pk, NULL);
            if (rc == 0)
                fail_msg("byte %zu ^ 0x%02x accepted", i, masks[m]);
            assert_null(d);
            assert_true(rc == REFBUS_EBADSIG || rc == REFBUS_EMALFORMED);
            b[i] ^= masks[m];
        }
    /* Truncated at every length, or with a byte appended. */
    for (size_t len = 0; len < n; len++)
        assert_int_not_equal(refbus_directory_load(&d, b, len, root_pk, NULL), 0);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    assert_int_equal(refbus_directory_load(&d, longer, n + 1, root_pk, NULL), REFBUS_EMALFORMED);
    free(longer);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), 0); /* intact: fine */
    refbus_directory_free(&d);
    free(b);
}

static void test_wrong_root_and_domain(void **state)
{
    (void)state;
    uint8_t opk[32], osk[64], *b = NULL, *dir = NULL, sig[64], *raw = NULL;
    size_t n = 0, dir_len = 0, raw_len = 0;
    refbus_directory *d = NULL;
    refbus_dd dd;
    kt_other_root(opk, osk);
    sample_signed(&b, &n, 3);
    assert_int_equal(refbus_directory_load(&d, b, n, opk, NULL), REFBUS_EBADSIG);
    free(b);
    /* Signed by another root that the directory does not name: refused by ours... */
    kt_sample(&dd, 3);
    kt_sign_dd(&b, &n, &dd, osk);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), REFBUS_EBADSIG);
    /* ...and by that root too, since the directory names ours as its signer. */
    assert_int_equal(refbus_directory_load(&d, b, n, opk, NULL), REFBUS_EBADSIG);
    free(b);
    /* The right key over the bytes without the domain string, or with another domain. */
    assert_int_equal(refbus_dd_encode(&dd, &dir, &dir_len), 0);
    crypto_sign_detached(sig, NULL, dir, dir_len, root_sk);
    assert_int_equal(refbus_dd_join_signed(&b, &n, dir, dir_len, sig), 0);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), REFBUS_EBADSIG);
    free(b);
    const char *dom = "refbus/v1/envelope-signature";
    raw_len = strlen(dom) + 4 + dir_len;
    raw = malloc(raw_len);
    memcpy(raw, dom, strlen(dom));
    raw[strlen(dom)] = (uint8_t)(dir_len >> 24);
    raw[strlen(dom) + 1] = (uint8_t)(dir_len >> 16);
    raw[strlen(dom) + 2] = (uint8_t)(dir_len >> 8);
    raw[strlen(dom) + 3] = (uint8_t)dir_len;
    memcpy(raw + strlen(dom) + 4, dir, dir_len);
    crypto_sign_detached(sig, NULL, raw, raw_len, root_sk);
    assert_int_equal(refbus_dd_join_signed(&b, &n, dir, dir_len, sig), 0);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), REFBUS_EBADSIG);
    free(b);
    free(raw);
    free(dir);
    refbus_dd_clear(&dd);
    assert_int_equal(refbus_directory_load(&d, NULL, 0, root_pk, NULL), REFBUS_EMALFORMED);
    assert_int_equal(refbus_directory_load(&d, (const uint8_t *)"x", 1, NULL, NULL), REFBUS_EINVAL);
    assert_int_equal(refbus_directory_load_file(&d, "/nonexistent/dir.signed", root_pk, NULL),
                     REFBUS_ENOTFOUND);
}

static void test_rollback(void **state)
{
    (void)state;
    uint8_t *b = NULL;
    size_t n = 0;
    refbus_directory *d = NULL;
    uint64_t trusted;
    sample_signed(&b, &n, 7);
    trusted = 7; /* equal: a replay */
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, &trusted), REFBUS_EROLLBACK);
    trusted = 8; /* older */
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, &trusted), REFBUS_EROLLBACK);
    trusted = UINT64_MAX;
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, &trusted), REFBUS_EROLLBACK);
    assert_null(d);
    trusted = 6;
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, &trusted), 0);
    refbus_directory_free(&d);
    trusted = 0;
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, &trusted), 0);
    refbus_directory_free(&d);
    /* The signature is checked before the serial: a forgery is a forgery. */
    uint8_t opk[32], osk[64];
    kt_other_root(opk, osk);
    trusted = 9;
    assert_int_equal(refbus_directory_load(&d, b, n, opk, &trusted), REFBUS_EBADSIG);
    free(b);
}

/* Root-signed contents that break a rule: refused all the same, with the right code. */
static void test_rules_enforced(void **state)
{
    (void)state;
    refbus_dd d;
#define CASE(expect, mutate)                                                                       \
    do {                                                                                           \
        kt_sample(&d, 2);                                                                          \
        mutate;                                                                                    \
        int rc_ = load_dd(&d);                                                                     \
        if (rc_ != (expect))                                                                       \
            fail_msg("%s: got %s, want %s", #mutate, refbus_errname(rc_), refbus_errname(expect)); \
        refbus_dd_clear(&d);                                                                       \
    } while (0)
    CASE(0, (void)0);
    CASE(REFBUS_EVERSION, d.version = 2);
    CASE(REFBUS_EVERSION, d.version = 0);
    CASE(REFBUS_EBADID, strcpy(d.agencies[0].id, "CAC.cm"));
    CASE(REFBUS_EBADID, strcpy(d.agencies[0].id, "cac_cm"));
    CASE(REFBUS_EBADID, strcpy(d.agencies[0].id, ""));
    CASE(REFBUS_EBADID, strcpy(d.broker.id, "Broker"));
    CASE(REFBUS_EMALFORMED, strcpy(d.agencies[0].id, "zzz"));    /* unsorted */
    CASE(REFBUS_EMALFORMED, strcpy(d.agencies[1].id, "cac.cm")); /* duplicate */
    CASE(REFBUS_EMALFORMED, strcpy(d.broker.id, "cac.cm"));      /* broker = an agency */
    CASE(REFBUS_EMALFORMED, d.agencies[0].kind = 0);
    CASE(REFBUS_EMALFORMED, d.agencies[0].kind = 8);
    CASE(REFBUS_EMALFORMED, (free(d.agencies[0].name), d.agencies[0].name = strdup("")));
    CASE(REFBUS_EMALFORMED, (free(d.agencies[0].name), d.agencies[0].name = strdup("a\nb")));
    CASE(REFBUS_EMALFORMED, (free(d.agencies[0].name), d.agencies[0].name = strdup("a\xff")));
    CASE(REFBUS_EMALFORMED,
         (free(d.agencies[0].name), d.agencies[0].name = strdup("\xc0\xafoverlong")));
    CASE(REFBUS_EMALFORMED,
         (free(d.agencies[0].name), d.agencies[0].name = strdup("bidi \xe2\x80\xae trick")));
    CASE(REFBUS_EMALFORMED, (free(d.agencies[0].name), d.agencies[0].name = calloc(1, 300),
                             memset(d.agencies[0].name, 'a', 257)));
    CASE(0, (free(d.agencies[0].name), d.agencies[0].name = calloc(1, 300),
             memset(d.agencies[0].name, 'a', 256)));
    CASE(REFBUS_EMALFORMED, d.agencies[0].keys[0].status = REFBUS_KEY_ACTIVE); /* two active */
    CASE(REFBUS_EMALFORMED, (d.agencies[0].keys[0].status = REFBUS_KEY_ACTIVE,
                             d.agencies[0].keys[1].status = REFBUS_KEY_RETIRED));
    CASE(REFBUS_EMALFORMED, d.agencies[0].keys[1].status = (enum refbus_key_status)3);
    CASE(REFBUS_EMALFORMED, d.agencies[0].keys[1].epoch = 1); /* not ascending */
    CASE(REFBUS_EMALFORMED, d.agencies[0].keys[0].epoch = 0);
    CASE(REFBUS_EMALFORMED, d.agencies[0].n_keys = 0);
    CASE(REFBUS_EMALFORMED, d.agencies[2].keys[0].revoked_reason[0] = 0); /* no reason */
    CASE(REFBUS_EMALFORMED, strcpy(d.agencies[0].keys[0].revoked_reason, "retired, why?"));
    CASE(REFBUS_EMALFORMED, memcpy(d.agencies[1].keys[0].curve_pk, d.agencies[0].keys[0].curve_pk,
                                   32)); /* shared CURVE key */
    CASE(REFBUS_EMALFORMED, memcpy(d.broker.keys[0].sign_pk, d.agencies[0].keys[1].sign_pk, 32));
    CASE(REFBUS_EKEYFORMAT, memset(d.agencies[0].keys[1].sign_pk, 0, 32)); /* not a point */
    CASE(REFBUS_EKEYFORMAT, memset(d.agencies[0].keys[1].curve_pk, 0, 32));
    CASE(REFBUS_EKEYFORMAT, memset(d.root_pk, 0, 32));
    CASE(REFBUS_EBADSIG, memcpy(d.root_pk, other_pk, 32)); /* names another signer */
    CASE(0, d.has_root_pk = 0);
    CASE(REFBUS_EMALFORMED, strcpy(d.rules[1].to, "nobody")); /* rule for an unknown agency */
    CASE(REFBUS_EBADID, strcpy(d.rules[1].to, "No Body"));
    CASE(REFBUS_EBADID, strcpy(d.rules[1].from, "**"));
    CASE(REFBUS_EMALFORMED, (free(d.endpoints[0]), d.endpoints[0] = strdup("tcp://a b")));
    CASE(REFBUS_EMALFORMED, (free(d.endpoints[0]), d.endpoints[0] = strdup("")));
    CASE(REFBUS_EMALFORMED, d.broker.n_keys = 0);
#undef CASE
}

/* Mutations below the C model: protobuf fields of the wrong size, non-canonical encodings. */
static int load_proto(void (*mutate)(Refbus__V1__Directory *m), const uint8_t *extra,
                      size_t extra_len)
{
    refbus_dd dd;
    uint8_t *dir = NULL, *b = NULL, *buf;
    size_t dir_len = 0, n = 0;
    refbus_directory *d = NULL;
    kt_sample(&dd, 4);
    assert_int_equal(refbus_dd_encode(&dd, &dir, &dir_len), 0);
    refbus_dd_clear(&dd);
    Refbus__V1__Directory *m = refbus__v1__directory__unpack(NULL, dir_len, dir);
    assert_non_null(m);
    if (mutate)
        mutate(m);
    size_t len = refbus__v1__directory__get_packed_size(m);
    buf = malloc(len + extra_len);
    refbus__v1__directory__pack(m, buf);
    if (extra_len)
        memcpy(buf + len, extra, extra_len);
    kt_sign_bytes(&b, &n, buf, len + extra_len, root_sk);
    int rc = refbus_directory_load(&d, b, n, root_pk, NULL);
    refbus_directory_free(&d);
    refbus__v1__directory__free_unpacked(m, NULL);
    free(buf);
    free(b);
    free(dir);
    return rc;
}

static void short_sign_pk(Refbus__V1__Directory *m)
{
    m->agencies[0]->keys[0]->sign_pk.len = 31;
}
static void empty_curve_pk(Refbus__V1__Directory *m)
{
    m->agencies[1]->keys[0]->curve_pk.len = 0;
}
static void set_first_id(Refbus__V1__Directory *m, size_t n)
{
    free(m->agencies[0]->id);
    m->agencies[0]->id = calloc(1, n + 1);
    memset(m->agencies[0]->id, 'a', n);
    m->agencies[0]->id[0] = 'c';
}
static void id_64(Refbus__V1__Directory *m)
{
    set_first_id(m, 64);
}
static void id_65(Refbus__V1__Directory *m)
{
    set_first_id(m, 65);
}
static void root_pk_16(Refbus__V1__Directory *m)
{
    m->root_pk.len = 16;
}
static void enum_kind_99(Refbus__V1__Directory *m)
{
    m->agencies[0]->kind = (Refbus__V1__AgencyKind)99;
}

static void test_proto_level(void **state)
{
    (void)state;
    assert_int_equal(load_proto(NULL, NULL, 0), 0);
    assert_int_equal(load_proto(short_sign_pk, NULL, 0), REFBUS_EKEYFORMAT);
    assert_int_equal(load_proto(empty_curve_pk, NULL, 0), REFBUS_EKEYFORMAT);
    assert_int_equal(load_proto(id_64, NULL, 0), 0); /* the longest id */
    assert_int_equal(load_proto(id_65, NULL, 0), REFBUS_EBADID);
    assert_int_equal(load_proto(root_pk_16, NULL, 0), REFBUS_EKEYFORMAT);
    assert_int_equal(load_proto(enum_kind_99, NULL, 0), REFBUS_EMALFORMED);
    /* serial (field 2) again at the end: a second encoding of other contents. */
    static const uint8_t dup_serial[] = {0x10, 0x09};
    assert_int_equal(load_proto(NULL, dup_serial, sizeof dup_serial), REFBUS_EMALFORMED);
    /* a non-minimal tag for a field number we do not know: not canonical. */
    static const uint8_t padded[] = {0xf8, 0x86, 0x00, 0x01};
    assert_int_equal(load_proto(NULL, padded, sizeof padded), REFBUS_EMALFORMED);
    /* A new field (number 111) from a newer tool: signed by the root, so readers ignore it. */
    static const uint8_t unknown[] = {0xf8, 0x06, 0x01};
    assert_int_equal(load_proto(NULL, unknown, sizeof unknown), 0);
    /* garbage that is not protobuf at all */
    static const uint8_t junk[] = {0xff, 0xff, 0xff};
    assert_int_equal(load_proto(NULL, junk, sizeof junk), REFBUS_EMALFORMED);
}

/* The re-anchor statement (field 8): read back as signed; its rules enforced; a root of the
 * wrong length refused; absent means none. */
static void reanchor_root_16(Refbus__V1__Directory *m)
{
    /* malloc'd: load_proto frees m with free_unpacked */
    Refbus__V1__Reanchor *ra = malloc(sizeof *ra);
    assert_non_null(ra);
    refbus__v1__reanchor__init(ra);
    ra->size = 5;
    ra->root.data = calloc(1, 16);
    ra->root.len = 16;
    ra->reason = strdup("restore");
    m->reanchor = ra;
}

static void test_reanchor(void **state)
{
    (void)state;
    refbus_dd d;
    refbus_directory *dir = load_sample(3);
    assert_null(refbus_directory_reanchor(dir));
    refbus_directory_free(&dir);
    kt_sample(&d, 3);
    d.has_reanchor = 1;
    d.reanchor.size = 48213;
    memset(d.reanchor.root, 0xab, 32);
    d.reanchor.time_ms = 1700000000000ull;
    strcpy(d.reanchor.reason, "ศูนย์ restored from the backup of 2025-03-14");
    uint8_t *b = NULL;
    size_t n = 0;
    kt_sign_dd(&b, &n, &d, root_sk);
    assert_int_equal(refbus_directory_load(&dir, b, n, root_pk, NULL), 0);
    const refbus_dir_reanchor *ra = refbus_directory_reanchor(dir);
    assert_non_null(ra);
    assert_int_equal(ra->size, 48213);
    assert_memory_equal(ra->root, d.reanchor.root, 32);
    assert_int_equal(ra->time_ms, 1700000000000ull);
    assert_string_equal(ra->reason, d.reanchor.reason);
    refbus_directory_free(&dir);
    /* signed by another key: refused like any directory */
    free(b);
    kt_sign_dd(&b, &n, &d, other_sk);
    assert_int_equal(refbus_directory_load(&dir, b, n, root_pk, NULL), REFBUS_EBADSIG);
    free(b);
    d.reanchor.size = 0;
    assert_int_equal(load_dd(&d), REFBUS_EMALFORMED);
    d.reanchor.size = 1;
    d.reanchor.reason[0] = 0;
    assert_int_equal(load_dd(&d), REFBUS_EMALFORMED);
    strcpy(d.reanchor.reason, "line\nbreak");
    assert_int_equal(load_dd(&d), REFBUS_EMALFORMED);
    refbus_dd_clear(&d);
    assert_int_equal(load_proto(reanchor_root_16, NULL, 0), REFBUS_EMALFORMED);
}

static void test_outer_frame(void **state)
{
    (void)state;
    uint8_t *b = NULL, *dir = NULL;
    size_t n = 0, dir_len = 0;
    refbus_directory *d = NULL;
    refbus_dd dd;
    kt_sample(&dd, 4);
    assert_int_equal(refbus_dd_encode(&dd, &dir, &dir_len), 0);
    refbus_dd_clear(&dd);
    kt_sign_bytes(&b, &n, dir, dir_len, root_sk);
    /* A signature field of 63 bytes: the frame is 0x0a len dir 0x12 0x40 sig. */
    b[n - 65] = 0x3f;
    assert_int_equal(refbus_directory_load(&d, b, n - 1, root_pk, NULL), REFBUS_EMALFORMED);
    /* Unknown field after the signature: nothing unsigned may ride along. */
    b[n - 65] = 0x40;
    uint8_t *more = malloc(n + 3);
    memcpy(more, b, n);
    more[n] = 0x18, more[n + 1] = 0x01;
    assert_int_equal(refbus_directory_load(&d, more, n + 2, root_pk, NULL), REFBUS_EMALFORMED);
    assert_int_equal(refbus_directory_load(&d, b, n, root_pk, NULL), 0);
    refbus_directory_free(&d);
    free(more);
    free(b);
    free(dir);
}

static void test_key_id_vector(void **state)
{
    (void)state;
    uint8_t pk[32];
    char id[REFBUS_KEY_ID_HEX];
    for (int i = 0; i < 32; i++)
        pk[i] = (uint8_t)i;
    refbus_key_id(id, pk); /* BLAKE2b-256("refbus/v1/key-id" || pk)[0..8], by Python hashlib */
    assert_string_equal(id, "bfa968514d364bc2");
    memset(pk, 0xff, sizeof pk);
    refbus_key_id(id, pk);
    assert_string_equal(id, "72eaa585fa626136");
}

/* The sample at serial 7 signed by the test root, byte for byte. The signature was checked
 * independently (Python `cryptography` Ed25519 over "refbus/v1/directory-signature" ||
 * u32be(len) || directory): docs/KEYS-FORMAT.md section 2. */
static void test_signed_vector(void **state)
{
    (void)state;
    uint8_t *b = NULL, h[32];
    size_t n = 0;
    char hex[129];
    sample_signed(&b, &n, 7);
    crypto_generichash(h, sizeof h, b, n, NULL, 0);
    refbus_hex(hex, h, 32);
    assert_int_equal(n, KT_VECTOR_LEN);
    assert_string_equal(hex, KT_VECTOR_BLAKE2B);
    refbus_hex(hex, b + n - 64, 64);
    assert_string_equal(hex, KT_VECTOR_SIG);
    free(b);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(refbus_agency_kind_name(REFBUS_AGENCY_CAC), "cac");
    assert_string_equal(refbus_agency_kind_name(REFBUS_AGENCY_OTHER), "other");
    assert_null(refbus_agency_kind_name((enum refbus_agency_kind)0));
    assert_null(refbus_agency_kind_name((enum refbus_agency_kind)8));
    assert_int_equal(refbus_agency_kind_parse("welfare"), REFBUS_AGENCY_WELFARE);
    assert_int_equal(refbus_agency_kind_parse("WELFARE"), 0);
    assert_int_equal(refbus_agency_kind_parse(NULL), 0);
    assert_string_equal(refbus_key_status_name(REFBUS_KEY_REVOKED), "revoked");
    assert_true(refbus_dd_text_valid(kt_thai_name, 256));
    assert_true(refbus_dd_text_valid("ဗမာစာ", 256));             /* Burmese */
    assert_false(refbus_dd_text_valid("\xed\xa0\x80", 256));     /* a surrogate */
    assert_false(refbus_dd_text_valid("\xe0\xb8", 256));         /* truncated */
    assert_false(refbus_dd_text_valid("\xc2\x85", 256));         /* C1 control (NEL) */
    assert_false(refbus_dd_text_valid("\xf4\x90\x80\x80", 256)); /* above U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_read),
        cmocka_unit_test(test_key_status),
        cmocka_unit_test(test_find_curve),
        cmocka_unit_test(test_broker),
        cmocka_unit_test(test_key_trust_matrix),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_every_byte_flipped),
        cmocka_unit_test(test_wrong_root_and_domain),
        cmocka_unit_test(test_rollback),
        cmocka_unit_test(test_rules_enforced),
        cmocka_unit_test(test_proto_level),
        cmocka_unit_test(test_outer_frame),
        cmocka_unit_test(test_key_id_vector),
        cmocka_unit_test(test_signed_vector),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_reanchor),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
