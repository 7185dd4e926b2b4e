/* ADMIN_DIR: creating it, locking it, loading and saving the working state, and signing. The
 * edits themselves (enrol, rotate, revoke, policy) are in admin_edit.c. */
#include "keys/admin.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/log.h"
#include "common/util.h"
#include "keys/admin_int.h"

#define STATE_MAX REFBUS_DIRECTORY_MAX_BYTES

int refbus_admin_path(char *out, const refbus_admin *a, const char *name)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", a->dir, name);
    return n < 0 || n >= PATH_MAX ? REFBUS_EINVAL : 0;
}

int refbus_admin_pack_state(const refbus_admin *a, uint8_t **out, size_t *len)
{
    return refbus_dd_pack(&a->dd, out, len);
}

int refbus_admin_write_state(const refbus_admin *a, const uint8_t *bytes, size_t len)
{
    char path[PATH_MAX];
    int rc = refbus_admin_path(path, a, "state.pb");
    if (rc == 0)
        rc = refbus_file_write_atomic(path, bytes, len, 0600, 0);
    return rc;
}

static int load_state(refbus_admin *a)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = refbus_admin_path(path, a, "state.pb");
    if (rc != 0)
        return rc;
    if ((rc = refbus_file_read(&buf, &len, path, STATE_MAX)) != 0)
        return rc == REFBUS_ETOOLARGE ? REFBUS_ECORRUPT : rc;
    refbus_dd_clear(&a->dd);
    rc = refbus_dd_parse(&a->dd, buf, len);
    free(buf);
    if (rc == 0 && !a->dd.has_root_pk)
        rc = REFBUS_EMALFORMED;
    if (rc != 0 && rc != REFBUS_ENOMEM) {
        log_error("%s: the working state does not parse (%s)", path, refbus_strerror(rc));
        rc = REFBUS_ECORRUPT;
    }
    return rc;
}

void refbus_admin_revert(refbus_admin *a)
{
    if (load_state(a) != 0)
        log_error("could not reload the working state of %s", a->dir);
}

int refbus_admin_commit(refbus_admin *a)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = refbus_admin_pack_state(a, &bytes, &len);
    if (rc == 0)
        rc = refbus_admin_write_state(a, bytes, len);
    free(bytes);
    if (rc != 0)
        refbus_admin_revert(a);
    return rc;
}

static int lock_dir(const char *dir, int *fd_out)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/.lock", dir) >= (int)sizeof path)
        return REFBUS_EINVAL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == ENOENT ? REFBUS_ENOTFOUND : REFBUS_EIO;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return REFBUS_EIO;
        }
    }
    *fd_out = fd;
    return 0;
}

static int admin_new(refbus_admin **out, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 0 || n >= PATH_MAX - 64)
        return REFBUS_EINVAL;
    refbus_admin *a = calloc(1, sizeof *a);
    if (!a)
        return REFBUS_ENOMEM;
    memcpy(a->dir, dir, n + 1);
    a->lock_fd = -1;
    int rc = lock_dir(dir, &a->lock_fd);
    if (rc != 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void refbus_admin_close(refbus_admin **a)
{
    if (!a || !*a)
        return;
    refbus_dd_clear(&(*a)->dd);
    if ((*a)->lock_fd >= 0)
        close((*a)->lock_fd); /* releases the flock */
    free(*a);
    *a = NULL;
}

int refbus_admin_open(refbus_admin **out, const char *dir)
{
    refbus_admin *a = NULL;
    struct stat st;
    if (!out || !dir)
        return REFBUS_EINVAL;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return REFBUS_ENOTFOUND; /* do not create a lock file in a directory never set up */
    int rc = admin_new(&a, dir);
    if (rc != 0)
        return rc;
    if ((rc = load_state(a)) != 0) {
        refbus_admin_close(&a);
        return rc;
    }
    *out = a;
    return 0;
}

const uint8_t *refbus_admin_root_pk(const refbus_admin *a)
{
    return a->dd.root_pk;
}

uint64_t refbus_admin_serial(const refbus_admin *a)
{
    return a->dd.serial;
}

int refbus_root_pk_parse(uint8_t root_pk[crypto_sign_PUBLICKEYBYTES], const char *text)
{
    char hex[65];
    if (!text || strlen(text) < 64)
        return REFBUS_EKEYFORMAT;
    memcpy(hex, text, 64);
    hex[64] = 0;
    for (const char *p = text + 64; *p; p++)
        if (!isspace((unsigned char)*p))
            return REFBUS_EKEYFORMAT;
    if (refbus_unhex(root_pk, crypto_sign_PUBLICKEYBYTES, hex) != 0 ||
        !crypto_core_ed25519_is_valid_point(root_pk))
        return REFBUS_EKEYFORMAT;
    return 0;
}

int refbus_admin_read_root_pub(const char *dir, uint8_t root_pk[crypto_sign_PUBLICKEYBYTES])
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    if (snprintf(path, sizeof path, "%s/root.pub", dir) >= (int)sizeof path)
        return REFBUS_EINVAL;
    int rc = refbus_file_read(&buf, &len, path, 4096);
    if (rc == REFBUS_ETOOLARGE)
        rc = REFBUS_EKEYFORMAT;
    if (rc == 0)
        rc = refbus_root_pk_parse(root_pk, (const char *)buf);
    free(buf);
    return rc;
}

