#!/usr/bin/env bash
# Intent: `refbus-audit verify` exits 0 on an intact trail and, after an outside tool changes
# one byte of one record, deletes one, swaps two, cuts the tail or forges a checkpoint, exits 1
# naming that index — also when the attacker recomputes the stored tree hashes.
. "$(dirname "$0")/../../lib/audit_lib.sh"

G=$T/golden
"$GEN" fill "$G" 2000 40 250 1 || fail "generating the trail"
"$AUDIT" verify "$G" --broker-pk "$PK" || fail "intact trail did not verify"
"$AUDIT" verify "$G" --broker-pk "$PK" --json | jq -e '.ok and .records > 2000' >/dev/null ||
    fail "verify --json of the intact trail"
mapfile -t CPS < <("$GEN" checkpoints "$G")
[ "${#CPS[@]}" -ge 8 ] || fail "expected at least 8 checkpoints, got ${#CPS[@]}"

# 1. One byte of one record changed with lmdb-utils alone: dump, edit the hex, load back.
C=$(copy_trail "$G")
key=$(printf '%016x' 1234)
mdb_dump -s audit.records "$C" >"$T/rec.dump" || fail "mdb_dump"
awk -v k=" $key" 'found { v = $0; c = substr(v, 20, 1); n = (c == "0") ? "1" : "0";
        print substr(v, 1, 19) n substr(v, 21); found = 0; next }
    { print } $0 == k { found = 1 }' "$T/rec.dump" >"$T/rec.edited"
cmp -s "$T/rec.dump" "$T/rec.edited" && fail "the dump edit changed nothing"
load() { mdb_load "$@" 2>"$T/load.err" || { cat "$T/load.err" >&2; fail "mdb_load $*"; }; }
load -s audit.records -f "$T/rec.edited" "$C"
expect_bad "$C" altered 1234

# 2. One record deleted with lmdb-utils alone: reload the records without it (mdb_load -n
#    would not delete, so the database is emptied first by loading into a fresh copy).
C=$(copy_trail "$G")
awk -v k=" $(printf '%016x' 777)" '$0 == k { skip = 2 } skip > 0 { skip--; next } { print }' \
    "$T/rec.dump" >"$T/rec.deleted"
for db in audit.meta audit.tree audit.checkpoints; do
    mdb_dump -s "$db" "$G" >"$T/$db.dump" || fail "mdb_dump $db"
done
rm -f "$C"/*.mdb
for db in audit.meta audit.tree audit.checkpoints; do
    load -s "$db" -f "$T/$db.dump" "$C"
done
load -s audit.records -f "$T/rec.deleted" "$C"
expect_bad "$C" missing 777

# 3. The same with the later records renumbered, and again with the tree recomputed.
C=$(copy_trail "$G"); "$GEN" tamper "$C" delete 777 renumber || fail tamper
expect_bad "$C" missing 777
"$GEN" tamper "$C" rehash || fail tamper
expect_bad "$C" missing 777

# 4. Two records swapped (also with the tree recomputed to match).
C=$(copy_trail "$G"); "$GEN" tamper "$C" swap 400 1500 || fail tamper
expect_bad "$C" reordered 400
"$GEN" tamper "$C" rehash || fail tamper
expect_bad "$C" reordered 400

# 5. A changed record whose stored hashes were recomputed: only the checkpoint after it can
#    tell, so the first record it alone covers is named.
C=$(copy_trail "$G"); "$GEN" tamper "$C" flip 1234 30 && "$GEN" tamper "$C" rehash || fail tamper
floor=0
for s in "${CPS[@]}"; do [ "$s" -le 1234 ] && floor=$s; done
expect_bad "$C" altered "$floor"

# 6. The tail cut off (records only, then records and tree).
C=$(copy_trail "$G"); "$GEN" tamper "$C" truncate 1900 || fail tamper
expect_bad "$C" truncated 1900
C=$(copy_trail "$G"); "$GEN" tamper "$C" truncate 1900 tree || fail tamper
expect_bad "$C" truncated 1900

# 7. A careful cut of records, tree and checkpoints is caught by a checkpoint kept elsewhere
#    (saved with `refbus-audit checkpoint`, as bytes or as hex).
"$AUDIT" checkpoint "$G" -o "$T/kept.cp" || fail "saving the latest checkpoint"
"$AUDIT" checkpoint "$G" --json | jq -r .signed_checkpoint | fold -w 64 >"$T/kept.hex" ||
    fail "checkpoint --json"
[ "$(od -An -v -tx1 "$T/kept.cp" | tr -d ' \n')" = "$(tr -d '\n' <"$T/kept.hex")" ] ||
    fail "the hex and the bytes differ"
cut=$((${CPS[-3]} + 1))
C=$(copy_trail "$G"); "$GEN" tamper "$C" truncate "$cut" tree cps || fail tamper
"$AUDIT" verify "$C" --broker-pk "$PK" -q || fail "a consistent shorter log should verify alone"
for kept in "$T/kept.cp" "$T/kept.hex"; do
    out=$("$AUDIT" verify "$C" --broker-pk "$PK" --checkpoint "$kept" --json)
    [ $? -eq 1 ] && jq -e ".problem == \"truncated\" and .index == $cut" <<<"$out" >/dev/null ||
        fail "the kept checkpoint $kept did not expose the cut: $out"
done
"$AUDIT" verify "$G" --broker-pk "$PK" --checkpoint "$T/kept.hex" -q ||
    fail "the intact trail with its own checkpoint given"

# 8. Checkpoints forged: a byte of the root changed, or re-signed by another key.
C=$(copy_trail "$G"); "$GEN" tamper "$C" forge "${CPS[3]}" || fail tamper
expect_bad "$C" bad-checkpoint "${CPS[3]}"
C=$(copy_trail "$G"); "$GEN" tamper "$C" forge "${CPS[3]}" resign || fail tamper
expect_bad "$C" bad-checkpoint "${CPS[3]}"
# ... and the genuine trail checked against a key that is not the broker's.
out=$("$AUDIT" verify "$G" --broker-pk "$(printf '11%.0s' {1..32})" --json)
[ $? -eq 1 ] && jq -e ".problem == \"bad-checkpoint\" and .index == ${CPS[0]}" <<<"$out" \
    >/dev/null || fail "a wrong pinned key passed: $out"

# 9. The text output names the index too, and a missing trail is an error, not a pass.
out=$("$AUDIT" verify "$C" --broker-pk "$PK" 2>/dev/null)
[ $? -eq 1 ] && grep -q "^FAILED at index ${CPS[3]}: bad-checkpoint" <<<"$out" ||
    fail "text output: $out"
"$AUDIT" verify "$T/nowhere" 2>/dev/null
[ $? -eq 1 ] || fail "verify of a missing directory did not exit 1"
echo "$NAME: all tampering found"
