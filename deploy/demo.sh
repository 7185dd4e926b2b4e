#!/usr/bin/env bash
# refbus in one command: a whole demo network on this machine (root key, broker, four agency
# nodes as separate processes over loopback) plays one referral's life, and every step is
# CHECKED from the programs' JSON output, not just run. Exit 0 only if all checks held.
#   deploy/demo.sh [WORKDIR]      (default: a new temporary directory, printed)
# Environment: REFBUS_BIN_DIR (use these programs, do not build), REFBUS_DEMO_HOST (the
# broker's address, default 127.0.0.1), REFBUS_DEMO_WRAP (a program run as `WRAP PARTY CMD...`
# to run each party's commands elsewhere: tests/scenario/deploy/netns_test.sh uses it for namespaces).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T0=$(date +%s)
HOST=${REFBUS_DEMO_HOST:-127.0.0.1}
WRAP=${REFBUS_DEMO_WRAP:-}
AGENCIES=(cac.chiangmai police.ticac welfare.cm ngo.hots)
declare -A PID=()      # party -> pid of its long-running process
STEP=0

# --- output -------------------------------------------------------------------------------
if [ -t 1 ]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'; else B='' G='' R='' D='' N=''; fi
step() { STEP=$((STEP + 1)); printf '\n%s[%d] %s%s\n' "$B" "$STEP" "$*" "$N"; }
say() { printf '    %s\n' "$*"; }
ok() { printf '    %s✓%s %s\n' "$G" "$N" "$*"; }
die() {
    printf '    %s✗ %s%s\n' "$R" "$*" "$N" >&2
    for f in "$W"/*/*.log; do
        [ -s "$f" ] || continue
        printf '%s--- last lines of %s ---%s\n' "$D" "$f" "$N" >&2
        tail -n 8 "$f" >&2
    done
    exit 1
}

# --- setup: dependencies, build, work directory ---------------------------------------------
if [ -n "${REFBUS_BIN_DIR:-}" ]; then
    BIN=$REFBUS_BIN_DIR
else
    "$ROOT/deploy/install-deps.sh" >/dev/null || {
        echo "demo: could not install the build dependencies (see deploy/install-deps.sh)" >&2
        exit 1
    }
    BIN=$ROOT/build/bin
    if [ ! -f "$ROOT/build/CMakeCache.txt" ]; then
        echo "demo: configuring the build in $ROOT/build ..."
        cmake -S "$ROOT" -B "$ROOT/build" >/dev/null
    fi
    echo "demo: building the programs (cmake --build $ROOT/build) ..."
    cmake --build "$ROOT/build" -j "$(nproc)" --target refbus-keys refbus-broker refbus-node \
        refbus-audit >/dev/null || {
        echo "demo: the build failed; run: cmake --build $ROOT/build" >&2
        exit 1
    }
fi
for p in refbus-keys refbus-broker refbus-node refbus-audit; do
    [ -x "$BIN/$p" ] || { echo "demo: $BIN/$p is missing" >&2; exit 1; }
done
for p in jq mdb_copy ss; do
    command -v "$p" >/dev/null || { echo "demo: $p is missing (deploy/install-deps.sh)" >&2; exit 1; }
done
KEYS=$BIN/refbus-keys BROKER=$BIN/refbus-broker NODE=$BIN/refbus-node AUDIT=$BIN/refbus-audit

if [ $# -gt 0 ]; then W=$1; else W=$(mktemp -d "${TMPDIR:-/tmp}/refbus-demo.XXXXXX"); fi
mkdir -p "$W"
W=$(cd "$W" && pwd)
if [ -n "$(ls -A "$W")" ]; then
    echo "demo: $W is not empty; give a new or empty directory" >&2
    exit 2
fi
umask 077
for d in admin broker auditor "${AGENCIES[@]}"; do mkdir -p "$W/$d"; done

# Run a command as PARTY (admin, broker, auditor or an agency id): here, or through WRAP.
as() {
    local party=$1
    shift
    if [ -n "$WRAP" ]; then timeout 60 "$WRAP" "$party" "$@"; else timeout 60 "$@"; fi
}
# Start PARTY's daemon in the background, its output in WORKDIR/PARTY/PARTY.log.
start() {
    local party=$1
    shift
    local -a argv=("$@")
    [ -z "$WRAP" ] || argv=("$WRAP" "$party" "${argv[@]}")
    (exec "${argv[@]}") >>"$W/$party/$party.log" 2>&1 &
    PID[$party]=$!
}
# Stop PARTY's daemon: SIGTERM, then SIGKILL after 10 s. Its exit status goes to STATUS[party].
declare -A STATUS=()
stop() {
    local party=$1 pid=${PID[$1]:-} i rc=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || rc=$?
    STATUS[$party]=$rc
    unset "PID[$party]"
}
stopped_cleanly() { # stop PARTY and insist on exit status 0 (a clean shutdown, no sanitizer report)
    stop "$1"
    [ "${STATUS[$1]}" = 0 ] || die "$1 did not stop cleanly on SIGTERM (exit ${STATUS[$1]}); see $1/$1.log"
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    trap '' PIPE
    for p in "${!PID[@]}"; do kill -TERM "${PID[$p]}" 2>/dev/null || true; done
    for p in "${!PID[@]}"; do stop "$p"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM
trap 'exit 129' HUP  # the terminal went away
trap 'exit 141' PIPE # our output was closed (demo.sh | head): still stop everything

# Poll `cmd` until it succeeds, for up to SECONDS; the last output is in $OUT.
OUT=
wait_for() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 5; i++)); do
        if OUT=$("$@" 2>&1); then return 0; fi
        sleep 0.2
    done
    return 1
}
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 40000))
        if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return 0; fi
    done
    return 1
}

echo "${B}refbus demo network${N} in $W"
say "One folder per process: admin/ broker/ ${AGENCIES[*]/%//} auditor/"
say "${D}Demo passphrases sit in plain files and the passphrase hashing is set to its minimum"
say "(REFBUS_KDF_LIMIT=min) so that this runs in seconds: never do either in production.${N}"
export REFBUS_KDF_LIMIT=min

# --- 1. the administrator -----------------------------------------------------------------------
step "The administrator creates the root key and enrols the broker and four agencies"
ADM=$W/admin/state
# A generated passphrase (six random groups, 150 bits): refbus-keys refuses weak ones.
as admin "$KEYS" passphrase --out "$W/admin/root.pass" 2>/dev/null ||
    die "refbus-keys passphrase failed"
mkdir -p "$W/admin/out"
k() { as admin "$KEYS" -d "$ADM" --passphrase-file "$W/admin/root.pass" "$@"; }
kb() { # enrol: kb ID PASSFILE ARGS...
    local id=$1 pf=$2
    shift 2
    printf 'demo passphrase for %s - not for production\n' "$id" >"$pf"
    k "$@" --out "$W/admin/out/$id.bundle" --bundle-passphrase-file "$pf" >/dev/null
}
k init >/dev/null 2>&1 || die "refbus-keys init failed"
ROOT_PK=$(k pubkey) || die "refbus-keys pubkey failed"
[[ $ROOT_PK =~ ^[0-9a-f]{64}$ ]] || die "root public key is not 64 hex digits: $ROOT_PK"
ok "root key ${ROOT_PK:0:16}… (kept offline in real life; admin/state/root.key, passphrase-encrypted)"
PORT=$(free_port) || die "no free TCP port"
ENDPOINT=tcp://$HOST:$PORT
kb broker.cm "$W/broker/passphrase" broker add broker.cm --endpoint "$ENDPOINT"
declare -A NAME=(
    [cac.chiangmai]="Chiang Mai Children Advocacy Center (ศูนย์ช่วยเหลือเด็ก เชียงใหม่)"
    [police.ticac]="Thailand Internet Crimes Against Children Task Force"
    [welfare.cm]="Chiang Mai Provincial Child Welfare Office (สำนักงานพัฒนาสังคมฯ เชียงใหม่)"
    [ngo.hots]="Heart of the Street (NGO outreach)")
declare -A KIND=([cac.chiangmai]=cac [police.ticac]=police [welfare.cm]=welfare [ngo.hots]=ngo)
for a in "${AGENCIES[@]}"; do
    kb "$a" "$W/$a/passphrase" agency add "$a" --name "${NAME[$a]}" --kind "${KIND[$a]}"
done
# Who may refer to whom: the NGO refers to the CAC, the police and welfare; those three may
# write to any agency (answers travel back to the sender as messages of their own).
k policy allow ngo.hots cac.chiangmai >/dev/null
k policy allow ngo.hots police.ticac >/dev/null
k policy allow ngo.hots welfare.cm >/dev/null
for a in cac.chiangmai police.ticac welfare.cm; do k policy allow "$a" '*' >/dev/null; done
k sign --out "$W/admin/directory.signed" >/dev/null || die "refbus-keys sign failed"
DIR_JSON=$(k show "$W/admin/directory.signed" --json) || die "refbus-keys show failed"
jq -e '.verified == true and .serial == 1' <<<"$DIR_JSON" >/dev/null ||
    die "the signed directory does not verify as serial 1"
got=$(jq -r '[.agencies[].id] | sort | join(" ")' <<<"$DIR_JSON")
want=$(printf '%s\n' "${AGENCIES[@]}" | sort | paste -sd' ')
[ "$got" = "$want" ] || die "directory lists '$got', wanted '$want'"
ok "directory serial 1 signed and verified: broker.cm at $ENDPOINT and ${AGENCIES[*]}"
ok "policy: ngo.hots -> cac.chiangmai, police.ticac, welfare.cm; those three -> anyone"
for a in "${AGENCIES[@]}"; do
    install -m 0600 "$W/admin/out/$a.bundle" "$W/$a/bundle"
    cp "$W/admin/directory.signed" "$W/$a/directory.signed"
done
install -m 0600 "$W/admin/out/broker.cm.bundle" "$W/broker/bundle"
cp "$W/admin/directory.signed" "$W/broker/directory.signed"
ok "each bundle handed to its agency (in real life: bundle and passphrase by two channels)"

# --- 2. the broker --------------------------------------------------------------------------------
step "The broker starts on $ENDPOINT"
ADMIN_EP=ipc://$W/broker/admin.sock
bstatus() { as broker "$BROKER" status -a "$ADMIN_EP"; }
# A new store is an explicit act: init once; run never creates one (a mistyped -d is an error).
as broker "$BROKER" init -d "$W/broker" >>"$W/broker/broker.log" 2>&1 ||
    die "refbus-broker init failed: $(tail -3 "$W/broker/broker.log")"
start broker "$BROKER" run -d "$W/broker" -b "$ENDPOINT" -a "$ADMIN_EP" -k "$W/broker/bundle" \
    -p "$W/broker/passphrase" -D "$W/broker/directory.signed" -o checkpoint_seconds=1
wait_for 20 bstatus || die "the broker does not answer on its admin socket: $OUT"
jq -e '.broker_id == "broker.cm" and .directory_serial == 1' <<<"$OUT" >/dev/null ||
    die "broker status is not broker.cm at directory serial 1: $OUT"
ok "broker.cm is serving, directory serial 1, audit trail of $(jq -r .audit_size <<<"$OUT") records"


# --- 3. the agencies' nodes -------------------------------------------------------------------
step "Each agency starts its node (its own process, keys and encrypted store)"
for a in "${AGENCIES[@]}"; do
    cat >"$W/$a/node.conf" <<CONF
# refbus-node for $a (demo). Relative paths are relative to this file. The broker's endpoint
# comes from the signed directory.
[node]
agency = $a
keystore = bundle
passphrase_file = passphrase
directory = directory.signed
data_dir = data
ping_seconds = 2
reconnect_max_ms = 1000
CONF
done
n() { # n AGENCY ARGS...: one refbus-node command for that agency, JSON on stdout
    local a=$1
    shift
    as "$a" "$NODE" -c "$W/$a/node.conf" --compact "$@"
}
node_ready() { n "$1" status | jq -e '.broker.state == "ready"' >/dev/null; }
for a in "${AGENCIES[@]}"; do
    as "$a" "$NODE" init -c "$W/$a/node.conf" >>"$W/$a/$a.log" 2>&1 ||
        die "refbus-node init for $a failed: $(tail -3 "$W/$a/$a.log")"
    start "$a" "$NODE" run -c "$W/$a/node.conf"
done
for a in "${AGENCIES[@]}"; do
    wait_for 30 node_ready "$a" || die "$a's node did not connect to the broker: $(n "$a" status)"
done
all_peers() { bstatus | jq -e '[.peers[] | tostring] | length >= 4' >/dev/null; }
wait_for 10 all_peers || die "the broker does not list four connected peers: $OUT"
ok "four nodes connected over CurveZMQ, each admitted by its transport key in the directory"

# --- 4. the NGO refers an urgent case ------------------------------------------------------------
step "The NGO refers an urgent case (summary in Thai) to the CAC and the police unit"
SUMMARY="เด็กหญิงอายุ 14 ปี ถูกพบที่สถานีขนส่งเชียงใหม่ อาจเป็นเหยื่อการค้ามนุษย์ ต้องการสัมภาษณ์นิติวิทยาและที่พักพิงด่วน (Girl, 14, found at the Chiang Mai bus terminal; possible trafficking victim; needs a forensic interview and shelter urgently.)"
jq -n --arg s "$SUMMARY" '{
  case_ref: "HOTS-2025-0314", type: "trafficking", urgency: "urgent",
  child: {pseudonym: "Dao", age: 14, gender: "female", nationality: "MM",
          languages: ["my", "th"]},
  summary: $s,
  services: ["forensic_interview", "shelter", "investigation"],
  consent: {basis: "guardian", given_by: "aunt (legal guardian)"},
  contact: {name: "Khun Malee", role: "outreach worker", phone: "+66 53 000 000"}
}' >"$W/ngo.hots/referral-1.json"
OUT=$(n ngo.hots send "$W/ngo.hots/referral-1.json" --to cac.chiangmai,police.ticac \
    --urgency urgent --wait=30) || die "the NGO's referral was not accepted: $OUT"
MSG1=$(jq -r .msg_id <<<"$OUT")
jq -e '.state == "accepted"' <<<"$OUT" >/dev/null || die "not accepted: $OUT"
[[ $MSG1 =~ ^[0-9a-f]{32}$ ]] || die "no message id in: $OUT"
ok "sealed for the CAC and the police only, signed by ngo.hots; the broker's signed ACCEPTED receipt came back (message ${MSG1:0:12}…)"

# --- 5. both receive it ---------------------------------------------------------------------------
step "The CAC and the police unit receive it and open it"
has_msg() { n "$1" inbox show "$2" >/dev/null; }
for a in cac.chiangmai police.ticac; do
    wait_for 30 has_msg "$a" "$MSG1" || die "$a did not receive the referral: $OUT"
    M=$(n "$a" inbox show "$MSG1") || die "$a cannot show the referral: $M"
    got=$(jq -r '.referral.summary' <<<"$M")
    [ "$got" = "$SUMMARY" ] || die "$a opened a different summary: $got"
    jq -e '.sender == "ngo.hots" and .urgency == "urgent" and .kind == "referral"' \
        <<<"$M" >/dev/null || die "$a: wrong sender, kind or urgency: $M"
    THREAD=$(jq -r .thread_id <<<"$M")
    ok "$a opened it: urgent, from ngo.hots, case HOTS-2025-0314, the Thai summary byte for byte"
done
delivered_to_both() {
    n ngo.hots outbox "$MSG1" | jq -e '[.deliveries[] | select(.state == "delivered")] | length == 2' >/dev/null
}
wait_for 30 delivered_to_both || die "the NGO has no delivery receipts from both: $OUT"
ok "the NGO holds both agencies' signed DELIVERED receipts"
if n welfare.cm inbox show "$MSG1" >/dev/null 2>&1; then die "welfare.cm, not a recipient, holds the referral"; fi
ok "welfare.cm, not a recipient, has nothing"
for f in "$W/broker/data.mdb" "$W"/*/data/store/data.mdb; do
    [ -f "$f" ] || die "no data file $f"
    if LC_ALL=C grep -a -q -F -e HOTS-2025-0314 -e "Khun Malee" -e "สถานีขนส่ง" "$f"; then
        die "plaintext of the referral found in ${f#"$W"/}"
    fi
done
ok "no plaintext at rest: case reference, contact and summary appear neither in the broker's data nor in any node's store (sealed)"

# --- 6. answers --------------------------------------------------------------------------------------
step "The CAC accepts the case; the police unit sends a status update"
OUT=$(n cac.chiangmai reply "$MSG1" --status accepted \
    --text "รับเรื่องแล้ว นัดสัมภาษณ์นิติวิทยาพรุ่งนี้ 09:00 (accepted; forensic interview tomorrow 09:00)") ||
    die "the CAC's answer was refused: $OUT"
ok "cac.chiangmai: accepted"
OUT=$(n police.ticac reply "$MSG1" --status accepted) || die "the police unit's answer was refused: $OUT"
OUT=$(n police.ticac reply "$MSG1" --status in_progress \
    --text "Investigation opened. We will not interview the child again: we use the CAC's recording.") ||
    die "the police unit's status update was refused: $OUT"
ok "police.ticac: accepted, then a status update: in_progress (investigation opened)"
member_state() { # member_state THREAD_JSON AGENCY -> that agency's state in the thread
    jq -r --arg a "$2" '.thread.agencies[$a].status // empty' <<<"$1"
}
ngo_sees_answers() {
    local t
    t=$(n ngo.hots thread show "$THREAD") || return 1
    [ "$(member_state "$t" cac.chiangmai)" = accepted ] &&
        [ "$(member_state "$t" police.ticac)" = in_progress ]
}
wait_for 30 ngo_sees_answers || die "the NGO does not see both answers: $OUT"
ok "the NGO's thread ${THREAD:0:12}… shows cac.chiangmai accepted, police.ticac in_progress"

# --- 7. key rotation -----------------------------------------------------------------------------
step "The administrator rotates the NGO's keys on schedule, with the network running"
k rotate ngo.hots --bundle "$W/admin/out/ngo.hots.bundle" \
    --out "$W/admin/out/ngo.hots.epoch2.bundle" --bundle-passphrase-file "$W/ngo.hots/passphrase" \
    >/dev/null || die "refbus-keys rotate failed"
k sign --out "$W/admin/directory.signed" >/dev/null || die "refbus-keys sign failed"
DIR_JSON=$(k show "$W/admin/directory.signed" --json) || die "refbus-keys show failed"
jq -e '.serial == 2 and ([.agencies[] | select(.id == "ngo.hots") | .keys[] | "\(.epoch):\(.status)"]
       | sort == ["1:retired", "2:active"])' <<<"$DIR_JSON" >/dev/null ||
    die "directory 2 does not show ngo.hots epoch 1 retired and epoch 2 active"
