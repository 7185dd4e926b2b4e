#!/usr/bin/env bash
# Intent: a full disk (ENOSPC, not the LMDB map) on the broker and on a recipient node loses
# nothing and fails nothing: the broker answers senders "try again later" (ERROR ENOSPC with the
# msg id), the recipient defers deliveries (no REJECTED receipt); once there is room again every
# queued referral is accepted and delivered exactly once and the trail verifies. The disks are
# small tmpfs mounts, so this needs root (`mount -t tmpfs`); elsewhere it is skipped (77).
source "$(dirname "$0")/node_lib.sh"
nl_init fault-enospc
source "$(dirname "$0")/fault_lib.sh"
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
nl_step "the broker's disk fills: senders are told 'later', nothing FAILED"
small_disk "$NL_T/broker" 3
nl_broker_start
nl_node_start ngo.hots
nl_node_ready ngo.hots
for i in $(seq 1 150); do
    send ngo.hots cac.chiangmai "DISK-$i" big
    grep -q "broker cannot take .*ENOSPC" "$NL_T/nodes/ngo.hots/log" && break
done
nl_wait 30 grep -q "broker cannot take .*ENOSPC" "$NL_T/nodes/ngo.hots/log" ||
    nl_fail "the broker's disk never filled (or the sender was not told ENOSPC)"
"$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf" >/dev/null || nl_fail "broker status"
broker_alive || nl_broker_start # (a broker may also stop, non-zero with a reason)
nl_node_start cac.chiangmai # it drains the queue: freed pages make room again
check_invariants

nl_step "a recipient's disk fills: deliveries wait (no REJECTED), taken once there is room"
nl_node_conf police.ticac
small_disk "$NL_T/nodes/police.ticac/data" 2
nl_node_start police.ticac
nl_node_ready police.ticac
for i in $(seq 1 100); do send ngo.hots police.ticac "RDISK-$i" big; done
nl_wait 60 grep -q -E "no space|ENOSPC|disk full|store is full" \
    "$NL_T/nodes/police.ticac/log" || nl_fail "the recipient's disk never filled"
nl_json_eq police.ticac .counters.refused_in 0 status || nl_fail "the full recipient refused"
mount -o remount,size=64m "$NL_T/nodes/police.ticac/data" || nl_fail "cannot grow the tmpfs"
node_alive police.ticac || nl_node_start police.ticac
check_invariants
nl_finish
echo PASS
