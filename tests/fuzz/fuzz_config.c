/* libFuzzer: the one config loader (common/config.c, over inih) through both daemons' tables
 * (broker/config.c's [broker] section, nodes/daemon/config.c's [node] section), one key set as from
 * the command line, and the node's duration parser. The input is written to a file, as an
 * operator's config is read. Byte 0 picks the reader. Must never crash, leak, leave a string
 * field or the error message unterminated, or fail without saying why. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "common/log.h"
#include "fuzz_util.h"
#include "nodes/daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[300];

static void put(const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(d, 1, n, f) != n || fclose(f) != 0)
        abort();
}

#define TERMINATED(field) (memchr((field), 0, sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/input", fuzz_tmpdir("config"));
        refbus_log_init("fuzz", REFBUS_LOG_ERROR, 0);
    }
    if (size < 1)
        return 0;
    put(data + 1, size - 1);
    if (data[0] & 1) {
        refbus_broker_config c;
        char err[600];
        refbus_broker_config_defaults(&c);
        int rc = refbus_broker_config_load(&c, path, err, sizeof err);
        if (rc == 0 && (!TERMINATED(c.data_dir) || !TERMINATED(c.bind) || !TERMINATED(c.admin) ||
                        !TERMINATED(c.keystore) || !TERMINATED(c.passphrase_file) ||
                        !TERMINATED(c.directory) || !TERMINATED(c.root_pk_hex)))
            abort();
        if (rc != 0 && (!TERMINATED(err) || !err[0]))
            abort();
    } else {
        refbus_node_config c;
        char err[256];
        refbus_node_config_init(&c);
        if (refbus_node_config_load(&c, path, err, sizeof err) == 0) {
            if (!TERMINATED(c.agency) || !TERMINATED(c.keystore) || !TERMINATED(c.data_dir) ||
                !TERMINATED(c.broker) || !TERMINATED(c.directory) ||
                !TERMINATED(c.passphrase_file) || !TERMINATED(c.control) ||
                !TERMINATED(c.control_group))
                abort();
            if (refbus_node_config_finish(&c, data[0] & 2, err, sizeof err) == 0 &&
                !TERMINATED(c.control))
                abort();
        } else if (!TERMINATED(err) || !err[0]) {
            abort();
        }
    }
    if (size < 300 && memchr(data + 1, '=', size - 1)) { /* KEY=VALUE as given to -o */
        char kv[300], err[600];
        memcpy(kv, data + 1, size - 1);
        kv[size - 1] = 0;
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = 0;
            refbus_node_config c;
            refbus_node_config_init(&c);
            if (refbus_node_config_set(&c, kv, eq + 1, err, sizeof err) != 0 &&
                (!TERMINATED(err) || !err[0]))
                abort();
        }
    }
    if (size < 64) { /* the duration parser on a NUL-terminated copy */
        char s[64];
        uint64_t ms;
        memcpy(s, data + 1, size - 1);
        s[size - 1] = 0;
        (void)refbus_node_config_duration(&ms, s);
    }
    return 0;
}
