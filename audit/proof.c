/* Proof files: built from the stored hashes in one short read transaction, checked against the
 * checkpoint before they are handed out (so a broken store never yields a proof that fails
 * later), and checked again, from the bytes alone, by whoever receives them. */
#include "audit/proof.h"

#include <stdlib.h>
#include <string.h>

#include "audit.pb-c.h"
#include "proto/pbutil.h"
#include "proto/merkle.h"

#define MAGIC_LEN (sizeof REFBUS_PROOF_MAGIC - 1)

void refbus_audit_proof_info_clear(refbus_audit_proof_info *info)
{
    if (!info)
        return;
    free(info->record);
    memset(info, 0, sizeof *info);
}

/* MAGIC || AuditProof into a malloc'd buffer. */
static int encode(const Refbus__V1__AuditProof *p, uint8_t **out, size_t *out_len)
{
    return refbus_pb_pack_prefixed(out, out_len, REFBUS_PROOF_MAGIC, MAGIC_LEN, &p->base);
}

/* The stored checkpoint of size `at` (0: latest) into *cp_bytes, parsed into *cp. */
static int load_cp(refbus_audit *a, MDB_txn *txn, uint64_t at, uint8_t **b, size_t *len,
                   refbus_checkpoint *cp)
{
    int rc = at ? refbus_audit_checkpoint_at(a, txn, at, b, len)
                : refbus_audit_latest_checkpoint(a, txn, b, len);
    if (rc != 0)
        return rc;
    if (refbus_checkpoint_parse(cp, *b, *len) != 0 || (at && cp->size != at)) {
        free(*b);
        *b = NULL;
        return REFBUS_ECORRUPT;
    }
    return 0;
}

/* Path hashes as protobuf bytes fields pointing into `path`. */
static ProtobufCBinaryData *path_fields(uint8_t (*path)[REFBUS_MERKLE_HASH_BYTES], size_t n)
{
    ProtobufCBinaryData *f = calloc(n ? n : 1, sizeof *f);
    for (size_t i = 0; f && i < n; i++)
        f[i] = (ProtobufCBinaryData){REFBUS_MERKLE_HASH_BYTES, path[i]};
    return f;
}

int refbus_audit_proof_inclusion(refbus_audit_reader *r, uint64_t index, uint64_t at, uint8_t **out,
                                 size_t *out_len)
{
    refbus_audit *a = refbus_audit_reader_log(r);
    refbus_checkpoint cp;
    MDB_txn *txn = NULL;
    uint8_t *cpb = NULL, (*path)[REFBUS_MERKLE_HASH_BYTES] = NULL, leaf[REFBUS_MERKLE_HASH_BYTES];
    ProtobufCBinaryData *pf = NULL;
    const uint8_t *rec;
    size_t cpl = 0, n = 0, rec_len;
    int rc;
    if (!out || !out_len)
        return REFBUS_EINVAL;
    if ((rc = refbus_audit_reader_txn(r, &txn)) != 0)
        return rc;
    if ((rc = load_cp(a, txn, at, &cpb, &cpl, &cp)) != 0)
        goto out;
    if (index >= cp.size) {
        rc = REFBUS_EINVAL;
        goto out;
    }
    if ((rc = refbus_audit_get(a, txn, index, &rec, &rec_len)) != 0 ||
        (rc = refbus_audit_inclusion_path(a, txn, index, cp.size, &path, &n)) != 0)
        goto out;
    refbus_merkle_leaf(leaf, rec, rec_len);
    if (refbus_merkle_verify_inclusion(index, cp.size, leaf,
                                       (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])path, n,
                                       cp.root) != 0) {
        rc = REFBUS_ECORRUPT;
        goto out;
    }
    if (!(pf = path_fields(path, n))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    Refbus__V1__InclusionProof ip = REFBUS__V1__INCLUSION_PROOF__INIT;
    ip.index = index;
    ip.record = (ProtobufCBinaryData){rec_len, (uint8_t *)rec};
    ip.signed_checkpoint = (ProtobufCBinaryData){cpl, cpb};
    ip.n_path = n;
    ip.path = pf;
    Refbus__V1__AuditProof p = REFBUS__V1__AUDIT_PROOF__INIT;
    p.version = 1;
    p.proof_case = REFBUS__V1__AUDIT_PROOF__PROOF_INCLUSION;
    p.inclusion = &ip;
    rc = encode(&p, out, out_len);
out:
    refbus_audit_reader_release(r);
    free(pf);
    free(path);
    free(cpb);
    return rc;
}

