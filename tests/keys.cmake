# keys/: unit tests (cmocka) and the administrators' scenario (refbus-keys end to end).
set(KEYS_TESTUTIL lib/keys_testutil.c)
refbus_test(keys_directory_test SOURCES unit/keys/keys_directory_test.c ${KEYS_TESTUTIL}
            LIBS refbus_keys PkgConfig::CMOCKA)
refbus_test(keys_keystore_test SOURCES unit/keys/keys_keystore_test.c ${KEYS_TESTUTIL}
            LIBS refbus_keys PkgConfig::CMOCKA)
refbus_test(keys_admin_test SOURCES unit/keys/keys_admin_test.c ${KEYS_TESTUTIL}
            LIBS refbus_keys PkgConfig::CMOCKA)
refbus_test(keys_passphrase_test SOURCES unit/keys/keys_passphrase_test.c ${KEYS_TESTUTIL}
            LIBS refbus_keys PkgConfig::CMOCKA)
refbus_script_test(keys_admin_scenario ${CMAKE_CURRENT_SOURCE_DIR}/scenario/keys/keys_admin.sh
                   TIMEOUT 600)
