/* The daemon's handling of what the broker sends, without a broker: a network made with the
 * keys admin API, a node context with a real keystore, directory and store, and crafted
 * messages. Deliveries: stored once, duplicates receipted again, garbage / tampered / not for
 * us / malformed content / revoked sender refused with the reason; a nonsense thread answer is
 * kept but not applied. Broker receipts: a forged ACCEPTED changes nothing, a real one moves
 * the outbox entry to sent, a REJECTED marks it failed with the reason. Checkpoints: consistent
 * ones install, a forged signature, a shorter trail, a different root and a proof that does
 * not verify are refused (the last three raise the alarm) and the held one stays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <unistd.h>
#include <zmq.h>

#include "audit.pb-c.h"
#include "audit/checkpoint.h"
#include "proto/merkle.h"
#include "common/log.h"
#include "common/util.h"
#include "keys/admin.h"
#include "nodes/daemon/node_int.h"
#include "nodes/rules/referral_json.h"
#include "proto/wire.h"
#include "testutil.h"
#ifdef REFBUS_TEST_FAULT
#include "../../fault/fault.h"
#endif

#define PASS "test pass"

static char dir[256];
static nd_daemon *d;
static refbus_keystore *cac, *broker;
static refbus_admin *adm;

static void path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%.200s/%.60s", dir, name);
}

static int setup(void **s)
{
    (void)s;
    char p[300], q[300];
    refbus_kdf kdf;
    uint8_t root[32];
    const char *eps[] = {"tcp://127.0.0.1:1"};
    if (sodium_init() < 0 || refbus_kdf_named(&kdf, "min"))
        return -1;
    refbus_log_init("node_inbound_test", REFBUS_LOG_ERROR, 0);
    snprintf(dir, sizeof dir, "/tmp/refbus-node-inbound-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    path(p, sizeof p, "admin");
    if (refbus_admin_init(p, PASS, strlen(PASS), &kdf, root) || refbus_admin_open(&adm, p))
        return -1;
    path(p, sizeof p, "broker.bundle");
    if (refbus_admin_broker_add(adm, "broker.cm", eps, 1, p, PASS, strlen(PASS), &kdf))
        return -1;
    const char *ids[] = {"ngo.hots", "cac.chiangmai", "police.ticac"};
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "%s.bundle", ids[i]);
        path(p, sizeof p, q);
        if (refbus_admin_agency_add(adm, ids[i], ids[i], REFBUS_AGENCY_OTHER, p, PASS, strlen(PASS),
                                    &kdf))
            return -1;
    }
    path(p, sizeof p, "dir1.bin");
    if (refbus_admin_policy(adm, "*", "*", REFBUS_POLICY_ALLOW) ||
        refbus_admin_sign(adm, PASS, strlen(PASS), p, NULL))
        return -1;
    path(p, sizeof p, "pass");
    FILE *f = fopen(p, "w");
    fputs(PASS "\n", f);
    fclose(f);
    path(p, sizeof p, "cac.chiangmai.bundle");
    path(q, sizeof q, "broker.bundle");
    if (refbus_keystore_open(&cac, p, PASS, strlen(PASS)) ||
        refbus_keystore_open(&broker, q, PASS, strlen(PASS)))
        return -1;

    /* the node of ngo.hots, without its sockets */
    d = calloc(1, sizeof *d);
    refbus_node_config_init(&d->cfg);
    path(d->cfg.keystore, sizeof d->cfg.keystore, "ngo.hots.bundle");
    path(d->cfg.directory, sizeof d->cfg.directory, "dir1.bin");
    path(d->cfg.passphrase_file, sizeof d->cfg.passphrase_file, "pass");
    path(d->cfg.data_dir, sizeof d->cfg.data_dir, "ngo");
    path(p, sizeof p, "ngo/store");
    int reconnect;
    if (nd_ident_open(d) ||
        refbus_nstore_open(&d->store, p, refbus_keystore_storage_key(d->ks), 16u << 20, 1) ||
        nd_ident_refresh(d, &reconnect))
        return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[300];
    refbus_nstore_close(&d->store);
    nd_ident_close(d);
    json_decref(d->cp_alarm);
    free(d->fl);
    free(d->pending);
    free(d->acks);
    free(d->ctl_answers);
    free(d);
    refbus_keystore_free(&cac);
    refbus_keystore_free(&broker);
    refbus_admin_close(&adm);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A referral (or raw payload) from cac.chiangmai, sealed to `to`. */
static uint8_t *from_cac(size_t *len, const char *to, const uint8_t *pl, size_t pl_len,
                         enum refbus_kind kind)
{
    const refbus_dir_key *k = NULL;
    const refbus_epoch_keys *ck = refbus_keystore_current(cac);
    uint8_t *env = NULL;
    assert_int_equal(refbus_directory_current_key(d->dir, to, &k), 0);
    refbus_recipient r = {to, k->epoch, k->enc_pk};
    refbus_seal_params p = {.sender = "cac.chiangmai",
                            .sender_epoch = ck->epoch,
                            .sign_sk = ck->sign_sk,
                            .recipients = &r,
                            .n_recipients = 1,
                            .kind = kind,
                            .expires_ms = refbus_now_ms() + 3600000};
    assert_int_equal(refbus_envelope_seal(&env, len, &p, pl, pl_len), 0);
    return env;
}

