# keys/: the directory and keystore parsers (seed corpus in corpus/directory/).
refbus_fuzz(fuzz_directory fuzz_directory.c refbus_keys)
