import t, { type Test } from 'tap';
import * as fs from 'fs';
import fsMutable from 'fs'; // the module object itself, for patching fdatasync/readSync
import * as path from 'path';
import { SegmentedLog, storeStats, type LogOptions, type LogRecordInput } from '../../src/store';
import { setSyncFnForTesting } from '../../src/store/group-commit';
import { diffRecord, payloadFor, segmentFiles, tempDir } from '../fixtures/store-helpers';

function rec(body: string, extra: Partial<LogRecordInput> = {}): LogRecordInput {
  return { props: Buffer.alloc(0), body: Buffer.from(body), ...extra };
}

/** fixed-size records (16 B body, no props/envelope): 56 framed bytes */
function fixed(i: number): LogRecordInput {
  return { timestamp: 1000 + i, props: Buffer.alloc(0), body: Buffer.from(String(i).padStart(16, '0')) };
}

function cleanup(t: Test, dir: string): void {
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
}

t.test('round trip: from the tail cache (same instance) and from disk', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir);
  t.equal(log.nextOffset, 0);
  t.equal(log.startOffset, 0);
  const inputs: LogRecordInput[] = [];
  for (let i = 0; i < 200; i++) {
    const r = payloadFor(i);
    inputs.push(r);
    t.equal(log.append(r), i);
  }
  t.equal(log.liveCount, 200);
  t.equal(log.read(5), inputs[5], 'unflushed record: the appended instance');
  t.equal((inputs[5] as { offset?: number }).offset, 5, 'instance stamped with its offset');
  log.flush();
  t.equal(log.read(199), inputs[199], 'cached record after flush: same instance');
  t.equal(log.read(200), undefined, 'past the end');
  t.equal(log.read(-1), undefined);
  const none = SegmentedLog.open(tempDir());
  t.teardown(() => none.destroy());
  t.equal(none.read(0), undefined, 'empty log');
  await log.close();

  const again = SegmentedLog.open(dir);
  t.equal(again.nextOffset, 200);
  t.equal(again.liveCount, 200);
  for (let i = 0; i < 200; i++) {
    const got = again.read(i);
    t.not(got, inputs[i]);
    const d = diffRecord(got, inputs[i], i);
    if (d) t.fail(d);
  }
  const defaults = again.read(again.append(rec('x')));
  t.equal(defaults?.flags, 0);
  t.ok(Math.abs((defaults?.timestamp ?? 0) - Date.now()) < 5000, 'default timestamp is now');
  t.equal(defaults?.envelope, undefined);
  t.pass('all 200 records byte-identical after reopen');
  await again.close();
});

t.test('tail cache: evicts flushed records beyond its budget, never unflushed ones', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir, { tailCacheBytes: 0, writeBufferBytes: 1 << 20 });
  const a = rec('first');
  log.append(a);
  t.equal(log.read(0), a, 'unflushed record is served from memory even with a zero cache');
  log.flush();
  const fromDisk = log.read(0);
  t.not(fromDisk, a, 'after flush, a zero-budget cache no longer holds it');
  t.equal(fromDisk?.body.toString(), 'first');
  await log.close();

  const dir2 = tempDir();
  cleanup(t, dir2);
  const big = SegmentedLog.open(dir2, { tailCacheBytes: 10_000 });
  const objs = [];
  for (let i = 0; i < 1000; i++) objs.push(big.append(fixed(i)) >= 0 ? fixed(i) : fixed(i));
  big.flush();
  const last = fixed(1000);
  big.append(last);
  big.flush();
  t.equal(big.read(1000), last, 'recent record cached');
  t.not(big.read(0), undefined);
  t.equal(big.read(0)?.body.toString(), String(0).padStart(16, '0'), 'old record read back from disk');
  await big.close();
});

