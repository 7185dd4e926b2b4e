#!/usr/bin/env bash
# Helpers for the fault-injection scenarios (sourced after node_lib.sh and nl_init): sending
# with a record of what was queued, the daemons' fate under a fault, and the invariants checked
# after each fault (tests/fault/README.md).
FAULT_LIB=${REFBUS_FAULT_LIB:-$NL_BIN/../tests/librefbus_fault.so}

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
        declare -A have=() rcpt=()
        for c in "${!SENT[@]}"; do
            read -r sender mid to <<<"${SENT[$c]}"
            rcpt[$to]=1
        done
        for to in "${!rcpt[@]}"; do
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
        unset have rcpt
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

# What the last fault window of a daemon hit (the shim's report at its exit).
shim_report() { # LOG
    local l
    l=$(grep "^fault shim:" "$1" | tail -n 1)
    echo "    ${l:-fault shim: no report (the process did not exit normally)}"
}

# A probe: the network still serves (the faulty daemon recovered, or was restarted).
# While memory is short a send may be refused (with a reason): the daemon must take it once
# the fault has passed, without a restart.
probe() { # FROM TO CASE
    local until=$((SECONDS + 90))
    while send "$1" "$2" "$3"; [ -z "${SENT[$3]:-}" ]; do
        [ "$SECONDS" -ge "$until" ] && nl_fail "probe $3 not queued"
        sleep 1
    done
    nl_wait 40 count_is "$2" "$3" 1 || nl_fail "probe $3 not delivered to $2"
}

