/* Helpers shared by the refbus-audit subcommands (see cli.h). */
#include "audit/tool/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "audit/checkpoint.h"
#include "common/util.h"
#include "keys/directory.h"

int cli_misuse(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return refbus_cli_misuse("refbus-audit", cmd, "%s", msg);
}

int cli_bad_option(const char *cmd, int c, char **argv, const struct option *opts)
{
    return refbus_cli_bad_option("refbus-audit", cmd, c, argv, opts);
}

int cli_fail(const char *cmd, const char *what, int rc)
{
    fprintf(stderr, "refbus-audit %s: %s: %s\n", cmd, what, refbus_strerror(rc));
    return REFBUS_EXIT_FAIL;
}

int cli_pk(uint8_t out[crypto_sign_PUBLICKEYBYTES], const char *arg)
{
    char buf[130];
    if (arg[0] == '@') {
        uint8_t *b = NULL;
        size_t len = 0;
        if (refbus_file_read(&b, &len, arg + 1, 4096) != 0)
            return -1;
        size_t i = 0, n = 0;
        for (; i < len && n + 1 < sizeof buf; i++)
            if (b[i] != ' ' && b[i] != '\n' && b[i] != '\r' && b[i] != '\t')
                buf[n++] = (char)b[i];
        buf[n] = 0;
        free(b);
        arg = buf;
    }
    return strlen(arg) == 64 && refbus_unhex(out, REFBUS_MERKLE_HASH_BYTES, arg) == 0 ? 0 : -1;
}

int cli_directory_pks(const char *cmd, const char *dir_file, const char *root_pk,
                      uint8_t (*pks)[crypto_sign_PUBLICKEYBYTES], size_t *n)
{
    uint8_t root[crypto_sign_PUBLICKEYBYTES];
    refbus_directory *d = NULL;
    char hex[65];
    size_t added = 0;
    if (cli_pk(root, root_pk) != 0)
        return cli_misuse(cmd, "bad --root-pk '%s' (64 hex digits or @FILE)", root_pk);
    int rc = refbus_directory_load_file(&d, dir_file, root, NULL);
    if (rc != 0)
        return cli_fail(cmd, dir_file, rc);
    for (size_t i = 0; i < refbus_directory_broker_key_count(d); i++) {
        const refbus_dir_key *k = refbus_directory_broker_key_at(d, i);
        /* The one key-trust rule: READ admits retired epochs (old checkpoints), never a revoked
         * one nor one at or below a revoked epoch. */
        if (!k || *n == CLI_MAX_PKS ||
            refbus_directory_key_trust(d, refbus_directory_broker_id(d), k->epoch, REFBUS_KEY_READ,
                                       NULL) != 0)
            continue;
        memcpy(pks[(*n)++], k->sign_pk, crypto_sign_PUBLICKEYBYTES);
        refbus_hex(hex, k->sign_pk, crypto_sign_PUBLICKEYBYTES);
        fprintf(stderr, "refbus-audit %s: broker key epoch %u from the directory: %s\n", cmd,
                k->epoch, hex);
        added++;
    }
    refbus_directory_free(&d);
    if (added == 0) {
        fprintf(stderr, "refbus-audit %s: %s lists no unrevoked broker key\n", cmd, dir_file);
        return REFBUS_EXIT_FAIL;
    }
    return 0;
}

int cli_u64(uint64_t *out, const char *arg)
{
    char *end = NULL;
    if (!arg[0] || arg[0] < '0' || arg[0] > '9')
        return -1;
    unsigned long long v = strtoull(arg, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static refbus_audit_watch *cli_watch; /* set once by main() in the guarded child */

void cli_set_watch(refbus_audit_watch *w)
{
    cli_watch = w;
}

int cli_open(const char *cmd, const char *path, refbus_audit_reader **r)
{
    int rc = refbus_audit_reader_open_watched(r, path, cli_watch);
    if (rc == 0 && cli_watch && cli_watch->damaged)
        fprintf(stderr, "refbus-audit %s: %s is damaged: %s; reading what can still be read\n", cmd,
                cli_watch->path, cli_watch->why);
    if (rc == REFBUS_ECORRUPT) {
        if (cli_watch && cli_watch->damaged)
            fprintf(stderr, "refbus-audit %s: %s is damaged: %s\n", cmd, cli_watch->path,
                    cli_watch->why);
        else
            fprintf(stderr,
                    "refbus-audit %s: %s: the data file is damaged (truncated, or its "
                    "meta pages are broken)\n",
                    cmd, path);
        cli_watch = NULL; /* said: main() need not say it again */
        return REFBUS_EXIT_FAIL;
    }
    if (rc == REFBUS_ENOTFOUND) {
        fprintf(stderr,
                "refbus-audit %s: %s: no audit trail there (a broker data directory holds "
                "data.mdb with the audit.* databases)\n",
                cmd, path);
        return REFBUS_EXIT_FAIL;
    }
    if (rc != 0)
        return cli_fail(cmd, path, rc);
    if (refbus_audit_reader_unlocked(*r))
        fprintf(stderr,
                "refbus-audit %s: warning: %s opened without a lock file (read-only place); "
                "make sure no broker is writing to it\n",
                cmd, path);
    return 0;
}

int cli_read(const char *path, uint8_t **out, size_t *len, size_t max)
{
    if (strcmp(path, "-") != 0)
        return refbus_file_read(out, len, path, max);
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    int rc = 0;
    if (!b)
        return REFBUS_ENOMEM;
    for (;;) {
        size_t got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (n > max) {
            rc = REFBUS_ETOOLARGE;
            break;
        }
        if (got == 0) {
            rc = ferror(stdin) ? REFBUS_EIO : 0;
            break;
        }
        if (n == cap) {
            uint8_t *nb = realloc(b, cap * 2);
            if (!nb) {
                rc = REFBUS_ENOMEM;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    if (rc != 0) {
        free(b);
        return rc;
    }
    *out = b;
    *len = n;
    return 0;
}

int cli_read_checkpoint(const char *path, uint8_t **out, size_t *len)
{
    uint8_t *b = NULL;
    size_t n = 0, h = 0;
    int rc = cli_read(path, &b, &n, 4 * REFBUS_CHECKPOINT_MAX);
    if (rc != 0)
        return rc;
    /* hex text? then decode it in place (two digits make one byte) */
    for (size_t i = 0; i < n; i++) {
        char c = (char)b[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            h = SIZE_MAX;
            break;
        }
        b[h++] = (uint8_t)c;
    }
    if (h != SIZE_MAX && h > 0 && h % 2 == 0) {
        char pair[3] = {0};
        for (size_t i = 0; i < h / 2; i++) {
            pair[0] = (char)b[2 * i];
            pair[1] = (char)b[2 * i + 1];
            b[i] = (uint8_t)strtoul(pair, NULL, 16);
        }
        n = h / 2;
    } else if (h != SIZE_MAX && h > 0) {
        free(b);
        return REFBUS_EMALFORMED;
    }
    if (n > REFBUS_CHECKPOINT_MAX) {
        free(b);
        return REFBUS_ETOOLARGE;
    }
    *out = b;
    *len = n;
    return 0;
}
