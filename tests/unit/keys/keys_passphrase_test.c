/* Passphrases from files: one trailing newline stripped (no more), empty / overlong / NUL-bearing
 * refused, a missing file named, the environment fallback only where asked for, and no terminal
 * and no file is a clear error rather than a hang. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/util.h"
#include "keys/passphrase.h"
#include "keys_testutil.h"

static char *dir;

static int setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    dir = kt_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kt_rmrf(dir);
    free(dir);
    return 0;
}

static char *file_with(const char *name, const void *data, size_t len)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        abort();
    assert_int_equal(refbus_file_write_atomic(p, data, len, 0600, 0), 0);
    return p;
}

static int get(const char *content, size_t len, char **out, size_t *out_len)
{
    char *p = file_with("pass", content, len);
    int rc = refbus_passphrase_get(out, out_len, p, "unused: ", 0);
    free(p);
    return rc;
}

static void expect(const char *content, const char *want)
{
    char *pass = NULL;
    size_t len = 0;
    assert_int_equal(get(content, strlen(content), &pass, &len), 0);
    assert_int_equal(len, strlen(want));
    assert_string_equal(pass, want); /* NUL-terminated */
    refbus_passphrase_free(&pass, len);
    assert_null(pass);
}

static void test_from_file(void **state)
{
    (void)state;
    expect("secret\n", "secret");
    expect("secret", "secret");
    expect("secret\r\n", "secret");
    expect("secret\n\n", "secret\n"); /* only one newline */
    expect("  spaced out  \n", "  spaced out  ");
    expect("ความลับ\n", "ความลับ");
    char *pass = NULL;
    size_t len = 0;
    assert_int_equal(get("", 0, &pass, &len), REFBUS_EINVAL);
    assert_int_equal(get("\n", 1, &pass, &len), REFBUS_EINVAL);
    assert_int_equal(get("\r\n", 2, &pass, &len), REFBUS_EINVAL);
    assert_int_equal(get("ab\0cd", 5, &pass, &len), REFBUS_EINVAL);
    char big[REFBUS_PASSPHRASE_MAX + 8];
    memset(big, 'x', sizeof big);
    assert_int_equal(get(big, REFBUS_PASSPHRASE_MAX, &pass, &len), 0);
    assert_int_equal(len, REFBUS_PASSPHRASE_MAX);
    refbus_passphrase_free(&pass, len);
    big[REFBUS_PASSPHRASE_MAX] = '\n';
    assert_int_equal(get(big, REFBUS_PASSPHRASE_MAX + 1, &pass, &len), 0);
    refbus_passphrase_free(&pass, len);
    big[REFBUS_PASSPHRASE_MAX] = '\r';
    big[REFBUS_PASSPHRASE_MAX + 1] = '\n';
    assert_int_equal(get(big, REFBUS_PASSPHRASE_MAX + 2, &pass, &len), 0);
    assert_int_equal(len, REFBUS_PASSPHRASE_MAX);
    refbus_passphrase_free(&pass, len);
    memset(big, 'x', sizeof big);
    assert_int_equal(get(big, REFBUS_PASSPHRASE_MAX + 1, &pass, &len), REFBUS_EINVAL);
    assert_int_equal(get(big, sizeof big, &pass, &len), REFBUS_EINVAL);
    assert_null(pass);
    assert_int_equal(refbus_passphrase_get(&pass, &len, "/nonexistent/pass", "x", 0),
                     REFBUS_ENOTFOUND);
    refbus_passphrase_free(NULL, 0);
}

/* With no file: $REFBUS_PASSPHRASE_FILE, else the terminal, which a child without a
 * controlling terminal does not have. */
