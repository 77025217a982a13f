// The metadata store (issue 11): definitions as an append-only log of changes plus a snapshot,
// group-committed, replayed at startup, tolerant of a torn tail, reporting (not hiding) damage in
// the middle, naming the file when one is garbage; compaction across restarts.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MetadataStore } from '../../src/store/metadata-store';
import { tempDir } from '../helpers/broker';

function open(dir: string, opts: { compactMinBytes?: number } = {}) {
  const warnings: string[] = [];
  const s = MetadataStore.open(dir, { ...opts, warn: (m) => warnings.push(m), error: (m) => warnings.push(m) });
  return { s, warnings };
}

function dump(s: MetadataStore): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const k of s.kinds().sort()) {
    out[k] = {};
    for (const key of s.keys(k)) out[k][key] = JSON.parse(s.valueJson(k, key)!);
  }
  return out;
}

const logFiles = (dir: string) => fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort();

// Where a log file's records end: the file itself runs on, zero-filled (preallocated).
function dataEnd(file: string): number {
  const b = fs.readFileSync(file);
  let n = b.length;
  while (n > 0 && b[n - 1] === 0) n--;
  return n;
}

t.test('changes survive a reopen; deletes too; a put of the same value writes nothing', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  t.ok(s.fresh);
  s.put('queues', '["/","a"]', { name: 'a', arguments: { 'x-max-length': 5 } });
  s.put('queues', '["/","b"]', { name: 'b' });
  s.put('bindings', 'k1', { source: 'x', destination: 'a' });
  s.delete('queues', '["/","b"]');
  const seq = s.seq;
  t.notOk(s.put('queues', '["/","a"]', { name: 'a', arguments: { 'x-max-length': 5 } }), 'unchanged');
  t.equal(s.seq, seq, 'no record for an unchanged value');
  await s.whenSynced();
  t.equal(s.syncedSeq, s.seq);
  await s.close();
  const { s: s2 } = open(dir);
  t.notOk(s2.fresh);
  t.same(dump(s2), { bindings: { k1: { source: 'x', destination: 'a' } }, queues: { '["/","a"]': { name: 'a', arguments: { 'x-max-length': 5 } } } });
  await s2.close();
});

t.test('group commit: a burst of changes is one or a few fdatasyncs, and whenSynced covers them all', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  const waits: Array<Promise<void> | null> = [];
  for (let i = 0; i < 2000; i++) { s.put('queues', `q${i}`, { name: `q${i}` }); waits.push(s.whenSynced()); }
  const distinct = new Set(waits.filter((w) => w !== null));
  t.ok(distinct.size <= 2, `${distinct.size} rounds for 2000 changes made in one go`);
  await Promise.all(waits);
  t.equal(s.syncedSeq, s.seq);
  // The cost of a change does not grow with the number of entries: each is one record.
  const before = dataEnd(path.join(dir, logFiles(dir)[0]));
  s.put('queues', 'q-next', { name: 'q-next' });
  await s.whenSynced();
  const after = dataEnd(path.join(dir, logFiles(dir)[0]));
  t.ok(after - before < 100, `one more queue among 2,000 added ${after - before} bytes`);
  await s.close();
});

