// The bench parent: declares the topology, forks producer and consumer workers, polls them once
// a second for counts and latency, prints progress, and computes the results of a run.
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ClientConnection, type ClientChannel, nowMs, parseAmqpUrl } from '../../client';
import { Histogram, summarize, type LatencySummary } from './histogram';
import type { FromWorker, ToWorker, WorkerSpec, WorkerStats } from './ipc';
import { findListeningPid, readCpuSeconds, readRssKiB } from './procfs';
import type { RunConfig } from './scenarios';

// ------------------------------------------------------------------------------------ results

export interface RunResult {
  label: string;
  scenario: string | null;
  broker: string;
  product: string;
  url: string;
  /** seconds the rates are measured over */
  seconds: number;
  sent: number;
  confirmed: number;
  nacked: number;
  received: number;
  /** messages expected by consumers minus those received and those still queued (0 = none lost) */
  missing: number;
  /** messages still in the queues when the drain gave up (a backlog the consumers did not catch up with) */
  queued: number;
  send_rate: number;
  confirm_rate: number;
  recv_rate: number;
  /** body megabytes per second received (sent for publish-only) */
  mb_s: number;
  latency: LatencySummary | null;
  confirm_latency: LatencySummary | null;
  connections?: number;
  connect_s?: number;
  rss_before_kib?: number;
  rss_idle_kib?: number;
  rss_end_kib?: number;
  kib_per_conn?: number;
  /** broker CPU time (user + system) per message handled in the measurement window, in microseconds */
  cpu_us_per_msg?: number;
  config: RunConfig;
}

export interface Reporter {
  progress(line: Record<string, unknown>, text: string): void;
  info(text: string): void;
}

export function makeReporter(json: boolean, out: NodeJS.WritableStream = process.stdout): Reporter {
  return {
    progress(line, text) {
      out.write(json ? JSON.stringify({ type: 'progress', ...line }) + '\n' : text + '\n');
    },
    info(text) {
      if (!json) out.write(text + '\n');
    },
  };
}

// -------------------------------------------------------------------------------------- paths

/** Repository root, both from dist/src/loadgen/amqp (compiled) and src/loadgen/amqp (ts under tap). */
export function repoRoot(): string {
  const up3 = path.resolve(__dirname, '..', '..', '..');
  return path.basename(up3) === 'dist' ? path.dirname(up3) : up3;
}

function workerScript(): string {
  const here = path.join(__dirname, 'worker.js');
  if (fs.existsSync(here)) return here;
  const built = path.join(repoRoot(), 'dist', 'src', 'loadgen', 'amqp', 'worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`bench worker not found (${built}): run npm run build`);
}

// ------------------------------------------------------------------------------------ workers

class WorkerHandle {
  readonly proc: ChildProcess;
  last: WorkerStats | null = null;
  done: WorkerStats | null = null;
  ready: { connectMs: number; connections: number } | null = null;
  exited = false;
  private waiters = new Map<string, ((m: FromWorker) => void)[]>();

  constructor(readonly spec: WorkerSpec, private readonly onError: (e: Error) => void) {
    this.proc = fork(workerScript(), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-semi-space-size=32'] });
    this.proc.on('message', (raw) => this.onMessage(raw as FromWorker));
    this.proc.on('exit', (code, signal) => {
      this.exited = true;
      if (code !== 0 && code !== null) this.onError(new Error(`${this.name} exited with code ${code}`));
      else if (signal) this.onError(new Error(`${this.name} killed by ${signal}`));
      for (const list of this.waiters.values()) for (const w of list) w({ type: 'error', id: this.spec.id, message: `${this.name} exited` });
      this.waiters.clear();
    });
  }

  get name(): string {
    return `${this.spec.role} ${this.spec.id}`;
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'error') { this.onError(new Error(`${this.name}: ${m.message}`)); return; }
    if (m.type === 'ready') this.ready = { connectMs: m.connectMs, connections: m.connections };
    else { this.last = m; if (m.type === 'done') this.done = m; }
    const list = this.waiters.get(m.type);
    const w = list?.shift();
    if (w) w(m);
  }

  send(m: ToWorker): void {
    if (!this.exited && this.proc.connected) this.proc.send(m);
  }

  request<T extends FromWorker['type']>(m: ToWorker, reply: T, timeoutMs = 30000): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve, reject) => {
      if (this.exited) { reject(new Error(`${this.name} is gone`)); return; }
      const timer = setTimeout(() => reject(new Error(`${this.name} did not answer '${m.type}' within ${timeoutMs} ms`)), timeoutMs);
      const list = this.waiters.get(reply) ?? [];
      list.push((r) => {
        clearTimeout(timer);
        if (r.type === 'error') reject(new Error(r.message));
        else resolve(r as Extract<FromWorker, { type: T }>);
      });
      this.waiters.set(reply, list);
      this.send(m);
    });
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

