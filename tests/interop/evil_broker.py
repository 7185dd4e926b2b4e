#!/usr/bin/python3
# The malicious broker (issue 10): speaks the broker side of docs/PROTOCOL.md section 3 with the
# broker's own keys (CurveZMQ server key and signing key from its bundle) to a real refbus-node,
# and hands it what a compromised broker could: garbage and wrong framing, forged and replayed
# envelopes, an old epoch of a revoked agency, forged receipts and directories, checkpoints
# without proofs, proofs from the wrong size, inconsistent histories, unsigned ERRORs, giant
# frames. After each case it checks that the node refused what it had to, with a reason, stored
# nothing forged, is still running and still answers on its control socket.
#   evil_broker.py --bin DIR --node-conf F --node-pid PID --keys DIR --pass F --directory F
#                  --root-pk @F --endpoint tcp://127.0.0.1:PORT [--only NAME,...]
# Exit 0: every case passed (or failed as EXPECTED_FAIL says); 1 otherwise.
import argparse, hashlib, json, os, struct, subprocess, sys, time, traceback
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zmq
from wire_proto import (CHECKPOINT, CHECKPOINT_PUSH, HELLO, PAYLOAD, PROOF_REQUEST, RECEIPT,
    SIGNED, SIGNED_CHECKPOINT, SIGNED_RECEIPT, WELCOME, WIRE_ERROR, ed_pub, ed_sign, load_directory, open_bundle,
    pb_decode, pb_encode, read_passphrase, receipt_sign, seal)

# Cases that are known to fail until their fix lands (none should stay here long). Each is
# run and reported; once it passes, the harness fails until its name is removed from here.
EXPECTED_FAIL = {
}

SIG = b'RBUS\x01'
CMD = dict(HELLO=1, WELCOME=2, SUBMIT=3, ACCEPTED=4, REJECTED=5, DELIVER=6, DELIVERED=7,
           RECEIPT=8, RECEIPT_ACK=9, PING=10, PONG=11, DIRECTORY=12, CHECKPOINT=13, ERROR=14,
           PROOF_REQUEST=19)
NAME = {v: k for k, v in CMD.items()}
EBADSIG, EREVOKED, EDUPLICATE, EMALFORMED = -1102, -1202, -1403, -1100


class CaseFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CaseFailed(what)

# ---------------------------------------------------------------- RFC 6962 (AUDIT-FORMAT.md)
def leaf_hash(d): return hashlib.sha256(b'\0' + d).digest()
def node_hash(l, r): return hashlib.sha256(b'\1' + l + r).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b'').digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = split(len(leaves))
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def subproof(m, leaves, b):
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m, leaves):
    return subproof(m, leaves, True)


class Log:
    """A fake audit trail: records are random bytes; checkpoints signed with a given seed."""
    def __init__(self, seed, log_id=None):
        self.seed, self.log_id, self.leaves = seed, log_id or os.urandom(32), []

    def grow(self, n):
        self.leaves += [os.urandom(40) for _ in range(n)]

    def fork(self, at):
        f = Log(self.seed, self.log_id)
        f.leaves = self.leaves[:at] + [os.urandom(40) for _ in self.leaves[at:]]
        return f

    def signed_cp(self, size, seed=None):
        c = pb_encode({1: self.log_id, 2: size, 3: mth(self.leaves[:size]),
                       4: int(time.time() * 1000)}, CHECKPOINT)
        seed = seed or self.seed
        sig = ed_sign(seed, b'refbus/v1/audit-checkpoint' + c)
        return pb_encode({1: c, 2: sig, 3: ed_pub(seed)}, SIGNED_CHECKPOINT)

    def push(self, size, frm=None, proof=None, seed=None):
        m = {1: self.signed_cp(size, seed)}
        if frm is not None:
            m[2] = frm
            m[3] = consistency(frm, self.leaves[:size]) if proof is None else proof
        return pb_encode(m, CHECKPOINT_PUSH)

