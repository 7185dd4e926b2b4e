# Tests for deploy/: the one-command demo network, and the same story across Linux network
# namespaces (skipped with exit code 77 where namespaces cannot be created).
refbus_script_test(demo_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/deploy/demo_test.sh TIMEOUT 300)
refbus_script_test(netns_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/deploy/netns_test.sh TIMEOUT 300)
set_tests_properties(netns_test PROPERTIES SKIP_RETURN_CODE 77)
# The installed programs' command lines: version, help, one-line usage errors, no crash points.
refbus_script_test(programs_cli_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/deploy/programs_cli_test.sh
                   TIMEOUT 300) # some 300 short runs: about 2 minutes under ASan on a busy machine
# systemd integration (issue 17): sd_notify readiness, watchdog, STATUS, STOPPING and journal
# priority prefixes, against a fake NOTIFY_SOCKET (python3).
refbus_script_test(systemd_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/deploy/systemd_test.sh TIMEOUT 120)
# The systemd units: `systemd-analyze verify` clean, Type=notify, the exposure scores that
# docs/ADMIN-GUIDE.md records (skipped only without systemd-analyze).
refbus_script_test(units_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/deploy/units_test.sh TIMEOUT 120)
# The Debian package (cmake/package.cmake): builds from this build, lintian clean, dpkg -i, the
# programs run, dpkg -r / -P leave nothing. Root only (CI); refuses to touch an existing refbus
# install. Release builds only: a package of sanitizer builds would prove nothing more.
if(NOT REFBUS_SANITIZE AND NOT REFBUS_FUZZ)
  refbus_script_test(deb_test ${CMAKE_CURRENT_SOURCE_DIR}/scenario/deploy/deb_test.sh TIMEOUT 600)
endif()