ok "ngo.hots epoch 2 created; epoch 1 retired (still opens old messages); directory serial 2 signed"
publish() {
    OUT=$(as broker "$BROKER" publish -a "$ADMIN_EP" "$W/admin/directory.signed") ||
        die "refbus-broker publish failed: $OUT"
    jq -e --argjson s "$1" '.ok == true and .serial == $s' <<<"$OUT" >/dev/null ||
        die "the broker did not install directory $1: $OUT"
}
# The NGO takes its node down to install the new bundle. Meanwhile the CAC, still on directory
# 1, adds a note to the case: it is sealed to the NGO's epoch-1 key and waits at the broker.
stopped_cleanly ngo.hots
ok "the NGO stops its node to install the new bundle (its store, outbox and inbox stay)"
n cac.chiangmai status | jq -e '.directory.serial == 1' >/dev/null ||
    die "the CAC should still hold directory 1 here"
OUT=$(n cac.chiangmai reply "$MSG1" --status note \
    --text "ล่ามภาษาพม่าจะมาพรุ่งนี้ (a Burmese interpreter comes tomorrow)") ||
    die "the CAC's note was refused: $OUT"
NOTE=$(jq -r .msg_id <<<"$OUT")
note_accepted() { n cac.chiangmai outbox "$NOTE" | jq -e '.state == "accepted"' >/dev/null; }
wait_for 30 note_accepted || die "the CAC's note was not accepted by the broker: $OUT"
ok "the CAC adds a note, sealed to the NGO's epoch-1 key (it still holds directory 1); it waits at the broker"
publish 2
ok "directory 2 published to the running broker, which pushes it to the connected nodes"
install -m 0600 "$W/admin/out/ngo.hots.epoch2.bundle" "$W/ngo.hots/bundle.new"
mv -f "$W/ngo.hots/bundle.new" "$W/ngo.hots/bundle"
start ngo.hots "$NODE" run -c "$W/ngo.hots/node.conf"
ngo_on_epoch2() { n ngo.hots status | jq -e '.epoch == 2 and .broker.state == "ready" and .directory.serial == 2' >/dev/null; }
wait_for 30 ngo_on_epoch2 || die "the NGO's node did not come back with epoch 2: $(n ngo.hots status)"
ok "the NGO's node is back with the new bundle: connected with epoch 2, holds directory 2"
wait_for 30 has_msg ngo.hots "$NOTE" || die "the CAC's note did not reach the NGO after its rotation: $OUT"
M=$(n ngo.hots inbox show "$NOTE") || die "the NGO cannot open the CAC's note: $M"
jq -e '.sender == "cac.chiangmai" and .status.status == "note" and (.status.text | startswith("ล่าม"))' \
    <<<"$M" >/dev/null || die "the CAC's note does not open at the NGO: $M"
