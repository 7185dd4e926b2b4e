/* Audit test helpers: scratch directories, the broker-like LMDB environment, fixed keys and a
 * generator of plausible broker histories (see audit_testutil.h). */
#include "audit_testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/err.h"
#include "proto/receipt.h"

static const char *agencies[] = {"cac.chiangmai", "police.ticac",        "welfare.cm",
                                 "ngo.hots",      "hospital.nakornping", "police.chiangrai"};
#define N_AGENCIES (sizeof agencies / sizeof agencies[0])

static void key_from_seed(uint8_t pk[32], uint8_t sk[64], uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

void atest_broker_key(uint8_t pk[32], uint8_t sk[64])
{
    key_from_seed(pk, sk, 0xb0);
}

void atest_other_key(uint8_t pk[32], uint8_t sk[64])
{
    key_from_seed(pk, sk, 0x66);
}

char *atest_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *p = NULL;
    if (!base || !*base)
        base = "/tmp";
    if (asprintf(&p, "%s/refbus-%s-XXXXXX", base, tag) < 0 || !mkdtemp(p)) {
        perror("atest_tmpdir");
        abort();
    }
    return p;
}

void atest_rmdir(char **dir)
{
    if (!dir || !*dir)
        return;
    DIR *d = opendir(*dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char *f = NULL;
            if (asprintf(&f, "%s/%s", *dir, e->d_name) >= 0) {
                unlink(f);
                free(f);
            }
        }
        closedir(d);
    }
    rmdir(*dir);
    free(*dir);
    *dir = NULL;
}

MDB_env *atest_env_open(const char *dir, size_t map_size)
{
    MDB_env *env = NULL;
    int rc;
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(env, map_size)) != 0 ||
        (rc = mdb_env_open(env, dir, 0, 0600)) != 0) {
        fprintf(stderr, "atest_env_open %s: %s\n", dir, mdb_strerror(rc));
        abort();
    }
    return env;
}

/* A real DELIVERED receipt, signed by a key derived from the recipient's name. */
static size_t make_receipt(uint8_t *out, size_t cap, const uint8_t msg_id[16], const char *sender,
                           const char *recipient, const uint8_t env_hash[32], uint64_t t)
{
    refbus_receipt rc;
    uint8_t pk[32], sk[64], *bytes = NULL;
    size_t len = 0;
    memset(&rc, 0, sizeof rc);
    rc.type = REFBUS_RECEIPT_DELIVERED;
    memcpy(rc.msg_id, msg_id, 16);
    snprintf(rc.sender, sizeof rc.sender, "%s", sender);
    snprintf(rc.recipient, sizeof rc.recipient, "%s", recipient);
    memcpy(rc.envelope_hash, env_hash, 32);
    rc.time_ms = t;
    snprintf(rc.signer, sizeof rc.signer, "%s", recipient);
    rc.signer_epoch = 1;
    key_from_seed(pk, sk, (uint8_t)recipient[0]);
    if (refbus_receipt_sign(&bytes, &len, &rc, sk) != 0 || len > cap)
        abort();
    memcpy(out, bytes, len);
    free(bytes);
    sodium_memzero(sk, sizeof sk);
    return len;
}

