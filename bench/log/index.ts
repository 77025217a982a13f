/*
 * Benchmark of the segmented log (issue 2), with a raw-fs reference measured in the same run on
 * the same filesystem (data/bench-tmp, deleted afterwards).
 *
 *   npm run bench:log                 full run (1 GiB recovery scan, 100M records for the RSS figure)
 *   npm run bench:log -- --quick      small sizes, for a smoke test (~30 s)
 *   flags: --records=N (count for the RSS test, default 100000000), --recovery-mib=N (default 1024),
 *          --dir=PATH (scratch directory, default <repo>/data/bench-tmp), --keep (do not delete it)
 *
 * Notes on what is measured:
 * - "no sync" appends and the raw write reference both end in the OS page cache (writeSync, no
 *   fsync): the ratio compares CPU + syscall cost per byte. MB/s of the log counts framed bytes
 *   (what is written to the file); payload MB/s is printed too.
 * - The raw read reference and the log's reads/recovery scan read files that are in the page cache
 *   (they were just written; dropping caches needs root), so both are CPU/memcpy-bound alike.
 * - Before each timed phase `sync` lets the kernel write back what earlier phases dirtied.
 * - A warm-up pass writes and deletes a file first: on fresh VMs the first touch of memory is
 *   several times slower, which would flatter whichever phase ran second.
 */
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { SegmentedLog, type LogRecordInput } from '../../src/store';

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const a = args.find((x) => x === `--${name}` || x.startsWith(`--${name}=`));
  if (a === undefined) return undefined;
  const eq = a.indexOf('=');
  return eq < 0 ? 'true' : a.slice(eq + 1);
};
const quick = flag('quick') !== undefined;
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const scratch = path.resolve(flag('dir') ?? path.join(repoRoot, 'data', 'bench-tmp'));
const RSS_RECORDS = Number(flag('records') ?? (quick ? 5_000_000 : 100_000_000));
const RECOVERY_MIB = Number(flag('recovery-mib') ?? (quick ? 256 : 1024));
const RAW_MIB = quick ? 256 : 1024;

const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => undefined);
const now = (): number => Number(process.hrtime.bigint()) / 1e9;
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (r: number): string => `${(r * 100).toFixed(0)}%`;

/** Let the kernel write back dirty pages of earlier phases, so they do not slow down the next one. */
function settle(): void {
  spawnSync('sync');
  gc();
}

function line(label: string, value: string, ratio?: string): void {
  console.log(`  ${label.padEnd(46)} ${value.padStart(30)}${ratio ? '   ' + ratio : ''}`);
}

// ---- RSS child mode ---------------------------------------------------------------------------

if (flag('rss-child') !== undefined) {
  const dir = flag('rss-child') as string;
  gc();
  gc();
  const base = process.memoryUsage().rss;
  const t0 = now();
  const log = SegmentedLog.open(dir);
  const openS = now() - t0;
  gc();
  gc();
  const after = process.memoryUsage().rss;
  console.log(JSON.stringify({ base, after, openS, next: log.nextOffset, live: log.liveCount, segments: log.segmentCount }));
  log.closeSync();
  process.exit(0);
}

// ---- raw reference --------------------------------------------------------------------------

function rawWrite(file: string, mib: number, chunk = MiB): number {
  settle();
  const b = Buffer.alloc(chunk, 0x5a);
  const fd = fs.openSync(file, 'w');
  const t0 = now();
  for (let p = 0; p < mib * MiB; p += chunk) fs.writeSync(fd, b, 0, chunk, p);
  const dt = now() - t0;
  fs.closeSync(fd);
  return (mib * MiB) / dt / MiB;
}

function rawDurableWrite(file: string, mib: number): number {
  settle();
  const b = Buffer.alloc(MiB, 0x5a);
  const fd = fs.openSync(file, 'w');
  const t0 = now();
  for (let p = 0; p < mib * MiB; p += MiB) fs.writeSync(fd, b, 0, MiB, p);
  fs.fdatasyncSync(fd);
  const dt = now() - t0;
  fs.closeSync(fd);
  return mib / dt;
}

function rawRead(file: string): number {
  const b = Buffer.allocUnsafe(MiB);
  const fd = fs.openSync(file, 'r');
  const t0 = now();
  let total = 0;
  for (;;) {
    const n = fs.readSync(fd, b, 0, MiB, total);
    if (n === 0) break;
    total += n;
  }
  const dt = now() - t0;
  fs.closeSync(fd);
  return total / dt / MiB;
}