static void test_fallbacks(void **state)
{
    (void)state;
    char *p = file_with("envpass", "from env\n", 9), *pass = NULL;
    size_t len = 0;
    setenv("REFBUS_PASSPHRASE_FILE", p, 1);
    assert_int_equal(refbus_passphrase_get(&pass, &len, NULL, "x", 0), 0);
    assert_string_equal(pass, "from env");
    refbus_passphrase_free(&pass, len);
    /* An explicit file wins over the environment. */
    char *q = file_with("explicit", "explicit", 8);
    assert_int_equal(refbus_passphrase_get(&pass, &len, q, "x", 0), 0);
    assert_string_equal(pass, "explicit");
    refbus_passphrase_free(&pass, len);
    /* A bundle's passphrase never falls back to the root's file. */
    setenv("REFBUS_BUNDLE_PASSPHRASE_FILE", q, 1);
    assert_int_equal(refbus_passphrase_get_env(&pass, &len, NULL, "REFBUS_BUNDLE_PASSPHRASE_FILE",
                                               "x", 0),
                     0);
    assert_string_equal(pass, "explicit");
    refbus_passphrase_free(&pass, len);
    unsetenv("REFBUS_BUNDLE_PASSPHRASE_FILE");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid(); /* no controlling terminal: /dev/tty cannot be opened */
        int rc =
            refbus_passphrase_get_env(&pass, &len, NULL, "REFBUS_BUNDLE_PASSPHRASE_FILE", "x", 0);
        int rc2 = 0;
        unsetenv("REFBUS_PASSPHRASE_FILE");
        rc2 = refbus_passphrase_get(&pass, &len, NULL, "x", 1);
        _exit(rc == REFBUS_EINVAL && rc2 == REFBUS_EINVAL ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unsetenv("REFBUS_PASSPHRASE_FILE");
    free(p);
    free(q);
}

static int check(const char *p)
{
    char why[256] = "";
    int rc = refbus_passphrase_check(p, strlen(p), why, sizeof why);
    assert_true(rc == 0 ? why[0] == 0 : why[0] != 0); /* a refusal always says why */
    return rc;
}

/* Issue 10, defect 14: weak passphrases are refused with a reason; good ones and generated
 * ones pass. */
static void test_strength(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(refbus_passphrase_check("a", 1, why, sizeof why), REFBUS_EWEAK);
    assert_non_null(strstr(why, "too short"));
    assert_int_equal(check("Tr0ub4dor&3"), REFBUS_EWEAK);  /* 11 characters */
    assert_int_equal(check("password1234"), REFBUS_EWEAK); /* runs and repeats */
    assert_int_equal(refbus_passphrase_check("aaaaaaaaaaaaaaaaaaaa", 20, why, sizeof why),
                     REFBUS_EWEAK);
    assert_non_null(strstr(why, "bits"));
    assert_int_equal(check("abcdefghijklmnopqrstuvwxyz"), REFBUS_EWEAK);
    assert_int_equal(check("123456789012345678"), REFBUS_EWEAK);
    assert_int_equal(check("correct horse battery staple"), 0);
    assert_int_equal(check("test passphrase, not for production"), 0);
    assert_int_equal(check("ม้าลายกินหญ้าริมแม่น้ำปิง"), 0); /* Thai: counted by characters */
    assert_int_equal(check("ม้าม้าม้า"), REFBUS_EWEAK);  /* 9 characters */
    for (int i = 0; i < 200; i++) {
        char *g = NULL, *h = NULL;
        size_t gl = 0, hl = 0;
        assert_int_equal(refbus_passphrase_generate(&g, &gl), 0);
        assert_int_equal(refbus_passphrase_generate(&h, &hl), 0);
        assert_int_equal(gl, 35);
        assert_int_equal(strlen(g), 35);
        for (size_t j = 0; j < gl; j++)
            assert_true(j % 6 == 5 ? g[j] == '-'
                                   : strchr("abcdefghijkmnpqrstuvwxyz23456789", g[j]) != NULL);
        assert_int_equal(refbus_passphrase_check(g, gl, why, sizeof why), 0);
        assert_true(refbus_passphrase_strength(g, gl, NULL) >= 100);
        assert_true(gl != hl || memcmp(g, h, gl) != 0);
        refbus_passphrase_free(&g, gl);
        refbus_passphrase_free(&h, hl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_file),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_strength),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
