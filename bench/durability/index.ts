/*
 * Restart benchmark of the broker (issue 4, "Targets (benchmark, not test)"):
 *
 *   - Restart with 1,000,000 queued persistent 1 KiB messages in one queue: consumable in at most 3 s.
 *     With 10,000,000 16-byte messages: at most 5 s.
 *   - RSS with 10,000,000 messages queued: at most 100 MB above an empty broker's.
 *
 *   npm run bench:durability                       both scenarios, full size (1M x 1 KiB, 10M x 16 B)
 *   npm run bench:durability -- --quick            100k x 1 KiB and 1M x 16 B (smoke test)
 *   npm run bench:durability -- --count 200000 --size 1024     one scenario of your own
 *   other flags: --prefetch N (default 1000), --dir PATH (default <repo>/data/bench-durability),
 *                --keep (keep the data directory), --prof-dir PATH (run the restarted brokers
 *                under node --cpu-prof, profiles written there at exit: only the unclean
 *                restart's, since the clean restart's broker is the one later SIGKILLed)
 *
 * Per scenario, on a fresh data directory (same disk as ./data):
 *   1. spawn `node dist/src/cli/main.js start --port 0 --data-dir D --log-level warning`, wait for
 *      "warren ready amqp_port=N", settle, read VmRSS of the empty broker;
 *   2. fill one durable queue with N persistent messages (publisher confirms, a window of several
 *      batches in flight), close the connection, let the broker idle, read VmRSS again: 3 s after
 *      the fill (informational: V8 still holds the heap it grew during the burst) and once V8's
 *      memory reducer has given it back (at most 45 s), which is the figure held to the target;
 *      VmRSS of the restarted brokers with the backlog queued is held to it too;
 *   3. clean restart: SIGTERM, wait for the exit, spawn on the same directory; measure from spawn to
 *      the ready line, to the first delivery of a consumer (passive declare + qos + basic.consume,
 *      over a new connection) = "consumable", and to the last of the N messages (drain);
 *   4. unclean restart: fill N again, SIGKILL as soon as the last confirm arrived, spawn again and
 *      measure the same (recovery CRC-scans the segment(s) after the recovery point).
 * References measured in the same run, because the machine is shared and noisy: time to read the
 * queue's log files sequentially with fs (they are in the page cache, as they are for the broker),
 * spawn-to-first-output of an idle `node -e` process and its VmRSS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ClientConnection, PublishTemplate, batchSizeFor, nowMs, type ClientChannel,
} from '../../src/client';

// ---- flags ------------------------------------------------------------------------------------

const argv = process.argv.slice(2);
function flag(name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}`) return i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[i + 1] : 'true';
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}
const num = (name: string): number | undefined => {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: expected a positive number, got '${v}'`);
  return n;
};

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
const BASE_DIR = path.resolve(flag('dir') ?? path.join(repoRoot, 'data', 'bench-durability'));
const QUICK = flag('quick') !== undefined;
const KEEP = flag('keep') !== undefined;
const PREFETCH = num('prefetch') ?? 1000;
const PROF_DIR = flag('prof-dir');
const QUEUE = 'bench-durability';
const MB = 1e6;

interface Scenario { name: string; count: number; size: number; consumableTargetS: number | null; rssTargetMB: number | null }

function scenarios(): Scenario[] {
  const count = num('count');
  const size = flag('size') !== undefined ? Number(flag('size')) : undefined;
  if (count !== undefined || size !== undefined) {
    const c = count ?? 1_000_000;
    const s = size ?? 1024;
    return [{ name: `${fmtCount(c)} x ${fmtSize(s)}`, count: c, size: s, consumableTargetS: s >= 1024 ? 3 : 5, rssTargetMB: 100 }];
  }
  const a = QUICK ? 100_000 : 1_000_000;
  const b = QUICK ? 1_000_000 : 10_000_000;
  return [
    { name: `${fmtCount(a)} x 1 KiB`, count: a, size: 1024, consumableTargetS: 3, rssTargetMB: null },
    { name: `${fmtCount(b)} x 16 B`, count: b, size: 16, consumableTargetS: 5, rssTargetMB: 100 },
  ];
}

// ---- formatting -------------------------------------------------------------------------------

function fmtCount(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}
function fmtSize(b: number): string { return b >= 1024 && b % 1024 === 0 ? `${b / 1024} KiB` : `${b} B`; }
const f = (n: number, d = 2): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
function note(s: string): void { process.stdout.write(`  . ${s}\n`); }

// ---- /proc ------------------------------------------------------------------------------------

function rssMB(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(s);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return (Number(m[1]) * 1024) / MB;
}

/** VmRSS after the process has been left alone: sampled every 250 ms for `ms`, the last sample. */
async function settledRss(pid: number, ms: number): Promise<number> {
  let v = rssMB(pid);
  for (let t = 0; t < ms; t += 250) { await sleep(250); v = rssMB(pid); }
  return v;
}