t.test('tail cache: records a cursor has read leave it once flushed, and read back from disk', async (t) => {
  for (const dropReadFromCache of [true, false]) {
    const dir = tempDir();
    cleanup(t, dir);
    const log = SegmentedLog.open(dir, { dropReadFromCache, writeBufferBytes: 1 << 20 });
    const ins: LogRecordInput[] = [];
    for (let i = 0; i < 10; i++) { ins.push(fixed(i)); log.append(ins[i]); }
    const cur = log.cursor(0);
    for (let i = 0; i < 5; i++) t.equal(cur.next(), ins[i], 'the cursor gets the cached instance');
    t.equal(log.read(2), ins[2], 'not flushed yet: still the cached instance');
    log.flush();
    const again = log.read(2);
    if (dropReadFromCache) t.not(again, ins[2], 'read and flushed: gone from the cache');
    else t.equal(again, ins[2], 'kept when the log has many readers');
    t.equal(again?.body.toString(), String(2).padStart(16, '0'), 'the record reads back intact (a requeue)');
    t.equal(log.read(7), ins[7], 'records the cursor has not reached stay cached');
    t.equal(cur.next(), ins[5], 'the cursor goes on from the cache');
    await log.close();
  }
});

t.test('segment roll and index lookups at every boundary', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  // 56-byte records; 1000-byte segments hold 17 records; an index entry every 200 bytes = every 4 records
  const opts: LogOptions = { segmentBytes: 1000, indexIntervalBytes: 200, tailCacheBytes: 0 };
  const log = SegmentedLog.open(dir, opts);
  const N = 17 * 6 + 5;
  for (let i = 0; i < N; i++) log.append(fixed(i));
  log.flush();
  const stats = log.segments();
  t.equal(stats.length, 7, 'six full segments plus the open one');
  t.same(
    stats.map((s) => [s.baseOffset, s.nextOffset, s.bytes]),
    [0, 1, 2, 3, 4, 5, 6].map((k) => [17 * k, Math.min(17 * (k + 1), N), (Math.min(17 * (k + 1), N) - 17 * k) * 56]),
  );
  t.same(segmentFiles(dir), stats.map((s) => String(s.baseOffset).padStart(20, '0') + '.log'), '20-digit names');
  t.equal(stats[0].oldestTimestamp, 1000);
  t.equal(stats[1].oldestTimestamp, 1017);

  // the .idx of the first segment: entries for records at byte 224 (rel 4), 448 (rel 8), 672 (rel 12), 896 (rel 16)
  const idx = fs.readFileSync(path.join(dir, '00000000000000000000.idx'));
  const entries: number[][] = [];
  for (let p = 0; p < idx.length; p += 8) entries.push([idx.readUInt32LE(p), idx.readUInt32LE(p + 4)]);
  t.same(entries, [[4, 224], [8, 448], [12, 672], [16, 896]], 'sparse index entries');

  const check = (l: SegmentedLog, label: string): void => {
    const offsets = new Set<number>();
    for (const s of stats) {
      for (const rel of [0, 1, 3, 4, 5, 7, 8, 9, 11, 12, 13, 15, 16]) {
        if (s.baseOffset + rel < s.nextOffset) offsets.add(s.baseOffset + rel);
      }
      offsets.add(s.nextOffset - 1);
    }
    let bad = 0;
    for (const o of offsets) {
      const d = diffRecord(l.read(o), fixed(o), o);
      if (d) {
        bad++;
        t.fail(`${label}: ${d}`);
      }
    }
    // and in reverse / random order (no reliance on a sequential read window)
    for (let o = N - 1; o >= 0; o -= 3) if (diffRecord(l.read(o), fixed(o), o)) bad++;
    t.equal(bad, 0, `${label}: every boundary read correct (${offsets.size} offsets)`);
    t.equal(l.read(N), undefined);
  };
  check(log, 'live');
  await log.close();

  const reopened = SegmentedLog.open(dir, opts);
  check(reopened, 'reopened');
  await reopened.close();

  // indexes are rebuilt when missing or short, identically
  const before = segmentFiles(dir, '.idx').map((n) => fs.readFileSync(path.join(dir, n)));
  fs.unlinkSync(path.join(dir, '00000000000000000000.idx'));
  fs.truncateSync(path.join(dir, '00000000000000000017.idx'), 12);
  fs.truncateSync(path.join(dir, '00000000000000000102.idx'), 0);
  const rebuilt = SegmentedLog.open(dir, opts);
  check(rebuilt, 'rebuilt index');
  await rebuilt.close();
  const after = segmentFiles(dir, '.idx').map((n) => fs.readFileSync(path.join(dir, n)));
  t.same(after, before, 'rebuilt .idx files equal the originals');
});

