/* The administrators' library (what refbus-keys runs): init, enrol, rotate, revoke, policy,
 * sign; every refused change (wrong passphrase, stale or foreign bundle, taken id or path, bad
 * input) leaves every file as it was; racing enrolments for one id: exactly one wins and nothing
 * is clobbered; concurrent edits are never lost; a serial is never signed twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "keys/admin.h"
#include "keys_testutil.h"
#include "proto/envelope.h"

static const char RP[] = "root passphrase for tests";
static const char BP[] = "bundle passphrase";
static refbus_kdf MIN;

typedef struct fixture {
    char *tmp; /* everything lives under here */
    char *adm; /* tmp/adm */
    uint8_t root_pk[32];
} fixture;

static char *join(const char *a, const char *b)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", a, b) < 0)
        abort();
    return p;
}

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    MIN.opslimit = crypto_pwhash_OPSLIMIT_MIN;
    MIN.memlimit = crypto_pwhash_MEMLIMIT_MIN;
    fixture *f = calloc(1, sizeof *f);
    f->tmp = kt_tmpdir();
    f->adm = join(f->tmp, "adm");
    if (refbus_admin_init(f->adm, RP, strlen(RP), &MIN, f->root_pk) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kt_rmrf(f->tmp);
    free(f->adm);
    free(f->tmp);
    free(f);
    return 0;
}

/* A digest of every file under `dir` (path, mode, contents), order-independent. */
static char *lines;
static size_t lines_len;
static int add_line(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    uint8_t h[32] = {0};
    char hex[65], *line = NULL;
    size_t n = 0;
    if (flag == FTW_F) {
        uint8_t *b = kt_slurp(path, &n);
        crypto_generichash(h, sizeof h, b, n, NULL, 0);
        free(b);
    }
    refbus_hex(hex, h, 32);
    int len = asprintf(&line, "%s %o %s\n", path, (unsigned)(st->st_mode & 07777), hex);
    lines = realloc(lines, lines_len + (size_t)len + 1);
    memcpy(lines + lines_len, line, (size_t)len + 1);
    lines_len += (size_t)len;
    free(line);
    return 0;
}
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static char *tree(const char *dir)
{
    lines = NULL;
    lines_len = 0;
    nftw(dir, add_line, 16, FTW_PHYS);
    /* sort the lines */
    size_t n = 0;
    char *v[512];
    for (char *s = strtok(lines, "\n"); s && n < 512; s = strtok(NULL, "\n"))
        v[n++] = s;
    qsort(v, n, sizeof *v, cmp_str);
    char *out = calloc(1, lines_len + 2);
    for (size_t i = 0; i < n; i++) {
        strcat(out, v[i]);
        strcat(out, "\n");
    }
    free(lines);
    return out;
}

static refbus_admin *open_admin(const fixture *f)
{
    refbus_admin *a = NULL;
    assert_int_equal(refbus_admin_open(&a, f->adm), 0);
    return a;
}

static void add(refbus_admin *a, const fixture *f, const char *id, const char *name,
                enum refbus_agency_kind kind)
{
    char *b = join(f->tmp, id);
    assert_int_equal(refbus_admin_agency_add(a, id, name, kind, b, BP, strlen(BP), &MIN), 0);
    free(b);
}

static refbus_directory *signed_dir(const fixture *f, uint64_t expect_serial)
{
    refbus_directory *d = NULL;
    char *p = join(f->adm, "directory.signed");
    assert_int_equal(refbus_directory_load_file(&d, p, f->root_pk, NULL), 0);
    assert_int_equal(refbus_directory_serial(d), expect_serial);
    free(p);
    return d;
}

static mode_t mode_of(const char *dir, const char *name)
{
    struct stat st;
    char *p = join(dir, name);
    assert_int_equal(stat(p, &st), 0);
    free(p);
    return st.st_mode & 07777;
}

