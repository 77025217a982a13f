// The stream benchmarks of issues 14 and 15, side by side with RabbitMQ in the same run:
//   S9        AMQP 0-9-1: 1 producer (16 B, confirm window 512) into a stream, 3 consumers from
//             first (prefetch 1000); msg/s per consumer
//   S10       Stream protocol: 1 producer (16 B, frames of 100 messages, 20,000 unconfirmed at
//             most), 1 consumer from first; published-and-confirmed msg/s
//   catchup   fill a stream with --count 16 B messages, then a fresh Stream consumer reads it all
//   attach    on that stream: subscribe at an offset / a timestamp in its middle; ms to the first
//             chunk (Stream protocol) and the first message (AMQP 0-9-1)
//   memory    broker RSS with that stream and 3 idle consumers, minus its RSS when empty
//   filter    20 filter values published in runs; a consumer filtering on one of them (5 %):
//             bytes the broker read (Warren's warren_store_bytes_read_total) against the stream's size
// Producers and consumers are separate processes (worker.ts). Warren is started here, on a
// temporary data directory; RabbitMQ is the node at --compare (AMQP URL) and --compare-stream-port.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClientConnection } from '../../client';
import { BROKER_ENV, BROKER_NODE_FLAGS } from '../../cli/node-flags';
import { BenchStreamClient } from './client';
import { findListeningPid, readRssKiB } from '../amqp/procfs';
import { repoRoot } from '../amqp/runner';
import type { Report, Role } from './worker';
import { freePort } from '../free-port';

export interface StreamBenchOptions {
  scenarios: string[];
  duration: number;
  warmup: number;
  /** messages for catchup / attach / memory (default 10,000,000) */
  count: number;
  filterCount: number;
  compareUrl?: string;
  compareStreamPort?: number;
  json: boolean;
}

export const STREAM_SCENARIOS = ['S9', 'S10', 'CATCHUP', 'ATTACH', 'MEMORY', 'FILTER'];

interface Target {
  name: string;
  url: string;
  host: string;
  streamPort: number;
  pid: number | null;
  httpPort: number | null;
  stop(): Promise<void>;
}

type Row = Record<string, string | number>;

async function startWarren(): Promise<Target> {
  const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-stream-bench-'));
  const streamPort = await freePort();
  // WARREN_BENCH_NODE_ARGS: extra node flags for the broker (e.g. --cpu-prof)
  const extra = (process.env.WARREN_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc: ChildProcess = spawn(process.execPath, [...BROKER_NODE_FLAGS, ...extra, main, 'start', '--port', '0', '--host', '127.0.0.1', '--http-port', '0',
    '--stream-port', String(streamPort), '--data-dir', dataDir, '--log-level', 'warning'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...BROKER_ENV } });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const [port, httpPort] = await new Promise<[number, number]>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('warren did not start')), 60000);
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => {
      out += s;
      const m = /warren ready amqp_port=(\d+)/.exec(out);
      const h = /warren http_port=(\d+)/.exec(out);
      if (m && h) { clearTimeout(timer); resolve([Number(m[1]), Number(h[1])]); }
    });
  });
  proc.stdout!.resume();
  return {
    name: 'warren', url: `amqp://guest:guest@127.0.0.1:${port}`, host: '127.0.0.1', streamPort, pid: proc.pid ?? null, httpPort,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function other(o: StreamBenchOptions): Target | null {
  if (o.compareUrl === undefined) return null;
  const u = new URL(o.compareUrl);
  return {
    name: 'rabbitmq', url: o.compareUrl, host: u.hostname, streamPort: o.compareStreamPort ?? 5552,
    pid: findListeningPid(Number(u.port || 5672)), httpPort: null, stop: async () => undefined,
  };
}

// ---- workers ------------------------------------------------------------------------------------------

class Worker {
  readonly proc: ChildProcess;
  last: Report = { count: 0, firstAt: -1, doneAt: -1 };
  private readyP: Promise<void>;

  constructor(role: Role) {
    this.proc = fork(path.join(__dirname, 'worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.readyP = new Promise((resolve, reject) => {
      this.proc.on('message', (m: { type: string; report?: Report }) => {
        if (m.type === 'ready') resolve();
        if (m.type === 'report' && m.report) {
          this.last = m.report;
          if (m.report.error) reject(new Error(m.report.error));
        }
      });
      this.proc.once('exit', () => reject(new Error('worker exited')));
    });
    this.proc.send({ type: 'role', role });
  }

  ready(): Promise<void> { return this.readyP; }
  start(): void { this.proc.send({ type: 'start' }); }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.send({ type: 'stop' });
    await Promise.race([gone, sleep(2000)]);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(20);
  }
  return true;
}

