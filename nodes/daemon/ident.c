/* The node's identity: its keystore (opened with a passphrase that stays in sodium_malloc'd
 * memory so that a rotated bundle written over the keystore file can be re-read without a
 * restart), the signed directory (root key from the bundle), and which epoch it uses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "keys/passphrase.h"
#include "nodes/daemon/node_int.h"

static struct node_file_stamp stamp_of(const char *path);
static int keystore_if_changed(nd_daemon *d, int *changed);

int nd_ident_open(nd_daemon *d)
{
    int rc;
    const char *pf = d->cfg.passphrase_file[0] ? d->cfg.passphrase_file : NULL;
    if ((rc = refbus_passphrase_get(&d->pass, &d->pass_len, pf,
                                    "Passphrase of the agency keystore: ", 0))) {
        log_error("passphrase: %s", refbus_strerror(rc));
        return rc;
    }
    if ((rc = refbus_keystore_open(&d->ks, d->cfg.keystore, d->pass, d->pass_len))) {
        log_error("keystore %s: %s", d->cfg.keystore, refbus_strerror(rc));
        return rc;
    }
    if (refbus_keystore_role(d->ks) != REFBUS_KEYSTORE_AGENCY) {
        log_error("keystore %s is not an agency bundle", d->cfg.keystore);
        return REFBUS_EKEYFORMAT;
    }
    const char *id = refbus_keystore_id(d->ks);
    if (d->cfg.agency[0] && strcmp(d->cfg.agency, id) != 0) {
        log_error("config says agency %s but the keystore belongs to %s", d->cfg.agency, id);
        return REFBUS_ECONFIG;
    }
    snprintf(d->me, sizeof d->me, "%s", id);
    memcpy(d->root_pk, refbus_keystore_root_pk(d->ks), crypto_sign_PUBLICKEYBYTES);
    d->epoch = refbus_keystore_current(d->ks)->epoch;
    if ((rc = refbus_directory_load_file(&d->dir, d->cfg.directory, d->root_pk, NULL))) {
        log_error("directory %s: %s", d->cfg.directory, refbus_strerror(rc));
        return rc;
    }
    d->ks_stamp = stamp_of(d->cfg.keystore);
    d->dir_stamp = stamp_of(d->cfg.directory);
    log_info("agency %s, keystore epochs %zu (newest %u), directory serial %llu", d->me,
             refbus_keystore_epoch_count(d->ks), d->epoch,
             (unsigned long long)refbus_directory_serial(d->dir));
    return 0;
}

void nd_ident_close(nd_daemon *d)
{
    refbus_keystore_free(&d->ks);
    refbus_directory_free(&d->dir);
    refbus_passphrase_free(&d->pass, d->pass_len);
    d->pass_len = 0;
}

const refbus_epoch_keys *nd_ident_keys(const nd_daemon *d)
{
    return refbus_keystore_find(d->ks, d->epoch);
}

int nd_ident_install_directory(nd_daemon *d, const uint8_t *bytes, size_t len, int persist)
{
    refbus_directory *nd = NULL;
    uint64_t serial = d->dir ? refbus_directory_serial(d->dir) : 0;
    MDB_txn *txn = NULL;
    int rc = refbus_directory_load(&nd, bytes, len, d->root_pk, d->dir ? &serial : NULL);
    if (rc)
        return rc;
    if (persist) {
        size_t bl;
        const uint8_t *b = refbus_directory_bytes(nd, &bl);
        if ((rc = refbus_nstore_begin(d->store, 1, &txn)) ||
            (rc = refbus_nstore_meta_put(d->store, txn, "directory", b, bl)) ||
            (rc = refbus_nstore_commit(&txn))) {
            refbus_nstore_abort(&txn);
            refbus_directory_free(&nd);
            return rc;
        }
    }
    refbus_directory_free(&d->dir);
    d->dir = nd;
    d->n.directories_installed++;
    log_info("directory serial %llu installed", (unsigned long long)refbus_directory_serial(nd));
    return 0;
}

/* The reason recorded on our newest revoked key. */
static void revoked_reason(nd_daemon *d, char *out, size_t len)
{
    size_t i, n;
    snprintf(out, len, "no active key for %s in directory serial %llu", d->me,
             (unsigned long long)refbus_directory_serial(d->dir));
    if (refbus_directory_agency_index(d->dir, d->me, &i))
        return;
    n = refbus_directory_agency_key_count(d->dir, i);
    for (size_t k = n; k-- > 0;) {
        const refbus_dir_key *dk = refbus_directory_agency_key_at(d->dir, i, k);
        if (dk && dk->status == REFBUS_KEY_REVOKED) {
            snprintf(out, len, "key epoch %u of %s revoked in directory serial %llu: %.120s",
                     dk->epoch, d->me, (unsigned long long)refbus_directory_serial(d->dir),
                     dk->revoked_reason[0] ? dk->revoked_reason : "(no reason given)");
            return;
        }
    }
}