void atest_record(Refbus__V1__AuditRecord *r, atest_scratch *s, uint64_t n, uint64_t time_ms)
{
    /* Message m's life takes 6 records: accepted, queued x2, delivered x2, then an extra
     * event that varies (answer accepted, rejection, duplicate, peer event, expiry). */
    uint64_t m = n / 6, step = n % 6;
    uint8_t seed[8];
    for (int i = 0; i < 8; i++)
        seed[i] = (uint8_t)(m >> (8 * i));
    crypto_generichash(s->msg_id, 16, seed, 8, (const uint8_t *)"msg", 3);
    crypto_generichash(s->env_hash, 32, seed, 8, (const uint8_t *)"env", 3);
    const char *sender = agencies[m % N_AGENCIES];
    s->rcpt[0] = (char *)agencies[(m + 1) % N_AGENCIES];
    s->rcpt[1] = (char *)agencies[(m + 2) % N_AGENCIES];

    Refbus__V1__AuditRecord init = REFBUS__V1__AUDIT_RECORD__INIT;
    *r = init;
    r->version = 1;
    r->time_ms = time_ms;
    r->msg_id = (ProtobufCBinaryData){16, s->msg_id};
    r->sender = (char *)sender;
    r->n_recipients = 2;
    r->recipients = s->rcpt;
    r->envelope_hash = (ProtobufCBinaryData){32, s->env_hash};
    r->kind = m % 3 == 2 ? REFBUS__V1__KIND__KIND_STATUS : REFBUS__V1__KIND__KIND_REFERRAL;
    r->priority = m % 5 == 0 ? REFBUS__V1__PRIORITY__PRIORITY_IMMEDIATE
                             : REFBUS__V1__PRIORITY__PRIORITY_ROUTINE;
    r->sender_epoch = 1 + (uint32_t)(m % 2);
    switch (step) {
    case 0: r->event = REFBUS__V1__EVENT_TYPE__EVENT_ACCEPTED; break;
    case 1:
    case 2:
        r->event = REFBUS__V1__EVENT_TYPE__EVENT_QUEUED;
        r->agency = s->rcpt[step - 1];
        break;
    case 3:
    case 4:
        r->event = REFBUS__V1__EVENT_TYPE__EVENT_DELIVERED;
        r->agency = s->rcpt[step - 3];
        r->receipt.len = make_receipt(s->receipt, sizeof s->receipt, s->msg_id, sender, r->agency,
                                      s->env_hash, time_ms);
        r->receipt.data = s->receipt;
        break;
    default:
        switch (m % 4) {
        case 0:
            r->event = REFBUS__V1__EVENT_TYPE__EVENT_REJECTED;
            r->reason = REFBUS_EBADSIG;
            snprintf(s->reason_text, sizeof s->reason_text, "%s", refbus_strerror(r->reason));
            r->reason_text = s->reason_text;
            break;
        case 1: r->event = REFBUS__V1__EVENT_TYPE__EVENT_DUPLICATE; break;
        case 2:
            r->event = REFBUS__V1__EVENT_TYPE__EVENT_PEER_CONNECTED;
            r->agency = (char *)sender;
            r->msg_id.len = 0;
            r->envelope_hash.len = 0;
            r->n_recipients = 0;
            break;
        default:
            r->event = REFBUS__V1__EVENT_TYPE__EVENT_EXPIRED;
            r->agency = s->rcpt[1];
            break;
        }
    }
}

int atest_fill(MDB_env *env, refbus_audit *a, uint64_t count, unsigned batch, uint64_t cp_every,
               int final_cp)
{
    uint8_t pk[32], sk[64];
    atest_broker_key(pk, sk);
    int rc = atest_fill_sk(env, a, count, batch, cp_every, final_cp, sk);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

int atest_fill_sk(MDB_env *env, refbus_audit *a, uint64_t count, unsigned batch, uint64_t cp_every,
                  int final_cp, const uint8_t sk[64])
{
    uint64_t done = 0, since = 0, t0 = 1767225600000ull; /* 2026-01-01T00:00:00Z */
    int rc = 0;
    while (done < count) {
        MDB_txn *txn = NULL;
        if (mdb_txn_begin(env, NULL, 0, &txn) != 0)
            return REFBUS_ELMDB;
        for (unsigned i = 0; i < batch && done < count; i++, done++) {
            Refbus__V1__AuditRecord r;
            atest_scratch s;
            uint64_t size;
            if ((rc = refbus_audit_size(a, txn, &size)) != 0)
                break;
            atest_record(&r, &s, done, t0 + size * 250);
            if ((rc = refbus_audit_append_record(a, txn, &r, NULL)) != 0)
                break;
            since++;
            if (cp_every && since >= cp_every) {
                if ((rc = refbus_audit_checkpoint(a, txn, sk, t0 + (size + 1) * 250, NULL, NULL)) !=
                    0)
                    break;
                since = 0;
            }
        }
        if (rc == 0 && done == count && final_cp && since > 0) {
            uint64_t size = 0;
            rc = refbus_audit_size(a, txn, &size);
            if (rc == 0)
                rc = refbus_audit_checkpoint(a, txn, sk, t0 + size * 250, NULL, NULL);
        }
        if (rc != 0) {
            mdb_txn_abort(txn);
            break;
        }
        if (mdb_txn_commit(txn) != 0)
            return REFBUS_ELMDB;
    }
    return rc;
}