async function all(ws: Worker[]): Promise<void> {
  await Promise.all(ws.map((w) => w.ready()));
  for (const w of ws) w.start();
}

// ---- stream setup ---------------------------------------------------------------------------------------

async function amqpStream(t: Target, name: string): Promise<void> {
  const c = await ClientConnection.connect(t.url);
  const ch = await c.openChannel();
  await ch.deleteQueue(name).catch(() => undefined);
  const ch2 = ch.closed ? await c.openChannel() : ch;
  await ch2.declareQueue(name, { durable: true, arguments: { 'x-queue-type': 'stream' } });
  await c.close();
}

async function protoStream(t: Target, name: string): Promise<void> {
  const c = await BenchStreamClient.connect(t.host, t.streamPort);
  await c.deleteStream(name);
  const code = await c.createStream(name, {});
  if (code !== 1) throw new Error(`create stream ${name} on ${t.name}: code ${code}`);
  c.close();
}

// ---- scenarios -------------------------------------------------------------------------------------------

async function s9(t: Target, o: StreamBenchOptions): Promise<Row> {
  const q = 'bench-s9';
  await amqpStream(t, q);
  const consumers = Array.from({ length: Number(process.env.S9_CONSUMERS ?? 3) }, () => new Worker({ kind: 'amqp-consumer', url: t.url, queue: q, prefetch: 1000, offset: 'first', expect: 0 }));
  const producer = new Worker({ kind: 'amqp-producer', url: t.url, queue: q, size: 16, window: 512, count: 0 });
  const ws = [...consumers, producer];
  await all(ws);
  await sleep(o.warmup * 1000);
  const c0 = consumers.map((w) => w.last.count);
  const p0 = producer.last.count;
  await sleep(o.duration * 1000);
  const c1 = consumers.map((w) => w.last.count);
  const p1 = producer.last.count;
  await Promise.all(ws.map((w) => w.stop()));
  await amqpStream(t, q).catch(() => undefined);
  const per = c1.map((c, i) => (c - c0[i]) / o.duration);
  return { broker: t.name, 'confirmed/s': Math.round((p1 - p0) / o.duration), 'per consumer msg/s': Math.round(per.reduce((a, b) => a + b, 0) / Math.max(1, per.length)), 'slowest consumer msg/s': per.length > 0 ? Math.round(Math.min(...per)) : 0 };
}

async function s10(t: Target, o: StreamBenchOptions): Promise<Row> {
  const s = 'bench-s10';
  await protoStream(t, s);
  const consumer = new Worker({ kind: 'stream-consumer', host: t.host, port: t.streamPort, stream: s, offsetType: 1, offset: 0, credit: 10, filter: null, expect: 0 });
  const producer = new Worker({ kind: 'stream-producer', host: t.host, port: t.streamPort, stream: s, size: 16, perFrame: 100, window: Number(process.env.S10_WINDOW ?? 20000), count: 0, filter: null, ref: null });
  await all([consumer, producer]);
  await sleep(o.warmup * 1000);
  const c0 = consumer.last.count;
  const p0 = producer.last.count;
  await sleep(o.duration * 1000);
  const c1 = consumer.last.count;
  const p1 = producer.last.count;
  await Promise.all([consumer.stop(), producer.stop()]);
  await protoStream(t, s).catch(() => undefined);
  return { broker: t.name, 'confirmed/s': Math.round((p1 - p0) / o.duration), 'consumed/s': Math.round((c1 - c0) / o.duration) };
}

const CATCHUP = 'bench-catchup';
const midTime = new Map<string, number>();

async function fill(t: Target, o: StreamBenchOptions): Promise<Row> {
  await protoStream(t, CATCHUP);
  const producer = new Worker({ kind: 'stream-producer', host: t.host, port: t.streamPort, stream: CATCHUP, size: 16, perFrame: 100, window: 50000, count: o.count, filter: null, ref: null });
  await all([producer]);
  const t0 = Date.now();
  await waitFor(() => producer.last.count >= o.count / 2, 600_000);
  midTime.set(t.name, Date.now());
  await waitFor(() => producer.last.doneAt >= 0, 600_000);
  const ms = Date.now() - t0;
  await producer.stop();
  return { broker: t.name, messages: o.count, 'fill msg/s': Math.round(o.count / (ms / 1000)) };
}

