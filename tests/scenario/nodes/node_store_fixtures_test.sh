#!/usr/bin/env bash
# Intent: corrupt fixtures for the node's store (issue 11 item 5): a damaged inbox record and a
# damaged outbox record (one byte of the sealed value changed with mdb_dump / mdb_load, as a
# bad disk would) crash neither `refbus-node run` nor its views, are named in the log with their
# table and key, and stop none of the other records: the other referrals are still listed,
# shown and sent.
source "$(dirname "$0")/../../lib/node_lib.sh"
command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null ||
    nl_fail "mdb_dump / mdb_load missing (lmdb-utils, deploy/install-deps.sh)"
nl_init node-store-fixtures
nl_network
nl_broker_start
for a in cac.chiangmai police.ticac ngo.hots; do nl_node_start "$a"; done
for a in cac.chiangmai police.ticac ngo.hots; do nl_node_ready "$a"; done

# damage ID TABLE KEYHEX: change the first byte of that record's value (its stored nonce), so
# that it no longer opens. The node must be stopped.
damage() {
    local dir=$NL_T/nodes/$1/data/store f=$NL_T/dump
    mdb_dump -s "$2" "$dir" >"$f" || nl_fail "mdb_dump $2"
    awk -v k=" $3" 'hit == 1 { c = substr($0, 2, 1); print " " (c == "0" ? "1" : "0") substr($0, 3); hit = 2; next }
                    { print } $0 == k { hit = 1 }' "$f" >"$f.2"
    cmp -s "$f" "$f.2" && nl_fail "no record $3 in $2 of $1"
    mdb_load -s "$2" -f "$f.2" "$dir" || nl_fail "mdb_load $2"
}

nl_step "three referrals police -> cac, received"
for c in A B C; do
    nl_referral "CASE-FIX-$c" >"$NL_T/ref$c.json"
    OUT=$(nl_node police.ticac send "$NL_T/ref$c.json" --to cac.chiangmai --wait=20) ||
        nl_fail "send $c: $OUT"
    eval "MSG_$c=$(jq -r .msg_id <<<"$OUT")"
    nl_wait 20 nl_node cac.chiangmai inbox show "$(eval echo \$MSG_$c)" || nl_fail "$c not received"
done

nl_step "the second inbox record damaged: the node starts, lists and shows the others"
nl_node_stop cac.chiangmai
damage cac.chiangmai inbox 0000000000000002
nl_node_start cac.chiangmai
L=$(nl_node cac.chiangmai inbox list --limit 100) || nl_fail "inbox list failed: $L"
[ "$(jq '.items | length' <<<"$L")" = 2 ] || nl_fail "inbox list: $L"
for c in A C; do
    M=$(nl_node cac.chiangmai inbox show "$(eval echo \$MSG_$c)") || nl_fail "inbox show $c: $M"
    T=$(jq -r .thread_id <<<"$M")
    nl_node cac.chiangmai thread show "$T" >/dev/null || nl_fail "thread show $c"
done
rc=0
nl_node cac.chiangmai inbox show "$MSG_B" >"$NL_T/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || nl_fail "inbox show of the damaged record: exit $rc: $(cat "$NL_T/out")"
grep -q 'store: inbox key 0000000000000002: the record does not open' \
    "$NL_T/nodes/cac.chiangmai/log" || nl_fail "the log does not name the damaged inbox record"
nl_node_ready cac.chiangmai

nl_step "the second outbox record damaged: the first and third are still sent"
nl_broker_stop
for c in D E F; do
    nl_referral "CASE-FIX-$c" >"$NL_T/ref$c.json"
    OUT=$(nl_node ngo.hots send "$NL_T/ref$c.json" --to cac.chiangmai) || nl_fail "send $c: $OUT"
    eval "MSG_$c=$(jq -r .msg_id <<<"$OUT")"
done
nl_node_stop ngo.hots
damage ngo.hots outbox 0000000000000002
nl_node_start ngo.hots
O=$(nl_node ngo.hots outbox) || nl_fail "outbox view failed: $O"
nl_broker_start
for c in D F; do
    nl_wait 30 nl_node cac.chiangmai inbox show "$(eval echo \$MSG_$c)" ||
        nl_fail "$c was not delivered past the damaged outbox record"
done
grep -q 'store: outbox key 0000000000000002: the record does not open' \
    "$NL_T/nodes/ngo.hots/log" || nl_fail "the log does not name the damaged outbox record"
nl_finish
echo "node store fixtures: OK"
