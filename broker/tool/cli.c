/* refbus-broker: the helpers every subcommand shares (see cli.h). */
#include "broker/tool/cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_misuse(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return refbus_cli_misuse("refbus-broker", cmd, "%s", msg);
}

int cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts)
{
    return refbus_cli_bad_option("refbus-broker", cmd, c, argv, opts);
}

int cli_conf_opt(cli_conf *cc, int c, const char *usage)
{
    const char *key;
    switch (c) {
    case 'c': cc->file = optarg; return 1;
    case 'd': key = "data_dir"; break;
    case 'b': key = "bind"; break;
    case 'a': key = "admin"; break;
    case 'k': key = "keystore"; break;
    case 'p': key = "passphrase_file"; break;
    case 'D': key = "directory"; break;
    case 'l': key = "log_level"; break;
    case 'o': key = NULL; break;
    case 'h': fputs(usage, stdout); exit(0);
    default: return 0;
    }
    if (cc->n == CLI_MAX_FLAGS) {
        cc->overflow = 1;
        return 1;
    }
    cc->flags[cc->n].key = key;
    cc->flags[cc->n++].val = optarg;
    return 1;
}

int cli_conf_apply(const char *cmd, const cli_conf *cc, refbus_broker_config *cfg, int need_admin)
{
    refbus_broker_config_defaults(cfg);
    if (cc->overflow)
        return cli_misuse(cmd, "more than %d configuration options", CLI_MAX_FLAGS);
    char err[600];
    if (cc->file && refbus_broker_config_load(cfg, cc->file, err, sizeof err) != 0) {
        fprintf(stderr, "refbus-broker: %s\n", err); /* FILE:LINE: key 'x': reason */
        return REFBUS_EXIT_USAGE;
    }
    for (int i = 0; i < cc->n; i++)
        if (cc->flags[i].key &&
            refbus_broker_config_set(cfg, cc->flags[i].key, cc->flags[i].val, err, sizeof err))
            return cli_misuse(cmd, "%s", err);
    for (int i = 0; i < cc->n; i++) {
        if (cc->flags[i].key)
            continue;
        const char *kv = cc->flags[i].val, *eq = strchr(kv, '=');
        char key[64];
        if (!eq)
            return cli_misuse(cmd, "-o wants KEY=VALUE, got '%s'", kv);
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
        if (refbus_broker_config_set(cfg, key, eq + 1, err, sizeof err) != 0)
            return cli_misuse(cmd, "%s", err);
    }
    if (!cfg->admin[0] && cfg->data_dir[0])
        snprintf(cfg->admin, sizeof cfg->admin, "ipc://%s/admin.sock", cfg->data_dir);
    if (need_admin && !cfg->admin[0])
        return cli_misuse(cmd, "no admin socket: give -a ENDPOINT, -d DATA_DIR or -c FILE");
    return 0;
}

int cli_admin(const char *cmd, const refbus_broker_config *cfg, const uint8_t *body, size_t len,
              int timeout_ms)
{
    return refbus_broker_admin_request(cfg->admin, cmd, body, len, timeout_ms) == 0
               ? 0
               : REFBUS_EXIT_FAIL;
}
