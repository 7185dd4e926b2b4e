/* libFuzzer: passphrase files (keys/passphrase.c), read exactly as the daemons and refbus-keys
 * read --passphrase-file: into sodium_malloc'd memory, one trailing newline stripped, empty,
 * NUL-bearing and overlong contents refused. Checks the result against the same rules computed
 * here independently. Must never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "fuzz_util.h"
#include "keys/passphrase.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0]) {
        if (sodium_init() < 0) /* as every program does before reading a passphrase */
            abort();
        snprintf(path, sizeof path, "%s/input", fuzz_tmpdir("pass"));
        refbus_log_init("fuzz", REFBUS_LOG_ERROR, 0);
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    /* what the file must yield */
    size_t want = size;
    if (want > 0 && data[want - 1] == '\n') {
        want--;
        if (want > 0 && data[want - 1] == '\r')
            want--;
    }
    int ok = want > 0 && want <= REFBUS_PASSPHRASE_MAX && !memchr(data, 0, want);
    char *p = NULL;
    size_t len = 0;
    int rc = refbus_passphrase_get(&p, &len, path, "unused", 0);
    if ((rc == 0) != ok)
        abort();
    if (rc == 0 && (len != want || memcmp(p, data, len) != 0 || p[len] != 0))
        abort();
    if (rc != 0 && rc != REFBUS_EINVAL)
        abort();
    refbus_passphrase_free(&p, len);
    return 0;
}
