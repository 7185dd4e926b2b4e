/* A crash in the middle of a batch leaves the log verifiable: a child process appends whole
 * batches (with checkpoints), then starts one more, appends half of it and is killed with
 * SIGKILL; the parent finds exactly the committed records, a trail that verifies, and appending
 * carries on. Also: a verifier running while a writer appends never blocks it and passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <signal.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include "audit/verify.h"
#include "audit_testutil.h"

#define BATCH 200

static uint8_t pk[32], sk[64];

/* Child: `full` committed batches (a checkpoint after each), then half a batch, then report and
 * wait to be killed. Reports the committed size first. */
static void child(const char *dir, int full, int wfd)
{
    MDB_env *env = atest_env_open(dir, 64u << 20);
    refbus_audit *a = NULL;
    uint64_t size = 0;
    if (refbus_audit_open(&a, env, 0) != 0 ||
        atest_fill(env, a, (uint64_t)full * BATCH, BATCH, BATCH, 0) != 0 ||
        refbus_audit_size(a, NULL, &size) != 0)
        _exit(3);
    MDB_txn *txn;
    if (mdb_txn_begin(env, NULL, 0, &txn) != 0)
        _exit(3);
    for (int i = 0; i < BATCH / 2; i++) {
        Refbus__V1__AuditRecord r;
        atest_scratch s;
        atest_record(&r, &s, size + (uint64_t)i, 1767225600000ull);
        if (refbus_audit_append_record(a, txn, &r, NULL) != 0)
            _exit(3);
    }
    if (refbus_audit_checkpoint(a, txn, sk, 1767225600000ull, NULL, NULL) != 0)
        _exit(3);
    if (write(wfd, &size, sizeof size) != (ssize_t)sizeof size)
        _exit(3);
    for (;;)
        pause(); /* killed here, in the middle of the transaction */
}

static uint64_t crash_once(const char *dir, int full)
{
    int fds[2];
    uint64_t committed = 0;
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(dir, full, fds[1]);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &committed, sizeof committed), (ssize_t)sizeof committed);
    close(fds[0]);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    return committed;
}

static void verify_intact(const char *dir, uint64_t size)
{
    refbus_audit_reader *r = NULL;
    refbus_audit_verify_result res;
    refbus_audit_verify_opts o;
    memset(&o, 0, sizeof o);
    o.broker_pks = (const uint8_t(*)[32])pk;
    o.n_broker_pks = 1;
    assert_int_equal(refbus_audit_reader_open(&r, dir), 0);
    int rc = refbus_audit_verify(r, &o, &res);
    if (rc != 0)
        fprintf(stderr, "%s at %llu: %s\n", refbus_audit_problem_name(res.problem),
                (unsigned long long)res.index, res.detail);
    assert_int_equal(rc, 0);
    assert_int_equal(res.size, size);
    refbus_audit_reader_close(&r);
}

static void test_kill_mid_batch(void **s)
{
    (void)s;
    char *dir = atest_tmpdir("auditcrash");
    uint64_t before = 0;
    for (int round = 0; round < 4; round++) {
        uint64_t committed = crash_once(dir, round + 1);
        assert_true(committed > before); /* the earlier rounds' records are all still there */
        verify_intact(dir, committed);
        before = committed;
    }
    /* the half batch and its checkpoint left nothing: the latest checkpoint is a committed one */
    MDB_env *env = atest_env_open(dir, 64u << 20);
    refbus_audit *a = NULL;
    uint64_t unc = 0, size = 0;
    assert_int_equal(refbus_audit_open(&a, env, 0), 0);
    assert_int_equal(refbus_audit_uncovered(a, NULL, &unc, NULL), 0);
    assert_int_equal(unc, 0);
    assert_int_equal(refbus_audit_size(a, NULL, &size), 0);
    assert_int_equal(size, before);
    refbus_audit_free(&a);
    mdb_env_close(env);
    atest_rmdir(&dir);
}

/* A writer appends in a child while the parent verifies repeatedly in short read transactions:
 * every verification passes, and the writer keeps committing meanwhile. */
static void test_verify_while_writing(void **s)
{
    (void)s;
    char *dir = atest_tmpdir("auditlive");
    MDB_env *env = atest_env_open(dir, 256u << 20);
    refbus_audit *a = NULL;
    assert_int_equal(refbus_audit_open(&a, env, 0), 0);
    assert_int_equal(atest_fill(env, a, 3000, 100, 500, 1), 0);
    refbus_audit_free(&a);
    mdb_env_close(env);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        MDB_env *e = atest_env_open(dir, 256u << 20);
        refbus_audit *w = NULL;
        if (refbus_audit_open(&w, e, 0) != 0)
            _exit(3);
        for (;;) {
            uint64_t n = 0;
            if (atest_fill(e, w, 50, 50, 50, 0) != 0 || refbus_audit_size(w, NULL, &n) != 0 ||
                write(fds[1], &n, sizeof n) != (ssize_t)sizeof n)
                _exit(3);
        }
    }
    close(fds[1]);
    uint64_t seen_before = 0, seen_after = 0;
    assert_int_equal(read(fds[0], &seen_before, sizeof seen_before), (ssize_t)sizeof seen_before);
    for (int i = 0; i < 3; i++) {
        refbus_audit_reader *r = NULL;
        refbus_audit_verify_result res;
        refbus_audit_verify_opts o;
        memset(&o, 0, sizeof o);
        o.broker_pks = (const uint8_t(*)[32])pk;
        o.n_broker_pks = 1;
        o.page = 256;
        assert_int_equal(refbus_audit_reader_open(&r, dir), 0);
        assert_int_equal(refbus_audit_verify(r, &o, &res), 0);
        assert_true(res.size >= 3000);
        refbus_audit_reader_close(&r);
    }
    /* the writer went on committing while we verified */
    for (int i = 0; i < 3; i++)
        assert_int_equal(read(fds[0], &seen_after, sizeof seen_after), (ssize_t)sizeof seen_after);
    assert_true(seen_after > seen_before);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    atest_rmdir(&dir);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    atest_broker_key(pk, sk);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_mid_batch),
        cmocka_unit_test(test_verify_while_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