static void test_init(void **state)
{
    fixture *f = *state;
    uint8_t pk[32];
    assert_int_equal(mode_of(f->tmp, "adm"), 0700);
    assert_int_equal(mode_of(f->adm, "root.key"), 0600);
    assert_int_equal(mode_of(f->adm, "state.pb"), 0600);
    assert_int_equal(mode_of(f->adm, "root.pub"), 0644);
    assert_int_equal(refbus_admin_read_root_pub(f->adm, pk), 0);
    assert_memory_equal(pk, f->root_pk, 32);
    refbus_directory *d = signed_dir(f, 0); /* the empty directory at serial 0 */
    assert_int_equal(refbus_directory_agency_count(d), 0);
    refbus_directory_free(&d);
    /* A second init changes nothing. */
    char *before = tree(f->adm);
    assert_int_equal(refbus_admin_init(f->adm, "other", 5, &MIN, pk), REFBUS_EEXIST);
    char *after = tree(f->adm);
    assert_string_equal(before, after);
    free(before);
    free(after);
    char *fresh = join(f->tmp, "fresh");
    assert_int_equal(refbus_admin_init(fresh, "", 0, &MIN, pk), REFBUS_EINVAL);
    refbus_admin *a = NULL;
    char *none = join(f->tmp, "none");
    assert_int_equal(refbus_admin_open(&a, none), REFBUS_ENOTFOUND);
    assert_int_equal(access(none, F_OK), -1); /* no lock file made where nothing was */
    free(none);
    free(fresh);
}

static uint8_t *seal_to(const refbus_dir_key *k, const char *id, const char *msg, size_t *len,
                        const uint8_t ssk[64])
{
    refbus_recipient r = {id, k->epoch, k->enc_pk};
    refbus_seal_params sp = {.sender = "police.cm",
                             .sender_epoch = 1,
                             .sign_sk = ssk,
                             .recipients = &r,
                             .n_recipients = 1,
                             .kind = REFBUS_KIND_REFERRAL,
                             .created_ms = 1700000000000ull,
                             .expires_ms = 1900000000000ull};
    uint8_t *env = NULL;
    assert_int_equal(refbus_envelope_seal(&env, len, &sp, msg, strlen(msg)), 0);
    return env;
}

