#!/usr/bin/python3
# The formats an independent refbus client needs, written from docs/PROTOCOL.md, docs/KEYS-FORMAT.md
# and proto/*.proto alone: canonical protobuf by hand, the keystore (Argon2id + XSalsa20-Poly1305),
# the root-signed directory, envelope seal/parse/open, receipts. Used by wire_client.py.
import hashlib, os, struct, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import envelope_v1 as ev  # xchacha_enc/dec, varint, kdf, b2b, bucket_of (also from PROTOCOL.md)
import envelope_batch as eb  # leaf_hash, root_from_path, batch_input (PROTOCOL 2.7.2)
from argon2.low_level import hash_secret_raw, Type
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import poly1305, serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

# Reason and error codes (PROTOCOL.md 2.10 and 3.4).
CODES = {-1003: 'ENOTFOUND', -1008: 'EMAPFULL',
         -1001: 'EINVAL', -1100: 'EMALFORMED', -1101: 'EVERSION', -1102: 'EBADSIG', -1103: 'ENOTRECIPIENT',
         -1104: 'ENOEPOCHKEY', -1105: 'EDECRYPT', -1106: 'EEXPIRED', -1107: 'ETOOLARGE',
         -1108: 'ETOOMANYRCPT', -1109: 'ECOMMIT',
         -1202: 'EREVOKED', -1203: 'EUNKNOWNAGENCY', -1205: 'ERETIRED', -1206: 'EPOLICY',
         -1400: 'EPROTO', -1401: 'EFRAMES', -1402: 'ESENDER', -1403: 'EDUPLICATE',
         -1404: 'EUNKNOWNPEER', -1408: 'ERECEIPT', -1430: 'ESUPERSEDED'}
ENV_CODES = {c: n for c, n in CODES.items() if -1109 <= c <= -1100}


class Refused(Exception):
    """A check from the documents failed (the message says which)."""

# ---------------------------------------------------------------- protobuf, by hand (PROTOCOL 1.3)
# A schema maps field number -> kind: 'u' varint, 'z' sint32 (zigzag), 'b' bytes, 's' string,
# 'rb'/'rs' repeated bytes/string, 'ru' repeated varint (proto3: packed), ('m', S) message,
# ('rm', S) repeated message.

def read_varint(buf, i):
    v, shift, start = 0, 0, i
    while True:
        if i >= len(buf) or shift > 63:
            raise Refused('truncated or overlong varint')
        b = buf[i]; i += 1
        v |= (b & 0x7f) << shift; shift += 7
        if not b & 0x80:
            if i - start > 1 and b == 0:
                raise Refused('non-minimal varint')
            return v, i


def pb_fields(buf):
    i, fields = 0, []
    while i < len(buf):
        tag, i = read_varint(buf, i)
        num, wt = tag >> 3, tag & 7
        if num == 0:
            raise Refused('field number 0')
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            if i + n > len(buf):
                raise Refused('truncated field')
            v, i = bytes(buf[i:i + n]), i + n
        elif wt == 1:
            v, i = bytes(buf[i:i + 8]), i + 8
        elif wt == 5:
            v, i = bytes(buf[i:i + 4]), i + 4
        else:
            raise Refused('wire type %d' % wt)
        if i > len(buf):
            raise Refused('truncated field')
        fields.append((num, wt, v))
    return fields


def unzig(v): return (v >> 1) ^ -(v & 1)
def zig32(v): return ((v << 1) ^ (v >> 31)) & 0xffffffff


