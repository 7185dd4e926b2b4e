#!/usr/bin/env bash
# Intent: real processes (a broker and four nodes on loopback): a referral to three agencies
# arrives at all three exactly once and only there, Thai and Burmese text round-trips byte for
# byte, nothing readable is at rest, accept / decline / complete flows and cancel and consent
# withdrawal reach every agency of the thread, a nonsense transition is refused with
# ETRANSITION, a bad referral is refused naming the field with nothing sent, and every step is
# in the broker's audit trail.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-flow
nl_network
nl_broker_start
for a in "${NL_AGENCIES[@]}"; do nl_node_start "$a"; done
for a in "${NL_AGENCIES[@]}"; do nl_node_ready "$a"; done

nl_step "the control socket is private"
mode=$(stat -c %a "$NL_T/nodes/ngo.hots/data/control.sock")
[ "$mode" = 600 ] || nl_fail "control socket mode $mode, want 600"

nl_step "a referral to three agencies (Thai and Burmese summary)"
SUMMARY='เด็กหญิงอายุ 14 ปี พบที่ด่านแม่สาย MARKER-7f3a ကလေးမသည် မြန်မာစကားပြောသည်။ — “quotes” ✓'
nl_referral CASE-FLOW-1 "$SUMMARY" >"$NL_T/ref1.json"
OUT=$(nl_node ngo.hots send "$NL_T/ref1.json" --to cac.chiangmai,police.ticac,welfare.cm \
    --wait=20) || nl_fail "send: $OUT"
[ "$(jq -r .state <<<"$OUT")" = accepted ] || nl_fail "not accepted: $OUT"
MSG=$(jq -r .msg_id <<<"$OUT")
for a in cac.chiangmai police.ticac welfare.cm; do
    nl_wait 20 nl_node "$a" inbox show "$MSG" || nl_fail "$a did not receive $MSG"
    M=$(nl_node "$a" inbox show "$MSG")
    [ "$(jq -r .referral.summary <<<"$M")" = "$SUMMARY" ] || nl_fail "$a: summary changed: $M"
    [ "$(jq -r '.sender + " " + .kind + " " + .urgency' <<<"$M")" = "ngo.hots referral urgent" ] ||
        nl_fail "$a: wrong header: $M"
    [ "$(nl_inbox_count "$a" CASE-FLOW-1)" = 1 ] || nl_fail "$a holds it more than once"
done
THREAD=$(nl_node cac.chiangmai inbox show "$MSG" | jq -r .thread_id)
delivered3() { [ "$(nl_node ngo.hots outbox "$MSG" | jq '[.deliveries[] | select(.state == "delivered")] | length')" = 3 ]; }
nl_wait 20 delivered3 || nl_fail "the sender lacks three DELIVERED receipts: $(nl_node ngo.hots outbox "$MSG")"

nl_step "readable only by the recipients: a second referral to two does not reach the third"
nl_referral CASE-FLOW-2 >"$NL_T/ref2.json"
OUT=$(nl_node ngo.hots send "$NL_T/ref2.json" --to cac.chiangmai,police.ticac --wait=20) ||
    nl_fail "send 2: $OUT"
