#!/usr/bin/env python3
"""memscan.py PID MARKER: count MARKER (UTF-8) in the process's private writable memory (heap,
anonymous mappings, stacks; not files it maps, e.g. the encrypted LMDB store). Needs the right
to read /proc/PID/mem (root, or ptrace rights). Prints the count; exit 0."""
import re
import sys

pid, marker = int(sys.argv[1]), sys.argv[2].encode()
count = 0
with open(f'/proc/{pid}/maps') as maps, open(f'/proc/{pid}/mem', 'rb', 0) as mem:
    for line in maps:
        m = re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)', line)
        if not m:
            continue
        lo, hi, perms, inode, name = int(m[1], 16), int(m[2], 16), m[3], int(m[4]), m[5]
        if 'r' not in perms or 'w' not in perms or inode != 0 or name.startswith('[v'):
            continue
        if hi - lo > (4 << 30):  # a sanitizer's shadow or a reservation, never touched data
            continue
        pos, tail = lo, b''
        while pos < hi:  # in chunks; a marker across two chunks is still found
            try:
                mem.seek(pos)
                chunk = mem.read(min(16 << 20, hi - pos))
            except (OSError, ValueError, OverflowError, MemoryError):
                break
            if not chunk:
                break
            data = tail + chunk
            count += data.count(marker)
            tail = data[-(len(marker) - 1):] if len(marker) > 1 else b''
            pos += len(chunk)
print(count)