def pb_decode(buf, schema, strict=True):
    """Decode into a dict by field number. strict: unknown fields refused and the bytes must be
    the canonical encoding (re-encoding gives the same bytes). Non-strict ignores unknowns."""
    msg = {}
    for num, wt, v in pb_fields(buf):
        kind = schema.get(num)
        if kind is None:
            if strict:
                raise Refused('unknown field %d' % num)
            continue
        k = kind[0] if isinstance(kind, tuple) else kind
        want_wt = 0 if k in ('u', 'z') else 2
        if k == 'ru' and wt == 0:
            msg.setdefault(num, []).append(v); continue
        if wt != want_wt:
            raise Refused('field %d: wire type %d' % (num, wt))
        if k == 'u': msg[num] = v
        elif k == 'z': msg[num] = unzig(v)
        elif k == 'b': msg[num] = v
        elif k == 's': msg[num] = v.decode('utf-8')
        elif k == 'rb': msg.setdefault(num, []).append(v)
        elif k == 'rs': msg.setdefault(num, []).append(v.decode('utf-8'))
        elif k == 'ru':
            j, vals = 0, msg.setdefault(num, [])
            while j < len(v):
                x, j = read_varint(v, j); vals.append(x)
        elif k == 'm': msg[num] = pb_decode(v, kind[1], strict)
        elif k == 'rm': msg.setdefault(num, []).append(pb_decode(v, kind[1], strict))
    if strict and pb_encode(msg, schema) != bytes(buf):
        raise Refused('not the canonical encoding')
    return msg


def pb_encode(msg, schema):
    b = b''
    for num in sorted(schema):
        kind = schema[num]
        k = kind[0] if isinstance(kind, tuple) else kind
        v = msg.get(num)
        if v is None:
            continue
        if k == 'u': b += ev.f_varint(num, v)
        elif k == 'z': b += ev.f_varint(num, zig32(v))
        elif k == 'b': b += ev.f_bytes(num, v)
        elif k == 's': b += ev.f_bytes(num, v.encode('utf-8'))
        elif k == 'rb': b += ev.f_rep(num, v)
        elif k == 'rs': b += ev.f_rep(num, [x.encode('utf-8') for x in v])
        elif k == 'ru':
            if v:
                p = b''.join(ev.varint(x) for x in v)
                b += ev.varint(num << 3 | 2) + ev.varint(len(p)) + p
        elif k == 'm':
            sub = pb_encode(v, kind[1])
            b += ev.varint(num << 3 | 2) + ev.varint(len(sub)) + sub
        elif k == 'rm': b += ev.f_rep(num, [pb_encode(x, kind[1]) for x in v])
    return b


# proto/directory.proto
KEY = {1: 'u', 2: 'b', 3: 'b', 4: 'b', 5: 'u', 6: 'u', 7: 'u', 8: 's'}
AGENCY = {1: 's', 2: 's', 3: 'u', 4: ('rm', KEY)}
BROKER = {1: 's', 4: 'rs', 6: ('rm', KEY)}
RULE = {1: 's', 2: 's', 3: 'u'}
REANCHOR = {1: 'u', 2: 'b', 3: 'u', 4: 's'}
DIRECTORY = {1: 'u', 2: 'u', 3: 'u', 4: ('rm', AGENCY), 5: ('m', BROKER), 6: ('rm', RULE), 7: 'b',
             8: ('m', REANCHOR)}
SIGNED = {1: 'b', 2: 'b'}  # SignedDirectory
SIGNED_RECEIPT = {1: 'b', 2: 'b', 3: 'u', 4: 'u', 5: 'rb'}  # 3-5: batch form (PROTOCOL 4)
# proto/wire.proto
HELLO = {1: 'u', 2: 's', 3: 'u', 4: 'u', 5: 'u', 6: 'u'}
WELCOME = {1: 'u', 2: 's', 3: 'u', 4: 'u', 5: 'u'}
NOTICE = {1: 'u', 2: 'b'}
NOTICE_ACK = {1: 'ru'}
CHECKPOINT_PUSH = {1: 'b', 2: 'u', 3: 'rb'}
PROOF_REQUEST = {1: 'u', 2: 'u'}
WIRE_ERROR = {1: 'z', 2: 's'}
PING = {1: 'u', 2: 'u'}  # time_ms; session (SessionState), in the broker's PONG
SESSION_STATE = {0: 'unspecified', 1: 'active', 2: 'other', 3: 'none'}
# proto/receipt.proto
RECEIPT = {1: 'u', 2: 'u', 3: 'b', 4: 's', 5: 's', 6: 'b', 7: 'u', 8: 'z', 9: 's', 10: 'u',
           11: 's', 12: 'u'}
