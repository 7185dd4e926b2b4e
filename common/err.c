/* refbus_strerror(): one table for every error code, so every tool reports the same reason. */
#include "common/err.h"

#include <string.h>

struct entry {
    int code;
    const char *name;
    const char *text;
    int permanent; /* P: a proven property of the bytes; T: may pass, try again later */
};

#define P 1
#define T 0

static const struct entry table[] = {
    {REFBUS_OK, "OK", "success", T},
    {REFBUS_ENOMEM, "ENOMEM", "out of memory", T},
    {REFBUS_EINVAL, "EINVAL", "invalid argument", T},
    {REFBUS_EIO, "EIO", "input/output error", T},
    {REFBUS_ENOTFOUND, "ENOTFOUND", "not found", T},
    {REFBUS_EEXIST, "EEXIST", "already exists", T},
    {REFBUS_EPERM, "EPERM", "permission denied or file permissions too open", T},
    {REFBUS_ECONFIG, "ECONFIG", "bad configuration", T},
    {REFBUS_ELMDB, "ELMDB", "storage (LMDB) error", T},
    {REFBUS_EMAPFULL, "EMAPFULL", "storage full: refusing new messages until there is room", T},
    {REFBUS_EJSON, "EJSON", "bad JSON", P},
    {REFBUS_ETIMEOUT, "ETIMEOUT", "timed out", T},
    {REFBUS_ECORRUPT, "ECORRUPT", "stored data is corrupt", T},
    {REFBUS_ENOSPC, "ENOSPC", "disk full: refusing new messages until there is room", T},
    {REFBUS_EQUOTA, "EQUOTA", "this agency's share of the store is used up: try again later", T},
    {REFBUS_ESTORAGE, "ESTORAGE",
     "the store is unusable (LMDB panic, corruption or I/O error): the daemon must stop", T},
    {REFBUS_EMALFORMED, "EMALFORMED", "malformed envelope", P},
    {REFBUS_EVERSION, "EVERSION", "unsupported protocol version", P},
    {REFBUS_EBADSIG, "EBADSIG", "bad signature", P},
    {REFBUS_ENOTRECIPIENT, "ENOTRECIPIENT", "not a recipient of this message", P},
    {REFBUS_ENOEPOCHKEY, "ENOEPOCHKEY", "no key for that epoch", T},
    {REFBUS_EDECRYPT, "EDECRYPT", "decryption failed", P},
    {REFBUS_EEXPIRED, "EEXPIRED", "message expired", P},
    {REFBUS_ETOOLARGE, "ETOOLARGE", "too large", P},
    {REFBUS_ETOOMANYRCPT, "ETOOMANYRCPT", "too many recipients", P},
    {REFBUS_ECOMMIT, "ECOMMIT", "key commitment mismatch", P},
    {REFBUS_EPASSPHRASE, "EPASSPHRASE", "wrong passphrase or corrupt keystore", T},
    {REFBUS_EROLLBACK, "EROLLBACK", "directory serial is not newer than the trusted one", T},
    {REFBUS_EREVOKED, "EREVOKED", "key revoked", P},
    {REFBUS_EUNKNOWNAGENCY, "EUNKNOWNAGENCY", "unknown agency", T},
    {REFBUS_EBADID, "EBADID", "invalid agency id (allowed: [a-z0-9.-], 1 to 64 characters)", P},
    {REFBUS_ERETIRED, "ERETIRED", "key epoch retired: not the agency's current key", P},
    {REFBUS_EPOLICY, "EPOLICY", "not allowed by the routing policy", P},
    {REFBUS_EKEYFORMAT, "EKEYFORMAT", "bad key file format", P},
    {REFBUS_EWEAK, "EWEAK", "passphrase too weak to protect a new key", P},
    {REFBUS_EAUDIT, "EAUDIT", "audit trail verification failed", P},
    {REFBUS_EINCONSISTENT, "EINCONSISTENT", "checkpoint inconsistent with an earlier one", P},
    {REFBUS_EPROOF, "EPROOF", "proof does not verify", P},
    {REFBUS_EPROTO, "EPROTO", "protocol error", P},
    {REFBUS_EFRAMES, "EFRAMES", "wrong frame count", P},
    {REFBUS_ESENDER, "ESENDER", "sender does not match the authenticated peer", P},
    {REFBUS_EDUPLICATE, "EDUPLICATE", "duplicate message", P},
    {REFBUS_EUNKNOWNPEER, "EUNKNOWNPEER", "unknown peer", P},
    {REFBUS_EAGAIN, "EAGAIN", "try again later", T},
    {REFBUS_ETRANSPORT, "ETRANSPORT", "transport error", T},
    {REFBUS_ETRANSITION, "ETRANSITION", "thread state transition not allowed", P},
    {REFBUS_ERECEIPT, "ERECEIPT", "bad receipt", P},
    {REFBUS_EUNAVAILABLE, "EUNAVAILABLE", "service not available", T},
    {REFBUS_ESUPERSEDED, "ESUPERSEDED",
     "session taken over by another connection with the same agency key", T},
    {REFBUS_EFILECHUNK, "EFILECHUNK",
     "file chunk does not verify (tampered, reordered, dropped, duplicated or from another file)",
     P},
    {REFBUS_EFILEID, "EFILEID", "sealed file does not match its file id", P},
    {REFBUS_EFILEFORMAT, "EFILEFORMAT", "malformed sealed file", P},
    {REFBUS_EFILEINCOMPLETE, "EFILEINCOMPLETE",
     "file incomplete: a chunk is missing (may still arrive)", T},
};

#undef P
#undef T

static const struct entry *find(int err)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == err)
            return &table[i];
    return NULL;
}

const char *refbus_strerror(int err)
{
    const struct entry *e = find(err);
    if (e)
        return e->text;
    if (err < 0 && err > -1000)
        return strerror(-err);
    return "unknown error";
}

int refbus_err_permanent(int err)
{
    const struct entry *e = find(err);
    return e ? e->permanent : 0;
}

const char *refbus_errname(int err)
{
    const struct entry *e = find(err);
    return e ? e->name : "EUNKNOWN";
}
