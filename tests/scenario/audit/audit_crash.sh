#!/usr/bin/env bash
# Intent: kill -9 of a process in the middle of writing a batch of audit records, again and
# again, leaves a trail that `refbus-audit verify` passes, holding whole batches only; and the
# broken case: the same trail with a record changed afterwards fails.
. "$(dirname "$0")/../../lib/audit_lib.sh"

D=$T/trail
BATCH=500
last=0
for round in 1 2 3 4 5; do
    coproc W { exec "$GEN" writer "$D" "$BATCH" 1000; }
    wpid=$W_PID
    committed=$last mids=0
    # let it commit a few batches, then kill it as soon as it is half-way through the next one
    while read -r word n <&"${W[0]}"; do
        [ "$word" = committed ] && committed=$n
        [ "$word" = mid ] && mids=$((mids + 1))
        if [ "$word" = mid ] && [ "$mids" -ge $((round + 1)) ]; then
            kill -KILL "$wpid"
            break
        fi
    done
    wait "$wpid" 2>/dev/null
    size=$("$AUDIT" stats "$D" --json | jq .records) || fail "stats after round $round"
    # whole batches only: what it reported, or one more batch (and a checkpoint record) that it
    # committed before the signal landed
    [ "$size" -eq "$committed" ] || [ "$size" -eq $((committed + BATCH)) ] ||
        [ "$size" -eq $((committed + BATCH + 1)) ] ||
        fail "round $round: $size records, last reported commit $committed"
    [ "$size" -gt "$last" ] || fail "round $round: the trail did not grow ($size)"
    "$AUDIT" verify "$D" --broker-pk "$PK" -q || fail "round $round: verify failed after kill -9"
    echo "$NAME: round $round: killed mid-batch at $size records, intact"
    last=$size
done
"$GEN" tamper "$D" flip 100 || fail tamper
"$AUDIT" verify "$D" --broker-pk "$PK" -q >/dev/null 2>&1
[ $? -eq 1 ] || fail "a changed record after the crashes went unnoticed"
echo "$NAME: ok"
