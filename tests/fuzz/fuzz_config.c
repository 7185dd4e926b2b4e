/* libFuzzer: the ini config files of both daemons (broker/config.c with its [broker] section,
 * nodes/daemon/config.c with its [node] section, both through inih) and the node's duration parser.
 * The input is written to a file, as an operator's config is read. Byte 0 picks the reader.
 * Must never crash, leak, or leave a string field unterminated. */
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
        refbus_broker_config_defaults(&c);
        if (refbus_broker_config_load(&c, path) == 0 &&
            (!TERMINATED(c.data_dir) || !TERMINATED(c.bind) || !TERMINATED(c.admin) ||
             !TERMINATED(c.keystore) || !TERMINATED(c.passphrase_file) ||
             !TERMINATED(c.directory) || !TERMINATED(c.root_pk_hex)))
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
        } else if (!TERMINATED(err)) {
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
