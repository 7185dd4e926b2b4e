#!/usr/bin/env bash
# Issue 5, "How it is checked": a client written from the documents alone (tests/interop/
# wire_client.py, Python) connects with an enrolled key, submits a referral and gets it delivered
# to a real refbus-node; it also receives from a real node. With an unenrolled or revoked key
# nothing gets through. Exit 77 (skipped) only when the Python modules are missing.
set -uo pipefail

SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BIN=${REFBUS_BIN_DIR:-$SRC/build/bin}
PY=/usr/bin/python3
if ! "$PY" -c 'import zmq, argon2.low_level, cryptography.hazmat.primitives.poly1305
assert zmq.has("curve")' 2>/dev/null; then
    echo "SKIP: /usr/bin/python3 with python3-zmq (CURVE), python3-argon2, python3-cryptography needed"
    exit 77
fi
for b in refbus-keys refbus-broker refbus-node; do
    [ -x "$BIN/$b" ] || { echo "FAIL: $BIN/$b is not built" >&2; exit 1; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-interop.XXXXXX")
BROKER_PID= NODE_PID= BG_PID=
cleanup() {
    local p
    for p in $BG_PID $NODE_PID $BROKER_PID; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ -z "${KEEP:-}" ] && rm -rf "$T"
    return 0
}
trap cleanup EXIT
trap 'exit 1' INT TERM
unset REFBUS_ADMIN_DIR REFBUS_BUNDLE_PASSPHRASE_FILE

fail() {
    echo "FAIL: $*" >&2
    local f
    for f in "$T/broker.log" "$T/node/log"; do
        [ -f "$f" ] && { echo "===== $f (last 25 lines)" >&2; tail -n 25 "$f" >&2; }
    done
    exit 1
}
step() { echo "--- $*"; }
# wait_for SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 after SECONDS.
wait_for() {
    local until=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$until" ] && return 1
        sleep 0.1
    done
}
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && { echo "$p"; return 0; }
    done
    return 1
}
# wire AGENCY [client options] COMMAND ...: the Python client; its JSON lines go to $T/out.
wire() {
    local id=$1
    shift
    "$PY" "$SRC/tests/interop/wire_client.py" --bundle "$T/keys/$id.bundle" \
        --passphrase-file "$T/pass" --root-pk "@$T/root.pk" --broker "tcp://127.0.0.1:$PORT" \
        --directory "${DIR:-$T/directory.bin}" "$@" >"$T/out" 2>"$T/err"
}
last() { tail -n 1 "$T/out"; }
# expect RC CMD...: run CMD, require exit status RC.
expect() {
    local want=$1 rc
    shift
    "$@"
    rc=$?
    [ "$rc" -eq "$want" ] || { cat "$T/out" "$T/err" >&2; fail "exit $rc, wanted $want: $*"; }
}
node() { "$BIN/refbus-node" -c "$T/node/node.conf" --compact "$@"; }
node_ready() { [ "$(node status | jq -r .broker.state)" = ready ]; }
# summaries: every referral summary in the node's inbox, one JSON string per line.
summaries() {
    local s
    for s in $(node inbox list --limit 1000 | jq -r '.items[].seq'); do
        node inbox show "$s" | jq '.referral.summary'
    done
}
count_summary() { summaries | jq --arg t "$1" -s '[.[] | select(. == $t)] | length'; }
in_inbox() { [ "$(count_summary "$1")" -ge 1 ]; }

step "network (refbus-keys), broker, a refbus-node for cac.chiangmai"
export REFBUS_KDF_LIMIT=min
bash "$SRC/tests/lib/net_setup.sh" "$T" >/dev/null 2>&1 || fail "net_setup.sh"
PORT=$(free_port) || fail "no free port"
mkdir -p "$T/node"
"$BIN/refbus-broker" init -d "$T/broker" >"$T/broker.log" 2>&1 || fail "refbus-broker init"
"$BIN/refbus-broker" run -d "$T/broker" -b "tcp://127.0.0.1:$PORT" -k "$T/keys/broker.cm.bundle" \
    -p "$T/pass" -D "$T/directory.bin" -l debug >>"$T/broker.log" 2>&1 &
