#!/usr/bin/env bash
# Intent: the four installed programs read the same way (STYLE.md rules 9, 15 and 16): --version
# prints the version CMake's project() sets; -h/--help, of the program and of each subcommand,
# prints the help on stdout and exits 0; an unknown command, an unknown option, a missing argument
# or a missing option value exits 2 with exactly one line on stderr naming the problem and the
# help to read; and no production binary holds a crash point (only the -testhooks variants do).
set -uo pipefail

BIN=${REFBUS_BIN_DIR:-$(cd "$(dirname "$0")/../../../build/bin" && pwd)}
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/refbus-programs-cli.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
# nothing from the caller's environment may give a command what the test leaves out
unset REFBUS_ADMIN_DIR REFBUS_NODE_CONFIG REFBUS_PASSPHRASE_FILE REFBUS_BUNDLE_PASSPHRASE_FILE
FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

VERSION=$(sed -nE 's/^project\(refbus VERSION ([0-9][0-9.]*)[ )].*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$VERSION" ] || { echo "FAIL: no project(refbus VERSION ...) in $SRC/CMakeLists.txt"; exit 1; }

# run PROG ARGS...: stdout to $W/out, stderr to $W/err, exit status in RC
run() { "$@" >"$W/out" 2>"$W/err" </dev/null; RC=$?; }

# helps "PROG [CMD]" PROG ARGS...: exit 0, the help on stdout (its first line "usage: PROG ..."
# naming CMD), nothing on stderr
helps() {
    local prog=${1%% *} cmd=${1#* }
    shift
    run "$@"
    [ "$RC" -eq 0 ] || fail "$*: exit $RC, want 0: $(head -3 "$W/err")"
    head -1 "$W/out" | grep -q "^usage: $prog " || fail "$*: stdout does not start 'usage: $prog'"
    [ "$cmd" = "$prog" ] || head -1 "$W/out" | grep -qE "[ []$cmd[] ]" ||
        fail "$*: the help's first line does not name '$cmd': $(head -1 "$W/out")"
    [ ! -s "$W/err" ] || fail "$*: help wrote to stderr: $(head -3 "$W/err")"
}

# misuse HINT PROG ARGS...: exit 2, nothing on stdout, exactly one line on stderr that ends
# with the hint "Try 'HINT --help'."
misuse() {
    local hint=$1
    shift
    run "$@"
    [ "$RC" -eq 2 ] || fail "$*: exit $RC, want 2"
    [ ! -s "$W/out" ] || fail "$*: a usage error wrote to stdout: $(head -3 "$W/out")"
    [ "$(wc -l <"$W/err")" -eq 1 ] || fail "$*: $(wc -l <"$W/err") lines on stderr, want 1: $(cat "$W/err")"
    grep -qF ". Try '$hint --help'." "$W/err" || fail "$*: no hint 'Try '$hint --help'.': $(cat "$W/err")"
}

# program PROG COMMAND...: what every program and each of its commands must do. $TOP: whose
# help an unknown option before any command points to (refbus-broker's is run's: no command is
# run).
program() {
    local p=$1 exe="$BIN/$1" top=${TOP:-$1}
    shift
    [ -x "$exe" ] || { fail "$exe not built"; return; }
    run "$exe" --version
    [ "$RC" -eq 0 ] && [ "$(cat "$W/out")" = "$p $VERSION" ] ||
        fail "$p --version: exit $RC, printed '$(cat "$W/out")', want '$p $VERSION'"
    helps "$p" "$exe" -h
    helps "$p" "$exe" --help
    for c in "$@"; do
        grep -qE "(^|[ [])$c([] ]|$)" "$W/out" || fail "$p --help does not list '$c'"
    done
    misuse "$p" "$exe" no-such-command
    misuse "$top" "$exe" --no-such-option
    for c in "$@"; do
        helps "$p $c" "$exe" "$c" --help
        helps "$p $c" "$exe" "$c" -h
        misuse "$p $c" "$exe" "$c" --no-such-option
        misuse "$p $c" "$exe" "$c" -Z
    done
}

echo "--- refbus-keys"
program refbus-keys init pubkey agency broker rotate revoke policy reanchor sign status show \
    verify inspect passphrase
K="$BIN/refbus-keys"
misuse "refbus-keys" "$K" -d                      # a missing option value, before the command
for c in init pubkey rotate revoke policy reanchor sign status show verify inspect passphrase; do
    misuse "refbus-keys $c" "$K" "$c" --dir   # a missing option value
done
misuse "refbus-keys agency" "$K" -d "$W" agency             # missing: 'add'
misuse "refbus-keys agency" "$K" -d "$W" agency add x.y     # missing: --name, --kind, --out
misuse "refbus-keys broker" "$K" -d "$W" broker add         # missing: ID
misuse "refbus-keys rotate" "$K" -d "$W" rotate             # missing: ID
misuse "refbus-keys revoke" "$K" -d "$W" revoke x.y         # missing: --reason
misuse "refbus-keys policy" "$K" -d "$W" policy allow a     # missing: TO
misuse "refbus-keys verify" "$K" verify                     # missing: FILE
misuse "refbus-keys inspect" "$K" inspect                   # missing: BUNDLE
misuse "refbus-keys init" "$K" init                         # missing: -d (or REFBUS_ADMIN_DIR)
misuse "refbus-keys init" "$K" init extra                   # one argument too many

echo "--- refbus-audit"
program refbus-audit verify replay prove check-proof stats checkpoint
A="$BIN/refbus-audit"
for c in verify replay prove check-proof stats checkpoint; do
    misuse "refbus-audit $c" "$A" "$c"                      # missing: DIR or FILE
done
misuse "refbus-audit verify" "$A" verify "$W" --broker-pk
misuse "refbus-audit replay" "$A" replay "$W" --agency
misuse "refbus-audit prove" "$A" prove "$W" 0 -o
misuse "refbus-audit prove" "$A" prove "$W"                 # missing: INDEX
misuse "refbus-audit check-proof" "$A" check-proof p --broker-pk
misuse "refbus-audit checkpoint" "$A" checkpoint "$W" --at
misuse "refbus-audit stats" "$A" stats "$W" --json=yes      # an option that takes no value

echo "--- refbus-broker"
TOP="refbus-broker run" program refbus-broker init run status publish checkpoint check metrics
B="$BIN/refbus-broker"
for c in init run; do
    misuse "refbus-broker $c" "$B" "$c" -d
    misuse "refbus-broker $c" "$B" "$c" --set               # a missing option value
    misuse "refbus-broker $c" "$B" "$c" extra
    misuse "refbus-broker $c" "$B" "$c" -o no-equals-sign
done
for c in status publish checkpoint; do
    misuse "refbus-broker $c" "$B" "$c" -a                  # a missing option value
    misuse "refbus-broker $c" "$B" "$c"                     # missing: where the broker is
    misuse "refbus-broker $c" "$B" "$c" -b tcp://x:1        # an option of run, not of $c
done
misuse "refbus-broker publish" "$B" publish -a ipc://"$W"/admin.sock   # missing: the file
misuse "refbus-broker run" "$B" -d                          # no command is run
misuse "refbus-broker run" "$B" --no-such-option

echo "--- refbus-node"
program refbus-node init run send inbox reply thread outbox status check metrics
N="$BIN/refbus-node"
misuse "refbus-node" "$N" -d                                # a missing option value
for c in init run send inbox reply thread outbox status; do
    misuse "refbus-node $c" "$N" "$c" --data-dir            # a missing option value
done
misuse "refbus-node send" "$N" send referral.json           # missing: --to
misuse "refbus-node send" "$N" send --to                    # a missing option value
misuse "refbus-node send" "$N" send a.json b.json --to x    # one FILE at most
misuse "refbus-node send" "$N" send --to x --wait=soon
misuse "refbus-node reply" "$N" reply                       # missing: MSGID
misuse "refbus-node reply" "$N" reply 00ff                  # missing: --status
misuse "refbus-node reply" "$N" reply 00ff --status note --text a --text-file b
misuse "refbus-node inbox" "$N" inbox show                  # missing: ID
misuse "refbus-node inbox" "$N" inbox list --limit 0
misuse "refbus-node thread" "$N" thread                     # missing: show
misuse "refbus-node thread" "$N" thread show                # missing: THREAD_ID
misuse "refbus-node outbox" "$N" outbox 00ff --after 3      # paging is for the list
misuse "refbus-node status" "$N" status --to x              # an option of send, not of status
misuse "refbus-node run" "$N" run --limit 3                 # an option of inbox, not of run
misuse "refbus-node status" "$N" --timeout 0 status         # a bad value before the command
misuse "refbus-node status" "$N" --to x status              # an option of send, before status

echo "--- crash points: compiled into the test variants only"
# Every crash point the sources name (read from the environment by a -testhooks variant).
NAMES=$(grep -rhoE '"REFBUS_[A-Z_]*CRASH[A-Z_]*"' "$SRC"/common "$SRC"/proto "$SRC"/keys \
    "$SRC"/audit "$SRC"/broker "$SRC"/nodes 2>/dev/null | tr -d '"' | sort -u)
[ -n "$NAMES" ] || fail "no crash point found in the sources: is this test still looking right?"
for p in refbus-keys refbus-audit refbus-broker refbus-node; do
    exe="$BIN/$p"
    [ -x "$exe" ] || continue
    for n in $NAMES REFBUS_FAULT_; do
        ! grep -qaF "$n" "$exe" || fail "$p (installed) holds '$n'"
    done
    if command -v nm >/dev/null; then
        ! nm "$exe" 2>/dev/null | grep -qiE 'crash_point|test_hook' ||
            fail "$p (installed) defines a crash point: $(nm "$exe" | grep -iE 'crash_point|test_hook')"
    fi
done
# The same check finds them where they belong (so that it would find them anywhere).
if [ -x "$BIN/refbus-node-testhooks" ]; then
    for n in $NAMES; do
        grep -qaF "$n" "$BIN/refbus-node-testhooks" || fail "refbus-node-testhooks lacks '$n'"
    done
    run "$BIN/refbus-node-testhooks" --version
    [ "$RC" -eq 0 ] && grep -qF "$VERSION" "$W/out" || fail "refbus-node-testhooks --version"
else
    echo "note: REFBUS_TEST_HOOKS=OFF: no -testhooks variant to compare with"
fi

[ "$FAILS" -eq 0 ] || { echo "programs_cli: $FAILS failures" >&2; exit 1; }
echo "programs_cli: all checks passed"
