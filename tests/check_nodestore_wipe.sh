#!/usr/bin/env bash
# Node store records (nodes/store/node_store.proto) hold referral text, case references and
# payloads: they may be unpacked and freed only in nodes/store/codec.c, whose protobuf-c allocator
# wipes every block it frees (issue 10, defect 10). Two independent checks, so that neither a macro nor a
# generic call slips past: the sources (grep) and the built libraries (nm: who references the
# unpack/free functions). Also: the daemons disable core dumps first thing in main().
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REFBUS_BIN_DIR:-$SRC/build/bin}
LIB=$(cd "$BIN/../lib" 2>/dev/null && pwd) || { echo "FAIL: no $BIN/../lib" >&2; exit 1; }
bad=0

# 1. sources: no generated nodestore unpack/free, and no generic protobuf-c unpack/free in
#    nodes/, outside nodes/store/codec.c.
hits=$(cd "$SRC" && grep -rnE \
    'refbus__nodestore__[a-z_]+__(unpack|free_unpacked)[[:space:]]*\(' \
    --include='*.c' --include='*.h' common proto keys audit broker nodes tests |
    grep -v '^nodes/store/codec\.c:')
hits+=$(cd "$SRC" && grep -rnE 'protobuf_c_message_(unpack|free_unpacked)[[:space:]]*\(' \
    --include='*.c' --include='*.h' nodes | grep -v '^nodes/store/codec\.c:')
if [ -n "$hits" ]; then
    echo "FAIL: node store records unpacked or freed outside nodes/store/codec.c (not wiped):" >&2
    echo "$hits" >&2
    bad=1
fi

# 2. objects: in the node libraries only codec.c.o (and the generated code, which defines them)
#    references protobuf_c_message_unpack/free_unpacked, and no other object of any refbus
#    library references the generated nodestore unpack/free functions.
command -v nm >/dev/null || { echo "FAIL: nm not found" >&2; exit 1; }
NODE_LIBS=()
for n in records rules store daemon config client; do
    [ -f "$LIB/librefbus_node_$n.a" ] || { echo "FAIL: $LIB/librefbus_node_$n.a not built" >&2; exit 1; }
    NODE_LIBS+=("$LIB/librefbus_node_$n.a")
done
objs=$(nm -A "${NODE_LIBS[@]}" 2>/dev/null |
    grep -E ' U protobuf_c_message_(unpack|free_unpacked)$' |
    grep -vE ':(codec\.c|node_store\.pb-c\.c)\.o:')
for l in "$LIB"/librefbus_*.a; do
    objs+=$(nm -A "$l" 2>/dev/null |
        grep -E ' U refbus__nodestore__[a-z_]+__(unpack|free_unpacked)$' | grep -v ':codec\.c\.o:')
done
if [ -n "$objs" ]; then
    echo "FAIL: built objects unpack or free node store records outside codec.c:" >&2
    echo "$objs" >&2
    bad=1
fi
# the check must see what it checks: codec.c.o is there and does reference them
syms=$(nm -A "$LIB/librefbus_node_records.a" 2>/dev/null)
grep -qE ':codec\.c\.o: +U protobuf_c_message_unpack$' <<<"$syms" ||
    { echo "FAIL: codec.c.o does not reference protobuf_c_message_unpack: check is blind" >&2; bad=1; }

# 3. every program that holds keys or plaintext hardens itself before reading anything.
for m in broker/tool/main.c nodes/client/main.c keys/tool/main.c; do
    grep -q 'refbus_harden_process()' "$SRC/$m" ||
        { echo "FAIL: $m does not call refbus_harden_process()" >&2; bad=1; }
done
[ "$bad" = 0 ] && echo "ok: node store records are unpacked and freed only in nodes/store/codec.c"
exit "$bad"