# proto/envelope.proto
ENVELOPE = {1: 'b', 2: 'rb', 3: 'b', 4: 'b', 5: 'u', 6: 'u', 7: 'rb'}  # 5-7: batch form (2.7.2)
HEADER = {1: 'u', 2: 'b', 3: 's', 4: 'u', 5: 'rs', 6: 'u', 7: 'u', 8: 'u', 9: 'u', 10: 'u',
          11: 'b', 12: 'b', 13: 'b'}
STANZA = {1: 's', 2: 'u', 3: 'b'}
# nodes/rules/referral.proto (the plaintext)
CONTACT = {1: 's', 2: 's', 3: 's', 4: 's'}
CHILD = {1: 's', 2: 'u', 3: 's', 4: 'u', 5: 's', 6: 'u', 7: 'rs'}
CONSENT = {1: 'u', 2: 's', 3: 's'}
ATTACH = {1: 'b', 2: 'u', 3: 's', 4: 's'}
REFERRAL = {1: 's', 2: 'b', 3: 'u', 4: 'u', 5: ('m', CHILD), 6: 's', 7: 'ru', 8: ('m', CONSENT),
            9: ('m', CONTACT), 10: ('rm', ATTACH)}
STATUS = {1: 'b', 2: 'b', 3: 'u', 4: 's', 5: 's', 6: ('m', CONTACT)}
PAYLOAD = {1: ('m', REFERRAL), 2: ('m', STATUS)}
# AUDIT-FORMAT.md section 4
CHECKPOINT = {1: 'b', 2: 'u', 3: 'b', 4: 'u'}
SIGNED_CHECKPOINT = {1: 'b', 2: 'b', 3: 'b'}


# ---------------------------------------------------------------- primitives
def ed_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        ser.Encoding.Raw, ser.PublicFormat.Raw)


def x_pub(sk):
    return ev.raw_pub(X25519PrivateKey.from_private_bytes(sk).public_key())


def ed_verify(pk, msg, sig):
    """Pure Ed25519 (OpenSSL: checks S < L; see the report for libsodium's extra rules)."""
    if len(pk) != 32 or len(sig) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
        return True
    except (InvalidSignature, ValueError):
        return False


def ed_sign(seed, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(msg)


def _salsa_core(inp, rounds=20, add=True):
    x = list(inp)
    r = lambda v, c: ((v << c) & 0xffffffff) | (v >> (32 - c))
    for _ in range(rounds // 2):
        for a, b, c, d in ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11),
                           (0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14)):
            x[b] ^= r((x[a] + x[d]) & 0xffffffff, 7)
            x[c] ^= r((x[b] + x[a]) & 0xffffffff, 9)
            x[d] ^= r((x[c] + x[b]) & 0xffffffff, 13)
            x[a] ^= r((x[d] + x[c]) & 0xffffffff, 18)
    return [(x[i] + inp[i]) & 0xffffffff for i in range(16)] if add else x


def _salsa_state(key, n16):
    k, n = struct.unpack('<8I', key), struct.unpack('<4I', n16)
    return [0x61707865, k[0], k[1], k[2], k[3], 0x3320646e, n[0], n[1], n[2], n[3],
            0x79622d32, k[4], k[5], k[6], k[7], 0x6b206574]


def hsalsa20(key, n16):
    x = _salsa_core(_salsa_state(key, n16), add=False)
    return struct.pack('<8I', *[x[i] for i in (0, 5, 10, 15, 6, 7, 8, 9)])


