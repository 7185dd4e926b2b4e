#!/usr/bin/env bash
# Intent: refbus-audit never crashes on a hostile copy of a trail (issue 10, defect 7). Every
# truncation at a page boundary (and one byte short) and 200 single-byte flips make
# verify (and stats, replay) exit 1 with a message naming the file — or 0 when the flip hit
# bytes LMDB never reads — but never die of a signal; a crash inside LMDB is reported as damage
# at or after the record it reached. The seed is printed; REFBUS_SEED=N repeats a run.
. "$(dirname "$0")/../../lib/audit_lib.sh"

G=$T/golden
"$GEN" fill "$G" 1000 50 250 1 >/dev/null || fail "generating the trail"
"$AUDIT" verify "$G" --broker-pk "$PK" --quiet || fail "the intact trail does not verify"
SIZE=$(stat -c %s "$G/data.mdb")
PAGES=$((SIZE / 4096))
W=$T/work
mkdir -p "$W"

# run CMD...: exit status in $RC, stderr in $ERR; a signal (status > 128) or a usage error fails.
run() {
    RC=0
    ERR=$("$@" 2>&1 >/dev/null) || RC=$?
    [ "$RC" -le 1 ] || fail "$* exited $RC (a signal or usage error): $ERR"
    ! grep -q -E 'Sanitizer|runtime error:' <<<"$ERR" || fail "$*: sanitizer report: $ERR"
}

echo "$NAME: $PAGES truncations at page boundaries of a $SIZE-byte trail"
for cut in $(seq 0 4096 $((SIZE - 4096))) $((SIZE - 1)); do
    head -c "$cut" "$G/data.mdb" >"$W/data.mdb"
    run "$AUDIT" verify "$W" --broker-pk "$PK"
    [ "$RC" = 1 ] || fail "verify of a trail cut at $cut of $SIZE bytes exited $RC"
    grep -q "$W/data.mdb.*damaged" <<<"$ERR" || fail "cut at $cut: no message naming the file: $ERR"
done
# the other readers, on a few of them
for cut in 0 8192 $((SIZE / 2)) $((SIZE - 4096)); do
    head -c "$cut" "$G/data.mdb" >"$W/data.mdb"
    run "$AUDIT" stats "$W"
    [ "$RC" = 1 ] || fail "stats of a trail cut at $cut exited $RC"
    run "$AUDIT" replay "$W"
    [ "$RC" = 1 ] || fail "replay of a trail cut at $cut exited $RC"
    run "$AUDIT" verify "$W/data.mdb" --broker-pk "$PK" --json # the file itself (NOSUBDIR)
    [ "$RC" = 1 ] || fail "verify of the file cut at $cut exited $RC"
done

SEED=${REFBUS_SEED:-$(od -An -tu2 -N2 /dev/urandom | tr -d ' ')}
echo "$NAME: 200 single-byte flips, seed $SEED"
RANDOM=$SEED
cp "$G/data.mdb" "$W/data.mdb"
crashes=0 bad=0
for _ in $(seq 200); do
    off=$(((RANDOM * 32768 + RANDOM) % SIZE))
    orig=$(od -An -tu1 -j "$off" -N1 "$G/data.mdb" | tr -d ' ')
    flip() { printf "\\x$(printf %02x "$1")" | dd of="$W/data.mdb" bs=1 seek="$off" conv=notrunc 2>/dev/null; }
    flip $((orig ^ (1 + RANDOM % 255)))
    RC=0
    OUT=$("$AUDIT" verify "$W" --broker-pk "$PK" --json 2>"$T/err") || RC=$?
    ERR=$(cat "$T/err")
    [ "$RC" -le 1 ] || fail "verify after a flip at $off exited $RC: $ERR"
    ! grep -q -E 'Sanitizer|runtime error:' <<<"$ERR" || fail "flip at $off: sanitizer: $ERR"
    if [ "$RC" = 1 ]; then
        bad=$((bad + 1))
        # a program reading --json always gets an answer naming the problem
        jq -e '.ok == false and (.problem | length > 0)' <<<"$OUT" >/dev/null 2>&1 ||
            [ -n "$ERR" ] || fail "flip at $off: exit 1 without a word (stdout: $OUT)"
    else
        jq -e '.ok == true' <<<"$OUT" >/dev/null || fail "flip at $off: exit 0 but $OUT"
    fi
    grep -q "crashed LMDB" <<<"$ERR" && crashes=$((crashes + 1))
    flip "$orig"
done
cmp -s "$G/data.mdb" "$W/data.mdb" || fail "the flips were not undone"
echo "$NAME: $bad of 200 flips found damaged ($crashes crashed LMDB inside the guard), none crashed refbus-audit"
[ "$bad" -gt 100 ] || fail "only $bad of 200 flips were noticed"
echo "$NAME: PASS"
