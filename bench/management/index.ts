// The management targets of issue 13, on one Warren with 10,000 queues and 1,000 connections:
//   - GET /api/queues?page=1&page_size=100 under 100 ms
//   - a full /metrics/per-object scrape under 1 s
//   - S1 throughput while /metrics/per-object, /api/queues (a page) and /api/overview are
//     scraped every 5 s, no more than 5% below S1 without scrapes (rounds alternate A B A B)
//
//   npm run build && node dist/bench/management/index.js [--queues 10000] [--connections 1000]
//       [--rounds 2] [--duration 20]
//
// Starts its own broker (temporary data directory) and stops it at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as amqplib from 'amqplib';
import { BROKER_NODE_FLAGS } from '../../src/cli/node-flags';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

const QUEUES = arg('queues', 10000);
const CONNECTIONS = arg('connections', 1000);
const ROUNDS = arg('rounds', 2);
const DURATION = arg('duration', 20);
const AUTH = 'Basic ' + Buffer.from('guest:guest').toString('base64');

async function startBroker(): Promise<{ proc: ChildProcess; port: number; httpPort: number; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-mgmt-bench-'));
  const proc = spawn(process.execPath, [...BROKER_NODE_FLAGS, MAIN, 'start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1',
    '--data-dir', dir, '--log-level', 'warning'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [port, httpPort] = await new Promise<[number, number]>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => {
      out += s;
      const a = /amqp_port=(\d+)/.exec(out), h = /http_port=(\d+)/.exec(out);
      if (a && h) resolve([Number(a[1]), Number(h[1])]);
    });
    proc.once('exit', (code) => reject(new Error(`warren exited with ${code}`)));
  });
  proc.stdout!.resume();
  return { proc, port, httpPort, dir };
}