# ---------------------------------------------------------------- the broker end of the wire
class Broker:
    def __init__(self, a):
        pw = read_passphrase(a.passphrase_file)
        self.bundle = open_bundle(os.path.join(a.keys, 'broker.cm.bundle'), pw)
        root_pk = bytes.fromhex(open(a.root_pk[1:]).read().strip())
        self.dir = load_directory(open(a.directory, 'rb').read(), root_pk)
        self.bk = self.bundle['epochs'][-1]
        self.agencies = {}
        for f in os.listdir(a.keys):
            if f.endswith('.bundle') and f != 'broker.cm.bundle':
                b = open_bundle(os.path.join(a.keys, f), pw)
                self.agencies.setdefault(b['id'], {})[f] = b
        self.ctx = zmq.Context()
        s = self.ctx.socket(zmq.ROUTER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.CURVE_SERVER, 1)
        s.setsockopt(zmq.CURVE_SECRETKEY, self.bk['curve_sk'])
        s.setsockopt(zmq.ROUTER_MANDATORY, 1)
        s.setsockopt(zmq.SNDHWM, 100000)
        s.bind(a.endpoint)
        self.sock, self.rid, self.hellos = s, None, 0
        self.got = []  # (cmd name, body) other than HELLO / PING / PONG, oldest first

    def send_raw(self, frames):
        self.sock.send_multipart([self.rid] + frames, copy=True)

    def send(self, cmd, body=b''):
        frames = [SIG, bytes([CMD[cmd] if isinstance(cmd, str) else cmd]), body]
        try:
            self.send_raw(frames)
        except zmq.ZMQError as e:  # the node reconnected (new routing id): wait for its HELLO
            if e.errno != zmq.EHOSTUNREACH:
                raise
            self.rehello(10)
            self.send_raw(frames)

    def rehello(self, seconds):
        """Wait up to `seconds` for a new HELLO (the node reconnecting); 1 when one came."""
        n = self.hellos
        return self.serve(seconds, lambda: self.hellos > n)

    def serve(self, seconds, until=None):
        """Answer HELLO (WELCOME) and PING (PONG) and keep the rest in self.got, for up to
        `seconds` or until until() is true. Returns until()'s last value (or None)."""
        end = time.time() + seconds
        while True:
            if until is not None:
                r = until()
                if r:
                    return r
            left = end - time.time()
            if left <= 0:
                return until() if until else None
            if not self.sock.poll(int(min(left, 0.1) * 1000)):
                continue
            fr = self.sock.recv_multipart()
            if len(fr) != 4 or fr[1] != SIG or len(fr[2]) != 1:
                continue
            rid, cmd, body = fr[0], fr[2][0], fr[3]
            if cmd == CMD['HELLO']:
                h = pb_decode(body, HELLO)
                self.rid, self.hellos, self.hello = rid, self.hellos + 1, h
                self.send('WELCOME', pb_encode({1: 1, 2: 'broker.cm', 3: self.dir.serial,
                                                4: 1433600, 5: 0}, WELCOME))
            elif cmd == CMD['PING']:
                self.rid = rid
                self.send('PONG', body)
            elif cmd != CMD['PONG']:
                self.got.append((NAME.get(cmd, str(cmd)), body))

    def session(self, seconds=20):
        check(self.serve(seconds, lambda: self.rid is not None), 'the node never said HELLO')

    def take(self, cmd, seconds=10, pred=lambda b: True):
        """Wait for a message of `cmd` (matching pred); remove and return its body."""
        def find():
            for i, (c, b) in enumerate(self.got):
                if c == cmd and pred(b):
                    return self.got.pop(i)[1]
            return None
        return self.serve(seconds, find)

    def receipt_for(self, msg_id, seconds=10):
        """The node's answer to a DELIVER of msg_id: (type, reason, reason_text)."""
        def is_it(b):
            r = pb_decode(pb_decode(b, SIGNED_RECEIPT)[1], RECEIPT)
            return r.get(3) == msg_id
        b = self.take('DELIVERED', seconds, is_it)
        check(b is not None, 'no receipt from the node for %s' % msg_id.hex())
        r = pb_decode(pb_decode(b, SIGNED_RECEIPT)[1], RECEIPT)
        return r.get(2), r.get(8, 0), r.get(9, '')

    def envelope(self, sender, text, epoch=None, seed=None, msg_id=None, bundle_file=None):
        bs = self.agencies[sender]
        b = bs[bundle_file] if bundle_file else max(bs.values(), key=lambda x: len(x['epochs']))
        ep = b['epochs'][-1] if epoch is None else next(e for e in b['epochs'] if e['epoch'] == epoch)
        k = self.dir.active('cac.chiangmai')
        ref = {1: text, 2: os.urandom(16), 3: 6, 4: 1, 5: {1: 'evil', 3: '13-15', 4: 4},
               6: 'summary of ' + text, 8: {1: 3, 2: 'guardian'}, 9: {1: 'evil', 2: 'broker'}}
        return seal(sender, ep['epoch'], seed or ep['sign_seed'], [('cac.chiangmai', k[1], k[3])],
                    pb_encode({1: ref}, PAYLOAD), msg_id=msg_id)

