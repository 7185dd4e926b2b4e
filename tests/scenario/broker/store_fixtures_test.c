/* Corrupt fixtures for the broker's own tables (issue 11 item 5), as Mosquitto keeps for its
 * store reader: a store with known rows is damaged one way per case with the LMDB API, then
 * started with the real refbus-broker. Intent: the broker never crashes; a damaged next_seq or
 * directory refuses the store naming the table and key; any other damaged row is repaired or
 * quarantined with a warning naming its table and key, and every good referral is still
 * delivered (and the store is empty once everything was delivered or expired). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <sodium.h>

#include "bclient.h"
#include "common/util.h"
#include "proto/receipt.h"
#include "proto/wire_body.h"

/* The pristine store (seq: what): 1 cac->police "one", 2 ngo->police "two", 3 cac->police and
 * welfare "three", 4 ngo->welfare "four", 5 cac->ngo "five" (delivered: its envelope is gone,
 * its dedup row stays), 6 cac->police "six" (expires while the broker is down), 7 the notice
 * for cac that 5 was delivered; next_seq 8. */
static const char *const texts[] = {"", "one", "two", "three", "four", "five", "six"};
enum { M1 = 1 << 1, M2 = 1 << 2, M3 = 1 << 3, M4 = 1 << 4 };
static net S;

/* ---- the store, opened in this process ---- */

typedef struct db {
    MDB_env *env;
    MDB_txn *txn;
} db;

static void db_open(db *d, unsigned flags)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/broker", S.dir);
    assert_int_equal(mdb_env_create(&d->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(d->env, 32), 0);
    assert_int_equal(mdb_env_open(d->env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(d->env, NULL, flags, &d->txn), 0);
}

static void db_close(db *d)
{
    assert_int_equal(mdb_txn_commit(d->txn), 0);
    mdb_env_close(d->env);
}

static MDB_dbi table(db *d, const char *name)
{
    MDB_dbi t;
    assert_int_equal(mdb_dbi_open(d->txn, name, 0, &t), 0);
    return t;
}

static void put(db *d, const char *t, const void *k, size_t kl, const void *v, size_t vl)
{
    MDB_val kv = {kl, (void *)k}, vv = {vl, (void *)v};
    assert_int_equal(mdb_put(d->txn, table(d, t), &kv, &vv, 0), 0);
}

/* The value of an existing row, copied into buf (at most cap bytes); returns its length. */
static size_t get(db *d, const char *t, const void *k, size_t kl, void *buf, size_t cap)
{
    MDB_val kv = {kl, (void *)k}, vv;
    assert_int_equal(mdb_get(d->txn, table(d, t), &kv, &vv), 0);
    memcpy(buf, vv.mv_data, vv.mv_size < cap ? vv.mv_size : cap);
    return vv.mv_size;
}

static void del(db *d, const char *t, const void *k, size_t kl)
{
    MDB_val kv = {kl, (void *)k};
    assert_int_equal(mdb_del(d->txn, table(d, t), &kv, NULL), 0);
}

static size_t rows(db *d, const char *t)
{
    MDB_stat st;
    assert_int_equal(mdb_stat(d->txn, table(d, t), &st), 0);
    return st.ms_entries;
}

static size_t seqkey(uint8_t *out, uint64_t seq)
{
    refbus_put_u64be(out, seq);
    return 8;
}

/* agency 0x00 [255 - priority 0] seq; `prio` 0 leaves the byte out (notice keys) */
static size_t akey(uint8_t *out, const char *agency, int prio, uint64_t seq)
{
    size_t n = strlen(agency) + 1;
    memcpy(out, agency, n);
    if (prio)
        out[n++] = 0xff;
    refbus_put_u64be(out + n, seq);
    return n + 8;
}

static size_t dedupkey(db *d, uint8_t *out, uint64_t seq)
{
    /* find the dedup row of `seq` (its value starts with the seq) */
    MDB_cursor *c;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(d->txn, table(d, "broker.dedup"), &c), 0);
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && !(v.mv_size >= 8 && refbus_get_u64be(v.mv_data) == seq))
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    assert_int_equal(rc, 0);
    memcpy(out, k.mv_data, k.mv_size);
    mdb_cursor_close(c);
    return k.mv_size;
}

/* ---- the network ---- */

