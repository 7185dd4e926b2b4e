/* The one config loader (common/config.c): every key type with its limits, unknown and duplicate
 * keys, bad booleans, empty values, lines inih would split or misread, relative paths resolved
 * against the file's folder; and the broker and the node, both tables over it, accepting the
 * same syntax and wording the same mistake the same way. */
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

#include "broker/broker.h"
#include "common/config.h"
#include "common/log.h"
#include "nodes/daemon/config.h"

typedef struct t_cfg {
    char name[16];
    char file[64];
    char ep[64];
    char ctl[64];
    uint32_t small;
    uint64_t big;
    int flag;
    int color;
    int odd;
    char data_dir[64], keystore[64], passphrase_file[64], directory[64];
    uint64_t map_size_mb;
    uint32_t max_memory_mb;
    int log_level, syslog;
} t_cfg;

static int parse_odd(void *field, const char *v)
{
    int n = atoi(v);
    if (n % 2 == 0)
        return -1;
    *(int *)field = n;
    return 0;
}

static const char *const colors[] = {"red", "green", "blue", NULL};

#define F(f) REFBUS_CFG_FIELD(t_cfg, f)
static const refbus_config_key keys[] = {
    REFBUS_CONFIG_SHARED_KEYS(t_cfg),
    {.name = "name", .type = REFBUS_CFG_STRING, F(name), .def = "anon"},
    {.name = "file", .type = REFBUS_CFG_PATH, F(file)},
    {.name = "ep", .type = REFBUS_CFG_ENDPOINT, F(ep)},
    {.name = "ctl", .type = REFBUS_CFG_IPC, F(ctl)},
    {.name = "small", .type = REFBUS_CFG_UINT, F(small), .min = 2, .max = 10, .def = "5"},
    {.name = "big", .type = REFBUS_CFG_UINT, F(big), .min = 0, .max = UINT64_MAX},
    {.name = "flag", .type = REFBUS_CFG_BOOL, F(flag), .def = "yes"},
    {.name = "color", .type = REFBUS_CFG_ENUM, F(color), .names = colors, .def = "green"},
    {.name = "odd",
     .type = REFBUS_CFG_CUSTOM,
     F(odd),
     .parse = parse_odd,
     .expect = "an odd number"},
};
#undef F
static const refbus_config_schema schema = {"t", keys, sizeof keys / sizeof keys[0]};

static char dir[128];