# ---------------------------------------------------------------- the node under test
class Node:
    def __init__(self, a):
        self.a, self.pid = a, a.node_pid

    def cli(self, *args, stdin=None):
        p = subprocess.run([os.path.join(self.a.bin, 'refbus-node'), '-c', self.a.node_conf,
                            '--compact'] + list(args), input=stdin, capture_output=True,
                           timeout=20)
        return p.returncode, p.stdout.decode(errors='replace')

    def status(self):
        rc, out = self.cli('status')
        check(rc == 0, 'the control socket does not answer status (exit %d)' % rc)
        return json.loads(out)

    def alive(self):
        try:
            os.kill(self.pid, 0)
        except OSError:
            raise CaseFailed('refbus-node is no longer running')
        self.status()

    def inbox_refs(self):
        rc, out = self.cli('inbox', 'list', '--limit', '1000')
        check(rc == 0, 'inbox list failed')
        return [i.get('case_ref') for i in json.loads(out)['items']]

    def max_memory_mb(self):
        for line in open(self.a.node_conf):
            k, _, v = line.partition('=')
            if k.strip() == 'max_memory_mb':
                return int(v)
        return 256  # the default (deploy/examples/node.conf)

    def anon_kib(self):
        for line in open('/proc/%d/status' % self.pid):
            if line.startswith('RssAnon:'):
                return int(line.split()[1])
        return 0

    def peak_rss_kib(self):
        for line in open('/proc/%d/status' % self.pid):
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
        return 0

    def log(self):
        return open(self.a.node_log, errors='replace').read()


def wait(seconds, fn):
    end = time.time() + seconds
    while time.time() < end:
        r = fn()
        if r:
            return r
        time.sleep(0.1)
    return fn()

# ---------------------------------------------------------------- the cases
def deliver_and_expect_refusal(br, node, env, msg_id, code, ref):
    br.send('DELIVER', env)
    t, reason, text = br.receipt_for(msg_id)
    check(t == 2, 'the node did not refuse it (receipt type %s)' % t)
    check(reason == code, 'refused with %d (%s), expected %d' % (reason, text, code))
    check(text, 'the refusal gives no reason text')
    check(ref not in node.inbox_refs(), 'the forged referral is in the inbox')
    return text


def case_garbage(br, node):
    before = node.status()['inbox']['messages']
    for frames in ([SIG, b'\x06'], [SIG, b'\x06', b'x', b'y'], [b'RBUS\x02', b'\x06', b'x'],
                   [SIG, b'\x7f', b''], [SIG, b'\x10', b''], [SIG, b'', b''], [b'', b'', b'']):
        br.send_raw(frames)
    for cmd in ('WELCOME', 'ACCEPTED', 'REJECTED', 'DELIVER', 'RECEIPT', 'DIRECTORY',
                'CHECKPOINT', 'PING', 'PONG', 'HELLO', 'SUBMIT', 'DELIVERED', 'PROOF_REQUEST'):
        br.send(cmd, b'\xff\xfe\x00garbage\x0a\x80')
        br.send(cmd, os.urandom(300))
    br.serve(2)
    node.alive()
    check(node.status()['inbox']['messages'] == before, 'garbage changed the inbox')
    log = node.log()
    for why in ('from broker: wrong frame count', 'from broker: ', 'malformed'):
        check(why in log, 'the node did not say why it dropped the garbage ("%s")' % why)