static int send_text(bclient *c, const char *to, const char *text, uint64_t expires_ms)
{
    uint8_t *env = NULL;
    size_t len = 0;
    refbus_receipt r;
    assert_int_equal(bclient_seal(c, &S, to, text, strlen(text), 0, expires_ms, &env, &len), 0);
    int cmd = bclient_submit(c, &S, env, len, &r, 10000);
    free(env);
    return cmd;
}

/* Receive deliveries until none comes for `quiet_ms`; returns the mask of texts received
 * (each once: a second copy fails the test). */
static int drain(bclient *c, int quiet_ms)
{
    int mask = 0;
    refbus_wire_msg m;
    while (bclient_expect(c, REFBUS_CMD_DELIVER, &m, mask ? quiet_ms : 10000) == 0) {
        refbus_envelope_header h;
        uint8_t *pl = NULL;
        size_t pl_len = 0;
        assert_int_equal(bclient_accept_delivery(c, &S, &m, &h, &pl, &pl_len), 0);
        int which = 0;
        for (int i = 1; i < 7; i++)
            if (pl_len == strlen(texts[i]) && memcmp(pl, texts[i], pl_len) == 0)
                which = 1 << i;
        refbus_envelope_payload_free(&pl, pl_len);
        refbus_wire_msg_clear(&m);
        assert_int_not_equal(which, 0);
        assert_int_equal(mask & which, 0); /* no duplicates */
        mask |= which;
    }
    return mask;
}

/* Read cac's notices until it has the DELIVERED one for "five" (when `delivered`) and the
 * EXPIRED one for "six", acknowledging each; every notice must be a receipt. */
static void expect_notices(bclient *c, int delivered)
{
    refbus_wire_msg m;
    int got_delivered = !delivered, got_expired = 0;
    while (!got_delivered || !got_expired) {
        assert_int_equal(bclient_expect(c, REFBUS_CMD_RECEIPT, &m, 10000), 0);
        refbus_wire_notice nt;
        assert_int_equal(refbus_wire_notice_decode(&nt, m.body, m.body_len), 0);
        refbus_receipt r;
        assert_int_equal(refbus_receipt_parse(&r, nt.receipt, nt.receipt_len), 0);
        if (r.type == REFBUS_RECEIPT_DELIVERED && strcmp(r.recipient, "ngo.hots") == 0)
            got_delivered = 1;
        else if (r.type == REFBUS_RECEIPT_EXPIRED && strcmp(r.recipient, "police.ticac") == 0)
            got_expired = 1;
        else
            fail_msg("unexpected notice of type %d for %s", (int)r.type, r.recipient);
        assert_int_equal(bclient_ack(c, nt.seq), 0);
        refbus_wire_notice_clear(&nt);
        refbus_wire_msg_clear(&m);
    }
}

static int group_setup(void **state)
{
    (void)state;
    bclient cac, ngo;
    net_init(&S);
    net_start_broker(&S, NULL);
    if (bclient_open(&cac, &S, "cac.chiangmai", 64, 1) != 0 ||
        bclient_open(&ngo, &S, "ngo.hots", 64, 1) != 0)
        return -1;
    uint64_t six_expires = refbus_now_ms() + 4000;
    if (send_text(&cac, "police.ticac", "one", 0) != REFBUS_CMD_ACCEPTED ||
        send_text(&ngo, "police.ticac", "two", 0) != REFBUS_CMD_ACCEPTED ||
        send_text(&cac, "police.ticac,welfare.cm", "three", 0) != REFBUS_CMD_ACCEPTED ||
        send_text(&ngo, "welfare.cm", "four", 0) != REFBUS_CMD_ACCEPTED ||
        send_text(&cac, "ngo.hots", "five", 0) != REFBUS_CMD_ACCEPTED ||
        send_text(&cac, "police.ticac", "six", six_expires) != REFBUS_CMD_ACCEPTED)
        return -1;
    if (drain(&ngo, 500) != 1 << 5)
        return -1;
    bclient_close(&ngo);
    bclient_close(&cac);
    net_kill_broker(&S, SIGTERM);
    /* "six" must still be queued (stopped before it expired), then expire while stopped */
    db d;
    uint8_t k[100], v[8];
    db_open(&d, MDB_RDONLY);
    get(&d, "broker.queue", k, akey(k, "police.ticac", 1, 6), v, 8);
    get(&d, "broker.notices", k, akey(k, "cac.chiangmai", 0, 7), v, 8);
    assert_int_equal(rows(&d, "broker.envelopes"), 5);
    db_close(&d);
    while (refbus_now_ms() <= six_expires + 100)
        usleep(100000);
    return net_sh(&S, "cp -a broker broker.pristine");
}