static void test_whole_flow(void **state)
{
    fixture *f = *state;
    refbus_admin *a = open_admin(f);
    const char *eps[] = {"tcp://127.0.0.1:7700"};
    char *bb = join(f->tmp, "broker.bundle"), *out = join(f->tmp, "dir.signed");
    add(a, f, "cac.cm", "Chiang Mai Children Advocacy Center", REFBUS_AGENCY_CAC);
    add(a, f, "police.cm", "Chiang Mai Provincial Police", REFBUS_AGENCY_POLICE);
    add(a, f, "welfare.cm", "Provincial Social Development and Human Security Office",
        REFBUS_AGENCY_WELFARE);
    add(a, f, "ngo.fcd", kt_thai_name, REFBUS_AGENCY_NGO);
    assert_int_equal(refbus_admin_broker_add(a, "broker.cm", eps, 1, bb, BP, strlen(BP), &MIN), 0);
    assert_int_equal(refbus_admin_policy(a, "*", "cac.cm", REFBUS_POLICY_ALLOW), 0);
    assert_int_equal(refbus_admin_policy(a, "cac.cm", "*", REFBUS_POLICY_ALLOW), 0);
    assert_int_equal(refbus_admin_policy(a, "ngo.fcd", "police.cm", REFBUS_POLICY_ALLOW), 0);
    uint64_t serial = 0;
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), out, &serial), 0);
    assert_int_equal(serial, 1);
    assert_int_equal(mode_of(f->tmp, "dir.signed"), 0644);
    assert_int_equal(mode_of(f->tmp, "cac.cm"), 0600);
    assert_int_equal(mode_of(f->tmp, "broker.bundle"), 0600);

    /* Rotate cac.cm twice, revoke police.cm, sign again. */
    char *c1 = join(f->tmp, "cac.cm"), *c2 = join(f->tmp, "cac2"), *c3 = join(f->tmp, "cac3");
    uint32_t epoch = 0;
    assert_int_equal(refbus_admin_rotate(a, "cac.cm", c1, BP, strlen(BP), c2, BP, strlen(BP), &MIN,
                                         &epoch),
                     0);
    assert_int_equal(epoch, 2);
    assert_int_equal(refbus_admin_rotate(a, "cac.cm", c2, BP, strlen(BP), c3, "new", 3, &MIN,
                                         &epoch),
                     0);
    assert_int_equal(epoch, 3);
    unsigned n = 0;
    assert_int_equal(refbus_admin_revoke(a, "police.cm", 0, 0, "laptop stolen 2025-03-01", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), NULL, &serial), 0);
    assert_int_equal(serial, 2);
    refbus_admin_close(&a);

    refbus_directory *d = signed_dir(f, 2);
    const refbus_dir_key *k = NULL;
    size_t i = 0;
    assert_int_equal(refbus_directory_agency_index(d, "ngo.fcd", &i), 0);
    assert_string_equal(refbus_directory_agency_name(d, i), kt_thai_name);
    assert_int_equal(refbus_directory_key_trust(d, "cac.cm", 1, REFBUS_KEY_SEND, &k),
                     REFBUS_ERETIRED);
    assert_int_equal(refbus_directory_key_trust(d, "cac.cm", 2, REFBUS_KEY_SEND, &k),
                     REFBUS_ERETIRED);
    assert_int_equal(refbus_directory_key_trust(d, "cac.cm", 3, REFBUS_KEY_SEND, &k), 0);
    assert_int_equal(refbus_directory_key_trust(d, "police.cm", 1, REFBUS_KEY_SEND, &k),
                     REFBUS_EREVOKED);
    assert_int_equal(refbus_directory_key(d, "police.cm", 1, &k), 0);
    assert_string_equal(k->revoked_reason, "laptop stolen 2025-03-01");
    assert_int_equal(refbus_directory_allowed(d, "ngo.fcd", "police.cm"), 1);
    assert_int_equal(refbus_directory_allowed(d, "police.cm", "ngo.fcd"), 0);
    assert_int_equal(refbus_directory_allowed(d, "welfare.cm", "cac.cm"), 1);
    assert_string_equal(refbus_directory_broker_id(d), "broker.cm");
    uint64_t trusted = 1;
    refbus_directory *d2 = NULL;
    assert_int_equal(refbus_directory_load_file(&d2, out, f->root_pk, &trusted), REFBUS_EROLLBACK);

    /* The newest bundle (under its new passphrase) matches the directory and still opens
     * envelopes sealed to epochs 1 and 2. */
    refbus_keystore *ks = NULL;
    assert_int_equal(refbus_keystore_open(&ks, c3, BP, strlen(BP)), REFBUS_EPASSPHRASE);
    assert_int_equal(refbus_keystore_open(&ks, c3, "new", 3), 0);
    assert_memory_equal(refbus_keystore_root_pk(ks), f->root_pk, 32);
    uint8_t spk[32], ssk[64];
    crypto_sign_keypair(spk, ssk);
    refbus_enc_key keys[4];
    size_t nk = refbus_keystore_enc_keys(ks, keys, 4);
    assert_int_equal(nk, 3);
    for (uint32_t e = 1; e <= 3; e++) {
        assert_int_equal(refbus_directory_key(d, "cac.cm", e, &k), 0);
        assert_memory_equal(refbus_keystore_find(ks, e)->enc_pk, k->enc_pk, 32);
        assert_memory_equal(refbus_keystore_find(ks, e)->curve_pk, k->curve_pk, 32);
        size_t len = 0, pl_len = 0;
        uint8_t *env = seal_to(k, "cac.cm", "referral text", &len, ssk), *pl = NULL;
        assert_int_equal(refbus_envelope_open(&pl, &pl_len, NULL, env, len, spk, "cac.cm", keys, nk,
                                              0),
                         0);
        refbus_envelope_payload_free(&pl, pl_len);
        free(env);
    }
    refbus_keystore_free(&ks);
    char *s0 = join(f->adm, "signed/00000000000000000002.dir");
    assert_int_equal(access(s0, F_OK), 0);
    free(s0);
    refbus_directory_free(&d);
    free(c1);
    free(c2);
    free(c3);
    free(bb);
    free(out);
}

#define UNCHANGED(expr, expect)               \
    do {                                      \
        char *before_ = tree(f->tmp);         \
        assert_int_equal((expr), (expect));   \
        char *after_ = tree(f->tmp);          \
        assert_string_equal(before_, after_); \
        free(before_);                        \
        free(after_);                         \
    } while (0)