/* Re-read the keystore file (an administrator wrote a rotated bundle over it). */
static int reload_keystore(nd_daemon *d)
{
    refbus_keystore *ks = NULL;
    int rc = refbus_keystore_open(&ks, d->cfg.keystore, d->pass, d->pass_len);
    if (rc) {
        log_warn("re-reading keystore %s: %s", d->cfg.keystore, refbus_strerror(rc));
        return rc;
    }
    if (refbus_keystore_role(ks) != REFBUS_KEYSTORE_AGENCY ||
        strcmp(refbus_keystore_id(ks), d->me) != 0 ||
        sodium_memcmp(refbus_keystore_root_pk(ks), d->root_pk, crypto_sign_PUBLICKEYBYTES) != 0 ||
        refbus_keystore_current(ks)->epoch < refbus_keystore_current(d->ks)->epoch) {
        log_error("keystore %s now holds another agency's, another root's or an older "
                  "bundle; keeping the one in memory",
                  d->cfg.keystore);
        refbus_keystore_free(&ks);
        return REFBUS_EKEYFORMAT;
    }
    refbus_keystore_free(&d->ks);
    d->ks = ks;
    log_info("keystore re-read: newest epoch now %u", refbus_keystore_current(ks)->epoch);
    return 0;
}

int nd_ident_refresh(nd_daemon *d, int *reconnect)
{
    const refbus_dir_key *k = NULL;
    const refbus_epoch_keys *mine;
    uint32_t old_epoch = d->epoch;
    int rc = refbus_directory_current_key(d->dir, d->me, &k);
    *reconnect = 0;
    if (rc == REFBUS_EREVOKED || rc == REFBUS_EUNKNOWNAGENCY) {
        char why[sizeof d->revoked_reason];
        if (rc == REFBUS_EREVOKED)
            revoked_reason(d, why, sizeof why);
        else
            snprintf(why, sizeof why, "agency %s is not in directory serial %llu", d->me,
                     (unsigned long long)refbus_directory_serial(d->dir));
        if (!d->revoked || strcmp(why, d->revoked_reason) != 0)
            log_error("REVOKED: %s; nothing can be sent until the administrators issue a "
                      "new key bundle",
                      why);
        memcpy(d->revoked_reason, why, sizeof why);
        d->revoked = 1;
        d->rekey_pending = 0;
        return 0;
    }
    if (rc)
        return rc;
    d->revoked = 0;
    d->revoked_reason[0] = 0;
    mine = refbus_keystore_find(d->ks, k->epoch);
    int changed = 0;
    if (!mine && k->epoch > refbus_keystore_current(d->ks)->epoch &&
        keystore_if_changed(d, &changed) == 0 && changed)
        mine = refbus_keystore_find(d->ks, k->epoch);
    if (!mine) {
        if (!d->rekey_pending)
            log_warn("the directory names epoch %u for %s but keystore %s does not hold it "
                     "yet; retrying",
                     k->epoch, d->me, d->cfg.keystore);
        d->rekey_pending = 1;
        d->rekey_retry_ms = refbus_mono_ms() + 2000;
        return 0;
    }
    if (sodium_memcmp(mine->sign_pk, k->sign_pk, crypto_sign_PUBLICKEYBYTES) != 0 ||
        sodium_memcmp(mine->curve_pk, k->curve_pk, crypto_box_PUBLICKEYBYTES) != 0 ||
        sodium_memcmp(mine->enc_pk, k->enc_pk, crypto_box_PUBLICKEYBYTES) != 0) {
        log_error("keystore epoch %u does not match the directory's keys for %s", k->epoch, d->me);
        return REFBUS_EKEYFORMAT;
    }
    d->rekey_pending = 0;
    if (k->epoch > d->epoch) /* only forward: a newer epoch from the keystore stays */
        d->epoch = k->epoch;
    if (d->epoch != old_epoch) {
        log_info("now using key epoch %u (was %u)", d->epoch, old_epoch);
        *reconnect = 1;
    }
    const uint8_t *bc = refbus_directory_broker_curve_pk(d->dir);
    if (bc && d->dealer && sodium_memcmp(bc, d->broker_curve, 32) != 0)
        *reconnect = 1;
    return 0;
}