static int group_teardown(void **state)
{
    (void)state;
    net_free(&S);
    return 0;
}

/* ---- one case ---- */

typedef struct fixture {
    void (*damage)(db *d);
    int police, welfare;  /* masks of the texts each must receive */
    int delivered_notice; /* cac still gets the DELIVERED notice for "five" */
    const char *log[3];   /* substrings the broker's log must hold */
} fixture;

static int log_has(const char *what)
{
    char path[400];
    uint8_t *text = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/broker.log", S.dir);
    if (refbus_file_read(&text, &len, path, 16u << 20) != 0)
        return 0;
    char *t = realloc(text, len + 1);
    assert_non_null(t);
    t[len] = 0;
    int found = strstr(t, what) != NULL;
    free(t);
    return found;
}

static void restore(void (*damage)(db *d))
{
    net_kill_broker(&S, SIGKILL); /* left running by a failed case */
    assert_int_equal(net_sh(&S, "rm -rf broker broker.log && cp -a broker.pristine broker"), 0);
    db d;
    db_open(&d, 0);
    damage(&d);
    db_close(&d);
}

static void no_sanitizer_report(void)
{
    assert_false(log_has("Sanitizer"));
    assert_false(log_has("runtime error"));
}

static void run_case(const fixture *f)
{
    bclient cac, pol, wel;
    restore(f->damage);
    snprintf(S.log_file, sizeof S.log_file, "%s/broker.log", S.dir);
    net_start_broker(&S, NULL);
    S.log_file[0] = 0;
    assert_int_equal(bclient_open(&cac, &S, "cac.chiangmai", 64, 1), 0);
    expect_notices(&cac, f->delivered_notice);
    assert_int_equal(bclient_open(&pol, &S, "police.ticac", 64, 1), 0);
    assert_int_equal(drain(&pol, 1500), f->police);
    assert_int_equal(bclient_open(&wel, &S, "welfare.cm", 64, 1), 0);
    assert_int_equal(drain(&wel, 1500), f->welfare);
    bclient_close(&wel);
    bclient_close(&pol);
    bclient_close(&cac);
    net_kill_broker(&S, SIGTERM); /* asserts a clean exit */
    /* everything delivered or expired: nothing left behind in the delivery tables */
    db d;
    db_open(&d, MDB_RDONLY);
    assert_int_equal(rows(&d, "broker.queue"), 0);
    assert_int_equal(rows(&d, "broker.envelopes"), 0);
    assert_int_equal(rows(&d, "broker.pending"), 0);
    assert_int_equal(rows(&d, "broker.expiry"), 0);
    db_close(&d);
    for (int i = 0; i < 3 && f->log[i]; i++)
        if (!log_has(f->log[i]))
            fail_msg("the broker's log does not say: %s", f->log[i]);
    if (!f->log[0])
        assert_false(log_has("broker.quarantine"));
    no_sanitizer_report();
    assert_int_equal(net_sh(&S, "refbus-audit verify broker >/dev/null 2>&1"), 0);
}

/* Damage that makes the store untrustworthy: `run` must refuse it, saying which row. */
static void refuse_case(void (*damage)(db *d), const char *what)
{
    restore(damage);
    int rc = net_sh(&S,
                    "timeout 30 refbus-broker run -d broker -b %s -k keys/broker.cm.bundle "
                    "-p pass -D directory.bin -l warn >/dev/null 2>broker.log",
                    S.endpoint);
    if (rc == 0 || rc == 124)
        fail_msg("refbus-broker run did not refuse the store (exit %d)", rc);
    if (!log_has(what))
        fail_msg("the broker's log does not say: %s", what);
    no_sanitizer_report();
}

#define FULL M1 | M2 | M3, M3 | M4, 1
#define Q1 "broker.queue key \"police.ticac\\x00\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x01"

static void none(db *d)
{
    (void)d;
}

