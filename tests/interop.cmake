# Interoperability: an independent client written from docs/PROTOCOL.md and docs/KEYS-FORMAT.md
# alone (tests/interop/wire_client.py, Debian's python3 with python3-zmq, python3-argon2 and
# python3-cryptography) against the real broker and a real refbus-node. Skipped (77) only when
# those Python modules are missing.
refbus_script_test(interop_wire ${CMAKE_CURRENT_SOURCE_DIR}/scenario/system/interop_wire.sh TIMEOUT 240)
set_tests_properties(interop_wire PROPERTIES SKIP_RETURN_CODE 77)
