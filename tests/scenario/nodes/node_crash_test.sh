#!/usr/bin/env bash
# Intent: nothing accepted is lost and nothing is delivered twice when processes die at the
# worst moments: the recipient killed after storing but before its receipt (the message is in
# its inbox exactly once after restart); the sender killed before it sent, and killed after the
# broker accepted but before it stored ACCEPTED (sent again with the same msg id, delivered
# once); the broker kill -9'd while messages flow (each delivered once). The broken case: a
# crash point that fires shows the test would notice a lost or doubled message.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-crash
# The crash points live in the test variant only: the installed program has none, so nothing
# in its environment can make it exit at a chosen point.
if grep -q REFBUS_NODE_CRASH_ "$NL_BIN/refbus-node"; then
    nl_fail "the production refbus-node contains crash points"
fi
nl_network
nl_broker_start
for a in ngo.hots cac.chiangmai; do nl_node_start "$a"; done
for a in ngo.hots cac.chiangmai; do nl_node_ready "$a"; done
count_is() { [ "$(nl_inbox_count "$1" "$2")" = "$3" ]; }
delivered_to_cac() {
    nl_node ngo.hots outbox "$1" | jq -e '.deliveries[0].state == "delivered"' >/dev/null
}

nl_step "recipient killed after storing, before its DELIVERED receipt"
nl_node_stop cac.chiangmai
nl_node_start cac.chiangmai REFBUS_NODE_CRASH_AFTER_STORE=1
nl_referral CRASH-1 >"$NL_T/r1.json"
OUT=$(nl_node ngo.hots send "$NL_T/r1.json" --to cac.chiangmai --wait=20) || nl_fail "send: $OUT"
M1=$(jq -r .msg_id <<<"$OUT")
nl_node_wait_exit cac.chiangmai 20 || nl_fail "the crash point after the inbox commit did not fire"
grep -q REFBUS_NODE_CRASH_AFTER_STORE "$NL_T/nodes/cac.chiangmai/log" || nl_fail "no crash logged"
if delivered_to_cac "$M1"; then nl_fail "a DELIVERED receipt left before the crash"; fi
nl_node_start cac.chiangmai
nl_wait 20 delivered_to_cac "$M1" || nl_fail "no DELIVERED after the restart"
count_is cac.chiangmai CRASH-1 1 || nl_fail "in the inbox $(nl_inbox_count cac.chiangmai CRASH-1) times"
nl_wait 5 nl_json_eq cac.chiangmai '.counters.duplicates_in >= 1' true status ||
    nl_fail "the redelivery was not recognised as a duplicate"

nl_step "sender killed after storing in its outbox, before sending"
nl_node_stop ngo.hots
nl_node_start ngo.hots REFBUS_NODE_CRASH_BEFORE_SEND=1
nl_referral CRASH-2 >"$NL_T/r2.json"
OUT=$(nl_node ngo.hots send "$NL_T/r2.json" --to cac.chiangmai 2>/dev/null)
nl_node_wait_exit ngo.hots 20 || nl_fail "the crash point before sending did not fire"
M2=$(jq -r '.msg_id // empty' <<<"$OUT")
sleep 1
count_is cac.chiangmai CRASH-2 0 || nl_fail "delivered although the sender died before sending"
nl_node_start ngo.hots
nl_wait 20 count_is cac.chiangmai CRASH-2 1 || nl_fail "not delivered after the sender's restart"
if [ -n "$M2" ]; then nl_wait 20 delivered_to_cac "$M2" || nl_fail "no receipt for $M2"; fi

nl_step "sender killed after the broker accepted, before it stored ACCEPTED"
nl_node_stop ngo.hots
nl_node_start ngo.hots REFBUS_NODE_CRASH_BEFORE_ACCEPTED=1
nl_node_ready ngo.hots
nl_referral CRASH-3 >"$NL_T/r3.json"
OUT=$(nl_node ngo.hots send "$NL_T/r3.json" --to cac.chiangmai) || nl_fail "send: $OUT"
M3=$(jq -r .msg_id <<<"$OUT")
nl_node_wait_exit ngo.hots 20 || nl_fail "the crash point before ACCEPTED did not fire"
nl_wait 20 count_is cac.chiangmai CRASH-3 1 || nl_fail "the accepted message was not delivered"
nl_node_start ngo.hots
nl_wait 20 nl_json_eq ngo.hots .state accepted outbox "$M3" || nl_fail "never accepted after restart"
nl_wait 20 delivered_to_cac "$M3" || nl_fail "no receipt for $M3"
sleep 1
count_is cac.chiangmai CRASH-3 1 || nl_fail "the resent message is in the inbox twice"
"$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf" >/dev/null || nl_fail "broker status"

nl_step "broker kill -9 while messages flow"
for i in 1 2 3 4 5 6; do
    nl_referral "FLOW-$i" | nl_node ngo.hots send - --to cac.chiangmai >/dev/null ||
        nl_fail "send FLOW-$i"
    if [ "$i" = 3 ]; then
        kill -KILL "$NL_BROKER_PID"
        wait "$NL_BROKER_PID" 2>/dev/null
        NL_BROKER_PID=
    fi
done
nl_broker_start
for i in 1 2 3 4 5 6; do
    nl_wait 30 count_is cac.chiangmai "FLOW-$i" 1 || nl_fail "FLOW-$i: $(nl_inbox_count cac.chiangmai FLOW-$i) copies"
done
nl_wait 20 nl_json_eq ngo.hots '.items | length' 0 outbox || nl_fail "the outbox did not empty"
sleep 1
for i in 1 2 3 4 5 6; do count_is cac.chiangmai "FLOW-$i" 1 || nl_fail "FLOW-$i twice"; done
nl_finish
echo "node_crash_test: PASS"