static void queue_key_truncated(db *d)
{
    uint8_t exp[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    put(d, "broker.queue", "police.ticac\0\xff\0", 15, exp, 8);
}

static void queue_key_too_long(db *d)
{
    uint8_t k[100], v[8];
    size_t kl = akey(k, "police.ticac", 1, 1);
    get(d, "broker.queue", k, kl, v, 8);
    k[kl] = 7;
    put(d, "broker.queue", k, kl + 1, v, 8);
}

static void queue_value(db *d, const char *agency, uint64_t seq, const void *v, size_t vl)
{
    uint8_t k[100];
    put(d, "broker.queue", k, akey(k, agency, 1, seq), v, vl);
}

static void queue_value_truncated(db *d)
{
    queue_value(d, "police.ticac", 1, "\x7f\xff\xff\xff", 4);
}

static void queue_value_oversized(db *d)
{
    queue_value(d, "police.ticac", 1, "0123456789abcdef", 16);
}

static void queue_value_garbage(db *d)
{
    queue_value(d, "welfare.cm", 3, "\0\0\0\0\0\0\0\0", 8); /* "expired in 1970" */
}

static void queue_envelope_gone(db *d)
{
    uint8_t k[8];
    del(d, "broker.envelopes", k, seqkey(k, 2));
}

static void queue_wrong_agency(db *d)
{
    uint8_t k[100], v[8];
    get(d, "broker.queue", k, akey(k, "police.ticac", 1, 1), v, 8);
    put(d, "broker.queue", k, akey(k, "welfare.cm", 1, 1), v, 8); /* m1 is not for welfare */
}

static void pending_value(db *d, uint64_t seq, const void *v, size_t vl)
{
    uint8_t k[8];
    put(d, "broker.pending", k, seqkey(k, seq), v, vl);
}

static void pending_zero(db *d)
{
    pending_value(d, 3, "\0\0\0\0cac.chiangmai", 17);
}

static void pending_too_large(db *d)
{
    pending_value(d, 1, "\5\0\0\0cac.chiangmai", 17);
}

static void pending_truncated(db *d)
{
    pending_value(d, 1, "\1\0", 2);
}

static void pending_oversized(db *d)
{
    uint8_t v[100];
    memset(v, 'x', sizeof v);
    v[0] = 1, v[1] = v[2] = v[3] = 0;
    pending_value(d, 4, v, sizeof v);
}

static void dedup_short_queued(db *d)
{
    uint8_t k[100], v[200];
    size_t kl = dedupkey(d, k, 3);
    get(d, "broker.dedup", k, kl, v, sizeof v);
    put(d, "broker.dedup", k, kl, v, 20);
}

static void dedup_short_done(db *d)
{
    uint8_t k[100], v[200];
    size_t kl = dedupkey(d, k, 5);
    get(d, "broker.dedup", k, kl, v, sizeof v);
    put(d, "broker.dedup", k, kl, v, 10);
}

static void dedup_bad_keys(db *d)
{
    uint8_t k[100], v[200];
    size_t kl = dedupkey(d, k, 5);
    size_t vl = get(d, "broker.dedup", k, kl, v, sizeof v);
    put(d, "broker.dedup", k, kl - 1, v, vl < sizeof v ? vl : sizeof v); /* truncated */
    k[kl] = 0x42;
    put(d, "broker.dedup", k, kl + 1, v, vl < sizeof v ? vl : sizeof v); /* too long */
}

static void notice_not_receipt(db *d)
{
    uint8_t k[100];
    put(d, "broker.notices", k, akey(k, "cac.chiangmai", 0, 7), "not a receipt", 13);
}

static void notice_key_truncated(db *d)
{
    uint8_t k[100], v[1000];
    size_t vl = get(d, "broker.notices", k, akey(k, "cac.chiangmai", 0, 7), v, sizeof v);
    assert_true(vl <= sizeof v);
    put(d, "broker.notices", "cac.chiangmai\0\0", 15, v, vl);
}

static void expiry_key_truncated(db *d)
{
    put(d, "broker.expiry", "\0\0", 2, "\0", 1);
}

static void expiry_value_wrong(db *d)
{
    /* the expiry row of "six": find it by its seq (the only one already due) */
    MDB_cursor *c;
    MDB_val k, v;
    uint8_t kb[100];
    assert_int_equal(mdb_cursor_open(d->txn, table(d, "broker.expiry"), &c), 0);
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0 && refbus_get_u64be((uint8_t *)k.mv_data + 8) != 6)
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    assert_int_equal(rc, 0);
    size_t kl = k.mv_size;
    memcpy(kb, k.mv_data, kl);
    mdb_cursor_close(c);
    put(d, "broker.expiry", kb, kl, "\7", 1);
}

