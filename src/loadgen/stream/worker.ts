// A load-generating process of the stream benchmarks (forked by runner.ts): one producer or one
// consumer, over AMQP 0-9-1 (the lean client) or the Stream protocol (client.ts). It reports its
// counts to the parent every 250 ms and on request, and stops when told.
import { ClientConnection, PublishTemplate, batchSizeFor } from '../../client';
import { BenchStreamClient, PublishFrames } from './client';

export type Role =
  | { kind: 'stream-producer'; host: string; port: number; stream: string; size: number; perFrame: number; window: number; count: number; filter: string | null; ref: string | null }
  | { kind: 'stream-consumer'; host: string; port: number; stream: string; offsetType: number; offset: number; credit: number; filter: string | null; expect: number }
  | { kind: 'amqp-producer'; url: string; queue: string; size: number; window: number; count: number }
  | { kind: 'amqp-consumer'; url: string; queue: string; prefetch: number; offset: unknown; expect: number };

export interface Report {
  /** messages confirmed (producers) or received (consumers) */
  count: number;
  /** ms from the start command to the first delivery (consumers) */
  firstAt: number;
  /** ms from the start command to `expect` messages (consumers), or to the last confirm of `count` (producers) */
  doneAt: number;
  error?: string;
}

const report: Report = { count: 0, firstAt: -1, doneAt: -1 };
let started = 0;
let stopping = false;

function send(): void {
  process.send?.({ type: 'report', report });
}

async function streamProducer(r: Extract<Role, { kind: 'stream-producer' }>): Promise<void> {
  const c = await BenchStreamClient.connect(r.host, r.port);
  await c.declarePublisher(1, r.stream, r.ref);
  const frames = new PublishFrames(1, r.perFrame, r.size, r.filter);
  let next = 1;
  const pump = (): void => {
    while (!stopping && !c.closed) {
      const sent = next - 1;
      if (r.count > 0 && sent >= r.count) return;
      if (sent - c.confirmed - c.errored >= r.window) return;
      let n = frames.framesPerWrite;
      if (r.count > 0) n = Math.min(n, Math.ceil((r.count - sent) / r.perFrame));
      const ok = c.send(frames.build(n, next));
      next += n * r.perFrame;
      if (!ok) { c.socket.once('drain', pump); return; }
    }
  };
  c.onConfirm = () => {
    report.count = c.confirmed;
    if (r.count > 0 && c.confirmed + c.errored >= r.count && report.doneAt < 0) { report.doneAt = Date.now() - started; send(); }
    pump();
  };
  await waitStart();
  pump();
}

async function streamConsumer(r: Extract<Role, { kind: 'stream-consumer' }>): Promise<void> {
  const c = await BenchStreamClient.connect(r.host, r.port);
  c.onDeliver = () => {
    if (report.firstAt < 0) { report.firstAt = Date.now() - started; send(); }
    report.count = c.records.get(1) ?? 0;
    if (r.expect > 0 && report.count >= r.expect && report.doneAt < 0) { report.doneAt = Date.now() - started; send(); }
  };
  await waitStart();
  const props: Record<string, string> = r.filter === null ? {} : { 'filter.0': r.filter, 'match-unfiltered': 'false' };
  await c.subscribe(1, r.stream, r.offsetType, r.offset, r.credit, props);
}

async function amqpProducer(r: Extract<Role, { kind: 'amqp-producer' }>): Promise<void> {
  const conn = await ClientConnection.connect(r.url, { connectionName: 'bench-stream producer' });
  const ch = await conn.openChannel();
  await ch.confirmSelect();
  const t = new PublishTemplate({ channel: ch.id, exchange: '', routingKey: r.queue, bodySize: r.size, frameMax: conn.frameMax, maxBatch: batchSizeFor(r.size + 60) });
  const pump = (): void => {
    while (!stopping && !ch.closed) {
      if (r.count > 0 && ch.published >= r.count) return;
      const room = r.window - ch.unconfirmed;
      if (room <= 0) return;
      let n = Math.min(room, t.maxBatch);
      if (r.count > 0) n = Math.min(n, r.count - ch.published);
      if (!ch.publishBatch(t, n, false)) { conn.socket.once('drain', pump); return; }
    }
  };
  ch.onConfirms = () => {
    report.count = ch.acked;
    if (r.count > 0 && ch.acked + ch.nacked >= r.count && report.doneAt < 0) { report.doneAt = Date.now() - started; send(); }
    pump();
  };
  await waitStart();
  pump();
}

async function amqpConsumer(r: Extract<Role, { kind: 'amqp-consumer' }>): Promise<void> {
  const conn = await ClientConnection.connect(r.url, { connectionName: 'bench-stream consumer' });
  const ch = await conn.openChannel();
  await ch.qos(r.prefetch);
  ch.manualAck = true;
  ch.sink = {
    onMessage: () => {
      if (report.firstAt < 0) { report.firstAt = Date.now() - started; send(); }
      report.count = ch.received;
      if (r.expect > 0 && ch.received >= r.expect && report.doneAt < 0) { report.doneAt = Date.now() - started; send(); }
    },
  };
  await waitStart();
  await ch.consume(r.queue, { arguments: { 'x-stream-offset': r.offset as never } });
}

let startResolve: (() => void) | null = null;
function waitStart(): Promise<void> {
  process.send?.({ type: 'ready' });
  return new Promise((r) => { startResolve = r; });
}

process.on('message', (m: { type: string; role?: Role }) => {
  if (m.type === 'role') {
    const r = m.role as Role;
    const run = r.kind === 'stream-producer' ? streamProducer(r) : r.kind === 'stream-consumer' ? streamConsumer(r)
      : r.kind === 'amqp-producer' ? amqpProducer(r) : amqpConsumer(r);
    run.catch((e: Error) => { report.error = e.message; send(); });
  } else if (m.type === 'start') {
    started = Date.now();
    startResolve?.();
    setInterval(send, 250).unref();
  } else if (m.type === 'report') send();
  else if (m.type === 'stop') {
    stopping = true;
    send();
    setTimeout(() => process.exit(0), 100);
  }
});
process.on('disconnect', () => process.exit(0));
