// Soak test of durable metadata (issue 11): N durable queues with one binding each, declared from
// one client connection, the broker restarted, then everything deleted. Prints the time of each
// phase and the broker's RSS (VmRSS from /proc) and open file descriptors after it.
//
//   npm run build
//   node dist/bench/soak/queues.js                       # starts Warren itself (temp data dir)
//   node dist/bench/soak/queues.js --queues 2000 --channels 8
//   node dist/bench/soak/queues.js --compare amqp://guest:guest@127.0.0.1:5673 --compare-pid N
//       also runs the declare and delete phases against another broker (RabbitMQ 3.10 via
//       bench/amqp/rabbitmq.sh start), side by side; --compare-pid: its pid, for its RSS
//   node dist/bench/soak/queues.js --s1 10               # also S1 (warren bench) for 10 s before
//                                                        # the queues exist and with them idle
//   node dist/bench/soak/queues.js --profile             # the broker runs with --cpu-prof
//                                                        # (profiles kept in the data dir)
//   node dist/bench/soak/queues.js --kind exchanges      # durable exchanges + exchange-to-
//        exchange bindings instead: the same definitions traffic without the queues' own files,
//        which separates the cost of the metadata store from the cost of the queue store
//
// Each of --channels channels of the one connection declares its share of the queues one after
// the other (queue.declare, then queue.bind, each waiting for its reply); --channels 1 is a
// strictly sequential client.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as amqp from 'amqplib';
import { startWarren, type StartedBroker } from '../../src/loadgen/amqp/broker';
import { readRssKiB } from '../../src/loadgen/amqp/procfs';
import { repoRoot } from '../../src/loadgen/amqp/runner';

