# Tests for bench/ (refbus-bench): a tiny run through real daemons whose summary line must parse
# and whose counts must add up, and the usage errors. Never a timing assertion.
refbus_script_test(bench_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/bench/bench_test.sh TIMEOUT 300)
