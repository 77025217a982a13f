// Batch records (Kafka's record batches): one record holding several consecutive offsets, the
// storage of stream chunks. Reads and cursors find the batch holding any of its offsets; recovery
// counts offsets per batch; damage still costs only the damaged batch.
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { SegmentedLog, type LogOptions } from '../../src/store';
import { tempDir } from '../fixtures/store-helpers';

const opts: LogOptions = { eagerFlush: true, segmentBytes: 4096, indexIntervalBytes: 256 };

function batch(first: number, count: number): { props: Buffer; body: Buffer; count: number; timestamp: number } {
  const body = Buffer.alloc(count * 8);
  for (let i = 0; i < count; i++) body.writeDoubleBE(first + i, i * 8);
  return { props: Buffer.alloc(0), body, count, timestamp: 1_700_000_000_000 + first };
}

const flushed = () => new Promise((r) => setImmediate(r));

t.test('batches take consecutive offsets; read and cursors find the batch holding any offset', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let readable = 0;
  const log = SegmentedLog.open(dir, { ...opts, onReadable: () => readable++ });
  const starts: number[] = [];
  let next = 0;
  for (let k = 0; k < 60; k++) {
    const count = 1 + (k % 7) * 5;
    t.equal(log.append(batch(next, count)), next);
    starts.push(next);
    next += count;
  }
  t.equal(log.nextOffset, next);
  t.equal(log.read(starts[59]), undefined, 'the newest batch is not readable before it is written');
  const c0 = log.cursor(starts[59]);
  t.equal(c0.next(), undefined, 'a cursor does not see it either');
  await flushed();
  t.ok(readable >= 1, 'onReadable after the write');
  t.ok(log.segmentCount > 1, 'rolled into several segments');
  for (const off of [0, 1, 5, starts[10], starts[10] + 3, starts[59], next - 1]) {
    const r = log.read(off);
    t.ok(r !== undefined && r.offset <= off && off < r.offset + r.count, `read(${off}) holds it: [${r?.offset}, ${r && r.offset + r.count})`);
    t.equal(r?.body.readDoubleBE((off - (r?.offset ?? 0)) * 8), off, `message ${off} inside it`);
  }
  t.equal(log.read(next), undefined);
  const seen: number[] = [];
  const c = log.cursor(starts[20] + 2);
  for (let r = c.next(); r !== undefined; r = c.next()) seen.push(r.offset);
  t.same(seen, starts.slice(20), 'a cursor from inside a batch starts with that batch, then one record per batch');
  await log.close();

  for (const how of ['clean', 'crash'] as const) {
    const again = SegmentedLog.open(dir, opts);
    t.equal(again.nextOffset, next, `${how}: offsets counted per batch at open`);
    t.equal(again.read(starts[33] + 1)?.offset, starts[33]);
    if (how === 'clean') await again.close();
    else {
      fs.rmSync(path.join(dir, 'clean-shutdown'), { force: true });
      again.crashForTesting();
    }
  }
});

t.test('a damaged batch costs that batch only', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = SegmentedLog.open(dir, { ...opts, segmentBytes: 1 << 20 });
  for (let k = 0; k < 10; k++) log.append(batch(k * 10, 10));
  await log.close();
  const file = path.join(dir, '00000000000000000000.log');
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  const pos = Math.floor(size * 0.45); // inside the 5th batch (offsets 40..49)
  fs.readSync(fd, b, 0, 1, pos);
  b[0] ^= 0xff;
  fs.writeSync(fd, b, 0, 1, pos);
  fs.closeSync(fd);
  const warnings: string[] = [];
  const again = SegmentedLog.open(dir, { ...opts, onWarning: (m) => warnings.push(m) });
  const seen: number[] = [];
  const c = again.cursor(0);
  for (let r = c.next(); r !== undefined; r = c.next()) seen.push(r.offset);
  t.same(seen, [0, 10, 20, 30, 50, 60, 70, 80, 90], 'every other batch is served');
  t.match(warnings.join('\n'), /records 40\.\.49 are damaged/);
  await again.close();
});
