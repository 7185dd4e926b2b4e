# Tests for deploy/: the one-command demo network, and the same story across Linux network
# namespaces (skipped with exit code 77 where namespaces cannot be created).
refbus_script_test(demo_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/demo_test.sh TIMEOUT 300)
refbus_script_test(netns_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/netns_test.sh TIMEOUT 300)
set_tests_properties(netns_test PROPERTIES SKIP_RETURN_CODE 77)
# The installed programs' command lines: version, help, one-line usage errors, no crash points.
refbus_script_test(programs_cli_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/programs_cli_test.sh
                   TIMEOUT 120)