ok "the note sealed to epoch 1 was delivered after the rotation and opens: nothing in flight is lost"
jq -n --arg s "ติดตามผล: น้องดาวพักที่บ้านพักเด็กแล้ว ต้องการล่ามภาษาพม่าสำหรับการสัมภาษณ์ (Follow-up: Dao is at the shelter; a Burmese interpreter is needed for the interview.)" '{
  case_ref: "HOTS-2025-0315", type: "trafficking", urgency: "routine",
  child: {pseudonym: "Dao", age: 14, gender: "female", nationality: "MM", languages: ["my", "th"]},
  summary: $s, services: ["psychosocial"],
  consent: {basis: "guardian", given_by: "aunt (legal guardian)"}
}' >"$W/ngo.hots/referral-2.json"
OUT=$(n ngo.hots send "$W/ngo.hots/referral-2.json" --to cac.chiangmai --wait=30) ||
    die "the NGO's referral after rotation was not accepted: $OUT"
MSG2=$(jq -r .msg_id <<<"$OUT")
wait_for 30 has_msg cac.chiangmai "$MSG2" || die "the CAC did not receive the second referral: $OUT"
M=$(n cac.chiangmai inbox show "$MSG2") || die "the CAC cannot open the second referral: $M"
jq -e '.sender == "ngo.hots" and .sender_epoch == 2 and (.referral.summary | startswith("ติดตามผล"))' \
    <<<"$M" >/dev/null || die "the second referral is not from ngo.hots epoch 2 or does not open: $M"
