# Tests for nodes/ (refbus-node): unit tests and real-process scenarios with a broker.
# The rules and the store link alone: the rules need no store, LMDB or ZeroMQ.
refbus_test(node_json_test SOURCES unit/nodes/node_json_test.c lib/testutil.c
            LIBS refbus_node_rules PkgConfig::CMOCKA PkgConfig::JANSSON)
refbus_test(node_thread_test SOURCES unit/nodes/node_thread_test.c
            LIBS refbus_node_rules PkgConfig::CMOCKA PkgConfig::JANSSON)
refbus_test(node_store_test SOURCES unit/nodes/node_store_test.c
            LIBS refbus_node_store PkgConfig::CMOCKA PkgConfig::LMDB)
refbus_script_test(node_flow_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_flow_test.sh
                   TIMEOUT 300)
refbus_script_test(node_crash_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_crash_test.sh
                   TIMEOUT 300)
refbus_script_test(node_groupcommit_scenario
                   ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_groupcommit_test.sh TIMEOUT 300)
refbus_script_test(node_keys_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_keys_test.sh
                   TIMEOUT 300)
refbus_script_test(node_session_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_session_test.sh
                   TIMEOUT 300)
refbus_script_test(node_audit_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_audit_test.sh
                   TIMEOUT 300)
refbus_test(node_inbound_test SOURCES unit/nodes/node_inbound_test.c lib/testutil.c ${REFBUS_FAULT_SRC}
            LIBS refbus_nodes PkgConfig::CMOCKA ${CMAKE_DL_LIBS})
if(REFBUS_FAULT_SRC) # the allocation-failure cases need the fault shim (not under sanitizers)
  target_compile_definitions(node_inbound_test PRIVATE REFBUS_TEST_FAULT=1)
endif()
refbus_test(node_config_test SOURCES unit/nodes/node_config_test.c LIBS refbus_nodes PkgConfig::CMOCKA)
refbus_test(node_client_test SOURCES unit/nodes/node_client_test.c
            LIBS refbus_nodes PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::ZMQ pthread)
# Issue 10: node store records are unpacked/freed (and wiped) only in nodes/store/codec.c.
refbus_script_test(check_nodestore_wipe ${CMAKE_CURRENT_SOURCE_DIR}/check_nodestore_wipe.sh
                   TIMEOUT 60)
refbus_script_test(node_hardening_scenario
                   ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_hardening_test.sh TIMEOUT 300)
refbus_script_test(node_reanchor_scenario
                   ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_reanchor_test.sh TIMEOUT 300)
# The standing malicious-broker suite (Python speaking the broker side with the broker's keys).
refbus_script_test(evil_broker_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/system/evil_broker_test.sh
                   TIMEOUT 300)
set_tests_properties(evil_broker_scenario PROPERTIES SKIP_RETURN_CODE 77)
# The kill -9 torture suite (issue 10): broker and four nodes killed at random under concurrent
# sends; invariants at the end. Longer: REFBUS_TORTURE_ROUNDS=N (README "Standing suites").
refbus_script_test(torture_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/system/torture_test.sh
                   TIMEOUT 600)
if(REFBUS_SANITIZE)
  set_property(TEST torture_scenario APPEND PROPERTY ENVIRONMENT REFBUS_TORTURE_DEFAULT_ROUNDS=8)
else()
  set_property(TEST torture_scenario APPEND PROPERTY ENVIRONMENT REFBUS_TORTURE_DEFAULT_ROUNDS=25)
endif()
# Fault injection (tests/fault shim in LD_PRELOAD): full stores, failing allocations and I/O on
# broker and nodes, invariants after each. Skipped (77) where the shim is not built (sanitizers).
refbus_script_test(fault_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/system/fault_test.sh TIMEOUT 600)
refbus_script_test(fault_enospc_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/system/fault_enospc_test.sh
                   TIMEOUT 300)
# The C API as agency systems get it: installed into a scratch prefix, built with pkg-config.
refbus_script_test(node_client_install ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/client_install_test.sh
                   TIMEOUT 120)
set(_client_cflags "")
if(REFBUS_SANITIZE) # the installed libraries are instrumented: so is the program built on them
  set(_client_cflags "-fsanitize=address,undefined")
endif()
set_property(TEST node_client_install APPEND PROPERTY ENVIRONMENT CC=${CMAKE_C_COMPILER}
             "REFBUS_CLIENT_CFLAGS=${_client_cflags}")
# Corrupt fixtures for the node's store (issue 11 item 5): damaged inbox and outbox records.
refbus_script_test(node_store_fixtures_scenario
                   ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_store_fixtures_test.sh TIMEOUT 300)
# Issue 17: refbus-node check (0/1/2 with one line), down_since_ms in status, the warning after
# a long time without the broker.
refbus_script_test(node_check_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/nodes/node_check_test.sh
                   TIMEOUT 300)
