#!/usr/bin/env bash
# Intent: the kill -9 torture suite (issue 10). A real broker and four real refbus-node daemons;
# round after round a window of concurrent `refbus-node send` commands (random sender, random
# recipients, our own msg ids) while the broker and/or nodes are killed with SIGKILL at random
# moments and restarted (sometimes only in a later round, so sends queue behind a dead broker or
# wait for a dead recipient). A send whose answer was lost (its node died) is retried at the end
# with the same --msg-id, as an integrator would (either stored now, or EEXIST: stored before).
# Then every node and the broker drain, and the invariants are checked:
#   - every referral is in each recipient's inbox exactly once, in no other inbox, and every
#     inbox item is one we sent (no strays, no doubles);
#   - the broker's queues and every node's outbox are empty, and each sender's view of each
#     message shows every recipient as delivered;
#   - `refbus-audit verify` passes on the broker's data directory (broker key pinned by the
#     signed directory and the root key);
#   - the trail holds exactly one ACCEPTED record per message and one DELIVERED record per
#     message and recipient.
# The broken case: losing or doubling one message, leaving one queued, or one extra/missing
# audit record makes a check below fail with the message's case_ref and msg id.
#
# Bounded: REFBUS_TORTURE_ROUNDS (or the first argument) rounds; ctest sets
# REFBUS_TORTURE_DEFAULT_ROUNDS (fewer under ASan). The seed is printed; REFBUS_TORTURE_SEED=N
# replays the same decisions (which process dies, when, what is sent; process timing differs).
# Long run: REFBUS_BIN_DIR=build/bin bash tests/scenario/system/torture_test.sh 120
source "$(dirname "$0")/../../lib/node_lib.sh"
ROUNDS=${1:-${REFBUS_TORTURE_ROUNDS:-${REFBUS_TORTURE_DEFAULT_ROUNDS:-25}}}
SEED=${REFBUS_TORTURE_SEED:-$(($(date +%s%N) % 2147483647))}
[[ $ROUNDS =~ ^[0-9]+$ && $SEED =~ ^[0-9]+$ ]] || { echo "usage: $0 [ROUNDS]" >&2; exit 2; }
RANDOM=$SEED
echo "torture: seed $SEED, $ROUNDS rounds" \
    "(replay: REFBUS_TORTURE_SEED=$SEED REFBUS_TORTURE_ROUNDS=$ROUNDS)"
nl_init torture
nl_network
nl_broker_start
for a in "${NL_AGENCIES[@]}"; do nl_node_start "$a"; done
for a in "${NL_AGENCIES[@]}"; do nl_node_ready "$a"; done

S=$NL_T/sends
mkdir -p "$S"
N=0
KILLS_BROKER=0
KILLS_NODE=0
fail() { echo "torture: seed $SEED, $ROUNDS rounds" >&2; nl_fail "$@"; }

broker_kill() {
    [ -n "$NL_BROKER_PID" ] || return 0
    kill -KILL "$NL_BROKER_PID" 2>/dev/null
    wait "$NL_BROKER_PID" 2>/dev/null
    NL_BROKER_PID=
    KILLS_BROKER=$((KILLS_BROKER + 1))
}
node_up() { [ -n "${NL_PID[$1]:-}" ]; }

# send_one CASE SENDER TO MSGID: one `send`; its answer and exit status land in $S/CASE.*.
send_one() {
    nl_referral "$1" | nl_node "$2" --timeout 4000 send - --to "$3" --msg-id "$4" \
        >"$S/$1.out" 2>"$S/$1.err"
    echo $? >"$S/$1.rc"
}

# kill_some: SIGKILL the broker, a node, both, or nobody (seeded choice).
kill_some() {
    local victim
    case $((RANDOM % 6)) in
    0 | 1) broker_kill ;;
    2 | 3) victim=${NL_AGENCIES[$((RANDOM % 4))]} ;;
    4)
        broker_kill
        sleep "0.0$((RANDOM % 10))"
        victim=${NL_AGENCIES[$((RANDOM % 4))]}
        ;;
    *) ;;
    esac
    if [ -n "${victim:-}" ] && node_up "$victim"; then
        nl_node_kill "$victim"
        KILLS_NODE=$((KILLS_NODE + 1))
    fi
}

