#!/usr/bin/env bash
# Issue 10, defects 10 and 12 against real daemons: (10) broker, node and refbus-keys run with
# core files off and not dumpable, and a node's memory holds no referral text after use;
# (12) every answer of a send that queued something names the msg_id as a field (also a
# `send --wait` that times out, and a retry), a retry with that id queues nothing twice, and
# the outbox list is paged instead of cut.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init hardening
# Under AddressSanitizer freed blocks sit in its quarantine unfilled; ask it to overwrite them
# as glibc's M_PERTURB does in a normal build (no effect without ASan).
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}max_free_fill_size=1073741824"
nl_network
nl_broker_start
nl_node_start cac.chiangmai
nl_node_start police.ticac
nl_node_ready cac.chiangmai
nl_node_ready police.ticac

core_limit_zero() { # /proc/PID/limits: "Max core file size  0  0  bytes"
    awk '/^Max core file size/ {exit !($5 == "0" && $6 == "0")}' "/proc/$1/limits"
}

nl_step "defect 10: no core files, not dumpable (node, broker, refbus-keys)"
for id in cac.chiangmai police.ticac; do
    core_limit_zero "${NL_PID[$id]}" || nl_fail "node $id: core files not disabled: $(grep core "/proc/${NL_PID[$id]}/limits")"
    nl_json_eq "$id" '.process.dumpable' false status || nl_fail "node $id is dumpable"
    nl_json_eq "$id" '.process.core_limit' 0 status || nl_fail "node $id: status core_limit"
done
core_limit_zero "$NL_BROKER_PID" || nl_fail "broker: core files not disabled"
st=$("$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf") || nl_fail "broker status"
[ "$(jq -r '.process.dumpable' <<<"$st")" = false ] || nl_fail "broker is dumpable: $st"
# refbus-keys holds the root key: hold it at the passphrase (a FIFO) and look at its limits
mkfifo "$NL_T/pass.fifo"
"$NL_BIN/refbus-keys" -d "$NL_T/admin2" --passphrase-file "$NL_T/pass.fifo" init \
    >/dev/null 2>&1 &
kpid=$!
nl_wait 10 test -e "/proc/$kpid/limits" || nl_fail "refbus-keys did not start"
sleep 0.3 # past main()'s first lines; it now blocks opening the FIFO
core_limit_zero "$kpid" || nl_fail "refbus-keys: core files not disabled"
cat "$NL_T/pass" >"$NL_T/pass.fifo"
wait "$kpid" || nl_fail "refbus-keys init with the FIFO passphrase failed"

nl_step "defect 10: no referral text left in the nodes' memory after send and inbox show"
marker="MARKER-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')-text"
r=$(nl_referral case-mem "$marker ผู้เสียหาย $marker" | nl_node cac.chiangmai send --to police.ticac --wait=20) ||
    nl_fail "send for the memory check: $r"
mid=$(jq -r .msg_id <<<"$r")
nl_wait 20 nl_json_eq police.ticac '.items | length' 1 inbox list || nl_fail "not delivered"
shown=$(nl_node police.ticac inbox show "$mid") || nl_fail "inbox show"
grep -q "$marker" <<<"$shown" || nl_fail "inbox show does not show the summary: $shown"
# two more requests, so that libzmq's reused I/O buffers no longer hold the last answer
nl_node police.ticac status >/dev/null
nl_node cac.chiangmai status >/dev/null
for id in cac.chiangmai police.ticac; do
    n=$(python3 "$NL_SRC/tests/lib/memscan.py" "${NL_PID[$id]}" "$marker") ||
        nl_fail "cannot scan the memory of $id (needs root or ptrace rights)"
    [ "$n" = 0 ] || nl_fail "node $id: the referral text is still in memory ($n copies)"
done

nl_step "defect 12: send --wait that times out names the msg_id as a JSON field"
nl_broker_stop # nothing can be accepted now
r=$(nl_referral case-wait | nl_node cac.chiangmai send --to police.ticac --wait=2 2>/dev/null)
st=$?
[ "$st" = 1 ] || nl_fail "send --wait without a broker exited $st"
mid=$(jq -r '.msg_id // empty' <<<"$r")
[[ "$mid" =~ ^[0-9a-f]{32}$ ]] || nl_fail "the timeout answer has no msg_id field: $r"
jq -e '.ok == false and .error == "ETIMEOUT" and .queued == true and .state == "pending"' \
    <<<"$r" >/dev/null || nl_fail "timeout answer: $r"
nl_json_eq cac.chiangmai .state pending outbox "$mid" || nl_fail "$mid is not in the outbox"

