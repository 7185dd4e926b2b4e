#!/usr/bin/env python3
# A second, independent implementation of the refbus v1 envelope written from docs/PROTOCOL.md
# alone (Python: hashlib BLAKE2b, pyca/cryptography Ed25519/X25519/ChaCha20-Poly1305, HChaCha20 by
# hand). It seals every vector of tests/vectors/envelope-v1.json and must produce the exact bytes.
import json, hashlib, struct, sys
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization as ser

def raw_pub(k): return k.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
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
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b'\0'*4 + nonce24[16:], pt, ad or None)
def xchacha_dec(key, nonce24, ct, ad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).decrypt(b'\0'*4 + nonce24[16:], ct, ad or None)

def varint(v):
    out = b''
    while True:
        b = v & 0x7f; v >>= 7
        if v: out += bytes([b | 0x80])
        else: return out + bytes([b])
def f_varint(num, v): return b'' if v == 0 else varint(num << 3) + varint(v)
def f_bytes(num, b): return b'' if len(b) == 0 else varint(num << 3 | 2) + varint(len(b)) + b
def f_rep(num, items): return b''.join(varint(num << 3 | 2) + varint(len(b)) + b for b in items)

def kdf(key, domain, extra=b''): return hashlib.blake2b(domain + extra, key=key, digest_size=32).digest()
def b2b(x): return hashlib.blake2b(x, digest_size=32).digest()

def bucket_of(n):
    if n <= 256: return 256
    e = (n - 1).bit_length() - 1
    step = 1 << (e - 2)
    return -(-n // step) * step

def seal(v, verbose=False):
    H = bytes.fromhex
    out = {}
    seed = H(v['sender']['sign_seed'])
    sk = Ed25519PrivateKey.from_private_bytes(seed); spk = raw_pub(sk.public_key())
    out['sender_sign_pk'] = spk
    msg_id, K, nonce, esk_b = H(v['msg_id']), H(v['content_key']), H(v['nonce']), H(v['ephemeral_sk'])
    esk = X25519PrivateKey.from_private_bytes(esk_b); epk = raw_pub(esk.public_key())
    out['ephemeral_pk'] = epk
    pkey = kdf(K, b'refbus/v1/payload-key'); commit = kdf(K, b'refbus/v1/key-commitment')
    out['payload_key'] = pkey; out['key_commitment'] = commit
    wraps, stanzas, extras = [], [], []
    for r in v['recipients']:
        rsk = X25519PrivateKey.from_private_bytes(H(r['enc_sk'])); rpk = raw_pub(rsk.public_key())
        shared = esk.exchange(X25519PublicKey.from_public_bytes(rpk))
        aid = r['id'].encode('ascii')
        info = epk + rpk + msg_id + struct.pack('>I', r['epoch']) + aid
        wk = kdf(shared, b'refbus/v1/wrap-key', info)
        wraps.append(wk)
        wrapped = xchacha_enc(wk, b'\0'*24, K, b'')
        assert len(wrapped) == 48
        stanzas.append(f_bytes(1, aid) + f_varint(2, r['epoch']) + f_bytes(3, wrapped))
        extras.append(dict(enc_pk=rpk, shared=shared, wrap_info=info, wrapped_key=wrapped))
    out['wrap_keys'] = wraps
    payload = H(v['payload_hex'])
    bucket = bucket_of(len(payload) + 4)
    hdr = (f_varint(1, 1) + f_bytes(2, msg_id) + f_bytes(3, v['sender']['id'].encode()) +
           f_varint(4, v['sender']['epoch']) + f_rep(5, [r['id'].encode() for r in v['recipients']]) +
           f_varint(6, v['created_ms']) + f_varint(7, v['expires_ms']) + f_varint(8, v['kind']) +
           f_varint(9, v['priority']) + f_varint(10, bucket) + f_bytes(11, nonce) +
           f_bytes(12, epk) + f_bytes(13, commit))
    out['header'] = hdr; out['stanzas'] = stanzas
    padded = struct.pack('<I', len(payload)) + payload + b'\0' * (bucket - 4 - len(payload))
    ct = xchacha_enc(pkey, nonce, padded, hdr)
    out['ciphertext_blake2b'] = b2b(ct)
    m = (b'refbus/v1/envelope-signature' + struct.pack('>I', len(hdr)) + hdr +
         struct.pack('>I', len(stanzas)) + b''.join(struct.pack('>I', len(s)) + s for s in stanzas) + b2b(ct))
    sig = sk.sign(m)
    out['signature'] = sig
    env = f_bytes(1, hdr) + f_rep(2, stanzas) + f_bytes(3, ct) + f_bytes(4, sig)
    out['envelope'] = env
    out['envelope_hash'] = b2b(env)
    Ed25519PublicKey.from_public_bytes(spk).verify(sig, m)
    # open as every recipient
    for r, x in zip(v['recipients'], extras):
        wk = kdf(x['shared'], b'refbus/v1/wrap-key', x['wrap_info'])
        K2 = xchacha_dec(wk, b'\0'*24, x['wrapped_key'], b'')
        assert kdf(K2, b'refbus/v1/key-commitment') == commit
        pt = xchacha_dec(kdf(K2, b'refbus/v1/payload-key'), nonce, ct, hdr)
        n = struct.unpack('<I', pt[:4])[0]
        assert pt[4:4+n] == payload and not any(pt[4+n:]) and bucket_of(n + 4) == len(pt)
    return out, dict(extras=extras, sig_message=m, padded=padded, ciphertext=ct, bucket=bucket)

def main():
  d = json.load(open(sys.argv[1]))
  ok = True
  for i, v in enumerate(d['vectors']):
      out, ex = seal(v)
      for k, want in v['expected'].items():
          got = out[k]
          got = [g.hex() for g in got] if isinstance(got, list) else got.hex()
          if got != want:
              ok = False; print('MISMATCH vector', i + 1, k)
      print('vector', i + 1, 'checked', len(v['expected']), 'fields', 'bucket', ex['bucket'])
  if len(sys.argv) > 2:
      out, ex = seal(d['vectors'][0])
      x = ex['extras'][0]
      print('recipient enc_pk', x['enc_pk'].hex())
      print('shared', x['shared'].hex())
      print('wrap_info', x['wrap_info'].hex())
      print('wrapped_key', x['wrapped_key'].hex())
      print('padded', len(ex['padded']), ex['padded'][:24].hex())
      print('sig_message', len(ex['sig_message']), ex['sig_message'].hex())
  print('ALL OK' if ok else 'FAIL')
  sys.exit(0 if ok else 1)

if __name__=='__main__': main()