static uint8_t *referral_env(size_t *len, const char *to, uint8_t thread_id[16])
{
    size_t tl;
    char *text = test_read_source("deploy/examples/referral.json", &tl), err[256];
    json_t *j = NULL;
    uint8_t *pl = NULL;
    size_t pl_len;
    int urg;
    randombytes_buf(thread_id, 16);
    assert_int_equal(refbus_referral_json_parse_text(&j, text, tl, err), 0);
    assert_int_equal(refbus_referral_from_json(&pl, &pl_len, &urg, j, thread_id, err), 0);
    uint8_t *env = from_cac(len, to, pl, pl_len, REFBUS_KIND_REFERRAL);
    free(pl);
    free(text);
    json_decref(j);
    return env;
}

/* One receive pass with one delivery: stored, committed, receipted. */
static void deliver(nd_daemon *n, const uint8_t *env, size_t len)
{
    nd_inbound_deliver(n, env, len);
    nd_inbound_batch_end(n);
}

/* One receive pass with one broker receipt (the session ends each pass with batch_end). */
static void receipt_pass(nd_daemon *n, uint8_t cmd, const uint8_t *b, size_t len)
{
    nd_inbound_broker_receipt(n, cmd, b, len);
    nd_inbound_batch_end(n);
}

static uint64_t inbox_count(void)
{
    MDB_txn *txn = NULL;
    uint64_t n = 0;
    assert_int_equal(refbus_nstore_begin(d->store, 0, &txn), 0);
    assert_int_equal(refbus_nstore_count(d->store, txn, REFBUS_T_INBOX, &n), 0);
    refbus_nstore_abort(&txn);
    return n;
}

static int last_refusal(void)
{
    return d->recent[(d->recent_next + NODE_RECENT - 1) % NODE_RECENT].code;
}

static void test_deliveries(void **s)
{
    (void)s;
    uint8_t tid[16], *env, *pl = NULL;
    size_t len, pl_len;
    char err[256];
    env = referral_env(&len, "ngo.hots", tid);
    deliver(d, env, len);
    assert_int_equal(d->n.delivered_in, 1);
    assert_int_equal(inbox_count(), 1);
    deliver(d, env, len); /* the broker redelivers: receipted again, stored once */
    assert_int_equal(d->n.duplicates_in, 1);
    assert_int_equal(inbox_count(), 1);
    /* the same sender and msg id with other bytes: not stored over the first */
    env[len - 70] ^= 1;
    deliver(d, env, len);
    assert_int_equal(d->n.refused_in, 1);
    assert_int_equal(last_refusal(), REFBUS_EDUPLICATE);
    free(env);
    /* tampered: one ciphertext bit of a new message */
    env = referral_env(&len, "ngo.hots", tid);
    env[len - 70] ^= 1;
    deliver(d, env, len);
    assert_int_equal(last_refusal(), REFBUS_EBADSIG);
    free(env);
    /* garbage, and an envelope for someone else */
    uint8_t junk[64];
    memset(junk, 0x5a, sizeof junk);
    deliver(d, junk, sizeof junk);
    assert_int_equal(d->n.refused_in, 3);
    env = referral_env(&len, "police.ticac", tid);
    deliver(d, env, len);
    assert_int_equal(d->n.refused_in, 4);
    assert_int_equal(last_refusal(), REFBUS_ENOTRECIPIENT);
    free(env);
    /* correctly sealed, but the content is not a Payload */
    env = from_cac(&len, "ngo.hots", junk, sizeof junk, REFBUS_KIND_REFERRAL);
    deliver(d, env, len);
    assert_int_equal(last_refusal(), REFBUS_EMALFORMED);
    free(env);
    /* an answer whose kind in the header lies about the content */
    assert_int_equal(refbus_referral_status_payload(&pl, &pl_len, tid, NULL, REFBUS_TS_ACCEPTED,
                                                    NULL, NULL, err),
                     0);
    env = from_cac(&len, "ngo.hots", pl, pl_len, REFBUS_KIND_REFERRAL);
    deliver(d, env, len);
    assert_int_equal(last_refusal(), REFBUS_EMALFORMED);
    free(env);
    free(pl);
    assert_int_equal(inbox_count(), 1);
}

/* One receive pass: the same message twice and another one share one commit; the second copy
 * is recognised inside the open transaction; nothing is counted before the commit. */
static void test_batch(void **s)
{
    (void)s;
    uint8_t tid[16], *e1, *e2;
    size_t l1, l2;
    uint64_t before = inbox_count(), delivered = d->n.delivered_in, dups = d->n.duplicates_in;
    e1 = referral_env(&l1, "ngo.hots", tid);
    e2 = referral_env(&l2, "ngo.hots", tid);
    nd_inbound_deliver(d, e1, l1);
    nd_inbound_deliver(d, e1, l1);
    nd_inbound_deliver(d, e2, l2);
    assert_non_null(d->batch);
    assert_int_equal(d->n_pending, 3);
    assert_int_equal(d->n.delivered_in, delivered);
    nd_inbound_batch_end(d);
    assert_null(d->batch);
    assert_int_equal(inbox_count(), before + 2);
    assert_int_equal(d->n.delivered_in, delivered + 2);
    assert_int_equal(d->n.duplicates_in, dups + 1);
    free(e1);
    free(e2);
}

