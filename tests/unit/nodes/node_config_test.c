/* refbus-node configuration: a full file loads with relative paths resolved against its
 * folder, derived defaults are filled, command-line values win; unknown keys, bad values and
 * other sections are refused naming the line and the key; durations parse and bad ones fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "nodes/daemon/config.h"

static char dir[128];

static const char *write_conf(const char *name, const char *text)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_full_file(void **s)
{
    (void)s;
    refbus_node_config c;
    char err[512], want[300];
    refbus_node_config_init(&c);
    const char *p = write_conf("node.conf", "; comment\n[node]\nagency = cac.chiangmai\n"
                                            "keystore = bundle\npassphrase_file = /etc/pass\n"
                                            "directory = dir.signed\ndata_dir = data\n"
                                            "broker = tcp://10.0.0.1:7700\ncredit = 8\n"
                                            "send_window = 16\nping_seconds = 3\n"
                                            "default_expiry = 7d\nlog_level = debug\n"
                                            "syslog = yes\ncontrol_mode = 0660\n");
    assert_int_equal(refbus_node_config_load(&c, p, err, sizeof err), 0);
    assert_int_equal(refbus_node_config_finish(&c, 1, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/bundle", dir);
    assert_string_equal(c.keystore, want);
    assert_string_equal(c.passphrase_file, "/etc/pass");
    snprintf(want, sizeof want, "ipc://%s/data/control.sock", dir);
    assert_string_equal(c.control, want);
    assert_int_equal(c.credit, 8);
    assert_int_equal(c.send_window, 16);
    assert_int_equal(c.default_expiry_ms, 7ull * 86400000);
    assert_int_equal(c.log_level, REFBUS_LOG_DEBUG);
    assert_int_equal(c.syslog, 1);
    assert_int_equal(c.control_mode, 0660);
    assert_int_equal(c.ping_timeout_seconds, 20);
    /* the command line wins, relative to the working directory */
    assert_int_equal(refbus_node_config_set(&c, "credit", "64", err, sizeof err), 0);
    assert_int_equal(c.credit, 64);
    assert_int_equal(refbus_node_config_set(&c, "control", "ipc:///run/x.sock", err, sizeof err),
                     0);
    assert_string_equal(c.control, "ipc:///run/x.sock");
}

/* The documented example must load as it is. */
static void test_example(void **s)
{
    (void)s;
    refbus_node_config c;
    char err[512], p[512];
    const char *root = getenv("REFBUS_SOURCE_DIR");
    snprintf(p, sizeof p, "%s/deploy/examples/node.conf", root ? root : ".");
    refbus_node_config_init(&c);
    if (refbus_node_config_load(&c, p, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(refbus_node_config_finish(&c, 1, err, sizeof err), 0);
    assert_string_equal(c.agency, "cac.chiangmai");
    assert_int_equal(c.control_mode, 0600);
}

static void expect_bad(const char *text, const char *needle)
{
    refbus_node_config c;
    char err[512];
    refbus_node_config_init(&c);
    const char *p = write_conf("bad.conf", text);
    assert_int_equal(refbus_node_config_load(&c, p, err, sizeof err), REFBUS_ECONFIG);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_refusals(void **s)
{
    (void)s;
    refbus_node_config c;
    char err[512];
    expect_bad("[node]\ncredit = 8\ncredti = 9\n", "bad.conf:3: key 'credti': unknown key");
    expect_bad("[node]\ncredit = 0\n",
               "bad.conf:2: key 'credit': expected a whole number from 1 to 1024, got '0'");
    expect_bad("[node]\ncredit = -5\n", "key 'credit'");
    expect_bad("[node]\nagency = Not An Id\n", "key 'agency': expected an agency id");
    expect_bad("[node]\ncontrol = tcp://0.0.0.0:1\n", "never tcp://");
    expect_bad("[node]\nbroker = localhost\n", "ZeroMQ endpoint");
    expect_bad("[node]\ncontrol_mode = 0666\n", "key 'control_mode': expected 0600 or 0660");
    expect_bad("[node]\nlog_level = loud\n", "key 'log_level': expected error, warn");
    expect_bad("[node]\ndefault_expiry = soon\n", "key 'default_expiry': expected a duration");
    expect_bad("[broker]\ndata_dir = x\n", "bad.conf:2: section [broker]: only [node] is read");
    expect_bad("[node]\nthis is not ini\n", "bad.conf:2: not a 'key = value' line");
    refbus_node_config_init(&c);
    assert_int_equal(refbus_node_config_load(&c, "/nonexistent/node.conf", err, sizeof err),
                     REFBUS_ENOTFOUND);
    /* the daemon needs its files; a client only a control socket */
    refbus_node_config_init(&c);
    assert_int_equal(refbus_node_config_finish(&c, 0, err, sizeof err), REFBUS_ECONFIG);
    assert_int_equal(refbus_node_config_set(&c, "data_dir", "/var/lib/x", err, sizeof err), 0);
    assert_int_equal(refbus_node_config_finish(&c, 0, err, sizeof err), 0);
    assert_int_equal(refbus_node_config_finish(&c, 1, err, sizeof err), REFBUS_ECONFIG);
    assert_non_null(strstr(err, "keystore"));
    assert_int_equal(refbus_node_config_set(&c, "nope", "1", err, sizeof err), REFBUS_ECONFIG);
}

static void test_durations(void **s)
{
    (void)s;
    uint64_t ms;
    assert_int_equal(refbus_node_config_duration(&ms, "90"), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(refbus_node_config_duration(&ms, "1500ms"), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(refbus_node_config_duration(&ms, "30m"), 0);
    assert_int_equal(ms, 1800000);
    assert_int_equal(refbus_node_config_duration(&ms, "12h"), 0);
    assert_int_equal(refbus_node_config_duration(&ms, "3d"), 0);
    assert_int_equal(ms, 3ull * 86400000);
    const char *bad[] = {"", "0", "-1", "3w", "d", "1.5h", "99999999999999999999d", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(refbus_node_config_duration(&ms, bad[i]), REFBUS_EINVAL);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/refbus-node-config-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