/* The highest serial already used: the state's, the last signed directory's, any archived
 * one's. A crash between writing these files must never make us sign a serial twice. */
static uint64_t highest_serial(const refbus_admin *a)
{
    char path[PATH_MAX];
    uint64_t best = a->dd.serial;
    refbus_directory *d = NULL;
    if (refbus_admin_path(path, a, "directory.signed") == 0 &&
        refbus_directory_load_file(&d, path, a->dd.root_pk, NULL) == 0) {
        if (refbus_directory_serial(d) > best)
            best = refbus_directory_serial(d);
        refbus_directory_free(&d);
    }
    DIR *dir = refbus_admin_path(path, a, "signed") == 0 ? opendir(path) : NULL;
    for (struct dirent *e; dir && (e = readdir(dir)) != NULL;) {
        char *end = NULL;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        errno = 0;
        unsigned long long s = strtoull(e->d_name, &end, 10);
        if (errno == 0 && end && strcmp(end, ".dir") == 0 && s > best)
            best = s;
    }
    if (dir)
        closedir(dir);
    return best;
}

/* Sign the working state as `serial` with `root` and write every copy. */
static int sign_as(refbus_admin *a, const refbus_keystore *root, uint64_t serial, const char *out,
                   uint64_t *serial_out)
{
    char path[PATH_MAX], name[64];
    uint8_t *dir = NULL, *msg = NULL, *signed_bytes = NULL, *state = NULL;
    size_t dir_len = 0, msg_len = 0, signed_len = 0, state_len = 0;
    uint8_t sig[crypto_sign_BYTES];
    refbus_directory *check = NULL;
    uint64_t prev = serial - 1, old_serial = a->dd.serial;

    a->dd.serial = serial;
    a->dd.issued_ms = refbus_now_ms();
    int rc = refbus_dd_pack(&a->dd, &dir, &dir_len);
    a->dd.issued_ms = 0; /* the working state carries no issue time */
    if (rc != 0)
        goto out;
    if ((rc = refbus_dd_sig_input(&msg, &msg_len, dir, dir_len)) != 0)
        goto out;
    crypto_sign_detached(sig, NULL, msg, msg_len, refbus_keystore_epoch(root, 0)->sign_sk);
    if ((rc = refbus_dd_join_signed(&signed_bytes, &signed_len, dir, dir_len, sig)) != 0)
        goto out;
    /* What we hand out must be what every reader accepts. */
    rc = refbus_directory_load(&check, signed_bytes, signed_len, a->dd.root_pk,
                               serial > 0 ? &prev : NULL);
    if (rc != 0) {
        log_error("refusing to sign: the result would not verify (%s)", refbus_strerror(rc));
        goto out;
    }
    if ((rc = refbus_admin_pack_state(a, &state, &state_len)) != 0)
        goto out;
    snprintf(name, sizeof name, "signed/%020" PRIu64 ".dir", serial);
    if ((rc = refbus_admin_path(path, a, name)) != 0 ||
        (rc = refbus_file_write_atomic(path, signed_bytes, signed_len, 0644, 1)) != 0)
        goto out;
    if ((rc = refbus_admin_path(path, a, "directory.signed")) != 0 ||
        (rc = refbus_file_write_atomic(path, signed_bytes, signed_len, 0644, 0)) != 0)
        goto out;
    if (out && (rc = refbus_file_write_atomic(out, signed_bytes, signed_len, 0644, 0)) != 0)
        goto out;
    if ((rc = refbus_admin_write_state(a, state, state_len)) != 0)
        goto out;
    if (serial_out)
        *serial_out = serial;
    old_serial = serial;
out:
    a->dd.serial = old_serial;
    refbus_directory_free(&check);
    free(state);
    free(signed_bytes);
    free(msg);
    free(dir);
    return rc;
}