async function catchup(t: Target, o: StreamBenchOptions): Promise<Row> {
  const f = await fill(t, o);
  const consumer = new Worker({ kind: 'stream-consumer', host: t.host, port: t.streamPort, stream: CATCHUP, offsetType: 1, offset: 0, credit: 20, filter: null, expect: o.count });
  await all([consumer]);
  await waitFor(() => consumer.last.doneAt >= 0, 600_000);
  const rep = consumer.last;
  await consumer.stop();
  return { ...f, 'catch-up msg/s': rep.doneAt > 0 ? Math.round(o.count / (rep.doneAt / 1000)) : 0 };
}

async function attach(t: Target, o: StreamBenchOptions): Promise<Row> {
  const mid = Math.floor(o.count / 2);
  const one = async (role: Role): Promise<number> => {
    const w = new Worker(role);
    await all([w]);
    await waitFor(() => w.last.firstAt >= 0, 30_000);
    const ms = w.last.firstAt;
    await w.stop();
    return ms;
  };
  const byOffset = await one({ kind: 'stream-consumer', host: t.host, port: t.streamPort, stream: CATCHUP, offsetType: 4, offset: mid, credit: 1, filter: null, expect: 1 });
  const byTime = await one({ kind: 'stream-consumer', host: t.host, port: t.streamPort, stream: CATCHUP, offsetType: 5, offset: midTime.get(t.name) ?? Date.now(), credit: 1, filter: null, expect: 1 });
  const amqpOffset = await one({ kind: 'amqp-consumer', url: t.url, queue: CATCHUP, prefetch: 10, offset: mid, expect: 1 });
  return { broker: t.name, 'stream: by offset ms': byOffset, 'stream: by timestamp ms': byTime, 'amqp: by offset ms': amqpOffset };
}

async function memory(t: Target, o: StreamBenchOptions, emptyKiB: number | null): Promise<Row> {
  const consumers = [0, 1, 2].map(() => new Worker({ kind: 'stream-consumer', host: t.host, port: t.streamPort, stream: CATCHUP, offsetType: 1, offset: 0, credit: 20, filter: null, expect: o.count }));
  await all(consumers);
  await waitFor(() => consumers.every((w) => w.last.doneAt >= 0), 900_000);
  await sleep(3000); // idle at the end of the stream
  const rss = t.pid === null ? null : readRssKiB(t.pid);
  const heap = await metric(t, 'warren_nodejs_heap_total_bytes');
  const external = await metric(t, 'warren_nodejs_external_memory_bytes');
  await Promise.all(consumers.map((w) => w.stop()));
  return {
    ...(heap !== null ? { 'V8 heap MB': Math.round(heap / 1e6), 'external MB': Math.round((external ?? 0) / 1e6) } : {}),
    broker: t.name, 'empty RSS MB': emptyKiB === null ? '?' : Math.round(emptyKiB / 1024), 'RSS MB (stream + 3 idle consumers)': rss === null ? '?' : Math.round(rss / 1024),
    'growth MB': rss === null || emptyKiB === null ? '?' : Math.round((rss - emptyKiB) / 1024),
  };
}

function metric(t: Target, name: string): Promise<number | null> {
  if (t.httpPort === null) return Promise.resolve(null);
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: t.httpPort as number, path: '/metrics' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
        resolve(m ? Number(m[1]) : null);
      });
    }).on('error', () => resolve(null));
  });
}

async function filter(t: Target, o: StreamBenchOptions): Promise<Row> {
  const s = 'bench-filter';
  await protoStream(t, s);
  const values = Array.from({ length: 20 }, (_, i) => `v${i}`);
  const per = Math.floor(o.filterCount / values.length / 1000) * 1000;
  // values in runs: two rounds of every value, each a run of per/2 messages
  for (let round = 0; round < 2; round++) {
    for (const v of values) {
      const p = new Worker({ kind: 'stream-producer', host: t.host, port: t.streamPort, stream: s, size: 100, perFrame: 100, window: 5000, count: per / 2, filter: v, ref: null });
      await all([p]);
      await waitFor(() => p.last.doneAt >= 0, 300_000);
      await p.stop();
    }
  }
  const before = await metric(t, 'warren_store_bytes_read_total');
  const c = new Worker({ kind: 'stream-consumer', host: t.host, port: t.streamPort, stream: s, offsetType: 1, offset: 0, credit: 20, filter: 'v7', expect: per });
  await all([c]);
  const ok = await waitFor(() => c.last.doneAt >= 0, 120_000);
  await sleep(500);
  const after = await metric(t, 'warren_store_bytes_read_total');
  const got = c.last.count;
  await c.stop();
  const size = await streamBytes(t, s);
  await protoStream(t, s).catch(() => undefined);
  const read = before !== null && after !== null ? after - before : null;
  return {
    broker: t.name, messages: per * values.length, matching: per, delivered: ok ? got : `${got} (incomplete)`,
    'stream MB': size === null ? '?' : (size / 1e6).toFixed(1), 'read MB': read === null ? '?' : (read / 1e6).toFixed(2),
    'read fraction': read === null || size === null ? '?' : `${((100 * read) / size).toFixed(1)} %`,
  };
}

