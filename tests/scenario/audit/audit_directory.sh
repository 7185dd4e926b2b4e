#!/usr/bin/env bash
# Intent: an auditor pins the broker key from the signed agency directory (refbus-keys) instead
# of typing it: `verify` and `check-proof` with --directory/--root-pk accept a trail signed by
# the directory's broker key, and refuse a trail signed by any other key, a directory checked
# against the wrong root key, and a tampered directory.
. "$(dirname "$0")/../../lib/audit_lib.sh"
K=$BIN/refbus-keys
[ -x "$K" ] || fail "no $K"
export REFBUS_KDF_LIMIT=min # Argon2id at its minimum: tests only
unset REFBUS_ADMIN_DIR REFBUS_PASSPHRASE_FILE REFBUS_BUNDLE_PASSPHRASE_FILE
A=$T/admin
printf 'root passphrase\n' >"$T/root.pass"
printf 'bundle passphrase\n' >"$T/bundle.pass"
KP=(--passphrase-file "$T/root.pass" --bundle-passphrase-file "$T/bundle.pass")
"$K" -d "$A" "${KP[@]}" init >"$T/root.pk" 2>"$T/err" || { cat "$T/err"; fail "keys init"; }
ROOT=$(tr -d '[:space:]' <"$T/root.pk")
[ ${#ROOT} -eq 64 ] || ROOT=$("$K" -d "$A" pubkey | tr -d '[:space:]')
"$K" -d "$A" "${KP[@]}" broker add broker.cm --out "$T/broker.bundle" \
    --endpoint tcp://127.0.0.1:7000 >/dev/null 2>"$T/err" || { cat "$T/err"; fail "broker add"; }
"$K" -d "$A" "${KP[@]}" sign --out "$T/dir.signed" >/dev/null 2>"$T/err" ||
    { cat "$T/err"; fail "keys sign"; }

# A trail whose checkpoints the directory's broker signed.
"$GEN" fill "$T/good" 300 20 50 1 "$T/broker.bundle" "$T/bundle.pass" || fail "fill with bundle"
out=$("$AUDIT" verify "$T/good" --directory "$T/dir.signed" --root-pk "$ROOT" --json 2>"$T/err")
[ $? -eq 0 ] && jq -e '.ok and .pinned' <<<"$out" >/dev/null || fail "verify: $out $(cat "$T/err")"
grep -q "broker key epoch 1 from the directory" "$T/err" || fail "the pinned key is not shown"
"$AUDIT" prove "$T/good" 42 -o "$T/42.proof" || fail prove
"$AUDIT" check-proof "$T/42.proof" --directory "$T/dir.signed" --root-pk "$ROOT" >/dev/null \
    2>&1 || fail "check-proof with the directory"

# Refused: a trail signed by another key, the wrong root key, a tampered directory, half the
# options.
"$GEN" fill "$T/other" 100 20 50 1 || fail fill
out=$("$AUDIT" verify "$T/other" --directory "$T/dir.signed" --root-pk "$ROOT" --json 2>/dev/null)
[ $? -eq 1 ] && jq -e '.problem == "bad-checkpoint"' <<<"$out" >/dev/null ||
    fail "another signer passed: $out"
"$AUDIT" verify "$T/good" --directory "$T/dir.signed" --root-pk "$PK" >/dev/null 2>&1
[ $? -eq 1 ] || fail "a directory checked against the wrong root key was used"
cp "$T/dir.signed" "$T/bad.signed"
printf '\x01' | dd of="$T/bad.signed" bs=1 seek=40 conv=notrunc status=none
"$AUDIT" check-proof "$T/42.proof" --directory "$T/bad.signed" --root-pk "$ROOT" >/dev/null 2>&1
[ $? -eq 1 ] || fail "a tampered directory was used"
"$AUDIT" verify "$T/good" --directory "$T/dir.signed" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--directory without --root-pk did not exit 2"
echo "$NAME: ok"
