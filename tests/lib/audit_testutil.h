/* Helpers shared by the audit tests and the test-data generator: scratch data directories, an
 * LMDB environment laid out like the broker's (DIR/data.mdb), a fixed broker key, and realistic
 * records (accepted / queued / delivered / rejected ... between the demo agencies). */
#ifndef REFBUS_AUDIT_TESTUTIL_H
#define REFBUS_AUDIT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "audit/log.h"

/* The broker key every generated trail is signed with (from a fixed seed). */
void atest_broker_key(uint8_t pk[32], uint8_t sk[64]);
/* A different key, for forgeries. */
void atest_other_key(uint8_t pk[32], uint8_t sk[64]);

/* mkdtemp() under $TMPDIR (or /tmp); returns a malloc'd path. Aborts on failure. */
char *atest_tmpdir(const char *tag);
/* Remove a scratch directory made by atest_tmpdir and free the path. */
void atest_rmdir(char **dir);

/* Open DIR/data.mdb the broker's way (maxdbs 16, `map_size` bytes). Aborts on failure. */
MDB_env *atest_env_open(const char *dir, size_t map_size);

/* Fill `r` with the `n`-th record of a plausible broker history (a referral's life: accepted,
 * queued per recipient, delivered, status answers, now and then a rejection, a duplicate, a
 * peer event or an expiry). Strings and bytes point into `scratch`, which must outlive `r`. */
typedef struct atest_scratch {
    uint8_t msg_id[16];
    uint8_t env_hash[32];
    uint8_t receipt[512];
    char *rcpt[3];
    char reason_text[64];
} atest_scratch;
void atest_record(Refbus__V1__AuditRecord *r, atest_scratch *scratch, uint64_t n, uint64_t time_ms);

/* Append `count` generated records in transactions of `batch`, signing a checkpoint every
 * `cp_every` records (0: never) and once at the end when `final_cp`. Returns 0 or a refbus code. */
int atest_fill(MDB_env *env, refbus_audit *a, uint64_t count, unsigned batch, uint64_t cp_every,
               int final_cp);
/* The same, signing checkpoints with `sign_sk` instead of the fixed broker key. */
int atest_fill_sk(MDB_env *env, refbus_audit *a, uint64_t count, unsigned batch, uint64_t cp_every,
                  int final_cp, const uint8_t sign_sk[64]);

#endif
