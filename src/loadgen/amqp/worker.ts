// A bench worker process: one producer (one or many connections) or one consumer (one
// connection, one channel per queue). Forked by the runner; talks to it over IPC (ipc.ts).
import { ClientConnection, type ClientChannel, PublishTemplate, batchSizeFor, nowMs } from '../../client';
import { Histogram } from './histogram';
import type { ConsumerSpec, FromWorker, ProducerSpec, ToWorker, WorkerSpec, WorkerStats } from './ipc';

const HIGH_WATER = 1024 * 1024; // bytes queued in the socket before a producer waits for 'drain'
const CONNECT_PARALLELISM = 25;

function send(m: FromWorker): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) { resolve(); return; }
    process.send(m, undefined, {}, () => resolve());
  });
}

function fail(id: number, e: unknown): void {
  const message = e instanceof Error ? e.message : String(e);
  void send({ type: 'error', id, message }).then(() => process.exit(1));
}

abstract class Worker {
  protected conns: ClientConnection[] = [];
  protected hist = new Histogram();
  protected recording = true;
  protected stopping = false;
  constructor(readonly id: number) {}
  abstract setup(): Promise<void>;
  abstract start(): void;
  abstract stats(): WorkerStats;
  abstract stop(): Promise<void>;

  protected takeHist(): WorkerStats['hist'] {
    if (this.hist.n === 0) return null;
    const s = this.hist.snapshot();
    this.hist.reset();
    return s;
  }

  protected watch(c: ClientConnection): void {
    c.onClose = (err) => {
      if (!this.stopping && err) fail(this.id, err);
    };
  }

  async closeAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.conns.map((c) => c.close(3000).catch(() => undefined)));
  }
}

// ------------------------------------------------------------------------------------- producer

interface Pub {
  conn: ClientConnection;
  ch: ClientChannel;
  /** the template of the next batch */
  t: PublishTemplate;
  ts: PublishTemplate[];
  next: number;
}

function nextTemplate(p: Pub): void {
  if (p.ts.length > 1) {
    p.next = p.next + 1 === p.ts.length ? 0 : p.next + 1;
    p.t = p.ts[p.next];
  }
}