/* The configured directory file, when an administrator put a newer one there: a node whose key
 * the broker refuses cannot get the new directory from the broker. */
static void reload_directory_file(nd_daemon *d)
{
    uint8_t *b = NULL;
    size_t n = 0;
    if (refbus_file_read(&b, &n, d->cfg.directory, REFBUS_DIRECTORY_MAX_BYTES) != 0)
        return;
    int rc = nd_ident_install_directory(d, b, n, 1);
    if (rc && rc != REFBUS_EROLLBACK)
        log_warn("directory file %s: %s", d->cfg.directory, refbus_strerror(rc));
    free(b);
}

static struct node_file_stamp stamp_of(const char *path)
{
    struct stat st;
    struct node_file_stamp f = {0, 0, 0};
    if (stat(path, &st) == 0) {
        f.ino = (unsigned long long)st.st_ino;
        f.size = (unsigned long long)st.st_size;
        f.mtime_ns = (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                     (unsigned long long)st.st_mtim.tv_nsec;
    }
    return f;
}

static int stamp_changed(struct node_file_stamp *held, const char *path)
{
    struct node_file_stamp now = stamp_of(path);
    int changed = now.ino != held->ino || now.size != held->size || now.mtime_ns != held->mtime_ns;
    *held = now;
    return changed && now.ino != 0;
}

/* Re-read the keystore only when its file changed on disk since it was last read (an
 * Argon2id run each time, so not on every refusal). */
static int keystore_if_changed(nd_daemon *d, int *changed)
{
    *changed = 0;
    if (!stamp_changed(&d->ks_stamp, d->cfg.keystore))
        return 0;
    log_info("keystore %s changed on disk: reading it", d->cfg.keystore);
    int rc = reload_keystore(d);
    *changed = rc == 0;
    return rc;
}

/* Move to the newest epoch of the keystore when it is newer than the one in use. */
static void adopt_newest(nd_daemon *d, int *reconnect)
{
    const refbus_epoch_keys *newest = refbus_keystore_current(d->ks);
    if (newest->epoch > d->epoch) {
        log_info("keystore holds epoch %u (newer than %u): switching to it", newest->epoch,
                 d->epoch);
        d->epoch = newest->epoch;
        d->revoked = 0;
        d->revoked_reason[0] = 0;
        *reconnect = 1;
    }
}

void nd_ident_watch_files(nd_daemon *d, uint64_t now, int *reconnect)
{
    int changed = 0, r = 0;
    *reconnect = 0;
    if (now < d->files_check_ms)
        return;
    d->files_check_ms = now + 2000;
    if (stamp_changed(&d->dir_stamp, d->cfg.directory)) {
        reload_directory_file(d);
        if (nd_ident_refresh(d, &r) == 0 && r)
            *reconnect = 1;
    }
    if (keystore_if_changed(d, &changed) == 0 && changed) {
        adopt_newest(d, reconnect);
        if (nd_ident_refresh(d, &r) == 0 && r)
            *reconnect = 1;
    }
}

int nd_ident_try_keystore(nd_daemon *d, int *reconnect)
{
    int changed = 0;
    *reconnect = 0;
    reload_directory_file(d);
    int rc = keystore_if_changed(d, &changed);
    if (rc == 0 && changed)
        adopt_newest(d, reconnect);
    return rc;
}

int nd_ident_can_send(const nd_daemon *d, char *why, size_t why_len)
{
    const refbus_dir_key *k = NULL;
    if (d->revoked) {
        snprintf(why, why_len, "%s", d->revoked_reason);
        return REFBUS_EREVOKED;
    }
    int rc = refbus_directory_key_trust(d->dir, d->me, d->epoch, REFBUS_KEY_SEND, &k);
    if (rc == REFBUS_ERETIRED && d->rekey_pending)
        return 0; /* queued now, sealed again once the new bundle is read */
    if (rc == REFBUS_ENOTFOUND)
        return 0; /* a newer epoch than our directory knows: the broker will send it */
    if (rc) {
        snprintf(why, why_len, "key epoch %u of %s cannot send: %s", d->epoch, d->me,
                 refbus_strerror(rc));
        return rc;
    }
    return 0;
}