# A window: W concurrent sends from live nodes; the kills fall at a random point inside it, so
# later sends of the window meet a dead broker (they queue) or skip a dead node.
window() {
    local w=$((4 + RANDOM % 13)) k pids=() i sender to others c mid
    k=$((RANDOM % w))
    for ((i = 0; i < w; i++)); do
        [ "$i" = "$k" ] && kill_some
        sender=${NL_AGENCIES[$((RANDOM % 4))]}
        node_up "$sender" || continue
        others=()
        for a in "${NL_AGENCIES[@]}"; do
            [ "$a" != "$sender" ] && [ $((RANDOM % 3)) != 0 ] && others+=("$a")
        done
        while [ ${#others[@]} = 0 ]; do
            a=${NL_AGENCIES[$((RANDOM % 4))]}
            [ "$a" != "$sender" ] && others=("$a")
        done
        to=$(IFS=,; echo "${others[*]}")
        N=$((N + 1))
        c=$(printf 'T%05d' "$N")
        mid=$(printf '%08x%08x%016x' "$SEED" "$ROUNDS" "$N")
        printf '%s %s %s\n' "$sender" "$to" "$mid" >"$S/$c.meta"
        send_one "$c" "$sender" "$to" "$mid" &
        pids+=($!)
        [ $((RANDOM % 3)) = 0 ] && sleep "0.0$((RANDOM % 10))"
    done
    sleep "0.$((RANDOM % 4))"
    for p in "${pids[@]}"; do wait "$p"; done
    # Restart most of the dead now; leave some down into the next window.
    if [ -z "$NL_BROKER_PID" ] && [ $((RANDOM % 3)) != 0 ]; then nl_broker_start; fi
    for a in "${NL_AGENCIES[@]}"; do
        if ! node_up "$a" && [ $((RANDOM % 3)) != 0 ]; then nl_node_start "$a"; fi
    done
}

for ((r = 1; r <= ROUNDS; r++)); do
    window
    echo "--- round $r: $N sends so far, $KILLS_BROKER broker kills, $KILLS_NODE node kills"
done

nl_step "everyone back up; resend what had no answer, with the same msg id"
[ -n "$NL_BROKER_PID" ] || nl_broker_start
for a in "${NL_AGENCIES[@]}"; do node_up "$a" || nl_node_start "$a"; done
for a in "${NL_AGENCIES[@]}"; do nl_node_ready "$a" 30; done
RESENT=0
for m in "$S"/*.meta; do
    c=$(basename "$m" .meta)
    [ "$(cat "$S/$c.rc")" = 0 ] && continue
    read -r sender to mid <"$m"
    out=$(nl_referral "$c" | nl_node "$sender" send - --to "$to" --msg-id "$mid" 2>"$S/$c.err2")
    # Queued now, or EEXIST: the first attempt had queued it (its answer was lost).
    if ! jq -e '.ok or .error == "EEXIST"' <<<"$out" >/dev/null 2>&1; then
        fail "$c: the resend with the same msg id was refused: $out $(cat "$S/$c.err2")"
    fi
    RESENT=$((RESENT + 1))
done
# Every answered send named the msg id it was given.
for m in "$S"/*.meta; do
    c=$(basename "$m" .meta)
    [ "$(cat "$S/$c.rc")" = 0 ] || continue
    read -r _ _ mid <"$m"
    echo "$c $mid"
done | sort >"$NL_T/want.ids"
sed 's/ .*//' "$NL_T/want.ids" | sed "s|^|$S/|; s|\$|.out|" | xargs -r jq -r \
    '"\(input_filename | sub(".*/"; "") | sub("\\.out$"; "")) \(.msg_id)"' |
    sort >"$NL_T/got.ids"
cmp -s "$NL_T/want.ids" "$NL_T/got.ids" ||
    fail "a send answered another msg id than the one given: $(diff "$NL_T/want.ids" \
        "$NL_T/got.ids" | head -5)"
echo "torture: $N sends ($RESENT resent), $KILLS_BROKER broker kills, $KILLS_NODE node kills"

nl_step "drain: every outbox and every broker queue empties"
outbox_empty() { nl_json_eq "$1" '.items | length' 0 outbox; }
queues_empty() {
    "$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf" |
        jq -e '[.queues[]] | all(. == 0)' >/dev/null
}
for a in "${NL_AGENCIES[@]}"; do
    nl_wait 120 outbox_empty "$a" || fail "the outbox of $a did not empty: $(nl_node "$a" outbox)"
done
nl_wait 60 queues_empty || fail "broker queues not empty: $("$NL_BIN/refbus-broker" status \
    -c "$NL_T/broker.conf")"

nl_step "every referral in each recipient's inbox exactly once, nothing else anywhere"
# inbox_dump ID: every inbox item as "msg_id case_ref sender" lines (paged).
inbox_dump() {
    local after=0 page
    while :; do
        page=$(nl_node "$1" inbox list --after "$after" --limit 500) || return 1
        jq -r '.items[] | "\(.msg_id) \(.case_ref) \(.sender)"' <<<"$page"
        [ "$(jq -r .more <<<"$page")" = true ] || return 0
        after=$(jq -r .last_seq <<<"$page")
    done
}
: >"$NL_T/expected"
for m in "$S"/*.meta; do
    c=$(basename "$m" .meta)
    read -r sender to mid <"$m"
    for a in ${to//,/ }; do echo "$a $mid $c $sender" >>"$NL_T/expected"; done
done
: >"$NL_T/got"
for a in "${NL_AGENCIES[@]}"; do
    inbox_dump "$a" >"$NL_T/inbox.$a" || fail "inbox list of $a"
    sed "s/^/$a /" "$NL_T/inbox.$a" >>"$NL_T/got"
done
sort -o "$NL_T/expected" "$NL_T/expected"
sort -o "$NL_T/got" "$NL_T/got"
if ! cmp -s "$NL_T/expected" "$NL_T/got"; then
    echo "missing (-) and stray or doubled (+) inbox items (recipient msg_id case sender):" >&2
    diff "$NL_T/expected" "$NL_T/got" | grep '^[<>]' | sed 's/^</-/; s/^>/+/' | head -40 >&2
    fail "the inboxes do not hold exactly the referrals sent"
fi
echo "torture: $(wc -l <"$NL_T/got") inbox items, each exactly once"
# What the run went through (redeliveries recognised as duplicates, reconnects).
for a in "${NL_AGENCIES[@]}"; do
    nl_node "$a" status | jq -r --arg a "$a" '.counters | "torture: \($a): delivered_in
        \(.delivered_in), duplicates_in \(.duplicates_in), submitted \(.submitted), accepted
        \(.accepted), reconnects \(.reconnects)" | gsub("\\s+"; " ")'
done

nl_step "every sender sees every delivery"
# Messages ("sender msg_id to,...") whose sender does not yet show every recipient delivered.
: >"$NL_T/unconfirmed"
for m in "$S"/*.meta; do
    read -r sender to mid <"$m"
    echo "$sender $mid $to" >>"$NL_T/unconfirmed"
done
confirm_some() {
    local sender mid to left=$NL_T/unconfirmed.next
    : >"$left"
    while read -r sender mid to; do
        nl_node "$sender" outbox "$mid" | jq -e --arg to "$to" '($to | split(",")) as $want |
            [.deliveries[] | select(.state == "delivered") | .agency] | sort == ($want | sort)' \
            >/dev/null 2>&1 || echo "$sender $mid $to" >>"$left"
    done <"$NL_T/unconfirmed"
    mv "$left" "$NL_T/unconfirmed"
    [ ! -s "$NL_T/unconfirmed" ]
}
until=$((SECONDS + 90))
until confirm_some; do
    [ "$SECONDS" -ge "$until" ] &&
        fail "messages whose sender never saw every recipient delivered (sender msg_id to):
$(head -20 "$NL_T/unconfirmed")"
    sleep 1
done

nl_step "the trail: verify, one ACCEPTED per message, one DELIVERED per message and recipient"
nl_finish
"$NL_BIN/refbus-audit" verify "$NL_T/broker" --directory "$NL_T/directory.bin" \
    --root-pk "$(cat "$NL_T/admin/root.pub")" >"$NL_T/verify.out" 2>&1 ||
    fail "refbus-audit verify: $(cat "$NL_T/verify.out")"
"$NL_BIN/refbus-audit" replay "$NL_T/broker" --format jsonl >"$NL_T/trail.jsonl" ||
    fail "refbus-audit replay"
echo "torture: trail events: $(jq -r .event "$NL_T/trail.jsonl" | sort | uniq -c |
    awk '{printf "%s %s, ", $2, $1}')"
awk '{print $2}' "$NL_T/expected" | sort -u >"$NL_T/want.accepted"
jq -r 'select(.event == "ACCEPTED") | .msg_id' "$NL_T/trail.jsonl" | sort >"$NL_T/got.accepted"
if ! cmp -s "$NL_T/want.accepted" "$NL_T/got.accepted"; then
    diff "$NL_T/want.accepted" "$NL_T/got.accepted" | grep '^[<>]' | head -20 >&2
    fail "not exactly one ACCEPTED record per message (- missing, + extra)"
fi
awk '{print $2, $1}' "$NL_T/expected" | sort >"$NL_T/want.delivered"
jq -r 'select(.event == "DELIVERED") | "\(.msg_id) \(.agency)"' "$NL_T/trail.jsonl" |
    sort >"$NL_T/got.delivered"
if ! cmp -s "$NL_T/want.delivered" "$NL_T/got.delivered"; then
    diff "$NL_T/want.delivered" "$NL_T/got.delivered" | grep '^[<>]' | head -20 >&2
    fail "not exactly one DELIVERED record per message and recipient (- missing, + extra)"
fi
grep -l -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$NL_T"/broker/log >/dev/null &&
    fail "sanitizer report in the broker's log"
echo "torture_test: PASS (seed $SEED, $ROUNDS rounds, $N referrals)"