static void test_nonsense_answer_kept_not_applied(void **s)
{
    (void)s;
    uint8_t tid[16], *env, *pl = NULL;
    size_t len, pl_len;
    char err[256];
    refbus_thread *t = NULL;
    MDB_txn *txn = NULL;
    /* cac refers a case to us; then cac (the origin) says "completed" to its own referral */
    env = referral_env(&len, "ngo.hots", tid);
    deliver(d, env, len);
    free(env);
    uint64_t before = inbox_count();
    assert_int_equal(refbus_referral_status_payload(&pl, &pl_len, tid, NULL, REFBUS_TS_COMPLETED,
                                                    NULL, NULL, err),
                     0);
    env = from_cac(&len, "ngo.hots", pl, pl_len, REFBUS_KIND_STATUS);
    deliver(d, env, len);
    free(env);
    free(pl);
    assert_int_equal(inbox_count(), before + 1); /* authentic: stored and receipted */
    assert_int_equal(refbus_nstore_begin(d->store, 0, &txn), 0);
    assert_int_equal(refbus_nstore_thread_get(d->store, txn, tid, &t), 0);
    refbus_nstore_abort(&txn);
    assert_string_equal(t->origin, "cac.chiangmai");
    assert_int_equal(t->n_events, 2);
    assert_false(t->events[1]->applied);
    assert_int_equal(t->events[1]->error, REFBUS_ETRANSITION);
    assert_int_equal(t->members[0]->status, REFBUS_TS_REFERRED);
    refbus_thread_free(&t);
    /* and we, a recipient, may not cancel cac's referral: refused before anything is queued */
    json_t *req = json_pack("{s:s, s:s}", "msg_id", "", "status", "cancelled"), *reply = NULL;
    char why[256];
    assert_int_equal(nd_compose_reply(d, req, &reply, why, sizeof why), REFBUS_EINVAL);
    json_decref(req);
}

/* ACCEPTED / REJECTED signed by `sk` as `signer`. */
static uint8_t *broker_receipt(size_t *len, uint32_t type, const char *msg_hex,
                               const uint8_t hash[32], int reason, const char *signer,
                               const uint8_t *sk)
{
    refbus_receipt r;
    uint8_t *b = NULL;
    memset(&r, 0, sizeof r);
    r.type = type;
    assert_int_equal(refbus_unhex(r.msg_id, 16, msg_hex), 0);
    snprintf(r.sender, sizeof r.sender, "ngo.hots");
    memcpy(r.envelope_hash, hash, 32);
    r.time_ms = refbus_now_ms();
    r.reason = reason;
    snprintf(r.reason_text, sizeof r.reason_text, "policy says no");
    r.audit_index = 7;
    snprintf(r.signer, sizeof r.signer, "%s", signer);
    r.signer_epoch = 1;
    assert_int_equal(refbus_receipt_sign(&b, len, &r, sk), 0);
    return b;
}

static const char *queue_referral(uint8_t hash[32])
{
    static char mid[33];
    size_t tl;
    char *text = test_read_source("deploy/examples/referral.json", &tl), why[256];
    json_t *req = json_pack("{s:o, s:[s]}", "referral", json_loads(text, 0, NULL), "to",
                            "cac.chiangmai"),
           *reply = NULL;
    assert_int_equal(nd_compose_send(d, req, &reply, why, sizeof why), 0);
    nd_control_batch_end(d); /* the control pass's group commit */
    snprintf(mid, sizeof mid, "%s", json_string_value(json_object_get(reply, "msg_id")));
    json_decref(reply);
    json_decref(req);
    free(text);
    /* the envelope's hash, from the outbox */
    MDB_txn *txn = NULL;
    uint8_t id[16];
    uint64_t seq;
    refbus_outbox_rec *o = NULL;
    refbus_envelope_header h;
    assert_int_equal(refbus_unhex(id, 16, mid), 0);
    assert_int_equal(refbus_nstore_begin(d->store, 0, &txn), 0);
    assert_int_equal(refbus_nstore_outbox_find(d->store, txn, id, &seq), 0);
    assert_int_equal(refbus_nstore_outbox_get(d->store, txn, seq, &o), 0);
    assert_int_equal(refbus_envelope_parse(&h, o->envelope.data, o->envelope.len), 0);
    memcpy(hash, h.envelope_hash, 32);
    refbus_nstore_outbox_free(&o);
    refbus_nstore_abort(&txn);
    return mid;
}

static json_t *outbox_state(const char *mid)
{
    json_t *req = json_pack("{s:s}", "msg_id", mid), *reply = NULL;
    char why[256];
    int rc = nd_view_outbox(d, req, &reply, why, sizeof why);
    json_decref(req);
    return rc ? NULL : reply;
}