static void test_refused_changes_write_nothing(void **state)
{
    fixture *f = *state;
    refbus_admin *a = open_admin(f);
    char *c1 = join(f->tmp, "cac.cm"), *c2 = join(f->tmp, "cac2"), *nb = join(f->tmp, "new");
    char *pb = join(f->tmp, "police.cm");
    const char *eps[] = {"tcp://x:1"}, *bad_eps[] = {"tcp://x 1"};
    add(a, f, "cac.cm", "CAC", REFBUS_AGENCY_CAC);
    add(a, f, "police.cm", "Police", REFBUS_AGENCY_POLICE);
    assert_int_equal(refbus_admin_rotate(a, "cac.cm", c1, BP, strlen(BP), c2, BP, strlen(BP), &MIN,
                                         NULL),
                     0);
    UNCHANGED(refbus_admin_sign(a, "wrong", 5, nb, NULL), REFBUS_EPASSPHRASE);
    UNCHANGED(refbus_admin_rotate(a, "cac.cm", c2, "wrong", 5, nb, BP, strlen(BP), &MIN, NULL),
              REFBUS_EPASSPHRASE);
    /* The stale epoch-1 bundle, another agency's bundle, an unknown id. */
    UNCHANGED(refbus_admin_rotate(a, "cac.cm", c1, BP, strlen(BP), nb, BP, strlen(BP), &MIN, NULL),
              REFBUS_EINVAL);
    UNCHANGED(refbus_admin_rotate(a, "cac.cm", pb, BP, strlen(BP), nb, BP, strlen(BP), &MIN, NULL),
              REFBUS_EINVAL);
    UNCHANGED(refbus_admin_rotate(a, "nobody", c2, BP, strlen(BP), nb, BP, strlen(BP), &MIN, NULL),
              REFBUS_EUNKNOWNAGENCY);
    /* The new bundle's path is taken: the file there survives, the state too. */
    UNCHANGED(refbus_admin_rotate(a, "cac.cm", c2, BP, strlen(BP), pb, BP, strlen(BP), &MIN, NULL),
              REFBUS_EEXIST);
    UNCHANGED(refbus_admin_agency_add(a, "ngo.x", "NGO", REFBUS_AGENCY_NGO, pb, BP, strlen(BP),
                                      &MIN),
              REFBUS_EEXIST);
    UNCHANGED(refbus_admin_agency_add(a, "cac.cm", "CAC", REFBUS_AGENCY_CAC, nb, BP, strlen(BP),
                                      &MIN),
              REFBUS_EEXIST);
    UNCHANGED(refbus_admin_agency_add(a, "Bad", "x", REFBUS_AGENCY_CAC, nb, BP, 2, &MIN),
              REFBUS_EBADID);
    UNCHANGED(refbus_admin_agency_add(a, "root", "x", REFBUS_AGENCY_CAC, nb, BP, 2, &MIN),
              REFBUS_EBADID);
    UNCHANGED(refbus_admin_agency_add(a, "-x", "x", REFBUS_AGENCY_CAC, nb, BP, 2, &MIN),
              REFBUS_EBADID);
    UNCHANGED(refbus_admin_agency_add(a, ".x", "x", REFBUS_AGENCY_CAC, nb, BP, 2, &MIN),
              REFBUS_EBADID);
    UNCHANGED(refbus_admin_agency_add(a, "ngo.x", "tab\there", REFBUS_AGENCY_NGO, nb, BP, 2, &MIN),
              REFBUS_EINVAL);
    UNCHANGED(refbus_admin_agency_add(a, "ngo.x", "NGO", (enum refbus_agency_kind)9, nb, BP, 2,
                                      &MIN),
              REFBUS_EINVAL);
    UNCHANGED(refbus_admin_broker_add(a, "cac.cm", eps, 1, nb, BP, 2, &MIN), REFBUS_EEXIST);
    UNCHANGED(refbus_admin_broker_add(a, "broker", bad_eps, 1, nb, BP, 2, &MIN), REFBUS_EINVAL);
    UNCHANGED(refbus_admin_revoke(a, "nobody", 0, 0, "x", NULL), REFBUS_EUNKNOWNAGENCY);
    UNCHANGED(refbus_admin_revoke(a, "cac.cm", 9, 0, "x", NULL), REFBUS_ENOTFOUND);
    UNCHANGED(refbus_admin_revoke(a, "cac.cm", 0, 0, "", NULL), REFBUS_EINVAL);
    char reason[300];
    memset(reason, 'r', 256);
    reason[256] = 0;
    UNCHANGED(refbus_admin_revoke(a, "cac.cm", 0, 0, reason, NULL), REFBUS_EINVAL);
    reason[255] = 0; /* 255 bytes: the most a reason may have */
    assert_int_equal(refbus_admin_revoke(a, "cac.cm", 1, 0, reason, NULL), 0);
    UNCHANGED(refbus_admin_revoke(a, "cac.cm", 1, 0, "again", NULL), REFBUS_EREVOKED);
    UNCHANGED(refbus_admin_policy(a, "nobody", "*", REFBUS_POLICY_ALLOW), REFBUS_EUNKNOWNAGENCY);
    UNCHANGED(refbus_admin_policy(a, "*", "No Body", REFBUS_POLICY_ALLOW), REFBUS_EBADID);
    UNCHANGED(refbus_admin_policy(a, "*", "*", REFBUS_POLICY_REMOVE), REFBUS_ENOTFOUND);
    /* None of the refused edits lingers in memory either: what is signed is what was kept. */
    uint64_t serial = 0;
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), NULL, &serial), 0);
    refbus_directory *d = signed_dir(f, serial);
    assert_int_equal(refbus_directory_agency_count(d), 2);
    assert_null(refbus_directory_broker_id(d));
    assert_int_equal(refbus_directory_agency_key_count(d, 0), 2);
    refbus_directory_free(&d);
    refbus_admin_close(&a);
    free(c1);
    free(c2);
    free(nb);
    free(pb);
}

