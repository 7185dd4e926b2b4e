# proto/: every wire body decoder, with the round trip (tests/fuzz/fuzz_wire_body.c; seeds in
# corpus/wire_body/, byte 0 the body).
refbus_fuzz(fuzz_wire_body fuzz_wire_body.c refbus_proto)
# proto/sfile.c: the sealed-file reader and lone chunks with their paths (tests/fuzz/fuzz_file.c;
# seeds in corpus/file/: the sealed vectors of tests/vectors/file-v1.json).
refbus_fuzz(fuzz_file fuzz_file.c refbus_proto)
