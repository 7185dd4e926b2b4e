#!/usr/bin/env python3
# A second, independent implementation of the refbus v1 sealed-file format (docs/PROTOCOL.md
# §2.11) written from the document alone: hashlib BLAKE2b, pyca/cryptography ChaCha20-Poly1305
# and HChaCha20 by hand (as tests/interop/envelope_v1.py). It seals every vector of
# tests/vectors/file-v1.json and must produce the exact bytes, checks the inclusion paths, opens
# every chunk, and refuses the forgeries the vectors list.
#   file_v1.py VECTORS.json            check (exit 0 when every value matches)
#   file_v1.py --write VECTORS.json    regenerate (only when the format changes)
import hashlib, json, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.exceptions import InvalidTag

CHUNK = 65536
DOM_CHUNK = b"refbus/v1/file-chunk"
DOM_ID = b"refbus/v1/file-id"
MAGIC = b"refbusF1"

def rotl(v, c): return ((v << c) & 0xffffffff) | (v >> (32 - c))
def qr(s, a, b, c, d):
    s[a]=(s[a]+s[b])&0xffffffff; s[d]=rotl(s[d]^s[a],16)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]=rotl(s[b]^s[c],12)
    s[a]=(s[a]+s[b])&0xffffffff; s[d]=rotl(s[d]^s[a],8)
    s[c]=(s[c]+s[d])&0xffffffff; s[b]=rotl(s[b]^s[c],7)
def hchacha20(key, n16):
    s = [0x61707865,0x3320646e,0x79622d32,0x6b206574] + list(struct.unpack('<8I', key)) + list(struct.unpack('<4I', n16))
    for _ in range(10):
        qr(s,0,4,8,12); qr(s,1,5,9,13); qr(s,2,6,10,14); qr(s,3,7,11,15)
        qr(s,0,5,10,15); qr(s,1,6,11,12); qr(s,2,7,8,13); qr(s,3,4,9,14)
    return struct.pack('<8I', *(s[0:4] + s[12:16]))
def xchacha_enc(key, nonce24, pt, ad):
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).encrypt(b'\0'*4 + nonce24[16:], pt, ad)
def xchacha_dec(key, nonce24, ct, ad):
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).decrypt(b'\0'*4 + nonce24[16:], ct, ad)

def b2b(x): return hashlib.blake2b(x, digest_size=32).digest()
def u64be(x): return struct.pack('>Q', x)
def nchunks(size): return max(1, -(-size // CHUNK))
def nonce(i, last): return u64be(i) + bytes([last]) + b'\0' * 15
def ad(size): return DOM_CHUNK + u64be(size)
def leaf(c): return b2b(b'\0' + c)
def node(l, r): return b2b(b'\1' + l + r)
def mth(leaves):                      # RFC 6962 Merkle tree hash, BLAKE2b-256
    if len(leaves) == 1: return leaves[0]
    k = 1
    while k * 2 < len(leaves): k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))
def path(m, leaves):                  # RFC 6962 PATH(m, D[n]), bottom up
    if len(leaves) == 1: return []
    k = 1
    while k * 2 < len(leaves): k *= 2
    if m < k: return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]
def file_id(size, root): return b2b(DOM_ID + u64be(size) + root)

def chunks_of(key, pt):
    size, n = len(pt), nchunks(len(pt))
    return [xchacha_enc(key, nonce(i, int(i == n - 1)), pt[i*CHUNK:(i+1)*CHUNK], ad(size))
            for i in range(n)]

def seal(key, pt):
    cs = chunks_of(key, pt)
    leaves = [leaf(c) for c in cs]
    fid = file_id(len(pt), mth(leaves))
    return fid, leaves, cs, MAGIC + u64be(len(pt)) + fid + b''.join(leaves) + b''.join(cs)

def fold(n, index, lf, p):            # RFC 9162 2.1.3.2, returns the root or None
    if index >= n: return None
    fn, sn, r = index, n - 1, lf
    for h in p:
        if sn == 0: return None
        if fn & 1 or fn == sn:
            r = node(h, r)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node(r, h)
        fn >>= 1; sn >>= 1
    return r if sn == 0 else None

def open_chunk(key, size, i, c):
    n = nchunks(size)
    return xchacha_dec(key, nonce(i, int(i == n - 1)), c, ad(size))

def plaintext(v):
    if 'plaintext_hex' in v: return bytes.fromhex(v['plaintext_hex'])
    assert v['plaintext_pattern'] == 'j mod 251'
    return bytes(j % 251 for j in range(v['size']))

def compute(v):
    key, pt = bytes.fromhex(v['key']), plaintext(v)
    fid, leaves, cs, sealed = seal(key, pt)
    n = len(cs)
    e = {'chunks': n, 'nonce_last': nonce(n - 1, 1).hex(), 'leaves': [l.hex() for l in leaves],
         'root': mth(leaves).hex(), 'id': fid.hex(), 'sealed_size': len(sealed),
         'sealed_blake2b': b2b(sealed).hex(),
         'paths': {str(i): [h.hex() for h in path(i, leaves)] for i in range(n)}}
    if len(sealed) <= 1024: e['sealed_hex'] = sealed.hex()
    return e

def check(v):
    e, got = v['expected'], compute(v)
    bad = [k for k in e if e[k] != got.get(k)]
    key, pt = bytes.fromhex(v['key']), plaintext(v)
    size, fid = len(pt), bytes.fromhex(e['id'])
    _, leaves, cs, _ = seal(key, pt)
    n = len(cs)
    for i, c in enumerate(cs):   # every chunk verifies by its path and opens alone
        if fold(n, i, leaf(c), path(i, leaves)) is None or file_id(size, fold(n, i, leaf(c), path(i, leaves))) != fid:
            bad.append('path %d' % i)
        if open_chunk(key, size, i, c) != pt[i*CHUNK:(i+1)*CHUNK]: bad.append('open %d' % i)
    # forgeries: a flipped bit, a chunk at another index, the other last flag, another size
    c0 = bytearray(cs[0]); c0[0] ^= 1
    forged = [('bit', lambda: open_chunk(key, size, 0, bytes(c0)))]
    if n > 1:
        forged.append(('moved', lambda: open_chunk(key, size, 1, cs[0])))
        forged.append(('last', lambda: xchacha_dec(key, nonce(0, 1), cs[0], ad(size))))
    forged.append(('size', lambda: open_chunk(key, size + 1, n - 1, cs[-1])))
    for name, f in forged:
        try:
            f(); bad.append('forgery accepted: ' + name)
        except InvalidTag:
            pass
    return bad

def main():
    if len(sys.argv) == 3 and sys.argv[1] == '--write':
        doc = json.load(open(sys.argv[2]))
        for v in doc['vectors']: v['expected'] = compute(v)
        with open(sys.argv[2], 'w') as f: json.dump(doc, f, indent=1); f.write('\n')
        return 0
    doc = json.load(open(sys.argv[1]))
    fails = 0
    for v in doc['vectors']:
        bad = check(v)
        print('%s: %s' % (v['name'], 'ok' if not bad else 'MISMATCH ' + ', '.join(bad)))
        fails += bool(bad)
    return 1 if fails else 0

if __name__ == '__main__': sys.exit(main())
