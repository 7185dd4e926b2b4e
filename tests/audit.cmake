# Tests for audit/ (included by tests/CMakeLists.txt).
refbus_test(audit_merkle_test SOURCES unit/audit_merkle_test.c
            LIBS refbus_audit PkgConfig::CMOCKA)
