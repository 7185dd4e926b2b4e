#!/usr/bin/env bash
# Intent: deploy/demo.sh plays the whole referral story and exits 0 only when every step held;
# afterwards no process it started is left and `refbus-audit verify WORKDIR/broker` passes.
# The broken case: a demo run whose checks cannot hold (an agency's bundle swapped for another
# agency's) must exit non-zero and still leave no process behind.
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
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
bash "$SRC/deploy/demo.sh" "$W" >"$T/demo.out" 2>&1
rc=$?
cat "$T/demo.out"
[ "$rc" -eq 0 ] || fail "deploy/demo.sh exited $rc"
echo "demo_test: demo took $(($(date +%s) - start)) s"
! leftover "$W" || { pgrep -af -- "$W"; fail "processes of the demo are still running"; }
for d in admin broker auditor cac.chiangmai police.ticac welfare.cm ngo.hots; do
    [ -d "$W/$d" ] || fail "no folder $d/ in the work directory"
done
[ -f "$W/broker/data.mdb" ] || fail "no broker data in $W/broker"
"$REFBUS_BIN_DIR/refbus-audit" verify "$W/broker" || fail "refbus-audit verify $W/broker failed"
# Every step printed a check mark; none printed a cross.
grep -q '✗' "$T/demo.out" && fail "the demo printed a failed check"
n=$(grep -c '✓' "$T/demo.out")
[ "$n" -ge 15 ] || fail "only $n checks passed; the story is incomplete"

# 2. A non-empty work directory is refused (it would mix two networks).
bash "$SRC/deploy/demo.sh" "$W" >/dev/null 2>&1 && fail "demo.sh accepted a non-empty WORKDIR"

# 3. The broken case: the demo's checks must be real. REFBUS_DEMO_WRAP runs each party's
# commands; this wrapper hands the CAC the police unit's bundle when its node starts, so the
# CAC cannot open what is sealed to it and the story cannot complete.
cat >"$T/swap.sh" <<'WRAP'
#!/usr/bin/env bash
party=$1; shift
if [ "$party" = cac.chiangmai ] && [ -f "$DEMO_W/police.ticac/bundle" ]; then
    cp -f "$DEMO_W/police.ticac/bundle" "$DEMO_W/cac.chiangmai/bundle"
    cp -f "$DEMO_W/police.ticac/passphrase" "$DEMO_W/cac.chiangmai/passphrase"
fi
exec "$@"
WRAP
chmod +x "$T/swap.sh"
W2=$T/broken
DEMO_W=$W2 REFBUS_DEMO_WRAP=$T/swap.sh timeout 280 bash "$SRC/deploy/demo.sh" "$W2" \
    >"$T/broken.out" 2>&1
rc=$?
[ "$rc" -ne 0 ] || { cat "$T/broken.out"; fail "the demo exited 0 with the CAC holding the wrong keys"; }
grep -q '✗' "$T/broken.out" || { cat "$T/broken.out"; fail "the broken demo did not say which check failed"; }
! leftover "$W2" || { pgrep -af -- "$W2"; fail "the failed demo left processes running"; }
echo "demo_test: the broken run failed as it must (exit $rc): $(grep '✗' "$T/broken.out" | head -1)"
echo "demo_test: PASS"
