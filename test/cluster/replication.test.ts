// The replication pieces in one process: the fs tap sees every kind of change the store makes,
// the frames carry them intact, a follower's applier reproduces the directory byte for byte,
// and a follower with the wrong secret is refused.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tapDataDir } from '../../src/cluster/fs-tap';
import { type Frame, FrameReader, encodeControl, encodeOp } from '../../src/cluster/frames';
import { DirApplier } from '../../src/cluster/apply';
import { manifest } from '../../src/cluster/manifest';
import { LeaderStream } from '../../src/cluster/leader-stream';
import { FollowerStream } from '../../src/cluster/follower-stream';
import { writeFileAtomic } from '../../src/store/fd-cache';
import { freePort, tempDir } from '../helpers/broker';

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
