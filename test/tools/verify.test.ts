// The read-only log verifier (src/store/verify.ts) on logs written by SegmentedLog with small
// segments: clean logs, damage in closed and open segments, torn tails, bad index and ack entries,
// and a log that is still open (or was left by a crash). Verify must never change a file.
import t, { type Test } from 'tap';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SegmentedLog } from '../../src/store';
import { scanLog, verifyLog, type LogReport, type ScannedRecord } from '../../src/store/verify';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'warren-verify-'));
}

const N = 100;

/** 100 records over 4 segments (32 + 32 + 32 + 4), every third acked, closed cleanly unless open. */
function makeLog(opts: { keepOpen?: boolean } = {}): { dir: string; log: SegmentedLog } {
  const dir = tempDir();
  const log = SegmentedLog.open(dir, { segmentBytes: 2000, indexIntervalBytes: 300, flushIntervalMs: 0 });
  for (let i = 0; i < N; i++) {
    log.append({ envelope: ['ex', `rk${i}`, null], flags: 1, props: Buffer.from([0x10, 0, 2]), body: Buffer.from(`hello ${String(i).padStart(3, '0')}`) });
  }
  for (let i = 0; i < N; i += 3) log.ack(i);
  if (opts.keepOpen) log.flush();
  else log.closeSync();
  return { dir, log };
}

function segments(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort();
}

/** Byte position of each record in a segment file, from the length fields. */
function positions(file: string): number[] {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  for (let p = 0; p + 4 <= b.length; p += b.readUInt32LE(p) + 4) out.push(p);
  return out;
}

function flip(file: string, pos: number): void {
  const b = fs.readFileSync(file);
  b[pos] ^= 0x5a;
  fs.writeFileSync(file, b);
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of fs.readdirSync(dir).sort()) {
    out[n] = crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, n))).digest('hex');
  }
  return out;
}

function errors(r: LogReport) {
  return r.problems.filter((p) => p.severity === 'error');
}

function cleanup(t: Test, dir: string): void {
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
}

t.test('a clean log verifies OK and is left untouched', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  t.equal(segments(dir).length, 4, 'four segments');
  const before = snapshot(dir);
  const r = verifyLog(dir);
  t.ok(r.ok);
  t.same(r.problems, []);
  t.equal(r.records, N);
  t.equal(r.acked, 34);
  t.equal(r.cleanShutdown, true);
  t.same(r.segments.map((s) => [s.base, s.nextOffset]), [[0, 32], [32, 64], [64, 96], [96, 100]]);
  t.ok(r.segments.slice(0, 3).every((s) => s.indexEntries > 0), 'closed segments have index entries, all checked');
  t.same(snapshot(dir), before, 'no file changed');
});

t.test('records are read back with their acked state; offset ranges skip segments', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const got: ScannedRecord[] = [];
  const it = scanLog(dir, { records: true, select: (o) => o >= 40 && o <= 70, offsetRange: { from: 40, to: 70 } });
  let segs = 0;
  for (const ev of it) {
    if (ev.kind === 'record') got.push(ev.record);
    if (ev.kind === 'segment') segs++;
  }
  t.equal(segs, 2, 'only the two segments holding 40..70 are read');
  t.same(got.map((r) => r.offset), Array.from({ length: 31 }, (_, i) => 40 + i));
  t.same(got[2].envelope, ['ex', 'rk42', null]);
  t.equal(got[2].body.toString(), 'hello 042');
  t.same(got.slice(0, 4).map((r) => r.acked), [false, false, true, false], '42 = 3 * 14 is acked');
  t.match(path.basename(got[0].file), '00000000000000000032.log');
});

t.test('a flipped byte in a closed segment: the record is named, the rest is still checked', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const seg = path.join(dir, '00000000000000000032.log');
  const pos = positions(seg);
  const target = 41 - 32;
  flip(seg, pos[target] + 45); // inside the payload
  const before = snapshot(dir);
  const r = verifyLog(dir);
  t.notOk(r.ok);
  const e = errors(r);
  t.equal(e.length, 1, 'exactly one problem');
  t.equal(e[0].file, seg);
  t.equal(e[0].position, pos[target]);
  t.equal(e[0].offset, 41);
  t.match(e[0].message, /CRC mismatch/);
  t.equal(r.records, N - 1, 'every other record is still verified');
  t.equal(r.badRecords, 1);
  t.same(snapshot(dir), before, 'verify changed nothing');
});

t.test('a damaged length field: the walk resynchronises on the next valid frame', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const seg = path.join(dir, '00000000000000000064.log');
  const pos = positions(seg);
  fs.writeFileSync(seg, Buffer.concat([fs.readFileSync(seg).subarray(0, pos[5]), Buffer.from([0xff, 0xff, 0xff, 0x7f]), fs.readFileSync(seg).subarray(pos[5] + 4)]));
  const r = verifyLog(dir);
  const e = errors(r);
  t.equal(e.length, 1);
  t.match(e[0], { kind: 'unreadable', position: pos[5], offset: 69 });
  t.match(e[0].message, /impossible record length .*resumed at offset 70/);
  t.equal(r.records, N - 1);
});

t.test('damage at the end of a closed segment is corruption; at the end of the newest one, a torn tail', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const closed = path.join(dir, '00000000000000000000.log');
  fs.truncateSync(closed, fs.statSync(closed).size - 10);
  const open = path.join(dir, '00000000000000000096.log');
  fs.truncateSync(open, fs.statSync(open).size - 7);
  const r = verifyLog(dir);
  const e = errors(r);
  t.equal(e.length, 1);
  t.match(e[0], { file: closed, offset: 31 });
  t.match(e[0].message, /records from offset 31 in this segment are lost \(up to 1 record: the next segment starts at offset 32\)/);
  const torn = r.problems.filter((p) => p.kind === 'torn-tail');
  t.equal(torn.length, 1);
  t.match(torn[0], { severity: 'warning', file: open, offset: 99 });
  t.match(torn[0].message, /would be truncated at recovery; last complete record is offset 98/);
});

