// The replication pieces in one process: the fs tap sees every kind of change the store makes,
// the frames carry them intact, a follower's applier reproduces the directory byte for byte,
// a follower with the wrong secret is refused, and an encrypted stream works and refuses
// plaintext and a relay that terminates TLS.
import t from 'tap';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { tapDataDir } from '../../src/cluster/fs-tap';
import { type Frame, FrameReader, T, encodeControl, encodeOp } from '../../src/cluster/frames';
import { DirApplier } from '../../src/cluster/apply';
import { manifest } from '../../src/cluster/manifest';
import { LeaderStream } from '../../src/cluster/leader-stream';
import { FollowerStream } from '../../src/cluster/follower-stream';
import { writeFileAtomic } from '../../src/store/fd-cache';
import { secureContextOptions } from '../../src/server/tls';
import { freePort, tempDir } from '../helpers/broker';
import { makePki } from '../helpers/certs';

t.test('every change under the data directory is reproduced byte for byte', async (t) => {
  const src = tempDir('warren-tap-src-');
  const dst = tempDir('warren-tap-dst-');
  t.teardown(() => { fs.rmSync(src, { recursive: true, force: true }); fs.rmSync(dst, { recursive: true, force: true }); });
  const wire: Buffer[] = [];
  let pos = 0;
  const tap = tapDataDir(src, (op) => { const b = encodeOp(op, pos); pos += b.length; wire.push(b); });
  try {
    fs.mkdirSync(path.join(src, 'q', 'a'), { recursive: true });
    const fd = fs.openSync(path.join(src, 'q', 'a', 'seg.log'), 'a+');
    fs.writeSync(fd, Buffer.from('hello world'), 0, 11, 0);
    fs.writeSync(fd, Buffer.from('XXhelloYY'), 2, 5, 20);      // a hole, then a slice of a buffer
    fs.writeSync(fd, Buffer.alloc(70_000, 7), 0, 70_000, 25);  // large
    fs.ftruncateSync(fd, 50_000);
    fs.closeSync(fd);
    const fd2 = fs.openSync(path.join(src, 'q', 'a', 'seq.txt'), 'w');
    fs.writeSync(fd2, 'first ');                               // no position: sequential
    fs.writeSync(fd2, Buffer.from('second'));
    fs.closeSync(fd2);
    writeFileAtomic(path.join(src, 'q', 'state.json'), '{"a":1}', path.join(src, 'q'));
    fs.appendFileSync(path.join(src, 'q', 'marks'), 'line1\n');
    fs.appendFileSync(path.join(src, 'q', 'marks'), 'line2\n');
    fs.writeFileSync(path.join(src, 'q', 'gone.tmp'), 'x');
    fs.renameSync(path.join(src, 'q', 'gone.tmp'), path.join(src, 'q', 'kept'));
    fs.writeFileSync(path.join(src, 'q', 'del'), 'x');
    fs.unlinkSync(path.join(src, 'q', 'del'));
    fs.truncateSync(path.join(src, 'q', 'kept'), 0);
    fs.mkdirSync(path.join(src, 'q2', 'deep'), { recursive: true });
    fs.writeFileSync(path.join(src, 'q2', 'deep', 'f'), 'bye');
    fs.rmSync(path.join(src, 'q2'), { recursive: true, force: true });
    await fs.promises.writeFile(path.join(src, 'snap.tmp'), 'snapshot');  // written through a FileHandle
    await fs.promises.rename(path.join(src, 'snap.tmp'), path.join(src, 'snap'));
    await new Promise<void>((r) => { fs.writeFileSync(path.join(src, 'async-del'), 'x'); fs.unlink(path.join(src, 'async-del'), () => r()); });
    fs.writeFileSync(path.join(src, 'warren.lock'), 'not replicated');
    fs.mkdirSync(path.join(src, 'transient'), { recursive: true });
    fs.writeFileSync(path.join(src, 'transient', 'x'), 'not replicated');
  } finally {
    tap.remove();
  }
  fs.writeFileSync(path.join(src, 'after-removal'), 'not seen'); // the tap is gone
  // Through the frame reader in odd-sized pieces, then applied.
  const all = Buffer.concat(wire);
  const reader = new FrameReader();
  const applier = new DirApplier(dst);
  let last = 0;
  for (let i = 0; i < all.length; i += 777) {
    reader.push(all.subarray(i, i + 777), (f: Frame) => {
      if (f.type === 32) return;
      applier.apply(f.op.op);
      last = f.op.pos;
    });
  }
  await applier.sync();
  applier.close();
  t.equal(last, pos, 'positions count the bytes of the stream');
  fs.rmSync(path.join(src, 'after-removal'));
  const a = (await manifest(src)).sort((x, y) => x.path.localeCompare(y.path));
  const b = (await manifest(dst)).sort((x, y) => x.path.localeCompare(y.path));
  t.same(b, a, 'the copy is byte-identical');
  t.notOk(fs.existsSync(path.join(dst, 'warren.lock')), 'the lock file is not replicated');
  t.notOk(fs.existsSync(path.join(dst, 'transient')), 'the transient directory is not replicated');
});

t.test('a damaged frame is refused', async (t) => {
  const f = encodeOp({ t: 1, path: 'x', at: 0, data: Buffer.from('abc') } as never, 0);
  f[f.length - 1] ^= 1;
  t.throws(() => new FrameReader().push(f, () => undefined), /CRC/);
  const ok: Frame[] = [];
  new FrameReader().push(encodeControl({ a: 1 }), (x) => ok.push(x));
  t.same(ok, [{ type: 32, msg: { a: 1 } }]);
});