t.test('a torn tail is cut off, with the file named; everything before it is kept', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  for (let i = 0; i < 10; i++) s.put('queues', `q${i}`, { name: `q${i}`, pad: 'p'.repeat(50) });
  await s.close();
  const file = path.join(dir, logFiles(dir)[0]);
  fs.truncateSync(file, dataEnd(file) - 20); // the last record half written
  const { s: s2, warnings } = open(dir);
  t.same([...s2.keys('queues')], ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8']);
  t.match(warnings.join('\n'), new RegExp(`metadata log ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: torn tail of \\d+ bytes at byte \\d+ cut off`));
  t.equal(s2.damageNote, null, 'a torn tail is not damage');
  s2.put('queues', 'q10', { name: 'q10' });
  await s2.close();
  const { s: s3, warnings: w3 } = open(dir);
  t.same([...s3.keys('queues')], ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8', 'q10'], 'appending continues after the cut');
  t.same(w3, []);
  await s3.close();
});

t.test('the log file is extended ahead of its records; its zero tail is no torn tail', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  s.put('queues', 'q0', { name: 'q0' });
  await s.whenSynced();
  const file = path.join(dir, logFiles(dir)[0]);
  const allocated = fs.statSync(file).size;
  t.ok(allocated >= 1024 * 1024, `the first round made the file ${allocated} bytes long`);
  for (let i = 1; i < 100; i++) { s.put('queues', `q${i}`, { name: `q${i}` }); await s.whenSynced(); }
  t.equal(fs.statSync(file).size, allocated, '99 more rounds wrote into the zeros: the file did not grow');
  const end = dataEnd(file);
  await s.close();
  const { s: s2, warnings } = open(dir);
  t.same(warnings, [], 'the zeros are not reported');
  t.equal(s2.size, 100);
  t.equal(fs.statSync(file).size, end, 'the start cut the file to its records');
  s2.put('queues', 'q100', { name: 'q100' });
  await s2.close();
  const { s: s3, warnings: w3 } = open(dir);
  t.same(w3, []);
  t.equal(s3.size, 101, 'appending continued after the records, not after the zeros');
  await s3.close();
});

t.test('a record torn in the preallocated zeros is a torn tail (reported, cut off)', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  for (let i = 0; i < 10; i++) { s.put('queues', `q${i}`, { name: `q${i}`, pad: 'p'.repeat(50) }); await s.whenSynced(); }
  await s.close();
  const file = path.join(dir, logFiles(dir)[0]);
  const end = dataEnd(file);
  const fd = fs.openSync(file, 'r+');
  fs.writeSync(fd, Buffer.alloc(30), 0, 30, end - 30); // the last record's end never reached the disk
  fs.closeSync(fd);
  const { s: s2, warnings } = open(dir);
  t.same([...s2.keys('queues')], ['q0', 'q1', 'q2', 'q3', 'q4', 'q5', 'q6', 'q7', 'q8']);
  t.match(warnings.join('\n'), /torn tail of \d+ bytes at byte \d+ cut off/, 'reported as torn');
  t.ok(fs.statSync(file).size < end, 'cut off');
  await s2.close();
});

t.test('a damaged record in the middle is skipped and reported; the records after it are read', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  for (let i = 0; i < 10; i++) s.put('queues', `q${i}`, { name: `q${i}`, pad: 'p'.repeat(50) });
  await s.close();
  const file = path.join(dir, logFiles(dir)[0]);
  const b = fs.readFileSync(file);
  const at = b.indexOf('"q4"');
  b[at + 1] ^= 0xff; // inside q4's record
  fs.writeFileSync(file, b);
  const { s: s2, warnings } = open(dir);
  t.same([...s2.keys('queues')], ['q0', 'q1', 'q2', 'q3', 'q5', 'q6', 'q7', 'q8', 'q9'], 'only q4 is lost');
  t.match(warnings.join('\n'), /metadata log .*\.log: damaged record\(s\) at bytes \d+\.\.\d+ skipped; the changes in them are lost/);
  t.match(s2.damageNote, /damaged part\(s\) of the metadata store were skipped/, 'noted in DAMAGED');
  await s2.close();
  const { s: s3 } = open(dir);
  t.match(s3.damageNote, /skipped/, 'the note stays until an operator removes it');
  await s3.close();
});

t.test('garbage and truncated files are named in the error', async (t) => {
  const dir = tempDir();
  const { s } = open(dir, { compactMinBytes: 1 });
  for (let i = 0; i < 20; i++) s.put('queues', `q${i}`, { name: `q${i}` });
  await s.whenSynced();
  await s.close();
  const snap = path.join(dir, 'snapshot');
  t.ok(fs.existsSync(snap), 'compaction wrote a snapshot');
  const good = fs.readFileSync(snap);
  fs.writeFileSync(snap, Buffer.from('this is not a snapshot at all, just some text'));
  t.throws(() => MetadataStore.open(dir), new RegExp(`metadata snapshot ${snap}`));
  fs.writeFileSync(snap, good.subarray(0, good.length - 7));
  t.throws(() => MetadataStore.open(dir), new RegExp(`metadata snapshot ${snap} is truncated`));
  fs.writeFileSync(snap, good);

  const dir2 = tempDir();
  fs.writeFileSync(path.join(dir2, '00000000000000000000.log'), 'garbage garbage garbage garbage garbage');
  fs.writeFileSync(path.join(dir2, '00000000000000000001.log'), '');
  t.throws(() => MetadataStore.open(dir2), /metadata log .*00000000000000000000\.log \(39 bytes\) holds no readable record/);
});