static void test_broker_receipts(void **s)
{
    (void)s;
    uint8_t hash[32], *b;
    size_t len;
    const refbus_epoch_keys *bk = refbus_keystore_current(broker);
    const refbus_epoch_keys *ck = refbus_keystore_current(cac);
    char mid[33];
    snprintf(mid, sizeof mid, "%s", queue_referral(hash));
    /* forged: an agency's key signing as the broker */
    b = broker_receipt(&len, REFBUS_RECEIPT_ACCEPTED, mid, hash, 0, "broker.cm", ck->sign_sk);
    receipt_pass(d, REFBUS_CMD_ACCEPTED, b, len);
    free(b);
    assert_int_equal(d->n.bad_receipts, 1);
    json_t *st = outbox_state(mid);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "pending");
    json_decref(st);
    /* a real one, but for another envelope hash: ignored */
    uint8_t other[32];
    memset(other, 7, 32);
    b = broker_receipt(&len, REFBUS_RECEIPT_ACCEPTED, mid, other, 0, "broker.cm", bk->sign_sk);
    receipt_pass(d, REFBUS_CMD_ACCEPTED, b, len);
    free(b);
    st = outbox_state(mid);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "pending");
    json_decref(st);
    /* the real one */
    b = broker_receipt(&len, REFBUS_RECEIPT_ACCEPTED, mid, hash, 0, "broker.cm", bk->sign_sk);
    nd_inbound_broker_receipt(d, REFBUS_CMD_ACCEPTED, b, len);
    receipt_pass(d, REFBUS_CMD_ACCEPTED, b, len); /* and again in the same pass: harmless */
    free(b);
    st = outbox_state(mid);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "accepted");
    assert_int_equal(json_integer_value(json_object_get(st, "audit_index")), 7);
    json_decref(st);
    assert_int_equal(d->n.accepted, 1);
    /* REJECTED with a reason: failed, and it says why */
    snprintf(mid, sizeof mid, "%s", queue_referral(hash));
    b = broker_receipt(&len, REFBUS_RECEIPT_REJECTED, mid, hash, REFBUS_EPOLICY, "broker.cm",
                       bk->sign_sk);
    receipt_pass(d, REFBUS_CMD_REJECTED, b, len);
    free(b);
    st = outbox_state(mid);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(st, "error")), "EPOLICY");
    assert_string_equal(json_string_value(json_object_get(st, "reason")), "policy says no");
    json_decref(st);
    /* REJECTED with a transient reason (the broker's storage full, out of memory, this agency's
     * quota, a directory it does not hold yet): kept in the outbox, pending, to be resent */
    const int transient[] = {REFBUS_ENOMEM, REFBUS_EMAPFULL,       REFBUS_ENOSPC,     REFBUS_EQUOTA,
                             REFBUS_EIO,    REFBUS_EUNKNOWNAGENCY, REFBUS_ENOEPOCHKEY};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        snprintf(mid, sizeof mid, "%s", queue_referral(hash));
        b = broker_receipt(&len, REFBUS_RECEIPT_REJECTED, mid, hash, transient[i], "broker.cm",
                           bk->sign_sk);
        receipt_pass(d, REFBUS_CMD_REJECTED, b, len);
        free(b);
        st = outbox_state(mid);
        assert_string_equal(json_string_value(json_object_get(st, "state")), "pending");
        json_decref(st);
    }
}

/* Checkpoints over a list of leaves. */
typedef struct tree {
    uint8_t leaf[16][32];
} tree;

static int mth(void *ctx, uint64_t a, uint64_t b, uint8_t out[32])
{
    tree *t = ctx;
    refbus_merkle_stack st;
    refbus_merkle_stack_init(&st);
    for (uint64_t i = a; i < b; i++)
        refbus_merkle_stack_push(&st, t->leaf[i], NULL);
    refbus_merkle_stack_root(&st, out);
    return 0;
}

static void push_cp(tree *t, uint64_t size, uint64_t from, const uint8_t *sk)
{
    refbus_checkpoint c;
    uint8_t *signed_cp = NULL, proof[REFBUS_MERKLE_MAX_PATH][32];
    size_t n = 0, np = 0;
    memset(&c, 0, sizeof c);
    memset(c.log_id, 0x11, 32);
    c.size = size;
    c.time_ms = refbus_now_ms();
    assert_int_equal(mth(t, 0, size, c.root), 0);
    assert_int_equal(refbus_checkpoint_sign(&signed_cp, &n, &c, sk), 0);
    if (from && from < size)
        assert_int_equal(refbus_merkle_consistency_path(proof, &np, from, size, mth, t), 0);
    refbus_wire_checkpoint_push p = {.signed_cp = signed_cp,
                                     .signed_cp_len = n,
                                     .from_size = from,
                                     .proof = proof,
                                     .n_proof = np};
    uint8_t *buf = NULL;
    size_t bl = 0;
    assert_int_equal(refbus_wire_checkpoint_push_encode(&buf, &bl, &p), 0);
    nd_inbound_checkpoint(d, buf, bl);
    free(buf);
    free(signed_cp);
}

static void test_checkpoints(void **s)
{
    (void)s;
    tree a, b;
    const uint8_t *bsk = refbus_keystore_current(broker)->sign_sk;
    for (int i = 0; i < 16; i++) {
        uint8_t rec[8] = {'r', 'e', 'c', (uint8_t)i};
        refbus_merkle_leaf(a.leaf[i], rec, sizeof rec);
        rec[4] = i >= 6; /* b: the same first six records, then another history */
        refbus_merkle_leaf(b.leaf[i], rec, sizeof rec);
    }
    push_cp(&a, 4, 0, bsk);
    assert_true(d->have_cp);
    assert_int_equal(d->cp.size, 4);
    push_cp(&a, 8, 4, bsk); /* consistent */
    assert_int_equal(d->cp.size, 8);
    assert_null(d->cp_alarm);
    /* forged signature: refused, no alarm, nothing installed */
    push_cp(&a, 12, 8, refbus_keystore_current(cac)->sign_sk);
    assert_int_equal(d->cp.size, 8);
    assert_null(d->cp_alarm);
    /* a proof from a size we do not hold: not checked, not installed */
    push_cp(&a, 12, 5, bsk);
    assert_int_equal(d->cp.size, 8);
    assert_null(d->cp_alarm);
    /* another history from record 6 on: the proof from 8 cannot verify */
    push_cp(&b, 12, 8, bsk);
    assert_int_equal(d->cp.size, 8);
    assert_non_null(d->cp_alarm);
    assert_non_null(
        strstr(json_string_value(json_object_get(d->cp_alarm, "reason")), "consistency"));
    /* same size, other root; and a shorter trail */
    push_cp(&b, 8, 0, bsk);
    assert_non_null(strstr(json_string_value(json_object_get(d->cp_alarm, "reason")), "root"));
    push_cp(&a, 3, 0, bsk);
    assert_non_null(strstr(json_string_value(json_object_get(d->cp_alarm, "reason")), "shorter"));
    assert_int_equal(d->cp.size, 8);
    assert_int_equal(d->n.checkpoints_refused, 4);
    /* the honest continuation still installs; the alarm stays on record */
    push_cp(&a, 16, 8, bsk);
    assert_int_equal(d->cp.size, 16);
    assert_non_null(d->cp_alarm);
    json_decref(d->cp_alarm);
    d->cp_alarm = NULL;
    d->have_cp = 0;
    assert_int_equal(nd_inbound_load_checkpoint(d), 0); /* both persisted */
    assert_int_equal(d->cp.size, 16);
    assert_non_null(d->cp_alarm);
}

