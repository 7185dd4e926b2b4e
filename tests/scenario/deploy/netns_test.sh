#!/usr/bin/env bash
# Intent: the demo's story across real network interfaces: the broker and each agency's node in
# a Linux network namespace of its own, joined by veth links to a bridge in a further namespace,
# with 10.x addresses that exist only inside those namespaces. Checks the story held, traffic
# really crossed each agency's link, and an unlinked namespace cannot reach the broker.
# Exit 77 (skipped) with a clear message where network namespaces cannot be created.
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
export REFBUS_BIN_DIR=${REFBUS_BIN_DIR:-$SRC/build/bin}
skip() { echo "netns_test: SKIPPED: $*"; exit 77; }
fail() { echo "netns_test: FAIL: $*" >&2; exit 1; }

command -v ip >/dev/null || skip "ip(8) from iproute2 is not installed"
[ "$(id -u)" -eq 0 ] || skip "creating network namespaces needs root (run as root to include this test)"
P=rb$$x$RANDOM # namespace prefix, unique to this run
NSS=()
T=
cleanup() {
    local ns pid
    if [ -n "$T" ]; then
        for pid in $(pgrep -f -- "$T"); do kill -KILL "$pid" 2>/dev/null || true; done
    fi
    # Deleting a namespace deletes the veth ends in it; the bridge goes with the hub.
    for ns in "${NSS[@]}"; do ip netns delete "$ns" 2>/dev/null || true; done
    [ -z "$T" ] || rm -rf "$T"
}
trap cleanup EXIT
addns() {
    ip netns add "$1" 2>"$T/ns.err" || return 1
    NSS+=("$1")
    ip -n "$1" link set dev lo up
}
T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-netns-test.XXXXXX")
addns "$P-hub" || skip "cannot create a network namespace here: $(cat "$T/ns.err")"
ip -n "$P-hub" link add br0 type bridge 2>"$T/ns.err" ||
    skip "cannot create a bridge in a namespace: $(cat "$T/ns.err")"
ip -n "$P-hub" link set dev br0 up

# One namespace per process that talks on the network, one veth pair each: eth0 inside, vN on
# the hub's bridge. Addresses only inside our namespaces.
NET=10.200.77
declare -A NS=() ADDR=()
i=0
for party in broker cac.chiangmai police.ticac welfare.cm ngo.hots; do
    ns=$P-${party//./-}
    addns "$ns" || fail "cannot create namespace $ns: $(cat "$T/ns.err")"
    ip link add eth0 netns "$ns" type veth peer name "v$i" netns "$P-hub" ||
        fail "cannot create the veth pair for $party"
    ip -n "$P-hub" link set dev "v$i" master br0 up
    if [ "$party" = broker ]; then ADDR[$party]=$NET.1; else ADDR[$party]=$NET.$((10 + i)); fi
    ip -n "$ns" addr add "${ADDR[$party]}/24" dev eth0
    ip -n "$ns" link set dev eth0 up
    NS[$party]=$ns
    i=$((i + 1))
done
# An outsider: a namespace with an address in the same subnet but no link to the bridge.
addns "$P-outsider" || fail "cannot create the outsider namespace"
ip -n "$P-outsider" link add eth0 type veth peer name eth1 # both ends inside: a dead end
ip -n "$P-outsider" addr add "$NET.99/24" dev eth0
ip -n "$P-outsider" link set dev eth0 up
ip -n "$P-outsider" link set dev eth1 up

# The wrapper demo.sh runs each party's commands through: the party's namespace, if it has one
# (the administrator and the auditor work offline, on their own machines).
{
    echo '#!/usr/bin/env bash'
    echo 'party=$1; shift'
    echo 'case $party in'
    for party in "${!NS[@]}"; do echo "  $party) exec ip netns exec ${NS[$party]} \"\$@\" ;;"; done
    echo '  *) exec "$@" ;;'
    echo 'esac'
} >"$T/wrap.sh"
chmod +x "$T/wrap.sh"

W=$T/run
REFBUS_DEMO_WRAP=$T/wrap.sh REFBUS_DEMO_HOST=${ADDR[broker]} \
    timeout 280 bash "$SRC/deploy/demo.sh" "$W" >"$T/demo.out" 2>&1
rc=$?
cat "$T/demo.out"
[ "$rc" -eq 0 ] || fail "the demo across namespaces exited $rc"
grep -q "tcp://${ADDR[broker]}:" "$T/demo.out" || fail "the broker was not on ${ADDR[broker]}"
for pid in $(pgrep -f -- "$W"); do fail "process $pid of the demo is still running"; done
"$REFBUS_BIN_DIR/refbus-audit" verify "$W/broker" >/dev/null || fail "refbus-audit verify failed"

# Traffic crossed every agency's own link (ciphertext only: CurveZMQ).
for party in cac.chiangmai police.ticac welfare.cm ngo.hots; do
    tx=$(ip -n "${NS[$party]}" -s -j link show dev eth0 | jq '.[0].stats64.tx.bytes')
    rx=$(ip -n "${NS[$party]}" -s -j link show dev eth0 | jq '.[0].stats64.rx.bytes')
    [ "$tx" -gt 1000 ] && [ "$rx" -gt 1000 ] ||
        fail "$party's link carried too little (tx $tx, rx $rx bytes): did it talk over eth0?"
    echo "netns_test: $party ${ADDR[$party]} <-> broker ${ADDR[broker]}: tx $tx, rx $rx bytes"
done

# The broken case: an unlinked namespace cannot reach the broker's address at all (the broker
# is restarted alone for this, on the same data).
port=$(grep -o "tcp://${ADDR[broker]}:[0-9]*" "$T/demo.out" | head -1 | sed 's/.*://')
ip netns exec "${NS[broker]}" "$REFBUS_BIN_DIR/refbus-broker" run -d "$W/broker" \
    -b "tcp://${ADDR[broker]}:$port" -k "$W/broker/bundle" -p "$W/broker/passphrase" \
    >"$T/broker2.log" 2>&1 &
bpid=$!
up=0
for _ in $(seq 50); do
    if ip netns exec "${NS[cac.chiangmai]}" timeout 2 bash -c \
        "exec 3<>/dev/tcp/${ADDR[broker]}/$port" 2>/dev/null; then up=1; break; fi
    sleep 0.2
done
[ "$up" -eq 1 ] || { kill "$bpid"; cat "$T/broker2.log"; fail "the restarted broker is not reachable from the CAC's namespace"; }
if ip netns exec "$P-outsider" timeout 3 bash -c "exec 3<>/dev/tcp/${ADDR[broker]}/$port" 2>/dev/null; then
    kill "$bpid"
    fail "a namespace without a link reached the broker"
fi
kill -TERM "$bpid"
wait "$bpid" || fail "the restarted broker did not stop cleanly"
"$REFBUS_BIN_DIR/refbus-audit" verify "$W/broker" >/dev/null || fail "verify after the restart failed"
echo "netns_test: PASS"
