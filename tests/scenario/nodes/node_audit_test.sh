#!/usr/bin/env bash
# Intent: a node keeps the last audit checkpoint it verified and refuses, loudly, one that is
# not consistent with it. Normal operation: every checkpoint verifies (no alarm). Then the
# broker's operator rolls the broker back to an older copy of its data (history rewritten):
# the node raises an AUDIT ALARM, keeps its old checkpoint, reports it in `status`, and the
# alarm survives a restart of the node.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-audit
nl_network
nl_broker_start
for a in ngo.hots cac.chiangmai; do nl_node_start "$a"; done
for a in ngo.hots cac.chiangmai; do nl_node_ready "$a"; done
cp_size() { nl_node "$1" status | jq -r '.checkpoint.size // 0'; }

nl_step "normal operation: checkpoints verify, no alarm"
for i in 1 2; do
    nl_referral "AUD-$i" | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null ||
        nl_fail "send AUD-$i"
done
nl_broker_stop
cp -a "$NL_T/broker" "$NL_T/broker.old"
nl_broker_start
nl_node_ready ngo.hots
for i in 3 4 5; do
    nl_referral "AUD-$i" | nl_node ngo.hots send - --to cac.chiangmai --wait=20 >/dev/null ||
        nl_fail "send AUD-$i"
done
old_size=$("$NL_BIN/refbus-audit" stats "$NL_T/broker.old" --json | jq -r .records)
grew() { [ "$(cp_size ngo.hots)" -gt "$old_size" ]; }
nl_wait 20 grew || nl_fail "the node's checkpoint did not grow past $old_size"
ST=$(nl_node ngo.hots status)
[ "$(jq -r .checkpoint_alarm <<<"$ST")" = null ] || nl_fail "alarm in normal operation: $ST"
[ "$(jq -r .counters.checkpoints_verified <<<"$ST")" -ge 2 ] || nl_fail "nothing verified: $ST"
held=$(jq -c .checkpoint <<<"$ST")

nl_step "the broker is rolled back to an older copy of its data"
nl_broker_stop
rm -rf "$NL_T/broker"
mv "$NL_T/broker.old" "$NL_T/broker"
nl_broker_start
alarm() { nl_node ngo.hots status | jq -e '.checkpoint_alarm != null' >/dev/null; }
nl_wait 30 alarm || nl_fail "no alarm after the rollback: $(nl_node ngo.hots status)"
ST=$(nl_node ngo.hots status)
[ "$(jq -c .checkpoint <<<"$ST")" = "$held" ] || nl_fail "the held checkpoint changed: $ST"
[ "$(jq -r .checkpoint_alarm.held.size <<<"$ST")" = "$(jq -r .size <<<"$held")" ] ||
    nl_fail "the alarm does not name the held checkpoint: $ST"
grep -q "AUDIT ALARM" "$NL_T/nodes/ngo.hots/log" || nl_fail "the alarm was not logged"

nl_step "the alarm survives a restart"
nl_node_stop ngo.hots
nl_node_start ngo.hots
[ "$(nl_node ngo.hots status | jq -r '.checkpoint_alarm.reason')" != null ] ||
    nl_fail "the alarm is gone after a restart"
[ "$(nl_node ngo.hots status | jq -c .checkpoint)" = "$held" ] || nl_fail "checkpoint lost"
nl_finish
echo "node_audit_test: PASS"
