#!/usr/bin/python3
# An independent refbus node client written from docs/PROTOCOL.md (sections 1-4),
# docs/KEYS-FORMAT.md and proto/*.proto alone: opens an agency bundle, checks the root-signed
# directory, talks the broker wire protocol over CurveZMQ (HELLO, SUBMIT, receipts, DELIVER).
#   wire_client.py --bundle F --passphrase-file F --directory F --root-pk HEX|@F COMMAND ...
# Exit: 0 done, 1 refused or failed (JSON says why), 2 usage, 3 nothing came back in time,
# 4 the broker answered ERROR.
import argparse, json, os, sys, time
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import envelope_v1 as ev
import zmq
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from wire_proto import (CHECKPOINT, CHECKPOINT_PUSH, CODES, ENV_CODES, EnvError, HELLO, NOTICE,
    NOTICE_ACK, PAYLOAD, PING, Refused, SESSION_STATE, SIGNED_CHECKPOINT, WELCOME, WIRE_ERROR,
    ed_verify, env_open, env_parse, load_directory, open_bundle, pb_decode, pb_encode, read_passphrase,
    receipt_check, receipt_json, receipt_sign, seal)

EXIT_OK, EXIT_FAIL, EXIT_NOTHING, EXIT_ERROR = 0, 1, 3, 4
SIG = b'RBUS\x01'
CMD = dict(HELLO=1, WELCOME=2, SUBMIT=3, ACCEPTED=4, REJECTED=5, DELIVER=6, DELIVERED=7,
           RECEIPT=8, RECEIPT_ACK=9, PING=10, PONG=11, DIRECTORY=12, CHECKPOINT=13, ERROR=14,
           PROOF_REQUEST=19)
CMD_NAME = {v: k for k, v in CMD.items()}
MAX_BODY = 1572864


def out(obj):
    print(json.dumps(obj, ensure_ascii=False), flush=True)