static void envelope_garbage(db *d)
{
    uint8_t k[8], v[100];
    randombytes_buf(v, sizeof v);
    put(d, "broker.envelopes", k, seqkey(k, 2), v, sizeof v);
}

static void envelope_truncated(db *d)
{
    uint8_t k[8], v[60];
    get(d, "broker.envelopes", k, seqkey(k, 2), v, sizeof v);
    put(d, "broker.envelopes", k, 8, v, sizeof v);
}

/* An accepted envelope of a format this program does not read (header version 2): written by
 * another program, never garbage — refused at start, not taken off the queue. */
static void envelope_newer_version(db *d)
{
    static uint8_t v[1u << 20];
    uint8_t k[8];
    size_t n = get(d, "broker.envelopes", k, seqkey(k, 2), v, sizeof v), p = 1;
    while (v[p] & 0x80) /* Envelope field 1 (the header): tag 0x0a, a varint length */
        p++;
    p++;
    assert_int_equal(v[0], 0x0a);
    assert_int_equal(v[p], 0x08); /* EnvelopeHeader field 1, version = 1 */
    assert_int_equal(v[p + 1], 0x01);
    v[p + 1] = 0x02;
    put(d, "broker.envelopes", k, 8, v, n);
}

static void envelope_key_truncated(db *d)
{
    static uint8_t v[1u << 20];
    uint8_t k[8];
    size_t vl = get(d, "broker.envelopes", k, seqkey(k, 1), v, sizeof v);
    assert_true(vl <= sizeof v);
    put(d, "broker.envelopes", k, 4, v, vl);
}

static void next_seq_value(db *d, const void *v, size_t vl)
{
    put(d, "broker.meta", "next_seq", 8, v, vl);
}

static void next_seq_malformed(db *d)
{
    next_seq_value(d, "\0\0\0\x08", 4);
}

static void next_seq_too_small(db *d)
{
    next_seq_value(d, "\0\0\0\0\0\0\0\x03", 8);
}

static void next_seq_missing(db *d)
{
    del(d, "broker.meta", "next_seq", 8);
}

static void directory_forged(db *d)
{
    static uint8_t v[1u << 20];
    size_t vl = get(d, "broker.meta", "directory", 9, v, sizeof v);
    assert_true(vl <= sizeof v);
    v[vl / 2] ^= 1;
    put(d, "broker.meta", "directory", 9, v, vl);
}

#define CASE(name, ...)                        \
    static void test_##name(void **s)          \
    {                                          \
        (void)s;                               \
        const fixture f = {name, __VA_ARGS__}; \
        run_case(&f);                          \
    }

CASE(none, FULL, {NULL})
CASE(queue_key_truncated, FULL,
     {"broker.queue key \"police.ticac\\x00\\xff\\x00\": key is not agency",
      "moved to broker.quarantine"})
CASE(queue_key_too_long, FULL, {Q1 "\\x07\": key is not agency"})
CASE(queue_value_truncated, FULL, {Q1 "\": value (4 bytes) is not the envelope's expiry; repaired"})
CASE(queue_value_oversized, FULL, {Q1 "\": value (16 bytes)"})
CASE(queue_value_garbage, FULL, {"broker.queue key \"welfare.cm\\x00\\xff", "value (8 bytes)"})
CASE(queue_envelope_gone, M1 | M3, M3 | M4, 1,
     {"broker.queue key \"police.ticac\\x00\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\": its "
      "envelope is not in broker.envelopes",
      "broker.pending key \"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\": names no envelope"})
CASE(queue_wrong_agency, FULL, {"broker.queue key \"welfare.cm\\x00\\xff", "not addressed"})
CASE(pending_zero, FULL,
     {"broker.pending key \"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x03\": 0 "
      "recipients to serve, but 2 queue rows; repaired"})
