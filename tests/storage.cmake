# Storage (issue 10, defects 5-8): a full store keeps serving, fatal storage errors stop the
# daemons, damaged files are refused with their name, one daemon per data directory.
refbus_test(storage_test SOURCES scenario/storage_test.c scenario/bclient.c
            LIBS refbus_keys refbus_proto PkgConfig::CMOCKA PkgConfig::ZMQ TIMEOUT 300)
