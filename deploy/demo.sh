#!/usr/bin/env bash
# refbus in one command: a whole demo network on this machine (root key, broker, four agency
# nodes as separate processes over loopback) plays one referral's life, and every step is
# CHECKED from the programs' JSON output, not just run. Exit 0 only if all checks held.
#   deploy/demo.sh [WORKDIR]      (default: a new temporary directory, printed)
# Environment: REFBUS_BIN_DIR (use these programs, do not build), REFBUS_DEMO_HOST (the
# broker's address, default 127.0.0.1), REFBUS_DEMO_WRAP (a program run as `WRAP PARTY CMD...`
# to run each party's commands elsewhere: tests/scenario/netns_test.sh uses it for namespaces).
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
    echo "demo: building (cmake --build $ROOT/build) ..."
    cmake --build "$ROOT/build" -j "$(nproc)" >/dev/null || {
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
# Stop PARTY's daemon: SIGTERM, then SIGKILL after 10 s.
stop() {
    local party=$1 pid=${PID[$1]:-} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "PID[$party]"
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for p in "${!PID[@]}"; do kill -TERM "${PID[$p]}" 2>/dev/null || true; done
    for p in "${!PID[@]}"; do stop "$p"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "demo: interrupted" >&2; exit 130' INT TERM

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
printf 'demo root passphrase - not for production\n' >"$W/admin/root.pass"
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
start broker "$BROKER" run -d "$W/broker" -b "$ENDPOINT" -a "$ADMIN_EP" -k "$W/broker/bundle" \
    -p "$W/broker/passphrase" -D "$W/broker/directory.signed" -o checkpoint_seconds=1
wait_for 20 bstatus || die "the broker does not answer on its admin socket: $OUT"
jq -e '.broker_id == "broker.cm" and .directory_serial == 1' <<<"$OUT" >/dev/null ||
    die "broker status is not broker.cm at directory serial 1: $OUT"
ok "broker.cm is serving, directory serial 1, audit trail of $(jq -r .audit_size <<<"$OUT") records"

# The node steps follow once refbus-node has landed.
die "unfinished: the agency steps need refbus-node (not yet written)"
