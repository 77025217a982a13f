// The AMQP frame fuzzer. Many connections at once send mutated valid conversations (see
// conversation.ts, mutate.ts) while a healthy client publishes and consumes beside them; the run
// fails if the broker dies, the healthy client is disturbed in any way, or the broker's RSS grows
// more than --max-rss-growth over where it started.
//
//   node dist/tools/fuzz/main.js --url amqp://guest:guest@127.0.0.1:5672 --duration 30
//   node dist/tools/fuzz/main.js --url ... --inputs 10000000 --broker-pid <pid> --seed 42
//
// An input is one frame (or frame-sized piece) written to the broker; most are valid, the rest
// mutated (the count of mutations is reported too).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as amqplib from 'amqplib';
import { Command } from 'commander';
import { Rng } from './rng';
import { FUZZ_EXCHANGES, FUZZ_QUEUES, type Frame, conversation } from './conversation';
import { mutate } from './mutate';
import { fork } from 'node:child_process';
import * as path from 'node:path';
import type { HealthReport } from './healthy';

interface Options {
  url: string;
  // The management API (http://host:port): fuzzing then happens in a vhost of its own that is
  // deleted and recreated every few seconds, which sweeps away whatever the fuzzers created
  // (and exercises vhost deletion under load).
  httpUrl?: string;
  duration: number;        // seconds; the run ends at the duration or the input count, whichever first
  inputs: number;
  connections: number;
  seed: number;
  brokerPid?: number;
  maxRssGrowthMb: number;
  json: boolean;
}

interface Stats { inputs: number; mutations: number; connections: number; bytesIn: number }

function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

// One fuzz connection: a conversation (from the pool) with 0-3 mutations, written in random
// pieces and followed by a FIN, so that the broker reads all of it; whatever it answers is read
// and dropped, and the connection is over when the broker closes it (or after 3 s).
function fuzzOnce(host: string, port: number, r: Rng, pool: Frame[][], stats: Stats): Promise<void> {
  return new Promise((resolve) => {
    const frames = [...r.pick(pool)];
    const k = r.chance(0.1) ? 0 : 1 + r.int(3);
    for (let i = 0; i < k; i++) mutate(r, frames);
    stats.mutations += k;
    const bytes = Buffer.concat(frames.map((f) => f.bytes));
    const s = net.connect({ host, port });
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(finish, 3000);
    s.setNoDelay(true);
    s.on('error', finish);
    s.on('close', finish);
    s.on('data', (d) => { stats.bytesIn += d.length; });
    s.on('connect', () => {
      stats.connections++;
      stats.inputs += frames.length;
      let off = 0;
      // Whole, or in pieces of random sizes (frames split across reads, several per read).
      const piece = r.chance(0.2) ? 1 + r.int(64) : r.chance(0.5) ? 1 + r.int(8192) : bytes.length;
      while (off < bytes.length) {
        s.write(bytes.subarray(off, off + piece));
        off += piece;
      }
      s.end();
    });
  });
}

const FUZZ_VHOST = 'fuzz';

