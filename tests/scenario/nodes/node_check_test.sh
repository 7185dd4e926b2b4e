#!/usr/bin/env bash
# Intent: `refbus-node check` says 0 while the node is served, 1 once it has had no broker
# session for longer than --max-down (status shows since when, and the daemon logs a warning
# after 10 x reconnect_max_ms), 0 again when the broker is back, 2 when the daemon is not
# running; one line each time. `refbus-node metrics` is Prometheus text that the reference
# parser reads, with the numbers of what the test did.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init nodecheck
PY=/usr/bin/python3 # Debian's, where deploy/install-deps.sh puts python3-prometheus-client
[ -x "$PY" ] || PY=python3
"$PY" -c 'import prometheus_client' 2>/dev/null ||
    nl_skip "python3-prometheus-client is not installed (deploy/install-deps.sh installs it)"
nl_network
nl_broker_start
nl_node_start cac.chiangmai
nl_node_ready cac.chiangmai
LOG=$NL_T/nodes/cac.chiangmai/log

# check ARGS...: exit code in $rc, output in $out
check() {
    rc=0
    out=$("$NL_BIN/refbus-node" -c "$NL_T/nodes/cac.chiangmai/node.conf" check "$@" 2>&1) || rc=$?
}

nl_step "served: 0"
check
[ "$rc" = 0 ] || nl_fail "check on a served node: $rc: $out"
[ "$out" = "OK: agency cac.chiangmai: broker session ready, 0 referral(s) waiting to be accepted" ] ||
    nl_fail "check line: $out"
[ "$(nl_node cac.chiangmai status | jq '.broker | has("down_since_ms")')" = false ] ||
    nl_fail "a served node shows down_since_ms"

# metrics: parse them; metric NAME prints one sample's value
metrics() {
    "$NL_BIN/refbus-node" -c "$NL_T/nodes/cac.chiangmai/node.conf" metrics |
        "$PY" "$NL_SRC/tests/lib/metrics_parse.py" >"$NL_T/metrics.json" ||
        nl_fail "node metrics do not parse"
}
metric() { jq -e --arg k "$1" '.[$k]' "$NL_T/metrics.json" || nl_fail "no metric $1"; }
expect() {
    local v
    v=$(metric "$1")
    awk -v a="$v" -v b="$2" 'BEGIN { exit !(a == b) }' || nl_fail "$1 is $v, expected $2"
}

nl_step "metrics: two referrals sent and accepted"
for i in 1 2; do
    nl_referral "CASE-NODE-CHECK-$i" >"$NL_T/ref$i.json"
    OUT=$(nl_node cac.chiangmai send "$NL_T/ref$i.json" --to police.ticac --wait=20) ||
        nl_fail "send $i: $OUT"
done
metrics
expect refbus_node_submitted_total 2
expect refbus_node_accepted_total 2
expect refbus_node_outbox_pending 0
expect refbus_node_outbox_failed 0
expect refbus_node_broker_session_ready 1
expect refbus_node_broker_down_seconds 0
expect refbus_node_directory_serial 1

nl_step "the broker is gone: status says since when, check 1 past --max-down, a warning"
nl_broker_stop
nl_wait 20 nl_json_eq cac.chiangmai '.broker | has("down_since_ms")' true status ||
    nl_fail "status has no down_since_ms without a broker"
check --max-down 3600
[ "$rc" = 0 ] || nl_fail "check within --max-down: $rc: $out"
sleep 2
check --max-down 1
[ "$rc" = 1 ] || nl_fail "check past --max-down: $rc: $out"
[[ "$out" == "DEGRADED: no session with the broker for "*" s (limit 1 s; state "* ]] ||
    nl_fail "degraded line: $out"
metrics
expect refbus_node_broker_session_ready 0
awk -v a="$(metric refbus_node_broker_down_seconds)" 'BEGIN { exit !(a >= 1) }' ||
    nl_fail "refbus_node_broker_down_seconds does not count the time without the broker"
# reconnect_max_ms = 1000 in the test config: the warning comes after 10 s without a session
nl_wait 30 grep -q '\[warn\] no session with the broker tcp://127.0.0.1:.* for [0-9]* s' "$LOG" ||
    nl_fail "the node did not warn about the lost broker"

nl_step "the broker is back: 0 again, an info line"
nl_broker_start
nl_node_ready cac.chiangmai 30
check --max-down 1
[ "$rc" = 0 ] || nl_fail "check after the broker came back: $rc: $out"
nl_wait 10 grep -q '\[info\] session with the broker .* back after [0-9]* s' "$LOG" ||
    nl_fail "no line saying the session is back"

nl_step "misuse: 2; the daemon stopped: 2"
check --max-down soon
[ "$rc" = 2 ] || nl_fail "a bad --max-down exited $rc"
nl_node_stop cac.chiangmai
check
[ "$rc" = 2 ] || nl_fail "check without a daemon: $rc: $out"
[[ "$out" == FAILED:* ]] || nl_fail "not-running line: $out"
rc=0
"$NL_BIN/refbus-node" -c "$NL_T/nodes/cac.chiangmai/node.conf" metrics >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || nl_fail "metrics without a daemon exited $rc, not 1"
nl_finish
echo "PASS: refbus-node check"
