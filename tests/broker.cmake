# Broker scenario tests: real broker processes over loopback TCP.
refbus_test(broker_test SOURCES scenario/broker/broker_test.c lib/bclient.c
            LIBS refbus_keys refbus_proto PkgConfig::CMOCKA PkgConfig::ZMQ TIMEOUT 600)

# Benchmark (not a test): build/bin/refbus-broker-bench; see docs/BENCHMARKS.md.
add_executable(refbus-broker-bench bench/broker_bench.c lib/bclient.c)
target_compile_options(refbus-broker-bench PRIVATE ${REFBUS_WARN})
target_link_libraries(refbus-broker-bench PRIVATE refbus_keys refbus_proto PkgConfig::ZMQ)
# Issue 17: refbus-broker check (0/1/2 with one line) and metrics (Prometheus text, parsed by
# python3-prometheus-client, numbers matching the traffic).
refbus_script_test(broker_check_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/broker/broker_check_test.sh
                   TIMEOUT 300)
