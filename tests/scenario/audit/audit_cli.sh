#!/usr/bin/env bash
# Intent: refbus-audit behaves as STYLE says for every command: --help on stdout with exit 0,
# --version, misuse as one line with a hint on stderr and exit 2, runtime failures exit 1; an empty trail and one with
# no checkpoint yet verify (with the right notes); no progress bar when stderr is not a terminal.
. "$(dirname "$0")/../../lib/audit_lib.sh"

"$AUDIT" --help | grep -q '^usage: refbus-audit' || fail "--help"
"$AUDIT" --version | grep -q '^refbus-audit [0-9]' || fail "--version"
for cmd in verify replay prove check-proof stats checkpoint; do
    out=$("$AUDIT" "$cmd" --help 2>/dev/null) || fail "$cmd --help exited $?"
    grep -q "^usage: refbus-audit $cmd" <<<"$out" || fail "$cmd --help text"
    "$AUDIT" "$cmd" >/dev/null 2>"$T/err"
    [ $? -eq 2 ] || fail "$cmd without arguments did not exit 2"
    # a usage error is one line naming the problem and the help to read, not the whole help
    [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "Try 'refbus-audit $cmd --help'" "$T/err" ||
        fail "$cmd misuse is not one line with a hint: $(cat "$T/err")"
    "$AUDIT" "$cmd" --no-such-option x >/dev/null 2>&1
    [ $? -eq 2 ] || fail "$cmd with an unknown option did not exit 2"
done
"$AUDIT" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no command did not exit 2"
"$AUDIT" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown command did not exit 2"
"$AUDIT" verify "$T/nothing" 2>"$T/err"; [ $? -eq 1 ] || fail "missing trail did not exit 1"
grep -q "no audit trail there" "$T/err" || fail "missing trail message"
echo garbage >"$T/not-lmdb"
"$AUDIT" stats "$T/not-lmdb" >/dev/null 2>&1; [ $? -eq 1 ] || fail "a non-LMDB file did not exit 1"

# An empty log (created, nothing appended) and a log with records but no checkpoint yet.
"$GEN" fill "$T/empty" 0 1 0 0 || fail "empty log"
out=$("$AUDIT" verify "$T/empty" --broker-pk "$PK") || fail "empty log did not verify"
grep -q '^intact: 0 records' <<<"$out" || fail "empty log: $out"
[ -z "$("$AUDIT" replay "$T/empty")" ] || fail "empty log replayed something"
"$AUDIT" stats "$T/empty" --json | jq -e '.records == 0 and .checkpoints.count == 0' >/dev/null ||
    fail "empty log stats"
"$GEN" fill "$T/nocp" 30 10 0 0 || fail "log without checkpoints"
out=$("$AUDIT" verify "$T/nocp" --broker-pk "$PK") || fail "log without checkpoints"
grep -q '30 records after the latest checkpoint are not covered' <<<"$out" || fail "note: $out"
"$GEN" tamper "$T/nocp" flip 12 || fail tamper
out=$("$AUDIT" verify "$T/nocp" --broker-pk "$PK" --json)
[ $? -eq 1 ] && jq -e '.problem == "altered" and .index == 12' <<<"$out" >/dev/null ||
    fail "uncovered change: $out"

# Unpinned: a warning naming the signer; stderr not a terminal: no progress bar.
"$GEN" fill "$T/t" 100 10 20 1 || fail fill
"$AUDIT" verify "$T/t" >/dev/null 2>"$T/err" || fail "unpinned verify"
grep -q 'warning: no --broker-pk' "$T/err" || fail "no unpinned warning"
grep -q "signed by $PK" "$T/err" || fail "the signer is not shown"
grep -q 'verifying \[' "$T/err" && fail "a progress bar went to a non-terminal"
"$AUDIT" verify "$T/t" --broker-pk "@/dev/null" >/dev/null 2>&1
[ $? -eq 2 ] || fail "an empty --broker-pk file did not exit 2"
echo "$PK" >"$T/broker.pub"
"$AUDIT" verify "$T/t" --broker-pk "@$T/broker.pub" -q >"$T/out" 2>&1 || fail "@FILE key"
[ ! -s "$T/out" ] || fail "--quiet printed: $(cat "$T/out")"
# checkpoint: the newest, one by size, none in an empty log.
"$AUDIT" checkpoint "$T/t" --json | jq -e '.size > 100 and (.signed_checkpoint | length) > 200' \
    >/dev/null || fail "checkpoint --json"
"$AUDIT" checkpoint "$T/t" --at 20 --json | jq -e '.size == 20' >/dev/null || fail "--at 20"
"$AUDIT" checkpoint "$T/t" --at 21 >/dev/null 2>&1; [ $? -eq 1 ] || fail "--at a size with none"
"$AUDIT" checkpoint "$T/empty" >/dev/null 2>&1; [ $? -eq 1 ] || fail "checkpoint of an empty log"
echo "$NAME: ok"
