// The replicated confirm path, piece by piece: a log's sync resolves with the replication
// position of its own round (not of the moment its fdatasync returned), the ack barrier waits
// for that position, the fs tap reports the leader's fdatasyncs, and a follower syncs the files
// the leader synced (plus what its own rules add), not every file written.
import t from 'tap';
import * as fs from 'node:fs';
import fsMutable from 'node:fs'; // the module object itself, for recording fdatasync calls
import * as path from 'node:path';
import { SegmentedLog } from '../../src/store';
import { setReplicationPositionSource } from '../../src/store/replication-position';
import { AckBarrier } from '../../src/cluster/ack-barrier';
import { tapDataDir } from '../../src/cluster/fs-tap';
import { type FileOp, T } from '../../src/cluster/frames';
import { DirApplier } from '../../src/cluster/apply';
import { tempDir } from '../helpers/broker';

const tick = () => new Promise((r) => setImmediate(r));

t.test('a sync resolves with the replication position read when its round wrote and started syncing', async (t) => {
  const dir = tempDir('warren-mark-');
  const log = SegmentedLog.open(dir);
  t.teardown(async () => { setReplicationPositionSource(null); await log.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  t.equal(await log.whenSynced(log.append({ props: Buffer.alloc(0), body: Buffer.from('m0') })), 0, 'no cluster: 0');
  let pos = 0;
  setReplicationPositionSource(() => pos);
  const offset = log.append({ props: Buffer.alloc(0), body: Buffer.from('m1') });
  const synced = log.whenSynced(offset);
  pos = 100;       // what the stream holds when the round runs (on setImmediate)
  await tick();
  pos = 200;       // written by others while the fdatasync runs
  t.equal(await synced, 100, 'the round\'s position, not the one when its fdatasync returned');
  t.equal(await log.whenSynced(offset), 100, 'an offset already durable: the last round\'s position');
});

t.test('the ack barrier waits for the position it is given, in position order', async (t) => {
  let now = 500;
  const b = new AckBarrier(() => now);
  b.add('f1', 0);
  const order: string[] = [];
  void b.wait(300).then(() => order.push('300'));
  void b.wait(100).then(() => order.push('100')); // an older position after a newer one
  void b.wait().then(() => order.push('now'));
  now = 900;
  void b.wait(2000).then(() => order.push('clamped'));  // never past the current position
  b.ack('f1', 100);
  await tick();
  t.same(order, ['100'], 'released at its own position although a later one waits before it');
  b.ack('f1', 300);
  await tick();
  t.same(order, ['100', '300']);
  b.ack('f1', 500);
  await tick();
  t.same(order, ['100', '300', 'now'], 'no position: the one of the moment of the call');
  b.ack('f1', 900);
  await tick();
  t.same(order, ['100', '300', 'now', 'clamped']);
});

t.test('the tap reports fdatasync and fsync; a follower syncs what the leader synced', async (t) => {
  const src = tempDir('warren-sync-src-');
  const dst = tempDir('warren-sync-dst-');
  t.teardown(() => { fs.rmSync(src, { recursive: true, force: true }); fs.rmSync(dst, { recursive: true, force: true }); });
  const ops: FileOp[] = [];
  const tap = tapDataDir(src, (op) => ops.push(op));
  try {
    fs.mkdirSync(path.join(src, 'q'));
    const seg = fs.openSync(path.join(src, 'q', '0.log'), 'a+');
    const idx = fs.openSync(path.join(src, 'q', '0.idx'), 'a+');
    fs.writeSync(seg, 'data', 0);
    fs.writeSync(idx, 'index', 0);
    await new Promise<void>((r, j) => fs.fdatasync(seg, (e) => (e ? j(e) : r())));
    const d = fs.openSync(path.join(src, 'q'), 'r');
    fs.fsyncSync(d);
    fs.closeSync(d);
    fs.closeSync(seg);
    fs.closeSync(idx);
  } finally {
    tap.remove();
  }
  const syncs = ops.filter((o) => o.t === T.Sync).map((o) => o.path);
  t.same(syncs, [path.join('q', '0.log'), 'q'], 'the segment\'s fdatasync and the directory\'s fsync, not the index');

  // Record what the follower fdatasyncs (by path, through /proc/self/fd).
  const seen: string[] = [];
  const orig = { fdatasync: fsMutable.fdatasync, fsync: fsMutable.fsync };
  const name = (fd: number) => path.relative(dst, fs.readlinkSync(`/proc/self/fd/${fd}`)) || '.';
  fsMutable.fdatasync = ((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => { seen.push(name(fd)); orig.fdatasync(fd, cb); }) as typeof fs.fdatasync;
  fsMutable.fsync = ((fd: number, cb: (e: NodeJS.ErrnoException | null) => void) => { seen.push(name(fd)); orig.fsync(fd, cb); }) as typeof fs.fsync;
  t.teardown(() => Object.assign(fsMutable, orig));
  const mirror = new DirApplier(dst);
  mirror.mirrorSyncs = true;
  for (const op of ops) mirror.apply(op);
  await mirror.sync();
  t.same(seen.sort(), ['q', path.join('q', '0.log')], 'mirroring: the segment and the directory (new names in it), not the index');
  seen.length = 0;
  await mirror.syncAll();
  t.same(seen, [path.join('q', '0.idx')], 'syncAll: what was written and not synced yet');
  seen.length = 0;
  mirror.apply({ t: T.Write, path: path.join('q', '0.idx'), at: 5, data: Buffer.from('more') });
  await mirror.sync();
  t.same(seen, [], 'an index write alone: nothing to sync');
  mirror.close();

  // A leader of an earlier version sends no SYNC: every file written is synced.
  fs.rmSync(dst, { recursive: true, force: true });
  fs.mkdirSync(dst);
  seen.length = 0;
  const all = new DirApplier(dst);
  for (const op of ops) if (op.t !== T.Sync) all.apply(op);
  await all.sync();
  t.same(seen.sort(), ['q', path.join('q', '0.idx'), path.join('q', '0.log')], 'without SYNC operations: every file written');
  all.close();
});
