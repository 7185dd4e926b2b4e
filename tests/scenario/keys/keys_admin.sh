#!/usr/bin/env bash
# Intent: an administrator enrols a broker and four agencies (CAC, police, welfare, an NGO with a
# Thai name) with refbus-keys, sets a policy, signs, rotates one agency twice, revokes another,
# signs again; both directories show and verify; tampering, rollback, a foreign root, wrong
# passphrases, open file modes and racing enrolments are all refused without writing anything.
set -euo pipefail

BIN=${REFBUS_BIN_DIR:-$(cd "$(dirname "$0")/../../../build/bin" && pwd)}
K="$BIN/refbus-keys"
[ -x "$K" ] || { echo "FAIL: $K not built"; exit 1; }
export REFBUS_KDF_LIMIT=min # Argon2id at its minimum: tests only
unset REFBUS_ADMIN_DIR REFBUS_PASSPHRASE_FILE REFBUS_BUNDLE_PASSPHRASE_FILE

W=$(mktemp -d "${TMPDIR:-/tmp}/refbus-keys-scenario.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
umask 022
A="$W/admin"
THAI='มูลนิธิเพื่อการพัฒนาเด็ก เชียงใหม่'

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# expect_exit CODE CMD...: run CMD, its stderr to $W/err, and insist on its exit code.
expect_exit() {
  local want=$1 got=0
  shift
  "$@" >"$W/out" 2>"$W/err" || got=$?
  [ "$got" -eq "$want" ] || { cat "$W/out" "$W/err" >&2; fail "exit $got, want $want: $*"; }
}
mode() { stat -c %a "$1"; }
digest() { (cd "$A" && find . -type f | sort | xargs sha256sum); }
json() { # json FILE PYTHON-EXPR-OF-d: assert the expression is true
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1" ||
    fail "json check failed on $1: $2"
}

printf 'correct horse battery staple\n' >root.pass
printf 'wrong horse\n' >wrong.pass
printf 'agency bundle passphrase\n' >bundle.pass
printf 'a new bundle passphrase\n' >bundle2.pass
RK=(--passphrase-file "$W/root.pass")
BK=(--bundle-passphrase-file "$W/bundle.pass")

step "usage and version"
expect_exit 0 "$K" --help
grep -q "usage: refbus-keys" "$W/out" || fail "--help prints usage on stdout"
expect_exit 0 "$K" --version
expect_exit 0 "$K" rotate --help
expect_exit 2 "$K" frobnicate
expect_exit 2 "$K" -d "$A" revoke cac.cm
expect_exit 2 "$K" -d "$A" agency add x --name X --kind spaceship --out x.bundle
expect_exit 2 "$K" verify dir.signed

step "init: root key 0600, public key printed"
expect_exit 0 "$K" -d "$A" init "${RK[@]}"
ROOT_PK=$(cat "$W/out")
[ "$ROOT_PK" = "$(cat "$A/root.pub")" ] || fail "init prints root.pub"
[ "$(mode "$A/root.key")" = 600 ] || fail "root.key mode $(mode "$A/root.key")"
[ "$(mode "$A")" = 700 ] || fail "admin dir mode"
expect_exit 0 "$K" -d "$A" pubkey
[ "$(cat "$W/out")" = "$ROOT_PK" ] || fail "pubkey"
expect_exit 1 "$K" -d "$A" init "${RK[@]}"
grep -q "already initialised" "$W/err" || fail "second init says why"

step "enrol a broker and four agencies"
export REFBUS_ADMIN_DIR="$A"
expect_exit 0 "$K" broker add broker.cm --endpoint tcp://127.0.0.1:7700 --out broker.bundle "${BK[@]}"
expect_exit 0 "$K" agency add cac.cm --name "Chiang Mai Children Advocacy Center" --kind cac \
  --out cac.bundle "${BK[@]}"
expect_exit 0 "$K" agency add police.cm --name "Chiang Mai Provincial Police" --kind police \
  --out police.bundle "${BK[@]}"
expect_exit 0 "$K" agency add welfare.cm --name "Social Development and Human Security Office" \
  --kind welfare --out welfare.bundle "${BK[@]}"
expect_exit 0 "$K" agency add ngo.fcd --name "$THAI" --kind ngo --out ngo.bundle "${BK[@]}"
for f in broker cac police welfare ngo; do
  [ "$(mode $f.bundle)" = 600 ] || fail "$f.bundle mode $(mode $f.bundle)"
done
[ "$(mode "$A/state.pb")" = 600 ] || fail "state.pb mode"
expect_exit 1 "$K" agency add cac.cm --name Again --kind cac --out again.bundle "${BK[@]}"
[ ! -e again.bundle ] || fail "a refused enrolment wrote a bundle"
expect_exit 1 "$K" agency add Bad_Id --name X --kind ngo --out bad.bundle "${BK[@]}"
grep -q EBADID "$W/err" || fail "bad id reason"

step "policy and first signature"
expect_exit 0 "$K" policy allow '*' cac.cm
expect_exit 0 "$K" policy allow cac.cm '*'
expect_exit 0 "$K" policy allow ngo.fcd police.cm
expect_exit 0 "$K" policy deny police.cm ngo.fcd
expect_exit 1 "$K" policy allow nobody cac.cm
expect_exit 0 "$K" sign "${RK[@]}" --out dir1.signed
grep -q "serial 1 " "$W/out" || fail "first sign is serial 1"

step "rotate cac.cm twice, revoke police.cm, sign again"
expect_exit 0 "$K" rotate cac.cm --bundle cac.bundle --out cac2.bundle "${BK[@]}"
expect_exit 0 "$K" rotate cac.cm --bundle cac2.bundle --out cac3.bundle "${BK[@]}" \
  --new-passphrase-file "$W/bundle2.pass"
[ "$(mode cac3.bundle)" = 600 ] || fail "cac3.bundle mode"
expect_exit 1 "$K" rotate cac.cm --bundle cac.bundle --out stale.bundle "${BK[@]}"
[ ! -e stale.bundle ] || fail "rotation from a stale bundle wrote one"
expect_exit 0 "$K" revoke police.cm --reason "laptop stolen 2025-03-01"
expect_exit 1 "$K" revoke police.cm --reason "twice"
expect_exit 0 "$K" sign "${RK[@]}" --out dir2.signed
grep -q "serial 2 " "$W/out" || fail "second sign is serial 2"
[ "$(mode dir2.signed)" = 644 ] || fail "signed directory mode"
cmp -s dir2.signed "$A/directory.signed" || fail "sign --out and directory.signed differ"

step "show --json: both directories, as the administrators meant them"
expect_exit 0 "$K" show dir1.signed --json
cp "$W/out" dir1.json
expect_exit 0 "$K" show dir2.signed --json --root-pub "$A/root.pub"
cp "$W/out" dir2.json
json dir1.json "d['serial'] == 1 and d['verified'] is True and d['root_pk'] == '$ROOT_PK'"
json dir1.json "[a['id'] for a in d['agencies']] == ['cac.cm', 'ngo.fcd', 'police.cm', 'welfare.cm']"
json dir1.json "[a['kind'] for a in d['agencies']] == ['cac', 'ngo', 'police', 'welfare']"
json dir1.json "all([k['status'] for k in a['keys']] == ['active'] for a in d['agencies'])"
json dir2.json "d['serial'] == 2 and d['verified'] is True and d['issued_ms'] >= 1600000000000"
json dir2.json "d['agencies'][1]['name'] == '$THAI'"
json dir2.json "[(k['epoch'], k['status']) for k in d['agencies'][0]['keys']] == [(1, 'retired'), (2, 'retired'), (3, 'active')]"
json dir2.json "d['agencies'][2]['keys'][0]['status'] == 'revoked' and d['agencies'][2]['keys'][0]['revoked_reason'] == 'laptop stolen 2025-03-01'"
json dir2.json "d['agencies'][3]['keys'][0]['status'] == 'active' and d['agencies'][3]['keys'][0]['revoked_reason'] == ''"
json dir2.json "all(len(k['key_id']) == 16 and len(k['sign_pk']) == 64 and len(k['enc_pk']) == 64 and len(k['curve_pk']) == 64 for a in d['agencies'] for k in a['keys'])"
json dir2.json "d['broker']['id'] == 'broker.cm' and d['broker']['endpoints'] == ['tcp://127.0.0.1:7700'] and d['broker']['keys'][0]['status'] == 'active'"
json dir2.json "{(r['from'], r['to'], r['action']) for r in d['policy']} == {('*', 'cac.cm', 'allow'), ('cac.cm', '*', 'allow'), ('ngo.fcd', 'police.cm', 'allow'), ('police.cm', 'ngo.fcd', 'deny')}"
# The same keys in both directories for what did not change.
python3 - dir1.json dir2.json <<'EOF' || fail "unchanged keys differ between serials"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert a['agencies'][0]['keys'][0]['sign_pk'] == b['agencies'][0]['keys'][0]['sign_pk']
assert a['agencies'][3]['keys'] == b['agencies'][3]['keys']
assert a['broker']['keys'] == b['broker']['keys']
EOF
expect_exit 0 "$K" show dir2.signed
grep -q "revoked" "$W/out" && grep -q "laptop stolen" "$W/out" && grep -q "$THAI" "$W/out" ||
  fail "text show"

step "the newest bundle holds epochs 1 to 3, matching the directory"
expect_exit 1 "$K" inspect cac3.bundle "${BK[@]}"
grep -q EPASSPHRASE "$W/err" || fail "wrong bundle passphrase reason"
expect_exit 0 "$K" inspect cac3.bundle --json --bundle-passphrase-file "$W/bundle2.pass"
cp "$W/out" cac3.json
python3 - cac3.json dir2.json <<'EOF' || fail "bundle and directory disagree"
import json, sys
ks, d = (json.load(open(f)) for f in sys.argv[1:])
assert ks['id'] == 'cac.cm' and ks['role'] == 'agency' and ks['root_pk'] == d['root_pk']
dk = d['agencies'][0]['keys']
assert [e['epoch'] for e in ks['epochs']] == [1, 2, 3]
for e, k in zip(ks['epochs'], dk):
    assert (e['sign_pk'], e['enc_pk'], e['curve_pk']) == (k['sign_pk'], k['enc_pk'], k['curve_pk'])
assert 'sk' not in json.dumps(ks).replace('"sign_pk"', '')  # no secret is ever printed
EOF

step "verify: good, rollback, another root"
expect_exit 0 "$K" verify dir1.signed --root-pub "$A/root.pub"
expect_exit 0 "$K" verify dir2.signed --root-pk "$ROOT_PK" --trusted-serial 1
expect_exit 1 "$K" verify dir2.signed --root-pk "$ROOT_PK" --trusted-serial 2
grep -q EROLLBACK "$W/err" || fail "equal serial: rollback"
expect_exit 1 "$K" verify dir1.signed --root-pub "$A/root.pub" --trusted-serial 2
grep -q EROLLBACK "$W/err" || fail "older serial: rollback"
expect_exit 1 "$K" verify dir2.signed --trusted-serial 2 --json
json "$W/out" "d['ok'] is False and d['error'] == 'EROLLBACK'"
expect_exit 0 "$K" -d "$W/other" init "${RK[@]}"
expect_exit 1 "$K" verify dir2.signed --root-pub "$W/other/root.pub"
grep -q EBADSIG "$W/err" || fail "foreign root: bad signature"
expect_exit 1 "$K" show dir2.signed --root-pub "$W/other/root.pub"

step "tampering: a byte flipped anywhere is refused"
LEN=$(stat -c %s dir2.signed)
POSITIONS="0 1 2 3 10 50 100 $((LEN / 3)) $((LEN / 2)) $((LEN - 66)) $((LEN - 65)) $((LEN - 64)) $((LEN - 30)) $((LEN - 1))"
POSITIONS="$POSITIONS $(python3 -c "import random; r=random.Random(7); print(' '.join(str(r.randrange($LEN)) for _ in range(24)))")"
for pos in $POSITIONS; do
  python3 - dir2.signed tampered.signed "$pos" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[int(sys.argv[3])] ^= 0x01
open(sys.argv[2], 'wb').write(b)
EOF
  expect_exit 1 "$K" verify tampered.signed --root-pub "$A/root.pub"
  grep -Eq "EBADSIG|EMALFORMED" "$W/err" || fail "tampered at $pos: reason: $(cat "$W/err")"
done
head -c $((LEN - 1)) dir2.signed >truncated.signed
expect_exit 1 "$K" verify truncated.signed --root-pub "$A/root.pub"
{ cat dir2.signed; printf 'x'; } >longer.signed
expect_exit 1 "$K" verify longer.signed --root-pub "$A/root.pub"

step "wrong passphrases: a clear error and nothing written"
before=$(digest)
expect_exit 1 "$K" sign --passphrase-file "$W/wrong.pass" --out never.signed
grep -q "wrong passphrase" "$W/err" || fail "wrong root passphrase reason: $(cat "$W/err")"
[ "$before" = "$(digest)" ] || fail "a failed sign changed the admin directory"
[ ! -e never.signed ] || fail "a failed sign wrote --out"
expect_exit 1 "$K" rotate welfare.cm --bundle welfare.bundle --out never.bundle \
  --bundle-passphrase-file "$W/wrong.pass"
grep -q EPASSPHRASE "$W/err" || fail "wrong bundle passphrase reason"
[ ! -e never.bundle ] || fail "a failed rotate wrote a bundle"
[ "$before" = "$(digest)" ] || fail "a failed rotate changed the admin directory"
# A bundle passphrase never falls back to the root's passphrase file; with no terminal and no
# bundle passphrase file, enrolment stops before writing anything.
REFBUS_PASSPHRASE_FILE="$W/root.pass" expect_exit 1 setsid -w "$K" agency add health.cm \
  --name Hospital --kind health --out health.bundle </dev/null
[ ! -e health.bundle ] || fail "enrolment without a bundle passphrase wrote a bundle"
[ "$before" = "$(digest)" ] || fail "enrolment without a bundle passphrase changed the state"

step "key files readable by others are refused"
chmod 640 cac3.bundle
expect_exit 1 "$K" inspect cac3.bundle --bundle-passphrase-file "$W/bundle2.pass"
grep -q EPERM "$W/err" || fail "open mode reason"
chmod 600 cac3.bundle
chmod 644 "$A/root.key"
expect_exit 1 "$K" sign "${RK[@]}"
grep -q EPERM "$W/err" || fail "open root.key mode reason"
chmod 600 "$A/root.key"
[ "$before" = "$(digest)" ] || fail "a refused sign changed the admin directory"

step "two enrolments of one id racing: exactly one wins, nothing clobbered"
for round in 1 2 3; do
  id="ngo.race$round"
  "$K" agency add "$id" --name "Racer" --kind other --out "race$round-a.bundle" "${BK[@]}" \
    >/dev/null 2>&1 &
  pa=$!
  "$K" agency add "$id" --name "Racer" --kind other --out "race$round-b.bundle" "${BK[@]}" \
    >/dev/null 2>&1 &
  pb=$!
  ra=0 rb=0
  wait $pa || ra=$?
  wait $pb || rb=$?
  [ $((ra == 0 ? 1 : 0)) -ne $((rb == 0 ? 1 : 0)) ] || fail "round $round: exits $ra and $rb"
  [ $ra -le 1 ] && [ $rb -le 1 ] || fail "round $round: odd exit codes $ra $rb"
  n=$(ls race$round-*.bundle 2>/dev/null | wc -l)
  [ "$n" = 1 ] || fail "round $round: $n bundles"
  winner=$(ls race$round-*.bundle)
  expect_exit 0 "$K" inspect "$winner" --json "${BK[@]}"
  cp "$W/out" winner.json
  expect_exit 0 "$K" status --json
  python3 - winner.json "$W/out" "$id" <<'EOF' || fail "round $round: state and bundle disagree"
import json, sys
ks, st = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
ags = [a for a in st['agencies'] if a['id'] == sys.argv[3]]
assert len(ags) == 1 and ks['id'] == sys.argv[3]
assert ags[0]['keys'][0]['sign_pk'] == ks['epochs'][0]['sign_pk']
EOF
done
# Same output path for two different ids: one bundle, one enrolment.
"$K" agency add ngo.same1 --name A --kind ngo --out same.bundle "${BK[@]}" >/dev/null 2>&1 &
pa=$!
"$K" agency add ngo.same2 --name B --kind ngo --out same.bundle "${BK[@]}" >/dev/null 2>&1 &
pb=$!
ra=0 rb=0
wait $pa || ra=$?
wait $pb || rb=$?
[ $((ra + rb)) = 1 ] || fail "same path: exits $ra and $rb"
expect_exit 0 "$K" status --json
json "$W/out" "len([a for a in d['agencies'] if a['id'].startswith('ngo.same')]) == 1"

step "serial 3 after all that, and the old ones are refused as rollbacks"
expect_exit 0 "$K" sign "${RK[@]}" --out dir3.signed
expect_exit 0 "$K" verify dir3.signed --trusted-serial 2
expect_exit 1 "$K" verify dir2.signed --trusted-serial 3
[ -e "$A/signed/00000000000000000003.dir" ] || fail "archive"

step "weak passphrases are refused for new keys, with a reason; the override and generated ones work"
printf 'a\n' >weak.pass
printf 'password1234\n' >weak2.pass
before=$(digest)
expect_exit 1 "$K" -d "$W/admin-weak" init --passphrase-file "$W/weak.pass"
grep -q "too short" "$W/err" && grep -q EWEAK "$W/err" || fail "init: no reason given: $(cat "$W/err")"
[ ! -e "$W/admin-weak/root.key" ] || fail "a refused init wrote a root key"
expect_exit 1 "$K" agency add ngo.weak --name W --kind ngo --out weak.bundle \
    --bundle-passphrase-file "$W/weak2.pass"
grep -q "too easy to guess" "$W/err" || fail "agency add: no reason given: $(cat "$W/err")"
[ ! -e weak.bundle ] || fail "a refused enrolment wrote a bundle"
expect_exit 1 "$K" broker add broker.weak --out weakb.bundle --bundle-passphrase-file "$W/weak.pass"
expect_exit 1 "$K" rotate welfare.cm --bundle welfare.bundle --out weak3.bundle "${BK[@]}" \
    --new-passphrase-file "$W/weak.pass"
[ ! -e weak3.bundle ] || fail "a refused rotation wrote a bundle"
[ "$before" = "$(digest)" ] || fail "a refused weak passphrase changed the admin directory"
# the explicit override (tests, demos): accepted with a warning
expect_exit 0 "$K" -d "$W/admin-weak" init --passphrase-file "$W/weak.pass" --allow-weak-passphrase
grep -q "warning: weak" "$W/err" || fail "the override does not warn"
# a generated passphrase: 0600, never replaced, accepted, opens the bundle it protects
expect_exit 0 "$K" passphrase --out gen.pass
[ "$(mode gen.pass)" = 600 ] || fail "generated passphrase file mode $(mode gen.pass)"
grep -qE '^([a-km-np-z2-9]{5}-){5}[a-km-np-z2-9]{5}$' gen.pass || fail "generated: $(cat gen.pass)"
expect_exit 1 "$K" passphrase --out gen.pass
expect_exit 0 "$K" passphrase
[ "$(cat "$W/out")" != "$(cat gen.pass)" ] || fail "two generated passphrases are equal"
expect_exit 0 "$K" agency add ngo.gen --name G --kind ngo --out gen.bundle \
    --bundle-passphrase-file "$W/gen.pass"
expect_exit 0 "$K" inspect gen.bundle --bundle-passphrase-file "$W/gen.pass"

echo "PASS: keys_admin scenario"