int refbus_admin_sign(refbus_admin *a, const char *pass, size_t pass_len, const char *out,
                      uint64_t *serial)
{
    char path[PATH_MAX];
    refbus_keystore *root = NULL;
    int rc = refbus_admin_path(path, a, "root.key");
    if (rc != 0)
        return rc;
    if ((rc = refbus_keystore_open(&root, path, pass, pass_len)) != 0)
        return rc;
    if (refbus_keystore_role(root) != REFBUS_KEYSTORE_ROOT ||
        sodium_memcmp(refbus_keystore_root_pk(root), a->dd.root_pk, crypto_sign_PUBLICKEYBYTES) !=
            0) {
        log_error("%s is not the root key of this directory", path);
        rc = REFBUS_EKEYFORMAT;
        goto out;
    }
    uint64_t prev = highest_serial(a);
    if (prev == UINT64_MAX) {
        rc = REFBUS_EINVAL;
        goto out;
    }
    rc = sign_as(a, root, prev + 1, out, serial);
out:
    refbus_keystore_free(&root);
    return rc;
}

int refbus_admin_init(const char *dir, const char *pass, size_t pass_len, const refbus_kdf *kdf,
                      uint8_t root_pk[crypto_sign_PUBLICKEYBYTES])
{
    char path[PATH_MAX], hex[66];
    refbus_admin *a = NULL;
    refbus_keystore *root = NULL;
    int made_key = 0, rc;
    if (!dir || !pass || pass_len == 0)
        return REFBUS_EINVAL;
    if ((rc = refbus_mkdirs(dir, 0700)) != 0)
        return rc;
    if ((rc = admin_new(&a, dir)) != 0)
        return rc;
    if ((rc = refbus_admin_path(path, a, "root.key")) != 0)
        goto out;
    if (access(path, F_OK) == 0) {
        rc = REFBUS_EEXIST;
        goto out;
    }
    if ((rc = refbus_keystore_generate(&root, REFBUS_KEYSTORE_ROOT, NULL, NULL, 1)) != 0)
        goto out;
    if ((rc = refbus_keystore_save(root, path, pass, pass_len, kdf, 1)) != 0)
        goto out;
    made_key = 1;
    a->dd.version = REFBUS_DIRECTORY_VERSION;
    a->dd.has_root_pk = 1;
    memcpy(a->dd.root_pk, refbus_keystore_root_pk(root), crypto_sign_PUBLICKEYBYTES);
    refbus_hex(hex, a->dd.root_pk, crypto_sign_PUBLICKEYBYTES);
    strcat(hex, "\n");
    if ((rc = refbus_admin_path(path, a, "root.pub")) != 0 ||
        (rc = refbus_file_write_atomic(path, hex, 65, 0644, 0)) != 0)
        goto out;
    if ((rc = refbus_admin_path(path, a, "signed")) != 0 || (rc = refbus_mkdirs(path, 0700)) != 0)
        goto out;
    if ((rc = sign_as(a, root, 0, NULL, NULL)) != 0)
        goto out;
    if (root_pk)
        memcpy(root_pk, a->dd.root_pk, crypto_sign_PUBLICKEYBYTES);
out:
    if (rc != 0 && made_key) {
        /* Leave nothing half made: init can simply be run again. */
        static const char *const ours[] = {"root.key", "root.pub", "state.pb", "directory.signed",
                                           "signed/00000000000000000000.dir"};
        for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
            if (refbus_admin_path(path, a, ours[i]) == 0)
                unlink(path);
    }
    refbus_keystore_free(&root);
    refbus_admin_close(&a);
    return rc;
}

int refbus_admin_pending(const refbus_admin *a, refbus_directory **out)
{
    uint8_t *dir = NULL, *bytes = NULL;
    size_t dir_len = 0, len = 0;
    uint8_t zero_sig[crypto_sign_BYTES] = {0};
    int rc = refbus_admin_pack_state(a, &dir, &dir_len);
    if (rc == 0)
        rc = refbus_dd_join_signed(&bytes, &len, dir, dir_len, zero_sig);
    if (rc == 0)
        rc = refbus_directory_load_unverified(out, bytes, len);
    free(bytes);
    free(dir);
    return rc;
}