t.test('cursor: every record in order, acked ones included, across segments, with seek', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir, { segmentBytes: 2000, tailCacheBytes: 3000 });
  const N = 500;
  for (let i = 0; i < N; i++) log.append(payloadFor(i));
  log.ack(3);
  const c = log.cursor(0);
  let n = 0;
  for (let r = c.next(); r; r = c.next()) {
    const d = diffRecord(r, payloadFor(n), n);
    if (d) t.fail(d);
    n++;
  }
  t.equal(n, N, 'all records including the acked one');
  t.equal(c.position, N);
  t.equal(c.next(), undefined, 'at the end');
  log.append(payloadFor(N));
  t.equal(c.next()?.offset, N, 'a cursor at the end sees new appends');
  c.seek(250);
  t.equal(c.next()?.offset, 250);
  t.equal(c.next()?.offset, 251);
  c.seek(17);
  t.equal(c.next()?.offset, 17);
  t.equal(log.cursor(N - 1).next()?.offset, N - 1);
  await log.close();
});

t.test('acks, liveCount, segment deletion; cursor and read skip deleted segments', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const opts: LogOptions = { segmentBytes: 560, tailCacheBytes: 0 }; // 10 records of 56 B per segment
  const log = SegmentedLog.open(dir, opts);
  for (let i = 0; i < 45; i++) log.append(fixed(i));
  t.equal(log.segments().length, 5);
  t.equal(log.liveCount, 45);
  t.equal(log.ack(45), false, 'ack past the end');
  t.equal(log.ack(-1), false);
  t.equal(log.ack(12), true);
  t.equal(log.ack(12), false, 'already acked');
  t.ok(log.isAcked(12));
  t.notOk(log.isAcked(13));
  t.equal(log.liveCount, 44);
  t.equal(log.segments()[1].liveCount, 9);
  // ack all of segment 1 (10..19): it is deleted with its files
  for (let i = 10; i < 20; i++) log.ack(i);
  t.equal(log.liveCount, 35);
  t.same(log.segments().map((s) => s.baseOffset), [0, 20, 30, 40]);
  t.notOk(fs.existsSync(path.join(dir, '00000000000000000010.log')));
  t.notOk(fs.existsSync(path.join(dir, '00000000000000000010.idx')));
  t.notOk(fs.existsSync(path.join(dir, '00000000000000000010.ack')));
  t.equal(log.read(15), undefined, 'deleted segment: undefined');
  t.ok(log.isAcked(15), 'offsets of a deleted segment count as acked');
  t.equal(log.ack(15), false);
  const c = log.cursor(8);
  const seen: number[] = [];
  while (seen.length < 4) seen.push(c.next()?.offset ?? -1);
  t.same(seen, [8, 9, 20, 21], 'cursor jumps over the deleted segment');
  // the open segment is never deleted, even when fully acked
  for (let i = 40; i < 45; i++) log.ack(i);
  t.equal(log.segments().at(-1)?.baseOffset, 40);
  t.equal(log.segments().at(-1)?.liveCount, 0);
  // ... but once it rolls and is complete, it goes
  for (let i = 45; i < 50; i++) log.ack(log.append(fixed(i)));
  log.append(fixed(50));
  t.same(log.segments().map((s) => s.baseOffset), [0, 20, 30, 50], 'rolled fully-acked segment deleted');
  // acking the first segment moves startOffset
  for (let i = 0; i < 10; i++) log.ack(i);
  t.equal(log.startOffset, 20);
  t.equal(c.position, 22);
  const c0 = log.cursor(0);
  t.equal(c0.next()?.offset, 20, 'cursor below startOffset jumps to it');
  t.equal(log.liveCount, 21);
  await log.close();

  // acks survive a restart; fully acked segments found at open are deleted
  const again = SegmentedLog.open(dir, opts);
  t.equal(again.liveCount, 21);
  t.equal(again.startOffset, 20);
  t.ok(again.isAcked(12));
  t.notOk(again.isAcked(21));
  t.ok(again.isAcked(44));
  t.notOk(again.isAcked(50));
  t.equal(again.nextOffset, 51);
  for (let i = 20; i < 30; i++) again.ack(i);
  t.equal(again.startOffset, 30);
  await again.close();
});

