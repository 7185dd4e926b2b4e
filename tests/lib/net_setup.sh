#!/usr/bin/env bash
# Create a test network's keys with refbus-keys: a root key, a broker, four agencies (a CAC, a
# police unit, a welfare office, an NGO), a routing policy, a signed directory.
#   net_setup.sh WORKDIR     (needs REFBUS_BIN_DIR or build/bin)
# Leaves WORKDIR/admin (administrator state), WORKDIR/keys/<id>.bundle, WORKDIR/pass (one test
# passphrase for every keystore), WORKDIR/directory.bin, WORKDIR/root.pk (hex).
set -euo pipefail
W=$1
BIN=${REFBUS_BIN_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build/bin}
K="$BIN/refbus-keys"
mkdir -p "$W/keys"
chmod 700 "$W" "$W/keys"
umask 077
printf 'test passphrase, not for production\n' > "$W/pass"
export REFBUS_PASSPHRASE_FILE="$W/pass" REFBUS_KDF_LIMIT=min
A=(-d "$W/admin")
"$K" "${A[@]}" init >/dev/null
"$K" "${A[@]}" pubkey > "$W/root.pk"
"$K" "${A[@]}" broker add broker.cm --out "$W/keys/broker.cm.bundle" \
    --bundle-passphrase-file "$W/pass" >/dev/null
add() { "$K" "${A[@]}" agency add "$1" --name "$2" --kind "$3" --out "$W/keys/$1.bundle" \
    --bundle-passphrase-file "$W/pass" >/dev/null; }
add cac.chiangmai "ศูนย์ช่วยเหลือเด็ก เชียงใหม่ (Chiang Mai Children Advocacy Center)" cac
add police.ticac "Thailand Internet Crimes Against Children Task Force" police
add welfare.cm "Chiang Mai Provincial Child Welfare Office" welfare
add ngo.hots "Heart of the Street" ngo
allow() { "$K" "${A[@]}" policy allow "$1" "$2" >/dev/null; }
allow ngo.hots cac.chiangmai
allow ngo.hots police.ticac
allow ngo.hots welfare.cm
allow cac.chiangmai '*'
allow police.ticac '*'
allow welfare.cm '*'
"$K" "${A[@]}" sign --out "$W/directory.bin" >/dev/null