static const char *write_file(const char *name, const char *text)
{
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void fresh(t_cfg *c)
{
    char err[256];
    assert_int_equal(refbus_config_defaults(&schema, c, sizeof *c, err, sizeof err), 0);
}

/* Load `text` as DIR/t.conf; return the code, `err` without the "DIR/" in front. */
static int load_text(t_cfg *c, const char *text, char *err, size_t errlen)
{
    char full[512];
    int rc = refbus_config_load(&schema, c, write_file("t.conf", text), full, sizeof full);
    size_t n = strlen(dir);
    snprintf(err, errlen, "%s", strncmp(full, dir, n) == 0 ? full + n + 1 : full);
    return rc;
}

static void expect_err(const char *text, const char *want)
{
    t_cfg c;
    char err[512];
    fresh(&c);
    assert_int_equal(load_text(&c, text, err, sizeof err), REFBUS_ECONFIG);
    if (strcmp(err, want) != 0)
        fail_msg("got  \"%s\"\nwant \"%s\"", err, want);
}

static void test_defaults(void **s)
{
    (void)s;
    t_cfg c;
    char err[256];
    memset(&c, 0x5a, sizeof c);
    fresh(&c);
    assert_string_equal(c.name, "anon");
    assert_string_equal(c.file, "");
    assert_int_equal(c.small, 5);
    assert_int_equal(c.big, 0);
    assert_int_equal(c.flag, 1);
    assert_int_equal(c.color, 1);
    assert_int_equal(c.map_size_mb, 1024);
    assert_int_equal(c.max_memory_mb, 256);
    assert_int_equal(c.log_level, REFBUS_LOG_INFO);
    assert_int_equal(c.syslog, 0);
    /* a default its own key refuses is a bug, reported */
    static const refbus_config_key bad[] = {{.name = "small",
                                             .type = REFBUS_CFG_UINT,
                                             REFBUS_CFG_FIELD(t_cfg, small),
                                             .min = 2,
                                             .max = 10,
                                             .def = "11"}};
    const refbus_config_schema sb = {"t", bad, 1};
    assert_int_equal(refbus_config_defaults(&sb, &c, sizeof c, err, sizeof err), REFBUS_ECONFIG);
    assert_non_null(strstr(err, "key 'small': bad default"));
}

static void test_each_type(void **s)
{
    (void)s;
    t_cfg c;
    char err[512];
    fresh(&c);
    assert_int_equal(load_text(&c,
                               "; comment\n# comment\n\n[t]\nname = bob\nfile = /abs/x\n"
                               "ep = tcp://10.0.0.1:7700\nctl = ipc:///run/t.sock\nsmall = 10\n"
                               "big = 18446744073709551615\nflag = no\ncolor = blue\nodd = 7\n"
                               "syslog = 1\nlog_level = debug ; inline comment\n",
                               err, sizeof err),
                     0);
    assert_string_equal(c.name, "bob");
    assert_string_equal(c.file, "/abs/x");
    assert_string_equal(c.ep, "tcp://10.0.0.1:7700");
    assert_string_equal(c.ctl, "ipc:///run/t.sock");
    assert_int_equal(c.small, 10);
    assert_true(c.big == UINT64_MAX);
    assert_int_equal(c.flag, 0);
    assert_int_equal(c.color, 2);
    assert_int_equal(c.odd, 7);
    assert_int_equal(c.syslog, 1);
    assert_int_equal(c.log_level, REFBUS_LOG_DEBUG);
    /* every spelling of a boolean */
    const char *yes[] = {"yes", "true", "1"}, *no[] = {"no", "false", "0"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(refbus_config_set(&schema, &c, "flag", yes[i], err, sizeof err), 0);
        assert_int_equal(c.flag, 1);
        assert_int_equal(refbus_config_set(&schema, &c, "flag", no[i], err, sizeof err), 0);
        assert_int_equal(c.flag, 0);
    }
    /* limits: min and max pass, one beyond fails and leaves the value alone */
    assert_int_equal(refbus_config_set(&schema, &c, "small", "2", err, sizeof err), 0);
    assert_int_equal(c.small, 2);
    assert_int_equal(refbus_config_set(&schema, &c, "small", "11", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_string_equal(err, "key 'small': expected a whole number from 2 to 10, got '11'");
    assert_int_equal(refbus_config_set(&schema, &c, "small", "1", err, sizeof err), REFBUS_ECONFIG);
    assert_int_equal(c.small, 2);
    const char *notnum[] = {"-3", "+3", " 3", "3x", "0x3", "1e3", "", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof notnum / sizeof notnum[0]; i++)
        assert_int_equal(refbus_config_set(&schema, &c, "big", notnum[i], err, sizeof err),
                         REFBUS_ECONFIG);
    /* a string that does not fit is refused, not cut */
    assert_int_equal(refbus_config_set(&schema, &c, "name", "0123456789abcdef", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_string_equal(err, "key 'name': too long (at most 15 characters)");
    assert_string_equal(c.name, "bob");
    assert_int_equal(refbus_config_set(&schema, &c, "name", "0123456789abcde", err, sizeof err), 0);
    /* enum, custom, endpoints */
    assert_int_equal(refbus_config_set(&schema, &c, "color", "pink", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_string_equal(err, "key 'color': expected one of red, green, blue, got 'pink'");
    assert_int_equal(refbus_config_set(&schema, &c, "odd", "4", err, sizeof err), REFBUS_ECONFIG);
    assert_string_equal(err, "key 'odd': expected an odd number, got '4'");
    assert_int_equal(refbus_config_set(&schema, &c, "ep", "localhost:7700", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_non_null(strstr(err, "key 'ep': expected a ZeroMQ endpoint"));
    assert_int_equal(refbus_config_set(&schema, &c, "ctl", "tcp://0.0.0.0:1", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_non_null(strstr(err, "key 'ctl': expected an ipc:// endpoint"));
    assert_int_equal(refbus_config_set(&schema, &c, "ctl", "ipc://", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_int_equal(refbus_config_set(&schema, &c, "nope", "1", err, sizeof err), REFBUS_ECONFIG);
    assert_string_equal(err, "key 'nope': unknown key");
}

static void test_mistakes(void **s)
{
    (void)s;
    expect_err("[t]\nsmall = 3\nsmal = 4\n", "t.conf:3: key 'smal': unknown key");
    expect_err("[t]\nsmall = 3\n; again\nsmall = 4\n",
               "t.conf:4: key 'small': set twice (first on line 2)");
    expect_err("[t]\nflag = maybe\n",
               "t.conf:2: key 'flag': expected yes or no (also true/false, 1/0), got 'maybe'");
    expect_err("[t]\nflag = on\n",
               "t.conf:2: key 'flag': expected yes or no (also true/false, 1/0), got 'on'");
    expect_err("[t]\nsmall = 0\n",
               "t.conf:2: key 'small': expected a whole number from 2 to 10, got '0'");
    expect_err("[t]\nname =\n",
               "t.conf:2: key 'name': no value (leave the key out for its default)");
    expect_err("small = 3\n", "t.conf:1: key 'small': outside a section (put it under [t])");
    expect_err("[t]\nsmall = 3\n[u]\nx = 1\n", "t.conf:4: section [u]: only [t] is read");
    expect_err("[t]\nsmall = 3\nthis is not ini\nbogus = 1\n",
               "t.conf:3: not a 'key = value' line or a [section] header");
    expect_err("[t\nsmall = 3\n", "t.conf:1: not a 'key = value' line or a [section] header");
    /* inih would take an indented line as more of the key above: refused, not merged */
    expect_err("[t]\nname = a\n  small = 3\n",
               "t.conf:3: an indented line would continue key 'name': continuation lines are "
               "not allowed (remove the indentation)");
    /* a line longer than inih's buffer would be cut into two lines: refused whole */
    char longline[600];
    snprintf(longline, sizeof longline, "[t]\nname = %0500d\nsmall = 3\n", 7);
    t_cfg c;
    char err[512];
    fresh(&c);
    assert_int_equal(load_text(&c, longline, err, sizeof err), REFBUS_ECONFIG);
    assert_non_null(strstr(err, "t.conf:2: line too long (at most "));
    /* a NUL byte is not silently the end of the line */
    FILE *f = fopen(write_file("nul.conf", ""), "w");
    fwrite("[t]\nname = a\0b\n", 1, 15, f);
    fclose(f);
    char p[256];
    snprintf(p, sizeof p, "%s/nul.conf", dir);
    assert_int_equal(refbus_config_load(&schema, &c, p, err, sizeof err), REFBUS_ECONFIG);
    assert_non_null(strstr(err, "nul.conf:2: a NUL byte in the line"));
    /* keys before the mistake are set, the error stops the rest */
    fresh(&c);
    assert_int_equal(load_text(&c, "[t]\nsmall = 3\nbogus = 1\nodd = 9\n", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_int_equal(c.small, 3);
    assert_int_equal(c.odd, 0);
    /* indented keys are fine where there is nothing to continue; other sections without keys
     * are ignored; an indented line after a section header is a key */
    fresh(&c);
    assert_int_equal(load_text(&c, "[u]\n[t]\n  small = 3\n", err, sizeof err), 0);
    assert_int_equal(c.small, 3);
    /* an unprintable key name is shown safely */
    expect_err("[t]\nk\x01y = 1\n", "t.conf:2: key 'k?y': unknown key");
    /* missing file */
    fresh(&c);
    assert_int_equal(refbus_config_load(&schema, &c, "/nonexistent/t.conf", err, sizeof err),
                     REFBUS_ENOTFOUND);
    assert_non_null(strstr(err, "/nonexistent/t.conf: "));
}

static void test_relative_paths(void **s)
{
    (void)s;
    t_cfg c;
    char err[512], want[256], sub[200], cwd[512];
    snprintf(sub, sizeof sub, "%s/etc", dir);
    mkdir(sub, 0700);
    const char *text = "[t]\nfile = data/x\ndata_dir = /var/lib/y\nctl = ipc://run/c.sock\n"
                       "ep = ipc://rel.sock\nname = not/a/path\n";
    snprintf(want, sizeof want, "%s/t.conf", sub);
    FILE *f = fopen(want, "w");
    fputs(text, f);
    fclose(f);
    /* relative to the config file's folder, as named */
    fresh(&c);
    assert_int_equal(refbus_config_load(&schema, &c, want, err, sizeof err), 0);
    snprintf(want, sizeof want, "%s/data/x", sub);
    assert_string_equal(c.file, want);
    assert_string_equal(c.data_dir, "/var/lib/y");
    snprintf(want, sizeof want, "ipc://%s/run/c.sock", sub);
    assert_string_equal(c.ctl, want);
    snprintf(want, sizeof want, "ipc://%s/rel.sock", sub);
    assert_string_equal(c.ep, want);
    assert_string_equal(c.name, "not/a/path");
    /* a relative config path: its folder as given; no folder: "." */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    fresh(&c);
    assert_int_equal(refbus_config_load(&schema, &c, "etc/t.conf", err, sizeof err), 0);
    assert_string_equal(c.file, "etc/data/x");
    assert_int_equal(chdir(sub), 0);
    fresh(&c);
    assert_int_equal(refbus_config_load(&schema, &c, "t.conf", err, sizeof err), 0);
    assert_string_equal(c.file, "./data/x");
    assert_int_equal(chdir(cwd), 0);
    /* from the command line: relative to the working directory, i.e. left as is */
    assert_int_equal(refbus_config_set(&schema, &c, "file", "data/x", err, sizeof err), 0);
    assert_string_equal(c.file, "data/x");
    assert_int_equal(refbus_config_set(&schema, &c, "ctl", "ipc://c.sock", err, sizeof err), 0);
    assert_string_equal(c.ctl, "ipc://c.sock");
    /* a path that only becomes too long once resolved is refused, naming why */
    fresh(&c);
    assert_int_equal(load_text(&c,
                               "[t]\nfile = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                               err, sizeof err),
                     REFBUS_ECONFIG);
    assert_non_null(strstr(err, "key 'file': too long (at most 63 characters once resolved "
                                "against the config file's folder)"));
}

/* The broker and the node: one loader, so one syntax and one wording. */
static void both(const char *keys_text, char *berr, char *nerr, size_t len, int *brc, int *nrc)
{
    char text[1024], full[600];
    size_t n = strlen(dir);
    refbus_broker_config b;
    refbus_node_config nd;
    refbus_broker_config_defaults(&b);
    refbus_node_config_init(&nd);
    snprintf(text, sizeof text, "[broker]\n%s", keys_text);
    *brc = refbus_broker_config_load(&b, write_file("b.conf", text), full, sizeof full);
    snprintf(berr, len, "%s", *brc && strncmp(full, dir, n) == 0 ? full + n + 1 : "");
    snprintf(text, sizeof text, "[node]\n%s", keys_text);
    *nrc = refbus_node_config_load(&nd, write_file("b.conf", text), full, sizeof full);
    snprintf(nerr, len, "%s", *nrc && strncmp(full, dir, n) == 0 ? full + n + 1 : "");
}

static void test_broker_and_node_agree(void **s)
{
    (void)s;
    const char *mistakes[] = {
        "syslog = maybe\n",     "log_level = loud\n",
        "map_size_mb = 0\n",    "map_size_mb = 16777217\n",
        "max_memory_mb = 15\n", "data_dir = a\ndata_dir = b\n",
        "keystore =\n",         "frobnicate = 1\n",
        "this is not ini\n",    "data_dir = x\n  more\n",
    };
    char berr[600], nerr[600];
    int brc, nrc;
    for (size_t i = 0; i < sizeof mistakes / sizeof mistakes[0]; i++) {
        both(mistakes[i], berr, nerr, sizeof berr, &brc, &nrc);
        assert_int_equal(brc, REFBUS_ECONFIG);
        assert_int_equal(nrc, REFBUS_ECONFIG);
        if (strcmp(berr, nerr) != 0 || strncmp(berr, "b.conf:", 7) != 0)
            fail_msg("'%s': broker says \"%s\", node \"%s\"", mistakes[i], berr, nerr);
    }
    /* what one accepts, the other accepts, to the same effect */
    const char *fine = "syslog = 1\nlog_level = warn\nmap_size_mb = 1\nmax_memory_mb = 16\n"
                       "data_dir = data\nkeystore = k/bundle\npassphrase_file = /etc/pass\n"
                       "directory = ../dir.signed\n";
    refbus_broker_config b;
    refbus_node_config nd;
    char err[600], want[300];
    refbus_broker_config_defaults(&b);
    refbus_node_config_init(&nd);
    snprintf(want, sizeof want, "[broker]\n%s", fine);
    assert_int_equal(refbus_broker_config_load(&b, write_file("b.conf", want), err, sizeof err), 0);
    snprintf(want, sizeof want, "[node]\n%s", fine);
    assert_int_equal(refbus_node_config_load(&nd, write_file("n.conf", want), err, sizeof err), 0);
    assert_int_equal(b.syslog, 1);
    assert_int_equal(nd.syslog, 1);
    assert_int_equal(b.log_level, nd.log_level);
    assert_true(b.map_size_mb == 1 && nd.map_size_mb == 1);
    assert_true(b.max_memory_mb == 16 && nd.max_memory_mb == 16);
    snprintf(want, sizeof want, "%s/data", dir);
    assert_string_equal(b.data_dir, want);
    assert_string_equal(nd.data_dir, want);
    snprintf(want, sizeof want, "%s/k/bundle", dir);
    assert_string_equal(b.keystore, want);
    assert_string_equal(nd.keystore, want);
    snprintf(want, sizeof want, "%s/../dir.signed", dir);
    assert_string_equal(b.directory, want);
    assert_string_equal(nd.directory, want);
    assert_string_equal(b.passphrase_file, "/etc/pass");
    /* and from the command line, the same words */
    char e2[600];
    assert_int_equal(refbus_broker_config_set(&b, "syslog", "maybe", err, sizeof err),
                     REFBUS_ECONFIG);
    assert_int_equal(refbus_node_config_set(&nd, "syslog", "maybe", e2, sizeof e2), REFBUS_ECONFIG);
    assert_string_equal(err, e2);
    assert_string_equal(err, "key 'syslog': expected yes or no (also true/false, 1/0), got "
                             "'maybe'");
    /* each refuses the other's section */
    both("", berr, nerr, sizeof berr, &brc, &nrc);
    assert_int_equal(brc, 0);
    assert_int_equal(nrc, 0);
    assert_int_equal(refbus_broker_config_load(&b, write_file("x.conf", "[node]\nagency = a\n"),
                                               err, sizeof err),
                     REFBUS_ECONFIG);
    assert_non_null(strstr(err, "x.conf:2: section [node]: only [broker] is read"));
}

/* The documented broker example loads as it is (node_config_test loads the node's). */
static void test_examples(void **s)
{
    (void)s;
    refbus_broker_config b;
    char err[600], p[512];
    const char *root = getenv("REFBUS_SOURCE_DIR");
    snprintf(p, sizeof p, "%s/deploy/examples/broker.conf", root ? root : ".");
    refbus_broker_config_defaults(&b);
    if (refbus_broker_config_load(&b, p, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(b.data_dir, "/var/lib/refbus/broker");
    assert_int_equal(b.map_size_mb, 16384);
}

static int setup(void **s)
{
    (void)s;
    snprintf(dir, sizeof dir, "/tmp/refbus-config-XXXXXX");
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
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_each_type),
        cmocka_unit_test(test_mistakes),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_broker_and_node_agree),
        cmocka_unit_test(test_examples),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
