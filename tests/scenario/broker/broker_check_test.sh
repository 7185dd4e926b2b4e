#!/usr/bin/env bash
# Intent: `refbus-broker check` says 0 for a healthy broker, 1 once the oldest referral queued for
# an offline agency passes the threshold, 2 when the store is full and when the broker is not
# running, each with one line saying why; `refbus-broker metrics` is Prometheus text that the
# reference parser (python3-prometheus-client) reads, and its numbers are what the test did.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init brokercheck
PY=/usr/bin/python3 # Debian's, where deploy/install-deps.sh puts python3-prometheus-client
[ -x "$PY" ] || PY=python3
"$PY" -c 'import prometheus_client' 2>/dev/null ||
    nl_skip "python3-prometheus-client is not installed (deploy/install-deps.sh installs it)"
PARSE="$PY $NL_SRC/tests/lib/metrics_parse.py"
B=("$NL_BIN/refbus-broker")
nl_network
nl_broker_start

# check ARGS...: run check, leave its exit code in $rc and its output in $out.
check() {
    rc=0
    out=$("${B[@]}" check -c "$NL_T/broker.conf" "$@" 2>&1) || rc=$?
}
# metric NAME: the value of one sample of the parsed metrics (fails when absent).
metrics() { "${B[@]}" metrics -c "$NL_T/broker.conf" | $PARSE >"$NL_T/metrics.json" || nl_fail "metrics do not parse"; }
metric() {
    local v
    v=$(jq -e --arg k "$1" '.[$k]' "$NL_T/metrics.json") || nl_fail "no metric $1 in $(cat "$NL_T/metrics.json")"
    printf '%s\n' "$v"
}
# expect NAME VALUE (numeric equality)
expect() {
    local v
    v=$(metric "$1")
    awk -v a="$v" -v b="$2" 'BEGIN { exit !(a == b) }' || nl_fail "$1 is $v, expected $2"
}

nl_step "a healthy broker: check 0, metrics parse"
check
[ "$rc" = 0 ] || nl_fail "check on a healthy broker: $rc: $out"
[[ "$out" == "OK: serving: 0 node(s) connected, 0 referral(s) queued, audit size "* ]] ||
    nl_fail "check line: $out"
[ "$(wc -l <<<"$out")" = 1 ] || nl_fail "check printed more than one line: $out"
metrics
expect refbus_broker_referrals_accepted_total 0
expect refbus_broker_connected_peers 0
expect refbus_broker_storage_full 0
expect 'refbus_broker_queue_depth{agency=police.ticac}' 0

nl_step "traffic: 3 referrals to an offline agency, 1 delivered to an online one"
nl_node_start cac.chiangmai
nl_node_start welfare.cm
nl_node_ready cac.chiangmai
nl_node_ready welfare.cm
for i in 1 2 3; do
    nl_referral "CASE-CHECK-$i" >"$NL_T/ref$i.json"
    OUT=$(nl_node cac.chiangmai send "$NL_T/ref$i.json" --to police.ticac --wait=20) ||
        nl_fail "send $i: $OUT"
done
nl_referral CASE-CHECK-W >"$NL_T/refw.json"
OUT=$(nl_node cac.chiangmai send "$NL_T/refw.json" --to welfare.cm --wait=20) || nl_fail "send w: $OUT"
MSG=$(jq -r .msg_id <<<"$OUT")
delivered() { [ "$(nl_node cac.chiangmai outbox "$MSG" | jq '[.deliveries[] | select(.state == "delivered")] | length')" = 1 ]; }
nl_wait 20 delivered || nl_fail "welfare.cm's DELIVERED receipt did not come back"
metrics
expect refbus_broker_referrals_accepted_total 4
expect refbus_broker_deliveries_total 1
expect refbus_broker_connected_peers 2
expect 'refbus_broker_peer_connected{agency=cac.chiangmai}' 1
expect 'refbus_broker_peer_connected{agency=police.ticac}' 0
expect 'refbus_broker_queue_depth{agency=police.ticac}' 3
expect 'refbus_broker_queue_depth{agency=welfare.cm}' 0
expect 'refbus_broker_queue_oldest_age_seconds{agency=welfare.cm}' 0
awk -v a="$(metric 'refbus_broker_queue_oldest_age_seconds{agency=police.ticac}')" \
    'BEGIN { exit !(a > 0 && a < 120) }' || nl_fail "police.ticac's oldest age is not plausible"
awk -v a="$(metric refbus_broker_commit_seconds_count)" 'BEGIN { exit !(a >= 4) }' ||
    nl_fail "fewer commits observed than referrals accepted"
[ "$(metric refbus_broker_audit_records)" = "$("${B[@]}" status -c "$NL_T/broker.conf" | jq .audit_size)" ] ||
    nl_fail "audit_records differs from status"
check
[ "$rc" = 0 ] || nl_fail "check before the threshold: $rc: $out"

nl_step "the offline agency's oldest referral passes the threshold: degraded (1)"
sleep 2
check --max-queue-age 1
[ "$rc" = 1 ] || nl_fail "check past the queue age: $rc: $out"
[[ "$out" == "DEGRADED: the oldest referral queued for police.ticac is "*" s old (limit 1 s)"* ]] ||
    nl_fail "degraded line: $out"
check --max-queue-age 3600
[ "$rc" = 0 ] || nl_fail "check with a generous limit: $rc: $out"
rc=0
"${B[@]}" check -c "$NL_T/broker.conf" --storage-warn 0 >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || nl_fail "a bad --storage-warn was not a usage error ($rc)"

nl_step "the store is full: failing (2), storage_full 1"
nl_broker_stop
NL_BROKER_EXTRA=$'map_size_mb = 1\nhigh_water_percent = 10' nl_broker_start
check --storage-warn 1 # a 1 MiB map: what the store holds is more than 1% of it
[ "$rc" = 1 ] && [[ "$out" == "DEGRADED: storage nearly full: "*"% of the map used (warning at 1%)"* ]] ||
    nl_fail "storage warning: $rc: $out"
# referrals for the offline agency until the broker refuses them (transiently: the node keeps
# them) for want of room; a bounded number, each a few KiB of a 100 KiB allowance
nl_referral CASE-CHECK-FULL >"$NL_T/reffull.json"
for i in $(seq 1 60); do
    nl_node cac.chiangmai send "$NL_T/reffull.json" --to police.ticac --wait=10 >/dev/null 2>&1
    check
    [ "$rc" = 2 ] && break
done
[ "$rc" = 2 ] || nl_fail "check with a full store: $rc: $out"
[[ "$out" == "FAILED: storage full: new referrals are refused"* ]] || nl_fail "full line: $out"
metrics
expect refbus_broker_storage_full 1
awk -v a="$(metric 'refbus_broker_referrals_refused_total{reason=EMAPFULL}')" 'BEGIN { exit !(a >= 1) }' ||
    nl_fail "no refusal for EMAPFULL counted"

nl_step "not running: failing (2)"
nl_broker_stop
check
[ "$rc" = 2 ] || nl_fail "check without a broker: $rc: $out"
[[ "$out" == "FAILED: no answer from ipc://"*"the broker is not running there" ]] ||
    nl_fail "not-running line: $out"
rc=0
"${B[@]}" metrics -c "$NL_T/broker.conf" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || nl_fail "metrics without a broker exited $rc, not 1"
nl_finish
echo "PASS: refbus-broker check and metrics"