// Sweeps away the fuzzers' state now and then: it is theirs, not a leak, and would otherwise
// grow without bound (queues and exchanges under names that mutations made up).
async function cleaner(url: string, httpUrl: string | undefined): Promise<() => Promise<void>> {
  let stopped = false;
  let sweep: () => Promise<void>;
  let close = async () => undefined as unknown;
  if (httpUrl) {
    const u = new URL(url);
    const auth = 'Basic ' + Buffer.from(`${decodeURIComponent(u.username || 'guest')}:${decodeURIComponent(u.password || 'guest')}`).toString('base64');
    const call = (method: string, path: string, body?: unknown) => fetch(`${httpUrl}${path}`, {
      method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const user = decodeURIComponent(u.username || 'guest');
    const create = async () => {
      await call('PUT', `/api/vhosts/${FUZZ_VHOST}`, {});
      await call('PUT', `/api/permissions/${FUZZ_VHOST}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
    };
    await create();
    sweep = async () => { await call('DELETE', `/api/vhosts/${FUZZ_VHOST}`); await create(); };
  } else {
    const conn = await amqplib.connect(url);
    conn.on('error', () => undefined);
    sweep = async () => {
      const ch = await conn.createChannel().catch(() => null);
      if (!ch) return;
      ch.on('error', () => undefined);
      for (const q of FUZZ_QUEUES) await ch.deleteQueue(q).catch(() => undefined);
      for (const x of FUZZ_EXCHANGES) await ch.deleteExchange(x).catch(() => undefined);
      await ch.close().catch(() => undefined);
    };
    close = () => conn.close().catch(() => undefined);
  }
  const loop = (async () => {
    while (!stopped) {
      await new Promise((r) => setTimeout(r, 3000));
      if (!stopped) await sweep().catch(() => undefined);
    }
  })();
  return async () => { stopped = true; await loop; await close(); };
}

// The healthy client runs in a process of its own (see healthy.ts).
async function startHealthy(url: string): Promise<{ stop(): Promise<HealthReport> }> {
  const child = fork(path.join(__dirname, 'healthy.js'), [url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('message', (m: { started?: boolean; error?: string }) => (m.started ? resolve() : reject(new Error(`healthy client: ${m.error}`))));
    child.once('exit', (code) => reject(new Error(`healthy client exited with ${code}`)));
  });
  let exited = false;
  child.once('exit', () => { exited = true; });
  const lost = (why: string): HealthReport => ({ published: 0, confirmed: 0, received: 0, maxLatencyMs: 0, disturbances: [why] });
  return {
    stop: () => new Promise((resolve) => {
      if (exited) { resolve(lost('the healthy client process died')); return; }
      child.once('message', (m: { report: HealthReport }) => resolve(m.report));
      child.once('exit', () => resolve(lost('the healthy client process died')));
      child.send('stop');
    }),
  };
}

export async function runFuzz(o: Options, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<boolean> {
  const u = new URL(o.url);
  const host = u.hostname;
  const port = Number(u.port || 5672);
  const healthyUrl = o.url + (o.url.includes('?') ? '&' : '?') + 'heartbeat=0';
  const healthy = await startHealthy(healthyUrl);
  const stopCleaner = await cleaner(healthyUrl, o.httpUrl);
  const vhost = o.httpUrl ? FUZZ_VHOST : (decodeURIComponent(u.pathname.slice(1)) || '/');
  await new Promise((r) => setTimeout(r, 500));
  const rssStart = o.brokerPid ? rssOf(o.brokerPid) : null;
  let rssMax = rssStart ?? 0;
  const stats: Stats = { inputs: 0, mutations: 0, connections: 0, bytesIn: 0 };
  const t0 = Date.now();
  const end = t0 + o.duration * 1000;
  const finished = () => Date.now() >= end || stats.inputs >= o.inputs || (o.brokerPid !== undefined && !alive(o.brokerPid));
  const sampler = setInterval(() => {
    if (o.brokerPid) { const v = rssOf(o.brokerPid); if (v !== null) rssMax = Math.max(rssMax, v); }
  }, 250);
  const mb = (n: number) => (n / 1048576).toFixed(1);
  const progress = setInterval(() => {
    const s = (Date.now() - t0) / 1000;
    const rss = o.brokerPid ? rssOf(o.brokerPid) : null;
    out(`fuzz ${s.toFixed(0)} s: ${stats.inputs} inputs (${Math.round(stats.inputs / s)}/s), ${stats.mutations} mutations, ${stats.connections} connections` +
      (rss !== null && rssStart !== null ? `, broker RSS ${mb(rss)} MB (${rss >= rssStart ? '+' : ''}${mb(rss - rssStart)})` : ''));
  }, 5000);
  // Conversations are generated once and mutated afresh for every connection.
  const gen = new Rng(o.seed);
  const pool = Array.from({ length: 300 }, () => conversation(gen, 10 + gen.int(150), vhost));
  const workers = Array.from({ length: o.connections }, async (_, w) => {
    const r = new Rng(o.seed * 1000 + w + 1);
    while (!finished()) await fuzzOnce(host, port, r, pool, stats);
  });
  await Promise.all(workers);
  clearInterval(progress);
  clearInterval(sampler);
  await stopCleaner();
  const health = await healthy.stop();
  const secs = (Date.now() - t0) / 1000;
  const crashed = o.brokerPid !== undefined && !alive(o.brokerPid);
  const rssEnd = o.brokerPid && !crashed ? rssOf(o.brokerPid) : null;
  const growth = rssStart !== null ? rssMax - rssStart : null;
  const ok = !crashed && health.disturbances.length === 0 && (growth === null || growth <= o.maxRssGrowthMb * 1048576);
  const summary = {
    ok, seconds: Number(secs.toFixed(1)), inputs: stats.inputs, mutations: stats.mutations, connections: stats.connections,
    crashes: crashed ? 1 : 0, disturbances: health.disturbances.length,
    healthy: { published: health.published, confirmed: health.confirmed, received: health.received, maxLatencyMs: health.maxLatencyMs },
    rss: rssStart === null ? null : { startMb: Number(mb(rssStart)), maxMb: Number(mb(rssMax)), endMb: rssEnd === null ? null : Number(mb(rssEnd)), maxGrowthMb: Number(mb(growth!)) },
    seed: o.seed,
  };
  if (o.json) out(JSON.stringify(summary));
  else {
    out(`fuzz done in ${summary.seconds} s: ${stats.inputs} inputs, ${stats.mutations} mutations, ${stats.connections} connections`);
    out(`  broker: ${crashed ? 'CRASHED' : 'alive'}${summary.rss ? `, RSS start ${summary.rss.startMb} MB, max ${summary.rss.maxMb} MB (+${summary.rss.maxGrowthMb}), end ${summary.rss.endMb} MB` : ''}`);
    out(`  healthy client: ${health.published} published, ${health.confirmed} confirmed, ${health.received} received in order, max latency ${health.maxLatencyMs} ms, ${health.disturbances.length} disturbances`);
    for (const d of health.disturbances.slice(0, 10)) out(`    ${d}`);
    out(`  ${ok ? 'PASS' : 'FAIL'} (seed ${o.seed})`);
  }
  return ok;
}

if (require.main === module) {
  const int = (v: string) => { const n = Number(v); if (!Number.isFinite(n) || n < 0) throw new Error(`not a number: ${v}`); return n; };
  const p = new Command()
    .name('warren-fuzz')
    .description('mutate valid AMQP conversations over many connections beside a healthy client')
    .requiredOption('--url <url>', 'broker URL (the user must have all permissions on the vhost)')
    .option('--http-url <url>', "management API base URL: fuzz in a vhost of its own, swept every 3 s")
    .option('--duration <s>', 'stop after this many seconds', int, 30)
    .option('--inputs <n>', 'stop after this many inputs (frames sent)', int, Number.MAX_SAFE_INTEGER)
    .option('--connections <n>', 'fuzzing connections at once', int, 32)
    .option('--seed <n>', 'PRNG seed (a run repeats from its seed)', int, Date.now() % 100000)
    .option('--broker-pid <pid>', "the broker's pid, to watch its RSS and liveness", int)
    .option('--max-rss-growth <MB>', 'fail when the broker RSS grows more than this', int, 50)
    .option('--json', 'one JSON line as the result');
  p.parse(process.argv);
  const f = p.opts<{ url: string; httpUrl?: string; duration: number; inputs: number; connections: number; seed: number; brokerPid?: number; maxRssGrowth: number; json?: boolean }>();
  runFuzz({ url: f.url, httpUrl: f.httpUrl, duration: f.duration, inputs: f.inputs, connections: f.connections, seed: f.seed, brokerPid: f.brokerPid, maxRssGrowthMb: f.maxRssGrowth, json: f.json === true })
    .then((ok) => process.exit(ok ? 0 : 1), (e) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(2); });
}