interface Opts {
  kind: 'queues' | 'exchanges';
  queues: number;
  channels: number;
  compare: string | null;
  comparePid: number | null;
  s1: number;
  profile: boolean;
  keep: boolean;
  skipWarren: boolean;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { kind: 'queues', queues: 20000, channels: 1, compare: null, comparePid: null, s1: 0, profile: false, keep: false, skipWarren: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => { const v = argv[++i]; if (v === undefined) throw new Error(`${a} needs a value`); return v; };
    if (a === '--queues') o.queues = Number(next());
    else if (a === '--kind') { const k = next(); if (k !== 'queues' && k !== 'exchanges') throw new Error('--kind queues|exchanges'); o.kind = k; }
    else if (a === '--channels') o.channels = Number(next());
    else if (a === '--compare') o.compare = next();
    else if (a === '--compare-pid') o.comparePid = Number(next());
    else if (a === '--s1') o.s1 = Number(next());
    else if (a === '--profile') o.profile = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--skip-warren') o.skipWarren = true;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

const EXCHANGE = 'soak.x';
const qname = (i: number) => `soak.q.${String(i).padStart(6, '0')}`;
const xname = (i: number) => `soak.x.${String(i).padStart(6, '0')}`;

function mib(kib: number | null): string {
  return kib === null ? '?' : `${(kib / 1024).toFixed(0)} MiB`;
}

function fds(pid: number | null): string {
  if (pid === null) return '?';
  try { return String(fs.readdirSync(`/proc/${pid}/fd`).length); } catch { return '?'; }
}

function report(label: string, what: string, ms: number, pid: number | null, n?: number): void {
  const rate = n !== undefined ? `, ${(n / (ms / 1000)).toFixed(0)}/s` : '';
  console.log(`${label.padEnd(9)} ${what.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(8)} s${rate}   RSS ${mib(pid === null ? null : readRssKiB(pid))}   fds ${fds(pid)}`);
}

async function withChannels<T>(url: string, n: number, fn: (ch: amqp.Channel, k: number) => Promise<T>): Promise<T[]> {
  const c = await amqp.connect(url);
  c.on('error', () => undefined);
  try {
    const chans = await Promise.all(Array.from({ length: n }, () => c.createChannel()));
    return await Promise.all(chans.map((ch, k) => fn(ch, k)));
  } finally {
    await c.close().catch(() => undefined);
  }
}

// Declares queues k, k+n, k+2n, ... on channel k: each queue, then its binding.
// Resolves to the number of queues (or exchanges) declared with their binding; a failure is
// printed and ends the phase early, so the later phases still run on what exists.
async function declareAll(url: string, o: Opts, onProgress: (done: number) => void): Promise<number> {
  let done = 0;
  try {
    await declareAllOrThrow(url, o, () => { done++; if (done % 5000 === 0) onProgress(done); });
  } catch (e) {
    console.log(`          declare failed after ${done}: ${(e as Error).message}`);
  }
  return done;
}

async function declareAllOrThrow(url: string, o: Opts, onOne: () => void): Promise<void> {
  await withChannels(url, 1, (ch) => ch.assertExchange(EXCHANGE, 'direct', { durable: true }));
  await withChannels(url, o.channels, async (ch, k) => {
    for (let i = k; i < o.queues; i += o.channels) {
      if (o.kind === 'queues') {
        await ch.assertQueue(qname(i), { durable: true });
        await ch.bindQueue(qname(i), EXCHANGE, qname(i));
      } else {
        await ch.assertExchange(xname(i), 'fanout', { durable: true });
        await ch.bindExchange(xname(i), EXCHANGE, xname(i));
      }
      onOne();
    }
  });
}

async function deleteAll(url: string, o: Opts): Promise<void> {
  try {
    await deleteAllOrThrow(url, o);
  } catch (e) {
    console.log(`          delete failed: ${(e as Error).message}`);
  }
}

async function deleteAllOrThrow(url: string, o: Opts): Promise<void> {
  await withChannels(url, o.channels, async (ch, k) => {
    for (let i = k; i < o.queues; i += o.channels) {
      if (o.kind === 'queues') await ch.deleteQueue(qname(i));
      else await ch.deleteExchange(xname(i));
    }
  });
  await withChannels(url, 1, (ch) => ch.deleteExchange(EXCHANGE));
}

async function countQueues(url: string, o: Opts, declared: number): Promise<number> {
  let n = 0;
  await withChannels(url, 1, async (ch) => {
    ch.on('error', () => undefined);
    for (let i = 0; i < declared; i += Math.max(1, Math.ceil(declared / 200))) {
      if (o.kind === 'queues') await ch.checkQueue(qname(i));
      else await ch.checkExchange(xname(i));
      n++;
    }
  });
  return n;
}

function runS1(url: string, seconds: number): string {
  const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [main, 'bench', '--url', url, '--scenario', 'S1', '--duration', String(seconds)], { encoding: 'utf8' });
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => /msg\/s|S1/.test(l));
  return lines.slice(-3).join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-soak-'));
  const nodeArgs = o.profile ? ['--cpu-prof', `--cpu-prof-dir=${dataDir}/profiles`] : [];
  console.log(`soak: ${o.queues} durable ${o.kind} + ${o.queues} bindings, ${o.channels} channel(s) on one connection; Warren data in ${dataDir}`);
  let b: StartedBroker | null = null;
  if (!o.skipWarren) try {
    let t0 = Date.now();
    b = await startWarren({ dataDir, nodeArgs, stopTimeoutMs: 600_000, readyTimeoutMs: 600_000 });
    report('warren', 'start (empty)', Date.now() - t0, b.pid);
    if (o.s1 > 0) console.log(`warren    S1 without the queues:\n${runS1(b.url, o.s1)}`);

    t0 = Date.now();
    const declared = await declareAll(b.url, o, (n) => report('warren', `  ${n} declared`, Date.now() - t0, b!.pid, n));
    report('warren', `declare ${o.kind} + bindings`, Date.now() - t0, b.pid, declared);
    await new Promise((r) => setTimeout(r, 5000));
    report('warren', 'idle 5 s', 0, b.pid);
    if (o.s1 > 0) console.log(`warren    S1 with the queues idle:\n${runS1(b.url, o.s1)}`);

    t0 = Date.now();
    await b.stop();
    report('warren', 'stop (SIGTERM)', Date.now() - t0, null);
    t0 = Date.now();
    b = await startWarren({ dataDir, nodeArgs, stopTimeoutMs: 600_000, readyTimeoutMs: 600_000 });
    report('warren', 'restart (until ready)', Date.now() - t0, b.pid);
    const sampled = await countQueues(b.url, o, declared).catch((e: Error) => { console.log(`          check failed: ${e.message}`); return -1; });
    console.log(`warren    ${sampled} sampled ${o.kind} present after the restart`);
    await new Promise((r) => setTimeout(r, 2000));
    report('warren', 'idle 2 s after restart', 0, b.pid);

    t0 = Date.now();
    await deleteAll(b.url, o);
    report('warren', `delete ${o.kind}`, Date.now() - t0, b.pid, o.queues);
  } finally {
    await b?.stop();
    if (!o.keep && !o.profile) fs.rmSync(dataDir, { recursive: true, force: true });
  }

  if (o.compare !== null) {
    let t0 = Date.now();
    const declared = await declareAll(o.compare, o, (n) => report('other', `  ${n} declared`, Date.now() - t0, o.comparePid, n));
    report('other', `declare ${o.kind} + bindings`, Date.now() - t0, o.comparePid, declared);
    await new Promise((r) => setTimeout(r, 5000));
    report('other', 'idle 5 s', 0, o.comparePid);
    t0 = Date.now();
    await deleteAll(o.compare, o);
    report('other', `delete ${o.kind}`, Date.now() - t0, o.comparePid, o.queues);
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