async function timeGet(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization: AUTH } });
  const body = await res.arrayBuffer();
  return { ms: performance.now() - t0, bytes: body.byteLength, status: res.status };
}

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(1)} ms, p95 ${q(0.95).toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms (n=${s.length})`;
}

async function measure(base: string, p: string, n: number): Promise<{ times: number[]; bytes: number }> {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const r = await timeGet(base + p);
    if (r.status !== 200) throw new Error(`${p}: HTTP ${r.status}`);
    times.push(r.ms);
    bytes = r.bytes;
  }
  return { times, bytes };
}

// CPU seconds (user + system) the broker process has used: /proc/<pid>/stat fields 14 and 15.
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
}

function runS1(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [MAIN, 'bench', '--url', url, '--scenario', 'S1', '--duration', String(DURATION), '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    p.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.includes('"type":"result"'));
      if (code !== 0 || !line) { reject(new Error(`bench S1 failed (${code}): ${out.slice(-500)}`)); return; }
      resolve((JSON.parse(line) as { recv_rate: number }).recv_rate);
    });
  });
}

async function main(): Promise<void> {
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`# machine: ${os.cpus().length} cores, load average ${load} at start`);
  const b = await startBroker();
  const base = `http://127.0.0.1:${b.httpPort}`;
  const url = `amqp://guest:guest@127.0.0.1:${b.port}`;
  const conns: amqplib.ChannelModel[] = [];
  try {
    const t0 = Date.now();
    const decl = await amqplib.connect(url);
    const chans = await Promise.all(Array.from({ length: 8 }, () => decl.createChannel()));
    for (let i = 0; i < QUEUES; i += chans.length) {
      await Promise.all(chans.map((ch, k) => (i + k < QUEUES ? ch.assertQueue(`mgmt-bench-${String(i + k).padStart(5, '0')}`, { durable: false }) : null)));
    }
    console.log(`# ${QUEUES} queues declared in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = Date.now();
    for (let i = 0; i < CONNECTIONS; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, CONNECTIONS - i) }, async () => {
        const c = await amqplib.connect(url);
        c.on('error', () => undefined);
        await c.createChannel();
        return c;
      }));
      conns.push(...batch);
    }
    console.log(`# ${CONNECTIONS} connections (one channel each) opened in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    await measure(base, '/api/queues?page=1&page_size=100', 3); // warm-up
    const page = await measure(base, '/api/queues?page=1&page_size=100', 30);
    console.log(`GET /api/queues?page=1&page_size=100: ${stats(page.times)}, ${page.bytes} bytes   (target < 100 ms)`);
    const mid = Math.max(1, Math.floor(QUEUES / 200));
    const deep = await measure(base, `/api/queues?page=${mid}&page_size=100&name=mgmt-bench`, 10);
    console.log(`GET /api/queues?page=${mid}&page_size=100&name=mgmt-bench: ${stats(deep.times)}`);
    const bySize = await measure(base, '/api/queues?page=1&page_size=100&sort=messages&sort_reverse=true', 10);
    console.log(`GET /api/queues?page=1&page_size=100&sort=messages (formats all queues): ${stats(bySize.times)}`);
    const conn = await measure(base, '/api/connections?page=1&page_size=100', 10);
    console.log(`GET /api/connections?page=1&page_size=100: ${stats(conn.times)}`);
    const ov = await measure(base, '/api/overview', 10);
    console.log(`GET /api/overview: ${stats(ov.times)}`);
    await measure(base, '/metrics/per-object', 1);
    const po = await measure(base, '/metrics/per-object', 10);
    console.log(`GET /metrics/per-object: ${stats(po.times)}, ${(po.bytes / 1e6).toFixed(1)} MB   (target < 1 s)`);
    const agg = await measure(base, '/metrics', 10);
    console.log(`GET /metrics: ${stats(agg.times)}, ${(agg.bytes / 1e3).toFixed(1)} kB`);

    // The broker's CPU time per scrape (per-object metrics + a queue page + overview), measured
    // as CPU seconds, not wall time: it does not depend on what else the machine runs. S1 is
    // bound by the broker's one thread, so one scrape every 5 s costs S1 about this share.
    const scrapeOnce = () => Promise.all([timeGet(base + '/metrics/per-object'), timeGet(base + '/api/queues?page=1&page_size=100'), timeGet(base + '/api/overview')]);
    await scrapeOnce();
    const cpu0 = cpuSeconds(b.proc.pid!);
    const SCRAPES = 20;
    for (let i = 0; i < SCRAPES; i++) await scrapeOnce();
    const perScrape = (cpuSeconds(b.proc.pid!) - cpu0) / SCRAPES;
    console.log(`broker CPU per scrape (per-object + queue page + overview): ${(perScrape * 1000).toFixed(0)} ms = ${((perScrape / 5) * 100).toFixed(1)}% of one core at one scrape every 5 s`);

    // S1 with and without scrapes every 5 s, alternating
    const without: number[] = [], withScrapes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      for (const scraping of r % 2 === 0 ? [false, true] : [true, false]) {
        let timer: NodeJS.Timeout | null = null;
        const scrapeTimes: number[] = [];
        if (scraping) {
          const scrape = async () => {
            const t = performance.now();
            await Promise.all([timeGet(base + '/metrics/per-object'), timeGet(base + '/api/queues?page=1&page_size=100'), timeGet(base + '/api/overview')]);
            scrapeTimes.push(performance.now() - t);
          };
          timer = setInterval(() => void scrape(), 5000);
        }
        const rate = await runS1(url);
        if (timer) clearInterval(timer);
        (scraping ? withScrapes : without).push(rate);
        console.log(`S1 round ${r + 1} ${scraping ? 'with scrapes every 5 s' : 'without scrapes'}: ${Math.round(rate)} msg/s received${scraping ? ` (${scrapeTimes.length} scrapes, ${stats(scrapeTimes.length ? scrapeTimes : [0])})` : ''}`);
      }
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const a = med(without), s = med(withScrapes);
    if (ROUNDS > 0) console.log(`S1 median: ${Math.round(a)} msg/s without, ${Math.round(s)} msg/s with scrapes: ${(((s - a) / a) * 100).toFixed(1)}%   (target: no more than 5% lower)`);
    console.log(`# load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    await decl.close();
  } finally {
    for (const c of conns) await c.close().catch(() => undefined);
    b.proc.kill('SIGTERM');
    await new Promise((r) => b.proc.once('exit', r));
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