def case_forged_envelope(br, node):
    env, mid = br.envelope('ngo.hots', 'EVIL-FORGED-1')
    bad = bytearray(env)
    bad[-100] ^= 1  # inside the ciphertext: the signature no longer covers these bytes
    deliver_and_expect_refusal(br, node, bytes(bad), mid, EBADSIG, 'EVIL-FORGED-1')
    env, mid = br.envelope('ngo.hots', 'EVIL-FORGED-2', seed=os.urandom(32))  # someone else's key
    deliver_and_expect_refusal(br, node, env, mid, EBADSIG, 'EVIL-FORGED-2')
    node.alive()


def case_replay(br, node):
    env, mid = br.envelope('ngo.hots', 'EVIL-REPLAY')
    dup0 = node.status()['counters']['duplicates_in']
    for i in range(3):
        br.send('DELIVER', env)
        t, reason, text = br.receipt_for(mid)
        check(t == 3, 'delivery %d of a genuine envelope not receipted DELIVERED (%s)' % (i, text))
    check(node.inbox_refs().count('EVIL-REPLAY') == 1, 'a replayed envelope is stored twice')
    check(node.status()['counters']['duplicates_in'] >= dup0 + 2, 'replays not counted')
    env2, _ = br.envelope('ngo.hots', 'EVIL-REPLAY-OTHER', msg_id=mid)  # same id, other content
    deliver_and_expect_refusal(br, node, env2, mid, EDUPLICATE, 'EVIL-REPLAY-OTHER')
    check(node.inbox_refs().count('EVIL-REPLAY') == 1, 'the first one is gone')


def case_revoked_old_epoch(br, node):
    # police.ticac: epoch 1 retired by a rotation, epoch 2 revoked (the stolen device held both)
    env, mid = br.envelope('police.ticac', 'EVIL-OLD-EPOCH', bundle_file='police.ticac.bundle',
                           epoch=1)
    deliver_and_expect_refusal(br, node, env, mid, EREVOKED, 'EVIL-OLD-EPOCH')


def case_forged_receipts(br, node):
    rc, out = node.cli('send', '-', '--to', 'ngo.hots', stdin=json.dumps(dict(
        json.load(open(os.path.join(os.path.dirname(__file__), '../../deploy/examples/referral.json'))),
        case_ref='EVIL-OUT')).encode())
    check(rc == 0, 'the node would not queue a referral: %s' % out)
    sub = br.take('SUBMIT', 15)
    check(sub is not None, 'the node did not submit its referral')
    hdr = pb_decode(pb_decode(sub, {1: 'b', 2: 'rb', 3: 'b', 4: 'b'})[1], {2: 'b'}, strict=False)
    mid = hdr[2]
    ehash = hashlib.blake2b(sub, digest_size=32).digest()  # wrong on purpose is fine: forged
    body = {1: 1, 2: 1, 3: mid, 4: 'cac.chiangmai', 7: int(time.time() * 1000), 10: 7,
            11: 'broker.cm', 12: br.bk['epoch']}
    br.send('ACCEPTED', receipt_sign(body, os.urandom(32)))  # ACCEPTED signed by a stranger
    dl = {1: 1, 2: 3, 3: mid, 4: 'cac.chiangmai', 5: 'ngo.hots', 6: ehash,
          7: int(time.time() * 1000), 11: 'ngo.hots', 12: 1}
    br.send('RECEIPT', pb_encode({1: 99, 2: receipt_sign(dl, os.urandom(32))},
                                 {1: 'u', 2: 'b'}))
    br.serve(2)
    rc, out = node.cli('outbox', mid.hex())
    check(rc == 0, 'outbox %s: %s' % (mid.hex(), out))
    o = json.loads(out)
    check(o.get('state') == 'pending',
          'a forged ACCEPTED was taken: %s' % out)
    check(all(x.get('state') != 'delivered' for x in o.get('deliveries', [])),
          'a forged DELIVERED was taken: %s' % out)
    check(node.status()['counters']['bad_receipts'] >= 2, 'forged receipts not counted')


