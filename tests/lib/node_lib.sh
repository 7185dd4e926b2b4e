#!/usr/bin/env bash
# Helpers for the refbus-node scenario tests (sourced): a temporary network built with
# refbus-keys (root, broker, four agencies, a policy, a signed directory), a real broker and
# real nodes on loopback with free ports, bounded waits, and a trap that stops every process
# this test started (by pid) and removes the temporary directory.
#   source node_lib.sh; nl_init NAME; nl_network; nl_broker_start; nl_node_start cac.chiangmai
set -uo pipefail

NL_SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
NL_BIN=${REFBUS_BIN_DIR:-$NL_SRC/build/bin}
NL_AGENCIES=(cac.chiangmai police.ticac welfare.cm ngo.hots)
declare -A NL_PID=()
NL_BROKER_PID=
NL_T=

nl_fail() {
    echo "FAIL: $*" >&2
    nl_dump_logs
    exit 1
}
nl_step() { echo "--- $(date +%T) $*"; }
# nl_skip WHY: this test cannot run here (ctest counts exit 77 as skipped).
nl_skip() {
    echo "SKIP: $*"
    exit 77
}

nl_dump_logs() {
    [ -n "$NL_T" ] || return 0
    local f
    for f in "$NL_T"/broker/log "$NL_T"/nodes/*/log; do
        [ -f "$f" ] || continue
        echo "===== $f (last 30 lines)" >&2
        tail -n 30 "$f" >&2
    done
}

nl_cleanup() {
    local id pid
    for id in "${!NL_PID[@]}"; do
        pid=${NL_PID[$id]}
        [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    done
    [ -n "$NL_BROKER_PID" ] && kill -KILL "$NL_BROKER_PID" 2>/dev/null
    wait 2>/dev/null
    [ -n "$NL_T" ] && [ -z "${NL_KEEP:-}" ] && rm -rf "$NL_T"
    return 0
}

# nl_init NAME: temp dir, trap, binaries present (the broker must exist: no skipping).
nl_init() {
    for b in refbus-keys refbus-broker refbus-node; do
        [ -x "$NL_BIN/$b" ] || { echo "FAIL: $NL_BIN/$b is not built" >&2; exit 1; }
    done
    NL_T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-$1.XXXXXX")
    chmod 700 "$NL_T"
    trap nl_cleanup EXIT
    trap 'exit 1' INT TERM
    export REFBUS_KDF_LIMIT=min # Argon2id at its minimum: tests only
    unset REFBUS_ADMIN_DIR REFBUS_PASSPHRASE_FILE REFBUS_BUNDLE_PASSPHRASE_FILE
    unset REFBUS_NODE_CRASH_AFTER_STORE REFBUS_NODE_CRASH_BEFORE_SEND
    unset REFBUS_NODE_CRASH_BEFORE_ACCEPTED REFBUS_NODE_CRASH_BEFORE_QUEUE_COMMIT
    unset REFBUS_NODE_CRASH_AFTER_QUEUE_COMMIT REFBUS_NODE_CRASH_AFTER_RECEIPTS_STORE
    unset REFBUS_NODE_TEST_GATHER
}

# nl_wait SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 after SECONDS.
nl_wait() {
    local until=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$until" ] && return 1
        sleep 0.1
    done
    return 0
}

nl_free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

nl_keys() { "$NL_BIN/refbus-keys" -d "$NL_T/admin" --passphrase-file "$NL_T/pass" "$@"; }

# nl_network: admin dir, broker and agency bundles, policy (everyone may answer everyone; the
# NGO may refer to the three others), the signed directory.
nl_network() {
    umask 077
    mkdir -p "$NL_T/keys"
    printf 'test passphrase, not for production\n' >"$NL_T/pass"
    nl_keys init >/dev/null || nl_fail "refbus-keys init"
    NL_PORT=$(nl_free_port) || nl_fail "no free port"
    nl_keys broker add broker.cm --endpoint "tcp://127.0.0.1:$NL_PORT" \
        --out "$NL_T/keys/broker.cm.bundle" --bundle-passphrase-file "$NL_T/pass" >/dev/null ||
        nl_fail "broker add"
    local kinds=(cac police welfare ngo) names=(
        "ศูนย์ช่วยเหลือเด็ก เชียงใหม่" "TICAC" "Chiang Mai Child Welfare" "Heart of the Street")
    for i in 0 1 2 3; do
        nl_keys agency add "${NL_AGENCIES[$i]}" --name "${names[$i]}" --kind "${kinds[$i]}" \
            --out "$NL_T/keys/${NL_AGENCIES[$i]}.bundle" \
            --bundle-passphrase-file "$NL_T/pass" >/dev/null || nl_fail "agency add"
    done
    nl_keys policy allow '*' '*' >/dev/null || nl_fail "policy"
    nl_sign
}

# nl_sign: sign the working directory into $NL_T/directory.bin (prints nothing).
nl_sign() {
    nl_keys sign --out "$NL_T/directory.bin" >/dev/null || nl_fail "refbus-keys sign"
}

# nl_broker_launch: write the config and start the broker in the background, without waiting
# (a fault-injection run may see it exit at once); $NL_BROKER_EXTRA holds extra config lines.
# nl_broker_start also waits until it answers.
nl_broker_launch() {
    mkdir -p "$NL_T/broker"
    cat >"$NL_T/broker.conf" <<CONF
[broker]
data_dir = $NL_T/broker
bind = tcp://127.0.0.1:$NL_PORT
keystore = $NL_T/keys/broker.cm.bundle
passphrase_file = $NL_T/pass
directory = $NL_T/directory.bin
checkpoint_records = 1
checkpoint_seconds = 1
redeliver_seconds = 3
log_level = debug
${NL_BROKER_EXTRA:-}
CONF
    # A store is created only by an explicit init; run never makes one (a restart reuses it).
    [ -e "$NL_T/broker/data.mdb" ] ||
        "$NL_BIN/refbus-broker" init -c "$NL_T/broker.conf" >>"$NL_T/broker/log" 2>&1 ||
        nl_fail "refbus-broker init"
    # NL_BROKER_EXTRA: more config lines; NL_BROKER_PRELOAD / NL_BROKER_ENV: the fault shim and
    # its settings (tests/fault), for this start only when set around the call.
    env ${NL_BROKER_PRELOAD:+LD_PRELOAD="$NL_BROKER_PRELOAD"} ${NL_BROKER_ENV:-} \
        "$NL_BIN/refbus-broker" run -c "$NL_T/broker.conf" >>"$NL_T/broker/log" 2>&1 &
    NL_BROKER_PID=$!
}

nl_broker_start() {
    nl_broker_launch
    nl_wait 20 "$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf" ||
        nl_fail "the broker did not come up"
}

nl_broker_stop() {
    [ -n "$NL_BROKER_PID" ] || return 0
    kill -TERM "$NL_BROKER_PID" 2>/dev/null
    wait "$NL_BROKER_PID" 2>/dev/null
    NL_BROKER_PID=
}

# nl_publish: sign and hand the new directory to the running broker (it pushes it to nodes).
nl_publish() {
    nl_sign
    "$NL_BIN/refbus-broker" publish -c "$NL_T/broker.conf" "$NL_T/directory.bin" >/dev/null ||
        nl_fail "refbus-broker publish"
}

# nl_node_conf ID: the node's config, its own copy of the bundle (the keystore path).
nl_node_conf() {
    local id=$1 d=$NL_T/nodes/$1
    mkdir -p "$d"
    [ -f "$d/keystore" ] || install -m 0600 "$NL_T/keys/$id.bundle" "$d/keystore"
    cat >"$d/node.conf" <<CONF
[node]
agency = $id
keystore = keystore
passphrase_file = $NL_T/pass
directory = $NL_T/directory.bin
broker = tcp://127.0.0.1:$NL_PORT
data_dir = data
ping_seconds = 2
ping_timeout_seconds = 8
reconnect_min_ms = 50
reconnect_max_ms = 1000
resend_seconds = 5
log_level = debug
CONF
}

# nl_node_start ID [VAR=VALUE...]: start the daemon (with extra environment), wait until its
# control socket answers. A crash point (REFBUS_NODE_CRASH_*=1) needs the test variant of the
# program, refbus-node-testhooks: the installed refbus-node has none. NL_NODE_PRELOAD, when
# set, goes into LD_PRELOAD (the fault shim, tests/fault).
nl_node_start() {
    nl_node_launch "$@"
    nl_wait 20 "$NL_BIN/refbus-node" -c "$NL_T/nodes/$1/node.conf" status ||
        nl_fail "node $1 did not start"
}

# nl_node_launch ID [VAR=VALUE...]: start the daemon in the background without waiting (a
# fault-injection run may see it exit at once).
nl_node_launch() {
    local id=$1 d=$NL_T/nodes/$1 bin=refbus-node
    shift
    [ -f "$d/node.conf" ] || nl_node_conf "$id"
    case " $* " in *" REFBUS_NODE_CRASH_"* | *" REFBUS_NODE_TEST_"*) bin=refbus-node-testhooks ;; esac
    [ -x "$NL_BIN/$bin" ] || nl_skip "$bin not built (REFBUS_TEST_HOOKS=OFF)"
    # The first start creates the store explicitly (refbus-node init); later ones reuse it.
    [ -e "$d/data/store/data.mdb" ] ||
        "$NL_BIN/refbus-node" init -c "$d/node.conf" >>"$d/log" 2>&1 || nl_fail "node $id init"
    env ${NL_NODE_PRELOAD:+LD_PRELOAD="$NL_NODE_PRELOAD"} "$@" "$NL_BIN/$bin" run \
        -c "$d/node.conf" >>"$d/log" 2>&1 &
    NL_PID[$id]=$!
}

# nl_node_ready ID: wait until the node has a session with the broker.
nl_node_ready() {
    nl_wait "${2:-20}" nl_json_eq "$1" '.broker.state' ready status ||
        nl_fail "node $1 has no broker session"
}

nl_node_stop() {
    local pid=${NL_PID[$1]:-} st=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || st=$?
    NL_PID[$1]=
    [ "$st" = 0 ] || nl_fail "node $1 exited with status $st on SIGTERM"
}

# nl_finish: stop every node cleanly (SIGTERM) and insist that each exits 0 without a sanitizer
# report (under ASan a leak shows only at a clean exit), then stop the broker.
nl_finish() {
    local id pid st
    for id in "${!NL_PID[@]}"; do
        pid=${NL_PID[$id]}
        [ -n "$pid" ] || continue
        kill -TERM "$pid" 2>/dev/null
        st=0
        wait "$pid" 2>/dev/null || st=$?
        NL_PID[$id]=
        [ "$st" = 0 ] || nl_fail "node $id exited with status $st on SIGTERM"
    done
    for f in "$NL_T"/nodes/*/log; do
        if grep -q -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$f"; then
            nl_fail "sanitizer report in $f"
        fi
    done
    nl_broker_stop
}