/**
 * VmRSS of an idle broker after a publishing burst: `early` after 3 s, then (V8 keeps the heap it
 * grew during the burst until its memory reducer runs, typically 10-20 s into the idle time)
 * polled every 500 ms until it has dropped by a tenth and stayed within 1 MB for 2 s, or `maxMs`.
 */
async function idleRss(pid: number, maxMs: number): Promise<{ early: number; settled: number; waitedS: number }> {
  const t0 = nowMs();
  const early = await settledRss(pid, 3000);
  let v = early;
  let flatSince = nowMs();
  let ref = v;
  while (nowMs() - t0 < maxMs) {
    await sleep(500);
    v = rssMB(pid);
    if (Math.abs(v - ref) > 1) { ref = v; flatSince = nowMs(); }
    if (v < early * 0.9 && nowMs() - flatSince >= 2000) break;
  }
  return { early, settled: v, waitedS: (nowMs() - t0) / 1000 };
}

// ---- the broker child -------------------------------------------------------------------------

interface Broker {
  proc: ChildProcess;
  pid: number;
  port: number;
  spawnedAt: number;
  readyAt: number;
  exited: Promise<void>;
  stderr: string[];
}

const brokerLog: string[] = [];
const liveBrokers = new Set<ChildProcess>();

async function startBroker(dataDir: string, label: string, prof: boolean): Promise<Broker> {
  const nodeArgs = prof && PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROF_DIR)}`, `--cpu-prof-name=${label.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`] : [];
  const spawnedAt = nowMs();
  const proc = spawn(process.execPath, [...nodeArgs, MAIN, 'start', '--port', '0', '--http-port', '0', '--stream-port', '0', '--data-dir', dataDir, '--log-level', 'warning'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr!.setEncoding('utf8');
  let errBuf = '';
  proc.stderr!.on('data', (s: string) => {
    errBuf += s;
    let i: number;
    while ((i = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, i);
      errBuf = errBuf.slice(i + 1);
      stderr.push(line);
      brokerLog.push(`[${label}] ${line}`);
    }
  });
  liveBrokers.add(proc);
  const exited = new Promise<void>((r) => proc.once('exit', () => { liveBrokers.delete(proc); r(); }));
  const { port, readyAt } = await new Promise<{ port: number; readyAt: number }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`broker (${label}) not ready within 120 s`)); }, 120_000);
    proc.stdout!.setEncoding('utf8');
    const onData = (s: string): void => {
      out += s;
      const m = /warren ready amqp_port=(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        proc.off('exit', onExit);
        resolve({ port: Number(m[1]), readyAt: nowMs() });
      }
    };
    const onExit = (code: number | null, sig: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`broker (${label}) exited (${code ?? sig}) before it was ready:\n${stderr.join('\n')}`));
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', onExit);
  });
  proc.stdout!.resume();
  return { proc, pid: proc.pid!, port, spawnedAt, readyAt, exited, stderr };
}

async function stopBroker(b: Broker, signal: 'SIGTERM' | 'SIGKILL'): Promise<number> {
  const t0 = nowMs();
  if (b.proc.exitCode === null && b.proc.signalCode === null) {
    b.proc.kill(signal);
    const t = setTimeout(() => b.proc.kill('SIGKILL'), 60_000);
    await b.exited;
    clearTimeout(t);
  }
  return (nowMs() - t0) / 1000;
}

const url = (port: number): string => `amqp://guest:guest@127.0.0.1:${port}`;

// ---- fill ---------------------------------------------------------------------------------------

/** Publish `count` persistent messages of `size` bytes to QUEUE with confirms; resolves when all are acked. */
async function fill(port: number, count: number, size: number): Promise<{ seconds: number; rate: number }> {
  const conn = await ClientConnection.connect(url(port), { connectionName: 'bench-durability-fill' });
  try {
    const ch = await conn.openChannel();
    await ch.declareQueue(QUEUE, { durable: true });
    await ch.confirmSelect();
    const probe = new PublishTemplate({ channel: ch.id, exchange: '', routingKey: QUEUE, bodySize: size, frameMax: conn.frameMax, maxBatch: 1 });
    const batch = Math.min(1024, batchSizeFor(probe.messageBytes, 64 * 1024));
    // several batches in flight, and enough bytes per group commit (fdatasync) to keep the disk busy
    const window = Math.max(8 * batch, Math.ceil((4 * 1024 * 1024) / probe.messageBytes));
    const t = new PublishTemplate({
      channel: ch.id, exchange: '', routingKey: QUEUE, bodySize: size, frameMax: conn.frameMax, maxBatch: batch,
      properties: { deliveryMode: 2 },
    });
    const t0 = nowMs();
    let sent = 0;
    let lastReport = t0;
    await new Promise<void>((resolve, reject) => {
      let scheduled = false;
      let done = false;
      const finish = (e?: Error): void => {
        if (done) return;
        done = true;
        if (e) reject(e); else resolve();
      };
      const pump = (): void => {
        scheduled = false;
        if (done) return;
        if (ch.closed || conn.error) return finish(conn.error ?? ch.error ?? new Error('channel closed during the fill'));
        if (ch.nacked > 0) return finish(new Error(`${ch.nacked} publishes were nacked by the broker`));
        if (sent >= count) {
          if (ch.acked >= count) finish();
          return;
        }
        for (let loops = 0; loops < 16 && sent < count; loops++) {
          if (conn.blocked) return;
          if (conn.socket.writableLength > 1024 * 1024) return; // resumed by 'drain'
          const n = Math.min(batch, count - sent, window - ch.unconfirmed);
          if (n <= 0) return; // resumed by confirms
          ch.publishBatch(t, n, false);
          sent += n;
        }
        schedule();
      };
      const schedule = (): void => {
        if (scheduled || done) return;
        scheduled = true;
        setImmediate(pump);
      };
      ch.onConfirms = () => {
        if (sent >= count && ch.acked + ch.nacked >= count) {
          if (ch.nacked > 0) finish(new Error(`${ch.nacked} publishes were nacked by the broker`));
          else finish();
          return;
        }
        const now = nowMs();
        if (now - lastReport > 5000) {
          lastReport = now;
          note(`fill: ${fmtCount(ch.acked)} of ${fmtCount(count)} confirmed, ${f(ch.acked / ((now - t0) / 1000), 0)} msg/s`);
        }
        schedule();
      };
      conn.socket.on('drain', schedule);
      conn.onBlockedChange = (b) => { if (!b) schedule(); };
      conn.onClose = (e) => finish(e ?? new Error('connection closed during the fill'));
      schedule();
    });
    const seconds = (nowMs() - t0) / 1000;
    return { seconds, rate: count / seconds };
  } finally {
    conn.onClose = null;
    await conn.close();
  }
}

// ---- restart measurement ----------------------------------------------------------------------

interface RestartResult {
  stopS: number;
  readyS: number;
  declaredCount: number;
  consumableS: number;
  drainS: number;
  drainRate: number;
  received: number;
  rssReadyMB: number;
}

/** Spawn on `dataDir` (after the previous broker stopped), consume everything, return the figures. */
async function restartAndDrain(dataDir: string, count: number, label: string): Promise<{ broker: Broker; r: Omit<RestartResult, 'stopS'> }> {
  const b = await startBroker(dataDir, label, true);
  const readyS = (b.readyAt - b.spawnedAt) / 1000;
  const rssReadyMB = rssMB(b.pid);
  const conn = await ClientConnection.connect(url(b.port), { connectionName: 'bench-durability-drain' });
  const ch = await conn.openChannel();
  const declared = await ch.declareQueue(QUEUE, { passive: true });
  await ch.qos(PREFETCH);
  let firstAt = 0;
  let lastAt = 0;
  const expect = declared.messageCount;
  const allIn = new Promise<void>((resolve, reject) => {
    if (expect === 0) { resolve(); return; }
    ch.sink = {
      onMessage(c: ClientChannel, _tag: number, _sentAt: number, chunkTime: number): void {
        if (firstAt === 0) firstAt = chunkTime;
        if (c.received >= expect) { lastAt = chunkTime; resolve(); }
      },
    };
    conn.onClose = (e) => reject(e ?? new Error('connection closed during the drain'));
  });
  await ch.consume(QUEUE, {});
  let stall = ch.received;
  const watchdog = setInterval(() => {
    if (ch.received === stall) { note(`drain: stalled at ${ch.received} of ${expect}`); }
    stall = ch.received;
  }, 10_000);
  try { await allIn; } finally { clearInterval(watchdog); }
  // nothing more should come: give stray deliveries a moment to show up
  await sleep(200);
  const received = ch.received;
  conn.onClose = null;
  await conn.close();
  if (firstAt === 0) firstAt = lastAt = nowMs();
  const consumableS = (firstAt - b.spawnedAt) / 1000;
  const drainS = (lastAt - firstAt) / 1000;
  void count;
  return {
    broker: b,
    r: { readyS, declaredCount: expect, consumableS, drainS, drainRate: received / Math.max(drainS, 1e-9), received, rssReadyMB },
  };
}

// ---- references -------------------------------------------------------------------------------

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += fs.statSync(p).size;
  }
  return n;
}