async function rawFdatasync(file: string, size: number, ops: number): Promise<number> {
  const b = Buffer.alloc(size, 1);
  settle();
  const fd = fs.openSync(file, 'w');
  let pos = 0;
  const t0 = now();
  for (let i = 0; i < ops; i++) {
    fs.writeSync(fd, b, 0, size, pos);
    pos += size;
    await new Promise<void>((res, rej) => fs.fdatasync(fd, (e) => (e ? rej(e) : res())));
  }
  const dt = now() - t0;
  fs.closeSync(fd);
  return ops / dt;
}

// ---- log benchmarks ---------------------------------------------------------------------------

function recordOf(size: number): LogRecordInput {
  return { timestamp: 1_700_000_000_000, flags: 0, envelope: undefined, props: Buffer.alloc(0), body: Buffer.alloc(size, 0x61) };
}

function framed(size: number): number {
  return 40 + size;
}

function appendNoSync(dir: string, size: number, count: number): { rps: number; mbs: number; payloadMbs: number } {
  const log = SegmentedLog.open(dir, { fsync: false });
  const body = Buffer.alloc(size, 0x61);
  const props = Buffer.alloc(0);
  settle();
  const t0 = now();
  for (let i = 0; i < count; i++) log.append({ timestamp: 1_700_000_000_000, flags: 0, envelope: undefined, props, body });
  log.flush();
  const dt = now() - t0;
  log.closeSync();
  return { rps: count / dt, mbs: (count * framed(size)) / dt / MiB, payloadMbs: (count * size) / dt / MiB };
}

async function appendGroupCommit(dir: string, size: number, waiters: number, seconds: number): Promise<{ rps: number; syncs: number }> {
  const log = SegmentedLog.open(dir, { fsync: true });
  const body = Buffer.alloc(size, 0x62);
  const props = Buffer.alloc(0);
  let count = 0;
  let syncs = 0;
  const realSync = log.sync.bind(log);
  let lastRound: Promise<void> | null = null;
  log.sync = () => {
    const p = realSync();
    if (p !== lastRound) {
      lastRound = p;
      syncs++;
    }
    return p;
  };
  settle();
  const t0 = now();
  const deadline = t0 + seconds;
  const worker = async (): Promise<void> => {
    while (now() < deadline) {
      log.append({ timestamp: 1_700_000_000_000, flags: 0, envelope: undefined, props, body });
      await log.sync();
      count++;
    }
  };
  await Promise.all(Array.from({ length: waiters }, worker));
  const dt = now() - t0;
  await log.close();
  return { rps: count / dt, syncs };
}

async function appendSyncEach(dir: string, size: number, seconds: number): Promise<number> {
  const log = SegmentedLog.open(dir, { fsync: true });
  const rec = recordOf(size);
  let count = 0;
  settle();
  const t0 = now();
  while (now() - t0 < seconds) {
    log.append({ ...rec });
    await log.sync();
    count++;
  }
  const dt = now() - t0;
  await log.close();
  return count / dt;
}

function buildLog(dir: string, size: number, count: number, segmentBytes?: number): void {
  const log = SegmentedLog.open(dir, { fsync: false, tailCacheBytes: 0, segmentBytes });
  const body = Buffer.alloc(size, 0x63);
  const props = Buffer.alloc(0);
  for (let i = 0; i < count; i++) log.append({ timestamp: 1_700_000_000_000 + i, flags: 0, envelope: undefined, props, body });
  log.closeSync();
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((a, n) => a + (n.endsWith('.log') ? fs.statSync(path.join(dir, n)).size : 0), 0);
}

function sequentialRead(dir: string): { rps: number; mbs: number; count: number } {
  const log = SegmentedLog.open(dir, { tailCacheBytes: 0 });
  const bytes = dirBytes(dir);
  gc();
  const t0 = now();
  const c = log.cursor(0);
  let count = 0;
  while (c.next() !== undefined) count++;
  const dt = now() - t0;
  log.closeSync();
  return { rps: count / dt, mbs: bytes / dt / MiB, count };
}