// ----------------------------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function fmtInt(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-';
}

export function fmtMs(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
}

/** A text table: columns padded to their widest cell, right-aligned from `rightFrom` on. */
export function table(head: string[], rows: string[][], rightFrom = 2): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i >= rightFrom ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [fmt(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(fmt)].join('\n');
}

function sumOf(ws: WorkerHandle[], f: (s: WorkerStats) => number): number {
  let n = 0;
  for (const w of ws) if (w.last) n += f(w.last);
  return n;
}

/** Delete a queue; a broker that answers 404 for a missing queue closes the channel: reopen it. */
async function tryDelete(conn: ClientConnection, ch: ClientChannel, fn: (ch: ClientChannel) => Promise<unknown>): Promise<ClientChannel> {
  try {
    await fn(ch);
    return ch;
  } catch {
    if (!ch.closed) throw new Error('delete failed');
    return conn.openChannel();
  }
}

export interface Target {
  url: string;
  /** 'warren', 'rabbitmq', ... for tables */
  name: string;
  /** broker pid for memory figures (S8); discovered from the port when not given */
  pid?: number;
}

// ---------------------------------------------------------------------------------------- run

export async function runOne(cfg: RunConfig, target: Target, rep: Reporter): Promise<RunResult> {
  const url = parseAmqpUrl(target.url);
  const admin = await ClientConnection.connect(target.url, { connectionName: 'bench-admin' });
  const product = String(admin.serverProperties['product'] ?? '?') + ' ' + String(admin.serverProperties['version'] ?? '');
  let ch = await admin.openChannel();
  const fanout = cfg.fanout > 0;
  const nQueues = fanout ? cfg.fanout : Math.max(1, cfg.queues);
  const queues = Array.from({ length: nQueues }, (_, i) => `${cfg.queuePrefix}-${i}`);
  const exchange = fanout ? `${cfg.queuePrefix}-fanout` : '';
  const durable = cfg.durable || cfg.persistent;

  if (cfg.cleanBefore) {
    for (const q of queues) ch = await tryDelete(admin, ch, (c) => c.deleteQueue(q));
    if (fanout) ch = await tryDelete(admin, ch, (c) => c.deleteExchange(exchange));
  }
  for (const q of queues) await ch.declareQueue(q, { durable });
  if (fanout) {
    await ch.declareExchange(exchange, 'fanout', { durable });
    for (const q of queues) await ch.bindQueue(q, exchange, '');
  }

  let failure: Error | null = null;
  const onError = (e: Error) => { failure ??= e; };
  const consumers: WorkerHandle[] = [];
  const producers: WorkerHandle[] = [];
  const all = () => [...consumers, ...producers];
  let pid = target.pid ?? null;
  if (pid === null && (url.host === '127.0.0.1' || url.host === 'localhost' || url.host === '::1')) pid = findListeningPid(url.port);
  const result: Partial<RunResult> = {};

  try {
    // consumers: queue j goes to consumer j % C; with more consumers than queues, consumer i takes queue i % Q
    const nCons = cfg.publishOnly ? 0 : Math.max(0, cfg.consumers);
    for (let i = 0; i < nCons; i++) {
      const mine = nCons >= nQueues ? [queues[i % nQueues]] : queues.filter((_, j) => j % nCons === i);
      consumers.push(new WorkerHandle({
        role: 'consumer', id: i, url: target.url, queues: mine, noAck: cfg.autoAck, prefetch: cfg.autoAck ? 0 : cfg.prefetch,
        // draining a backlog: the age of old messages is not a latency
        latency: !cfg.consumeOnly,
      }, onError));
    }
    await Promise.all(consumers.map((w) => w.request({ type: 'init', spec: w.spec }, 'ready', 60000)));
    if (failure) throw failure;

    // producers
    const nProd = cfg.consumeOnly ? 0 : Math.max(0, cfg.producers);
    const manyConns = cfg.connections > 0;
    if (manyConns && pid !== null) result.rss_before_kib = (await settledRss(pid)) ?? undefined;
    const t0connect = nowMs();
    const prodCount = manyConns ? Math.max(1, nProd) : nProd;
    for (let i = 0; i < prodCount; i++) {
      const conns = manyConns ? Math.floor(cfg.connections / prodCount) + (i < cfg.connections % prodCount ? 1 : 0) : 1;
      const rate = manyConns ? conns * cfg.slowRate : cfg.rate > 0 ? cfg.rate / prodCount : 0;
      const count = cfg.count > 0 ? Math.floor(cfg.count / prodCount) + (i < cfg.count % prodCount ? 1 : 0) : 0;
      producers.push(new WorkerHandle({
        role: 'producer', id: i, url: target.url, connections: conns, exchange,
        // producer i publishes to queue i % Q; with fewer producers than queues, to every queue j with j % P == i
        routingKeys: fanout ? [''] : manyConns ? queues : prodCount >= nQueues ? [queues[i % nQueues]] : queues.filter((_, j) => j % prodCount === i),
        size: cfg.size, persistent: cfg.persistent, confirm: cfg.confirm, rate, count,
      }, onError));
    }
    await Promise.all(producers.map((w) => w.request({ type: 'init', spec: w.spec }, 'ready', 300000)));
    if (failure) throw failure;
    if (manyConns) {
      result.connections = cfg.connections;
      result.connect_s = (nowMs() - t0connect) / 1000;
      if (pid !== null) {
        result.rss_idle_kib = (await settledRss(pid)) ?? undefined;
        if (result.rss_before_kib !== undefined && result.rss_idle_kib !== undefined) {
          result.kib_per_conn = (result.rss_idle_kib - result.rss_before_kib) / cfg.connections;
        }
      }
      rep.info(`  ${target.name} ${cfg.label}: ${fmtInt(cfg.connections)} connections open in ${result.connect_s.toFixed(2)} s` +
        (result.kib_per_conn !== undefined ? `, broker RSS ${fmtInt(result.rss_before_kib! / 1024)} -> ${fmtInt(result.rss_idle_kib! / 1024)} MiB, ${result.kib_per_conn.toFixed(1)} KiB per idle connection` : ', broker pid unknown: no memory figure'));
    }

    // run
    const total = new Histogram();
    const confirmTotal = new Histogram();
    const t0 = nowMs();
    for (const w of all()) w.send({ type: 'start' });
    let prevT = t0, prevSent = 0, prevRecv = 0, prevConf = 0;
    const countMode = cfg.count > 0 && (cfg.publishOnly || cfg.consumeOnly);
    let lastProgressRecv = 0, lastProgressAt = t0;
    // the measurement starts after the warm-up (timed runs only)
    const warmTicks = countMode ? 0 : Math.max(0, Math.round(cfg.warmup));
    let tMeasure = t0, sent0 = 0, recv0 = 0, conf0 = 0;
    let cpu0 = pid !== null && !manyConns ? readCpuSeconds(pid) : null;
    for (let tick = 1; ; tick++) {
      // sleep to the next whole second, waking early when a count-mode run completes
      const wake = t0 + tick * 1000;
      while (nowMs() < wake - 1) {
        if (failure) throw failure;
        if (countMode && countReached(cfg, producers, consumers)) break;
        await sleep(Math.min(countMode ? 50 : 1000, Math.max(1, wake - nowMs())));
      }
      if (failure) throw failure;
      const stats = await Promise.all(all().map((w) => w.request({ type: 'poll' }, 'stats')));
      const sec = new Histogram();
      for (const s of stats) if (s.hist) { (s.role === 'consumer' ? total : confirmTotal).merge(s.hist); if (s.role === 'consumer') sec.merge(s.hist); }
      const now = nowMs();
      const sent = sumOf(producers, (s) => s.sent);
      const recv = sumOf(consumers, (s) => s.received);
      const conf = sumOf(producers, (s) => s.confirmed);
      const dt = (now - prevT) / 1000;
      const line = {
        label: cfg.label, broker: target.name, t: Math.round((now - t0) / 100) / 10,
        sent_rate: Math.round((sent - prevSent) / dt), recv_rate: Math.round((recv - prevRecv) / dt),
        confirm_rate: cfg.confirm > 0 ? Math.round((conf - prevConf) / dt) : undefined,
        sent, received: recv, p50: sec.n ? sec.percentileMs(50) : undefined, p99: sec.n ? sec.percentileMs(99) : undefined,
      };
      rep.progress(line, `  ${target.name} ${cfg.label} ${line.t.toFixed(0).padStart(3)}s` +
        (nProd > 0 ? `  sent ${fmtInt(line.sent_rate).padStart(9)}/s` : '') +
        (nCons > 0 ? `  recv ${fmtInt(line.recv_rate).padStart(9)}/s` : '') + (cfg.confirm > 0 ? `  confirmed ${fmtInt(line.confirm_rate!).padStart(9)}/s` : '') +
        (nProd > 0 && nCons > 0 ? `  backlog ${fmtInt(sent * (fanout ? nQueues : 1) - recv).padStart(9)}` : '') +
        (sec.n ? `  latency p50 ${fmtMs(line.p50)} p99 ${fmtMs(line.p99)} ms` : ''));
      prevT = now; prevSent = sent; prevRecv = recv; prevConf = conf;
      if (tick === warmTicks) {
        total.reset(); confirmTotal.reset();
        tMeasure = now; sent0 = sent; recv0 = recv; conf0 = conf;
        if (cpu0 !== null && pid !== null) cpu0 = readCpuSeconds(pid);
        rep.info(`  ${target.name} ${cfg.label}: warm-up over, measuring`);
      }
      if (recv > lastProgressRecv) { lastProgressRecv = recv; lastProgressAt = now; }
      if (countMode) {
        if (countReached(cfg, producers, consumers)) break;
        // consume-only from a backlog that runs dry before the count: stop after 5 s without progress
        if (cfg.consumeOnly && now - lastProgressAt > 5000) { rep.info(`  ${cfg.label}: no message for 5 s, stopping at ${fmtInt(recv)}`); break; }
      } else if (now - tMeasure >= cfg.duration * 1000 - 5 && tick >= warmTicks) break;
    }

    // stop: producers stop and report, consumers report what they had at this instant
    const tEnd = nowMs();
    const cpu1 = cpu0 !== null && pid !== null ? readCpuSeconds(pid) : null;
    const [marks, finals] = await Promise.all([
      Promise.all(consumers.map((w) => w.request({ type: 'mark' }, 'mark'))),
      Promise.all(producers.map((w) => w.request({ type: 'stop' }, 'final', 30000))),
    ]);
    for (const s of [...marks, ...finals]) if (s.hist) (s.role === 'consumer' ? total : confirmTotal).merge(s.hist);
    const sent = finals.reduce((a, s) => a + s.sent, 0);
    const confirmed = finals.reduce((a, s) => a + s.confirmed, 0);
    const nacked = finals.reduce((a, s) => a + s.nacked, 0);
    const recvAtMark = marks.reduce((a, s) => a + s.received, 0);
    if (manyConns && pid !== null) result.rss_end_kib = readRssKiB(pid) ?? undefined;

    // drain what is still in flight so the counts can be checked
    let received = recvAtMark;
    const expected = cfg.consumeOnly ? (cfg.count > 0 ? cfg.count : recvAtMark) : sent * (fanout ? nQueues : 1);
    if (consumers.length > 0 && !cfg.consumeOnly) {
      const deadline = nowMs() + 15000;
      let last = received, lastAt = nowMs();
      while (received < expected && nowMs() < deadline && nowMs() - lastAt < 3000) {
        await sleep(100);
        const st = await Promise.all(consumers.map((w) => w.request({ type: 'poll' }, 'stats')));
        received = st.reduce((a, s) => a + s.received, 0);
        if (received > last) { last = received; lastAt = nowMs(); }
      }
    }
    const cfinals = await Promise.all(consumers.map((w) => w.request({ type: 'stop' }, 'final', 30000)));
    if (consumers.length > 0) received = cfinals.reduce((a, s) => a + s.received, 0);
    // not drained in time: what is still queued is not lost
    let queued = 0;
    if (consumers.length > 0 && received < expected && !cfg.consumeOnly) {
      // the consumers' unacked deliveries return to their queues when their connections close,
      // which a busy broker may take a while to do: count until the total stops moving (5 s at most)
      const until = nowMs() + 5000;
      let prevQueued = -1, stableSince = nowMs();
      for (;;) {
        await sleep(200);
        queued = 0;
        for (const q of queues) {
          try { queued += (await ch.declareQueue(q, { passive: true })).messageCount; } catch { break; }
        }
        if (received + queued >= expected || nowMs() > until) break;
        if (queued !== prevQueued) { prevQueued = queued; stableSince = nowMs(); }
        else if (nowMs() - stableSince >= 1000) break;
      }
    }

    // the measurement window
    let seconds = (tEnd - tMeasure) / 1000;
    if (cfg.publishOnly && cfg.count > 0) {
      const end = Math.max(...finals.map((s) => (s.doneAt > 0 ? s.doneAt : s.lastAt)));
      seconds = (end - t0) / 1000;
    } else if (cfg.consumeOnly) {
      const end = Math.max(...marks.map((s) => s.lastAt));
      if (end > t0) seconds = (end - t0) / 1000;
    }
    const recvCounted = recvAtMark;
    // a message costs the broker its publish and its delivery: count the larger side
    const handled = Math.max(cfg.consumeOnly ? 0 : sent - sent0, cfg.publishOnly ? 0 : recvCounted - recv0);
    if (cpu0 !== null && cpu1 !== null && handled > 0) result.cpu_us_per_msg = ((cpu1 - cpu0) * 1e6) / handled;
    const r: RunResult = {
      label: cfg.label, scenario: cfg.scenario, broker: target.name, product: product.trim(), url: redact(target.url),
      seconds, sent, confirmed, nacked, received,
      missing: consumers.length > 0 && !cfg.publishOnly ? Math.max(0, expected - received - queued) : 0,
      queued,
      send_rate: (sent - sent0) / seconds,
      confirm_rate: cfg.confirm > 0 ? (confirmed - conf0) / seconds : 0,
      recv_rate: (recvCounted - recv0) / seconds,
      mb_s: ((cfg.publishOnly ? sent - sent0 : recvCounted - recv0) * cfg.size) / seconds / 1e6,
      latency: summarize(total),
      confirm_latency: summarize(confirmTotal),
      ...result,
      config: cfg,
    };
    return r;
  } finally {
    for (const w of all()) w.kill();
    try {
      if (cfg.cleanAfter && !admin.closed && !admin.error) {
        if (ch.closed) ch = await admin.openChannel();
        for (const q of queues) ch = await tryDelete(admin, ch, (c) => c.deleteQueue(q));
        if (fanout) ch = await tryDelete(admin, ch, (c) => c.deleteExchange(exchange));
      }
    } catch { /* best effort */ }
    await admin.close().catch(() => undefined);
  }
}

/** RSS once it stops moving (two samples 500 ms apart within 256 KiB; at most 10 s). */
async function settledRss(pid: number): Promise<number | null> {
  let prev = readRssKiB(pid);
  for (let i = 0; i < 20 && prev !== null; i++) {
    await sleep(500);
    const cur = readRssKiB(pid);
    if (cur === null) return prev;
    if (Math.abs(cur - prev) < 256) return cur;
    prev = cur;
  }
  return prev;
}

function countReached(cfg: RunConfig, producers: WorkerHandle[], consumers: WorkerHandle[]): boolean {
  if (cfg.publishOnly) return producers.length > 0 && producers.every((w) => w.done !== null);
  if (cfg.consumeOnly) return sumOf(consumers, (s) => s.received) >= cfg.count;
  return false;
}

export function redact(u: string): string {
  return u.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
