#!/usr/bin/env bash
# Intent: a full disk (ENOSPC, not the LMDB map) on the broker and on a recipient node loses
# nothing and fails nothing: the broker answers senders "try again later" (ERROR ENOSPC with the
# msg id), the recipient defers deliveries (no REJECTED receipt); once there is room again every
# queued referral is accepted and delivered exactly once and the trail verifies. The disks are
# small tmpfs mounts, so this needs root (`mount -t tmpfs`); elsewhere it is skipped (77).
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init fault-enospc
source "$(dirname "$0")/../../lib/fault_lib.sh"
MNT=()
umount_all() {
    local m
    for m in "${MNT[@]}"; do umount -l "$m" 2>/dev/null; done
}
# Stop what this test started, then unmount, then remove the temporary directory.
enospc_cleanup() {
    local id
    for id in "${!NL_PID[@]}"; do
        [ -n "${NL_PID[$id]}" ] && kill -KILL "${NL_PID[$id]}" 2>/dev/null
    done
    [ -n "$NL_BROKER_PID" ] && kill -KILL "$NL_BROKER_PID" 2>/dev/null
    wait 2>/dev/null
    umount_all
    nl_cleanup
}
trap enospc_cleanup EXIT
small_disk() { # DIR MB
    mkdir -p "$1"
    mount -t tmpfs -o "size=${2}m,mode=0700" tmpfs "$1" 2>/dev/null ||
        nl_skip "cannot mount a small tmpfs here (needs root): ENOSPC not tested"
    MNT+=("$1")
}

nl_network
nl_step "the broker's disk fills: senders are told 'later' (or it stops with a reason)"
small_disk "$NL_T/broker" 2
nl_broker_start
nl_node_start ngo.hots
nl_node_ready ngo.hots
told() { grep -q "broker cannot take .*ENOSPC" "$NL_T/nodes/ngo.hots/log"; }
stopped=
for i in $(seq 1 300); do
    send ngo.hots cac.chiangmai "DISK-$i" big
    told && break
    broker_alive || { stopped=1; break; } # LMDB may see a short write (EIO) and the broker stop
done
[ -n "$stopped" ] || nl_wait 30 told ||
    nl_fail "the broker's disk never filled (or the sender was not told ENOSPC)"
for c in "${!SENT[@]}"; do
    read -r _ mid _ <<<"${SENT[$c]}"
    [ "$(outbox_state ngo.hots "$mid")" != failed ] || nl_fail "$c failed for a full disk"
done
mount -o remount,size=64m "$NL_T/broker" || nl_fail "cannot grow the tmpfs" # room again
broker_alive || nl_broker_start
nl_node_start cac.chiangmai
check_invariants

nl_step "a recipient's disk fills: deliveries wait (no REJECTED), taken once there is room"
nl_node_conf police.ticac
small_disk "$NL_T/nodes/police.ticac/data" 1
nl_node_start police.ticac
nl_node_ready police.ticac
# (LMDB reports a short write on a full disk as EIO: "the store is unusable")
full() {
    grep -q -E "no space|ENOSPC|disk full|store is full|store is unusable" \
        "$NL_T/nodes/police.ticac/log"
}
for i in $(seq 1 150); do
    send ngo.hots police.ticac "RDISK-$i" big
    full && break
    node_alive police.ticac || break # (it may also stop, non-zero with a reason)
done
node_alive police.ticac && { nl_wait 120 full || nl_fail "the recipient's disk never filled"; }
if node_alive police.ticac; then
    nl_json_eq police.ticac .counters.refused_in 0 status || nl_fail "the full recipient refused"
fi
mount -o remount,size=64m "$NL_T/nodes/police.ticac/data" || nl_fail "cannot grow the tmpfs"
restart_node police.ticac
check_invariants
nl_finish
echo PASS
