/* refbus_strerror(): one table for every error code, so every tool reports the same reason. */
#include "common/err.h"

#include <string.h>

struct entry {
    int code;
    const char *name;
    const char *text;
};

static const struct entry table[] = {
    {REFBUS_OK, "OK", "success"},
    {REFBUS_ENOMEM, "ENOMEM", "out of memory"},
    {REFBUS_EINVAL, "EINVAL", "invalid argument"},
    {REFBUS_EIO, "EIO", "input/output error"},
    {REFBUS_ENOTFOUND, "ENOTFOUND", "not found"},
    {REFBUS_EEXIST, "EEXIST", "already exists"},
    {REFBUS_EPERM, "EPERM", "permission denied or file permissions too open"},
    {REFBUS_ECONFIG, "ECONFIG", "bad configuration"},
    {REFBUS_ELMDB, "ELMDB", "storage (LMDB) error"},
    {REFBUS_EMAPFULL, "EMAPFULL", "storage full: refusing new messages until there is room"},
    {REFBUS_EJSON, "EJSON", "bad JSON"},
    {REFBUS_ETIMEOUT, "ETIMEOUT", "timed out"},
    {REFBUS_ECORRUPT, "ECORRUPT", "stored data is corrupt"},
    {REFBUS_EMALFORMED, "EMALFORMED", "malformed envelope"},
    {REFBUS_EVERSION, "EVERSION", "unsupported protocol version"},
    {REFBUS_EBADSIG, "EBADSIG", "bad signature"},
    {REFBUS_ENOTRECIPIENT, "ENOTRECIPIENT", "not a recipient of this message"},
    {REFBUS_ENOEPOCHKEY, "ENOEPOCHKEY", "no key for that epoch"},
    {REFBUS_EDECRYPT, "EDECRYPT", "decryption failed"},
    {REFBUS_EEXPIRED, "EEXPIRED", "message expired"},
    {REFBUS_ETOOLARGE, "ETOOLARGE", "too large"},
    {REFBUS_ETOOMANYRCPT, "ETOOMANYRCPT", "too many recipients"},
    {REFBUS_ECOMMIT, "ECOMMIT", "key commitment mismatch"},
    {REFBUS_EPASSPHRASE, "EPASSPHRASE", "wrong passphrase or corrupt keystore"},
    {REFBUS_EROLLBACK, "EROLLBACK", "directory serial is not newer than the trusted one"},
    {REFBUS_EREVOKED, "EREVOKED", "key revoked"},
    {REFBUS_EUNKNOWNAGENCY, "EUNKNOWNAGENCY", "unknown agency"},
    {REFBUS_EBADID, "EBADID", "invalid agency id (allowed: [a-z0-9.-], 1 to 64 characters)"},
    {REFBUS_ERETIRED, "ERETIRED", "key epoch retired: not the agency's current key"},
    {REFBUS_EPOLICY, "EPOLICY", "not allowed by the routing policy"},
    {REFBUS_EKEYFORMAT, "EKEYFORMAT", "bad key file format"},
    {REFBUS_EAUDIT, "EAUDIT", "audit trail verification failed"},
    {REFBUS_EINCONSISTENT, "EINCONSISTENT", "checkpoint inconsistent with an earlier one"},
    {REFBUS_EPROOF, "EPROOF", "proof does not verify"},
    {REFBUS_EPROTO, "EPROTO", "protocol error"},
    {REFBUS_EFRAMES, "EFRAMES", "wrong frame count"},
    {REFBUS_ESENDER, "ESENDER", "sender does not match the authenticated peer"},
    {REFBUS_EDUPLICATE, "EDUPLICATE", "duplicate message"},
    {REFBUS_EUNKNOWNPEER, "EUNKNOWNPEER", "unknown peer"},
    {REFBUS_EAGAIN, "EAGAIN", "try again later"},
    {REFBUS_ETRANSPORT, "ETRANSPORT", "transport error"},
    {REFBUS_ETRANSITION, "ETRANSITION", "thread state transition not allowed"},
    {REFBUS_ERECEIPT, "ERECEIPT", "bad receipt"},
    {REFBUS_EUNAVAILABLE, "EUNAVAILABLE", "service not available"},
};

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

const char *refbus_errname(int err)
{
    const struct entry *e = find(err);
    return e ? e->name : "EUNKNOWN";
}