def case_forged_directory(br, node):
    serial = node.status()['directory']['serial']
    blob = bytearray(br.dir.blob)
    blob[-5] ^= 0x55
    br.send('DIRECTORY', bytes(blob))
    check(br.serve(5, lambda: 'pushed a directory that was refused: bad signature' in node.log()),
          'the node did not say why it refused the forged directory')
    check(node.status()['directory']['serial'] == serial, 'a forged directory was installed')
    node.alive()


LOG = None  # the honest-looking trail the following cases build on


def case_checkpoint_no_proof(br, node):
    global LOG
    LOG = Log(br.bk['sign_seed'])
    LOG.grow(4)
    br.send('CHECKPOINT', LOG.push(4))  # the first one is taken on trust
    check(wait(5, lambda: node.status()['checkpoint'] and node.status()['checkpoint']['size'] == 4),
          'the first checkpoint was not installed: %s' % node.status())
    LOG.grow(4)
    br.got.clear()
    br.send('CHECKPOINT', LOG.push(8))  # no proof
    req = br.take('PROOF_REQUEST', 10, lambda b: pb_decode(b, PROOF_REQUEST).get(2) == 8)
    check(req is not None, 'the node did not ask for the missing proof')
    r = pb_decode(req, PROOF_REQUEST)
    check((r.get(1), r.get(2)) == (4, 8), 'asked for the wrong proof: %s' % r)
    # say nothing: after checkpoint_proof_seconds the node must raise the alarm
    st = br.serve(30, lambda: (lambda s: s if s['checkpoint_unproven'] and
                               s['checkpoint_unproven']['alarm'] else None)(node.status()))
    check(st, 'no alarm while the proof is withheld: %s' % node.status())
    check(st['audit_alarm'] is True and st['counters']['checkpoints_unproven'] >= 1,
          'alarm not visible in status/counters: %s' % st)
    check(st['checkpoint']['size'] == 4, 'installed without a proof')
    check('AUDIT ALARM: for' in node.log(), 'the alarm was not logged at error level')
    # the proof arrives: it checks, the alarm clears
    br.send('CHECKPOINT', LOG.push(8, frm=4))
    st = br.serve(10, lambda: (lambda s: s if s['checkpoint']['size'] == 8 else None)(node.status()))
    check(st, 'the proven checkpoint was not installed')
    check(st['checkpoint_unproven'] is None and st['audit_alarm'] is False,
          'the alarm did not clear: %s' % st)


def case_proof_wrong_size(br, node):
    LOG.grow(4)
    br.got.clear()
    br.send('CHECKPOINT', LOG.push(12, frm=5))  # a valid proof, from a size the node lacks
    req = br.take('PROOF_REQUEST', 10, lambda b: pb_decode(b, PROOF_REQUEST).get(2) == 12)
    check(req is not None, 'the node did not ask for a proof from the size it holds')
    r = pb_decode(req, PROOF_REQUEST)
    check((r.get(1), r.get(2)) == (8, 12), 'asked for the wrong proof: %s' % r)
    check(node.status()['checkpoint']['size'] == 8, 'installed with a proof from another size')
    br.send('CHECKPOINT', LOG.push(12, frm=8))  # the answer
    check(br.serve(10, lambda: node.status()['checkpoint']['size'] == 12), 'answer not taken')
    check(node.status()['audit_alarm'] is False, 'alarm after a good proof')


def expect_alarm(br, node, push, words):
    held = node.status()['checkpoint']
    before = node.status()['counters']['checkpoints_refused']
    br.send('CHECKPOINT', push)
    st = br.serve(10, lambda: (lambda s: s if s['counters']['checkpoints_refused'] > before
                               else None)(node.status()))
    check(st, 'the checkpoint was not refused')
    check(st['checkpoint'] == held, 'the held checkpoint changed: %s' % st['checkpoint'])
    check(st['checkpoint_alarm'] and words in st['checkpoint_alarm']['reason'],
          'no AUDIT ALARM naming "%s": %s' % (words, st['checkpoint_alarm']))
    check(st['audit_alarm'] is True, 'audit_alarm not set')


