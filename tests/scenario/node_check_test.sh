#!/usr/bin/env bash
# Intent: `refbus-node check` says 0 while the node is served, 1 once it has had no broker
# session for longer than --max-down (status shows since when, and the daemon logs a warning
# after 10 x reconnect_max_ms), 0 again when the broker is back, 2 when the daemon is not
# running; one line each time.
source "$(dirname "$0")/node_lib.sh"
nl_init nodecheck
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
nl_finish
echo "PASS: refbus-node check"
