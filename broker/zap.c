/* The ZAP handler (RFC 27) that admits CURVE clients. It runs in the broker's own loop on a REP
 * socket bound to inproc://zeromq.zap.01 BEFORE the ROUTER binds: with no handler libzmq 4.3
 * lets any CURVE key in. Only the "refbus" domain is served, and only keys the installed
 * directory trusts for FETCH_DIRECTORY (refbus_directory_curve_trust) are admitted: ACTIVE ones,
 * and RETIRED ones so that a node that missed a rotation can fetch the newer directory (it can
 * neither hold the session nor send: broker.c decides that per command). A REVOKED key, or one
 * at or below a revoked epoch, never. The User-Id handed back is the key in hex, which the
 * broker maps to an agency again on every message. */
#include "broker/internal.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/frames.h"

#define ZAP_FRAMES 7
/* ZAP 1.0 frames are short: a routing id (<= 255), a textual address, a 32-byte key. */
#define ZAP_FRAME_MAX 4096u

static void reply(void *sock, const char *version, const zmq_msg_t *reqid, const char *code,
                  const char *text, const char *user)
{
    zmq_send(sock, version, strlen(version), ZMQ_SNDMORE);
    zmq_send(sock, zmq_msg_data((zmq_msg_t *)reqid), zmq_msg_size((zmq_msg_t *)reqid), ZMQ_SNDMORE);
    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

/* Remember a refused handshake for the audit trail (written by the next batch). The agency
 * is named when the key is one of its epochs, whatever the status. */
static void note_refusal(refbus_broker *b, const uint8_t key[32], const char *hex, int reason)
{
    if (b->n_zap_refusals >= sizeof b->zap_refusals / sizeof b->zap_refusals[0])
        return;
    size_t slot = b->n_zap_refusals++;
    b->zap_refusals[slot].agency[0] = 0;
    snprintf(b->zap_refusals[slot].key, sizeof b->zap_refusals[slot].key, "%s", hex);
    b->zap_refusals[slot].reason = reason;
    for (size_t i = 0; i < refbus_directory_agency_count(b->dir); i++)
        for (size_t j = 0; j < refbus_directory_agency_key_count(b->dir, i); j++) {
            const refbus_dir_key *k = refbus_directory_agency_key_at(b->dir, i, j);
            if (k && sodium_memcmp(k->curve_pk, key, crypto_box_PUBLICKEYBYTES) == 0)
                snprintf(b->zap_refusals[slot].agency, sizeof b->zap_refusals[slot].agency, "%s",
                         refbus_directory_agency_id(b->dir, i));
        }
}

void broker_zap_audit(refbus_broker *b, MDB_txn *txn)
{
    for (size_t i = 0; i < b->n_zap_refusals; i++) {
        Refbus__V1__AuditRecord r;
        int reason = b->zap_refusals[i].reason;
        broker_audit_init(&r, reason == REFBUS_EREVOKED
                                  ? REFBUS__V1__EVENT_TYPE__EVENT_PEER_REVOKED
                                  : REFBUS__V1__EVENT_TYPE__EVENT_PEER_REFUSED);
        uint8_t key[32];
        r.agency = b->zap_refusals[i].agency;
        if (refbus_unhex(key, 32, b->zap_refusals[i].key) == 0) /* which key was refused */
            r.peer_key = (ProtobufCBinaryData){32, key};
        r.reason = reason;
        r.reason_text = (char *)(reason == REFBUS_EREVOKED ? "handshake refused: key revoked"
                                                           : "handshake refused: unknown key");
        (void)broker_audit(b, txn, &r);
    }
}

void broker_zap_handle(refbus_broker *b)
{
    for (;;) {
        refbus_frames fs;
        int frc = refbus_frames_recv(&fs, b->zap, ZMQ_DONTWAIT, ZAP_FRAMES, ZAP_FRAME_MAX, 0);
        if (frc == REFBUS_EAGAIN || frc == REFBUS_ETRANSPORT)
            return; /* nothing (more) waiting */
        zmq_msg_t *f = fs.part;
        /* version, request id, domain, address, identity, mechanism, credentials */
        const char *code = "400", *text = "refused";
        char user[65] = "";
        if (frc == 0 && fs.count == ZAP_FRAMES && zmq_msg_size(&f[0]) == 3 &&
            memcmp(zmq_msg_data(&f[0]), "1.0", 3) == 0) {
            size_t dl = zmq_msg_size(&f[2]), ml = zmq_msg_size(&f[5]);
            const char *dom = zmq_msg_data(&f[2]), *mech = zmq_msg_data(&f[5]);
            if (dl != strlen(REFBUS_ZAP_DOMAIN) || memcmp(dom, REFBUS_ZAP_DOMAIN, dl) != 0) {
                text = "wrong ZAP domain";
            } else if (ml != 5 || memcmp(mech, "CURVE", 5) != 0 || zmq_msg_size(&f[6]) != 32) {
                text = "CURVE required";
            } else {
                const uint8_t *key = zmq_msg_data(&f[6]);
                const char *agency = NULL;
                uint32_t epoch = 0;
                int rc = refbus_directory_curve_trust(b->dir, key, REFBUS_KEY_FETCH_DIRECTORY,
                                                      &agency, &epoch);
                refbus_hex(user, key, 32);
                if (rc == 0) {
                    code = "200";
                    text = "OK";
                    log_debug("zap: admitted %s (epoch %u)", agency, epoch);
                } else {
                    text = rc == REFBUS_EREVOKED ? "key revoked" : "unknown key";
                    /* anyone can knock: one budget for all unknown keys keeps the log sane */
                    if (broker_audit_budget(b, rc == REFBUS_EREVOKED ? "(revoked keys)"
                                                                     : "(unknown keys)")) {
                        log_warn("zap: refused a connection: %s (key %.16s...)", text, user);
                        note_refusal(b, key, user, rc);
                    }
                    user[0] = 0;
                }
            }
        }
        if (fs.n >= 2)
            reply(b->zap, "1.0", &f[1], code, text, user);
        refbus_frames_close(&fs);
    }
}