# ---------------------------------------------------------------- the wire (PROTOCOL 3)
class Client:
    def __init__(self, a):
        self.a = a
        self.bundle = open_bundle(a.bundle, read_passphrase(a.passphrase_file))
        root_pk = bytes.fromhex(open(a.root_pk[1:]).read().strip() if a.root_pk.startswith('@')
                                else a.root_pk)
        if self.bundle['root_pk'] != root_pk:
            raise Refused('the bundle names another root key than --root-pk')
        self.root_pk = root_pk
        self.dir = load_directory(open(a.directory, 'rb').read(), root_pk)
        self.me = self.bundle['id']
        if self.bundle['role'] != 1:
            raise Refused('not an agency bundle')
        # KEYS-FORMAT 1.1: the newest epoch that the directory lists as ACTIVE, not simply the
        # newest epoch in the bundle.
        act = self.dir.active(self.me)
        self.ep = next((e for e in self.bundle['epochs'] if act and e['epoch'] == act[1]), None)
        if self.ep is None:
            raise Refused('the directory lists no ACTIVE key of %s that the bundle holds' % self.me)
        bk = self.dir.active(self.dir.broker[1])
        if bk is None:
            raise Refused('the directory lists no ACTIVE broker key')
        self.broker_curve = bk[4]
        self.curve_pk, self.curve_sk = self.ep['curve_pk'], self.ep['curve_sk']
        if a.fresh_curve:  # an unenrolled transport key (a test of the broker's admission)
            sk = X25519PrivateKey.generate()
            self.curve_sk = sk.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw,
                                             ser.NoEncryption())
            self.curve_pk = ev.raw_pub(sk.public_key())
        self.endpoint = a.broker or (self.dir.broker.get(4) or [None])[0]
        self.ctx, self.sock, self.seen = zmq.Context(), None, []

    def connect(self):
        if not self.endpoint:
            raise Refused('no broker endpoint (give --broker)')
        if self.sock is not None:
            self.sock.close(linger=0)
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.CURVE_SERVERKEY, self.broker_curve)
        s.setsockopt(zmq.CURVE_PUBLICKEY, self.curve_pk)
        s.setsockopt(zmq.CURVE_SECRETKEY, self.curve_sk)
        s.connect(self.endpoint)
        self.sock = s

    def close(self):
        if self.sock is not None:
            self.sock.close(linger=0); self.sock = None
        self.ctx.term()

    def send(self, cmd, body=b''):
        self.sock.send_multipart([SIG, bytes([CMD[cmd]]), body])

    def hello(self):
        self.send('HELLO', pb_encode({1: 1, 2: self.me, 3: self.ep['epoch'], 4: self.a.credit,
                                      5: self.dir.serial, 6: 0}, HELLO))

    def recv(self, deadline):
        """The next message other than PING, DIRECTORY, CHECKPOINT (handled here), or None."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1):
                return None
            fr = self.sock.recv_multipart()
            if len(fr) != 3 or fr[0] != SIG or len(fr[1]) != 1 or fr[1][0] not in CMD_NAME:
                raise Refused('broker sent a malformed message (%d frames)' % len(fr))
            cmd, body = CMD_NAME[fr[1][0]], fr[2]
            if len(body) > MAX_BODY:
                raise Refused('body too large')
            self.seen.append(cmd)
            if cmd == 'PING':
                self.send('PONG', body)
            elif cmd == 'DIRECTORY':
                try:
                    self.dir = load_directory(body, self.root_pk, self.dir.serial)
                    act = self.dir.active(self.me)
                    out(dict(event='directory', serial=self.dir.serial,
                             own_key=('ACTIVE' if act and act[1] == self.ep['epoch'] else 'not active')))
                except Refused as e:
                    out(dict(event='directory_refused', error=str(e)))
            elif cmd == 'CHECKPOINT':
                out(dict(event='checkpoint', **self.checkpoint(body)))
            else:
                return cmd, body

    def checkpoint(self, body):
        """CheckpointPush: the signed checkpoint must be signed by a broker key of the directory."""
        cp = pb_decode(body, CHECKPOINT_PUSH)
        sc = pb_decode(cp.get(1, b''), SIGNED_CHECKPOINT)
        c = pb_decode(sc.get(1, b''), CHECKPOINT)
        ok = any(k.get(2) == sc.get(3) and k.get(5, 0) != 2 and
                 ed_verify(k[2], b'refbus/v1/audit-checkpoint' + sc[1], sc.get(2, b''))
                 for k in self.dir.keys(self.dir.broker[1]))
        if not ok:
            raise Refused('checkpoint not signed by the broker key of the directory')
        return dict(size=c.get(2, 0), from_size=cp.get(2, 0), proof_len=len(cp.get(3, [])))

    def wait_welcome(self, deadline):
        m = self.recv(deadline)
        if m is None:
            return None
        cmd, body = m
        if cmd == 'ERROR':
            return m
        if cmd != 'WELCOME':
            raise Refused('expected WELCOME, got %s' % cmd)
        w = pb_decode(body, WELCOME)
        if w.get(1) != 1 or w.get(2) != self.dir.broker[1]:
            raise Refused('WELCOME from another broker or version: %r' % w)
        out(dict(event='welcome', broker_id=w[2], directory_serial=w.get(3, 0),
                 max_envelope=w.get(4, 0), audit_size=w.get(5, 0)))
        return m

    def barrier(self, deadline, on_msg=None):
        """PING and wait for its PONG: everything sent before has been read by the broker."""
        body = pb_encode({1: int(time.time() * 1000)}, PING)
        self.send('PING', body)
        while True:
            m = self.recv(deadline)
            if m is None:
                raise Refused('no PONG')
            if m[0] == 'PONG' and pb_decode(m[1], PING).get(1) == pb_decode(body, PING)[1]:
                # the broker's PONG carries our time_ms and whether we hold the session
                return SESSION_STATE.get(pb_decode(m[1], PING).get(2, 0), 'unspecified')
            if on_msg:
                on_msg(*m)


def wire_error(body):
    we = pb_decode(body, WIRE_ERROR)
    return dict(code=we.get(1, 0), name=CODES.get(we.get(1, 0)), text=we.get(2, ''))


def referral_payload(a):
    ref = {1: a.case_ref, 2: os.urandom(16), 3: 6, 4: 1,
           5: {1: 'interop', 3: '13-15', 4: 4}, 6: a.text,
           8: {1: 3, 2: 'guardian'}, 9: {1: 'wire_client.py', 2: 'interop test'}}
    return pb_encode({1: ref}, PAYLOAD)


def payload_json(p):
    try:
        d = pb_decode(p, PAYLOAD)
    except (Refused, UnicodeDecodeError) as e:
        return dict(undecodable=str(e))
    if 1 in d:
        r = d[1]
        return dict(kind='referral', case_ref=r.get(1, ''), thread_id=r.get(2, b'').hex(),
                    type=r.get(3, 0), urgency=r.get(4, 0), summary=r.get(6, ''))
    s = d.get(2, {})
    return dict(kind='status', thread_id=s.get(1, b'').hex(), in_reply_to=s.get(2, b'').hex(),
                status=s.get(3, 0), reason_code=s.get(4, ''), text=s.get(5, ''))


def cmd_check(cl, a):
    out(dict(result='ok', agency=cl.me, epoch=cl.ep['epoch'],
             epochs=[e['epoch'] for e in cl.bundle['epochs']], broker=cl.dir.broker[1],
             directory_serial=cl.dir.serial, endpoint=cl.endpoint))
    return EXIT_OK


def cmd_submit(cl, a):
    to = [t for t in a.to.split(',') if t]
    rcpts = []
    for t in to:
        k = cl.dir.active(t)
        if k is None:
            raise Refused('no ACTIVE key for recipient %s' % t)
        rcpts.append((t, k[1], k[3]))
    env, msg_id = seal(cl.me, cl.ep['epoch'], cl.ep['sign_seed'], rcpts, referral_payload(a))
    h = ev.b2b(env)
    out(dict(event='sealed', msg_id=msg_id.hex(), envelope_hash=h.hex(), bytes=len(env)))
    deadline = time.monotonic() + a.timeout
    cl.connect(); cl.hello()
    if not a.eager:
        m = cl.wait_welcome(deadline)
        if m is None:
            out(dict(result='nothing', received=cl.seen)); return EXIT_NOTHING
        if m[0] == 'ERROR':
            out(dict(result='error', **wire_error(m[1]))); return EXIT_ERROR
        if a.hold_file:
            hold_end = time.monotonic() + a.hold_timeout
            while not os.path.exists(a.hold_file):
                if time.monotonic() > hold_end:
                    raise Refused('hold file never appeared')
                m = cl.recv(time.monotonic() + 0.1)
                if m is not None:
                    out(dict(event='while_holding', cmd=m[0]))
            deadline = time.monotonic() + a.timeout
    cl.send('SUBMIT', env)
    while True:
        m = cl.recv(deadline)
        if m is None:
            out(dict(result='nothing', received=cl.seen)); return EXIT_NOTHING
        cmd, body = m
        if cmd == 'WELCOME':
            out(dict(event='welcome')); continue
        if cmd == 'ERROR':
            out(dict(result='error', received=cl.seen, **wire_error(body))); return EXIT_ERROR
        if cmd in ('ACCEPTED', 'REJECTED'):
            break
        out(dict(event='ignored', cmd=cmd))
    r = receipt_check(body, cl.dir)
    if r.get(3) not in (None, msg_id) or (cmd == 'ACCEPTED' and (
            r[2] != 1 or r.get(3) != msg_id or r.get(4) != cl.me or r.get(6) != h)):
        raise Refused('the receipt does not name this envelope: %r' % receipt_json(r))
    if cmd == 'REJECTED':
        out(dict(result='rejected', reason=r.get(8, 0), reason_name=CODES.get(r.get(8, 0)),
                 receipt=receipt_json(r)))
        return EXIT_FAIL
    # The receipt checks must be able to fail: a flipped signature or body byte is refused.
    for pos in (len(body) - 1, 10):
        forged = bytearray(body); forged[pos] ^= 1
        try:
            receipt_check(bytes(forged), cl.dir)
            raise Refused('a forged receipt (byte %d flipped) was accepted' % pos)
        except Refused as e:
            if 'was accepted' in str(e):
                raise
    out(dict(event='accepted', broker_signature='verified', forgeries_refused=2,
             receipt=receipt_json(r)))
    if a.wait_delivered:
        return wait_delivered(cl, a, msg_id, h, to)
    cl.barrier(time.monotonic() + 5)
    out(dict(result='accepted', msg_id=msg_id.hex(), audit_index=r.get(10, 0)))
    return EXIT_OK


def wait_delivered(cl, a, msg_id, h, to):
    """RECEIPT notices until every recipient's DELIVERED for msg_id; ack them (PROTOCOL 3.3.5)."""
    deadline, done, acked = time.monotonic() + a.wait_delivered, set(), []
    while set(to) - done:
        m = cl.recv(deadline)
        if m is None:
            out(dict(result='not_delivered', missing=sorted(set(to) - done))); return EXIT_FAIL
        if m[0] != 'RECEIPT':
            continue
        n = pb_decode(m[1], NOTICE)
        r = receipt_check(n.get(2, b''), cl.dir)
        out(dict(event='notice', seq=n.get(1, 0), receipt=receipt_json(r)))
        if r.get(3) == msg_id:
            if r[2] != 3 or r.get(6) != h or r.get(5) != r.get(11) or r.get(5) not in to:
                raise Refused('not a DELIVERED receipt of a recipient for this envelope')
            done.add(r[5])
        cl.send('RECEIPT_ACK', pb_encode({1: [n.get(1, 0)]}, NOTICE_ACK))
        acked.append(n.get(1, 0))
    cl.barrier(time.monotonic() + 5)
    res = dict(result='delivered', msg_id=msg_id.hex(), recipients=sorted(done), acked=acked)
    if a.check_ack:  # after a new HELLO, no acknowledged notice may come back
        cl.seen = []
        cl.connect(); cl.hello()
        again = []
        def note(cmd, body):
            if cmd == 'RECEIPT':
                again.append(pb_decode(body, NOTICE).get(1, 0))
        if cl.wait_welcome(time.monotonic() + 10) is None:
            raise Refused('no WELCOME on reconnect')
        cl.barrier(time.monotonic() + 10, note)
        if set(again) & set(acked):
            out(dict(result='ack_ignored', resent=again)); return EXIT_FAIL
        res['ack_checked'] = True
    out(res)
    return EXIT_OK


