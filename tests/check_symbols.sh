#!/usr/bin/env bash
# One name per thing (STYLE rule 13, README "Names"): nm over every built refbus static
# library. Fails on an exported (global, defined) symbol whose prefix is not registered to the
# library that defines it, on a symbol defined in two libraries, on a library this table does
# not know, on crash points outside the test variant of the node daemon, and on a dependency
# against the one-way order (DEPS: a library may use only the refbus libraries listed for it;
# the node rules use no LMDB and no ZeroMQ, the node client no LMDB).
#   check_symbols.sh             check build/lib (REFBUS_BIN_DIR/../lib under ctest)
#   check_symbols.sh --selftest  show that the check fails on planted bad objects
# A new module: add its prefix to PREFIXES below, on the line of the library that defines it;
# a new library: a line in PREFIXES and one in DEPS.
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BIN=${REFBUS_BIN_DIR:-$SRC/build/bin}

# library: the prefixes its exported symbols may carry. The owner of a symbol is the library
# with the LONGEST matching prefix (refbus_node_config_load belongs to refbus_node_config, not to
# refbus_node_client's refbus_node_); refbus_ alone is common's (the shared base). broker_ and nd_
# are private prefixes: names shared between the files of the broker / the node daemon only.
# GENERATED: protobuf-c output (refbus__<package>__*), allowed only in these libraries.
read -r -d '' PREFIXES <<'EOF'
refbus_common: refbus_
refbus_proto: refbus_envelope_ refbus_receipt_ refbus_wire_ refbus_frames_ refbus_pb_ refbus_agency_id_ refbus_sfile_ refbus_merkle_ refbus_batch_
refbus_keys: refbus_keystore_ refbus_ks_ refbus_directory_ refbus_dd_ refbus_admin_ refbus_passphrase_ refbus_kdf_ refbus_key_ refbus_agency_kind_ refbus_root_pk_
refbus_audit: refbus_audit_ refbus_checkpoint_ refbus_replay_
refbus_broker: refbus_broker_ refbus_bstore_ broker_
refbus_node_records: refbus_nrec_ GENERATED
refbus_node_rules: refbus_thread_ refbus_referral_ refbus_payload_ GENERATED
refbus_node_store: refbus_nstore_
refbus_node_config: refbus_node_config_
refbus_node_daemon: refbus_node_daemon_ nd_
refbus_node_client: refbus_node_
refbus_pb: GENERATED
EOF
# library: the refbus libraries it may use (besides itself); NOLMDB / NOZMQ: no mdb_* / zmq_*.
read -r -d '' DEPS <<'EOF'
refbus_common:
refbus_pb:
refbus_proto: refbus_common refbus_pb
refbus_keys: refbus_common refbus_pb refbus_proto
refbus_audit: refbus_common refbus_pb refbus_proto
refbus_broker: refbus_common refbus_pb refbus_proto refbus_keys refbus_audit
refbus_node_records: refbus_common refbus_pb refbus_proto NOLMDB NOZMQ
refbus_node_rules: refbus_common refbus_pb refbus_proto refbus_node_records NOLMDB NOZMQ
refbus_node_store: refbus_common refbus_pb refbus_proto refbus_node_records refbus_node_rules NOZMQ
refbus_node_config: refbus_common refbus_pb refbus_proto NOLMDB NOZMQ
refbus_node_daemon: refbus_common refbus_pb refbus_proto refbus_keys refbus_audit refbus_node_records refbus_node_rules refbus_node_store refbus_node_config
refbus_node_client: refbus_common refbus_pb refbus_proto refbus_node_config NOLMDB
EOF
GENERATED_RE='^refbus__[a-z0-9]+__[a-z0-9_]+$'
# Only in the test variant (never installed): the node daemon's crash points.
TESTONLY_RE='^nd_crash_point$'

