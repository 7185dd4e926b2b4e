#!/usr/bin/env bash
# Intent: the node's group commit (issue 12). Send requests arriving together are stored in one
# synced commit and answered only after it: 8 concurrent sends cost one queue commit (counted by
# `status .commits`, never timed), each caller told "queued" with its own msg id, each referral
# delivered once. A crash before that commit tells no caller "queued" and leaves nothing queued;
# a crash after it (before the answers) loses nothing: every referral is delivered after the
# restart. The test variant's REFBUS_NODE_TEST_GATHER=N holds the first sending pass until N
# requests are read, so that the requests meet in one pass whatever the machine's speed.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-groupcommit
nl_network
nl_broker_start
for a in ngo.hots cac.chiangmai; do nl_node_start "$a"; done
for a in ngo.hots cac.chiangmai; do nl_node_ready "$a"; done
count_is() { [ "$(nl_inbox_count "$1" "$2")" = "$3" ]; }
commits() { nl_node ngo.hots status | jq -r ".commits.$1"; }

# send_all PREFIX N [TIMEOUT_MS]: N sends at once from ngo.hots, outputs in $NL_T/PREFIX-i.out,
# exit statuses in $NL_T/PREFIX-i.rc.
send_all() {
    local i pids=()
    for i in $(seq 1 "$2"); do
        nl_referral "$1-$i" >"$NL_T/$1-$i.json"
        (
            st=0
            nl_node ngo.hots --timeout "${3:-30000}" send "$NL_T/$1-$i.json" \
                --to cac.chiangmai >"$NL_T/$1-$i.out" 2>&1 || st=$?
            echo "$st" >"$NL_T/$1-$i.rc"
        ) &
        pids+=($!)
    done
    wait "${pids[@]}"
}

nl_step "8 concurrent sends: one synced group commit, answers after it"
nl_node_stop ngo.hots
nl_node_start ngo.hots REFBUS_NODE_TEST_GATHER=8
nl_node_ready ngo.hots
[ "$(commits queue)" = 0 ] || nl_fail "queue commits before any send: $(commits queue)"
S0=$(commits synced)
send_all GC 8
for i in $(seq 1 8); do
    [ "$(cat "$NL_T/GC-$i.rc")" = 0 ] || nl_fail "send $i: $(cat "$NL_T/GC-$i.out")"
    jq -e '.ok == true and .state == "pending"' "$NL_T/GC-$i.out" >/dev/null ||
        nl_fail "send $i not queued: $(cat "$NL_T/GC-$i.out")"
done
[ "$(jq -r .msg_id "$NL_T"/GC-*.out | sort -u | wc -l)" = 8 ] || nl_fail "msg ids not distinct"
Q=$(commits queue)
[ "$Q" -ge 1 ] && [ "$Q" -lt 8 ] || nl_fail "8 concurrent sends took $Q queue commits (want < 8)"
[ "$Q" = 1 ] || nl_fail "8 sends gathered in one pass took $Q queue commits (want 1)"
# "queued" means on disk: the queue commit is a synced one, never a lazy one
S1=$(commits synced)
[ $((S1 - S0)) -ge "$Q" ] || nl_fail "queue commit not synced: synced went $S0 -> $S1"
for i in $(seq 1 8); do
    nl_wait 30 count_is cac.chiangmai "GC-$i" 1 || nl_fail "GC-$i not delivered once"
done
nl_wait 20 nl_json_eq ngo.hots '.commits.receipts > 0' true status ||
    nl_fail "no receipt commit counted"

nl_step "crash before the group commit: no caller told queued, nothing queued"
nl_node_stop ngo.hots
nl_node_start ngo.hots REFBUS_NODE_TEST_GATHER=4 REFBUS_NODE_CRASH_BEFORE_QUEUE_COMMIT=1
nl_node_ready ngo.hots
send_all GCB 4 8000
nl_node_wait_exit ngo.hots 20 || nl_fail "the crash point before the queue commit did not fire"
grep -q REFBUS_NODE_CRASH_BEFORE_QUEUE_COMMIT "$NL_T/nodes/ngo.hots/log" || nl_fail "no crash logged"
for i in $(seq 1 4); do
    [ "$(cat "$NL_T/GCB-$i.rc")" != 0 ] || nl_fail "caller $i was answered: $(cat "$NL_T/GCB-$i.out")"
    if jq -e '.ok == true' "$NL_T/GCB-$i.out" >/dev/null 2>&1; then
        nl_fail "caller $i told queued before the commit"
    fi
done
nl_node_start ngo.hots
nl_node_ready ngo.hots
nl_json_eq ngo.hots .outbox.pending 0 status || nl_fail "uncommitted sends are in the outbox"
nl_referral GC-MARK >"$NL_T/mark.json"
OUT=$(nl_node ngo.hots send "$NL_T/mark.json" --to cac.chiangmai) || nl_fail "send: $OUT"
nl_wait 30 count_is cac.chiangmai GC-MARK 1 || nl_fail "the marker was not delivered"
for i in $(seq 1 4); do
    count_is cac.chiangmai "GCB-$i" 0 || nl_fail "GCB-$i delivered although never committed"
done

nl_step "crash after the group commit, before the answers: nothing lost"
nl_node_stop ngo.hots
nl_node_start ngo.hots REFBUS_NODE_TEST_GATHER=4 REFBUS_NODE_CRASH_AFTER_QUEUE_COMMIT=1
nl_node_ready ngo.hots
send_all GCA 4 8000
nl_node_wait_exit ngo.hots 20 || nl_fail "the crash point after the queue commit did not fire"
grep -q REFBUS_NODE_CRASH_AFTER_QUEUE_COMMIT "$NL_T/nodes/ngo.hots/log" || nl_fail "no crash logged"
for i in $(seq 1 4); do
    [ "$(cat "$NL_T/GCA-$i.rc")" != 0 ] || nl_fail "caller $i answered before the crash"
done
nl_node_start ngo.hots
for i in $(seq 1 4); do
    nl_wait 30 count_is cac.chiangmai "GCA-$i" 1 || nl_fail "GCA-$i lost (committed before the crash)"
done
nl_wait 20 nl_json_eq ngo.hots .outbox.pending 0 status || nl_fail "outbox not drained"

nl_finish
echo "PASS node_groupcommit"
