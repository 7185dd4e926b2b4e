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
source "$(dirname "$0")/node_lib.sh"
nl_init fault
FAULT_LIB=${REFBUS_FAULT_LIB:-$NL_BIN/../tests/librefbus_fault.so}
[ -f "$FAULT_LIB" ] || nl_skip "the fault shim is not built (sanitizer builds own malloc)"
SEED=${REFBUS_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
ROUNDS=${REFBUS_FAULT_ROUNDS:-2}
STEPS=${REFBUS_FAULT_STEPS:-full,malloc,io} # which kinds of fault to inject
step_on() { [[ ",$STEPS," == *",$1,"* ]]; }
echo "fault injection: seed $SEED, $ROUNDS round(s) per fault (REFBUS_FAULT_SEED=$SEED to repeat)"
RANDOM=$SEED

SUMMARY=$(head -c 15000 /dev/zero | tr '\0' 'x')
declare -A SENT=() # case_ref -> "sender msg_id recipient"

# set_conf ID KEY VALUE: one line of a node's config.
set_conf() {
    local f=$NL_T/nodes/$1/node.conf
    sed -i "/^$2 *=/d" "$f"
    echo "$2 = $3" >>"$f"
}

# send FROM TO CASE [big]: submit a referral; record it when the node queued it (msg_id).
send() {
    local out mid summary="Summary for $3"
    [ "${4:-}" = big ] && summary=$SUMMARY
    out=$(nl_referral "$3" "$summary" | nl_node "$1" send - --to "$2" 2>/dev/null) || true
    mid=$(jq -r '.msg_id // empty' <<<"$out" 2>/dev/null)
    [ -n "$mid" ] && SENT[$3]="$1 $mid $2"
    return 0
}

outbox_state() { nl_node "$1" outbox "$2" 2>/dev/null | jq -r '.state // empty'; }
count_is() { [ "$(nl_inbox_count "$1" "$2")" = "$3" ]; }

# A daemon that died under a fault must have exited non-zero with a reason, not by a signal.
check_exit() { # NAME STATUS LOG
    [ "$2" -ge 128 ] && nl_fail "$1 was killed by signal $(($2 - 128)) under the fault"
    [ "$2" -ne 0 ] || nl_fail "$1 exited 0 under the fault"
    grep -q -E '\[(error|fatal)\]' "$3" || nl_fail "$1 exited ($2) without saying why"
    echo "    $1 exited with status $2 and a reason (allowed)"
}

node_alive() { # ID: 0 when running; else checks how it ended
    local pid=${NL_PID[$1]:-} st=0
    [ -n "$pid" ] || return 1
    kill -0 "$pid" 2>/dev/null && return 0
    wait "$pid" 2>/dev/null || st=$?
    NL_PID[$1]=
    check_exit "node $1" "$st" "$NL_T/nodes/$1/log"
    return 1
}

broker_alive() {
    local st=0
    [ -n "$NL_BROKER_PID" ] || return 1
    kill -0 "$NL_BROKER_PID" 2>/dev/null && return 0
    wait "$NL_BROKER_PID" 2>/dev/null || st=$?
    NL_BROKER_PID=
    check_exit broker "$st" "$NL_T/broker/log"
    return 1
}

# restart ID: stop (kill -9 if it hangs) and start without any fault.
restart_node() {
    if node_alive "$1"; then
        kill -TERM "${NL_PID[$1]}" 2>/dev/null
        nl_wait 10 bash -c "! kill -0 ${NL_PID[$1]}" || kill -KILL "${NL_PID[$1]}" 2>/dev/null
        wait "${NL_PID[$1]}" 2>/dev/null
        NL_PID[$1]=
    fi
    nl_node_start "$1"
}

restart_broker() {
    if broker_alive; then
        kill -TERM "$NL_BROKER_PID" 2>/dev/null
        nl_wait 10 bash -c "! kill -0 $NL_BROKER_PID" || kill -KILL "$NL_BROKER_PID" 2>/dev/null
        wait "$NL_BROKER_PID" 2>/dev/null
        NL_BROKER_PID=
    fi
    NL_BROKER_PRELOAD='' NL_BROKER_ENV='' nl_broker_start
}

# The invariants, with every process running without faults. Each message is looked up at
# its sender once (an accepted one stays accepted); inboxes and the trail are read once per
# check, so a check costs a few processes, not a few per message.
declare -A ACCEPTED_AT_SENDER=()
check_invariants() {
    local c sender mid to st n m ref deadline=$((SECONDS + 90)) missing
    # transient trouble never fails a message: every queued one ends accepted
    for c in "${!SENT[@]}"; do
        [ -n "${ACCEPTED_AT_SENDER[$c]:-}" ] && continue
        read -r sender mid to <<<"${SENT[$c]}"
        while st=$(outbox_state "$sender" "$mid"); [ "$st" != accepted ]; do
            [ "$st" = failed ] && nl_fail "$c ($mid) FAILED at $sender: $(nl_node "$sender" outbox "$mid")"
            [ "$SECONDS" -ge "$deadline" ] && nl_fail "$c ($mid): '$st' at $sender, not accepted"
            sleep 0.3
        done
        ACCEPTED_AT_SENDER[$c]=1
    done
    # each in its recipient's inbox exactly once
    while :; do
        declare -A have=()
        for to in cac.chiangmai police.ticac; do
            [ -n "${NL_PID[$to]:-}" ] || continue
            while read -r n ref; do have[$to/$ref]=$n; done < <(nl_node "$to" inbox list \
                --limit 1000 | jq -r '.items[].case_ref' | sort | uniq -c)
        done
        missing=
        for c in "${!SENT[@]}"; do
            read -r sender mid to <<<"${SENT[$c]}"
            n=${have[$to/$c]:-0}
            [ "$n" -gt 1 ] && nl_fail "$c: $n copies in the inbox of $to"
            [ "$n" = 1 ] || missing="$missing $c"
        done
        unset have
        [ -z "$missing" ] && break
        [ "$SECONDS" -ge "$deadline" ] && nl_fail "not in the recipient's inbox:$missing"
        sleep 0.5
    done
    # no false ACCEPTED: one ACCEPTED record per message in the broker's trail, and no
    # refusal for good (by the broker or a recipient)
    "$NL_BIN/refbus-audit" replay "$NL_T/broker" --format jsonl >"$NL_T/replay.jsonl" ||
        nl_fail "refbus-audit replay"
    declare -A acc=() rej=()
    while read -r n m; do acc[$m]=$n; done < <(jq -r 'select(.event == "ACCEPTED") | .msg_id' \
        "$NL_T/replay.jsonl" | sort | uniq -c)
    # (a broker's "try again later" is audited as REJECTED with a transient reason: allowed)
    while read -r m; do rej[$m]=1; done < <(jq -r '["ENOMEM", "EIO", "ELMDB", "EMAPFULL",
        "ENOSPC", "EQUOTA", "EAGAIN"] as $t | select(.event == "REJECTED" and
        (.reason_name as $r | $t | index($r) | not)) | .msg_id' "$NL_T/replay.jsonl")
    for c in "${!SENT[@]}"; do
        read -r sender mid to <<<"${SENT[$c]}"
        [ "${acc[$mid]:-0}" = 1 ] || nl_fail "$c ($mid): ${acc[$mid]:-0} ACCEPTED records"
        [ -z "${rej[$mid]:-}" ] || nl_fail "$c ($mid) has a REJECTED record in the trail"
    done
    unset acc rej
    "$NL_BIN/refbus-audit" verify "$NL_T/broker" >/dev/null || nl_fail "refbus-audit verify"
    echo "    invariants hold for ${#SENT[@]} referrals"
}

# A probe: the network still serves (the faulty daemon recovered, or was restarted).
probe() { # FROM TO CASE
    send "$1" "$2" "$3"
    [ -n "${SENT[$3]:-}" ] || nl_fail "probe $3 not queued"
    nl_wait 40 count_is "$2" "$3" 1 || nl_fail "probe $3 not delivered to $2"
}

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
        start=$((1000 + RANDOM % 40000)) count=$((1 + RANDOM % 400))
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
        else
            node_alive "$target" && probe ngo.hots cac.chiangmai "MEMPROBE-$n"
            restart_node "$target"
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
        else
            node_alive "$target" && probe ngo.hots cac.chiangmai "IOPROBE-$n"
            restart_node "$target"
        fi
        check_invariants
    done
done
nl_finish
echo "PASS (seed $SEED)"
