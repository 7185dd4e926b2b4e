#!/usr/bin/env bash
# Install every Debian package refbus needs to build, test and run. A quick no-op when all are
# present; a clear message when something is missing and we are not root.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libsodium-dev liblmdb-dev lmdb-utils
  libjansson-dev libinih-dev libcmocka-dev libsystemd-dev
  clang libclang-rt-14-dev clang-format-14 git
  iproute2 procps psmisc jq
  systemd dpkg-dev lintian   # units_test, systemd_test, deb_test (cpack -G DEB, shlibdeps, lintian)
  python3 python3-cryptography python3-zmq python3-argon2 python3-prometheus-client util-linux coreutils bc
  libhiredis-dev redis-server
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "install-deps: not root; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
