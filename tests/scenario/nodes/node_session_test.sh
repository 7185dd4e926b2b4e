#!/usr/bin/env bash
# Intent: a replaced or dead session never stalls silently, with real processes (issue 10,
# defect 4). A second node started with the same agency's keys takes the session over: the
# first is told why, says "superseded" in status (never "ready") and logs it at warning, and
# does not fight back; referrals go to the node that holds the session. The second is killed
# with -9: the broker forgets it at once, the first takes the session back and is served.
# Then the agency rotates: the rotated-away bundle, started as a node, cannot displace the
# active node (its HELLO is refused ERETIRED), and every referral reaches the active node.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-session
nl_network
nl_broker_start
for a in ngo.hots cac.chiangmai; do nl_node_start "$a"; done
for a in ngo.hots cac.chiangmai; do nl_node_ready "$a"; done
count_is() { [ "$(nl_inbox_count "$1" "$2")" = "$3" ]; }
broker_status() { "$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf"; }
peers_of() { broker_status | jq --arg a "$1" '[.peers[] | select(.agency == $a)] | length'; }

# dup_conf NAME BUNDLE: a second node of cac.chiangmai in its own directory with BUNDLE.
dup_conf() {
    local d=$NL_T/nodes/$1
    mkdir -p "$d"
    install -m 0600 "$2" "$d/keystore"
    sed "s|^data_dir = .*|data_dir = data|" "$NL_T/nodes/cac.chiangmai/node.conf" >"$d/node.conf"
}

nl_step "a second node with the CAC's keys takes the session over; the first is told"
dup_conf cac.dup "$NL_T/keys/cac.chiangmai.bundle"
nl_node_start cac.dup
nl_node_ready cac.dup
superseded() {
    nl_node cac.chiangmai status |
        jq -e '.broker.state == "superseded" and .broker.session == "other" and
               (.broker.not_served | contains("taken over"))' >/dev/null
}
nl_wait 20 superseded || nl_fail "the first node does not say it is superseded: $(nl_node cac.chiangmai status)"
grep -q "warn.*NOT SERVED" "$NL_T/nodes/cac.chiangmai/log" || nl_fail "no warning in the first node's log"
grep -q "taken over" "$NL_T/broker/log" || nl_fail "the broker did not log the take-over"

nl_step "no fight: after several pings each, the second still holds the session"
nl_referral SES-1 | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null || nl_fail "send SES-1"
nl_wait 20 count_is cac.dup SES-1 1 || nl_fail "SES-1 did not reach the node holding the session"
sleep 5 # ping_seconds = 2: both nodes have pinged at least twice
[ "$(grep -c "taken over" "$NL_T/broker/log")" = 1 ] || nl_fail "the nodes fight over the session"
superseded || nl_fail "the first node no longer says superseded"
nl_json_eq cac.dup '.broker.session' active status || nl_fail "the second node lost the session"
count_is cac.chiangmai SES-1 0 || nl_fail "SES-1 reached the superseded node"

nl_step "the second node is killed (-9): the broker forgets it, the first is served again"
nl_node_kill cac.dup
nl_wait 20 nl_json_eq cac.chiangmai '"\(.broker.state) \(.broker.session)"' "ready active" status ||
    nl_fail "the first node did not take the session back: $(nl_node cac.chiangmai status)"
[ "$(peers_of cac.chiangmai)" = 1 ] || nl_fail "the broker lists $(peers_of cac.chiangmai) sessions for the CAC"
grep -q "peer cac.chiangmai disconnected" "$NL_T/broker/log" || nl_fail "the dead peer was not dropped"
nl_referral SES-2 | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null || nl_fail "send SES-2"
nl_wait 20 count_is cac.chiangmai SES-2 1 || nl_fail "SES-2 did not reach the CAC"

nl_step "the CAC rotates; the rotated-away bundle cannot displace the active node"
cp "$NL_T/keys/cac.chiangmai.bundle" "$NL_T/keys/cac.old.bundle"
nl_keys rotate cac.chiangmai --bundle "$NL_T/keys/cac.old.bundle" --out "$NL_T/keys/cac.2.bundle" \
    --bundle-passphrase-file "$NL_T/pass" >/dev/null || nl_fail "rotate"
install -m 0600 "$NL_T/keys/cac.2.bundle" "$NL_T/nodes/cac.chiangmai/keystore.new"
mv -f "$NL_T/nodes/cac.chiangmai/keystore.new" "$NL_T/nodes/cac.chiangmai/keystore"
nl_publish
nl_wait 30 nl_json_eq cac.chiangmai '"\(.epoch) \(.broker.state) \(.broker.session)"' "2 ready active" status ||
    nl_fail "the CAC did not move to epoch 2: $(nl_node cac.chiangmai status)"
dup_conf cac.stolen "$NL_T/keys/cac.old.bundle"
nl_node_start cac.stolen
refused_retired() { grep -q "ERETIRED" "$NL_T/nodes/cac.stolen/log"; }
nl_wait 20 refused_retired || nl_fail "the retired bundle was not refused"
nl_node cac.stolen status | jq -e '.broker.state != "ready"' >/dev/null ||
    nl_fail "the retired bundle got a session: $(nl_node cac.stolen status)"
nl_json_eq cac.chiangmai '"\(.broker.state) \(.broker.session)"' "ready active" status ||
    nl_fail "the active node was displaced: $(nl_node cac.chiangmai status)"
nl_referral SES-3 | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null || nl_fail "send SES-3"
nl_wait 20 count_is cac.chiangmai SES-3 1 || nl_fail "SES-3 did not reach the active CAC"
count_is cac.stolen SES-3 0 || nl_fail "SES-3 reached the retired bundle"
delivered_once() {
    [ "$("$NL_BIN/refbus-audit" replay "$NL_T/broker" --event DELIVERED --agency cac.chiangmai \
        --format jsonl 2>/dev/null | wc -l)" = 3 ]
}
nl_wait 20 delivered_once || nl_fail "the trail does not show exactly three deliveries to the CAC"
nl_node_kill cac.stolen
nl_finish
echo "PASS: node_session"