ok "a new referral signed with epoch 2 reached the CAC and opened"
T1=$(n ngo.hots thread show "$THREAD") || die "the NGO lost its first thread: $T1"
ANS=$(jq -r '.thread.events[] | select(.from == "cac.chiangmai" and .status == "accepted") | .msg_id' <<<"$T1" | head -1)
M=$(n ngo.hots inbox show "$ANS") || die "the NGO cannot open the CAC's earlier answer: $M"
jq -e '.status.status == "accepted"' <<<"$M" >/dev/null || die "the CAC's earlier answer does not open: $M"
ok "the NGO's earlier thread and answers are all still there after the restart"

# --- 8. revocation -----------------------------------------------------------------------------------
step "A welfare officer's laptop is stolen: the administrator revokes that key at once"
k revoke welfare.cm --reason "stolen laptop, reported by the office director" >/dev/null ||
    die "refbus-keys revoke failed"
k sign --out "$W/admin/directory.signed" >/dev/null || die "refbus-keys sign failed"
publish 3
ok "welfare.cm epoch 1 revoked, directory serial 3 signed and published to the running broker"
jq -n '{case_ref: "WCM-2025-0042", type: "abuse", urgency: "routine",
  child: {pseudonym: "Nok", age_band: "6-9"}, summary: "ส่งต่อเพื่อการตรวจร่างกาย (referral for a medical check)",
  services: ["medical"], consent: {basis: "parent", given_by: "mother"}}' >"$W/welfare.cm/referral.json"