def salsa20_stream(key, n8, length):
    out, ctr = b'', 0
    while len(out) < length:
        st = _salsa_state(key, n8 + struct.pack('<Q', ctr))
        out += struct.pack('<16I', *_salsa_core(st)); ctr += 1
    return out[:length]


def secretbox_open(box, nonce, key):
    """crypto_secretbox_open_easy: XSalsa20-Poly1305, box = 16-byte MAC || ciphertext."""
    if len(box) < 16:
        raise Refused('box too short')
    sub = hsalsa20(key, nonce[:16])
    stream = salsa20_stream(sub, nonce[16:24], 32 + len(box) - 16)
    try:
        poly1305.Poly1305.verify_tag(stream[:32], box[16:], box[:16])
    except InvalidSignature:
        raise Refused('EPASSPHRASE: wrong passphrase or corrupt keystore')
    return bytes(a ^ b for a, b in zip(box[16:], stream[32:]))


# ---------------------------------------------------------------- keystore (KEYS-FORMAT 1)
def read_passphrase(path):
    p = open(path, 'rb').read()
    return p[:-1] if p.endswith(b'\n') else p  # refbus-keys(1): one trailing newline stripped


def open_bundle(path, passphrase):
    f = open(path, 'rb').read()
    if len(f) < 73 or len(f) > 1 << 20:
        raise Refused('EKEYFORMAT: size')
    hdr = f[:72]
    magic, ver, alg, res, ops, mem, salt, nonce, box_len = struct.unpack('>8sBBHQQ16s24sI', hdr)
    if (magic != b'REFBUSKS' or ver != 1 or alg != 2 or res != 0 or not 1 <= ops <= 16
            or not 8192 <= mem <= 1 << 30 or box_len != len(f) - 72 or box_len <= 16):
        raise Refused('EKEYFORMAT: header')
    stretched = hash_secret_raw(passphrase, salt, time_cost=ops, memory_cost=mem // 1024,
                                parallelism=1, hash_len=32, type=Type.ID, version=19)
    key = hashlib.blake2b(hdr, key=stretched, digest_size=32).digest()
    c = secretbox_open(f[72:], nonce, key)
    role, L = c[0], c[1]
    if role not in (1, 2, 3) or not 1 <= L <= 64 or len(c) < 2 + L + 68:
        raise Refused('EKEYFORMAT: contents')
    ident = c[2:2 + L].decode('ascii')
    root_pk = c[2 + L:34 + L]  # then the 32-byte storage key, not needed here
    n = struct.unpack('>I', c[66 + L:70 + L])[0]
    if not 1 <= n <= 1000 or len(c) != 2 + L + 68 + 228 * n:
        raise Refused('EKEYFORMAT: epoch count')
    epochs, p = [], 70 + L
    for _ in range(n):
        e = c[p:p + 228]; p += 228
        ep = dict(epoch=struct.unpack('>I', e[:4])[0], sign_pk=e[4:36], sign_seed=e[36:68],
                  enc_pk=e[100:132], enc_sk=e[132:164], curve_pk=e[164:196], curve_sk=e[196:228])
        if (ed_pub(ep['sign_seed']) != ep['sign_pk'] or e[68:100] != ep['sign_pk']
                or x_pub(ep['enc_sk']) != ep['enc_pk'] or x_pub(ep['curve_sk']) != ep['curve_pk']):
            raise Refused('EKEYFORMAT: a public key does not match its secret key')
        if epochs and ep['epoch'] <= epochs[-1]['epoch']:
            raise Refused('EKEYFORMAT: epochs not ascending')
        epochs.append(ep)
    return dict(role=role, id=ident, root_pk=root_pk, epochs=epochs)