int refbus_audit_proof_consistency(refbus_audit_reader *r, uint64_t m, uint64_t n, uint8_t **out,
                                   size_t *out_len)
{
    refbus_audit *a = refbus_audit_reader_log(r);
    refbus_checkpoint c1, c2;
    MDB_txn *txn = NULL;
    uint8_t *b1 = NULL, *b2 = NULL, (*path)[REFBUS_MERKLE_HASH_BYTES] = NULL;
    ProtobufCBinaryData *pf = NULL;
    size_t l1 = 0, l2 = 0, cnt = 0;
    int rc;
    if (!out || !out_len)
        return REFBUS_EINVAL;
    if ((rc = refbus_audit_reader_txn(r, &txn)) != 0)
        return rc;
    /* m == 0 names the empty tree, which has no stored checkpoint unless one was signed. */
    if ((rc = load_cp(a, txn, n, &b2, &l2, &c2)) != 0 ||
        (rc = refbus_audit_checkpoint_at(a, txn, m, &b1, &l1)) != 0)
        goto out;
    if (refbus_checkpoint_parse(&c1, b1, l1) != 0 || c1.size != m) {
        rc = REFBUS_ECORRUPT;
        goto out;
    }
    if (m > c2.size) {
        rc = REFBUS_EINVAL;
        goto out;
    }
    if ((rc = refbus_audit_consistency_path(a, txn, m, c2.size, &path, &cnt)) != 0)
        goto out;
    if (refbus_checkpoint_consistent(&c1, &c2, (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])path,
                                     cnt) != 0) {
        rc = REFBUS_ECORRUPT;
        goto out;
    }
    if (!(pf = path_fields(path, cnt))) {
        rc = REFBUS_ENOMEM;
        goto out;
    }
    Refbus__V1__ConsistencyProof cpf = REFBUS__V1__CONSISTENCY_PROOF__INIT;
    cpf.first = (ProtobufCBinaryData){l1, b1};
    cpf.second = (ProtobufCBinaryData){l2, b2};
    cpf.n_path = cnt;
    cpf.path = pf;
    Refbus__V1__AuditProof p = REFBUS__V1__AUDIT_PROOF__INIT;
    p.version = 1;
    p.proof_case = REFBUS__V1__AUDIT_PROOF__PROOF_CONSISTENCY;
    p.consistency = &cpf;
    rc = encode(&p, out, out_len);
out:
    refbus_audit_reader_release(r);
    free(pf);
    free(path);
    free(b1);
    free(b2);
    return rc;
}

/* Unpack the file; on success *pp is the message (caller frees) and `info` is filled. */
static int decode(Refbus__V1__AuditProof **pp, refbus_audit_proof_info *info, const uint8_t *file,
                  size_t len)
{
    Refbus__V1__AuditProof *p = NULL;
    const ProtobufCBinaryData *path = NULL;
    size_t n = 0;
    if (!file || len < MAGIC_LEN || len > REFBUS_PROOF_MAX ||
        memcmp(file, REFBUS_PROOF_MAGIC, MAGIC_LEN) != 0)
        return REFBUS_EMALFORMED;
    int rc = refbus_pb_unpack(&p, &refbus__v1__audit_proof__descriptor, file + MAGIC_LEN,
                              len - MAGIC_LEN);
    if (rc == REFBUS_ENOMEM)
        return rc; /* out of memory says nothing about the file */
    if (rc || p->version != 1)
        goto bad;
    if (p->proof_case == REFBUS__V1__AUDIT_PROOF__PROOF_INCLUSION && p->inclusion) {
        const Refbus__V1__InclusionProof *ip = p->inclusion;
        info->kind = REFBUS_PROOF_INCLUSION;
        info->index = ip->index;
        if (refbus_checkpoint_parse(&info->cp, ip->signed_checkpoint.data,
                                    ip->signed_checkpoint.len) != 0 ||
            ip->record.len == 0)
            goto bad;
        if (!(info->record = malloc(ip->record.len)))
            goto nomem;
        memcpy(info->record, ip->record.data, ip->record.len);
        info->record_len = ip->record.len;
        path = ip->path;
        n = ip->n_path;
    } else if (p->proof_case == REFBUS__V1__AUDIT_PROOF__PROOF_CONSISTENCY && p->consistency) {
        const Refbus__V1__ConsistencyProof *cp = p->consistency;
        info->kind = REFBUS_PROOF_CONSISTENCY;
        if (refbus_checkpoint_parse(&info->first, cp->first.data, cp->first.len) != 0 ||
            refbus_checkpoint_parse(&info->cp, cp->second.data, cp->second.len) != 0)
            goto bad;
        path = cp->path;
        n = cp->n_path;
    } else {
        goto bad;
    }
    if (n > REFBUS_MERKLE_MAX_PATH)
        goto bad;
    for (size_t i = 0; i < n; i++)
        if (path[i].len != REFBUS_MERKLE_HASH_BYTES)
            goto bad;
    info->path_len = n;
    *pp = p;
    return 0;
nomem:
    refbus__v1__audit_proof__free_unpacked(p, NULL);
    return REFBUS_ENOMEM;
bad:
    free(info->record);
    info->record = NULL;
    info->record_len = 0;
    if (p)
        refbus__v1__audit_proof__free_unpacked(p, NULL);
    return REFBUS_EMALFORMED;
}

