# Storage (issue 10, defects 5-8): a full store keeps serving, fatal storage errors stop the
# daemons, damaged files are refused with their name, one daemon per data directory.
refbus_test(storage_test SOURCES scenario/broker/storage_test.c lib/bclient.c
            LIBS refbus_keys refbus_proto PkgConfig::CMOCKA PkgConfig::ZMQ TIMEOUT 300)
# A test-only LD_PRELOAD shim that turns LMDB's transactions into MDB_PANIC on demand; the
# programs themselves carry no fault hook.
add_library(lmdb_panic_shim MODULE lib/lmdb_panic_shim.c)
set_target_properties(lmdb_panic_shim PROPERTIES PREFIX ""
                      LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
target_compile_options(lmdb_panic_shim PRIVATE ${REFBUS_WARN})
target_link_libraries(lmdb_panic_shim PRIVATE PkgConfig::LMDB ${CMAKE_DL_LIBS})
refbus_script_test(storage_daemons_scenario
                   ${CMAKE_CURRENT_SOURCE_DIR}/scenario/system/storage_daemons_test.sh TIMEOUT 300)
set_property(TEST storage_daemons_scenario APPEND PROPERTY ENVIRONMENT
             "REFBUS_LMDB_SHIM=$<TARGET_FILE:lmdb_panic_shim>")
# Issue 11 item 2 / issue 17 item 7: one config loader, the same words from both daemons; a
# mistyped data directory is an error, init creates the store where the config says.
refbus_script_test(config_daemons_scenario
                   ${CMAKE_CURRENT_SOURCE_DIR}/scenario/common/config_daemons_test.sh TIMEOUT 120)
# Corrupt fixtures for the broker's own tables (issue 11 item 5): each case damages a copy of a
# known store with the LMDB API and starts the real broker on it.
refbus_test(store_fixtures_test SOURCES scenario/broker/store_fixtures_test.c lib/bclient.c
            LIBS refbus_keys refbus_proto PkgConfig::CMOCKA PkgConfig::ZMQ PkgConfig::LMDB
            TIMEOUT 600)