function recoveryScan(dir: string): { mbs: number; seconds: number; bytes: number } {
  // force a full scan: no clean-shutdown marker, no recovery point
  fs.rmSync(path.join(dir, 'clean-shutdown'), { force: true });
  fs.rmSync(path.join(dir, 'recovery-point'), { force: true });
  const bytes = dirBytes(dir);
  settle();
  const t0 = now();
  const log = SegmentedLog.open(dir, { fsync: false, onProgress: (m) => console.log(`    ${m}`) });
  const dt = now() - t0;
  log.closeSync();
  return { mbs: bytes / dt / MiB, seconds: dt, bytes };
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.mkdirSync(scratch, { recursive: true });
  const started = now();
  console.log(`Warren segmented log benchmark${quick ? ' (--quick)' : ''}`);
  console.log(`  node ${process.version}, ${process.platform}, scratch dir ${scratch}`);
  const results: Array<{ name: string; ok: boolean; detail: string }> = [];

  // warm-up
  const rawFile = path.join(scratch, 'raw.dat');
  rawWrite(rawFile, RAW_MIB);
  fs.rmSync(rawFile);
  rawWrite(rawFile, RAW_MIB);
  fs.rmSync(rawFile);

  console.log(`\nRaw reference (plain fs, ${RAW_MIB} MiB, 1 MiB chunks)`);
  const w1 = rawWrite(rawFile, RAW_MIB);
  fs.rmSync(rawFile);
  const w2 = rawWrite(rawFile, RAW_MIB);
  const rawW = Math.max(w1, w2); // the better of two runs: the conservative reference for ratios
  const r1 = rawRead(rawFile);
  const r2 = rawRead(rawFile);
  const rawR = Math.max(r1, r2);
  fs.rmSync(rawFile);
  const rawDur = rawDurableWrite(rawFile, quick ? 128 : 512);
  fs.rmSync(rawFile);
  const fsyncOps = await rawFdatasync(rawFile, 1024, quick ? 200 : 1000);
  fs.rmSync(rawFile);
  line('sequential writeSync (page cache)', `${fmt(rawW)} MB/s`, `(runs: ${fmt(w1)}, ${fmt(w2)})`);
  line('sequential write + fdatasync at end (disk)', `${fmt(rawDur)} MB/s`);
  line('sequential readSync (page cache)', `${fmt(rawR)} MB/s`, `(runs: ${fmt(r1)}, ${fmt(r2)})`);
  line('write 1 KiB + fdatasync, one after another', `${fmt(fsyncOps)} ops/s`, `(${fmt(1000 / fsyncOps, 3)} ms each)`);

  console.log('\nAppends, no sync (default options: 256 KiB write buffer, 8 MiB tail cache)');
  const noSync: Record<number, { rps: number; mbs: number; payloadMbs: number }> = {};
  for (const [size, count] of [
    [16, quick ? 2_000_000 : 10_000_000],
    [1024, quick ? 200_000 : 1_000_000],
    [65536, quick ? 3_000 : 16_000],
  ] as const) {
    const d = path.join(scratch, `nosync-${size}`);
    const r = appendNoSync(d, size, count);
    noSync[size] = r;
    line(
      `${size} B x ${fmt(count)}`,
      `${fmt(r.rps)} rec/s ${fmt(r.mbs)} MB/s`,
      `${pct(r.mbs / rawW)} of raw write (payload ${fmt(r.payloadMbs)} MB/s)`,
    );
    if (size !== 1024) fs.rmSync(d, { recursive: true, force: true });
  }
  results.push({ name: '16 B records, no sync: >= 1,000,000 appends/s', ok: noSync[16].rps >= 1e6, detail: `${fmt(noSync[16].rps)}/s` });
  results.push({
    name: '1 KiB records, no sync: >= 80% of raw write MB/s',
    ok: noSync[1024].mbs >= 0.8 * rawW,
    detail: `${fmt(noSync[1024].mbs)} of ${fmt(rawW)} MB/s = ${pct(noSync[1024].mbs / rawW)}`,
  });

  console.log('\nAppends, group commit (1,000 concurrent waiters: append, await sync, repeat)');
  let gc1k = 0;
  for (const size of [16, 1024, 65536]) {
    const d = path.join(scratch, `group-${size}`);
    const r = await appendGroupCommit(d, size, 1000, quick ? 1.5 : 3);
    if (size === 1024) gc1k = r.rps;
    line(
      `${size} B`,
      `${fmt(r.rps)} synced rec/s`,
      `${fmt((r.rps * framed(size)) / MiB)} MB/s = ${pct((r.rps * framed(size)) / MiB / rawDur)} of raw durable write; ${fmt(r.syncs)} fdatasync rounds`,
    );
    fs.rmSync(d, { recursive: true, force: true });
  }
  results.push({ name: 'group commit, 1,000 waiters: >= 200,000 synced 1 KiB appends/s', ok: gc1k >= 200_000, detail: `${fmt(gc1k)}/s` });

  console.log('\nAppends, one sync per record (append, await sync, repeat; one writer)');
  for (const size of [16, 1024, 65536]) {
    const d = path.join(scratch, `each-${size}`);
    const rps = await appendSyncEach(d, size, quick ? 1 : 2);
    line(`${size} B`, `${fmt(rps)} rec/s`, `${pct(rps / fsyncOps)} of raw write+fdatasync ops/s`);
    fs.rmSync(d, { recursive: true, force: true });
  }

  console.log('\nSequential read (cursor, 1 MiB read-ahead, CRC checked, records decoded; tail cache off)');
  {
    const d = path.join(scratch, 'nosync-1024');
    const r = sequentialRead(d);
    line(`1 KiB records x ${fmt(r.count)}`, `${fmt(r.rps)} rec/s ${fmt(r.mbs)} MB/s`, `${pct(r.mbs / rawR)} of raw read`);
    fs.rmSync(d, { recursive: true, force: true });
  }
  {
    const d = path.join(scratch, 'read-16');
    buildLog(d, 16, quick ? 1_000_000 : 5_000_000);
    const r = sequentialRead(d);
    line(`16 B records x ${fmt(r.count)}`, `${fmt(r.rps)} rec/s ${fmt(r.mbs)} MB/s`, `${pct(r.mbs / rawR)} of raw read`);
    fs.rmSync(d, { recursive: true, force: true });
  }

  console.log(`\nRecovery scan after an unclean stop (${RECOVERY_MIB} MiB of 1 KiB records, no marker, no recovery point: full CRC scan)`);
  let recRatio = 0;
  {
    const d = path.join(scratch, 'recovery');
    buildLog(d, 1024, Math.floor((RECOVERY_MIB * MiB) / framed(1024)));
    const r = recoveryScan(d);
    recRatio = r.mbs / rawR;
    line(`${fmt(r.bytes / MiB)} MiB in ${fmt(r.seconds, 2)} s`, `${fmt(r.mbs)} MB/s`, `${pct(recRatio)} of raw read`);
    fs.rmSync(d, { recursive: true, force: true });
  }
  results.push({
    name: 'recovery scan with CRC checks: >= 70% of raw read MB/s',
    ok: recRatio >= 0.7,
    detail: pct(recRatio),
  });

  console.log(`\nRSS after opening a log of ${fmt(RSS_RECORDS)} records of 16 B (fresh process, clean shutdown)`);
  {
    const d = path.join(scratch, 'rss');
    const t0 = now();
    buildLog(d, 16, RSS_RECORDS);
    const built = now() - t0;
    line('built in', `${fmt(built, 1)} s`, `(${fmt(dirBytes(d) / MiB)} MiB on disk)`);
    const res = spawnSync(process.execPath, ['--expose-gc', __filename, `--rss-child=${d}`], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`rss child failed: ${res.stderr}`);
    const j = JSON.parse(res.stdout.trim().split('\n').pop() as string) as {
      base: number;
      after: number;
      openS: number;
      next: number;
      live: number;
      segments: number;
    };
    const delta = (j.after - j.base) / MiB;
    line('baseline RSS of the fresh process', `${fmt(j.base / MiB, 1)} MiB`);
    line(`RSS after open (${fmt(j.segments)} segments, ${fmt(j.live)} live)`, `${fmt(j.after / MiB, 1)} MiB`, `+${fmt(delta, 1)} MiB; open took ${fmt(j.openS * 1000)} ms`);
    results.push({
      name: `${fmt(RSS_RECORDS)} records open: <= 50 MB RSS above baseline`,
      ok: delta * MiB <= 50e6 && j.next === RSS_RECORDS,
      detail: `+${fmt(delta, 1)} MiB`,
    });
    if (RSS_RECORDS !== 100_000_000) results[results.length - 1].name += ' (issue target is 100,000,000 records)';
    fs.rmSync(d, { recursive: true, force: true });
  }

  console.log('\nTargets (issue 2)');
  for (const r of results) console.log(`  [${r.ok ? 'PASS' : 'FAIL'}] ${r.name.padEnd(70)} ${r.detail}`);
  console.log(`\nTotal time ${fmt(now() - started, 0)} s`);
  if (flag('keep') === undefined) fs.rmSync(scratch, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  fs.rmSync(scratch, { recursive: true, force: true });
  process.exit(1);
});