/* A delivery from cac.chiangmai whose payload is `pl` (raw bytes, sealed as `kind`). */
static void deliver_raw_payload(const uint8_t *pl, size_t pl_len, enum refbus_kind kind)
{
    size_t len;
    uint8_t *env = from_cac(&len, "ngo.hots", pl, pl_len, kind);
    deliver(d, env, len);
    free(env);
}

/* Two readers, one content: a payload that is not the one canonical encoding of what it says
 * is refused for good (EMALFORMED, REJECTED receipt), like a non-canonical envelope. Each form
 * below was stored (and shown) by the old code. */
static void test_non_canonical_payloads(void **s)
{
    (void)s;
    uint8_t tid[16], b[128];
    randombytes_buf(tid, 16);
    /* Referral{thread_id, urgency = 2} inside Payload{referral}, built by hand */
    size_t n = 0;
    b[n++] = 0x0a;
    b[n++] = 20;
    b[n++] = 0x12;
    b[n++] = 16;
    memcpy(b + n, tid, 16);
    n += 16;
    b[n++] = 0x20;
    b[n++] = 0x02;
    uint64_t before = inbox_count(), refused = d->n.refused_in;
    deliver_raw_payload(b, n, REFBUS_KIND_REFERRAL); /* canonical: taken */
    assert_int_equal(inbox_count(), before + 1);
    assert_int_equal(d->n.refused_in, refused);

    struct form {
        const char *what;
        uint8_t bytes[64];
        size_t len;
        enum refbus_kind kind;
    } forms[8];
    size_t nf = 0;
#define TID_AT(f, off) memcpy((f)->bytes + (off), tid, 16)
    /* a redundant varint: urgency 2 as 82 00 */
    forms[nf] = (struct form){"redundant varint", {0x0a, 21, 0x12, 16}, 25, REFBUS_KIND_REFERRAL};
    TID_AT(&forms[nf], 4);
    memcpy(forms[nf].bytes + 20, "\x20\x82\x00", 3);
    forms[nf].len = 23, nf++;
    /* a non-minimal length prefix of the referral */
    forms[nf] =
        (struct form){"long length prefix", {0x0a, 0x94, 0x00, 0x12, 16}, 0, REFBUS_KIND_REFERRAL};
    TID_AT(&forms[nf], 5);
    memcpy(forms[nf].bytes + 21, "\x20\x02", 2);
    forms[nf].len = 23, nf++;
    /* a field given twice (protobuf-c keeps the second): urgency 1 then 3 */
    forms[nf] = (struct form){"field given twice", {0x0a, 22, 0x12, 16}, 0, REFBUS_KIND_REFERRAL};
    TID_AT(&forms[nf], 4);
    memcpy(forms[nf].bytes + 20, "\x20\x01\x20\x03", 4);
    forms[nf].len = 24, nf++;
    /* an unknown field in the Referral (field 31, varint) */
    forms[nf] = (struct form){"unknown field", {0x0a, 23, 0x12, 16}, 0, REFBUS_KIND_REFERRAL};
    TID_AT(&forms[nf], 4);
    memcpy(forms[nf].bytes + 20, "\x20\x02\xf8\x01\x05", 5);
    forms[nf].len = 25, nf++;
    /* an unknown field two levels down: in the Child */
    forms[nf] = (struct form){"unknown field in a sub-message",
                              {0x0a, 25, 0x12, 16},
                              0,
                              REFBUS_KIND_REFERRAL};
    TID_AT(&forms[nf], 4);
    memcpy(forms[nf].bytes + 20, "\x20\x02\x2a\x03\xf8\x01\x05", 7);
    forms[nf].len = 27, nf++;
    /* an unknown field in the Payload itself */
    forms[nf] =
        (struct form){"unknown payload field", {0x0a, 20, 0x12, 16}, 0, REFBUS_KIND_REFERRAL};
    TID_AT(&forms[nf], 4);
    memcpy(forms[nf].bytes + 20, "\x20\x02\x18\x01", 4);
    forms[nf].len = 24, nf++;
    /* both a referral and a status (the oneof keeps the last: the status, matching the kind) */
    forms[nf] = (struct form){"referral and status", {0x0a, 20, 0x12, 16}, 0, REFBUS_KIND_STATUS};
    TID_AT(&forms[nf], 4);
    memcpy(forms[nf].bytes + 20, "\x20\x02\x12\x14\x0a\x10", 6);
    TID_AT(&forms[nf], 26);
    memcpy(forms[nf].bytes + 42, "\x18\x01", 2);
    forms[nf].len = 44, nf++;
#undef TID_AT
    for (size_t i = 0; i < nf; i++) {
        refused = d->n.refused_in;
        before = inbox_count();
        print_message("non-canonical payload: %s\n", forms[i].what);
        deliver_raw_payload(forms[i].bytes, forms[i].len, forms[i].kind);
        assert_int_equal(d->n.refused_in, refused + 1);
        assert_int_equal(last_refusal(), REFBUS_EMALFORMED);
        assert_int_equal(inbox_count(), before);
    }
}