t.test('nextUnacked agrees with isAcked: runs, bitmap bytes, deleted segments, after a restart', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const opts: LogOptions = { segmentBytes: 560 * 4, tailCacheBytes: 0 }; // 40 records of 56 B per segment
  const log = SegmentedLog.open(dir, opts);
  const N = 205;
  for (let i = 0; i < N; i++) log.append(fixed(i));
  // a fully acked segment (40..79, deleted), runs crossing bitmap bytes and segments, scattered acks
  const acked = new Set<number>();
  const ack = (i: number): void => { log.ack(i); acked.add(i); };
  for (let i = 40; i < 80; i++) ack(i);
  for (let i = 3; i < 29; i++) ack(i);
  for (let i = 100; i < 137; i++) ack(i);
  for (let i = 150; i < N; i += 3) ack(i);
  ack(204);
  const check = (l: SegmentedLog, what: string): void => {
    let bad = 0;
    for (let from = -2; from <= N + 2; from++) {
      let want = Math.max(from, l.startOffset);
      while (want < l.nextOffset && l.isAcked(want)) want++;
      if (l.nextUnacked(from) !== want) {
        if (bad++ < 5) t.fail(`${what}: nextUnacked(${from}) = ${l.nextUnacked(from)}, expected ${want}`);
      }
    }
    t.equal(bad, 0, `${what}: every start position`);
  };
  t.same(log.segments().map((s) => s.baseOffset), [0, 80, 120, 160, 200]);
  check(log, 'live');
  t.equal(log.nextUnacked(40), 80, 'jumps over the deleted segment');
  t.equal(log.nextUnacked(100), 137, 'run across a segment boundary');
  await log.close();
  const again = SegmentedLog.open(dir, opts);
  check(again, 'after a restart');
  for (let i = 0; i < N; i++) if (!again.isAcked(i)) again.ack(i);
  t.equal(again.nextUnacked(0), N, 'everything acked: nextOffset');
  await again.close();
});

t.test('ack file entries past the data are dropped at recovery', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const warnings: string[] = [];
  const log = SegmentedLog.open(dir);
  for (let i = 0; i < 10; i++) log.append(fixed(i));
  log.flush();
  await log.close();
  // a crash left acks for records 10..12 that never reached the data (and a torn entry)
  const ack = Buffer.alloc(4 * 4 + 2);
  ack.writeUInt32LE(2, 0);
  ack.writeUInt32LE(10, 4);
  ack.writeUInt32LE(12, 8);
  ack.writeUInt32LE(5, 12);
  fs.writeFileSync(path.join(dir, '00000000000000000000.ack'), ack);
  fs.unlinkSync(path.join(dir, 'clean-shutdown'));
  const again = SegmentedLog.open(dir, { onWarning: (m) => warnings.push(m) });
  t.equal(again.liveCount, 8);
  t.ok(again.isAcked(2));
  t.ok(again.isAcked(5));
  t.match(warnings.join('\n'), /00000000000000000000\.ack: dropped 2 ack entries past the data .*2 torn bytes/);
  t.equal(fs.readFileSync(path.join(dir, '00000000000000000000.ack')).length, 8, 'ack file rewritten');
  // the new records 10 and 12 are not acked by the stale entries
  again.append(fixed(10));
  again.append(fixed(11));
  again.append(fixed(12));
  await again.close();
  const third = SegmentedLog.open(dir);
  t.notOk(third.isAcked(10));
  t.notOk(third.isAcked(12));
  t.equal(third.liveCount, 11);
  await third.close();
});

