#!/usr/bin/env bash
# Intent: the daemons treat their store as something that must not be lost or faked (issue 10,
# defects 6-8). One daemon per data directory (a second broker or node exits 1 naming the
# holder's pid and leaves the admin socket alone); a store is created only by `init` (a missing
# directory, an empty data.mdb, a directory without a store are refused, never silently made
# new); a truncated store is refused with its file named, never SIGBUS; a store that becomes
# unusable while running (MDB_PANIC, injected by a test-only LD_PRELOAD shim) makes the daemon
# exit 1 with the reason instead of running on; a node refused with EQUOTA keeps its referrals
# and sends them when the recipient has drained.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init storage-daemons
nl_network
nl_broker_start
nl_node_start cac.chiangmai
nl_node_ready cac.chiangmai
BCONF=$NL_T/broker.conf
NCONF=$NL_T/nodes/cac.chiangmai/node.conf

# refuses WHAT CMD...: CMD exits 1 (not a signal, not 0) within 20 s; its output in $OUT.
refuses() {
    local what=$1 st=0
    shift
    OUT=$(timeout 20 "$@" 2>&1) || st=$?
    [ "$st" = 1 ] || nl_fail "$what: exit status $st (wanted 1): $OUT"
}

nl_step "a second broker on the same data directory exits 1 naming the first one's pid"
refuses "second broker" "$NL_BIN/refbus-broker" run -c "$BCONF" -b "tcp://127.0.0.1:*"
grep -q "another refbus-broker (pid $NL_BROKER_PID) is running on $NL_T/broker" <<<"$OUT" ||
    nl_fail "the second broker did not name the first: $OUT"
kill -0 "$NL_BROKER_PID" || nl_fail "the first broker is gone"
"$NL_BIN/refbus-broker" status -c "$BCONF" >/dev/null || nl_fail "the first broker's admin socket"
refuses "init over a running broker" "$NL_BIN/refbus-broker" init -c "$BCONF"

nl_step "a second node on the same data directory exits 1 naming the first one's pid"
refuses "second node" "$NL_BIN/refbus-node" -c "$NCONF" run
grep -q "another refbus-node (pid ${NL_PID[cac.chiangmai]}) is running" <<<"$OUT" ||
    nl_fail "the second node did not name the first: $OUT"
nl_node cac.chiangmai status >/dev/null || nl_fail "the first node's control socket"

nl_step "no store without init: a missing directory, an empty data.mdb, an empty directory"
refuses "missing data dir" "$NL_BIN/refbus-broker" run -c "$BCONF" -d "$NL_T/no-such-dir"
grep -q "no-such-dir does not exist" <<<"$OUT" || nl_fail "missing dir not named: $OUT"
[ ! -e "$NL_T/no-such-dir" ] || nl_fail "the broker created the mistyped directory"
mkdir -m 0700 "$NL_T/empty-dir"
refuses "dir without a store" "$NL_BIN/refbus-broker" run -c "$BCONF" -d "$NL_T/empty-dir"
grep -q "empty-dir/data.mdb does not exist" <<<"$OUT" || nl_fail "no data.mdb not named: $OUT"
[ ! -e "$NL_T/empty-dir/data.mdb" ] || nl_fail "run created a store"
: >"$NL_T/empty-dir/data.mdb"
refuses "0-byte data.mdb" "$NL_BIN/refbus-broker" run -c "$BCONF" -d "$NL_T/empty-dir"
grep -q "empty-dir/data.mdb is damaged: empty file" <<<"$OUT" || nl_fail "0 bytes: $OUT"
[ ! -s "$NL_T/empty-dir/data.mdb" ] || nl_fail "the empty data.mdb was written to"
refuses "init over an empty data.mdb" "$NL_BIN/refbus-broker" init -c "$BCONF" -d "$NL_T/empty-dir"
grep -q "already exists" <<<"$OUT" || nl_fail "init over an existing file: $OUT"
refuses "node without init" "$NL_BIN/refbus-node" -c "$NCONF" -d "$NL_T/node-empty" run
grep -q "node-empty does not exist" <<<"$OUT" || nl_fail "node missing dir: $OUT"
mkdir -m 0700 "$NL_T/node-empty"
refuses "node dir without a store" "$NL_BIN/refbus-node" -c "$NCONF" -d "$NL_T/node-empty" run
grep -q "node-empty/store/data.mdb does not exist" <<<"$OUT" || nl_fail "node no store: $OUT"

