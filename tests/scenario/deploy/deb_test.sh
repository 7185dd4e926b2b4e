#!/usr/bin/env bash
# Intent: `cpack -G DEB` makes a package that lintian passes without an error or a warning we did
# not accept (deploy/debian/lintian-accepted), that installs on this machine (the refbus user,
# directories with their modes, conffiles, the node client library), whose programs run and
# whose shipped broker.conf starts a store, and that `dpkg -r` then `dpkg -P`
# remove without a trace — except a store, which purge never deletes.
# Runs as root (CI). It never touches what it did not make: it refuses (skip, 77) when a refbus
# package, a refbus file or the refbus directories are already on the machine, and removes the
# refbus user again if it created it. Skipped also without root or a needed tool (all of them
# come with deploy/install-deps.sh).
set -uo pipefail
SRC=${REFBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
BIN=${REFBUS_BIN_DIR:-$SRC/build/bin}
BUILD=$(cd "$BIN/.." && pwd)
PROGRAMS=(refbus-broker refbus-node refbus-keys refbus-audit)
skip() { echo "SKIP: $*"; exit 77; }
step() { echo "--- $(date +%T) $*"; }

[ "$(id -u)" = 0 ] || skip "needs root to dpkg -i (CI runs it as root)"
for t in cpack dpkg dpkg-deb dpkg-shlibdeps lintian gzip systemd-sysusers systemd-tmpfiles runuser; do
    command -v "$t" >/dev/null || skip "$t is not installed (deploy/install-deps.sh installs it)"
done
[ -f "$BUILD/CPackConfig.cmake" ] || { echo "FAIL: no $BUILD/CPackConfig.cmake" >&2; exit 1; }
if st=$(dpkg-query -W -f='${Status} ${Version}' refbus 2>/dev/null) &&
    [ "${st#*not-installed}" = "$st" ]; then
    skip "a refbus package is already on this machine ($st): this test installs and purges its own"
fi
for d in /etc/refbus /var/lib/refbus; do
    [ -e "$d" ] && skip "$d exists: this test would install over it and purge it"
done
had_user=0
getent passwd refbus >/dev/null && had_user=1

T=$(mktemp -d "${TMPDIR:-/tmp}/refbus-deb.XXXXXX")
installed=0
cleanup() {
    if [ "$installed" = 1 ]; then
        dpkg -P refbus >/dev/null 2>&1
        rm -rf /etc/refbus /var/lib/refbus # absent before the test (checked above)
    fi
    if [ "$had_user" = 0 ] && getent passwd refbus >/dev/null; then
        userdel refbus 2>/dev/null
        getent group refbus >/dev/null && groupdel refbus 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

step "cpack -G DEB (from the build already made)"
timeout 300 cpack --config "$BUILD/CPackConfig.cmake" -G DEB -B "$T/pkg" >"$T/cpack.log" 2>&1 ||
    { cat "$T/cpack.log" >&2; fail "cpack"; }
DEB=$(ls "$T"/pkg/refbus_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || fail "cpack made no refbus_*.deb"
VERSION=$("$BIN/refbus-broker" --version | awk '{print $2}')
[ "$(dpkg-deb -f "$DEB" Package)" = refbus ] || fail "package name"
[ "$(dpkg-deb -f "$DEB" Version)" = "$VERSION" ] ||
    fail "package version $(dpkg-deb -f "$DEB" Version) is not the programs' $VERSION"
head -1 "$SRC/deploy/debian/changelog" | grep -q "^refbus ($VERSION) " ||
    fail "deploy/debian/changelog does not start with version $VERSION"
depends=$(dpkg-deb -f "$DEB" Depends)
for lib in libc6 libsodium23 libzmq5 liblmdb0 libprotobuf-c1 libjansson4 libinih1 libsystemd0 systemd; do
    echo "$depends" | grep -q -E "(^|, )$lib( |,|$)" || fail "Depends lacks $lib: $depends"
done
dpkg-deb -c "$DEB" | awk '{print $6}' | sed 's#^\./#/#' >"$T/files"
for f in "${PROGRAMS[@]/#//usr/bin/}" /usr/share/doc/refbus/LICENSE /usr/share/doc/refbus/copyright \
    /usr/share/doc/refbus/changelog.gz /usr/share/doc/refbus/ADMIN-GUIDE.md \
    /usr/share/doc/refbus/README.md /usr/share/doc/refbus/examples/node.conf \
    /usr/include/refbus/refbus_node.h /usr/lib/refbus/librefbus_node_client.a \
    /lib/systemd/system/refbus-broker.service /lib/systemd/system/refbus-node@.service \
    /usr/lib/sysusers.d/refbus.conf /usr/lib/tmpfiles.d/refbus.conf \
    /etc/refbus/broker.conf /etc/refbus/node/example.conf; do
    grep -qx "$f" "$T/files" || fail "the package lacks $f"
done
for p in "${PROGRAMS[@]}"; do
    grep -qx "/usr/share/man/man1/$p.1.gz" "$T/files" || fail "the package lacks the man page of $p"
done
dpkg-deb -e "$DEB" "$T/control"
[ "$(sort "$T/control/conffiles")" = "$(printf '/etc/refbus/broker.conf\n/etc/refbus/node/example.conf')" ] ||
    fail "conffiles: $(cat "$T/control/conffiles")"
while read -r f; do
    case "$f" in */) continue ;; esac
    [ -e "$f" ] && skip "$f is already on this machine (not from a package): the test would replace it"
done <"$T/files"

step "lintian: no error, no warning but those accepted in deploy/debian/lintian-accepted"
timeout 300 lintian --display-info "$DEB" >"$T/lintian.log" 2>&1
grep -v '^running with root privileges' "$T/lintian.log"
grep -q -E '^E: ' "$T/lintian.log" && fail "lintian reports errors (above)"
grep -v '^#' "$SRC/deploy/debian/lintian-accepted" | awk 'NF { print $1 }' >"$T/accepted"
grep -E '^W: ' "$T/lintian.log" | awk '{ print $3 }' | sort -u >"$T/warned"
unaccepted=$(grep -v -x -F -f "$T/accepted" "$T/warned")
[ -z "$unaccepted" ] || fail "lintian warnings not accepted in deploy/debian/lintian-accepted: $unaccepted"
# (info tags are listed and accepted in docs/ADMIN-GUIDE.md "Debian package")

step "dpkg -i: user, directories and modes, programs, conffiles"
installed=1
timeout 120 dpkg -i "$DEB" >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; fail "dpkg -i"; }
for p in "${PROGRAMS[@]}"; do
    out=$("/usr/bin/$p" --version) || fail "/usr/bin/$p --version failed"
    [ "$out" = "$p $VERSION" ] || fail "/usr/bin/$p --version says '$out'"
done
IFS=: read -r _ _ _ _ _ home shell < <(getent passwd refbus) || fail "no refbus user"
[ "$home" = /var/lib/refbus ] && [ "$shell" = /usr/sbin/nologin ] ||
    fail "refbus user: home $home, shell $shell"
mode_is() { [ "$(stat -c '%a %U %G' "$1")" = "$2" ] || fail "$1 is $(stat -c '%a %U %G' "$1"), not $2"; }
mode_is /etc/refbus "755 root root"
mode_is /etc/refbus/broker "700 root root"
mode_is /etc/refbus/node "755 root root"
mode_is /var/lib/refbus "755 root root"
mode_is /var/lib/refbus/broker "700 refbus refbus"
if command -v pkg-config >/dev/null; then
    pkg-config --libs refbus-node | grep -q -- '-lrefbus_node_client' ||
        fail "pkg-config does not find the installed refbus-node client library"
fi
dpkg-query -W -f='${Conffiles}\n' refbus | grep -q '/etc/refbus/broker.conf ' ||
    fail "dpkg does not know /etc/refbus/broker.conf as a conffile"
# The shipped config is the one the unit uses: it must make a store as the service user.
runuser -u refbus -- /usr/bin/refbus-broker init -c /etc/refbus/broker.conf >"$T/init.log" 2>&1 ||
    { cat "$T/init.log" >&2; fail "refbus-broker init with the shipped broker.conf"; }
[ -s /var/lib/refbus/broker/data.mdb ] || fail "init made no store in /var/lib/refbus/broker"

step "dpkg -r keeps the conffiles; dpkg -P removes everything but the store"
echo "# changed by the administrator" >>/etc/refbus/broker.conf
timeout 120 dpkg -r refbus >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; fail "dpkg -r"; }
for p in "${PROGRAMS[@]}"; do [ -e "/usr/bin/$p" ] && fail "/usr/bin/$p is left after dpkg -r"; done
grep -q 'changed by the administrator' /etc/refbus/broker.conf ||
    fail "dpkg -r did not keep the changed conffile"
timeout 120 dpkg -P refbus >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; fail "dpkg -P"; }
dpkg-query -W refbus >/dev/null 2>&1 && fail "dpkg still knows refbus after purge"
while read -r f; do
    case "$f" in */) continue ;; esac
    [ -e "$f" ] && fail "$f is left after purge"
done <"$T/files"
for d in /etc/refbus /var/lib/refbus/node; do [ -e "$d" ] && fail "$d is left after purge"; done
[ -s /var/lib/refbus/broker/data.mdb ] || fail "purge deleted a store"
rm -rf /var/lib/refbus
installed=0
echo "PASS: the Debian package builds, passes lintian, installs, runs, removes and purges cleanly"
