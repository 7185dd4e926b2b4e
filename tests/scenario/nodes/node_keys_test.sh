#!/usr/bin/env bash
# Intent: key rotation loses nothing and revocation bites at once, with real processes. The
# sender's and a recipient's keys are rotated while referrals are queued at the broker and in
# the sender's outbox: every one of them still opens, old epoch and new; the nodes pick up the
# new bundles written over their keystore files without a restart. Then an agency's key is
# revoked: its next message is refused and its node says why (EREVOKED and the administrators'
# reason), and a message it sent before the revocation, still queued, is refused by the
# recipient, which says why too.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-keys
nl_network
nl_broker_start
for a in ngo.hots police.ticac; do nl_node_start "$a"; done
for a in ngo.hots police.ticac; do nl_node_ready "$a"; done
nl_node_conf cac.chiangmai
nl_node_conf welfare.cm
count_is() { [ "$(nl_inbox_count "$1" "$2")" = "$3" ]; }

nl_step "referrals queued for the offline CAC, one left in the NGO's outbox"
for i in 1 2; do
    nl_referral "ROT-$i" | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null ||
        nl_fail "send ROT-$i"
done
nl_broker_stop
nl_referral ROT-3 | nl_node ngo.hots send - --to cac.chiangmai >/dev/null || nl_fail "send ROT-3"
[ "$(nl_node ngo.hots outbox | jq '.items[0].sender_epoch')" = 1 ] || nl_fail "ROT-3 not pending"

nl_step "the administrators rotate the NGO and the CAC, write the bundles over the keystores"
rotate() {
    nl_keys rotate "$1" --bundle "$NL_T/keys/$1.bundle" --out "$NL_T/keys/$1.2.bundle" \
        --bundle-passphrase-file "$NL_T/pass" >/dev/null || nl_fail "rotate $1"
    install -m 0600 "$NL_T/keys/$1.2.bundle" "$NL_T/nodes/$1/keystore.new"
    mv -f "$NL_T/nodes/$1/keystore.new" "$NL_T/nodes/$1/keystore"
}
rotate ngo.hots
rotate cac.chiangmai
nl_sign
nl_broker_start
nl_wait 30 nl_json_eq ngo.hots '"\(.epoch) \(.directory.serial) \(.broker.state)"' "2 2 ready" status ||
    nl_fail "the NGO did not move to epoch 2: $(nl_node ngo.hots status)"
nl_wait 20 nl_json_eq ngo.hots '.items | length' 0 outbox || nl_fail "ROT-3 never left the outbox"
nl_referral ROT-4 | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null ||
    nl_fail "send ROT-4 after the rotation"

nl_step "a second rotation of the NGO with everything running: published live, no restart"
nl_keys rotate ngo.hots --bundle "$NL_T/keys/ngo.hots.2.bundle" --out "$NL_T/keys/ngo.hots.3.bundle" \
    --bundle-passphrase-file "$NL_T/pass" >/dev/null || nl_fail "rotate ngo.hots to epoch 3"
install -m 0600 "$NL_T/keys/ngo.hots.3.bundle" "$NL_T/nodes/ngo.hots/keystore.new"
mv -f "$NL_T/nodes/ngo.hots/keystore.new" "$NL_T/nodes/ngo.hots/keystore"
nl_publish
nl_wait 30 nl_json_eq ngo.hots '"\(.epoch) \(.directory.serial) \(.broker.state)"' "3 3 ready" status ||
    nl_fail "the NGO did not move to epoch 3 live: $(nl_node ngo.hots status)"
nl_referral ROT-5 | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null ||
    nl_fail "send ROT-5 after the live rotation"

nl_step "the CAC starts with its rotated bundle: every referral opens"
nl_node_start cac.chiangmai
for i in 1 2 3 4 5; do
    nl_wait 30 count_is cac.chiangmai "ROT-$i" 1 || nl_fail "ROT-$i not in the CAC's inbox"
done
epochs=$(nl_node cac.chiangmai inbox list | jq -r '[.items[].seq] | .[]' | while read -r s; do
    nl_node cac.chiangmai inbox show "$s" | jq -r '"\(.sender_epoch):\(.referral.case_ref)"'
done | sort | tr '\n' ' ')
case "$epochs" in
*"1:ROT-1"*"1:ROT-2"*"2:ROT-4"*"3:ROT-5"*) ;;
*) nl_fail "signed epochs and contents: $epochs" ;;
esac
[ "$(nl_node cac.chiangmai status | jq .epoch)" = 2 ] || nl_fail "the CAC is not on epoch 2"
[ "$(nl_node cac.chiangmai status | jq .counters.refused_in)" = 0 ] || nl_fail "the CAC refused some"
# the CAC answers the oldest referral; the NGO opens it with its new key
M1=$(nl_node cac.chiangmai inbox show 1 | jq -r .msg_id)
nl_node cac.chiangmai reply "$M1" --status accepted --text "รับแล้ว" >/dev/null || nl_fail "reply"
ans_arrived() { nl_node ngo.hots inbox list | jq -e '[.items[] | select(.status == "accepted")] | length == 1' >/dev/null; }
nl_wait 20 ans_arrived || nl_fail "the NGO did not get the CAC's answer"

nl_step "revocation: a message queued before it, then the key is revoked"
nl_referral REV-1 | nl_node police.ticac send - --to welfare.cm --wait=20 >/dev/null ||
    nl_fail "send REV-1"
nl_keys revoke police.ticac --reason "laptop stolen on 3 March" >/dev/null || nl_fail "revoke"
nl_publish
says_revoked() {
    nl_node police.ticac status |
        jq -e '.key_state == "revoked" and (.revoked_reason | contains("laptop stolen"))' >/dev/null
}
nl_wait 20 says_revoked || nl_fail "the police node does not say it is revoked: $(nl_node police.ticac status)"
rc=0
OUT=$(nl_referral REV-2 | nl_node police.ticac send - --to welfare.cm --wait=10 2>"$NL_T/err") || rc=$?
[ "$rc" = 1 ] || nl_fail "a revoked agency's send: exit $rc"
[ "$(jq -r .error <<<"$OUT")" = EREVOKED ] || nl_fail "not EREVOKED: $OUT"
grep -q "laptop stolen" "$NL_T/err" || nl_fail "the reason is not given: $(cat "$NL_T/err")"

nl_step "the recipient refuses what the revoked key signed, and says why"
nl_node_start welfare.cm
nl_node_ready welfare.cm
refused() {
    nl_node welfare.cm status | jq -e '[.recent_refusals[] | select(.sender == "police.ticac" and .error == "EREVOKED" and (.reason | contains("laptop stolen")))] | length >= 1' >/dev/null
}
nl_wait 20 refused || nl_fail "welfare.cm did not refuse REV-1: $(nl_node welfare.cm status)"
for r in REV-1 REV-2; do count_is welfare.cm "$r" 0 || nl_fail "$r reached welfare.cm"; done
nl_finish
echo "node_keys_test: PASS"