BROKER_PID=$!
wait_for 20 "$BIN/refbus-broker" status -a "ipc://$T/broker/admin.sock" ||
    fail "the broker did not come up"
install -m 0600 "$T/keys/cac.chiangmai.bundle" "$T/node/keystore"
cat >"$T/node/node.conf" <<CONF
[node]
agency = cac.chiangmai
keystore = keystore
passphrase_file = $T/pass
directory = $T/directory.bin
broker = tcp://127.0.0.1:$PORT
data_dir = data
ping_seconds = 2
ping_timeout_seconds = 8
reconnect_min_ms = 50
reconnect_max_ms = 1000
log_level = debug
CONF
"$BIN/refbus-node" init -c "$T/node/node.conf" >"$T/node/log" 2>&1 || fail "refbus-node init"
"$BIN/refbus-node" run -c "$T/node/node.conf" >>"$T/node/log" 2>&1 &
NODE_PID=$!
wait_for 20 node_ready || fail "the node has no broker session"

step "the client opens the bundle and checks the directory; and refuses what it must"
expect 0 wire ngo.hots check
[ "$(last | jq -r '.agency + " " + (.epoch|tostring) + " " + .broker')" = "ngo.hots 1 broker.cm" ] ||
    fail "check: $(last)"
printf 'not the passphrase\n' >"$T/wrongpass"
expect 1 "$PY" "$SRC/tests/interop/wire_client.py" --bundle "$T/keys/ngo.hots.bundle" \
    --passphrase-file "$T/wrongpass" --root-pk "@$T/root.pk" --directory "$T/directory.bin" check
cp "$T/directory.bin" "$T/directory.forged"
printf '\001' | dd of="$T/directory.forged" bs=1 seek=120 conv=notrunc 2>/dev/null
DIR=$T/directory.forged expect 1 wire ngo.hots check
last | grep -q EBADSIG || fail "a forged directory: $(last)"

M1="interop $RANDOM$RANDOM: เด็กหญิง ๑๔ ปี / ကလေးမ — exact text"
step "ngo.hots (Python) -> cac.chiangmai (refbus-node): ACCEPTED, DELIVERED, acknowledged"
expect 0 wire ngo.hots --timeout 15 submit --to cac.chiangmai --text "$M1" --case-ref IOP-1 \
    --wait-delivered 30 --check-ack
grep -q '"event": "accepted", "broker_signature": "verified", "forgeries_refused": 2' "$T/out" ||
    fail "no verified ACCEPTED receipt"
[ "$(last | jq -r '.result + " " + (.recipients|join(",")) + " " + (.ack_checked|tostring)')" = \
    "delivered cac.chiangmai true" ] || fail "submit: $(last)"
MSG1=$(last | jq -r .msg_id)
wait_for 20 in_inbox "$M1" || fail "the referral is not in cac.chiangmai's inbox"
node inbox show "$MSG1" >"$T/show" || fail "inbox show $MSG1"
[ "$(jq -r '.sender + " " + .referral.case_ref + " " + .kind' "$T/show")" = \
    "ngo.hots IOP-1 referral" ] || fail "inbox entry: $(cat "$T/show")"
[ "$(jq -r .referral.summary "$T/show")" = "$M1" ] || fail "the text did not arrive exactly"

step "cac.chiangmai (refbus-node) -> welfare.cm (Python): opened, DELIVERED receipt accepted"
MC="from the C node $RANDOM: ศูนย์ช่วยเหลือเด็ก"
jq --arg s "$MC" '.summary = $s | .case_ref = "CAC-IOP"' "$SRC/deploy/examples/referral.json" \
    >"$T/ref.json"
MSGC=$(node send "$T/ref.json" --to welfare.cm | jq -r .msg_id) || fail "refbus-node send"
expect 0 wire welfare.cm --timeout 30 receive --count 1 --expect-text "$MC"
grep -q '"sender": "cac.chiangmai"' "$T/out" || fail "receive: $(cat "$T/out")"
delivered_c() { [ "$(node outbox "$MSGC" | jq -r '.deliveries[0].state')" = delivered ]; }
wait_for 20 delivered_c || fail "the node never got welfare.cm's DELIVERED receipt"