# ---------------------------------------------------------------- directory (KEYS-FORMAT 2, 3)
def load_directory(blob, root_pk, min_serial=None):
    sd = pb_decode(blob, SIGNED)
    d, sig = sd.get(1, b''), sd.get(2, b'')
    if not d or len(sig) != 64 or blob != b'\x0a' + ev.varint(len(d)) + d + b'\x12\x40' + sig:
        raise Refused('EMALFORMED: signed directory frame')
    if not ed_verify(root_pk, b'refbus/v1/directory-signature' + struct.pack('>I', len(d)) + d, sig):
        raise Refused('EBADSIG: directory root signature')
    dm = pb_decode(d, DIRECTORY, strict=False)
    if dm.get(1, 0) != 1:
        raise Refused('EVERSION: directory version')
    if dm.get(7) and dm[7] != root_pk:
        raise Refused('EBADSIG: directory names another root key')
    if min_serial is not None and dm.get(2, 0) <= min_serial:
        raise Refused('EROLLBACK: serial %d not above %d' % (dm.get(2, 0), min_serial))
    return Directory(dm, blob)


class Directory:
    def __init__(self, dm, blob):
        self.blob, self.serial = blob, dm.get(2, 0)
        self.agencies = {a[1]: a for a in dm.get(4, [])}
        self.broker = dm.get(5)
        if not self.broker:
            raise Refused('directory has no broker')

    def keys(self, who):
        if self.broker.get(1) == who:
            return self.broker.get(6, [])
        a = self.agencies.get(who)
        return a.get(4, []) if a else []

    def key(self, who, epoch):
        return next((k for k in self.keys(who) if k.get(1) == epoch), None)

    def active(self, who):
        """The one ACTIVE key (status 0), which must be the newest epoch."""
        ks = self.keys(who)
        return ks[-1] if ks and ks[-1].get(5, 0) == 0 else None


# ---------------------------------------------------------------- envelope (PROTOCOL 2)
def seal(sender, epoch, sign_seed, rcpts, payload, kind=1, priority=0, ttl_ms=7 * 86400000,
         msg_id=None):
    """rcpts: [(agency id, epoch, X25519 public key)]. Returns (envelope bytes, msg_id).
    msg_id: a given id (tests that replay an id with other content), else a random one."""
    msg_id, K, nonce = msg_id or os.urandom(16), os.urandom(32), os.urandom(24)
    esk = X25519PrivateKey.generate(); epk = ev.raw_pub(esk.public_key())
    stanzas = []
    for aid, e, rpk in rcpts:
        shared = esk.exchange(X25519PublicKey.from_public_bytes(rpk))
        if shared == bytes(32):
            raise Refused('EDECRYPT: low-order recipient key')
        info = epk + rpk + msg_id + struct.pack('>I', e) + aid.encode()
        wrapped = ev.xchacha_enc(ev.kdf(shared, b'refbus/v1/wrap-key', info), bytes(24), K, b'')
        stanzas.append(pb_encode({1: aid, 2: e, 3: wrapped}, STANZA))
    bucket = ev.bucket_of(len(payload) + 4)
    now = int(time.time() * 1000)
    hdr = pb_encode({1: 1, 2: msg_id, 3: sender, 4: epoch, 5: [r[0] for r in rcpts], 6: now,
                     7: now + ttl_ms, 8: kind, 9: priority, 10: bucket, 11: nonce, 12: epk,
                     13: ev.kdf(K, b'refbus/v1/key-commitment')}, HEADER)
    padded = struct.pack('<I', len(payload)) + payload + bytes(bucket - 4 - len(payload))
    ct = ev.xchacha_enc(ev.kdf(K, b'refbus/v1/payload-key'), nonce, padded, hdr)
    sig = ed_sign(sign_seed, sig_input(hdr, stanzas, ct))
    return pb_encode({1: hdr, 2: stanzas, 3: ct, 4: sig}, ENVELOPE), msg_id


def sig_input(hdr, stanzas, ct):
    return (b'refbus/v1/envelope-signature' + struct.pack('>I', len(hdr)) + hdr +
            struct.pack('>I', len(stanzas)) +
            b''.join(struct.pack('>I', len(s)) + s for s in stanzas) + ev.b2b(ct))


