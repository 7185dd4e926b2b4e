#!/usr/bin/env bash
# Intent: `refbus-audit replay` prints one timeline line per event and, with --format jsonl, one
# parseable JSON object per record with every field; the agency, message, event, time and index
# filters and --group select exactly the right events; `stats` agrees. Bad arguments exit 2, a
# missing trail exits 1.
. "$(dirname "$0")/../../lib/audit_lib.sh"

G=$T/trail
"$GEN" fill "$G" 600 25 100 1 || fail "generating the trail"
N=$("$AUDIT" stats "$G" --json | jq .records)
[ "$N" -gt 600 ] || fail "stats says $N records"

# Every record once, as text and as JSON lines; the JSON parses and has every field.
[ "$("$AUDIT" replay "$G" | wc -l)" -eq "$N" ] || fail "text replay line count"
"$AUDIT" replay "$G" --format jsonl >"$T/all.jsonl" || fail "jsonl replay"
[ "$(wc -l <"$T/all.jsonl")" -eq "$N" ] || fail "jsonl line count"
jq -e -s "length == $N" "$T/all.jsonl" >/dev/null || fail "jsonl does not parse"
fields='index leaf_hash version event event_code time_ms time msg_id sender recipients agency
envelope_hash reason reason_name reason_text receipt receipt_body directory_serial kind priority
sender_epoch checkpoint_size checkpoint_root signed_checkpoint'
for f in $fields; do
    jq -e -s "all(has(\"$f\"))" "$T/all.jsonl" >/dev/null || fail "a record lacks field $f"
done
jq -e -s '[.[].index] == [range(0; length)]' "$T/all.jsonl" >/dev/null || fail "index order"
jq -e -s 'all(.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$"))' "$T/all.jsonl" \
    >/dev/null || fail "ISO-8601 times"
jq -e -s '[.[] | select(.event == "DELIVERED")] | length > 0 and
    all(.receipt_body.type == "DELIVERED" and .receipt_body.signer == .agency)' "$T/all.jsonl" \
    >/dev/null || fail "DELIVERED records carry the recipient's decoded receipt"
jq -e -s '[.[] | select(.event == "CHECKPOINT")] | length >= 6 and
    all(.checkpoint_size == .index and (.signed_checkpoint | length) > 100)' "$T/all.jsonl" \
    >/dev/null || fail "CHECKPOINT records describe the checkpoint of their own index"

# One message's life: --msg with the full id and with a prefix; --group keeps it together.
msg=$(jq -r -s '[.[] | select(.event == "ACCEPTED")][7].msg_id' "$T/all.jsonl")
want=$(jq -s "[.[] | select(.msg_id == \"$msg\")] | length" "$T/all.jsonl")
[ "$want" -ge 5 ] || fail "message $msg has only $want events"
[ "$("$AUDIT" replay "$G" --msg "$msg" | wc -l)" -eq "$want" ] || fail "--msg"
[ "$("$AUDIT" replay "$G" --msg "${msg:0:10}" --json | jq -s length)" -eq "$want" ] ||
    fail "--msg prefix"
"$AUDIT" replay "$G" --msg "$msg" --group >"$T/group.txt"
head -1 "$T/group.txt" | grep -q "^== message $msg ($want events)" || fail "--group header"
[ "$(grep -c "^  .* msg=$msg" "$T/group.txt")" -eq "$want" ] || fail "--group lines"
"$AUDIT" replay "$G" --group --json | jq -e -s "length == $N" >/dev/null || fail "--group jsonl"

# Agency, event, time and index filters agree with jq over the full output.
a=welfare.cm
want=$(jq -s "[.[] | select(.sender == \"$a\" or .agency == \"$a\" or
    (.recipients | index(\"$a\")))] | length" "$T/all.jsonl")
[ "$("$AUDIT" replay "$G" --agency $a --json | wc -l)" -eq "$want" ] || fail "--agency"
want=$(jq -s '[.[] | select(.event == "REJECTED")] | length' "$T/all.jsonl")
[ "$("$AUDIT" replay "$G" --event rejected | wc -l)" -eq "$want" ] || fail "--event"
"$AUDIT" replay "$G" --event REJECTED --json | jq -e -s 'all(.reason_name == "EBADSIG")' \
    >/dev/null || fail "rejections carry their reason"
t1=$(jq -s '.[100].time_ms' "$T/all.jsonl"); t2=$(jq -s '.[200].time_ms' "$T/all.jsonl")
want=$(jq -s "[.[] | select(.time_ms >= $t1 and .time_ms < $t2)] | length" "$T/all.jsonl")
[ "$("$AUDIT" replay "$G" --since "$t1" --until "$t2" | wc -l)" -eq "$want" ] || fail "--since"
iso=$(jq -r -s '.[100].time' "$T/all.jsonl")
[ "$("$AUDIT" replay "$G" --since "$iso" --until "$t2" | wc -l)" -eq "$want" ] ||
    fail "--since with an ISO-8601 time"
[ "$("$AUDIT" replay "$G" --from 10 --to 20 | wc -l)" -eq 10 ] || fail "--from/--to"

# stats agrees with the records.
"$AUDIT" stats "$G" --json >"$T/stats.json" || fail "stats"
for e in ACCEPTED DELIVERED QUEUED CHECKPOINT; do
    want=$(jq -s "[.[] | select(.event == \"$e\")] | length" "$T/all.jsonl")
    [ "$(jq ".events.$e" "$T/stats.json")" -eq "$want" ] || fail "stats count of $e"
done
jq -e '.checkpoints.count >= 6 and .agencies["cac.chiangmai"].as_sender > 0' "$T/stats.json" \
    >/dev/null || fail "stats checkpoints / agencies"
"$AUDIT" stats "$G" | grep -q '^records  *[0-9]' || fail "stats text"

# Misuse exits 2; a missing trail exits 1; a filter that matches nothing prints nothing.
for args in "--format xml" "--msg zz" "--since yesterday" "--event NOPE" "--until 5 --since 9"; do
    # shellcheck disable=SC2086
    "$AUDIT" replay "$G" $args >/dev/null 2>&1
    [ $? -eq 2 ] || fail "replay $args did not exit 2"
done
"$AUDIT" replay "$T/none" >/dev/null 2>&1
[ $? -eq 1 ] || fail "replay of a missing trail did not exit 1"
[ -z "$("$AUDIT" replay "$G" --agency nobody.here)" ] || fail "unknown agency matched"
echo "$NAME: replay and stats ok"