MSG2=$(jq -r .msg_id <<<"$OUT")
nl_wait 20 nl_node police.ticac inbox show "$MSG2" || nl_fail "police did not get $MSG2"
nl_wait 20 nl_node cac.chiangmai inbox show "$MSG2" || nl_fail "cac did not get $MSG2"
if nl_node welfare.cm inbox show "$MSG2" >/dev/null 2>&1; then nl_fail "welfare.cm holds $MSG2"; fi
for f in "$NL_T"/broker/data.mdb "$NL_T"/nodes/*/data/store/data.mdb; do
    if LC_ALL=C grep -a -q -F -e MARKER-7f3a -e CASE-FLOW -e "ด่านแม่สาย" -e "Khun Malee" "$f"; then
        nl_fail "referral plaintext found at rest in $f"
    fi
done
# ... and the check can fail: the marker is there when written in the clear
printf 'MARKER-7f3a' >"$NL_T/probe.bin"
LC_ALL=C grep -a -q -F MARKER-7f3a "$NL_T/probe.bin" || nl_fail "the at-rest grep cannot find anything"

nl_step "bad referral JSON is refused naming the field; nothing is sent"
before=$(nl_node ngo.hots status | jq .counters.submitted)
jq '.child.age = "fourteen"' "$NL_T/ref1.json" >"$NL_T/bad.json"
rc=0
OUT=$(nl_node ngo.hots send "$NL_T/bad.json" --to cac.chiangmai 2>"$NL_T/err") || rc=$?
[ "$rc" = 1 ] || nl_fail "bad referral: exit $rc, want 1"
grep -q 'child.age' "$NL_T/err" || nl_fail "the error does not name child.age: $(cat "$NL_T/err")"
[ "$(jq -r .error <<<"$OUT")" = EJSON ] || nl_fail "bad referral: $OUT"
rc=0
printf '{"case_ref": "X", oops}' | nl_node ngo.hots send - --to cac.chiangmai >/dev/null 2>"$NL_T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'line 1' "$NL_T/err" || nl_fail "broken JSON: exit $rc: $(cat "$NL_T/err")"
rc=0
nl_node ngo.hots send "$NL_T/ref1.json" --to court.nowhere >/dev/null 2>"$NL_T/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'court.nowhere' "$NL_T/err" || nl_fail "unknown agency: exit $rc"
[ "$(nl_node ngo.hots outbox | jq '.items | length')" = 0 ] || nl_fail "something was queued"
[ "$(nl_node ngo.hots status | jq .counters.submitted)" = "$before" ] || nl_fail "something was sent"
rc=0
nl_node ngo.hots send "$NL_T/ref1.json" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || nl_fail "send without --to: exit $rc, want 2"

nl_step "the CAC: received -> accepted -> in_progress -> completed"
for s in received accepted in_progress completed; do
    OUT=$(nl_node cac.chiangmai reply "$MSG" --status "$s" --text "CAC: $s ✓") ||
        nl_fail "cac $s: $OUT"
done
nl_step "the police: declined (reason code), then a nonsense transition is refused"
OUT=$(nl_node police.ticac reply "$MSG" --status declined --reason-code no_jurisdiction \
    --text "ไม่อยู่ในเขตอำนาจ") || nl_fail "police declined: $OUT"
rc=0
OUT=$(nl_node police.ticac reply "$MSG" --status completed 2>"$NL_T/err") || rc=$?
[ "$rc" = 1 ] || nl_fail "completed after declined: exit $rc"
[ "$(jq -r .error <<<"$OUT")" = ETRANSITION ] || nl_fail "not ETRANSITION: $OUT"
grep -q 'declined to completed' "$NL_T/err" || nl_fail "no clear reason: $(cat "$NL_T/err")"
rc=0
nl_node police.ticac reply "$MSG" --status declined >/dev/null 2>"$NL_T/err" || rc=$?
[ "$rc" = 1 ] || nl_fail "declined twice: exit $rc"
rc=0
nl_node cac.chiangmai reply "$MSG" --status cancelled >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || nl_fail "a recipient cancelled the referral: exit $rc"
OUT=$(nl_node welfare.cm reply "$MSG" --status accepted) || nl_fail "welfare accepted: $OUT"

states() { # states AGENCY -> "cac police welfare closed" as that node sees the thread
    nl_node "$1" thread show "$THREAD" |
        jq -r '.thread | [.agencies["cac.chiangmai"].status, .agencies["police.ticac"].status,
                          .agencies["welfare.cm"].status, .state] | join(" ")'
}
thread_is() { [ "$(states "$1")" = "$2" ]; }
for a in "${NL_AGENCIES[@]}"; do
    nl_wait 20 thread_is "$a" 'completed declined accepted open' ||
        nl_fail "$a sees: $(states "$a")"
done

nl_step "the NGO cancels; it reaches every agency; then nothing more is accepted"
OUT=$(nl_node ngo.hots reply "$MSG" --status cancelled --text "child moved to another province") ||
    nl_fail "cancel: $OUT"
for a in cac.chiangmai police.ticac welfare.cm; do
    nl_wait 20 thread_is "$a" 'completed declined accepted cancelled' ||
        nl_fail "$a does not see the cancellation: $(states "$a")"
done
rc=0
nl_node welfare.cm reply "$MSG" --status completed >/dev/null 2>"$NL_T/err" || rc=$?
[ "$rc" = 1 ] && grep -q cancelled "$NL_T/err" || nl_fail "completed after cancel: exit $rc"
OUT=$(nl_node ngo.hots reply "$MSG" --status consent_withdrawn) || nl_fail "withdraw: $OUT"
for a in cac.chiangmai police.ticac welfare.cm; do
    nl_wait 20 thread_is "$a" 'completed declined accepted consent_withdrawn' ||
        nl_fail "$a does not see the withdrawal: $(states "$a")"
done
rc=0
nl_node cac.chiangmai reply "$MSG" --status note --text "one more thing" >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || nl_fail "a note after consent was withdrawn: exit $rc"
# the answers' text arrived intact at the sender
ANS=$(nl_node ngo.hots thread show "$THREAD" | jq -r '.thread.events[] | select(.from == "police.ticac") | .msg_id')
[ "$(nl_node ngo.hots inbox show "$ANS" | jq -r .status.text)" = "ไม่อยู่ในเขตอำนาจ" ] ||
    nl_fail "the police's Thai text did not round-trip"
[ "$(nl_node ngo.hots inbox show "$ANS" | jq -r .status.reason_code)" = no_jurisdiction ] ||
    nl_fail "reason code lost"

nl_step "every step is in the audit trail"
sent_ids=$(nl_node ngo.hots thread show "$THREAD" | jq -r '.thread.events[].msg_id' | sort -u)
n_ids=$(wc -l <<<"$sent_ids")
[ "$n_ids" = 9 ] || nl_fail "thread has $n_ids messages, want 9"
nl_finish
for m in $sent_ids; do
    EV=$("$NL_BIN/refbus-audit" replay "$NL_T/broker" --msg "$m" --format jsonl) ||
        nl_fail "refbus-audit replay $m"
    jq -se 'any(.[]; .event == "ACCEPTED")' <<<"$EV" >/dev/null || nl_fail "no ACCEPTED for $m"
    jq -se 'any(.[]; .event == "DELIVERED")' <<<"$EV" >/dev/null || nl_fail "no DELIVERED for $m"
done
"$NL_BIN/refbus-audit" verify "$NL_T/broker" --directory "$NL_T/directory.bin" \
    --root-pk "$(nl_keys pubkey)" >/dev/null 2>&1 || nl_fail "refbus-audit verify"
echo "node_flow_test: PASS"