nl_step "defect 12: a retry with that msg_id queues nothing twice and says so"
r=$(nl_referral case-wait | nl_node cac.chiangmai send --to police.ticac --msg-id "$mid" 2>/dev/null)
[ $? = 1 ] || nl_fail "a retry with the same msg id was not refused: $r"
jq -e --arg m "$mid" '.error == "EEXIST" and .msg_id == $m and .queued == false' <<<"$r" \
    >/dev/null || nl_fail "retry answer: $r"
r=$(nl_referral case-bad | nl_node cac.chiangmai send --to no.such.agency 2>/dev/null)
jq -e '.ok == false and (.msg_id | test("^[0-9a-f]{32}$")) and .queued == false' <<<"$r" \
    >/dev/null || nl_fail "a refused send does not name its msg_id: $r"

nl_step "defect 12: the outbox list is paged, never cut silently"
for i in 1 2 3 4; do
    nl_referral "case-page-$i" | nl_node cac.chiangmai send --to police.ticac >/dev/null ||
        nl_fail "queue $i"
done
after=0 pages=0 seen=()
while :; do
    p=$(nl_node cac.chiangmai outbox --after "$after" --limit 2) || nl_fail "outbox page"
    n=$(jq '.items | length' <<<"$p")
    [ "$n" -le 2 ] || nl_fail "page larger than --limit: $p"
    mapfile -t -O "${#seen[@]}" seen < <(jq -r '.items[].msg_id' <<<"$p")
    pages=$((pages + 1))
    [ "$(jq -r .more <<<"$p")" = true ] || break
    [ "$n" = 2 ] || nl_fail "more=true on a short page: $p"
    after=$(jq -r .last_seq <<<"$p")
    [ "$pages" -lt 10 ] || nl_fail "paging does not end"
done
[ "${#seen[@]}" = 5 ] || nl_fail "paging saw ${#seen[@]} entries, not 5: ${seen[*]}"
[ "$(printf '%s\n' "${seen[@]}" | sort -u | wc -l)" = 5 ] || nl_fail "an entry was listed twice"
[ "$pages" = 3 ] || nl_fail "5 entries in pages of 2 took $pages pages"
p=$(nl_node cac.chiangmai outbox) || nl_fail "outbox"
jq -e '(.items | length) == 5 and .more == false' <<<"$p" >/dev/null ||
    nl_fail "the whole outbox in one page: $p"

nl_step "the broker comes back: everything queued is accepted exactly once"
nl_broker_start
nl_wait 30 nl_json_eq cac.chiangmai '.items | length' 0 outbox || nl_fail "outbox did not drain"
nl_wait 30 nl_json_eq police.ticac '.items | length' 6 inbox list ||
    nl_fail "police.ticac has $(nl_node police.ticac inbox list | jq '.items | length') messages, not 6"

nl_step "defect 12: a reply retried with its own --msg-id is queued once"
in=$(nl_node police.ticac inbox list | jq -r '.items[0].msg_id')
rid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
r=$(nl_node police.ticac reply "$in" --status received --msg-id "$rid") ||
    nl_fail "reply with --msg-id: $r"
jq -e --arg m "$rid" --arg i "$in" '.ok and .msg_id == $m and .in_reply_to == $i' <<<"$r" \
    >/dev/null || nl_fail "reply answer: $r"
r=$(nl_node police.ticac reply "$in" --status received --msg-id "$rid" 2>/dev/null)
[ $? = 1 ] || nl_fail "a retried reply with the same id was not refused: $r"
jq -e --arg m "$rid" '.error == "EEXIST" and .msg_id == $m and .queued == false' <<<"$r" \
    >/dev/null || nl_fail "retried reply answer: $r"
r=$(nl_node police.ticac reply "$in" --status accepted 2>/dev/null) || nl_fail "reply: $r"
jq -e '.ok and (.msg_id | test("^[0-9a-f]{32}$"))' <<<"$r" >/dev/null ||
    nl_fail "a reply without --msg-id does not name its id: $r"
nl_wait 30 nl_json_eq cac.chiangmai '.items | length' 2 inbox list ||
    nl_fail "cac.chiangmai has $(nl_node cac.chiangmai inbox list | jq '.items | length') answers, not 2"
nl_wait 30 nl_json_eq police.ticac '.items | length' 0 outbox || nl_fail "police outbox not empty"
nl_json_eq cac.chiangmai '.items | length' 2 inbox list || nl_fail "an answer arrived twice"
nl_finish
echo "PASS: node hardening (defects 10, 12)"