#ifdef REFBUS_TEST_FAULT
/* Out of memory anywhere while a delivery is parsed, opened, inspected and stored (inside
 * protobuf-c included: its unpack returns NULL for that as for garbage) is never a refusal:
 * no REJECTED receipt, the delivery is deferred, and once memory is back it is stored, once.
 * Every allocation of the path is failed in turn (the SQLite way). Before the fix a failure
 * inside protobuf-c was refused for good as EMALFORMED (or ENOMEM), losing the referral. */
static void test_alloc_failure_defers(void **s)
{
    (void)s;
    uint8_t tid[16];
    size_t len;
    long n;
    for (n = 1; n < 5000; n++) {
        uint8_t *env = referral_env(&len, "ngo.hots", tid);
        uint64_t before = inbox_count(), refused = d->n.refused_in;
        refbus_fault_malloc(n, 1);
        deliver(d, env, len);
        long failed = refbus_fault_malloc_failed();
        refbus_fault_malloc(0, 0);
        if (d->n.refused_in != refused)
            fail_msg("allocation %ld failed: refused for good (%s)", n,
                     refbus_errname(last_refusal()));
        /* the broker delivers it again: now it is stored, exactly once */
        deliver(d, env, len);
        deliver(d, env, len);
        assert_int_equal(d->n.refused_in, refused);
        assert_int_equal(inbox_count(), before + 1);
        free(env);
        if (!failed)
            break; /* the path made fewer than n allocations: all of them were tried */
    }
    assert_true(n > 1 && n < 5000);
    print_message("failed each of %ld allocations of a delivery in turn\n", n - 1);
    /* and from some point on, every allocation fails (memory stays short for a while) */
    uint8_t *env = referral_env(&len, "ngo.hots", tid);
    uint64_t before = inbox_count(), refused = d->n.refused_in, deferred = d->n.deferred_in;
    refbus_fault_malloc(1, 0);
    deliver(d, env, len);
    refbus_fault_malloc(0, 0);
    assert_int_equal(d->n.refused_in, refused);
    assert_true(d->n.deferred_in > deferred);
    deliver(d, env, len);
    assert_int_equal(inbox_count(), before + 1);
    free(env);
}
#endif
/* Defect 9 of issue 10: an ERROR from the broker is not signed. One saying EREVOKED while our
 * signed directory says the key is active must not silence the node: nothing is marked
 * revoked, the outbox stays, the node reconnects with back-off, and status shows the claim.
 * And a REJECTED ERETIRED (the broker knows of a rotation we have not read yet) keeps the
 * message to be re-sealed, never FAILED. */
static void test_unsigned_revoked_error(void **s)
{
    (void)s;
    uint8_t hash[32], hash2[32];
    char mid[33], mid2[33], why[256];
    void *ctx = zmq_ctx_new(), *fake = zmq_socket(ctx, ZMQ_PAIR);
    assert_non_null(fake);
    d->dealer = zmq_socket(ctx, ZMQ_PAIR);
    assert_int_equal(zmq_bind(fake, "inproc://fake-broker"), 0);
    assert_int_equal(zmq_connect(d->dealer, "inproc://fake-broker"), 0);
    d->state = NODE_READY;
    memcpy(d->broker_curve, refbus_directory_broker_curve_pk(d->dir), 32); /* as connected */
    snprintf(mid, sizeof mid, "%s", queue_referral(hash));
    refbus_wire_error e;
    uint8_t *buf = NULL;
    size_t n = 0;
    refbus_wire_error_set(&e, REFBUS_EREVOKED, "your transport key is revoked or retired", NULL);
    assert_int_equal(refbus_wire_error_encode(&buf, &n, &e), 0);
    uint64_t t0 = refbus_mono_ms();
    assert_int_equal(refbus_wire_send(fake, NULL, 0, REFBUS_CMD_ERROR, buf, n), 0);
    free(buf);
    for (int i = 0; i < 200 && d->dealer; i++) {
        nd_session_on_broker(d);
        usleep(5000);
    }
    assert_null(d->dealer); /* the session was dropped ... */
    assert_int_equal(d->state, NODE_DOWN);
    assert_true(d->reconnect_at > t0); /* ... to be tried again after a back-off */
    assert_int_equal(d->revoked, 0);   /* the signed directory says active: not revoked */
    assert_int_equal(nd_ident_can_send(d, why, sizeof why), 0);
    assert_int_equal(d->broker_claim, REFBUS_EREVOKED);
    json_t *st = outbox_state(mid);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "pending");
    json_decref(st);
    json_t *status = NULL;
    assert_int_equal(nd_view_status(d, NULL, &status, why, sizeof why), 0);
    assert_string_equal(json_string_value(json_object_get(status, "key_state")), "active");
    json_t *claim = json_object_get(json_object_get(status, "broker"), "claim");
    assert_string_equal(json_string_value(json_object_get(claim, "error")), "EREVOKED");
    json_decref(status);
    zmq_close(fake);
    zmq_ctx_term(ctx);

    /* REJECTED ERETIRED for our current epoch: kept, not failed */
    const refbus_epoch_keys *bk = refbus_keystore_current(broker);
    snprintf(mid2, sizeof mid2, "%s", queue_referral(hash2));
    uint8_t *b = NULL;
    size_t len = 0;
    b = broker_receipt(&len, REFBUS_RECEIPT_REJECTED, mid2, hash2, REFBUS_ERETIRED, "broker.cm",
                       bk->sign_sk);
    receipt_pass(d, REFBUS_CMD_REJECTED, b, len);
    free(b);
    st = outbox_state(mid2);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "pending");
    json_decref(st);
    d->broker_claim = 0;
}

