#!/usr/bin/env bash
# Intent: faults that are not a crash — a full store (broker and node), allocations that fail
# (in refbus and inside protobuf-c), fsync/fdatasync/msync/pwrite/writev failing with EIO —
# never lose an accepted referral and never produce a false ACCEPTED. After each fault: every
# referral whose sender holds an ACCEPTED receipt is in the recipient's inbox exactly once once
# the fault clears and the processes restart; nothing the sender was told "accepted" is missing
# from the broker's trail; nothing went FAILED for a transient reason; `refbus-audit verify`
# passes; a daemon under the fault either keeps serving or exits non-zero with a reason (never
# a signal). Faults come from the LD_PRELOAD shim (tests/fault), never from the programs.
# Seeded: REFBUS_FAULT_SEED=N reproduces a run; REFBUS_FAULT_ROUNDS=N runs more rounds.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init fault
FAULT_LIB=${REFBUS_FAULT_LIB:-$NL_BIN/../tests/librefbus_fault.so}
[ -f "$FAULT_LIB" ] || nl_skip "the fault shim is not built (sanitizer builds own malloc)"
SEED=${REFBUS_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
ROUNDS=${REFBUS_FAULT_ROUNDS:-2}
STEPS=${REFBUS_FAULT_STEPS:-full,malloc,io} # which kinds of fault to inject
step_on() { [[ ",$STEPS," == *",$1,"* ]]; }
echo "fault injection: seed $SEED, $ROUNDS round(s) per fault (REFBUS_FAULT_SEED=$SEED to repeat)"
RANDOM=$SEED

source "$(dirname "$0")/../../lib/fault_lib.sh"

nl_network
if step_on full; then
nl_step "map full on the broker: senders are told 'later' (ERROR with the msg id), never FAILED"
NL_BROKER_EXTRA="map_size_mb = 1" nl_broker_start
nl_node_start ngo.hots
nl_node_ready ngo.hots
for i in $(seq 1 45); do send ngo.hots cac.chiangmai "BFULL-$i" big; done
nl_wait 40 grep -q "broker cannot take .*will retry" "$NL_T/nodes/ngo.hots/log" ||
    nl_fail "the broker's map never filled (or the sender was not told to retry)"
for c in "${!SENT[@]}"; do
    read -r _ mid _ <<<"${SENT[$c]}"
    [ "$(outbox_state ngo.hots "$mid")" != failed ] || nl_fail "$c failed for a full broker store"
done
"$NL_BIN/refbus-broker" status -c "$NL_T/broker.conf" >/dev/null || nl_fail "broker status"
nl_node_start cac.chiangmai # the recipient drains the store; what waited is accepted in turn
check_invariants
nl_broker_stop
NL_BROKER_EXTRA='' nl_broker_start

nl_step "map full on a recipient node: deliveries wait (no REJECTED), taken after a restart"
nl_node_conf police.ticac
set_conf police.ticac map_size_mb 1
nl_node_start police.ticac
nl_node_ready police.ticac
for i in $(seq 1 70); do send ngo.hots police.ticac "NFULL-$i" big; done
nl_wait 60 grep -q "store is full" "$NL_T/nodes/police.ticac/log" ||
    nl_fail "the recipient's map never filled"
nl_json_eq police.ticac .counters.refused_in 0 status || nl_fail "the full recipient refused"
set_conf police.ticac map_size_mb 64
restart_node police.ticac
check_invariants

nl_step "map full on a sending node: send refused with a reason, nothing half-queued"
nl_node_conf welfare.cm
set_conf welfare.cm map_size_mb 1
nl_node_start welfare.cm
nl_node_ready welfare.cm
refused=
for i in $(seq 1 60); do
    out=$(nl_referral "SFULL-$i" "$SUMMARY" | nl_node welfare.cm send - --to cac.chiangmai 2>&1)
    if mid=$(jq -er .msg_id <<<"$out" 2>/dev/null); then
        SENT[SFULL-$i]="welfare.cm $mid cac.chiangmai"
    else
        refused=$out
        break
    fi
done
[ -n "$refused" ] || nl_fail "the sender's map never filled"
grep -q -i -E "full|EMAPFULL" <<<"$refused" || nl_fail "no clear reason: $refused"
node_alive welfare.cm || nl_fail "the full sender died"
set_conf welfare.cm map_size_mb 64
restart_node welfare.cm
check_invariants
else
    nl_broker_start
    for a in ngo.hots cac.chiangmai; do nl_node_start "$a"; done
    nl_node_ready ngo.hots
fi

# Allocation failures: a window of `count` failing allocations from the `start`-th one of the
# process (failing in refbus and in every library, protobuf-c included), on a recipient, a
# sender and the broker, while referrals flow.
n=0
step_on malloc || ROUNDS_MEM=0
for r in $(seq 1 "${ROUNDS_MEM:-$ROUNDS}"); do
    for target in cac.chiangmai ngo.hots broker; do
        n=$((n + 1))
        # a daemon makes a few thousand allocations in such a round (the shim's report says
        # how many): the window falls anywhere from its start-up to the referrals' traffic
        case $target in broker) span=1400 ;; ngo.hots) span=2800 ;; *) span=3600 ;; esac
        start=$((1 + RANDOM % span)) count=$((1 + RANDOM % 200))
        nl_step "malloc fails in $target: allocations $start..+$count (round $r)"
        if [ "$target" = broker ]; then
            nl_broker_stop
            NL_BROKER_PRELOAD=$FAULT_LIB NL_BROKER_ENV="REFBUS_FAULT_MALLOC=$start:$count" \
                nl_broker_launch
        else
            nl_node_stop "$target"
            NL_NODE_PRELOAD=$FAULT_LIB nl_node_launch "$target" \
                "REFBUS_FAULT_MALLOC=$start:$count"
        fi
        sleep 1
        for i in 1 2 3 4; do send ngo.hots cac.chiangmai "MEM-$n-$i"; done
        sleep 3
        if [ "$target" = broker ]; then
            broker_alive && probe ngo.hots cac.chiangmai "MEMPROBE-$n"
            restart_broker
            shim_report "$NL_T/broker/log"
        else
            node_alive "$target" && probe ngo.hots cac.chiangmai "MEMPROBE-$n"
            restart_node "$target"
            shim_report "$NL_T/nodes/$target/log"
        fi
        check_invariants
    done