t.test('compaction: snapshot + new log, old logs deleted, same state after a restart', async (t) => {
  const dir = tempDir();
  const { s } = open(dir, { compactMinBytes: 4096 });
  const expect: Record<string, unknown> = {};
  for (let i = 0; i < 3000; i++) {
    const k = `q${i % 700}`;
    if (i % 5 === 4) { s.delete('queues', k); delete expect[k]; } else { s.put('queues', k, { name: k, i }); expect[k] = { name: k, i }; }
    if (i % 100 === 0) await s.whenSynced();
  }
  await s.whenSynced();
  t.ok(s.compactions >= 2, `${s.compactions} compactions`);
  await s.close();
  t.ok(logFiles(dir).length <= 2, `logs left: ${logFiles(dir).join(', ')}`);
  const { s: s2, warnings } = open(dir, { compactMinBytes: 4096 });
  t.same(warnings, []);
  t.same(dump(s2).queues ?? {}, expect, 'the same entries after a restart');
  // A crash between switching logs and renaming the snapshot: the older snapshot plus every log.
  s2.put('queues', 'late', { name: 'late' });
  await s2.close();
  const { s: s3 } = open(dir, { compactMinBytes: 4096 });
  t.same(dump(s3).queues, { ...expect, late: { name: 'late' } });
  await s3.close();
});

t.test('a crash in the middle of a compaction loses nothing', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  for (let i = 0; i < 50; i++) s.put('queues', `q${i}`, { name: `q${i}` });
  await s.whenSynced();
  // Compaction switched to log 1 and wrote some changes there, but the new snapshot never got
  // its name (only snapshot.tmp exists).
  const gen0 = path.join(dir, logFiles(dir)[0]);
  await s.close();
  const { s: s2 } = open(dir);
  const data = (await import('../../src/store/metadata-snapshot')).encodeSnapshot(1, 0, []);
  fs.writeFileSync(path.join(dir, 'snapshot.tmp'), data);
  s2.put('queues', 'in-old', { name: 'in-old' });
  await s2.close();
  // Hand-made log 1 with one more change, as the switched log would hold it.
  const { encodeMetadataRecord } = await import('../../src/store/metadata-record');
  const { logHeader } = await import('../../src/store/metadata-log');
  const { putPayload } = await import('../../src/store/metadata-snapshot');
  fs.writeFileSync(path.join(dir, '00000000000000000001.log'), Buffer.concat([
    encodeMetadataRecord(logHeader(1)), encodeMetadataRecord(putPayload('queues', 'in-new', '{"name":"in-new"}'))]));
  const { s: s3, warnings } = open(dir);
  t.same(warnings, []);
  t.equal([...s3.keys('queues')].length, 52, 'old log and new log both replayed');
  t.notOk(fs.existsSync(path.join(dir, 'snapshot.tmp')), 'the unfinished snapshot is removed');
  t.ok(fs.existsSync(gen0));
  await s3.close();
});

t.test('read-only open (warren log, beside a running broker) reads and changes nothing', async (t) => {
  const dir = tempDir();
  const { s } = open(dir);
  s.put('queues', 'a', { name: 'a' });
  s.put('queues', 'b', { name: 'b' });
  await s.whenSynced();
  const file = path.join(dir, logFiles(dir)[0]);
  fs.appendFileSync(file, Buffer.from([9, 0, 0, 0, 1, 2])); // a write in progress
  const before = fs.readdirSync(dir).map((n) => [n, fs.statSync(path.join(dir, n)).size]);
  const ro = MetadataStore.openReadOnly(dir);
  t.same([...ro.keys('queues')], ['a', 'b']);
  t.throws(() => ro.put('queues', 'c', {}), /closed/);
  t.same(fs.readdirSync(dir).map((n) => [n, fs.statSync(path.join(dir, n)).size]), before, 'no file touched');
  await s.close();
});