int refbus_audit_proof_parse(refbus_audit_proof_info *info, const uint8_t *file, size_t len)
{
    Refbus__V1__AuditProof *p = NULL;
    if (!info)
        return REFBUS_EINVAL;
    memset(info, 0, sizeof *info);
    int rc = decode(&p, info, file, len);
    if (rc != 0) {
        refbus_audit_proof_info_clear(info);
        return rc;
    }
    refbus__v1__audit_proof__free_unpacked(p, NULL);
    return 0;
}

static int sig_ok(const ProtobufCBinaryData *b, const refbus_checkpoint *cp,
                  const uint8_t (*pks)[crypto_sign_PUBLICKEYBYTES], size_t n_pks)
{
    if (n_pks == 0)
        return refbus_checkpoint_verify(NULL, b->data, b->len, cp->signer_pk) == 0;
    for (size_t i = 0; i < n_pks; i++)
        if (refbus_checkpoint_verify(NULL, b->data, b->len, pks[i]) == 0)
            return 1;
    return 0;
}

int refbus_audit_proof_check(refbus_audit_proof_info *info, const uint8_t *file, size_t len,
                             const uint8_t (*pks)[crypto_sign_PUBLICKEYBYTES], size_t n_pks)
{
    Refbus__V1__AuditProof *p = NULL;
    uint8_t path[REFBUS_MERKLE_MAX_PATH][REFBUS_MERKLE_HASH_BYTES], leaf[REFBUS_MERKLE_HASH_BYTES];
    const ProtobufCBinaryData *pf;
    int rc;
    if (!info)
        return REFBUS_EINVAL;
    memset(info, 0, sizeof *info);
    if ((rc = decode(&p, info, file, len)) != 0)
        return rc;
    pf = info->kind == REFBUS_PROOF_INCLUSION ? p->inclusion->path : p->consistency->path;
    for (size_t i = 0; i < info->path_len; i++)
        memcpy(path[i], pf[i].data, REFBUS_MERKLE_HASH_BYTES);
    if (info->kind == REFBUS_PROOF_INCLUSION) {
        if (!sig_ok(&p->inclusion->signed_checkpoint, &info->cp, pks, n_pks)) {
            rc = REFBUS_EBADSIG;
            goto out;
        }
        refbus_merkle_leaf(leaf, info->record, info->record_len);
        rc = refbus_merkle_verify_inclusion(info->index, info->cp.size, leaf,
                                            (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])path,
                                            info->path_len, info->cp.root);
    } else {
        if (!sig_ok(&p->consistency->first, &info->first, pks, n_pks) ||
            !sig_ok(&p->consistency->second, &info->cp, pks, n_pks)) {
            rc = REFBUS_EBADSIG;
            goto out;
        }
        rc = refbus_checkpoint_consistent(&info->first, &info->cp,
                                          (const uint8_t(*)[REFBUS_MERKLE_HASH_BYTES])path,
                                          info->path_len) == 0
                 ? 0
                 : REFBUS_EPROOF;
    }
out:
    refbus__v1__audit_proof__free_unpacked(p, NULL);
    return rc;
}