/* A Notice carrying a DELIVERED receipt by cac.chiangmai for `mid`, naming `hash`. */
static void notice_delivered(uint64_t seq, const char *mid, const uint8_t hash[32])
{
    const refbus_epoch_keys *ck = refbus_keystore_current(cac);
    refbus_receipt r;
    uint8_t *rb = NULL;
    size_t rl = 0;
    memset(&r, 0, sizeof r);
    r.type = REFBUS_RECEIPT_DELIVERED;
    assert_int_equal(refbus_unhex(r.msg_id, 16, mid), 0);
    snprintf(r.sender, sizeof r.sender, "ngo.hots");
    snprintf(r.recipient, sizeof r.recipient, "cac.chiangmai");
    memcpy(r.envelope_hash, hash, 32);
    r.time_ms = refbus_now_ms();
    snprintf(r.signer, sizeof r.signer, "cac.chiangmai");
    r.signer_epoch = ck->epoch;
    assert_int_equal(refbus_receipt_sign(&rb, &rl, &r, ck->sign_sk), 0);
    refbus_wire_notice n = {.seq = seq, .receipt = rb, .receipt_len = rl};
    uint8_t *buf = NULL;
    size_t nl = 0;
    assert_int_equal(refbus_wire_notice_encode(&buf, &nl, &n), 0);
    nd_inbound_notice(d, buf, nl);
    nd_inbound_batch_end(d); /* the pass ends: commit, then the NoticeAck */
    free(buf);
    free(rb);
}

static const char *delivery_state(const char *mid)
{
    static char out[32];
    json_t *st = outbox_state(mid);
    json_t *dl = json_array_get(json_object_get(st, "deliveries"), 0);
    snprintf(out, sizeof out, "%s", json_string_value(json_object_get(dl, "state")));
    json_decref(st);
    return out;
}

/* Defect 4 of issue 10: a DELIVERED receipt counts only for exactly the envelope we sent. */
static void test_delivered_notice_hash(void **s)
{
    (void)s;
    uint8_t hash[32], other[32];
    char mid[33];
    size_t len;
    snprintf(mid, sizeof mid, "%s", queue_referral(hash));
    uint8_t *b = broker_receipt(&len, REFBUS_RECEIPT_ACCEPTED, mid, hash, 0, "broker.cm",
                                refbus_keystore_current(broker)->sign_sk);
    receipt_pass(d, REFBUS_CMD_ACCEPTED, b, len);
    free(b);
    assert_string_equal(delivery_state(mid), "queued"); /* accepted, not delivered yet */
    uint64_t bad = d->n.bad_receipts;
    memcpy(other, hash, 32);
    other[0] ^= 1;
    notice_delivered(1, mid, other); /* signed by the recipient, but for another envelope */
    assert_string_equal(delivery_state(mid), "queued");
    assert_int_equal(d->n.bad_receipts, bad + 1);
    notice_delivered(2, mid, hash);
    assert_string_equal(delivery_state(mid), "delivered");
}

/* A message re-sealed after a rotation (nodes/daemon/compose.c) whose first sealing the broker had
 * accepted (the ACCEPTED was lost): the recipient's DELIVERED names the first sealing. It is
 * ours (our msg id, signed by the recipient): it counts, and the message leaves the outbox.
 * Before, it was refused as "another envelope" and the notice acked for good: the resend then
 * got EDUPLICATE and the referral showed "not delivered" for ever. */
static void test_delivered_after_reseal(void **s)
{
    (void)s;
    uint8_t first[32];
    char mid[33];
    uint8_t id[16];
    uint64_t seq;
    MDB_txn *txn = NULL;
    refbus_outbox_rec *o = NULL;
    snprintf(mid, sizeof mid, "%s", queue_referral(first));
    assert_int_equal(refbus_unhex(id, 16, mid), 0);
    assert_int_equal(refbus_nstore_begin(d->store, 1, &txn), 0);
    assert_int_equal(refbus_nstore_outbox_find(d->store, txn, id, &seq), 0);
    assert_int_equal(refbus_nstore_outbox_get(d->store, txn, seq, &o), 0);
    assert_int_equal(nd_compose_reseal(d, o), 0);
    assert_int_equal(refbus_nstore_outbox_update(d->store, txn, seq, o), 0);
    assert_int_equal(refbus_nstore_commit(&txn), 0);
    refbus_nstore_outbox_free(&o);
    uint64_t bad = d->n.bad_receipts;
    notice_delivered(3, mid, first);
    assert_int_equal(d->n.bad_receipts, bad);
    assert_string_equal(delivery_state(mid), "delivered");
}

/* A referral payload sealed to ngo.hots by `sender` with the given epoch keys. */
static uint8_t *sealed_by(size_t *len, const char *sender, const refbus_epoch_keys *sk)
{
    const refbus_dir_key *k = NULL;
    uint8_t tid[16], *env = NULL;
    uint8_t *pl = NULL;
    size_t pl_len, tl;
    char *text = test_read_source("deploy/examples/referral.json", &tl), err[256];
    json_t *j = NULL;
    int urg;
    randombytes_buf(tid, 16);
    assert_int_equal(refbus_referral_json_parse_text(&j, text, tl, err), 0);
    assert_int_equal(refbus_referral_from_json(&pl, &pl_len, &urg, j, tid, err), 0);
    assert_int_equal(refbus_directory_current_key(d->dir, "ngo.hots", &k), 0);
    refbus_recipient r = {"ngo.hots", k->epoch, k->enc_pk};
    refbus_seal_params p = {.sender = sender,
                            .sender_epoch = sk->epoch,
                            .sign_sk = sk->sign_sk,
                            .recipients = &r,
                            .n_recipients = 1,
                            .kind = REFBUS_KIND_REFERRAL,
                            .expires_ms = refbus_now_ms() + 3600000};
    assert_int_equal(refbus_envelope_seal(&env, len, &p, pl, pl_len), 0);
    free(pl);
    free(text);
    json_decref(j);
    return env;
}

