#!/usr/bin/env bash
# Intent: the broker and the node read their config files the same way (issue 11 item 2, issue
# 17 item 7): the same mistake stops both at start-up (exit 2) with the same words naming the
# file, line and key; what one accepts (syslog = 1) the other accepts; a relative data_dir is
# relative to the config file's folder in both; and a mistyped or missing data directory is an
# error that creates nothing (exit 1), while `init` creates the store where the config says.
source "$(dirname "$0")/../../lib/node_lib.sh"
nl_init config-daemons
nl_network
ETC=$NL_T/etc
mkdir -p "$ETC" "$NL_T/elsewhere"
cd "$NL_T/elsewhere" || nl_fail "cd"

# conf PART EXTRA: the config of PART (broker|node) in $ETC, with EXTRA lines at the end.
conf() {
    if [ "$1" = broker ]; then
        printf '[broker]\nbind = tcp://127.0.0.1:%s\nkeystore = ../keys/broker.cm.bundle\n' \
            "$(nl_free_port)"
    else
        printf '[node]\nkeystore = ../keys/cac.chiangmai.bundle\n'
        printf 'broker = tcp://127.0.0.1:%s\n' "$NL_PORT"
    fi
    printf 'passphrase_file = %s\ndirectory = ../directory.bin\nlog_level = debug\n%b' \
        "$NL_T/pass" "$2"
}
# run_both CMD EXTRA: write both configs, run CMD of each (bounded); statuses in BST/NST, output
# without the program's name in BOUT/NOUT, as it is in BRAW/NRAW.
run_both() {
    local cmd=$1
    conf broker "$2" >"$ETC/broker.conf"
    conf node "$2" >"$ETC/node.conf"
    BST=0 NST=0
    BOUT=$(timeout 20 "$NL_BIN/refbus-broker" "$cmd" -c "$ETC/broker.conf" 2>&1) || BST=$?
    NOUT=$(timeout 20 "$NL_BIN/refbus-node" "$cmd" -c "$ETC/node.conf" 2>&1) || NST=$?
    BRAW=$BOUT NRAW=$NOUT
    BOUT=$(sed -n 's/^refbus-broker: //p' <<<"$BOUT")
    NOUT=$(sed -n 's/^refbus-node: //p' <<<"$NOUT")
}

nl_step "the same mistake: both exit 2 with the same words (file, line, key, reason)"
for bad in 'syslog = maybe' 'map_size_mb = 0' 'max_memory_mb = 99999999' 'log_level = loud' \
    'frobnicate = 1' 'data_dir = a\ndata_dir = b' 'data_dir =' 'this is not ini'; do
    run_both run "$bad\n"
    [ "$BST" = 2 ] && [ "$NST" = 2 ] || nl_fail "'$bad': exit $BST (broker), $NST (node)"
    [ -n "$BOUT" ] && [ "$BOUT" = "${NOUT//node.conf/broker.conf}" ] ||
        nl_fail "'$bad': broker says '$BOUT', node says '$NOUT'"
    grep -q "^$ETC/broker.conf:[0-9]*: " <<<"$BOUT" || nl_fail "'$bad': no file and line: $BOUT"
done
run_both run 'data_dir =\n'
grep -q "broker.conf:7: key 'data_dir': no value" <<<"$BOUT" || nl_fail "an empty value: $BOUT"
run_both run 'data_dir = a\ndata_dir = b\n'
grep -q "broker.conf:8: key 'data_dir': set twice (first on line 7)" <<<"$BOUT" ||
    nl_fail "a duplicate key: $BOUT"
# from the command line, the same words without a line
BOUT=$("$NL_BIN/refbus-broker" run -o syslog=maybe 2>&1) && nl_fail "broker -o syslog=maybe"
NOUT=$("$NL_BIN/refbus-node" run -o syslog=maybe 2>&1) && nl_fail "node -o syslog=maybe"
# (a usage error: "PROGRAM run: WORDS. Try 'PROGRAM run --help'.", one line)
[ "${BOUT//refbus-broker/P}" = "${NOUT//refbus-node/P}" ] || nl_fail "-o: '$BOUT' / '$NOUT'"
grep -q "key 'syslog': expected yes or no" <<<"$BOUT" || nl_fail "-o: no key and reason: $BOUT"

nl_step "a mistyped or missing data directory is an error and creates nothing (both)"
run_both status 'syslog = 1\ndata_dir = data\n' # accepted by both (the config is read; no daemon answers)
[ "$BST" = 1 ] && [ "$NST" = 1 ] || nl_fail "syslog = 1: exit $BST, $NST: $BRAW / $NRAW"
run_both run 'data_dir = data\n'
[ "$BST" = 1 ] && [ "$NST" = 1 ] || nl_fail "missing data_dir: exit $BST, $NST: $BRAW / $NRAW"
grep -q "$ETC/data does not exist" <<<"$BRAW" || nl_fail "broker: dir not named: $BRAW"
grep -q "$ETC/data does not exist" <<<"$NRAW" || nl_fail "node: dir not named: $NRAW"
[ ! -e "$ETC/data" ] && [ ! -e data ] || nl_fail "run created a data directory"
mkdir -m 0700 "$ETC/data"
run_both run 'data_dir = data\n'
[ "$BST" = 1 ] && [ "$NST" = 1 ] || nl_fail "data_dir without a store: exit $BST, $NST"
grep -q "$ETC/data/data.mdb does not exist" <<<"$BRAW" || nl_fail "broker: store: $BRAW"
grep -q "$ETC/data/store/data.mdb does not exist" <<<"$NRAW" || nl_fail "node: store: $NRAW"
[ -z "$(ls "$ETC/data" | grep -v '\.lock$')" ] || nl_fail "run made files: $(ls "$ETC/data")"
rm -rf "$ETC/data"

nl_step "init creates the store where the config says: the config file's folder, not the cwd"
conf broker 'data_dir = bdata\n' >"$ETC/broker.conf"
conf node 'data_dir = ndata\n' >"$ETC/node.conf"
"$NL_BIN/refbus-broker" init -c "$ETC/broker.conf" >/dev/null 2>&1 || nl_fail "broker init"
"$NL_BIN/refbus-node" init -c "$ETC/node.conf" >/dev/null 2>&1 || nl_fail "node init"
[ -s "$ETC/bdata/data.mdb" ] || nl_fail "broker init did not create $ETC/bdata/data.mdb"
[ -s "$ETC/ndata/store/data.mdb" ] || nl_fail "node init did not create $ETC/ndata/store"
[ ! -e bdata ] && [ ! -e ndata ] || nl_fail "init used the working directory"
echo "config_daemons_test: ok"
