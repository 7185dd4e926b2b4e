/* libFuzzer: the LMDB files refbus-audit opens (issue 10, defect 7). Each input is written as a
 * data.mdb; the meta-page check that runs before anything is mapped (refbus_lmdb_file_check)
 * runs in-process and must never crash; the reader, verify and a record walk run under
 * refbus_audit_guard exactly as refbus-audit runs them, where LMDB dying of SIGSEGV/SIGBUS on a
 * hostile file is the expected, reported outcome and not a finding. A finding is a crash of our
 * own code: in this process, or a sanitizer report in the child (it exits with the fuzzer's
 * error code, and the parent aborts). Limitation: a plain SIGSEGV in our code inside the child
 * looks like LMDB's and is not reported (ASan reports our invalid accesses before they fault);
 * and libFuzzer sees coverage of this process only (the check, the guard), not of the child's
 * reading, so mutations of the seed trail explore the reader blindly (about 50 runs a second:
 * one fork each). tests/scenario/audit/audit_damaged.sh covers truncations and byte flips directly.
 * Seed: tests/fuzz/corpus/audit_file/trail8.mdb, a valid 8-record trail made with
 * `audit_gen fill DIR 6 3 3 1` and compacted with `mdb_copy -c` (7 pages of 4096 bytes). */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/guard.h"
#include "audit/reader.h"
#include "audit/record.h"
#include "audit/verify.h"
#include "common/datadir.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int peek(void *ctx, uint64_t index, const uint8_t *rec, size_t len)
{
    refbus_audit_peek pk;
    (void)ctx;
    (void)index;
    (void)refbus_audit_record_peek(&pk, rec, len);
    return 0;
}

/* In the child: what refbus-audit verify and replay do with the file. */
static int read_trail(void *ctx, refbus_audit_watch *w)
{
    refbus_audit_reader *r = NULL;
    refbus_audit_verify_result res;
    if (refbus_audit_reader_open_watched(&r, ctx, w) != 0)
        _exit(0);
    (void)refbus_audit_verify(r, NULL, &res);
    (void)refbus_audit_scan(r, 0, UINT64_MAX, peek, NULL);
    refbus_audit_reader_close(&r);
    _exit(0); /* not exit(): libFuzzer's exit handler would call a clean exit a finding */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[64], path[128], lock[160];
    char why[256];
    int truncated;
    if (!dir[0]) {
        if (sodium_init() < 0)
            abort();
        snprintf(dir, sizeof dir, "/tmp/fuzz-audit-file-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        snprintf(lock, sizeof lock, "%s/lock.mdb", dir);
    }
    unlink(lock);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    (void)refbus_lmdb_file_check(path, why, sizeof why, &truncated);
    refbus_audit_outcome o;
    if (refbus_audit_guard(read_trail, dir, &o) != 0)
        abort();
    if (o.signal == 0 && o.status != 0)
        abort(); /* a sanitizer (or our code) failed in the child: see its report above */
    return 0;
}