t.test('clean restart scans nothing; unclean restart scans from the recovery point', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const opts = { segmentBytes: 1 << 20 };
  const log = SegmentedLog.open(dir, opts);
  const N = 80_000; // 4.27 MiB in 56-byte records: 4 full segments + an open one
  for (let i = 0; i < N; i++) log.append(fixed(i));
  await log.close();
  const dataBytes = N * 56;
  t.ok(fs.existsSync(path.join(dir, 'clean-shutdown')));
  const rp = JSON.parse(fs.readFileSync(path.join(dir, 'recovery-point'), 'utf8'));
  const openBase = log.segments().at(-1)?.baseOffset ?? -1;
  t.equal(rp.segment, openBase);
  t.equal(rp.position, (N - openBase) * 56);

  const measure = (fn: () => SegmentedLog): [SegmentedLog, number] => {
    let total = 0;
    const origRead = fsMutable.readSync;
    (fsMutable as { readSync: unknown }).readSync = (...a: unknown[]) => {
      const n = (origRead as (...x: unknown[]) => number)(...a);
      total += n;
      return n;
    };
    try {
      return [fn(), total];
    } finally {
      (fsMutable as { readSync: unknown }).readSync = origRead;
    }
  };
  const [again, cleanBytes] = measure(() => SegmentedLog.open(dir, opts));
  t.ok(cleanBytes > 0, 'reads are being counted');
  t.ok(cleanBytes < dataBytes / 10, `clean open reads ${cleanBytes} of ${dataBytes} bytes (no scan)`);
  t.notOk(fs.existsSync(path.join(dir, 'clean-shutdown')), 'marker removed at open');
  t.equal(again.nextOffset, N);
  for (let i = N; i < N + 1000; i++) again.append(fixed(i));
  again.flush();
  again.crashForTesting();
  const warnings: string[] = [];
  const [third, uncleanBytes] = measure(() => SegmentedLog.open(dir, { ...opts, onWarning: (m) => warnings.push(m) }));
  const openBytes = (N + 1000 - openBase) * 56;
  t.ok(uncleanBytes >= openBytes, `unclean open CRC-scans the open segment (${uncleanBytes} >= ${openBytes})`);
  t.ok(uncleanBytes < openBytes + dataBytes / 10, 'but not the segments before the recovery point');
  t.equal(third.nextOffset, N + 1000, 'unclean stop without damage loses nothing flushed');
  t.same(warnings, []);
  await third.close();
});

t.test('tail corruption: truncated and garbage bytes recover to the last good record', async (t) => {
  const cases: Array<[string, (file: string, size: number) => void, number]> = [
    ['truncated mid-record', (f, size) => fs.truncateSync(f, size - 20), 29],
    ['truncated mid-header', (f, size) => fs.truncateSync(f, size - 56 + 7), 29],
    ['garbage appended', (f) => fs.appendFileSync(f, Buffer.from('garbage!garbage!garbage!garbage!garbage!garbage!')), 30],
    ['zeros appended', (f) => fs.appendFileSync(f, Buffer.alloc(4096)), 30],
    [
      'plausible header with a bad CRC appended',
      (f) => {
        const b = Buffer.alloc(56);
        b.writeUInt32LE(52, 0);
        b.writeUInt32LE(12345, 4);
        b.writeUInt32LE(30, 8);
        b[26] = 1;
        b.writeUInt32LE(16, 36);
        fs.appendFileSync(f, b);
      },
      30,
    ],
    [
      'last record body bit flip',
      (f, size) => {
        const fd = fs.openSync(f, 'r+');
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, size - 3);
        b[0] ^= 0x10;
        fs.writeSync(fd, b, 0, 1, size - 3);
        fs.closeSync(fd);
      },
      29,
    ],
  ];
  for (const [name, damage, expectNext] of cases) {
    const dir = tempDir();
    cleanup(t, dir);
    const opts = { segmentBytes: 56 * 20, indexIntervalBytes: 100 };
    const log = SegmentedLog.open(dir, opts);
    for (let i = 0; i < 30; i++) log.append(fixed(i));
    log.flush();
    log.ack(3);
    log.ack(25);
    log.ack(29);
    log.flush();
    log.crashForTesting();
    const file = path.join(dir, '00000000000000000020.log');
    const size = fs.statSync(file).size;
    damage(file, size);
    const damagedSize = fs.statSync(file).size;
    const warnings: string[] = [];
    const again = SegmentedLog.open(dir, { ...opts, onWarning: (m) => warnings.push(m) });
    t.equal(again.nextOffset, expectNext, `${name}: next offset`);
    const goodEnd = (expectNext - 20) * 56;
    t.equal(fs.statSync(file).size, goodEnd, `${name}: file truncated to the last good record`);
    t.match(
      warnings.join('\n'),
      new RegExp(`00000000000000000020\\.log: recovery truncated ${damagedSize - goodEnd} bytes at byte position ${goodEnd}`),
      `${name}: warning names file, position and bytes cut`,
    );
    for (let i = 0; i < expectNext; i++) {
      const d = diffRecord(again.read(i), fixed(i), i);
      if (d) t.fail(`${name}: ${d}`);
    }
    t.equal(again.liveCount, expectNext - (expectNext === 30 ? 3 : 2), `${name}: live count (ack of a cut record dropped)`);
    // new appends work and survive
    t.equal(again.append(fixed(expectNext)), expectNext);
    t.equal(again.append(fixed(expectNext + 1)), expectNext + 1);
    t.notOk(again.isAcked(expectNext), `${name}: new record ${expectNext} not acked by a stale entry`);
    await again.close();
    const third = SegmentedLog.open(dir, opts);
    t.equal(third.nextOffset, expectNext + 2);
    for (let i = 0; i < expectNext + 2; i++) {
      const d = diffRecord(third.read(i), fixed(i), i);
      if (d) t.fail(`${name} after reopen: ${d}`);
    }
    if (expectNext === 29) t.notOk(third.isAcked(29), `${name}: ack entry past the data was dropped`);
    await third.close();
  }
});

