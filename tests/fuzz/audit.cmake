# libFuzzer target for audit/: records, checkpoints, proof files, times (tests/fuzz/fuzz_audit.c).
refbus_fuzz(fuzz_audit fuzz_audit.c refbus_audit)