class EnvError(Exception):
    def __init__(self, code):
        super().__init__(ENV_CODES[code]); self.code = code


def env_parse(env):
    """Parse steps P1-P11 (PROTOCOL 2.9), condensed; returns (header dict, envelope dict)."""
    if len(env) > 1433600: raise EnvError(-1107)
    try:
        e = pb_decode(env, ENVELOPE)
        h = pb_decode(e.get(1, b''), HEADER, strict=False)
    except (Refused, UnicodeDecodeError):
        raise EnvError(-1100)
    if h.get(1, 0) != 1: raise EnvError(-1101)
    try:
        pb_decode(e[1], HEADER)
    except (Refused, UnicodeDecodeError):
        raise EnvError(-1100)
    if (len(h.get(2, b'')) != 16 or len(h.get(11, b'')) != 24 or len(h.get(12, b'')) != 32 or
            len(h.get(13, b'')) != 32 or len(e.get(4, b'')) != 64 or not h.get(3) or
            not h.get(4) or h.get(7, 0) <= h.get(6, 0) or h.get(8) not in (1, 2, 3) or
            h.get(9, 0) not in (0, 1, 2)):
        raise EnvError(-1100)
    rc, st = h.get(5, []), e.get(2, [])
    if len(rc) > 16 or len(st) > 16: raise EnvError(-1108)
    if not rc or len(rc) != len(st): raise EnvError(-1100)
    b = h.get(10, 0)
    if b > 1310720: raise EnvError(-1107)
    if b < 256 or ev.bucket_of(b) != b or len(e.get(3, b'')) != b + 16: raise EnvError(-1100)
    stz = []
    for i, (a, s) in enumerate(zip(rc, st)):
        try:
            sd = pb_decode(s, STANZA)
        except (Refused, UnicodeDecodeError):
            raise EnvError(-1100)
        if a in rc[:i] or sd.get(1) != a or not sd.get(2) or len(sd.get(3, b'')) != 48:
            raise EnvError(-1100)
        stz.append(sd)
    # P12: no batch fields (the single form, 2.7.1), or a valid batch form (2.7.2)
    size, index, path = e.get(5, 0), e.get(6, 0), e.get(7, [])
    if size == 0:
        if index or path: raise EnvError(-1100)
    elif (size > 1024 or index >= size or len(path) != batch_path_len(index, size) or
          any(len(x) != 32 for x in path)):
        raise EnvError(-1100)
    return h, e, stz


def batch_path_len(index, size):
    n = 0
    while size > 1:
        if index ^ 1 < size: n += 1
        size, index = (size + 1) // 2, index >> 1
    return n


def env_sig_ok(pk, e):
    """V1 (PROTOCOL 2.9) in either form."""
    m = sig_input(e[1], e[2], e[3])
    if not e.get(5):
        return ed_verify(pk, m, e[4])
    root = eb.root_from_path(e.get(6, 0), e[5], eb.leaf_hash(m), e.get(7, []))
    return root is not None and ed_verify(pk, eb.batch_input(e[5], root), e[4])