done

# I/O errors: fdatasync, fsync, msync, pwrite and writev fail with EIO for `count` calls from
# the `start`-th one, on the broker and on a recipient node.
step_on io || ROUNDS_IO=0
for r in $(seq 1 "${ROUNDS_IO:-$ROUNDS}"); do
    for target in broker cac.chiangmai; do
        n=$((n + 1))
        start=$((1 + RANDOM % 30)) count=$((1 + RANDOM % 5))
        nl_step "EIO in $target: I/O calls $start..+$count (round $r)"
        if [ "$target" = broker ]; then
            nl_broker_stop
            NL_BROKER_PRELOAD=$FAULT_LIB NL_BROKER_ENV="REFBUS_FAULT_IO=$start:$count" \
                nl_broker_launch
        else
            nl_node_stop "$target"
            NL_NODE_PRELOAD=$FAULT_LIB nl_node_launch "$target" "REFBUS_FAULT_IO=$start:$count"
        fi
        sleep 1
        for i in 1 2 3 4 5 6; do send ngo.hots cac.chiangmai "IO-$n-$i"; done
        sleep 3
        if [ "$target" = broker ]; then
            broker_alive && probe ngo.hots cac.chiangmai "IOPROBE-$n"
            restart_broker
            shim_report "$NL_T/broker/log"
        else
            node_alive "$target" && probe ngo.hots cac.chiangmai "IOPROBE-$n"
            restart_node "$target"
            shim_report "$NL_T/nodes/$target/log"
        fi
        check_invariants
    done
done
nl_finish
echo "PASS (seed $SEED)"
