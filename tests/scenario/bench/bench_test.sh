#!/usr/bin/env bash
# refbus-bench works end to end: tiny runs through a real broker and real refbus-node daemons
# (one sender, window 4, with --limits and, when redis-server is here, --compare redis; then two
# senders to two recipients) end with a summary line that parses, in which every referral is
# accepted and delivered exactly once and flushes were counted; impossible options exit 2 with
# a message; a missing program exits 1; nothing is left running or on disk. No timing is checked.
set -uo pipefail
BIN=${REFBUS_BIN_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/build/bin}
B=$BIN/refbus-bench
[ -x "$B" ] || { echo "FAIL: $B is not built" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-bench-test.XXXXXX")
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T/tmp # the benchmark's own temporary directory goes here: checked empty below
mkdir -p "$TMPDIR"
fail() {
    echo "FAIL: $*" >&2
    [ -f "$T/out" ] && tail -n 20 "$T/out" >&2
    exit 1
}

# val KEY: the value of KEY in the summary line (the last line of $T/out).
val() { tail -n 1 "$T/out" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
need() { # need KEY VALUE
    [ "$(val "$1")" = "$2" ] || fail "summary: $1=$(val "$1"), expected $2"
}
positive() { # positive KEY: a number above zero
    awk -v v="$(val "$1")" 'BEGIN { exit !(v + 0 > 0) }' || fail "summary: $1=$(val "$1") is not > 0"
}
parses() { # every field of the last line is key=value, keys unique
    tail -n 1 "$T/out" | tr ' ' '\n' | awk -F= '
        NF != 2 || $1 !~ /^[a-z0-9_]+$/ || $2 == "" { bad = 1 }
        seen[$1]++ > 0 { bad = 1 }
        END { exit bad }' || fail "the summary line does not parse as key=value"
}

args=(-n 50 -w 4 --limits)
redis=0
if ! command -v redis-server >/dev/null; then
    echo "redis-server not installed: no Redis comparison"
elif "$B" --help | grep -q 'built without hiredis'; then
    echo "refbus-bench built without hiredis: no Redis comparison"
else
    args+=(--compare redis)
    redis=1
fi
echo "--- one sender, window 4: refbus-bench ${args[*]}"
timeout 240 "$B" "${args[@]}" >"$T/out" 2>&1 || fail "refbus-bench ${args[*]} exited $?"
parses
need bench refbus
need messages 50
need window 4
need accepted 50
need delivered 50
need refused 0
need result ok
positive accepted_per_s
positive delivered_per_s
positive accept_p50_ms
positive deliver_max_ms
positive rss_kb_broker
positive rss_kb_sender
positive ceiling_per_s
if [ -e "$BIN/librefbus_bench_sync.so" ]; then
    # every referral costs the sending node at least one synced commit (its outbox)
    awk -v v="$(val fsyncs_senders)" 'BEGIN { exit !(v >= 1) }' ||
        fail "fsyncs_senders=$(val fsyncs_senders): the sync shim counted nothing"
    positive fsyncs_broker
fi
if [ "$redis" = 1 ]; then
    need redis_acked 50
    need redis_delivered 50
    positive redis_acked_per_s
    positive ratio_accepted
    [ -e "$BIN/librefbus_bench_sync.so" ] && positive redis_fsyncs
fi
grep -q '^limits: per referral as built: 3 signatures, 5 verifications, 3 X25519' "$T/out" ||
    fail "--limits did not state the counts per referral"

echo "--- two senders to two recipients, window 2"
timeout 240 "$B" -n 20 -S 2 -R 2 -w 2 >"$T/out" 2>&1 || fail "refbus-bench -S 2 -R 2 exited $?"
parses
need senders 2
need recipients 2
need accepted 20
need delivered 20
need result ok

echo "--- SIGTERM in the middle of a run: exit 1, a summary saying so, daemons stopped"
"$B" -n 1000000 -w 1 >"$T/out" 2>&1 &
bpid=$!
for _ in $(seq 1 300); do # until the sending node's daemon runs (30 s)
    pgrep -f "$TMPDIR/refbus-bench.*/bench.s1/node.conf" >/dev/null && break
    sleep 0.1
done
sleep 1
kill -TERM "$bpid"
st=0
for _ in $(seq 1 300); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$bpid" 2>/dev/null && { kill -KILL "$bpid"; fail "refbus-bench ignored SIGTERM for 30 s"; }
wait "$bpid" || st=$?
[ "$st" = 1 ] || fail "refbus-bench exited $st after SIGTERM, expected 1"
grep -q 'refbus: interrupted' "$T/out" || fail "no message saying the run was interrupted"
need result fail

echo "--- impossible options: exit 2 and a message naming the option"
usage() { # usage EXPECTED_TEXT ARGS...
    local want=$1 st
    shift
    "$B" "$@" >"$T/out" 2>&1
    st=$?
    [ "$st" = 2 ] || fail "refbus-bench $* exited $st, expected 2"
    grep -q -- "$want" "$T/out" || fail "refbus-bench $*: no message naming $want"
}
usage --window --window 0
usage --window --window 1001
usage --messages --messages -5
usage --size --size 20000
usage --compare --compare kafka
usage --callers --window 2 --callers 3
usage --senders --senders 33
usage "unexpected argument" extra
"$B" --help >"$T/out" 2>&1 || fail "--help exited $?"
grep -q '^usage: refbus-bench' "$T/out" || fail "--help printed no usage"

echo "--- a missing program: exit 1, nothing left behind"
mkdir -p "$T/empty"
"$B" -n 1 --bin-dir "$T/empty" >"$T/out" 2>&1
st=$?
[ "$st" = 1 ] || fail "refbus-bench --bin-dir EMPTY exited $st, expected 1"
grep -q 'refbus-keys: not found' "$T/out" || fail "no message naming the missing program"

[ -z "$(ls -A "$TMPDIR")" ] || fail "refbus-bench left files in its temporary directory: $(ls "$TMPDIR")"
if pgrep -f "$T/tmp" >/dev/null; then
    fail "refbus-bench left processes running: $(pgrep -af "$T/tmp")"
fi
echo "PASS"
