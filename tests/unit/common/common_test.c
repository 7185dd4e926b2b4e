/* common/: error texts, hex, atomic exclusive writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include <errno.h>
#include <lmdb.h>

#include "common/datadir.h"
#include "common/err.h"
#include "common/util.h"

static void test_strerror(void **s)
{
    (void)s;
    assert_string_equal(refbus_strerror(REFBUS_EBADSIG), "bad signature");
    assert_string_equal(refbus_errname(REFBUS_EEXPIRED), "EEXPIRED");
    assert_string_equal(refbus_strerror(-99999), "unknown error");
    assert_non_null(refbus_strerror(-2)); /* -ENOENT */
    /* every code in the reserved range that has a name has a distinct one */
    for (int a = -1500; a <= -1000; a++)
        for (int b = a + 1; b <= -1000; b++)
            if (strcmp(refbus_errname(a), "EUNKNOWN") != 0)
                assert_string_not_equal(refbus_errname(a), refbus_errname(b));
}

/* Transient or permanent is a property of the code: only proven properties of the bytes may be
 * refused for good; everything that can pass is retried. */
static void test_permanent(void **s)
{
    (void)s;
    static const int permanent[] = {REFBUS_EBADSIG,  REFBUS_EMALFORMED, REFBUS_ENOTRECIPIENT,
                                    REFBUS_EEXPIRED, REFBUS_EDECRYPT,   REFBUS_ECOMMIT,
                                    REFBUS_EVERSION, REFBUS_EREVOKED,   REFBUS_EPOLICY};
    static const int transient[] = {REFBUS_ENOMEM,
                                    REFBUS_EIO,
                                    REFBUS_ELMDB,
                                    REFBUS_EMAPFULL,
                                    REFBUS_ENOSPC,
                                    REFBUS_EQUOTA,
                                    REFBUS_EAGAIN,
                                    REFBUS_ETIMEOUT,
                                    REFBUS_ENOEPOCHKEY,
                                    REFBUS_EUNKNOWNAGENCY,
                                    REFBUS_ECORRUPT,
                                    REFBUS_EUNAVAILABLE,
                                    REFBUS_ETRANSPORT,
                                    0,
                                    -12 /* -ENOMEM */,
                                    -28 /* -ENOSPC */,
                                    -99999};
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
        assert_int_equal(refbus_err_permanent(permanent[i]), 1);
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++)
        assert_int_equal(refbus_err_permanent(transient[i]), 0);
}

/* The one LMDB error mapping: what a full map, a full disk, a dead environment become, and that
 * none of it refuses a message for good. */
static void test_lmdb_code(void **s)
{
    (void)s;
    static const int map[][2] = {
        {0, 0},
        {MDB_NOTFOUND, REFBUS_ENOTFOUND},
        {MDB_MAP_FULL, REFBUS_EMAPFULL},
        {MDB_TXN_FULL, REFBUS_EMAPFULL},
        {ENOSPC, REFBUS_ENOSPC},
        {EDQUOT, REFBUS_ENOSPC},
        {ENOMEM, REFBUS_ENOMEM},
        {EIO, REFBUS_EIO},
        {MDB_KEYEXIST, REFBUS_ECORRUPT},
        {MDB_PANIC, REFBUS_ESTORAGE},
        {MDB_CORRUPTED, REFBUS_ESTORAGE},
        {MDB_PAGE_NOTFOUND, REFBUS_ESTORAGE},
        {MDB_INVALID, REFBUS_ESTORAGE},
        {MDB_VERSION_MISMATCH, REFBUS_ESTORAGE},
        {MDB_READERS_FULL, REFBUS_ELMDB},
        {MDB_BAD_TXN, REFBUS_ELMDB},
        {EINVAL, REFBUS_ELMDB},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        assert_int_equal(refbus_lmdb_code(map[i][0]), map[i][1]);
        assert_int_equal(refbus_lmdb_err(map[i][0], "test"), map[i][1]);
        assert_int_equal(refbus_err_permanent(map[i][1]), 0);
    }
}

