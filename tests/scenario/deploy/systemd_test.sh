#!/usr/bin/env bash
# Intent: under systemd (Type=notify, WatchdogSec=, stderr to the journal) the broker and a node
# say READY=1 only once they serve, ping WATCHDOG=1 again and again, say STOPPING=1 when they stop,
# and log with journal priority prefixes and no timestamps; outside it (a failed start, no
# watchdog for this pid, stderr not the journal) they send no READY, no pings, and plain lines.
# systemd is played by tests/lib/notify_listen.py (a unix datagram NOTIFY_SOCKET).
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init systemd
command -v python3 >/dev/null || nl_fail "python3 is needed (deploy/install-deps.sh)"
LISTEN="python3 $NL_SRC/tests/lib/notify_listen.py"
nl_network

# count FILE REGEX: matching lines (0 when none).
count() { grep -c -E "$2" "$1" 2>/dev/null || true; }
# at_least N FILE REGEX
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }
# listen NAME PROBE: a NOTIFY_SOCKET at $NL_T/NAME.sock writing to $NL_T/NAME.notify.
listen() {
    $LISTEN "$NL_T/$1.sock" "$NL_T/$1.notify" "$2" 90 &
    NL_PID[listen-$1]=$!
    nl_wait 10 grep -q LISTENING "$NL_T/$1.notify" || nl_fail "notify listener $1 did not start"
}
# the journal's DEV:INO for a file, as systemd writes JOURNAL_STREAM
stream_of() { stat -c '%d:%i' "$1"; }

nl_step "broker: READY=1 after it listens, WATCHDOG=1 repeats, journal prefixes"
listen broker "tcp:127.0.0.1:$NL_PORT"
mkdir -p "$NL_T/broker"
touch "$NL_T/broker/log" # init (no JOURNAL_STREAM) and run (the "journal") both write here
NL_BROKER_ENV="NOTIFY_SOCKET=$NL_T/broker.sock WATCHDOG_USEC=400000 \
JOURNAL_STREAM=$(stream_of "$NL_T/broker/log")" nl_broker_start
nl_wait 20 grep -q '^READY=1$' "$NL_T/broker.notify" || nl_fail "the broker sent no READY=1"
nl_wait 10 grep -q '^PROBE ' "$NL_T/broker.notify" || nl_fail "READY=1 was not probed"
grep -q '^PROBE ok$' "$NL_T/broker.notify" ||
    nl_fail "READY=1 came before the broker listened: $(grep PROBE "$NL_T/broker.notify")"
grep -q "^STATUS=serving on tcp://127.0.0.1:$NL_PORT" "$NL_T/broker.notify" ||
    nl_fail "no STATUS= with READY=1"
nl_wait 20 at_least 4 "$NL_T/broker.notify" '^WATCHDOG=1$' ||
    nl_fail "the broker's WATCHDOG=1 did not repeat ($(count "$NL_T/broker.notify" WATCHDOG))"
# Outside the journal (init, no JOURNAL_STREAM): a timestamp and the level; inside: the prefix.
grep -q -E '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z refbus-broker\[info\] new store' \
    "$NL_T/broker/log" || nl_fail "init did not log a plain timestamped line"
grep -q -E '^<6>info: broker broker.cm serving on ' "$NL_T/broker/log" ||
    nl_fail "no <6>info: line from the broker under JOURNAL_STREAM"
grep -q -E '^<6>info: systemd watchdog: 400 ms, pinged every 200 ms$' "$NL_T/broker/log" ||
    nl_fail "the watchdog interval is not logged"
grep -q -E '^<7>debug: ' "$NL_T/broker/log" || nl_fail "no <7>debug: line from the broker"
grep -E '^<' "$NL_T/broker/log" | grep -q -E '20[0-9]{2}-[0-9]{2}-[0-9]{2}T' &&
    nl_fail "a journal line carries its own timestamp"
grep -q -E '^20[0-9]{2}-.*serving on' "$NL_T/broker/log" &&
    nl_fail "a plain line although stderr is the journal"

