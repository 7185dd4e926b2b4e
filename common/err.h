/* refbus error codes: every fail-able function returns 0 or one of these negative codes, and
 * refbus_strerror() names it. Codes live in a reserved range (-1000 and below) so they never
 * collide with -errno values; each part owns a block of 100. */
#ifndef REFBUS_COMMON_ERR_H
#define REFBUS_COMMON_ERR_H

#define REFBUS_WUR __attribute__((warn_unused_result))

enum refbus_err {
    REFBUS_OK = 0,

    /* common: -1000.. */
    REFBUS_ENOMEM = -1000,    /* out of memory */
    REFBUS_EINVAL = -1001,    /* invalid argument */
    REFBUS_EIO = -1002,       /* I/O error (see errno / the log) */
    REFBUS_ENOTFOUND = -1003, /* no such item */
    REFBUS_EEXIST = -1004,    /* already exists */
    REFBUS_EPERM = -1005,     /* file permissions too open / not allowed */
    REFBUS_ECONFIG = -1006,   /* bad configuration */
    REFBUS_ELMDB = -1007,     /* LMDB error */
    REFBUS_EMAPFULL = -1008,  /* storage full (LMDB map full) */
    REFBUS_EJSON = -1009,     /* bad JSON */
    REFBUS_ETIMEOUT = -1010,  /* timed out */
    REFBUS_ECORRUPT = -1011,  /* stored data is corrupt */
    REFBUS_ENOSPC = -1012,    /* no space left on the device (disk full) */
    REFBUS_EQUOTA = -1013,    /* this agency's share of the store is used up */
    REFBUS_ESTORAGE = -1014,  /* the store is unusable (LMDB panic, corruption, I/O error) */

    /* envelope: -1100.. */
    REFBUS_EMALFORMED = -1100,    /* malformed envelope */
    REFBUS_EVERSION = -1101,      /* unsupported protocol version */
    REFBUS_EBADSIG = -1102,       /* bad signature */
    REFBUS_ENOTRECIPIENT = -1103, /* not a recipient of this envelope */
    REFBUS_ENOEPOCHKEY = -1104,   /* no key for that epoch */
    REFBUS_EDECRYPT = -1105,      /* decryption failed */
    REFBUS_EEXPIRED = -1106,      /* message expired */
    REFBUS_ETOOLARGE = -1107,     /* too large */
    REFBUS_ETOOMANYRCPT = -1108,  /* too many recipients */
    REFBUS_ECOMMIT = -1109,       /* key commitment mismatch */

    /* keys and directory: -1200.. */
    REFBUS_EPASSPHRASE = -1200,    /* wrong passphrase or corrupt keystore */
    REFBUS_EROLLBACK = -1201,      /* directory serial not newer than the trusted one */
    REFBUS_EREVOKED = -1202,       /* key revoked */
    REFBUS_EUNKNOWNAGENCY = -1203, /* unknown agency */
    REFBUS_EBADID = -1204,         /* invalid agency id */
    REFBUS_ERETIRED = -1205,       /* key epoch retired (not current) */
    REFBUS_EPOLICY = -1206,        /* not allowed by the routing policy */
    REFBUS_EKEYFORMAT = -1207,     /* bad key file format */
    REFBUS_EWEAK = -1208,          /* passphrase too weak to protect a new key */

    /* audit: -1300.. */
    REFBUS_EAUDIT = -1300,        /* audit trail verification failed */
    REFBUS_EINCONSISTENT = -1301, /* checkpoint inconsistent with an earlier one */
    REFBUS_EPROOF = -1302,        /* proof does not verify */

    /* transport / broker / node: -1400.. */
    REFBUS_EPROTO = -1400,       /* protocol error (framing) */
    REFBUS_EFRAMES = -1401,      /* wrong frame count */
    REFBUS_ESENDER = -1402,      /* sender does not match the authenticated peer */
    REFBUS_EDUPLICATE = -1403,   /* duplicate message */
    REFBUS_EUNKNOWNPEER = -1404, /* unknown peer */
    REFBUS_EAGAIN = -1405,       /* try again later */
    REFBUS_ETRANSPORT = -1406,   /* transport error */
    REFBUS_ETRANSITION = -1407,  /* thread state transition not allowed */
    REFBUS_ERECEIPT = -1408,     /* bad receipt */
    REFBUS_EUNAVAILABLE = -1409, /* service not available (daemon not running) */
    REFBUS_ESUPERSEDED = -1430,  /* session taken over by another connection with the same key */

    /* sealed files (attachments): -1500.. */
    REFBUS_EFILECHUNK = -1500,      /* a file chunk does not verify (the index is reported) */
    REFBUS_EFILEID = -1501,         /* sealed file does not match its file id */
    REFBUS_EFILEFORMAT = -1502,     /* malformed sealed file */
    REFBUS_EFILEINCOMPLETE = -1503, /* a chunk of the file is not there (yet) */
};

/* A static, human-readable text for `err` (a refbus code, 0, or -errno). Never NULL. */
const char *refbus_strerror(int err);

/* 1 when `err` is a proven property of the bytes it was returned for (a bad signature, not a
 * recipient, expired, malformed as shown by a parser that did not run out of memory, ...):
 * only then may a message be refused for good. 0 for everything that may pass (out of memory,
 * I/O, a full store or disk, a busy or absent peer, a key or directory we do not hold yet,
 * unknown codes and -errno values): the message is kept and tried again later. DESIGN §7.4. */
int refbus_err_permanent(int err);

/* A short stable machine name for `err`, e.g. "EBADSIG". Never NULL. */
const char *refbus_errname(int err);

#endif