def env_open(env, me, bundle, directory, now_ms):
    """Verify (V1, V2) and open (O1-O7) as agency `me`; returns (header, payload bytes)."""
    h, e, stz = env_parse(env)
    k = directory.key(h[3], h[4])
    if k is None or k.get(5, 0) == 2 or not env_sig_ok(k.get(2, b''), e):
        raise EnvError(-1102)  # no key, or a revoked one, counts as unverifiable here
    if now_ms >= h[7]: raise EnvError(-1106)
    mine = next((s for s in stz if s[1] == me), None)
    if mine is None: raise EnvError(-1103)
    ep = next((x for x in bundle['epochs'] if x['epoch'] == mine[2]), None)
    if ep is None: raise EnvError(-1104)
    shared = X25519PrivateKey.from_private_bytes(ep['enc_sk']).exchange(
        X25519PublicKey.from_public_bytes(h[12]))
    if shared == bytes(32): raise EnvError(-1105)
    info = h[12] + ep['enc_pk'] + h[2] + struct.pack('>I', mine[2]) + me.encode()
    try:
        K = ev.xchacha_dec(ev.kdf(shared, b'refbus/v1/wrap-key', info), bytes(24), mine[3], b'')
    except Exception:
        raise EnvError(-1105)
    if ev.kdf(K, b'refbus/v1/key-commitment') != h[13]: raise EnvError(-1109)
    try:
        padded = ev.xchacha_dec(ev.kdf(K, b'refbus/v1/payload-key'), h[11], e[3], e[1])
    except Exception:
        raise EnvError(-1105)
    L = struct.unpack('<I', padded[:4])[0]
    if (L > h[10] - 4 or L > 1048576 or ev.bucket_of(L + 4) != h[10] or any(padded[4 + L:])):
        raise EnvError(-1105)
    return h, padded[4:4 + L]


# ---------------------------------------------------------------- receipts (PROTOCOL 4)
def receipt_check(blob, directory):
    """SignedReceipt bytes -> body dict, after the format checks and the signer's signature
    (the broker's key for ACCEPTED/REJECTED/EXPIRED, the agency's for DELIVERED)."""
    sr = pb_decode(blob, SIGNED_RECEIPT)
    body, sig = sr.get(1, b''), sr.get(2, b'')
    size, index, path = sr.get(3, 0), sr.get(4, 0), sr.get(5, [])
    if len(sig) != 64 or (index or path if size == 0 else
                          (size > 1024 or index >= size or len(path) != batch_path_len(index, size)
                           or any(len(x) != 32 for x in path))):
        raise Refused('ERECEIPT: signature form')
    r = pb_decode(body, RECEIPT)
    if (r.get(1) != 1 or r.get(2) not in (1, 2, 3, 4) or len(r.get(3, b'\0' * 16)) != 16
            or len(r.get(6, b'\0' * 32)) != 32):
        raise Refused('ERECEIPT: receipt format')
    signer, bid = r.get(11, ''), directory.broker.get(1)
    if (r[2] in (1, 4) and signer != bid) or (r[2] == 3 and signer == bid):
        raise Refused('ERECEIPT: receipt type %d signed by %r' % (r[2], signer))
    k = directory.key(signer, r.get(12, 0))
    if k is None or k.get(5, 0) == 2:
        raise Refused('EBADSIG: no usable key for %s epoch %d' % (signer, r.get(12, 0)))
    m = b'refbus/v1/receipt-signature' + body
    if size:  # the batch form: the path to a root the signer signed (PROTOCOL 4, 2.7.2)
        root = eb.root_from_path(index, size, eb.leaf_hash(m), path)
        ok = root is not None and ed_verify(k[2], eb.batch_input(size, root), sig)
    else:
        ok = ed_verify(k[2], m, sig)
    if not ok:
        raise Refused('EBADSIG: receipt signature')
    return r


def receipt_sign(body, seed):
    b = pb_encode(body, RECEIPT)
    return pb_encode({1: b, 2: ed_sign(seed, b'refbus/v1/receipt-signature' + b)}, SIGNED_RECEIPT)


def receipt_json(r):
    names = {1: 'ACCEPTED', 2: 'REJECTED', 3: 'DELIVERED', 4: 'EXPIRED'}
    return dict(type=names[r[2]], msg_id=r.get(3, b'').hex(), sender=r.get(4, ''),
                recipient=r.get(5, ''), envelope_hash=r.get(6, b'').hex(), time_ms=r.get(7, 0),
                reason=r.get(8, 0), reason_text=r.get(9, ''), audit_index=r.get(10, 0),
                signer=r.get(11, ''), signer_epoch=r.get(12, 0))