M2="unenrolled $RANDOM$RANDOM"
step "an unenrolled CURVE key (valid ngo.hots envelope): no handshake, nothing back"
expect 3 wire ngo.hots --fresh-curve --timeout 4 submit --eager --to cac.chiangmai --text "$M2"
[ "$(last | jq -c .received)" = "[]" ] || fail "unenrolled key got: $(last)"

M3="revoked in session $RANDOM$RANDOM"
M4="revoked reconnect $RANDOM$RANDOM"
step "police.ticac connected, then revoked and published: its SUBMIT gets ERROR EREVOKED"
cp "$T/directory.bin" "$T/directory.old"
rm -f "$T/hold"
wire police.ticac --timeout 10 submit --to cac.chiangmai --text "$M3" --hold-file "$T/hold" \
    --hold-timeout 60 &
BG_PID=$!
wait_for 20 grep -q '"event": "welcome"' "$T/out" || fail "police.ticac got no WELCOME"
(
    export REFBUS_PASSPHRASE_FILE="$T/pass"
    "$BIN/refbus-keys" -d "$T/admin" revoke police.ticac --all --reason stolen &&
        "$BIN/refbus-keys" -d "$T/admin" sign --out "$T/directory.bin" &&
        "$BIN/refbus-broker" publish -a "ipc://$T/broker/admin.sock" "$T/directory.bin"
) >/dev/null 2>&1 || fail "revoke, sign, publish"
touch "$T/hold"
wait "$BG_PID"
rc=$?
BG_PID=
[ "$rc" -eq 4 ] || { cat "$T/out" "$T/err" >&2; fail "revoked in session: exit $rc, wanted 4"; }
[ "$(last | jq -r '.result + " " + (.code|tostring) + " " + .name')" = "error -1202 EREVOKED" ] ||
    fail "revoked in session: $(last)"

step "police.ticac reconnects (with the directory it had): no handshake, nothing back"
DIR=$T/directory.old expect 3 wire police.ticac --timeout 4 submit --eager --to cac.chiangmai \
    --text "$M4"
[ "$(last | jq -c .received)" = "[]" ] || fail "revoked key got: $(last)"
step "... and the client itself will not use a key the current directory revokes"
expect 1 wire police.ticac check

M5="after the refusals $RANDOM$RANDOM"
step "ngo.hots again: delivered; none of the refused texts ever reached the inbox"
expect 0 wire ngo.hots --timeout 15 submit --to cac.chiangmai --text "$M5" --wait-delivered 30
wait_for 20 in_inbox "$M5" || fail "the last referral is not in the inbox"
for m in "$M2" "$M3" "$M4"; do
    [ "$(count_summary "$m")" -eq 0 ] || fail "a refused referral reached the inbox: $m"
done
for m in "$M1" "$M5"; do
    [ "$(count_summary "$m")" -eq 1 ] || fail "not exactly once in the inbox: $m"
done
[ "$(node status | jq .counters.refused_in)" -eq 0 ] || fail "the node refused a delivery"

step "node and broker stop cleanly (exit 0, no sanitizer report: nothing the client sent hurt them)"
# stop PID NAME: SIGTERM, at most 20 s, then the exit status must be 0.
stop() {
    local until=$((SECONDS + 20)) rc
    kill -TERM "$1" 2>/dev/null
    while kill -0 "$1" 2>/dev/null; do
        [ "$SECONDS" -ge "$until" ] && fail "$2 did not stop on SIGTERM"
        sleep 0.1
    done
    wait "$1"
    rc=$?
    [ "$rc" -eq 0 ] || fail "$2 exited $rc"
}
stop "$NODE_PID" refbus-node
NODE_PID=
stop "$BROKER_PID" refbus-broker
BROKER_PID=
if grep -E 'AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:' \
    "$T/broker.log" "$T/node/log" >&2; then
    fail "sanitizer report"
fi

echo "PASS: interop_wire"
