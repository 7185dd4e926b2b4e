/* refbus-node: the helpers every subcommand shares (see cli.h): its options, and how a command
 * talks to the daemon and prints what it answers. */
#include "nodes/client/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"

#define INPUT_MAX_BYTES (8u * 1024u * 1024u)

const struct option cli_all_opts[] = {
    CLI_DAEMON_OPTS,
    {"compact", no_argument, NULL, OPT_COMPACT},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"to", required_argument, NULL, 't'},
    {"urgency", required_argument, NULL, 'u'},
    {"expires-in", required_argument, NULL, 'e'},
    {"msg-id", required_argument, NULL, OPT_MSG_ID},
    {"wait", optional_argument, NULL, 'w'},
    {"after", required_argument, NULL, OPT_AFTER},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"status", required_argument, NULL, OPT_STATUS},
    {"reason-code", required_argument, NULL, 'r'},
    {"text", required_argument, NULL, 'T'},
    {"text-file", required_argument, NULL, OPT_TEXT_FILE},
    {"max-down", required_argument, NULL, OPT_MAX_DOWN},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

int cli_misuse(const char *cmd, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return refbus_cli_misuse("refbus-node", cmd, "%s", msg);
}

/* Is the option getopt_long just refused as unknown one of another command's? Then say so. */
static int foreign_option(const char *cmd, char **argv)
{
    const char *arg = optind > 0 && argv[optind - 1] ? argv[optind - 1] : "";
    if (optopt == 0 && strncmp(arg, "--", 2) == 0) {
        size_t len = strcspn(arg + 2, "=");
        int n = 0;
        for (const struct option *o = cli_all_opts; o->name; o++)
            if (strncmp(o->name, arg + 2, len) == 0)
                n++;
        if (n == 1)
            return cli_misuse(cmd, "option '--%.*s' does not belong to '%s'", (int)len, arg + 2,
                              cmd);
    } else if (optopt > ' ' && optopt < 127 && optopt != ':' && strchr(CLI_ALL_SHORT, optopt)) {
        return cli_misuse(cmd, "option '-%c' does not belong to '%s'", optopt, cmd);
    }
    return 0;
}

static int config_opt(cli_state *st, const char *key, const char *val)
{
    if (st->n == CLI_MAX_FLAGS)
        return cli_misuse(NULL, "more than %d configuration options", CLI_MAX_FLAGS);
    st->flags[st->n].key = key;
    st->flags[st->n++].val = val;
    return 0;
}

int cli_number(const char *cmd, const char *what, const char *arg, unsigned long long min,
               unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    unsigned long long v = 0;
    if (arg && *arg >= '0' && *arg <= '9')
        v = strtoull(arg, &end, 10);
    if (!end || *end || v < min || v > max)
        return cli_misuse(cmd, "%s, got '%s'", what, arg ? arg : "");
    *out = v;
    return 0;
}

int cli_paged_opts(cli_state *st, cli_page *page, const char *cmd, int argc, char **argv,
                   const char *usage)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS,
                                         {"after", required_argument, NULL, OPT_AFTER},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT, opts, NULL)) != -1) {
        if (c == OPT_AFTER)
            rc = cli_number(cmd, "--after: a sequence number", optarg, 0, UINT64_MAX, &page->after);
        else if (c == OPT_LIMIT)
            rc = cli_number(cmd, "--limit: 1 to 1000", optarg, 1, 1000, &page->limit);
        else
            rc = cli_opt(st, cmd, c, argv, opts, usage);
        if (rc)
            return rc;
        page->given |= c == OPT_AFTER || c == OPT_LIMIT;
    }
    return 0;
}

int cli_opt(cli_state *st, const char *cmd, int c, char **argv, const struct option *opts,
            const char *usage)
{
    unsigned long long v;
    int rc;
    switch (c) {
    case 'c': st->config = optarg; return 0;
    case 'd': return config_opt(st, "data_dir", optarg);
    case 's': return config_opt(st, "control", optarg);
    case 'k': return config_opt(st, "keystore", optarg);
    case 'p': return config_opt(st, "passphrase_file", optarg);
    case 'D': return config_opt(st, "directory", optarg);
    case 'b': return config_opt(st, "broker", optarg);
    case 'a': return config_opt(st, "agency", optarg);
    case 'l': return config_opt(st, "log_level", optarg);
    case 'o':
        if (!strchr(optarg, '='))
            return cli_misuse(cmd, "-o wants KEY=VALUE, got '%s'", optarg);
        return config_opt(st, NULL, optarg);
    case OPT_COMPACT: st->compact = 1; return 0;
    case OPT_TIMEOUT:
        if ((rc = cli_number(cmd, "--timeout: milliseconds", optarg, 1, 3600000, &v)) != 0)
            return rc;
        st->timeout_ms = (int)v;
        return 0;
    case 'h': fputs(usage, stdout); exit(0);
    }
    if (c == '?' && (rc = foreign_option(cmd, argv)) != 0)
        return rc;
    return refbus_cli_bad_option("refbus-node", cmd, c, argv, opts);
}