/* Children of the race report: 0 won, 1 lost with EEXIST, 2 anything else. */
static int child_add(const fixture *f, const char *id, const char *bundle)
{
    refbus_admin *a = NULL;
    if (refbus_admin_open(&a, f->adm) != 0)
        return 2;
    int rc =
        refbus_admin_agency_add(a, id, "Racer", REFBUS_AGENCY_OTHER, bundle, BP, strlen(BP), &MIN);
    refbus_admin_close(&a);
    return rc == 0 ? 0 : rc == REFBUS_EEXIST ? 1 : 2;
}

static void run_racers(const fixture *f, int n, const char *(*id_of)(int),
                       char *(*bundle_of)(const fixture *, int), int *won, int *lost)
{
    pid_t pids[16];
    *won = *lost = 0;
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            char *b = bundle_of(f, i);
            _exit(child_add(f, id_of(i), b));
        }
    }
    for (int i = 0; i < n; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        if (WEXITSTATUS(st) == 0)
            (*won)++;
        else if (WEXITSTATUS(st) == 1)
            (*lost)++;
        else
            fail_msg("racer %d failed oddly", i);
    }
}

static const char *same_id(int i)
{
    (void)i;
    return "ngo.race";
}
static const char *distinct_id(int i)
{
    static const char *ids[] = {"a.1", "a.2", "a.3", "a.4", "a.5", "a.6", "a.7", "a.8"};
    return ids[i];
}
static char *bundle_per_racer(const fixture *f, int i)
{
    char name[32];
    snprintf(name, sizeof name, "race-%d", i);
    return join(f->tmp, name);
}
static const char *many_id(int i)
{
    static const char *ids[] = {"b.1", "b.2", "b.3", "b.4", "b.5", "b.6", "b.7", "b.8"};
    return ids[i];
}
static char *bundle_many(const fixture *f, int i)
{
    char name[32];
    snprintf(name, sizeof name, "many-%d", i);
    return join(f->tmp, name);
}
static char *same_bundle(const fixture *f, int i)
{
    (void)i;
    return join(f->tmp, "race-same");
}

