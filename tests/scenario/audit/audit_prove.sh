#!/usr/bin/env bash
# Intent: `refbus-audit prove` writes a self-contained inclusion (or consistency) proof that
# `check-proof` accepts without the log; a proof with one changed byte, a proof checked against
# another key, a record not yet covered by a checkpoint and garbage are all refused.
. "$(dirname "$0")/../../lib/audit_lib.sh"

G=$T/trail
"$GEN" fill "$G" 500 20 100 1 || fail "generating the trail"
mapfile -t CPS < <("$GEN" checkpoints "$G")
LAST=${CPS[-1]}
OTHER=$(printf '22%.0s' {1..32})

"$AUDIT" prove "$G" 321 -o "$T/321.proof" || fail "prove 321"
"$AUDIT" check-proof "$T/321.proof" --broker-pk "$PK" >"$T/out.txt" || fail "check-proof"
grep -q "^proof holds: record 321 " "$T/out.txt" || fail "check-proof text: $(cat "$T/out.txt")"
grep -q "#321 " "$T/out.txt" || fail "check-proof shows the record"
"$AUDIT" check-proof "$T/321.proof" --broker-pk "$PK" --json |
    jq -e ".ok and .index == 321 and .checkpoint.size == $LAST and .record.index == 321" \
        >/dev/null || fail "check-proof --json"
# the same proof through a pipe, and against an older checkpoint with --at
"$AUDIT" prove "$G" 321 | "$AUDIT" check-proof - --broker-pk "$PK" >/dev/null ||
    fail "prove | check-proof -"
"$AUDIT" prove "$G" 0 --at "${CPS[0]}" -o "$T/0.proof" &&
    "$AUDIT" check-proof "$T/0.proof" --broker-pk "$PK" --json |
    jq -e ".ok and .checkpoint.size == ${CPS[0]}" >/dev/null || fail "prove --at"

# Refused: another key, any changed byte, garbage, a record beyond the checkpoint.
"$AUDIT" check-proof "$T/321.proof" --broker-pk "$OTHER" >/dev/null
[ $? -eq 1 ] || fail "a proof passed against another key"
size=$(stat -c %s "$T/321.proof")
for off in 30 60 100 $((size / 2)) $((size - 40)) $((size - 1)); do
    cp "$T/321.proof" "$T/bad.proof"
    printf "$(printf '\\x%02x' $(( ($(od -An -tu1 -j "$off" -N1 "$T/bad.proof") ^ 4) )))" |
        dd of="$T/bad.proof" bs=1 seek="$off" conv=notrunc status=none
    cmp -s "$T/321.proof" "$T/bad.proof" && fail "byte $off did not change"
    "$AUDIT" check-proof "$T/bad.proof" --broker-pk "$PK" >/dev/null 2>&1
    [ $? -eq 1 ] || fail "a proof with byte $off changed passed"
done
head -c 100 /dev/urandom >"$T/garbage"
"$AUDIT" check-proof "$T/garbage" --broker-pk "$PK" >/dev/null 2>&1
[ $? -eq 1 ] || fail "garbage passed"
"$AUDIT" prove "$G" "$LAST" -o "$T/x.proof" 2>/dev/null
[ $? -eq 1 ] || fail "proved a record no checkpoint covers"
[ ! -e "$T/x.proof" ] || fail "a failed prove left a file"

# A consistency proof between two stored checkpoints.
"$AUDIT" prove "$G" --consistency "${CPS[1]}" -o "$T/c.proof" || fail "prove --consistency"
"$AUDIT" check-proof "$T/c.proof" --broker-pk "$PK" --json |
    jq -e ".ok and .kind == \"consistency\" and .first_checkpoint.size == ${CPS[1]} and
        .checkpoint.size == $LAST" >/dev/null || fail "consistency proof"
"$AUDIT" prove "$G" --consistency 7 -o "$T/c7.proof" 2>/dev/null
[ $? -eq 1 ] || fail "a consistency proof from a size with no checkpoint"

# Misuse exits 2.
for args in "" "$G" "$G x" "$G 1 --at 0" "$G 1 2"; do
    # shellcheck disable=SC2086
    "$AUDIT" prove $args -o "$T/u.proof" >/dev/null 2>&1
    [ $? -eq 2 ] || fail "prove $args did not exit 2"
done
"$AUDIT" check-proof "$T/321.proof" --broker-pk 1234 >/dev/null 2>&1
[ $? -eq 2 ] || fail "a short --broker-pk did not exit 2"
echo "$NAME: proofs ok"
