# libFuzzer target for audit/: records, checkpoints, proof files, times (tests/fuzz/fuzz_audit.c).
refbus_fuzz(fuzz_audit fuzz_audit.c refbus_audit)
# The LMDB files refbus-audit opens, read under the guard (tests/fuzz/fuzz_audit_file.c).
refbus_fuzz(fuzz_audit_file fuzz_audit_file.c refbus_audit)