static void test_races(void **state)
{
    fixture *f = *state;
    int won, lost;
    /* Four enrolments of one id, each to its own bundle: one wins, the others write nothing. */
    run_racers(f, 4, same_id, bundle_per_racer, &won, &lost);
    assert_int_equal(won, 1);
    assert_int_equal(lost, 3);
    int present = 0, winner = -1;
    for (int i = 0; i < 4; i++) {
        char *b = bundle_per_racer(f, i);
        if (access(b, F_OK) == 0)
            present++, winner = i;
        free(b);
    }
    assert_int_equal(present, 1);
    refbus_admin *a = open_admin(f);
    refbus_directory *d = NULL;
    assert_int_equal(refbus_admin_pending(a, &d), 0);
    assert_int_equal(refbus_directory_agency_count(d), 1);
    const refbus_dir_key *k = NULL;
    assert_int_equal(refbus_directory_current_key(d, "ngo.race", &k), 0);
    refbus_keystore *ks = NULL;
    char *wb = bundle_per_racer(f, winner);
    assert_int_equal(refbus_keystore_open(&ks, wb, BP, strlen(BP)), 0);
    assert_memory_equal(refbus_keystore_current(ks)->sign_pk, k->sign_pk, 32); /* not clobbered */
    refbus_keystore_free(&ks);
    free(wb);
    refbus_directory_free(&d);
    refbus_admin_close(&a);

    /* Two ids to one bundle path: one wins; the loser's id is not enrolled. */
    run_racers(f, 2, distinct_id, same_bundle, &won, &lost);
    assert_int_equal(won, 1);
    assert_int_equal(lost, 1);
    char *sb = same_bundle(f, 0);
    assert_int_equal(refbus_keystore_open(&ks, sb, BP, strlen(BP)), 0);
    a = open_admin(f);
    assert_int_equal(refbus_admin_pending(a, &d), 0);
    assert_int_equal(refbus_directory_agency_count(d), 2);
    assert_int_equal(refbus_directory_current_key(d, refbus_keystore_id(ks), &k), 0);
    assert_memory_equal(refbus_keystore_current(ks)->sign_pk, k->sign_pk, 32);
    refbus_directory_free(&d);
    refbus_admin_close(&a);
    refbus_keystore_free(&ks);
    free(sb);

    /* Eight different enrolments at once: none is lost (the lock serialises the edits). */
    run_racers(f, 8, many_id, bundle_many, &won, &lost);
    assert_int_equal(won, 8);
    a = open_admin(f);
    assert_int_equal(refbus_admin_pending(a, &d), 0);
    assert_int_equal(refbus_directory_agency_count(d), 2 + 8);
    for (int i = 0; i < 8; i++) {
        size_t idx = 0;
        assert_int_equal(refbus_directory_agency_index(d, many_id(i), &idx), 0);
    }
    refbus_directory_free(&d);
    refbus_admin_close(&a);
}

static void test_serial_never_reused(void **state)
{
    fixture *f = *state;
    refbus_admin *a = open_admin(f);
    uint64_t serial = 0;
    size_t n = 0;
    char *state_path = join(f->adm, "state.pb"), *last = join(f->adm, "directory.signed");
    uint8_t *old_state = kt_slurp(state_path, &n);
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), NULL, &serial), 0);
    assert_int_equal(serial, 1);
    refbus_admin_close(&a);
    /* A crash after the signed copies were written but before the state: serial 1 is used. */
    assert_int_equal(refbus_file_write_atomic(state_path, old_state, n, 0600, 0), 0);
    a = open_admin(f);
    assert_int_equal(refbus_admin_serial(a), 0);
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), NULL, &serial), 0);
    assert_int_equal(serial, 2);
    refbus_admin_close(&a);
    /* ...and also when only the archive remembers it. */
    assert_int_equal(refbus_file_write_atomic(state_path, old_state, n, 0600, 0), 0);
    unlink(last);
    a = open_admin(f);
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), NULL, &serial), 0);
    assert_int_equal(serial, 3);
    refbus_admin_close(&a);
    free(old_state);
    free(state_path);
    free(last);
}