rc=0
OUT=$(n welfare.cm send "$W/welfare.cm/referral.json" --to cac.chiangmai --wait=10 2>&1) || rc=$?
[ "$rc" -ne 0 ] || die "a message from the revoked key was accepted: $OUT"
# The node refuses to send once it has the new directory, or the broker refuses the revoked
# key (at the next message, and at the handshake after that): either way the node must say so.
says_revoked() {
    n welfare.cm status | jq -e '.key_state == "revoked" or
        (.broker.last_error.message // "" | test("revoked"; "i"))' >/dev/null
}
wait_for 20 says_revoked || die "the welfare office's node does not report the revocation: $(n welfare.cm status)"
ST=$(n welfare.cm status)
why=$(jq -r '[.revoked_reason, .broker.last_error.message] | map(select(. != null and . != "")) | first // "revoked"' <<<"$ST")
ok "the welfare office's next message is refused, and its node says why: $why"
from_welfare=$(n cac.chiangmai inbox list | jq '[.items[] | select(.sender == "welfare.cm")] | length')
[ "$from_welfare" = 0 ] || die "the CAC received something from the revoked key"
ok "nothing from the revoked key reached the CAC"

# --- 9. the auditor -----------------------------------------------------------------------------------
step "The auditor copies the running broker's trail, verifies it and replays the case"
OUT=$(as broker "$BROKER" checkpoint -a "$ADMIN_EP") || die "refbus-broker checkpoint failed: $OUT"
mkdir -p "$W/auditor/trail"
as broker mdb_copy -c "$W/broker" "$W/auditor/trail" || die "mdb_copy of the running broker failed"
(cd "$W/auditor/trail" && sha256sum data.mdb >data.mdb.sha256)
ok "the operator had a checkpoint signed and took a consistent copy with mdb_copy while the broker runs (auditor/trail, sha256 recorded)"
# What the auditor trusts: the root public key (from the administrator, out of band) and the
# signed directory it checks, which names the broker's signing keys.
cp "$W/admin/directory.signed" "$W/auditor/directory.signed"
PIN=(--directory "$W/auditor/directory.signed" --root-pk "$ROOT_PK")
aud() { as auditor "$AUDIT" "$@" 2>>"$W/auditor/auditor.log"; }
OUT=$(aud verify "$W/auditor/trail" "${PIN[@]}" --json --no-progress) ||
    die "refbus-audit verify failed: $OUT"
jq -e '.ok == true and .records > 10 and .checkpoints >= 1' <<<"$OUT" >/dev/null ||
    die "the trail does not verify: $OUT"
ok "intact: $(jq -r .records <<<"$OUT") records, $(jq -r .checkpoints <<<"$OUT") checkpoints, signed by broker.cm's key as named in the root-signed directory"
EV=$(aud replay "$W/auditor/trail" --msg "$MSG1" --format jsonl) || die "refbus-audit replay failed: $EV"
jq -se 'any(.[]; .event == "ACCEPTED" and .sender == "ngo.hots")' <<<"$EV" >/dev/null ||
    die "the trail has no ACCEPTED record for the referral"
for r in cac.chiangmai police.ticac; do
    idx=$(jq -s --arg r "$r" '[.[] | select(.event == "DELIVERED" and .receipt_body.signer == $r)][0].index // empty' <<<"$EV")
    [ -n "$idx" ] || die "the trail has no DELIVERED record signed by $r for the referral"
    [ "$r" = cac.chiangmai ] && PROVE=$idx
done
ok "the referral's life: ACCEPTED from ngo.hots, DELIVERED with receipts signed by cac.chiangmai and police.ticac"
say "${D}timeline of the case (referral and answers), as refbus-audit replay prints it:${N}"
for m in $(jq -r '.thread.events[].msg_id' <<<"$T1"); do
    aud replay "$W/auditor/trail" --msg "$m" | sed 's/^/      /'
done
n_dir=$(aud replay "$W/auditor/trail" --event DIRECTORY_INSTALLED --format jsonl | jq -s 'map(.directory_serial) | max')
[ "$n_dir" = 3 ] || die "the trail does not record directory 3 being installed"
ok "the rotation and the revocation are in the trail (directory serials installed up to 3)"
REV=$(aud replay "$W/auditor/trail" --agency welfare.cm --format jsonl |
    jq -s '[.[] | select(.event == "PEER_REVOKED" or (.event == "REJECTED" and .reason_name == "EREVOKED"))] | length')
[ "${REV:-0}" -ge 1 ] || die "the trail does not record the refusal of welfare.cm's revoked key"
ok "so is the refusal of the stolen laptop's key (welfare.cm, EREVOKED)"
aud prove "$W/auditor/trail" "$PROVE" -o "$W/auditor/record-$PROVE.proof" >/dev/null ||
    die "refbus-audit prove failed"
OUT=$(aud check-proof "$W/auditor/record-$PROVE.proof" "${PIN[@]}") ||
    die "the inclusion proof does not check: $OUT"
ok "record $PROVE (the CAC's signed DELIVERED receipt) proven included: auditor/record-$PROVE.proof checks without the log"
cp "$W/auditor/record-$PROVE.proof" "$W/auditor/tampered.proof"
size=$(stat -c %s "$W/auditor/tampered.proof")
off=$((size / 2))
byte=$(od -An -tu1 -j "$off" -N1 "$W/auditor/tampered.proof" | tr -d ' ')
printf "\\x$(printf %02x $((byte ^ 1)))" | dd of="$W/auditor/tampered.proof" bs=1 seek="$off" conv=notrunc status=none
if aud check-proof "$W/auditor/tampered.proof" "${PIN[@]}" >/dev/null 2>&1; then
    die "a proof with one bit changed still checks"
fi
ok "the same proof with one bit changed is refused"

# --- 10. shutdown -------------------------------------------------------------------------------------
step "Everyone stops; the trail on disk is checked once more"
for p in "${AGENCIES[@]}" broker; do stopped_cleanly "$p"; done
ok "the four nodes and the broker stopped cleanly on SIGTERM (exit 0)"
OUT=$(aud verify "$W/broker" "${PIN[@]}" --json --no-progress) || die "refbus-audit verify $W/broker failed: $OUT"
ok "refbus-audit verify $W/broker: intact, $(jq -r .records <<<"$OUT") records"
printf '\n%sAll %d steps checked in %d s.%s Everything is in %s:\n' "$B" "$STEP" "$(($(date +%s) - T0))" "$N" "$W"
say "admin/ (root key, bundles, signed directories)  broker/ (LMDB data, log)  auditor/ (trail copy, proof)"
say "${AGENCIES[*]/%//} (each node's config, bundle, encrypted store, log)"
say "Try: $AUDIT replay $W/broker --group"
