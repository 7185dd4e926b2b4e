#!/usr/bin/env bash
# Intent (issue 10, defect 13): after a broker restore done as docs/ADMIN-GUIDE.md section 10
# says, nodes raise an AUDIT ALARM; an administrator's root-signed re-anchor statement
# (`refbus-keys reanchor`, signed, published) makes them take the restored trail's checkpoint
# as their new anchor, clear the alarm, keep the old checkpoint in their history, and accept
# later checkpoints again. A re-anchor for another root hash, or one not signed by the root,
# changes nothing.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init node-reanchor
nl_network
nl_broker_start
A=ngo.hots
nl_node_conf $A
echo "checkpoint_proof_seconds = 4" >>"$NL_T/nodes/$A/node.conf" # proofs asked for every 1 s
for a in $A cac.chiangmai; do nl_node_start "$a"; done
for a in $A cac.chiangmai; do nl_node_ready "$a"; done
ADM="ipc://$NL_T/broker/admin.sock"
st() { nl_node $A status; }
cp_size() { st | jq -r '.checkpoint.size // 0'; }
send() {
    nl_referral "$1" | nl_node $A send - --to cac.chiangmai --wait=20 >/dev/null ||
        nl_fail "send $1"
}

nl_step "traffic, then a backup exactly as ADMIN-GUIDE section 9 says"
send RA-1
send RA-2
"$NL_BIN/refbus-broker" checkpoint -a "$ADM" >/dev/null || nl_fail "refbus-broker checkpoint"
mkdir -p "$NL_T/backup"
mdb_copy -c "$NL_T/broker" "$NL_T/backup" || nl_fail "mdb_copy"
"$NL_BIN/refbus-audit" verify "$NL_T/backup" >/dev/null || nl_fail "the backup does not verify"
backup_size=$("$NL_BIN/refbus-audit" stats "$NL_T/backup" --json | jq -r .records)
send RA-3
send RA-4
grew() { [ "$(cp_size)" -gt "$backup_size" ]; }
nl_wait 20 grew || nl_fail "the node's checkpoint did not grow past the backup ($backup_size)"
held=$(st | jq -c .checkpoint)
held_size=$(jq -r .size <<<"$held")