CASE(pending_too_large, FULL, {"broker.pending key", "5 recipients to serve, but 1 queue rows"})
CASE(pending_truncated, FULL, {"broker.pending key", "value malformed; set to its 1 queue rows"})
CASE(pending_oversized, FULL, {"broker.pending key", "value malformed"})
CASE(dedup_short_queued, FULL,
     {"broker.dedup key \"cac.chiangmai\\x00", "value shorter than its "
                                               "record for the queued envelope seq 3; rebuilt"})
/* Dedup rows of messages no longer queued are not read at start (the table keeps a row for
 * every message ever accepted; a start stays under a second): every agency is served, nothing
 * is quarantined, and a resend that reads a damaged row takes the message as new (accept.c). */
CASE(dedup_short_done, FULL, {NULL})
CASE(dedup_bad_keys, FULL, {NULL})
CASE(notice_not_receipt, M1 | M2 | M3, M3 | M4, 0,
     {"broker.notices key \"cac.chiangmai\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x07\": value "
      "is not a signed receipt"})
CASE(notice_key_truncated, FULL,
     {"broker.notices key \"cac.chiangmai\\x00\\x00\": key is not agency 0x00 seq(8)"})
CASE(expiry_key_truncated, FULL, {"broker.expiry key \"\\x00\\x00\": key is not"})
CASE(expiry_value_wrong, FULL, {"broker.expiry key", "missing or wrong for a queued message"})
CASE(envelope_garbage, M1 | M3, M3 | M4, 1,
     {"broker.envelopes key \"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\": 100 bytes that are not "
      "an envelope",
      "broker.queue key \"police.ticac\\x00\\xff\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\": its "
      "envelope is not in broker.envelopes"})
CASE(envelope_truncated, M1 | M3, M3 | M4, 1, {"broker.envelopes key", "60 bytes that are not"})
CASE(envelope_key_truncated, FULL,
     {"broker.envelopes key \"\\x00\\x00\\x00\\x00\": key of 4 bytes"})

static void test_refuse_next_seq_malformed(void **s)
{
    (void)s;
    refuse_case(next_seq_malformed, "broker.meta key \"next_seq\" is 4 bytes, not 8");
}

static void test_refuse_next_seq_too_small(void **s)
{
    (void)s;
    refuse_case(next_seq_too_small, "broker.meta key \"next_seq\" is 3, but");
}

static void test_refuse_next_seq_missing(void **s)
{
    (void)s;
    refuse_case(next_seq_missing, "broker.meta key \"next_seq\" is missing");
}

static void test_refuse_envelope_newer_version(void **s)
{
    (void)s;
    refuse_case(envelope_newer_version, "broker.envelopes key seq 2: ");
}

static void test_refuse_directory_forged(void **s)
{
    (void)s;
    refuse_case(directory_forged, "broker.meta key \"directory\" (the installed directory) does "
                                  "not verify");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_queue_key_truncated),
        cmocka_unit_test(test_queue_key_too_long),
        cmocka_unit_test(test_queue_value_truncated),
        cmocka_unit_test(test_queue_value_oversized),
        cmocka_unit_test(test_queue_value_garbage),
        cmocka_unit_test(test_queue_envelope_gone),
        cmocka_unit_test(test_queue_wrong_agency),
        cmocka_unit_test(test_pending_zero),
        cmocka_unit_test(test_pending_too_large),
        cmocka_unit_test(test_pending_truncated),
        cmocka_unit_test(test_pending_oversized),
        cmocka_unit_test(test_dedup_short_queued),
        cmocka_unit_test(test_dedup_short_done),
        cmocka_unit_test(test_dedup_bad_keys),
        cmocka_unit_test(test_notice_not_receipt),
        cmocka_unit_test(test_notice_key_truncated),
        cmocka_unit_test(test_expiry_key_truncated),
        cmocka_unit_test(test_expiry_value_wrong),
        cmocka_unit_test(test_envelope_garbage),
        cmocka_unit_test(test_envelope_truncated),
        cmocka_unit_test(test_envelope_key_truncated),
        cmocka_unit_test(test_refuse_next_seq_malformed),
        cmocka_unit_test(test_refuse_next_seq_too_small),
        cmocka_unit_test(test_refuse_next_seq_missing),
        cmocka_unit_test(test_refuse_directory_forged),
        cmocka_unit_test(test_refuse_envelope_newer_version),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