def case_inconsistent_checkpoint(br, node):
    fork = LOG.fork(6)  # records 6.. rewritten
    fork.grow(4)
    expect_alarm(br, node, fork.push(16, frm=12), 'consistency proof does not verify')
    expect_alarm(br, node, fork.push(12), 'same size, different root')
    expect_alarm(br, node, LOG.push(6), 'shorter')
    LOG.grow(4)
    expect_alarm(br, node, LOG.push(16, frm=12, proof=[os.urandom(32)] * 3),
                 'consistency proof does not verify')


def case_forged_checkpoint(br, node):
    before = node.status()['counters']['checkpoints_refused']
    LOG.grow(4)
    br.send('CHECKPOINT', LOG.push(16, frm=12, seed=os.urandom(32)))  # not the broker's key
    check(br.serve(5, lambda: node.status()['counters']['checkpoints_refused'] > before),
          'a checkpoint signed by a stranger was not refused')
    check(node.status()['checkpoint']['size'] == 12, 'a forged checkpoint was installed')


def case_unsigned_error_erevoked(br, node):
    br.send('ERROR', pb_encode({1: EREVOKED, 2: 'your key is revoked (says nobody)'}, WIRE_ERROR))
    br.rehello(5)
    st = node.status()
    check(st['key_state'] == 'active', 'an unsigned ERROR made the node think it is revoked: %s'
          % st['key_state'])
    rc, out = node.cli('send', '-', '--to', 'ngo.hots', stdin=json.dumps(dict(
        json.load(open(os.path.join(os.path.dirname(__file__), '../../deploy/examples/referral.json'))),
        case_ref='EVIL-AFTER-ERROR')).encode())
    check(rc == 0, 'the node refuses to send after an unsigned ERROR: %s' % out)


MAX_BODY = 1572864  # PROTOCOL.md 3.2


def case_giant_frame(br, node):
    before = node.status()['inbox']['messages']
    hellos = br.hellos
    br.send('DELIVER', os.urandom(MAX_BODY + 1))  # just over the documented body limit
    check(br.serve(5, lambda: 'too large' in node.log()),
          'the node did not say why it dropped a body over the limit')
    br.send('DELIVER', os.urandom(3 * MAX_BODY))  # far over it: the node may hang up on us
    br.serve(3)
    node.alive()
    check(node.status()['inbox']['messages'] == before, 'a giant frame changed the inbox')
    check(br.hellos >= hellos, 'no session after the giant frames')