t.test('a bit flip in a closed segment costs that record only: never served, every other one is', async (t) => {
  for (const where of ['body', 'length', 'offset'] as const) {
    const dir = tempDir();
    cleanup(t, dir);
    const opts = { segmentBytes: 56 * 20, indexIntervalBytes: 100, tailCacheBytes: 0 };
    const log = SegmentedLog.open(dir, opts);
    for (let i = 0; i < 50; i++) log.append(fixed(i));
    await log.close();
    // record 7 of segment 0 starts at byte 392
    const file = path.join(dir, '00000000000000000000.log');
    const fd = fs.openSync(file, 'r+');
    const pos = 392 + (where === 'body' ? 45 : where === 'length' ? 1 : 8);
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, pos);
    b[0] ^= 0x04;
    fs.writeSync(fd, b, 0, 1, pos);
    fs.closeSync(fd);
    for (const clean of [true, false]) {
      // each variant on its own copy: the first open settles the damaged record for good
      const copy = tempDir();
      cleanup(t, copy);
      fs.cpSync(dir, copy, { recursive: true });
      if (!clean) fs.rmSync(path.join(copy, 'clean-shutdown'), { force: true });
      const warnings: string[] = [];
      const reopened = SegmentedLog.open(copy, { ...opts, onWarning: (m) => warnings.push(m) });
      t.equal(reopened.nextOffset, 50, `${where}: the log still opens`);
      const before = storeStats.corruptRecords;
      t.notOk(reopened.isAcked(7), 'not known to be damaged before it is read');
      t.equal(reopened.read(7), undefined, `${where} (${clean ? 'clean' : 'unclean'} open): the damaged record is not served`);
      t.equal(storeStats.corruptRecords, before + 1, 'counted once');
      t.match(warnings.join('\n'), /00000000000000000000\.log: record 7 is damaged at byte 392/, 'reported with segment, offset and position');
      t.ok(reopened.isAcked(7), 'settled: a queue never waits for it');
      t.equal(diffRecord(reopened.read(6), fixed(6), 6), null, 'neighbours before still readable');
      t.equal(diffRecord(reopened.read(8), fixed(8), 8), null, 'neighbours after still readable');
      t.equal(diffRecord(reopened.read(21), fixed(21), 21), null, 'other segments readable');
      const c = reopened.cursor(5);
      const seen: number[] = [];
      for (let r = c.next(); r !== undefined; r = c.next()) seen.push(r.offset);
      t.same(seen, [5, 6, ...Array.from({ length: 42 }, (_, k) => k + 8)], 'a cursor steps over the damaged record and serves every other one');
      t.equal(storeStats.corruptRecords, before + 1, 'and it is not counted twice');
      await reopened.close();
    }
  }
});