class Producer extends Worker {
  private pubs: Pub[] = [];
  private sent = 0;
  private lastAt = 0;
  private done = false;
  private doneAt = 0;
  private running = false;
  private pumpScheduled = false;
  private waitingDrain = false;
  private startAt = 0;
  private rr = 0;
  private tickMs = 1;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly spec: ProducerSpec) { super(spec.id); }

  async setup(): Promise<void> {
    const s = this.spec;
    const one = async (i: number) => {
      const conn = await ClientConnection.connect(s.url, { connectionName: `bench-producer-${s.id}-${i}` });
      this.watch(conn);
      const ch = await conn.openChannel();
      if (s.confirm > 0) {
        await ch.confirmSelect();
        ch.onConfirmLatency = (ms, n) => { if (this.recording) this.hist.recordMs(ms, n); };
        ch.onConfirms = () => this.onConfirms();
      }
      // this connection's routing keys: one when there are more connections than keys,
      // otherwise every key k with k % connections == i, taken in turn batch by batch
      const keys = s.connections >= s.routingKeys.length
        ? [s.routingKeys[i % s.routingKeys.length]]
        : s.routingKeys.filter((_, k) => k % s.connections === i);
      const probe = new PublishTemplate({ channel: ch.id, exchange: s.exchange, routingKey: keys[0], bodySize: s.size, frameMax: conn.frameMax, maxBatch: 1 });
      let maxBatch = batchSizeFor(probe.messageBytes);
      if (s.confirm > 0) maxBatch = Math.min(maxBatch, Math.max(1, Math.floor(s.confirm / 2)));
      if (s.connections > 1) maxBatch = Math.min(maxBatch, 64);
      const ts = keys.map((routingKey) => new PublishTemplate({
        channel: ch.id, exchange: s.exchange, routingKey, bodySize: s.size, frameMax: conn.frameMax, maxBatch,
        properties: { deliveryMode: s.persistent ? 2 : 1 },
      }));
      conn.onBlockedChange = (b) => { if (!b) this.schedule(); };
      conn.socket.on('drain', () => { if (this.waitingDrain) { this.waitingDrain = false; this.schedule(); } });
      this.pubs[i] = { conn, ch, t: ts[0], ts, next: 0 };
      this.conns[i] = conn;
    };
    let next = 0;
    const lanes: Promise<void>[] = [];
    for (let l = 0; l < Math.min(CONNECT_PARALLELISM, s.connections); l++) {
      lanes.push((async () => { while (next < s.connections) await one(next++); })());
    }
    await Promise.all(lanes);
  }

  start(): void {
    this.running = true;
    this.startAt = nowMs();
    if (this.spec.rate > 0) {
      this.tickMs = Math.max(1, Math.min(50, Math.floor(1000 / this.spec.rate)));
      this.timer = setTimeout(() => this.tick(), this.tickMs);
    } else {
      this.schedule();
    }
  }

  private schedule(): void {
    if (this.pumpScheduled || !this.running || this.spec.rate > 0) return;
    this.pumpScheduled = true;
    setImmediate(() => { this.pumpScheduled = false; this.pump(); });
  }

  private onConfirms(): void {
    if (this.spec.count > 0 && this.sent >= this.spec.count && !this.done && this.unconfirmed() === 0) this.finish();
    if (this.spec.rate === 0) this.schedule();
  }

  private unconfirmed(): number {
    let n = 0;
    for (const p of this.pubs) n += p.ch.unconfirmed;
    return n;
  }

  private remaining(): number {
    return this.spec.count > 0 ? this.spec.count - this.sent : Infinity;
  }

  /** As fast as possible: write batches until the socket backs up, the window fills or 8 batches. */
  private pump(): void {
    if (!this.running) return;
    const s = this.spec;
    for (let loops = 0; loops < 8; loops++) {
      let wrote = false;
      for (const p of this.pubs) {
        if (p.conn.blocked || p.ch.closed) continue;
        if (p.conn.socket.writableLength > HIGH_WATER) { this.waitingDrain = true; continue; }
        let n = p.t.maxBatch;
        const rem = this.remaining();
        if (rem < n) n = rem;
        if (s.confirm > 0) {
          const room = s.confirm - p.ch.unconfirmed;
          if (room < n) n = room;
        }
        if (n <= 0) continue;
        p.ch.publishBatch(p.t, n, true);
        nextTemplate(p);
        this.sent += n;
        wrote = true;
        if (this.sent >= s.count && s.count > 0) {
          this.lastAt = nowMs();
          if (s.confirm === 0 || this.unconfirmed() === 0) this.finish();
          return;
        }
      }
      if (!wrote) { this.lastAt = nowMs(); return; } // resumed by drain, confirms or unblock
    }
    this.lastAt = nowMs();
    this.schedule();
  }

  /** Fixed rate: every tick, publish what is due, spread round-robin over the connections. */
  private tick(): void {
    if (!this.running) return;
    const s = this.spec;
    const now = nowMs();
    let due = Math.floor(((now - this.startAt) * s.rate) / 1000) - this.sent;
    // more than a second behind (the broker pushed back): forget the debt instead of bursting
    if (due > s.rate) { this.startAt += ((due - s.rate) * 1000) / s.rate; due = s.rate; }
    const rem = this.remaining();
    if (due > rem) due = rem;
    const pubs = this.pubs;
    let idle = 0;
    while (due > 0 && idle < pubs.length) {
      const p = pubs[this.rr];
      this.rr = this.rr + 1 === pubs.length ? 0 : this.rr + 1;
      let n = pubs.length === 1 ? due : Math.min(due, Math.max(1, Math.ceil(due / pubs.length)));
      if (n > p.t.maxBatch) n = p.t.maxBatch;
      if (s.confirm > 0) n = Math.min(n, s.confirm - p.ch.unconfirmed);
      if (n <= 0 || p.conn.blocked || p.ch.closed || p.conn.socket.writableLength > HIGH_WATER) { idle++; continue; }
      idle = 0;
      p.ch.publishBatch(p.t, n, true);
      nextTemplate(p);
      this.sent += n;
      due -= n;
      this.lastAt = now;
    }
    if (s.count > 0 && this.sent >= s.count) {
      if (s.confirm === 0 || this.unconfirmed() === 0) this.finish();
      return;
    }
    this.timer = setTimeout(() => this.tick(), this.tickMs);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.running = false;
    this.doneAt = nowMs();
    void send({ type: 'done', ...this.stats() });
  }

  stats(): WorkerStats {
    let confirmed = 0, nacked = 0, returned = 0;
    for (const p of this.pubs) { confirmed += p.ch.acked; nacked += p.ch.nacked; returned += p.ch.returned; }
    return {
      id: this.id, role: 'producer', sent: this.sent, confirmed, nacked, received: 0, returned,
      lastAt: this.lastAt, hist: this.takeHist(), done: this.done, doneAt: this.doneAt,
    };
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.recording = false;
    if (this.spec.confirm > 0) {
      const deadline = nowMs() + 10000;
      while (this.unconfirmed() > 0 && nowMs() < deadline && this.pubs.every((p) => !p.ch.closed)) {
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  }
}

// ------------------------------------------------------------------------------------- consumer

class Consumer extends Worker {
  private chans: ClientChannel[] = [];
  private received = 0;
  private lastAt = 0;

  constructor(readonly spec: ConsumerSpec) {
    super(spec.id);
    this.recording = spec.latency;
  }

  async setup(): Promise<void> {
    const s = this.spec;
    const conn = await ClientConnection.connect(s.url, { connectionName: `bench-consumer-${s.id}` });
    this.watch(conn);
    this.conns.push(conn);
    const sink = {
      onMessage: (_ch: ClientChannel, _tag: number, sentAt: number, t: number) => {
        this.received++;
        this.lastAt = t;
        if (this.recording && sentAt === sentAt) this.hist.recordMs(t - sentAt);
      },
    };
    for (let i = 0; i < s.queues.length; i++) {
      const ch = await conn.openChannel();
      ch.sink = sink;
      if (!s.noAck && s.prefetch > 0) await ch.qos(s.prefetch);
      this.chans.push(ch);
    }
  }

  // basic.consume goes out only now, so a backlog is not drained before the clock starts.
  start(): void {
    const s = this.spec;
    s.queues.forEach((q, i) => {
      this.chans[i].consume(q, { noAck: s.noAck, consumerTag: `bench-c${s.id}-${q}` }).catch((e) => fail(this.id, e));
    });
  }

  stats(): WorkerStats {
    let returned = 0;
    for (const c of this.chans) returned += c.returned;
    return {
      id: this.id, role: 'consumer', sent: 0, confirmed: 0, nacked: 0, received: this.received, returned,
      lastAt: this.lastAt, hist: this.takeHist(), done: false, doneAt: 0,
    };
  }

  async stop(): Promise<void> {
    this.recording = false;
  }
}

// ------------------------------------------------------------------------------------------ main

let worker: Worker | null = null;
let workerId = -1;

process.on('message', (raw: unknown) => {
  const m = raw as ToWorker;
  void handle(m).catch((e) => fail(workerId, e));
});

async function handle(m: ToWorker): Promise<void> {
  switch (m.type) {
    case 'init': {
      const spec: WorkerSpec = m.spec;
      workerId = spec.id;
      worker = spec.role === 'producer' ? new Producer(spec) : new Consumer(spec);
      const t0 = nowMs();
      await worker.setup();
      const connections = spec.role === 'producer' ? spec.connections : 1;
      await send({ type: 'ready', id: spec.id, connectMs: nowMs() - t0, connections });
      return;
    }
    case 'start':
      worker?.start();
      return;
    case 'poll':
      if (worker) await send({ type: 'stats', ...worker.stats() });
      return;
    case 'mark':
      if (worker) {
        const s = worker.stats();
        await worker.stop();
        await send({ type: 'mark', ...s });
      }
      return;
    case 'stop':
      if (worker) {
        await worker.stop();
        const s = worker.stats();
        await worker.closeAll();
        await send({ type: 'final', ...s });
      }
      process.exit(0);
  }
}

process.on('disconnect', () => process.exit(0));