int cli_ready(cli_state *st, const char *cmd)
{
    char err[512];
    const char *config = st->config ? st->config : getenv("REFBUS_NODE_CONFIG");
    refbus_node_config_init(&st->cfg);
    if (config && refbus_node_config_load(&st->cfg, config, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-node: %s\n", err);
        return REFBUS_EXIT_USAGE;
    }
    for (int i = 0; i < st->n; i++) {
        const char *key = st->flags[i].key, *val = st->flags[i].val;
        char kbuf[128];
        if (!key) { /* -o KEY=VALUE */
            const char *eq = strchr(val, '=');
            snprintf(kbuf, sizeof kbuf, "%.*s", (int)(eq - val), val);
            key = kbuf;
            val = eq + 1;
        }
        if (refbus_node_config_set(&st->cfg, key, val, err, sizeof err) != 0)
            return cli_misuse(cmd, "%s", err);
    }
    return 0;
}

void cli_print_json(const cli_state *g, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    char *out = j ? json_dumps(j, g->compact ? JSON_COMPACT : JSON_INDENT(2)) : NULL;
    puts(out ? out : text);
    free(out);
    json_decref(j);
}

/* Print an error both ways: a JSON document for programs, a sentence for people. When the
 * referral was queued before the failure (`send --wait` timing out), `queued_id` names it in
 * the document's "msg_id" field so that a program looks it up instead of sending it again. */
int cli_fail_queued(const cli_state *g, const char *what, int code, const char *msg,
                    const char *queued_id)
{
    json_t *j = json_pack("{s:b, s:s, s:i, s:s}", "ok", 0, "error", refbus_errname(code), "code",
                          code, "message", msg && msg[0] ? msg : refbus_strerror(code));
    if (j && queued_id) {
        json_object_set_new(j, "msg_id", json_string(queued_id));
        json_object_set_new(j, "queued", json_true());
        json_object_set_new(j, "state", json_string("pending"));
    }
    char *out = j ? json_dumps(j, g->compact ? JSON_COMPACT : JSON_INDENT(2)) : NULL;
    if (out)
        puts(out);
    free(out);
    json_decref(j);
    fprintf(stderr, "refbus-node %s: %s (%s)\n", what, msg && msg[0] ? msg : refbus_strerror(code),
            refbus_errname(code));
    return 1;
}

int cli_fail(const cli_state *g, const char *what, int code, const char *msg)
{
    return cli_fail_queued(g, what, code, msg, NULL);
}

int cli_connect(cli_state *g, refbus_node **n, const char *what)
{
    char err[512];
    int rc = refbus_node_config_finish(&g->cfg, 0, err, sizeof err);
    if (rc)
        return cli_fail(g, what, rc, err);
    if ((rc = refbus_node_open_endpoint(n, g->cfg.control))) {
        snprintf(err, sizeof err, "no node daemon on %.400s (is `refbus-node run` running?)",
                 g->cfg.control);
        return cli_fail(g, what, rc, err);
    }
    if (g->timeout_ms)
        refbus_node_set_timeout(*n, g->timeout_ms);
    return 0;
}

/* Print the answer of a finished call (the daemon's own {"ok":false,...} when it refused) and
 * close. */
int cli_finish(cli_state *g, refbus_node **n, const char *what, int rc, char *reply)
{
    int status = 0;
    if (rc && !reply) {
        status = cli_fail(g, what, rc, refbus_node_last_error(*n));
    } else if (rc) {
        cli_print_json(g, reply);
        fprintf(stderr, "refbus-node %s: %s (%s)\n", what, refbus_node_last_error(*n),
                refbus_errname(rc));
        status = 1;
    } else {
        cli_print_json(g, reply);
    }
    free(reply);
    refbus_node_close(n);
    return status;
}

int cli_read_input(char **out, const char *file)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (file && strcmp(file, "-") != 0) {
        int rc = refbus_file_read(&b, &n, file, INPUT_MAX_BYTES);
        if (rc)
            return rc;
        *out = (char *)b;
        return 0;
    }
    size_t cap = 65536;
    if (!(b = malloc(cap + 1)))
        return REFBUS_ENOMEM;
    for (;;) {
        size_t got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (got == 0)
            break;
        if (n == cap) {
            if (cap >= INPUT_MAX_BYTES) {
                free(b);
                return REFBUS_ETOOLARGE;
            }
            uint8_t *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                return REFBUS_ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
    }
    b[n] = 0;
    *out = (char *)b;
    return 0;
}

int cli_daemon_ready(cli_state *g, const char *cmd)
{
    char err[512];
    int rc = refbus_node_config_finish(&g->cfg, 1, err, sizeof err);
    if (rc) {
        fprintf(stderr, "refbus-node %s: %s\n", cmd, err);
        return REFBUS_EXIT_FAIL;
    }
    refbus_log_init("refbus-node", (enum refbus_log_level)g->cfg.log_level, g->cfg.syslog);
    return 0;
}