/* The one big-endian codec (and the little-endian pair), against fixed bytes. */
static void test_big_endian(void **s)
{
    (void)s;
    static const uint8_t b8[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    uint8_t out[8];
    refbus_put_u64be(out, 0x0123456789abcdefull);
    assert_memory_equal(out, b8, 8);
    assert_true(refbus_get_u64be(b8) == 0x0123456789abcdefull);
    refbus_put_u32be(out, 0x89abcdefu);
    assert_memory_equal(out, b8 + 4, 4);
    assert_true(refbus_get_u32be(b8 + 4) == 0x89abcdefu);
    refbus_put_u32be(out, UINT32_MAX);
    assert_true(refbus_get_u32be(out) == UINT32_MAX);
    static const uint8_t le[4] = {0xef, 0xcd, 0xab, 0x89};
    refbus_put_u32le(out, 0x89abcdefu);
    assert_memory_equal(out, le, 4);
    assert_true(refbus_get_u32le(out) == 0x89abcdefu);
    /* keys sort as numbers */
    uint8_t a[8], b[8];
    refbus_put_u64be(a, 255);
    refbus_put_u64be(b, 256);
    assert_true(memcmp(a, b, 8) < 0);
}

/* The one time format, UTC, with and without milliseconds. */
static void test_time_iso(void **s)
{
    (void)s;
    char t[REFBUS_TIME_ISO_MAX], small[12];
    refbus_time_iso(t, sizeof t, 0, 0);
    assert_string_equal(t, "1970-01-01T00:00:00Z");
    refbus_time_iso(t, sizeof t, 1773480600250ull, 1);
    assert_string_equal(t, "2026-03-14T09:30:00.250Z");
    refbus_time_iso(t, sizeof t, 1773480600250ull, 0);
    assert_string_equal(t, "2026-03-14T09:30:00Z");
    refbus_time_iso(t, sizeof t, 951782400007ull, 1); /* a leap day */
    assert_string_equal(t, "2000-02-29T00:00:00.007Z");
    refbus_time_iso(t, sizeof t, UINT64_MAX, 1); /* far beyond year 9999: still terminated */
    assert_non_null(memchr(t, 0, sizeof t));
    refbus_time_iso(small, sizeof small, 1773480600250ull, 1);
    assert_string_equal(small, "2026-03-14T");
}

static void test_hex(void **s)
{
    (void)s;
    uint8_t in[3] = {0x00, 0xab, 0xff}, out[3];
    char hex[7];
    refbus_hex(hex, in, 3);
    assert_string_equal(hex, "00abff");
    assert_int_equal(refbus_unhex(out, 3, hex), 0);
    assert_memory_equal(in, out, 3);
    assert_int_equal(refbus_unhex(out, 3, "00abf"), REFBUS_EINVAL);
    assert_int_equal(refbus_unhex(out, 3, "00abzz"), REFBUS_EINVAL);
}

static void test_atomic_write(void **s)
{
    (void)s;
    char dir[] = "/tmp/refbus-common-XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/f", dir);
    assert_int_equal(refbus_file_write_atomic(path, "one", 3, 0600, 1), 0);
    assert_int_equal(refbus_file_write_atomic(path, "two", 3, 0600, 1), REFBUS_EEXIST);
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal(refbus_file_read(&buf, &len, path, 100), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(buf, "one", 3);
    free(buf);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(refbus_file_write_atomic(path, "three", 5, 0600, 0), 0);
    assert_int_equal(refbus_file_read(&buf, &len, path, 4), REFBUS_ETOOLARGE);
    assert_int_equal(refbus_file_read(&buf, &len, path, 100), 0);
    assert_int_equal(len, 5);
    free(buf);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(refbus_file_read(&buf, &len, path, 100), REFBUS_ENOTFOUND);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),     cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_lmdb_code),    cmocka_unit_test(test_big_endian),
        cmocka_unit_test(test_time_iso),     cmocka_unit_test(test_hex),
        cmocka_unit_test(test_atomic_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