def cmd_receive(cl, a):
    """Act as a recipient: DELIVER -> verify, open, print, DELIVERED (or a REJECTED receipt)."""
    deadline = time.monotonic() + a.timeout
    cl.connect(); cl.hello()
    m = cl.wait_welcome(deadline)
    if m is None:
        out(dict(result='nothing', received=cl.seen)); return EXIT_NOTHING
    if m[0] == 'ERROR':
        out(dict(result='error', **wire_error(m[1]))); return EXIT_ERROR
    got, status = {}, EXIT_OK
    while len(got) < a.count:
        m = cl.recv(deadline)
        if m is None:
            out(dict(result='timeout', received=len(got))); return EXIT_NOTHING
        if m[0] != 'DELIVER':
            continue
        env = m[1]
        body = {1: 1, 4: '', 5: cl.me, 6: ev.b2b(env), 7: int(time.time() * 1000),
                11: cl.me, 12: cl.ep['epoch']}
        try:
            hd, payload = env_open(env, cl.me, cl.bundle, cl.dir, int(time.time() * 1000))
            body.update({2: 3, 3: hd[2], 4: hd[3]})
            key = (hd[3], hd[2])
            if key not in got:
                got[key] = dict(event='delivered', sender=hd[3], msg_id=hd[2].hex(), envelope_kind=hd[8],
                                priority=hd.get(9, 0), **payload_json(payload))
                out(got[key])
                if a.expect_text is not None and got[key].get('summary', got[key].get('text')) != a.expect_text:
                    status = EXIT_FAIL
        except EnvError as e:
            try:
                hd, _, _ = env_parse(env)
                body.update({3: hd[2], 4: hd[3]})
            except EnvError:
                pass
            body.update({2: 2, 8: e.code, 9: ENV_CODES[e.code]})
            out(dict(event='refused', error=ENV_CODES[e.code]))
            status = EXIT_FAIL
            got[('?', body.get(3, b''))] = True
        if not body[4]:
            del body[4]
        cl.send('DELIVERED', receipt_sign(body, cl.ep['sign_seed']))
    cl.barrier(time.monotonic() + 5)
    out(dict(result='received' if status == EXIT_OK else 'failed', count=len(got)))
    return status


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--bundle', required=True, help='the agency key bundle (keystore file)')
    p.add_argument('--passphrase-file', required=True)
    p.add_argument('--directory', required=True, help='SignedDirectory file')
    p.add_argument('--root-pk', required=True, help='root public key, hex or @FILE')
    p.add_argument('--broker', help='endpoint (default: the directory\'s first broker endpoint)')
    p.add_argument('--timeout', type=float, default=10.0, help='seconds to wait for an answer')
    p.add_argument('--credit', type=int, default=16)
    p.add_argument('--fresh-curve', action='store_true',
                   help='connect with a freshly generated, unenrolled CURVE key pair')
    sub = p.add_subparsers(dest='command', required=True)
    sub.add_parser('check', help='open the bundle, check the directory, print a summary')
    s = sub.add_parser('submit', help='seal a referral and SUBMIT it')
    s.add_argument('--to', required=True)
    s.add_argument('--text', required=True, help='the referral summary')
    s.add_argument('--case-ref', default='INTEROP-1')
    s.add_argument('--eager', action='store_true', help='send HELLO and SUBMIT without '
                   'waiting for WELCOME (to show that nothing passes a refused handshake)')
    s.add_argument('--hold-file', help='after WELCOME, wait for this file before SUBMIT')
    s.add_argument('--hold-timeout', type=float, default=60.0)
    s.add_argument('--wait-delivered', type=float, default=0.0,
                   help='seconds to wait for the recipients\' DELIVERED receipts')
    s.add_argument('--check-ack', action='store_true',
                   help='reconnect and check that acknowledged notices are not sent again')
    r = sub.add_parser('receive', help='act as a recipient node')
    r.add_argument('--count', type=int, default=1)
    r.add_argument('--expect-text')
    a = p.parse_args()
    try:
        cl = Client(a)
    except (Refused, OSError, ValueError) as e:
        out(dict(result='refused', error=str(e))); return EXIT_FAIL
    try:
        return dict(check=cmd_check, submit=cmd_submit, receive=cmd_receive)[a.command](cl, a)
    except Refused as e:
        out(dict(result='refused', error=str(e))); return EXIT_FAIL
    finally:
        cl.close()


if __name__ == '__main__':
    sys.exit(main())