nl_step "restore exactly as ADMIN-GUIDE section 10 says: every node raises AUDIT ALARM"
nl_broker_stop
mv "$NL_T/broker" "$NL_T/broker.broken"
install -d -m 0700 "$NL_T/broker"
install -m 0600 "$NL_T/backup/data.mdb" "$NL_T/broker/"
"$NL_BIN/refbus-audit" verify "$NL_T/broker" >/dev/null || nl_fail "restored copy does not verify"
nl_broker_start
alarm() { st | jq -e '.checkpoint_alarm != null and .audit_alarm == true' >/dev/null; }
nl_wait 30 alarm || nl_fail "no alarm after the restore: $(st)"
send RA-5
"$NL_BIN/refbus-broker" checkpoint -a "$ADM" >/dev/null || nl_fail "refbus-broker checkpoint"
LAST=$("$NL_BIN/refbus-broker" status -a "$ADM" | jq -c .last_checkpoint)
N=$(jq -r .size <<<"$LAST")
R=$(jq -r .root <<<"$LAST")
[ "$N" -gt 0 ] && [ ${#R} = 64 ] || nl_fail "no last_checkpoint in broker status: $LAST"
[ "$(st | jq -c .checkpoint)" = "$held" ] || nl_fail "the held checkpoint moved: $(st)"

# applied_when SERIAL: the node holds directory SERIAL and has asked for the named checkpoint
# at least twice since (so the broker's answer had time to arrive and be judged).
asked_twice() {
    local s
    s=$(st) || return 1
    [ "$(jq -r .directory.serial <<<"$s")" = "$1" ] &&
        [ "$(jq -r .counters.proof_requests <<<"$s")" -ge $(($2 + 2)) ]
}

nl_step "refbus-keys reanchor refuses what is not a statement (exit 2, nothing recorded)"
for bad in "--size 0 --root $R --reason x" "--size $N --root zz --reason x" \
    "--size $N --root $R" "--size -1 --root $R --reason x"; do
    # shellcheck disable=SC2086
    nl_keys reanchor $bad >/dev/null 2>&1
    [ $? = 2 ] || nl_fail "reanchor $bad was not refused as misuse"
done
nl_keys reanchor --size "$N" --root "$R" --reason $'bell\a' >/dev/null 2>&1 &&
    nl_fail "a reason with a control character was recorded"
nl_keys status --json | jq -e '.reanchor == null' >/dev/null || nl_fail "a refused statement was recorded"

nl_step "a re-anchor for another root hash is signed and published: nothing changes"
WRONG=$(printf '%064x' 12345)
nl_keys reanchor --size "$N" --root "$WRONG" --reason "typo test" >/dev/null ||
    nl_fail "refbus-keys reanchor"
pr=$(st | jq -r .counters.proof_requests)
nl_publish
serial=$("$NL_BIN/refbus-keys" -d "$NL_T/admin" show --json "$NL_T/directory.bin" | jq -r .serial)
nl_wait 30 asked_twice "$serial" "$pr" || nl_fail "the node never asked for checkpoint $N: $(st)"
S=$(st)
[ "$(jq -r .reanchor.pending.root <<<"$S")" = "$WRONG" ] || nl_fail "statement not seen: $S"
[ "$(jq -c .checkpoint <<<"$S")" = "$held" ] || nl_fail "re-anchored to a wrong root: $S"
[ "$(jq -r .audit_alarm <<<"$S")" = true ] || nl_fail "alarm cleared by a wrong root: $S"
[ "$(jq -r .counters.reanchors <<<"$S")" = 0 ] || nl_fail "counted a re-anchor: $S"

nl_step "a re-anchor not signed by the root (forged signature) is refused by the node"
nl_keys reanchor --size "$N" --root "$R" --reason "restored from the backup of today (incident 7)" \
    >/dev/null || nl_fail "reanchor"
# sign beside, not into, the directory file the node watches (it would install it at once)
nl_keys sign --out "$NL_T/directory.good" >/dev/null || nl_fail "refbus-keys sign"
# the signature is the last 64 bytes of a SignedDirectory: make it someone else's
sz=$(stat -c %s "$NL_T/directory.good")
cp "$NL_T/directory.good" "$NL_T/directory.forged"
printf '\x42' | dd of="$NL_T/directory.forged" bs=1 seek=$((sz - 10)) conv=notrunc 2>/dev/null
"$NL_BIN/refbus-broker" publish -c "$NL_T/broker.conf" "$NL_T/directory.forged" >/dev/null 2>&1 &&
    nl_fail "the broker installed a forged directory"
# the node watches its directory file: hand it the forgery there (as a broker could not, but an
# attacker with write access to the node's config directory might)
cp "$NL_T/directory.forged" "$NL_T/directory.bin.new" && mv "$NL_T/directory.bin.new" \
    "$NL_T/directory.bin"
refused() { grep -q "directory file .*: .*signature" "$NL_T/nodes/$A/log"; }
nl_wait 20 refused || nl_fail "the node did not say it refused the forged directory file"
S=$(st)
[ "$(jq -r .directory.serial <<<"$S")" = "$serial" ] || nl_fail "forged directory installed: $S"
[ "$(jq -c .checkpoint <<<"$S")" = "$held" ] || nl_fail "re-anchored by a forgery: $S"

nl_step "the administrators' re-anchor (root-signed, right root): alarm cleared, history kept"
cp "$NL_T/directory.good" "$NL_T/directory.bin"
"$NL_BIN/refbus-broker" publish -c "$NL_T/broker.conf" "$NL_T/directory.bin" >/dev/null ||
    nl_fail "publish the re-anchor"
reanchored() { st | jq -e '.counters.reanchors == 1 and .audit_alarm == false' >/dev/null; }
nl_wait 30 reanchored || nl_fail "the node did not re-anchor: $(st)"
S=$(st)
[ "$(jq -r .checkpoint_alarm <<<"$S")" = null ] || nl_fail "alarm still there: $S"
[ "$(jq -r .reanchor.last.previous.size <<<"$S")" = "$held_size" ] ||
    nl_fail "the old checkpoint is not in the history: $S"
[ "$(jq -r .reanchor.last.anchor.root <<<"$S")" = "$R" ] || nl_fail "anchored elsewhere: $S"
[ "$(jq -r .reanchor.last.previous_alarm.reason <<<"$S")" != null ] ||
    nl_fail "the old alarm is not in the history: $S"
grep -q "AUDIT RE-ANCHOR" "$NL_T/nodes/$A/log" || nl_fail "the re-anchor was not logged"
"$NL_BIN/refbus-audit" replay "$NL_T/broker" --json >"$NL_T/replay" 2>&1; grep -q "re-anchors the nodes" "$NL_T/replay" ||
    nl_fail "the broker's trail does not record the re-anchor: $(tail -3 "$NL_T/replay")"

nl_step "later checkpoints are accepted again (with proofs)"
send RA-6
send RA-7
past() { [ "$(cp_size)" -gt "$N" ]; }
nl_wait 30 past || nl_fail "no checkpoint accepted after the re-anchor: $(st)"
[ "$(st | jq -r .audit_alarm)" = false ] || nl_fail "alarm after the re-anchor: $(st)"

nl_step "applied once: a restart and a later directory with the same statement change nothing"
nl_node_stop $A
nl_node_start $A
nl_node_ready $A
nl_keys policy allow ngo.hots cac.chiangmai >/dev/null || nl_fail "policy"
nl_publish
send RA-8
nl_wait 30 past || nl_fail "checkpoint lost after restart: $(st)"
[ "$(grep -c "AUDIT RE-ANCHOR" "$NL_T/nodes/$A/log")" = 1 ] || nl_fail "re-anchored twice"
[ "$(st | jq -r .audit_alarm)" = false ] || nl_fail "alarm after restart: $(st)"
nl_finish
echo "node_reanchor_test: PASS"
