// The log of a stream queue: chunks with a chunk index (positions, timestamps, summaries),
// readers sharing a cache, filtered readers that skip chunks unread, retention by whole
// segments, attach by time, and index recovery after a crash.
import t from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { StreamLog, type StreamLogOptions } from '../../src/store/stream-log';
import { storeStats } from '../../src/store';
import { tempDir } from '../fixtures/store-helpers';

const T0 = 1_700_000_000_000;
const flushed = () => new Promise((r) => setImmediate(r));

// chunk k: `count` messages of 100 bytes, summary byte = its "colour"
function chunk(k: number, count = 10): { props: Buffer; body: Buffer; summary: Buffer } {
  const body = Buffer.alloc(count * 100, k & 0xff);
  const props = Buffer.from([k % 20]);
  return { props, body, summary: Buffer.from([k % 20, 0, 0, 0]) };
}

function opts(extra: Partial<StreamLogOptions> = {}): StreamLogOptions {
  return {
    segmentBytes: 16 * 1024,
    summarySize: 4,
    summaryOf: (props) => Buffer.from([props[0], 0, 0, 0]),
    ...extra,
  };
}

function fill(sl: StreamLog, chunks: number, from = 0): number[] {
  const starts: number[] = [];
  for (let k = from; k < from + chunks; k++) {
    const c = chunk(k);
    starts.push(sl.append(c.props, c.body, 10, T0 + k * 1000, c.summary));
  }
  return starts;
}

t.test('chunks, readers, the shared cache, attach by time, last', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  let readable = 0;
  const sl = new StreamLog(dir, opts({ onReadable: () => readable++ }));
  const starts = fill(sl, 100);
  t.same(starts.slice(0, 3), [0, 10, 20]);
  t.equal(sl.readableEnd, 0, 'nothing readable before the write');
  t.equal(sl.reader(0).next(), undefined);
  await flushed();
  t.ok(readable > 0);
  t.equal(sl.readableEnd, 1000);
  t.ok(sl.segments().length > 5, 'several segments');
  t.equal(sl.lastChunkOffset, 990, "'last' is the newest chunk's first offset");

  const r = sl.reader(0);
  const seen: number[] = [];
  for (let c = r.next(); c !== undefined; c = r.next()) seen.push(c.offset);
  t.same(seen, starts, 'a reader from 0 gets every chunk in order');
  const mid = sl.reader(455).next();
  t.equal(mid?.offset, 450, 'a reader from inside a chunk starts with the chunk holding it');

  t.equal(sl.offsetAtTimestamp(T0 + 42_500), 430, 'attach by time: the first chunk at or after it');
  t.equal(sl.offsetAtTimestamp(T0 - 1), 0);
  t.equal(sl.offsetAtTimestamp(T0 + 10_000_000), 1000, 'after the newest chunk: the end');

  // many readers at one position read the file once
  const before = storeStats.bytesRead;
  const readers = [sl.reader(0), sl.reader(0), sl.reader(0)];
  for (let k = 0; k < 100; k++) for (const rd of readers) t.equal(rd.next()?.offset, k * 10);
  const read = storeStats.bytesRead - before;
  t.ok(read < sl.sizeBytes * 1.2, `three readers at one position read ${read} bytes of ${sl.sizeBytes}`);
  await sl.close();
});

t.test('a filtered reader skips chunks without reading them', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sl = new StreamLog(dir, opts({ segmentBytes: 1 << 20, cache: false }));
  fill(sl, 400);
  await flushed();
  await sl.close();
  const again = new StreamLog(dir, opts({ segmentBytes: 1 << 20, cache: false }));
  const before = storeStats.bytesRead;
  const fr = again.filteredReader(0, (s) => s[0] === 7);
  const got: number[] = [];
  for (let c = fr.next(); c !== undefined; c = fr.next()) got.push(c.props[0]);
  const read = storeStats.bytesRead - before;
  t.equal(got.length, 20, 'one chunk in 20 matches');
  t.ok(got.every((x) => x === 7), 'only matching chunks are read');
  t.equal(fr.skipped, 380);
  t.ok(read < again.sizeBytes * 0.1, `read ${read} of ${again.sizeBytes} bytes (${(100 * read / again.sizeBytes).toFixed(1)}%)`);
  await again.close();
});

t.test('retention deletes whole old segments, never the open one; readers move on', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sl = new StreamLog(dir, opts());
  fill(sl, 100);
  await flushed();
  const reader = sl.reader(0);
  reader.next();
  const n0 = sl.segments().length;
  const size0 = sl.sizeBytes;
  const gone = sl.applyRetention(size0 / 2, null);
  t.ok(gone > 0 && gone < n0, `${gone} of ${n0} segments deleted by size`);
  t.ok(sl.sizeBytes <= size0 / 2, 'the stream is within the size');
  t.ok(sl.startOffset > 0);
  t.equal(reader.next()?.offset, sl.startOffset, 'a reader behind the start continues at the start');
  // by age: everything older than the newest chunk minus 5 s
  const byAge = sl.applyRetention(null, 5000, T0 + 99_000);
  t.ok(byAge > 0);
  t.equal(sl.segments().length, 1, 'only the open segment is left ...');
  t.equal(sl.applyRetention(0, 0, T0 + 10_000_000), 0, '... and it is never deleted');
  const cix = fs.readdirSync(dir).filter((n) => n.endsWith('.cix'));
  t.equal(cix.length, 1, 'their chunk indexes went with them');
  t.ok(sl.offsetAtTimestamp(T0) >= sl.startOffset, 'attach by an old time: the start');
  await sl.close();
});

t.test('after a crash the chunk index is repaired from the log', async (t) => {
  const dir = tempDir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const sl = new StreamLog(dir, opts({ segmentBytes: 1 << 20 }));
  fill(sl, 50);
  await flushed();
  // the index of the open segment loses its tail (written lazily), the log keeps everything
  const cix = path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith('.cix')) as string);
  sl.crashForTesting();
  const full = fs.statSync(cix).size;
  fs.truncateSync(cix, full - 10 * 32 - 5);
  const again = new StreamLog(dir, opts({ segmentBytes: 1 << 20 }));
  t.equal(again.nextOffset, 500);
  const fr = again.filteredReader(0, (s) => s[0] === 3 || s[0] === 13);
  const got: number[] = [];
  for (let c = fr.next(); c !== undefined; c = fr.next()) got.push(c.offset);
  t.same(got, [30, 130, 230, 330, 430], 'entries rebuilt for the chunks the index had lost');
  t.equal(again.offsetAtTimestamp(T0 + 47_000), 470);
  again.crashForTesting();

  // a torn tail of the log: index entries past it are dropped
  const logFile = path.join(dir, '00000000000000000000.log');
  fs.truncateSync(logFile, fs.statSync(logFile).size - 500);
  const third = new StreamLog(dir, opts({ segmentBytes: 1 << 20 }));
  t.equal(third.nextOffset, 490, 'the torn chunk is gone');
  t.equal(third.lastChunkOffset, 480);
  const c = third.append(chunk(99).props, chunk(99).body, 10, T0 + 99_000, chunk(99).summary);
  t.equal(c, 490);
  await flushed();
  const fr3 = third.filteredReader(0, (s) => s[0] === 19);
  const got3: number[] = [];
  for (let x = fr3.next(); x !== undefined; x = fr3.next()) got3.push(x.offset);
  t.same(got3, [190, 390, 490], 'the index continues after the repaired tail');
  await third.close();
});