def case_giant_frame_memory(br, node):
    # Many frames, each under the size limit, in one message that never ends: libzmq keeps a
    # multipart message until its last frame, so only the node bounds it: its memory guard
    # (max_memory_mb, PROTOCOL.md 3.3 Limits), or its ping timeout (nothing else can reach it
    # behind the unfinished message). Sent at up to about 64 MiB/s. Whichever comes first, the
    # node must hang up, say why, and its peak memory stay near max_memory_mb.
    limit = node.max_memory_mb() * 1024
    anon0, base = node.anon_kib(), node.peak_rss_kib()
    if anon0 > limit // 2:
        raise CaseFailed('the node already uses %d of its %d MiB (set max_memory_mb higher)'
                         % (anon0 // 1024, limit // 1024))
    ended0 = node.log().count('broker session ended')
    hung_up = lambda: node.log().count('broker session ended') > ended0
    part, sent, deadline = b'\0' * (1024 * 1024), 0, time.time() + 60
    br.sock.send(br.rid, zmq.SNDMORE)
    br.sock.send(SIG, zmq.SNDMORE)
    br.sock.send(bytes([CMD['DELIVER']]), zmq.SNDMORE)
    while sent < limit + 128 * 1024 and time.time() < deadline:
        if sent % (8 * 1024) == 0 and hung_up():
            break
        try:
            br.sock.send(part, zmq.SNDMORE | zmq.NOBLOCK)
            sent += 1024
            time.sleep(1 / 64)
        except zmq.Again:  # the node reads slowly: that is its business, not a failure
            time.sleep(0.01)
    # sent is not received: once all of it is in, the node would hold more than its limit
    check(wait(60, hung_up), 'the node kept %d MiB of one unfinished message without dropping '
          'the session (max_memory_mb %d)' % (sent // 1024, limit // 1024))
    try:
        br.sock.send(b'', zmq.NOBLOCK)  # the end (dropped by ROUTER: the node has hung up)
    except zmq.ZMQError:
        pass
    log = node.log()
    check('memory over max_memory_mb' in log or 'silent too long' in log,
          'the node did not say why it hung up')
    br.rehello(20)
    node.alive()
    grew = node.peak_rss_kib() - base
    check(grew < limit - anon0 + 96 * 1024, 'the node\'s peak memory grew by %d MiB (limit %d MiB)'
          % (grew // 1024, limit // 1024))


CASES = [('garbage', case_garbage), ('forged_envelope', case_forged_envelope),
         ('replay', case_replay), ('revoked_old_epoch', case_revoked_old_epoch),
         ('forged_receipts', case_forged_receipts), ('forged_directory', case_forged_directory),
         ('checkpoint_no_proof', case_checkpoint_no_proof),
         ('proof_wrong_size', case_proof_wrong_size),
         ('forged_checkpoint', case_forged_checkpoint),
         ('inconsistent_checkpoint', case_inconsistent_checkpoint),
         ('giant_frame', case_giant_frame), ('giant_frame_memory', case_giant_frame_memory),
         ('unsigned_error_erevoked', case_unsigned_error_erevoked)]
NEEDS = {'proof_wrong_size': 'checkpoint_no_proof', 'forged_checkpoint': 'proof_wrong_size',
         'inconsistent_checkpoint': 'forged_checkpoint'}


def main():
    ap = argparse.ArgumentParser()
    for o in ('bin', 'node-conf', 'keys', 'passphrase-file', 'directory', 'root-pk', 'endpoint',
              'node-log'):
        ap.add_argument('--' + o, required=True)
    ap.add_argument('--node-pid', type=int, required=True)
    ap.add_argument('--only', default='')
    a = ap.parse_args()
    br, node = Broker(a), Node(a)
    only = [x for x in a.only.split(',') if x]
    results, bad = {}, []
    br.session(30)
    for name, fn in CASES:
        if only and name not in only:
            continue
        if name in NEEDS and results.get(NEEDS[name]) != 'pass':
            results[name] = 'skip'
            print('SKIP %s (needs %s)' % (name, NEEDS[name]), flush=True)
            continue
        t0 = time.time()
        try:
            fn(br, node)
            node.alive()
            results[name] = 'pass'
        except CaseFailed as e:
            results[name] = 'fail: %s' % e
        except Exception:
            results[name] = 'error: %s' % traceback.format_exc().strip().splitlines()[-1]
        r = results[name]
        xf = EXPECTED_FAIL.get(name)
        if r == 'pass' and xf:
            print('XPASS %s: now passes; remove it from EXPECTED_FAIL (%s)' % (name, xf), flush=True)
            bad.append(name)
        elif r == 'pass':
            print('PASS %s (%.1f s)' % (name, time.time() - t0), flush=True)
        elif xf:
            print('XFAIL %s: %s [expected until merged: %s]' % (name, r, xf), flush=True)
        else:
            print('FAIL %s: %s' % (name, r), flush=True)
            bad.append(name)
        try:  # every case ends with a live node in session with us, whatever it did
            node.alive()
            check(br.serve(15, lambda: node.status()['broker']['state'] == 'ready'),
                  'the node has no session any more')
        except CaseFailed as e:
            print('FAIL %s: afterwards: %s' % (name, e), flush=True)
            bad.append(name)
            break
    xfails = sorted(n for n, r in results.items() if n in EXPECTED_FAIL and r != 'pass')
    print(json.dumps(dict(results=results, failed=bad, expected_failures=xfails)), flush=True)
    br.sock.close(0)
    br.ctx.term()
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