static void test_policy_and_revoke_edits(void **state)
{
    fixture *f = *state;
    refbus_admin *a = open_admin(f);
    refbus_directory *d = NULL;
    const char *eps[] = {"tcp://10.0.0.1:7700", "ipc:///run/refbus/broker"};
    char *bb = join(f->tmp, "bb"), *bb2 = join(f->tmp, "bb2"), *w1 = join(f->tmp, "welfare.cm"),
         *w2 = join(f->tmp, "w2");
    add(a, f, "welfare.cm", "Welfare", REFBUS_AGENCY_WELFARE);
    add(a, f, "court.cm", "Juvenile Court", REFBUS_AGENCY_COURT);
    assert_int_equal(refbus_admin_policy(a, "welfare.cm", "court.cm", REFBUS_POLICY_ALLOW), 0);
    assert_int_equal(refbus_admin_policy(a, "welfare.cm", "court.cm", REFBUS_POLICY_DENY), 0);
    assert_int_equal(refbus_admin_pending(a, &d), 0);
    assert_int_equal(refbus_directory_policy_count(d), 1); /* one rule per pair */
    assert_int_equal(refbus_directory_allowed(d, "welfare.cm", "court.cm"), 0);
    refbus_directory_free(&d);
    assert_int_equal(refbus_admin_policy(a, "welfare.cm", "court.cm", REFBUS_POLICY_REMOVE), 0);
    assert_int_equal(refbus_admin_policy(a, "welfare.cm", "court.cm", REFBUS_POLICY_REMOVE),
                     REFBUS_ENOTFOUND);
    /* The broker rotates like an agency; its previous key stays for old receipts. */
    assert_int_equal(refbus_admin_broker_add(a, "broker.cm", eps, 2, bb, BP, strlen(BP), &MIN), 0);
    assert_int_equal(refbus_admin_broker_add(a, "broker.b", eps, 1, bb2, BP, strlen(BP), &MIN),
                     REFBUS_EEXIST);
    assert_int_equal(refbus_admin_rotate(a, "broker.cm", bb, BP, strlen(BP), bb2, BP, strlen(BP),
                                         &MIN, NULL),
                     0);
    /* Revoke all of an agency's epochs, then give it a new one: the revoked stay revoked. */
    assert_int_equal(refbus_admin_rotate(a, "welfare.cm", w1, BP, strlen(BP), w2, BP, strlen(BP),
                                         &MIN, NULL),
                     0);
    unsigned n = 0;
    assert_int_equal(refbus_admin_revoke(a, "welfare.cm", 0, 1, "office burgled", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(refbus_admin_revoke(a, "welfare.cm", 0, 1, "again", &n), REFBUS_EREVOKED);
    char *w3 = join(f->tmp, "w3");
    assert_int_equal(refbus_admin_rotate(a, "welfare.cm", w2, BP, strlen(BP), w3, BP, strlen(BP),
                                         &MIN, NULL),
                     0);
    uint64_t serial = 0;
    assert_int_equal(refbus_admin_sign(a, RP, strlen(RP), NULL, &serial), 0);
    refbus_admin_close(&a);
    d = signed_dir(f, serial);
    const refbus_dir_key *k = NULL;
    assert_int_equal(refbus_directory_broker_key_count(d), 2);
    assert_int_equal(refbus_directory_broker_key(d, 1, &k), 0);
    assert_int_equal(k->status, REFBUS_KEY_RETIRED);
    assert_int_equal(refbus_directory_broker_key(d, 2, &k), 0);
    assert_memory_equal(refbus_directory_broker_sign_pk(d), k->sign_pk, 32);
    assert_int_equal(refbus_directory_broker_endpoint_count(d), 2);
    assert_int_equal(refbus_directory_key(d, "welfare.cm", 1, &k), 0);
    assert_int_equal(k->status, REFBUS_KEY_REVOKED);
    assert_string_equal(k->revoked_reason, "office burgled");
    assert_int_equal(refbus_directory_key(d, "welfare.cm", 2, &k), 0);
    assert_int_equal(k->status, REFBUS_KEY_REVOKED);
    assert_int_equal(refbus_directory_current_key(d, "welfare.cm", &k), 0);
    assert_int_equal(k->epoch, 3);
    assert_int_equal(refbus_directory_policy_count(d), 0);
    refbus_directory_free(&d);
    free(bb);
    free(bb2);
    free(w1);
    free(w2);
    free(w3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_changes_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_races, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serial_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_and_revoke_edits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