t.test('a follower with the wrong secret is refused; the right one catches up', async (t) => {
  const leaderDir = tempDir('warren-auth-l-');
  const followerDir = tempDir('warren-auth-f-');
  t.teardown(() => { fs.rmSync(leaderDir, { recursive: true, force: true }); fs.rmSync(followerDir, { recursive: true, force: true }); });
  fs.writeFileSync(path.join(leaderDir, 'data'), Buffer.alloc(100_000, 3));
  const caught: string[] = [];
  const ls = new LeaderStream(leaderDir, 'right-secret', { onAck: () => undefined, onCaughtUp: (id) => caught.push(id), onGone: () => undefined });
  const port = await ls.listen(await freePort(), '127.0.0.1');
  t.teardown(() => ls.close());
  const run = (secret: string) => new Promise<string>((resolve) => {
    const f = new FollowerStream({
      dataDir: followerDir, secret, id: `f-${secret}`, host: '127.0.0.1', port,
      onCaughtUp: () => { resolve('caught up'); f.close('done'); },
      onClose: (why) => resolve(why),
    });
    void f.start();
  });
  t.match(await run('wrong-secret'), /authentication|closed/, 'wrong secret: the connection ends');
  t.notOk(fs.existsSync(path.join(followerDir, 'data')), 'and nothing was copied');
  t.equal(await run('right-secret'), 'caught up', 'right secret: caught up');
  t.same(await manifest(followerDir), await manifest(leaderDir), 'with a copy of the leader\'s files');
});

t.test('an encrypted replication stream: the follower catches up over TLS, plaintext and a TLS-terminating relay are refused', async (t) => {
  const pki = makePki(tempDir('warren-pki-'));
  const leaderDir = tempDir('warren-tls-l-');
  const followerDir = tempDir('warren-tls-f-');
  t.teardown(() => { for (const d of [pki.dir, leaderDir, followerDir]) fs.rmSync(d, { recursive: true, force: true }); });
  const marker = 'REPLICATED-PLAINTEXT-MARKER-';
  fs.writeFileSync(path.join(leaderDir, 'data'), marker.repeat(4000));
  const ctx = secureContextOptions({ certFile: pki.serverCert, keyFile: pki.serverKey });
  const acks: number[] = [];
  const ls = new LeaderStream(leaderDir, 'right-secret', { onAck: (_id, pos) => acks.push(pos), onCaughtUp: () => undefined, onGone: () => undefined }, ctx);
  const port = await ls.listen(await freePort(), '127.0.0.1');
  t.teardown(() => ls.close());
  const run = (o: { tls: boolean; port?: number }, keep = false) => new Promise<string>((resolve) => {
    const f = new FollowerStream({
      dataDir: followerDir, secret: 'right-secret', id: `f-${o.tls}`, host: '127.0.0.1', port: o.port ?? port, tls: o.tls,
      onCaughtUp: () => { resolve('caught up'); if (!keep) f.close('done'); else t.teardown(() => f.close('done')); },
      onClose: (why) => resolve(why),
    });
    void f.start();
  });
  t.match(await run({ tls: false }), /closed|reset|frame|CRC/i, 'a plaintext follower is refused by a TLS leader');
  t.notOk(fs.existsSync(path.join(followerDir, 'data')), 'and nothing was copied');

  // A relay that terminates TLS on both sides (it has a certificate the follower accepts, as the
  // follower verifies none): the proofs are bound to each TLS session, so both ends refuse.
  const mitm = tls.createServer({ ...ctx }, (fromFollower) => {
    const toLeader = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    fromFollower.pipe(toLeader).pipe(fromFollower);
    const end = () => { fromFollower.destroy(); toLeader.destroy(); };
    fromFollower.on('error', end); toLeader.on('error', end); fromFollower.on('close', end); toLeader.on('close', end);
  });
  const mitmPort = await new Promise<number>((r) => mitm.listen(0, '127.0.0.1', () => r((mitm.address() as net.AddressInfo).port)));
  t.teardown(() => mitm.close());
  t.match(await run({ tls: true, port: mitmPort }), /authentication|closed/, 'through a TLS-terminating relay: authentication fails');
  t.notOk(fs.existsSync(path.join(followerDir, 'data')), 'and nothing was copied');

  // Through a byte relay that records what crosses the wire.
  const wire: Buffer[] = [];
  const relay = net.createServer((a) => {
    const b = net.connect({ host: '127.0.0.1', port });
    a.on('data', (d) => { wire.push(d); b.write(d); });
    b.on('data', (d) => { wire.push(d); a.write(d); });
    const end = () => { a.destroy(); b.destroy(); };
    a.on('error', end); b.on('error', end); a.on('close', end); b.on('close', end);
  });
  const relayPort = await new Promise<number>((r) => relay.listen(0, '127.0.0.1', () => r((relay.address() as net.AddressInfo).port)));
  t.teardown(() => relay.close());
  t.equal(await run({ tls: true, port: relayPort }, true), 'caught up', 'a TLS follower catches up');
  t.same(await manifest(followerDir), await manifest(leaderDir), 'with a copy of the leader\'s files');
  // a live operation reaches it and is acknowledged
  const before = acks.length;
  ls.emit({ t: T.Write, path: 'data', at: 0, data: Buffer.from('live over tls') });
  for (let i = 0; i < 100 && acks.length === before; i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(acks.length > before && acks[acks.length - 1] === ls.position, 'a live operation is applied, synced and acknowledged');
  t.equal(fs.readFileSync(path.join(followerDir, 'data')).subarray(0, 13).toString(), 'live over tls');
  const seen = Buffer.concat(wire);
  t.ok(seen.length > 100_000, `${seen.length} bytes crossed the relay`);
  t.equal(seen.indexOf(marker), -1, 'none of the file\'s bytes crossed in clear');
});