async function streamBytes(t: Target, name: string): Promise<number | null> {
  if (t.httpPort === null) return null;
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: t.httpPort as number, path: `/api/queues/%2F/${encodeURIComponent(name)}`, auth: 'guest:guest' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        try {
          resolve((JSON.parse(body) as { message_bytes_ready?: number }).message_bytes_ready ?? null);
        } catch {
          resolve(null);
        }
      });
    }).on('error', () => resolve(null));
  });
}

// ---- main ---------------------------------------------------------------------------------------------------

function table(title: string, rows: Row[]): string {
  if (rows.length === 0) return '';
  const keys = Object.keys(rows[0]);
  const w = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k] ?? '').length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(w[i])).join('  ');
  const out = [`\n${title}`, line(keys), ...rows.map((r) => line(keys.map((k) => String(r[k] ?? ''))))];
  if (rows.length === 2) {
    const ratio = keys.filter((k) => typeof rows[0][k] === 'number' && typeof rows[1][k] === 'number' && (rows[1][k] as number) > 0 && /\/s/.test(k))
      .map((k) => `${k} ${((rows[0][k] as number) / (rows[1][k] as number)).toFixed(2)}x`);
    if (ratio.length > 0) out.push(`warren / rabbitmq: ${ratio.join(', ')}`);
  }
  return out.join('\n');
}

export async function streamBenchMain(o: StreamBenchOptions): Promise<void> {
  const rabbit = other(o);
  const print = (title: string, rows: Row[]) => {
    if (o.json) for (const r of rows) process.stdout.write(JSON.stringify({ scenario: title, ...r }) + '\n');
    else process.stdout.write(table(title, rows) + '\n');
  };
  const want = new Set(o.scenarios.map((s) => s.toUpperCase()));
  const warren = await startWarren();
  try {
    const emptyWarren = warren.pid === null ? null : readRssKiB(warren.pid);
    const emptyRabbit = rabbit?.pid ? readRssKiB(rabbit.pid) : null;
    const targets = rabbit === null ? [warren] : [warren, rabbit];
    const run = async (title: string, fn: (t: Target) => Promise<Row>) => {
      const rows: Row[] = [];
      for (const t of targets) rows.push(await fn(t));
      print(title, rows);
    };
    if (want.has('S9')) await run('S9: AMQP 0-9-1 stream, 1 producer (16 B, confirms 512), 3 consumers from first', (t) => s9(t, o));
    if (want.has('S10')) await run('S10: Stream protocol, 1 producer (16 B, frames of 100), 1 consumer from first', (t) => s10(t, o));
    const needFill = want.has('CATCHUP') || want.has('ATTACH') || want.has('MEMORY');
    if (needFill) await run(`catch-up: ${o.count} messages of 16 B, then a fresh consumer from first`, (t) => catchup(t, o));
    if (want.has('ATTACH')) await run(`attach to the ${o.count}-message stream in its middle: ms to the first delivery`, (t) => attach(t, o));
    if (want.has('MEMORY')) await run('memory: broker RSS with the stream and 3 idle consumers', (t) => memory(t, o, t === warren ? emptyWarren : emptyRabbit));
    // RabbitMQ 3.10 has no filtering (publish v2 came with 3.13): Warren alone
    if (want.has('FILTER')) print(`filter: ${o.filterCount} messages of 100 B, 20 values in runs; a consumer filtering on one`, [await filter(warren, o)]);
    if (needFill) {
      for (const t of targets) {
        const c = await BenchStreamClient.connect(t.host, t.streamPort);
        await c.deleteStream(CATCHUP);
        c.close();
      }
    }
  } finally {
    await warren.stop();
  }
}