t.test('group commit: one fdatasync for a burst; calls during a sync join the next one', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir);
  const real = fs.fdatasync;
  const calls: Array<() => void> = [];
  let hold = false;
  setSyncFnForTesting((fd, cb) => {
    calls.push(() => real(fd, cb));
    if (!hold) calls[calls.length - 1]();
  });
  t.teardown(() => setSyncFnForTesting(null));
  const ps: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    log.append(fixed(i));
    ps.push(log.sync());
  }
  await Promise.all(ps);
  t.equal(calls.length, 1, '1000 waiters, one fdatasync');

  // hold the next fdatasync in flight
  hold = true;
  log.append(fixed(1000));
  let firstDone = false;
  const first = log.sync().then(() => {
    firstDone = true;
  });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(calls.length, 2, 'second round started');
  const joined: Promise<void>[] = [];
  let joinedDone = 0;
  for (let i = 0; i < 50; i++) {
    log.append(fixed(1001 + i));
    joined.push(log.sync().then(() => void joinedDone++));
  }
  await new Promise((r) => setTimeout(r, 20));
  t.equal(calls.length, 2, 'no new fdatasync while one is in flight');
  t.notOk(firstDone);
  calls[1]();
  await first;
  t.equal(joinedDone, 0, 'calls made during the in-flight sync did not resolve with it');
  await new Promise((r) => setImmediate(r));
  t.equal(calls.length, 3, 'exactly one more fdatasync for the 50 joined callers');
  calls[2]();
  await Promise.all(joined);
  t.equal(joinedDone, 50);
  hold = false;
  await log.sync();
  t.equal(calls.length, 3, 'nothing new appended: no fdatasync needed');
  await log.close();
});

t.test('sync covers a segment that rolled before the call', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir, { segmentBytes: 560 });
  const real = fs.fdatasync;
  const fds: number[] = [];
  setSyncFnForTesting((fd, cb) => {
    fds.push(fd);
    real(fd, cb);
  });
  t.teardown(() => setSyncFnForTesting(null));
  for (let i = 0; i < 15; i++) log.append(fixed(i));
  await log.sync();
  t.equal(new Set(fds).size, 2, 'both the rolled and the open segment were fdatasynced');
  await log.close();
  const rp = JSON.parse(fs.readFileSync(path.join(dir, 'recovery-point'), 'utf8'));
  t.equal(rp.segment, 10);
});

t.test('truncateAll and destroy', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir, { segmentBytes: 560 });
  for (let i = 0; i < 25; i++) log.append(fixed(i));
  log.truncateAll();
  t.equal(log.liveCount, 0);
  t.equal(log.startOffset, 25);
  t.equal(log.nextOffset, 25, 'offsets are not reused');
  t.equal(log.read(3), undefined);
  t.equal(log.append(fixed(25)), 25);
  await log.close();
  const again = SegmentedLog.open(dir);
  t.equal(again.nextOffset, 26);
  t.equal(again.liveCount, 1);
  t.equal(again.read(25)?.offset, 25);
  again.destroy();
  t.notOk(fs.existsSync(dir), 'destroy removes the directory');
  t.throws(() => again.append(fixed(0)));
  await t.rejects(again.sync());
});

t.test('closeSync, fsync:false and records larger than the write buffer', async (t) => {
  const dir = tempDir();
  cleanup(t, dir);
  const log = SegmentedLog.open(dir, { fsync: false, writeBufferBytes: 4096 });
  const big = { props: Buffer.alloc(10, 1), body: Buffer.alloc(100_000, 7), envelope: { a: 1 } };
  log.append(rec('small'));
  log.append(big);
  log.append(rec('after'));
  await log.sync();
  log.closeSync();
  const again = SegmentedLog.open(dir, { tailCacheBytes: 0 });
  t.equal(again.read(0)?.body.toString(), 'small');
  t.equal(again.read(1)?.body.length, 100_000);
  t.ok(again.read(1)?.body.equals(big.body));
  t.same(again.read(1)?.envelope, { a: 1 });
  t.equal(again.read(2)?.body.toString(), 'after');
  await again.close();
});
