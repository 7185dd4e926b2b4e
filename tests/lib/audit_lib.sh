# Shared by the audit scenario scripts (sourced, not a test): paths, a scratch directory removed
# on exit, and `expect_bad DIR PROBLEM INDEX` for refbus-audit verify --json.
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BIN=${REFBUS_BIN_DIR:-$SRC/build/bin}
AUDIT=$BIN/refbus-audit
GEN=$BIN/../tests/audit_gen
NAME=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-$NAME.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "$NAME: FAIL: $*" >&2; exit 1; }
[ -x "$AUDIT" ] || fail "no $AUDIT (build first)"
[ -x "$GEN" ] || fail "no $GEN (build first)"
PK=$("$GEN" pk)

# Copy trail $1 to a fresh directory with mdb_copy (a consistent snapshot); prints its path.
copy_trail() {
    local d
    d=$(mktemp -d "$T/copy.XXXXXX")
    mdb_copy "$1" "$d" || fail "mdb_copy $1"
    echo "$d"
}

# refbus-audit verify must exit 1 and name PROBLEM at INDEX.
expect_bad() {
    local dir=$1 problem=$2 index=$3 out rc
    out=$("$AUDIT" verify "$dir" --broker-pk "$PK" --json 2>/dev/null)
    rc=$?
    [ "$rc" -eq 1 ] || fail "verify of $dir ($problem at $index) exited $rc: $out"
    [ "$(jq -r .problem <<<"$out")" = "$problem" ] && [ "$(jq -r .index <<<"$out")" = "$index" ] ||
        fail "expected $problem at $index, got: $out"
    echo "$NAME: ok: $problem at $index: $(jq -r .detail <<<"$out")"
}
