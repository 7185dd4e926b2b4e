# Tests for audit/ (included by tests/CMakeLists.txt).
refbus_test(audit_merkle_test SOURCES unit/audit/audit_merkle_test.c
            LIBS refbus_audit PkgConfig::CMOCKA)
refbus_test(audit_log_test SOURCES unit/audit/audit_log_test.c lib/audit_testutil.c
            LIBS refbus_audit PkgConfig::CMOCKA)
refbus_test(audit_verify_test SOURCES unit/audit/audit_verify_test.c lib/audit_testutil.c
            lib/audit_tamper.c LIBS refbus_audit PkgConfig::CMOCKA)
refbus_test(audit_crash_test SOURCES unit/audit/audit_crash_test.c lib/audit_testutil.c
            LIBS refbus_audit PkgConfig::CMOCKA)

# refbus-audit-bench (build/bin): times verify over a generated trail; docs/BENCHMARKS.md.
add_executable(refbus-audit-bench bench/audit_bench.c lib/audit_testutil.c)
target_include_directories(refbus-audit-bench PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/lib)
target_compile_options(refbus-audit-bench PRIVATE ${REFBUS_WARN})
target_link_libraries(refbus-audit-bench PRIVATE refbus_audit)

# audit_gen (build/tests): a test-only generator and tamperer for the scenario scripts.
add_executable(audit_gen lib/audit_gen.c lib/audit_testutil.c lib/audit_tamper.c)
set_target_properties(audit_gen PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
target_compile_options(audit_gen PRIVATE ${REFBUS_WARN})
target_link_libraries(audit_gen PRIVATE refbus_audit refbus_keys)

# Scenario scripts (bash; refbus-audit and audit_gen from the build).
foreach(s tamper replay prove crash cli directory damaged)
  refbus_script_test(audit_${s} ${CMAKE_CURRENT_SOURCE_DIR}/scenario/audit/audit_${s}.sh)
endforeach()
# hundreds of refbus-audit runs on damaged copies: bounded, but slow under ASan on two cores
set_tests_properties(audit_damaged PROPERTIES TIMEOUT 600)