nl_step "a truncated store is refused with its file named (no SIGBUS), broker and node"
nl_node_stop cac.chiangmai
nl_broker_stop
"$NL_BIN/refbus-broker" init -c "$BCONF" >/dev/null 2>&1 && nl_fail "init over an existing store"
for party in broker node; do
    if [ "$party" = broker ]; then src=$NL_T/broker/data.mdb; else
        src=$NL_T/nodes/cac.chiangmai/data/store/data.mdb; fi
    size=$(stat -c %s "$src")
    for cut in 4096 $((size / 2)) $((size - 4096)); do
        t=$NL_T/trunc-$party-$cut
        if [ "$party" = broker ]; then
            mkdir -m 0700 "$t"; head -c "$cut" "$src" >"$t/data.mdb"
            refuses "broker on $cut of $size bytes" "$NL_BIN/refbus-broker" run -c "$BCONF" -d "$t"
            f=$t/data.mdb
        else
            mkdir -p -m 0700 "$t/store"; head -c "$cut" "$src" >"$t/store/data.mdb"
            refuses "node on $cut of $size bytes" "$NL_BIN/refbus-node" -c "$NCONF" -d "$t" run
            f=$t/store/data.mdb
        fi
        grep -q "$f is damaged" <<<"$OUT" || nl_fail "$party, $cut bytes: file not named: $OUT"
    done
done
# the originals still work
nl_broker_start
nl_node_start cac.chiangmai
nl_node_ready cac.chiangmai

nl_step "MDB_PANIC while running: the node exits 1 with the reason"
SHIM=${REFBUS_LMDB_SHIM:-$NL_BIN/../tests/lmdb_panic_shim.so}
[ -f "$SHIM" ] || nl_fail "the LMDB shim is not built ($SHIM)"
# (under ASan the shim is preloaded ahead of the sanitizer runtime: tell it that is fine)
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
nl_node_stop cac.chiangmai
nl_node_start cac.chiangmai LD_PRELOAD="$SHIM" REFBUS_SHIM_PANIC_FILE="$NL_T/panic-node"
nl_node_ready cac.chiangmai
touch "$NL_T/panic-node"
nl_node_wait_exit cac.chiangmai 20 || nl_fail "the node runs on after MDB_PANIC"
grep -q "store is unusable" "$NL_T/nodes/cac.chiangmai/log" || nl_fail "the node did not say why"
grep -q "refbus-node run: .*(ESTORAGE)" "$NL_T/nodes/cac.chiangmai/log" ||
    nl_fail "the node did not exit with its storage error"
rm -f "$NL_T/panic-node"

nl_step "MDB_PANIC while running: the broker exits 1 with the reason; status is not ok"
nl_broker_stop
LD_PRELOAD="$SHIM" REFBUS_SHIM_PANIC_FILE="$NL_T/panic-broker" \
    "$NL_BIN/refbus-broker" run -c "$BCONF" >>"$NL_T/broker/log" 2>&1 &
NL_BROKER_PID=$!
nl_wait 20 "$NL_BIN/refbus-broker" status -c "$BCONF" || nl_fail "the shimmed broker did not start"
touch "$NL_T/panic-broker"
st=0
for _ in $(seq 100); do kill -0 "$NL_BROKER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$NL_BROKER_PID" 2>/dev/null && nl_fail "the broker runs on after MDB_PANIC"
wait "$NL_BROKER_PID" || st=$?
NL_BROKER_PID=
[ "$st" = 1 ] || nl_fail "the broker exited with status $st after MDB_PANIC (wanted 1)"
grep -q "data.mdb is unusable" "$NL_T/broker/log" || nl_fail "the broker did not say why"
"$NL_BIN/refbus-broker" status -c "$BCONF" >/dev/null 2>&1 && nl_fail "status answers after exit"
rm -f "$NL_T/panic-broker"

nl_step "after the fault is gone, both start again on the same store"
nl_broker_start
nl_node_start cac.chiangmai
nl_node_ready cac.chiangmai

nl_step "a sender over its quota (EQUOTA) keeps its referrals and sends them once there is room"
nl_broker_stop
NL_BROKER_EXTRA="agency_quota_mb = 1" nl_broker_start
nl_node_start ngo.hots
nl_node_ready ngo.hots
nl_node_ready cac.chiangmai
big=$(head -c 12000 /dev/urandom | base64 -w0)
nl_referral QUOTA "$big" >"$NL_T/big.json"
n=0
over_quota() { nl_json_eq ngo.hots '.broker.last_error.error' EQUOTA status; }
while [ "$n" -lt 150 ] && ! over_quota; do
    nl_node ngo.hots send "$NL_T/big.json" --to police.ticac >/dev/null || nl_fail "send $n"
    n=$((n + 1))
done
nl_wait 20 over_quota || nl_fail "no EQUOTA after $n referrals to the offline police"
nl_step "($n referrals sent; the broker refused some with EQUOTA; police comes online)"
nl_node_start police.ticac
nl_node_ready police.ticac
all_in() { [ "$(nl_inbox_count police.ticac QUOTA)" = "$n" ]; }
nl_wait 90 all_in || nl_fail "police has $(nl_inbox_count police.ticac QUOTA) of $n"
nl_wait 20 nl_json_eq ngo.hots '.items | length' 0 outbox || nl_fail "the outbox did not drain"
nl_finish
"$NL_BIN/refbus-audit" verify "$NL_T/broker" >/dev/null 2>&1 || nl_fail "the trail does not verify"
echo "storage_daemons_test: PASS"
