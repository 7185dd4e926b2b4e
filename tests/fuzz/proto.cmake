# proto/: every wire body decoder, with the round trip (tests/fuzz/fuzz_wire_body.c; seeds in
# corpus/wire_body/, byte 0 the body).
refbus_fuzz(fuzz_wire_body fuzz_wire_body.c refbus_proto)
