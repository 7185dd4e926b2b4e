/* libFuzzer: `refbus-audit check-proof FILE` end to end (audit/tool/cmd_check_proof.c over
 * audit/proof.c): reading the file, decoding and checking the proof, and rendering what it
 * proves — the record decoded as text or JSON, both checkpoints. Byte 0 picks the options:
 * bit 0 --json, bit 1 --broker-pk of a fixed key that signed nothing (the proof must then not
 * hold). The rest is the file. Must never crash or leak; stdout goes to /dev/null. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/tool/cli.h"
#include "common/log.h"
#include "fuzz_util.h"
#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300], pkarg[80];
    if (!path[0]) {
        uint8_t seed[32], pk[32], sk[64];
        if (sodium_init() < 0 || !freopen("/dev/null", "w", stdout))
            abort();
        memset(seed, 0x77, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        refbus_hex(pkarg, pk, 32);
        snprintf(path, sizeof path, "%s/input", fuzz_tmpdir("proof"));
        refbus_log_init("fuzz", REFBUS_LOG_ERROR, 0);
    }
    if (size < 1)
        return 0;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f) != 0)
        abort();
    char a0[] = "check-proof", a1[] = "--json", a2[] = "--broker-pk";
    char *argv[6];
    int argc = 0;
    argv[argc++] = a0;
    if (data[0] & 1)
        argv[argc++] = a1;
    if (data[0] & 2) {
        argv[argc++] = a2;
        argv[argc++] = pkarg;
    }
    argv[argc++] = path;
    argv[argc] = NULL;
    optind = 0; /* glibc: start getopt afresh */
    int rc = cmd_check_proof(argc, argv);
    if ((data[0] & 2) && rc == 0)
        abort(); /* a proof held under a key that signed nothing */
    if (rc != 0 && rc != REFBUS_EXIT_FAIL)
        abort(); /* the arguments are always well-formed: never a usage error */
    return 0;
}
