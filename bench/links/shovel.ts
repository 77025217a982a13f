/*
 * Shovel throughput, Warren -> Warren (issue 16's target: at least 50% of S3's publish rate on
 * the same machine).
 *
 *   npm run bench:shovel                     200,000 messages
 *   npm run bench:shovel -- --count 500000   more
 *   npm run bench:shovel -- --rabbitmq       the same work done by RabbitMQ's shovel beside it
 *
 * In one run, on two fresh brokers (temporary data directories, free ports):
 *   1. S3 against broker A (`warren bench --scenario S3`: persistent 1 KiB, durable queue,
 *      confirm window 512, prefetch 1000), its send rate being the reference;
 *   2. A's durable queue filled with N persistent 1 KiB messages (publisher confirms);
 *   3. an on-confirm shovel from that queue to a durable queue on broker B; the rate is taken
 *      from the shovel's own forwarded count (GET /api/shovels) between 10% and 90% of N, so
 *      the connection set-up is not counted.
 * The ratio shovel rate / S3 send rate is printed, with both figures. The machine is shared,
 * so both are measured in the same run. With --rabbitmq, two RabbitMQ nodes (Debian's
 * rabbitmq-server, started on free ports) do the same: S3 against the first, then its shovel
 * plugin moves the same N messages to the second; the rate is read from the destination
 * queue's depth (RabbitMQ 3.10's shovel status has no counts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClientConnection, PublishTemplate, batchSizeFor } from '../../src/client';
import { type RabbitNode, rabbitmqInstalled, startRabbit } from './rabbitmq-node';

const argv = process.argv.slice(2);
const countFlag = argv.indexOf('--count');
const N = countFlag >= 0 ? Number(argv[countFlag + 1]) : 200_000;
const MAIN = path.resolve(__dirname, '..', '..', 'src', 'cli', 'main.js');

interface Broker { port: number; httpPort: number; proc?: ChildProcess; dir?: string }

async function startBroker(): Promise<Broker> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-shovel-'));
  const proc = spawn(process.execPath, ['--initial-old-space-size=64', '--max-semi-space-size=4', MAIN, 'start', '--port', '0', '--http-port', '0',
    '--host', '127.0.0.1', '--data-dir', dir, '--log-level', 'warning', '--stream-port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [port, httpPort] = await new Promise<[number, number]>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (s: Buffer) => {
      out += s.toString();
      const m = /amqp_port=(\d+)/.exec(out), h = /http_port=(\d+)/.exec(out);
      if (m && h) resolve([Number(m[1]), Number(h[1])]);
    });
    proc.once('exit', (c) => reject(new Error(`broker exited with ${c}`)));
  });
  return { port, httpPort, proc, dir };
}

async function stop(b: Broker): Promise<void> {
  if (!b.proc || !b.dir) return;
  const proc = b.proc;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
  fs.rmSync(b.dir, { recursive: true, force: true });
}

const AUTH = 'Basic ' + Buffer.from('guest:guest').toString('base64');
async function http(b: Broker, method: string, p: string, body?: unknown): Promise<unknown> {
  const r = await fetch(`http://127.0.0.1:${b.httpPort}${p}`, {
    method, headers: { authorization: AUTH, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

function s3SendRate(b: Broker): number {
  const r = spawnSync(process.execPath, [MAIN, 'bench', '--url', `amqp://guest:guest@127.0.0.1:${b.port}`, '--scenario', 'S3', '--duration', '10', '--json'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const line = r.stdout.split('\n').find((l) => l.includes('"type":"result"'));
  if (!line) throw new Error(`S3 gave no result: ${r.stderr}`);
  return (JSON.parse(line) as { send_rate: number }).send_rate;
}

async function fill(b: Broker, queue: string, n: number): Promise<void> {
  const conn = await ClientConnection.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
  const ch = await conn.openChannel();
  await ch.declareQueue(queue, { durable: true });
  await ch.confirmSelect();
  const t = new PublishTemplate({ channel: ch.id, exchange: '', routingKey: queue, bodySize: 1024, properties: { deliveryMode: 2 }, frameMax: conn.frameMax, maxBatch: 64 });
  const batch = Math.min(64, batchSizeFor(t.messageBytes));
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (ch.published < n && ch.unconfirmed < 2048) ch.publishBatch(t, Math.min(batch, n - ch.published), false);
      if (ch.acked + ch.nacked >= n) resolve();
    };
    ch.onConfirms = pump;
    pump();
  });
  await conn.close();
}

// Rate between 10% and 90% of N moved, `moved()` polled every 50 ms; and the whole time.
async function measure(moved: () => Promise<number>): Promise<{ rate: number; total: number }> {
  let t10 = 0, t90 = 0;
  const t0 = Date.now();
  for (;;) {
    const f = await moved();
    if (t10 === 0 && f >= N * 0.1) t10 = Date.now();
    if (t90 === 0 && f >= N * 0.9) t90 = Date.now();
    if (f >= N) break;
    if (Date.now() - t0 > 600_000) throw new Error(`shovel stuck at ${f} of ${N}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { rate: (N * 0.8) / ((t90 - t10) / 1000), total: (Date.now() - t0) / 1000 };
}

const SHOVEL = (destPort: number) => ({
  'src-uri': 'amqp://', 'src-queue': 'shovel-bench.src', 'dest-uri': `amqp://guest:guest@127.0.0.1:${destPort}`, 'dest-queue': 'shovel-bench.dst', 'ack-mode': 'on-confirm',
});

async function run(label: string, a: Broker, b: Broker, moved: () => Promise<number>): Promise<void> {
  process.stdout.write(`${label}: S3 on the source broker (10 s) ... `);
  const s3 = s3SendRate(a);
  console.log(`${Math.round(s3)} msg/s sent`);
  process.stdout.write(`${label}: filling the source with ${N} persistent 1 KiB messages ... `);
  await fill(a, 'shovel-bench.src', N);
  console.log('done');
  await http(a, 'PUT', '/api/parameters/shovel/%2F/bench', { value: SHOVEL(b.port) });
  const { rate, total } = await measure(moved);
  console.log(`${label}: shovel, on-confirm, persistent 1 KiB: ${Math.round(rate)} msg/s (10%..90%), ${N} in ${total.toFixed(1)} s`);
  console.log(`${label}: ratio to S3's send rate: ${(rate / s3).toFixed(2)}${label === 'Warren' ? ' (target >= 0.50)' : ''}`);
}

async function queueDepth(port: number, queue: string): Promise<number> {
  const conn = await ClientConnection.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  try {
    const ch = await conn.openChannel();
    return (await ch.declareQueue(queue, { passive: true })).messageCount;
  } catch {
    return 0;
  } finally {
    await conn.close();
  }
}

async function main(): Promise<void> {
  const a = await startBroker();
  const b = await startBroker();
  try {
    await run('Warren', a, b, async () => {
      const all = (await http(a, 'GET', '/api/shovels')) as Array<{ name: string; forwarded?: number }>;
      return all.find((s) => s.name === 'bench')?.forwarded ?? 0;
    });
  } finally {
    await stop(a);
    await stop(b);
  }
  if (!argv.includes('--rabbitmq')) return;
  if (!rabbitmqInstalled()) { console.log('RabbitMQ: rabbitmq-server is not installed, no comparison'); return; }
  const nodes: RabbitNode[] = await Promise.all([startRabbit(), startRabbit()]);
  try {
    await run('RabbitMQ', { port: nodes[0].port, httpPort: nodes[0].httpPort }, { port: nodes[1].port, httpPort: nodes[1].httpPort },
      () => queueDepth(nodes[1].port, 'shovel-bench.dst'));
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