t.test('a torn tail alone is not corruption, and zeros after the data are a torn tail too', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const open = path.join(dir, '00000000000000000096.log');
  fs.appendFileSync(open, Buffer.alloc(300));
  let r = verifyLog(dir);
  t.ok(r.ok);
  t.match(r.problems, [{ kind: 'torn-tail', severity: 'warning', position: fs.statSync(open).size - 300 }]);
  // a bad CRC in the middle of the newest segment (records after it) is corruption
  const { dir: dir2 } = makeLog();
  cleanup(t, dir2);
  const open2 = path.join(dir2, '00000000000000000096.log');
  flip(open2, positions(open2)[1] + 50);
  r = verifyLog(dir2);
  t.notOk(r.ok);
  t.match(errors(r), [{ kind: 'record', offset: 97, position: positions(open2)[1] }]);
});

t.test('index problems: an entry off a record start, a wrong relative offset, entries out of order', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const idx = path.join(dir, '00000000000000000032.idx');
  const b = fs.readFileSync(idx);
  t.ok(b.length >= 24, 'at least three entries');
  b.writeUInt32LE(b.readUInt32LE(4) + 3, 4); // entry 0: position off by 3
  b.writeUInt32LE(b.readUInt32LE(8) + 1, 8); // entry 1: relative offset off by one
  fs.writeFileSync(idx, b);
  let r = verifyLog(dir);
  let e = errors(r);
  t.equal(e.length, 2);
  t.match(e[0], { kind: 'index', file: idx, position: 0 });
  t.match(e[0].message, /not the start of a record/);
  t.match(e[1], { kind: 'index', file: idx, position: 8 });
  t.match(e[1].message, /says relative offset \d+ .* but the record there is offset \d+/);

  const { dir: dir2 } = makeLog();
  cleanup(t, dir2);
  const idx2 = path.join(dir2, '00000000000000000032.idx');
  const c = fs.readFileSync(idx2);
  fs.writeFileSync(idx2, Buffer.concat([c.subarray(8, 16), c.subarray(0, 8), c.subarray(16)]));
  r = verifyLog(dir2);
  e = errors(r);
  t.equal(e.length, 1, 'swapped entries: each points at its record, the order is wrong');
  t.match(e[0].message, /entry 1 .* does not come after entry 0/);
  // a torn index write is rebuilt by the broker: a warning
  fs.appendFileSync(idx2, Buffer.from([1, 2, 3]));
  t.match(verifyLog(dir2).problems.filter((p) => p.severity === 'warning'), [{ kind: 'index', message: /3 torn bytes/ }]);
});

t.test('ack entries past the data: corruption in a closed segment, dropped at recovery in the newest', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  const ackClosed = path.join(dir, '00000000000000000000.ack');
  const ackOpen = path.join(dir, '00000000000000000096.ack');
  const rel = Buffer.alloc(4);
  rel.writeUInt32LE(500);
  fs.appendFileSync(ackClosed, rel);
  fs.appendFileSync(ackOpen, Buffer.concat([rel, Buffer.from([7])]));
  const r = verifyLog(dir);
  t.match(errors(r), [{ kind: 'ack', file: ackClosed, offset: 500 }]);
  const warn = r.problems.filter((p) => p.severity === 'warning');
  t.equal(warn.length, 2);
  t.ok(warn.every((p) => p.file === ackOpen));
});

t.test('a log a writer still has open, and one left by a crash, verify without changes', async (t) => {
  const { dir, log } = makeLog({ keepOpen: true });
  cleanup(t, dir);
  const before = snapshot(dir);
  let r = verifyLog(dir);
  t.ok(r.ok, 'open log verifies');
  t.equal(r.records, N);
  t.equal(r.cleanShutdown, false);
  t.same(snapshot(dir), before);
  // a record appended but not yet flushed is simply not there; a half-written one is a torn tail
  log.append({ props: Buffer.alloc(0), body: Buffer.from('x') });
  log.crashForTesting();
  const open = path.join(dir, segments(dir).at(-1) as string);
  const frame = Buffer.from(fs.readFileSync(path.join(dir, '00000000000000000096.log')).subarray(0, 61));
  fs.appendFileSync(open, frame.subarray(0, 30)); // a write cut short by the crash
  const crashed = snapshot(dir);
  r = verifyLog(dir);
  t.ok(r.ok);
  t.match(r.problems, [{ kind: 'torn-tail', offset: 100 }]);
  t.same(snapshot(dir), crashed, 'verify changed nothing');
  // and recovery agrees: it truncates exactly the reported bytes
  const warnings: string[] = [];
  const reopened = SegmentedLog.open(dir, { onWarning: (m) => warnings.push(m) });
  t.equal(reopened.nextOffset, 100);
  reopened.closeSync();
  t.match(warnings.join('\n'), new RegExp(`truncated 30 bytes at byte position ${r.problems[0].position}`));
});

t.test('segments that overlap are corruption', async (t) => {
  const { dir } = makeLog();
  cleanup(t, dir);
  fs.copyFileSync(path.join(dir, '00000000000000000064.log'), path.join(dir, '00000000000000000060.log'));
  const r = verifyLog(dir);
  t.ok(errors(r).some((p) => p.kind === 'overlap'));
});
