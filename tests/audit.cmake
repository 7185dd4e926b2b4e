# Tests for audit/ (included by tests/CMakeLists.txt).
refbus_test(audit_merkle_test SOURCES unit/audit_merkle_test.c
            LIBS refbus_audit PkgConfig::CMOCKA)
refbus_test(audit_log_test SOURCES unit/audit_log_test.c unit/audit_testutil.c
            LIBS refbus_audit PkgConfig::CMOCKA)
refbus_test(audit_verify_test SOURCES unit/audit_verify_test.c unit/audit_testutil.c
            unit/audit_tamper.c LIBS refbus_audit PkgConfig::CMOCKA)