/** Read every .log file of the queue sequentially (4 MiB reads), as a raw reference. */
function rawReadLogs(dataDir: string): { seconds: number; bytes: number; files: number } {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.log')) files.push(p);
    }
  };
  walk(dataDir);
  files.sort();
  const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
  let bytes = 0;
  const t0 = nowMs();
  for (const p of files) {
    const fd = fs.openSync(p, 'r');
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        bytes += n;
      }
    } finally { fs.closeSync(fd); }
  }
  return { seconds: (nowMs() - t0) / 1000, bytes, files: files.length };
}

/** Spawn-to-first-output time and settled VmRSS of an idle `node -e` process. */
async function nodeReference(): Promise<{ startS: number; rssMB: number }> {
  const t0 = nowMs();
  const p = spawn(process.execPath, ['-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1000);'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((r) => p.stdout!.once('data', () => r()));
  const startS = (nowMs() - t0) / 1000;
  const rss = await settledRss(p.pid!, 1000);
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGKILL');
  await exited;
  return { startS, rssMB: rss };
}

// ---- a scenario -------------------------------------------------------------------------------

interface ScenarioResult {
  sc: Scenario;
  emptyRssMB: number;
  fill1: { seconds: number; rate: number };
  fill2: { seconds: number; rate: number };
  idle: { early: number; settled: number; waitedS: number };
  diskBytes: number;
  raw: { seconds: number; bytes: number; files: number };
  clean: RestartResult;
  unclean: RestartResult;
  node: { startS: number; rssMB: number };
}

async function runScenario(sc: Scenario): Promise<ScenarioResult> {
  console.log(`\n== ${sc.name}: ${sc.count.toLocaleString('en-US')} persistent messages of ${sc.size} bytes in one durable queue`);
  const dataDir = path.join(BASE_DIR, `${sc.count}x${sc.size}`);
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.mkdirSync(dataDir, { recursive: true });

  const node = await nodeReference();

  // 1. empty broker
  let b = await startBroker(dataDir, `${sc.name} first start`, false);
  const emptyRssMB = await settledRss(b.pid, 1500);
  note(`empty broker: ready in ${f((b.readyAt - b.spawnedAt) / 1000)} s, VmRSS ${f(emptyRssMB, 1)} MB`);

  // 2. fill, then let the broker idle
  const fill1 = await fill(b.port, sc.count, sc.size);
  note(`fill: ${fmtCount(sc.count)} confirmed in ${f(fill1.seconds)} s (${f(fill1.rate, 0)} msg/s)`);
  const idle = await idleRss(b.pid, 45_000);
  note(`idle with ${fmtCount(sc.count)} queued: VmRSS ${f(idle.early, 1)} MB after 3 s (+${f(idle.early - emptyRssMB, 1)} MB), ` +
    `${f(idle.settled, 1)} MB after ${f(idle.waitedS, 1)} s (+${f(idle.settled - emptyRssMB, 1)} MB)`);

  // 3. clean restart
  const stopS = await stopBroker(b, 'SIGTERM');
  const diskBytes = dirBytes(dataDir);
  const raw = rawReadLogs(dataDir);
  note(`SIGTERM: exited after ${f(stopS)} s; data dir ${f(diskBytes / MB, 0)} MB; raw sequential read of the ${raw.files} .log file(s): ${f(raw.seconds)} s`);
  const c = await restartAndDrain(dataDir, sc.count, `${sc.name} clean restart`);
  const clean: RestartResult = { stopS, ...c.r };
  note(`clean restart: ready ${f(clean.readyS)} s, consumable ${f(clean.consumableS)} s, drained ${fmtCount(clean.received)} in ${f(clean.drainS)} s`);
  b = c.broker;

  // 4. unclean restart
  const fill2 = await fill(b.port, sc.count, sc.size);
  note(`refill: ${fmtCount(sc.count)} confirmed in ${f(fill2.seconds)} s (${f(fill2.rate, 0)} msg/s)`);
  const killS = await stopBroker(b, 'SIGKILL');
  const u = await restartAndDrain(dataDir, sc.count, `${sc.name} unclean restart`);
  const unclean: RestartResult = { stopS: killS, ...u.r };
  note(`unclean restart: ready ${f(unclean.readyS)} s, consumable ${f(unclean.consumableS)} s, drained ${fmtCount(unclean.received)} in ${f(unclean.drainS)} s`);
  await stopBroker(u.broker, 'SIGTERM');
  if (!KEEP) fs.rmSync(dataDir, { recursive: true, force: true });
  return { sc, emptyRssMB, fill1, fill2, idle, diskBytes, raw, clean, unclean, node };
}

// ---- report -----------------------------------------------------------------------------------

let failures = 0;

function row(what: string, value: string, target: string, verdict: string, ref: string): void {
  console.log(`  ${what.padEnd(44)} ${value.padStart(14)}  ${target.padStart(9)}  ${verdict.padEnd(4)}  ${ref}`);
}
function verdict(ok: boolean | null): string {
  if (ok === null) return '';
  if (!ok) failures++;
  return ok ? 'PASS' : 'FAIL';
}

function report(r: ScenarioResult): void {
  const { sc } = r;
  const n = sc.count;
  console.log(`\n${sc.name} (${n.toLocaleString('en-US')} msgs, data dir ${f(r.diskBytes / MB, 0)} MB on disk, prefetch ${PREFETCH})`);
  row('figure', 'value', 'target', '', 'reference / ratio');
  const rawRef = `raw read of the ${r.raw.files} .log file(s) ${f(r.raw.seconds)} s (${f(r.raw.bytes / MB / r.raw.seconds, 0)} MB/s)`;
  const nodeStart = `node -e start ${f(r.node.startS, 3)} s`;
  const restart = (label: string, x: RestartResult, how: string): void => {
    row(`${label}: ${how}`, `${f(x.stopS)} s`, '', '', '');
    row(`${label}: spawn -> ready line`, `${f(x.readyS)} s`, '', '', `${nodeStart}; x${f(x.readyS / r.node.startS, 1)}`);
    const t = sc.consumableTargetS;
    row(`${label}: spawn -> first delivery (consumable)`, `${f(x.consumableS)} s`, t === null ? '' : `<= ${t} s`,
      verdict(t === null ? null : x.consumableS <= t), `${rawRef}; x${f(x.consumableS / r.raw.seconds, 2)}`);
    row(`${label}: queue depth after restart`, x.declaredCount.toLocaleString('en-US'), `= ${fmtCount(n)}`, verdict(x.declaredCount === n), '');
    row(`${label}: drain ${fmtCount(x.received)} (prefetch ${PREFETCH})`, `${f(x.drainS)} s`, '', '',
      `${f(x.drainRate, 0)} msg/s, ${f((x.drainRate * sc.size) / MB, 1)} MB/s of bodies`);
    const rt = sc.rssTargetMB;
    const g = x.rssReadyMB - r.emptyRssMB;
    row(`${label}: VmRSS when ready, ${fmtCount(n)} queued`, `${f(x.rssReadyMB, 1)} MB`, '', '', '');
    row(`  above the empty broker`, `${f(g, 1)} MB`, rt === null ? '' : `<= ${rt} MB`, verdict(rt === null ? null : g <= rt), '');
  };
  row('fill (confirms)', `${f(r.fill1.seconds)} s`, '', '', `${f(r.fill1.rate, 0)} msg/s; refill ${f(r.fill2.seconds)} s (${f(r.fill2.rate, 0)} msg/s)`);
  row('VmRSS, empty broker', `${f(r.emptyRssMB, 1)} MB`, '', '', `idle node -e: ${f(r.node.rssMB, 1)} MB; x${f(r.emptyRssMB / r.node.rssMB, 2)}`);
  const rt = sc.rssTargetMB;
  const early = r.idle.early - r.emptyRssMB;
  row(`VmRSS, ${fmtCount(n)} queued, 3 s after the fill`, `${f(r.idle.early, 1)} MB`, '', '',
    `+${f(early, 1)} MB: heap V8 grew during the burst, not yet returned${rt !== null && early > rt ? ` (over ${rt} MB)` : ''}`);
  row(`VmRSS, ${fmtCount(n)} queued, idle ${f(r.idle.waitedS, 0)} s`, `${f(r.idle.settled, 1)} MB`, '', '', '');
  const grow = r.idle.settled - r.emptyRssMB;
  row(`  above the empty broker`, `${f(grow, 1)} MB`, rt === null ? '' : `<= ${rt} MB`, verdict(rt === null ? null : grow <= rt),
    `${f((grow * MB) / n, 2)} bytes per queued message`);
  restart('clean', r.clean, 'SIGTERM -> exit');
  restart('unclean', r.unclean, 'SIGKILL -> exit');
}

async function main(): Promise<void> {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} not found: run npm run build`);
  const list = scenarios();
  console.log(`warren restart benchmark (issue 4 targets): ${list.map((s) => s.name).join(', ')}`);
  console.log(`data dir ${BASE_DIR}; node ${process.version}; ${os.cpus().length} CPU(s); the restarted broker reads files still in the page cache`);
  const t0 = nowMs();
  const results: ScenarioResult[] = [];
  try {
    for (const sc of list) results.push(await runScenario(sc));
  } finally {
    if (!KEEP) fs.rmSync(BASE_DIR, { recursive: true, force: true });
  }
  console.log('\n== results');
  for (const r of results) report(r);
  if (brokerLog.length > 0) {
    console.log('\nbroker log lines (warning and above):');
    for (const l of brokerLog.slice(0, 40)) console.log(`  ${l}`);
    if (brokerLog.length > 40) console.log(`  ... ${brokerLog.length - 40} more`);
  }
  console.log(`\ntotal ${f((nowMs() - t0) / 1000, 0)} s; ${failures === 0 ? 'all targets met' : `${failures} target(s) missed`}`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  for (const p of liveBrokers) p.kill('SIGKILL');
  if (!KEEP) fs.rmSync(BASE_DIR, { recursive: true, force: true });
  process.exit(2);
});