nl_step "node: READY=1 once its control socket serves, STATUS follows the session, watchdog"
nl_node_conf cac.chiangmai
N=$NL_T/nodes/cac.chiangmai
listen node "unix:$N/data/control.sock"
touch "$N/log"
nl_node_start cac.chiangmai NOTIFY_SOCKET="$NL_T/node.sock" WATCHDOG_USEC=400000 \
    JOURNAL_STREAM="$(stream_of "$N/log")"
nl_wait 20 grep -q '^PROBE ' "$NL_T/node.notify" || nl_fail "the node sent no READY=1"
grep -q '^PROBE ok$' "$NL_T/node.notify" ||
    nl_fail "READY=1 came before the control socket served: $(grep PROBE "$NL_T/node.notify")"
nl_node_ready cac.chiangmai
nl_wait 10 grep -q '^STATUS=agency cac.chiangmai: session with the broker ready$' \
    "$NL_T/node.notify" || nl_fail "the node's STATUS= does not show the session"
nl_wait 20 at_least 4 "$NL_T/node.notify" '^WATCHDOG=1$' || nl_fail "the node's WATCHDOG=1 did not repeat"

nl_step "stopping: STOPPING=1 from both; the node's warning is <4> in the journal"
nl_broker_stop
nl_wait 5 grep -q '^STOPPING=1$' "$NL_T/broker.notify" || nl_fail "the broker sent no STOPPING=1"
nl_wait 20 grep -q -E '^<4>warn: broker session ended' "$N/log" ||
    nl_fail "the node's warning has no <4>warn: prefix"
nl_wait 10 grep -q -E '^STATUS=agency cac.chiangmai: (no broker session|connecting)' \
    "$NL_T/node.notify" || nl_fail "the node's STATUS= does not show the lost session"
nl_node_stop cac.chiangmai
nl_wait 5 grep -q '^STOPPING=1$' "$NL_T/node.notify" || nl_fail "the node sent no STOPPING=1"

nl_step "a broker that cannot start sends no READY=1; another file's JOURNAL_STREAM is ignored"
ready_before=$(count "$NL_T/broker.notify" '^READY=1$')
touch "$NL_T/other"
st=0
env NOTIFY_SOCKET="$NL_T/broker.sock" JOURNAL_STREAM="$(stream_of "$NL_T/other")" \
    "$NL_BIN/refbus-broker" run -c "$NL_T/broker.conf" -d "$NL_T/no-such-dir" \
    2>"$NL_T/failed.log" || st=$?
[ "$st" = 1 ] || nl_fail "a broker without its data directory exited $st, not 1"
grep -q -E '^20[0-9]{2}-.*Z refbus-broker\[error\] data directory .*no-such-dir does not exist' \
    "$NL_T/failed.log" || nl_fail "stderr that is not the journal got no plain line: $(cat "$NL_T/failed.log")"
grep -q '^<' "$NL_T/failed.log" && nl_fail "a journal prefix although stderr is not the journal"
sleep 0.5
[ "$(count "$NL_T/broker.notify" '^READY=1$')" = "$ready_before" ] ||
    nl_fail "a broker that failed to start sent READY=1"

nl_step "a watchdog meant for another pid (WATCHDOG_PID) is not pinged"
NL_BROKER_ENV="NOTIFY_SOCKET=$NL_T/broker.sock WATCHDOG_USEC=400000 WATCHDOG_PID=1" nl_broker_start
nl_wait 20 at_least $((ready_before + 1)) "$NL_T/broker.notify" '^READY=1$' ||
    nl_fail "the restarted broker sent no READY=1"
pings=$(count "$NL_T/broker.notify" '^WATCHDOG=1$')
sleep 1.5
[ "$(count "$NL_T/broker.notify" '^WATCHDOG=1$')" = "$pings" ] ||
    nl_fail "WATCHDOG=1 sent although WATCHDOG_PID is not ours"
nl_broker_stop

echo "PASS: systemd readiness, watchdog, status, stopping and journal priorities"
