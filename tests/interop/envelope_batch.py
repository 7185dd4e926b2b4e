#!/usr/bin/env python3
# The batch signature of docs/PROTOCOL.md 2.7.2, implemented again from the document alone
# (hashlib SHA-256, pyca/cryptography Ed25519), on top of the second envelope implementation in
# envelope_v1.py. It seals the members of tests/vectors/envelope-batch.json as one batch and must
# produce the exact expected bytes; then it verifies every envelope the way a broker does (path to
# the root, the root's signature once per batch) and checks the refusals: a tampered envelope is
# refused alone, a path of the wrong length, an index out of range, a root signed by another key
# and a leaf moved to another batch are refused.
# usage: envelope_batch.py envelope-v1.json envelope-batch.json
import copy, hashlib, json, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.exceptions import InvalidSignature
from envelope_v1 import seal, f_bytes, f_rep, f_varint, raw_pub, b2b

def sha(x): return hashlib.sha256(x).digest()
def leaf_hash(m): return sha(b'\x00' + m)
def node_hash(l, r): return sha(b'\x01' + l + r)

def mth(leaves):                      # RFC 6962 2.1, the recursive definition
    n = len(leaves)
    if n == 1: return leaves[0]
    k = 1
    while k * 2 < n: k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))

def path(m, leaves):                  # RFC 6962 2.1.1 PATH(m, D[n]), leaf side first
    n = len(leaves)
    if n == 1: return []
    k = 1
    while k * 2 < n: k *= 2
    if m < k: return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]

def root_from_path(index, size, leaf, proof):   # RFC 9162 2.1.3.2; None when it fails
    if index >= size: return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0: return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0: fn >>= 1; sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1; sn >>= 1
    return r if sn == 0 else None

def batch_input(size, root): return b'refbus/v1/batch-signature' + struct.pack('>I', size) + root

def envelope(hdr, stanzas, ct, sig, size, index, proof):
    return (f_bytes(1, hdr) + f_rep(2, stanzas) + f_bytes(3, ct) + f_bytes(4, sig) +
            f_varint(5, size) + f_varint(6, index) + f_rep(7, proof))

class Verifier:                       # what a broker does, with a cache of verified roots
    def __init__(self): self.cache, self.ed_verifies = set(), 0
    def verify(self, pk, m, size, index, proof, sig):
        if not (1 <= size <= 1024) or index >= size: return 'EMALFORMED'
        if len(proof) != len(path(index, [b''] * size)) or any(len(p) != 32 for p in proof):
            return 'EMALFORMED'
        root = root_from_path(index, size, leaf_hash(m), proof)
        if root is None: return 'EBADSIG'
        key = (pk, size, root, sig)
        if key in self.cache: return 'OK'
        self.ed_verifies += 1
        try: Ed25519PublicKey.from_public_bytes(pk).verify(sig, batch_input(size, root))
        except InvalidSignature: return 'EBADSIG'
        self.cache.add(key)
        return 'OK'

def main():
    vs = json.load(open(sys.argv[1]))['vectors']
    bv = json.load(open(sys.argv[2]))
    exp = bv['expected']
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(bv['sender']['sign_seed']))
    pk = raw_pub(sk.public_key())
    parts = []
    for k in bv['members']:
        v = copy.deepcopy(vs[k]); v['sender'] = bv['sender']
        out, ex = seal(v)
        parts.append((out['header'], out['stanzas'], ex['ciphertext'], ex['sig_message']))
    leaves = [leaf_hash(p[3]) for p in parts]
    root = mth(leaves)
    sig = sk.sign(batch_input(len(leaves), root))
    proofs = [path(i, leaves) for i in range(len(leaves))]
    envs = [envelope(h, s, c, sig, len(leaves), i, proofs[i]) for i, (h, s, c, m) in enumerate(parts)]
    got = {'leaves': [x.hex() for x in leaves], 'root': root.hex(), 'signature': sig.hex(),
           'paths': [[x.hex() for x in p] for p in proofs], 'envelopes': [e.hex() for e in envs],
           'envelope_hashes': [b2b(e).hex() for e in envs]}
    ok = True
    for key, want in exp.items():
        if got.get(key) != want:
            ok = False; print('MISMATCH', key)
    print('batch vector: checked', len(exp), 'fields, size', len(leaves))

    # verification: one Ed25519 verify for the whole batch
    ver = Verifier()
    res = [ver.verify(pk, m, len(leaves), i, proofs[i], sig) for i, (h, s, c, m) in enumerate(parts)]
    if res != ['OK'] * len(parts) or ver.ed_verifies != 1:
        ok = False; print('FAIL batch verify', res, ver.ed_verifies)
    # a tampered envelope (one ciphertext byte) is refused alone, even with its root cached
    h, s, c, _ = parts[1]
    c2 = bytes([c[0] ^ 1]) + c[1:]
    m2 = (b'refbus/v1/envelope-signature' + struct.pack('>I', len(h)) + h + struct.pack('>I', len(s)) +
          b''.join(struct.pack('>I', len(x)) + x for x in s) + b2b(c2))
    checks = [
        ('tampered', ver.verify(pk, m2, 3, 1, proofs[1], sig), 'EBADSIG'),
        ('others still', ver.verify(pk, parts[0][3], 3, 0, proofs[0], sig), 'OK'),
        ('path too short', ver.verify(pk, parts[0][3], 3, 0, proofs[0][:1], sig), 'EMALFORMED'),
        ('path too long', ver.verify(pk, parts[2][3], 3, 2, proofs[2] + proofs[0][:1], sig), 'EMALFORMED'),
        ('index out of range', ver.verify(pk, parts[2][3], 3, 3, proofs[2], sig), 'EMALFORMED'),
        ('wrong index', ver.verify(pk, parts[0][3], 3, 1, proofs[0], sig), 'EBADSIG'),
        ('other key', Verifier().verify(raw_pub(Ed25519PrivateKey.from_private_bytes(b'\x02' * 32).public_key()),
                                        parts[0][3], 3, 0, proofs[0], sig), 'EBADSIG'),
    ]
    # a leaf moved into another batch (of two: its first member and this one)
    other = [leaves[0], leaf_hash(parts[2][3])]
    sig_b = sk.sign(batch_input(2, mth(other)))
    checks.append(('moved leaf', Verifier().verify(pk, parts[1][3], 2, 1, path(1, other), sig_b), 'EBADSIG'))
    checks.append(('its own batch', Verifier().verify(pk, parts[2][3], 2, 1, path(1, other), sig_b), 'OK'))
    for name, r, want in checks:
        if r != want:
            ok = False; print('FAIL', name, r, 'want', want)
    # the RFC 6962 recursion and the tree built level by level (odd node carried up) agree
    for n in range(1, 40):
        ls = [sha(bytes([i])) for i in range(n)]
        lvl = ls
        while len(lvl) > 1:
            lvl = [node_hash(lvl[j], lvl[j + 1]) if j + 1 < len(lvl) else lvl[j] for j in range(0, len(lvl), 2)]
        if lvl[0] != mth(ls) or any(root_from_path(i, n, ls[i], path(i, ls)) != lvl[0] for i in range(n)):
            ok = False; print('FAIL tree shape', n)
    print('ALL OK' if ok else 'FAIL')
    sys.exit(0 if ok else 1)

if __name__ == '__main__': main()