nl_node_kill() {
    local pid=${NL_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    NL_PID[$1]=
}

# nl_node_wait_exit ID SECONDS: the node exits by itself (fault injection); 1 on timeout.
nl_node_wait_exit() {
    local pid=${NL_PID[$1]:-} until=$((SECONDS + $2))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$SECONDS" -ge "$until" ] && return 1
        sleep 0.1
    done
    wait "$pid" 2>/dev/null
    NL_PID[$1]=
    return 0
}

# nl_node ID ARGS...: the refbus-node command line against that node (compact JSON).
nl_node() {
    local id=$1
    shift
    "$NL_BIN/refbus-node" -c "$NL_T/nodes/$id/node.conf" --compact "$@"
}

# nl_json_eq ID FILTER VALUE ARGS...: `nl_node ID ARGS | jq -r FILTER` equals VALUE.
nl_json_eq() {
    local id=$1 filter=$2 want=$3 got
    shift 3
    got=$(nl_node "$id" "$@" 2>/dev/null | jq -r "$filter" 2>/dev/null) || return 1
    [ "$got" = "$want" ]
}

# nl_referral CASE_REF [SUMMARY]: a referral JSON (the documented example, case_ref and
# summary replaced).
nl_referral() {
    jq --arg c "$1" --arg s "${2:-Summary for $1}" '.case_ref = $c | .summary = $s' \
        "$NL_SRC/deploy/examples/referral.json"
}

# nl_inbox_count ID CASE_REF: how many referrals with that case_ref are in ID's inbox.
nl_inbox_count() {
    nl_node "$1" inbox list --limit 1000 | jq --arg c "$2" '[.items[] | select(.case_ref == $c)] | length'
}
