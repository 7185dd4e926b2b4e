#!/usr/bin/env bash
# Intent: deploy/demo.sh plays the whole referral story and exits 0 only when every step held;
# afterwards no process it started is left and `refbus-audit verify WORKDIR/broker` passes.
# The broken case: a run in which one step silently does nothing (the police unit's answer is
# never sent, though its command says ok) must exit non-zero and still leave no process behind.
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
export REFBUS_BIN_DIR=${REFBUS_BIN_DIR:-$SRC/build/bin}
T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-demo-test.XXXXXX")
fail() { echo "demo_test: FAIL: $*" >&2; exit 1; }
leftover() { pgrep -f -- "$1" >/dev/null; }
cleanup() {
    # Only processes whose command line names our temporary directory (ours), by id.
    local pid
    for pid in $(pgrep -f -- "$T"); do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT

# 1. The demo as a newcomer runs it, in a work directory of our choosing.
W=$T/run
start=$(date +%s)
# exactly as the README says it: `deploy/demo.sh` from the checkout (so it needs its run bit)
[ -x "$SRC/deploy/demo.sh" ] || fail "deploy/demo.sh is not executable (git mode 100755 lost?)"
(cd "$SRC" && deploy/demo.sh "$W") >"$T/demo.out" 2>&1
rc=$?
cat "$T/demo.out"
[ "$rc" -eq 0 ] || fail "deploy/demo.sh exited $rc"
echo "demo_test: demo took $(($(date +%s) - start)) s"
! leftover "$W" || { pgrep -af -- "$W"; fail "processes of the demo are still running"; }
for d in admin broker auditor cac.chiangmai police.ticac welfare.cm ngo.hots; do
    [ -d "$W/$d" ] || fail "no folder $d/ in the work directory"
done
[ -f "$W/broker/data.mdb" ] || fail "no broker data in $W/broker"
# Under ASan/UBSan builds: no daemon reported anything.
if grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$W"/*/*.log; then
    fail "a sanitizer report in the logs above"
fi
"$REFBUS_BIN_DIR/refbus-audit" verify "$W/broker" || fail "refbus-audit verify $W/broker failed"
# Every step printed a check mark; none printed a cross.
grep -q '✗' "$T/demo.out" && fail "the demo printed a failed check"
n=$(grep -c '✓' "$T/demo.out")
[ "$n" -ge 25 ] || fail "only $n checks passed; the story is incomplete"
grep -q "^All 10 steps checked" "$T/demo.out" || fail "the demo did not reach its end"

# 2. A non-empty work directory is refused (it would mix two networks).
bash "$SRC/deploy/demo.sh" "$W" >/dev/null 2>&1 && fail "demo.sh accepted a non-empty WORKDIR"

# 3. The broken case: the demo's checks must look at what happened, not at exit codes. Every
# party's command goes through REFBUS_DEMO_WRAP; this one makes the police unit's `reply` claim
# success ({"ok":true}, exit 0) without sending anything, so the NGO never sees its answer.
cat >"$T/liar.sh" <<'WRAP'
#!/usr/bin/env bash
party=$1; shift
if [ "$party" = police.ticac ]; then
    for arg in "$@"; do
        if [ "$arg" = reply ]; then echo '{"ok":true}'; exit 0; fi
    done
fi
exec "$@"
WRAP
chmod +x "$T/liar.sh"
W2=$T/broken
REFBUS_DEMO_WRAP=$T/liar.sh timeout 280 bash "$SRC/deploy/demo.sh" "$W2" \
    >"$T/broken.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || { cat "$T/broken.out"; fail "the demo exited 0 although the police unit never answered"; }
grep -q '✗ the NGO does not see both answers' "$T/broken.out" ||
    { cat "$T/broken.out"; fail "the broken demo did not fail at the missing answer"; }
! leftover "$W2" || { pgrep -af -- "$W2"; fail "the failed demo left processes running"; }
echo "demo_test: the broken run failed as it must (exit $rc): $(grep '✗' "$T/broken.out" | head -1)"

# 4. Ctrl-C in the middle: every process the demo started is stopped. Job control on, so the
# background demo gets SIGINT as it would from a terminal (not ignored as async jobs are).
W3=$T/interrupted
set -m
bash "$SRC/deploy/demo.sh" "$W3" >"$T/int.out" 2>&1 &
dpid=$!
set +m
for _ in $(seq 300); do
    grep -q '^\[4\]' "$T/int.out" 2>/dev/null && break
    sleep 0.2
done
grep -q '^\[4\]' "$T/int.out" || { kill -KILL "$dpid"; cat "$T/int.out"; fail "the demo never reached step 4"; }
pgrep -f -- "$W3/broker" >/dev/null || fail "no broker running before the interrupt: nothing to check"
kill -INT "$dpid"
wait "$dpid"
rc=$?
[ "$rc" -ne 0 ] || fail "an interrupted demo exited 0"
! leftover "$W3" || { pgrep -af -- "$W3"; fail "the interrupted demo left processes running"; }
echo "demo_test: interrupted at step 4, exit $rc, nothing left running"

# 5. Output closed after the broker started (demo.sh | head): SIGPIPE still stops everything.
W4=$T/piped
(set +o pipefail; bash "$SRC/deploy/demo.sh" "$W4" 2>/dev/null | grep -q 'broker.cm is serving') ||
    fail "the piped demo never started its broker"
for _ in $(seq 100); do leftover "$W4" || break; sleep 0.1; done
! leftover "$W4" || { pgrep -af -- "$W4"; fail "a demo whose output was closed left processes running"; }
echo "demo_test: output closed after step 2: nothing left running"
echo "demo_test: PASS"