# check LIBDIR: prints what is wrong, exits 1 if anything is.
check() {
    local libdir=$1 bad=0 f lib base out
    command -v nm >/dev/null || { echo "FAIL: nm not found" >&2; return 1; }
    local -a libs=("$libdir"/librefbus_*.a)
    [ -e "${libs[0]}" ] || { echo "FAIL: no refbus libraries in $libdir" >&2; return 1; }
    # only what this build makes (CMake lists it): a library an older tree left behind is not ours
    if [ -f "$libdir/refbus-libraries.txt" ]; then
        local -a cur=()
        for f in "${libs[@]}"; do
            grep -qxF "$(basename "$f")" "$libdir/refbus-libraries.txt" && cur+=("$f")
        done
        libs=("${cur[@]}")
    fi
    # one line per defined global symbol: library  variant  object  symbol  type; then one per
    # undefined reference: U library variant object symbol
    local table refs
    table=$(for f in "${libs[@]}"; do
        lib=$(basename "$f" .a); lib=${lib#lib}
        base=${lib%_testhooks}
        nm -A -P -g --defined-only "$f" 2>/dev/null |
            sed -nE "s/^[^[]*\[([^]]+)\]: ([^ ]+) ([A-Za-z]) .*/$base $lib \1 \2 \3/p"
    done)
    refs=$(for f in "${libs[@]}"; do
        lib=$(basename "$f" .a); lib=${lib#lib}
        base=${lib%_testhooks}
        nm -A -P -u "$f" 2>/dev/null |
            sed -nE "s/^[^[]*\[([^]]+)\]: ([^ ]+) U.*/U $base $lib \1 \2/p"
    done)
    out=$(awk -v prefixes="$PREFIXES" -v deps="$DEPS" -v gen="$GENERATED_RE" -v testonly="$TESTONLY_RE" '
        BEGIN {
            n = split(deps, dl, "\n")
            for (i = 1; i <= n; i++) {
                if (dl[i] == "") continue
                split(dl[i], w, " "); l = w[1]; sub(/:$/, "", l); hasdeps[l] = 1
                for (j = 2; j in w; j++) {
                    if (w[j] == "NOLMDB") nolmdb[l] = 1
                    else if (w[j] == "NOZMQ") nozmq[l] = 1
                    else may[l, w[j]] = 1
                }
            }
            n = split(prefixes, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] == "") continue
                split(lines[i], w, " "); l = w[1]; sub(/:$/, "", l); known[l] = 1
                for (j = 2; j in w; j++) {
                    if (w[j] == "GENERATED") genok[l] = 1
                    else owner[w[j]] = l
                }
            }
        }
        $1 == "U" {
            base = $2; lib = $3; obj = $4; sym = $5
            if (sym ~ /^mdb_/ && (base in nolmdb)) { print lib "(" obj "): uses LMDB (" sym "), which " base " must not"; bad = 1 }
            if (sym ~ /^zmq_/ && (base in nozmq)) { print lib "(" obj "): uses ZeroMQ (" sym "), which " base " must not"; bad = 1 }
            if (!(sym in defbase) || defbase[sym] == base) next
            if (!((base, defbase[sym]) in may)) {
                k = base " -> " defbase[sym]
                if (!(k in toldep)) print lib "(" obj "): uses " sym " from " defbase[sym] ", against the dependency order (DEPS in tests/check_symbols.sh)"
                toldep[k] = 1; bad = 1
            }
            next
        }
        {
            base = $1; lib = $2; obj = $3; sym = $4
            present[base] = 1
            if (lib == base && !(sym in defbase)) defbase[sym] = base
            if (!(base in known) || !(base in hasdeps)) {
                if (!(lib in told)) print "unknown library " lib ": register its prefixes and DEPS in tests/check_symbols.sh"
                told[lib] = 1; bad = 1; next
            }
            # compiler-made names (sanitizers, coverage: __odr_asan.x, __sancov...) are not ours
            if (sym ~ /^__/ || sym ~ /\./) next
            if (sym ~ testonly && lib == base) {
                print lib "(" obj "): " sym " is a test hook, compiled into a production library"; bad = 1
            }
            if (sym ~ gen) {
                if (!(base in genok)) { print lib "(" obj "): generated protobuf-c symbol " sym " outside the generated libraries"; bad = 1 }
            } else {
                best = ""; o = ""
                for (p in owner)
                    if (substr(sym, 1, length(p)) == p && length(p) > length(best)) { best = p; o = owner[p] }
                if (best == "") { print lib "(" obj "): " sym " has no registered prefix (public: refbus_<module>_, private: broker_ / nd_)"; bad = 1 }
                else if (o != base) { print lib "(" obj "): " sym " carries " best ", which belongs to " o; bad = 1 }
                else used[best] = 1
            }
            if (lib != base) { hooked[lib] = 1; next } # the test variant duplicates its library
            if (sym in where) { print sym " is defined twice: " where[sym] " and " lib "(" obj ")"; bad = 1 }
            else where[sym] = lib "(" obj ")"
        }
        END {
            # a registered prefix nothing carries any more would let a stray name pass later
            for (p in owner)
                if (!(p in used) && (owner[p] in present)) { print "prefix " p " is registered to " owner[p] " but no symbol carries it: remove it from PREFIXES"; bad = 1 }
            exit bad
        }' <<<"$table"$'\n'"$refs") || bad=1
    [ -n "$out" ] && echo "$out" >&2
    # the check must see what it checks
    grep -q '^refbus_node_daemon refbus_node_daemon .* nd_session_connect T$' <<<"$table" ||
        { echo "FAIL: nd_session_connect not seen in refbus_node_daemon: check is blind" >&2; bad=1; }
    grep -qE '^U refbus_node_daemon refbus_node_daemon [^ ]+ refbus_nstore_begin$' <<<"$refs" ||
        { echo "FAIL: the daemon's use of refbus_nstore_begin not seen: dependency check is blind" >&2; bad=1; }
    if [ -f "$libdir/librefbus_node_daemon_testhooks.a" ]; then
        grep -qE '^refbus_node_daemon refbus_node_daemon_testhooks .* nd_crash_point T$' <<<"$table" ||
            { echo "FAIL: the test variant has no crash points (nd_crash_point)" >&2; bad=1; }
    fi
    [ "$bad" = 0 ] && echo "ok: $(wc -l <<<"$table") exported symbols in ${#libs[@]} libraries, each prefixed for its library, none defined twice, dependencies one way"
    return "$bad"
}

# The check must be able to fail: plant the old tree's faults in a copy of the libraries.
selftest() {
    local lib=$1 t rc=0 cc=${CC:-cc}
    t=$(mktemp -d) || return 1
    trap 'rm -rf "$t"' RETURN
    expect_fail() { # name, libdir, pattern the failure must print
        local o
        if o=$(check "$2" 2>&1); then echo "FAIL: selftest $1: the check passed" >&2; rc=1; return; fi
        grep -qE "$3" <<<"$o" || { echo "FAIL: selftest $1: no '$3' in: $o" >&2; rc=1; return; }
        echo "ok: selftest $1 fails as it should"
    }
    fresh() { # a copy of what this build makes (without the list: planted libraries count)
        rm -rf "$t/lib" && mkdir "$t/lib" || return 1
        local f
        for f in "$lib"/librefbus_*.a; do
            [ -f "$lib/refbus-libraries.txt" ] &&
                ! grep -qxF "$(basename "$f")" "$lib/refbus-libraries.txt" && continue
            cp "$f" "$t/lib/"
        done
    }
    fresh
    check "$t/lib" >/dev/null 2>&1 || { echo "FAIL: selftest: the unmodified copy fails" >&2; check "$t/lib"; return 1; }
    # an unprefixed daemon internal (the old node library exported session_connect)
    printf 'int session_connect(void);\nint session_connect(void) { return 0; }\n' >"$t/a.c"
    "$cc" -c -o "$t/unprefixed.c.o" "$t/a.c" && ar qc "$t/lib/librefbus_node_daemon.a" "$t/unprefixed.c.o" ||
        { echo "FAIL: selftest: cannot build a planted object with $cc" >&2; return 1; }
    expect_fail unprefixed "$t/lib" 'session_connect has no registered prefix'
    # one name in two libraries (the old broker and node libraries both defined refbus_store_open)
    fresh
    printf 'int refbus_bstore_open(void);\nint refbus_bstore_open(void) { return 0; }\n' >"$t/b.c"
    "$cc" -c -o "$t/dup.c.o" "$t/b.c" && ar qc "$t/lib/librefbus_node_store.a" "$t/dup.c.o"
    expect_fail duplicate "$t/lib" 'refbus_bstore_open is defined twice'
    expect_fail foreign-prefix "$t/lib" 'refbus_bstore_open carries refbus_bstore_, which belongs to refbus_broker'
    # a crash point in a production library
    fresh
    printf 'void nd_crash_point(const char *n);\nvoid nd_crash_point(const char *n) { (void)n; }\n' >"$t/c.c"
    "$cc" -c -o "$t/hook.c.o" "$t/c.c" && ar qc "$t/lib/librefbus_node_daemon.a" "$t/hook.c.o"
    expect_fail crash-point "$t/lib" 'nd_crash_point is a test hook'
    # the rules reaching into the store (against the one-way order) and into LMDB
    fresh
    printf 'int refbus_nstore_begin(void);\nint mdb_txn_id(void);\nint refbus_thread_bad(void);\nint refbus_thread_bad(void) { return refbus_nstore_begin() + mdb_txn_id(); }\n' >"$t/d.c"
    "$cc" -c -o "$t/layer.c.o" "$t/d.c" && ar qc "$t/lib/librefbus_node_rules.a" "$t/layer.c.o"
    expect_fail dependency-order "$t/lib" 'uses refbus_nstore_begin from refbus_node_store, against the dependency order'
    expect_fail rules-lmdb "$t/lib" 'uses LMDB \(mdb_txn_id\), which refbus_node_rules must not'
    # a registration nothing uses (here: the node store's prefix, once its library is empty)
    fresh
    printf 'int refbus_node_store_placeholder;\n' >"$t/e.c"
    "$cc" -c -o "$t/e.c.o" "$t/e.c" && rm -f "$t/lib/librefbus_node_store.a" &&
        ar qc "$t/lib/librefbus_node_store.a" "$t/e.c.o"
    expect_fail stale-prefix "$t/lib" 'prefix refbus_nstore_ is registered to refbus_node_store but no symbol carries it'
    # a library nobody registered
    fresh
    cp "$t/lib/librefbus_common.a" "$t/lib/librefbus_newpart.a"
    expect_fail unknown-library "$t/lib" 'unknown library refbus_newpart'
    return "$rc"
}

LIB=$(cd "$BIN/../lib" 2>/dev/null && pwd) || { echo "FAIL: no $BIN/../lib" >&2; exit 1; }
if [ "${1:-}" = --selftest ]; then
    selftest "$LIB"
else
    check "$LIB"
fi