static void publish(const char *name)
{
    char p[300];
    uint8_t *bytes = NULL;
    size_t n = 0;
    path(p, sizeof p, name);
    assert_int_equal(refbus_admin_sign(adm, PASS, strlen(PASS), p, NULL), 0);
    assert_int_equal(refbus_file_read(&bytes, &n, p, 1u << 24), 0);
    assert_int_equal(nd_ident_install_directory(d, bytes, n, 1), 0);
    free(bytes);
}

/* Defect 3 of issue 10: a rotated bundle carries the older epochs' secrets. The police rotate
 * (epoch 1 retired, 2 active): what epoch 1 signed still opens (rotation loses nothing). Then
 * the device holding the rotated bundle is stolen and epoch 2 revoked: a malicious broker hands
 * the node an envelope the thief signed with epoch 1 — still only "retired" in the directory —
 * and the node must refuse it, as the broker would (before the fix it was stored). */
static void test_stolen_older_epoch(void **s)
{
    (void)s;
    char p1[300], p2[300];
    refbus_kdf kdf;
    refbus_keystore *pol = NULL;
    uint32_t epoch = 0;
    size_t len;
    uint8_t *env;
    assert_int_equal(refbus_kdf_named(&kdf, "min"), 0);
    path(p1, sizeof p1, "police.ticac.bundle");
    path(p2, sizeof p2, "police.ticac.2.bundle");
    assert_int_equal(refbus_keystore_open(&pol, p1, PASS, strlen(PASS)), 0);
    const refbus_epoch_keys *e1 = refbus_keystore_find(pol, 1);
    assert_non_null(e1);
    assert_int_equal(refbus_admin_rotate(adm, "police.ticac", p1, PASS, strlen(PASS), p2, PASS,
                                         strlen(PASS), &kdf, &epoch),
                     0);
    assert_int_equal(epoch, 2);
    publish("dir-rotated.bin");
    uint64_t before = inbox_count();
    env = sealed_by(&len, "police.ticac", e1); /* sealed before the rotation reached it */
    deliver(d, env, len);
    free(env);
    assert_int_equal(inbox_count(), before + 1);

    assert_int_equal(refbus_admin_revoke(adm, "police.ticac", 2, 0, "rotated bundle stolen", NULL),
                     0);
    publish("dir-stolen.bin");
    const refbus_dir_key *k1 = NULL;
    assert_int_equal(refbus_directory_key(d->dir, "police.ticac", 1, &k1), 0);
    assert_int_equal(k1->status, REFBUS_KEY_RETIRED); /* the directory still says "retired" */
    env = sealed_by(&len, "police.ticac", e1);
    deliver(d, env, len);
    free(env);
    assert_int_equal(last_refusal(), REFBUS_EREVOKED);
    assert_non_null(strstr(d->recent[(d->recent_next + NODE_RECENT - 1) % NODE_RECENT].text,
                           "rotated bundle stolen"));
    assert_int_equal(inbox_count(), before + 1);
    refbus_keystore_free(&pol);
}

static void test_revoked_sender(void **s)
{
    (void)s;
    char p[300];
    uint8_t tid[16], *bytes = NULL, *env;
    size_t n = 0, len;
    uint64_t before = inbox_count();
    assert_int_equal(refbus_admin_revoke(adm, "cac.chiangmai", 0, 0, "laptop stolen", NULL), 0);
    path(p, sizeof p, "dir2.bin");
    assert_int_equal(refbus_admin_sign(adm, PASS, strlen(PASS), p, NULL), 0);
    assert_int_equal(refbus_file_read(&bytes, &n, p, 1u << 24), 0);
    /* an older (the same) directory is not installed again; the new one is */
    size_t ol;
    const uint8_t *old = refbus_directory_bytes(d->dir, &ol);
    uint8_t *oldc = malloc(ol);
    memcpy(oldc, old, ol);
    env = referral_env(&len, "ngo.hots", tid); /* sealed while cac was still active */
    assert_int_equal(nd_ident_install_directory(d, bytes, n, 1), 0);
    assert_int_equal(nd_ident_install_directory(d, oldc, ol, 1), REFBUS_EROLLBACK);
    bytes[n - 1] ^= 1;
    assert_int_equal(nd_ident_install_directory(d, bytes, n, 1), REFBUS_EBADSIG);
    deliver(d, env, len);
    assert_int_equal(last_refusal(), REFBUS_EREVOKED);
    assert_non_null(
        strstr(d->recent[(d->recent_next + NODE_RECENT - 1) % NODE_RECENT].text, "laptop stolen"));
    assert_int_equal(inbox_count(), before);
    free(env);
    free(bytes);
    free(oldc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deliveries),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_nonsense_answer_kept_not_applied),
        cmocka_unit_test(test_broker_receipts),
        cmocka_unit_test(test_checkpoints),
        cmocka_unit_test(test_non_canonical_payloads),
#ifdef REFBUS_TEST_FAULT
        cmocka_unit_test(test_alloc_failure_defers),
#endif
        cmocka_unit_test(test_unsigned_revoked_error),
        cmocka_unit_test(test_delivered_notice_hash),
        cmocka_unit_test(test_delivered_after_reseal),
        cmocka_unit_test(test_stolen_older_epoch),
        cmocka_unit_test(test_revoked_sender),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
