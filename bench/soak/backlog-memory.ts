// Memory with many backlogged queues (issue 10's target): N durable queues each holding a backlog
// of M persistent messages must cost at most 200 MB of broker RSS above an empty broker's, because
// the tail caches of all logs share ONE process-wide budget and write buffers are lent only while
// a log has unwritten records.
//
//   npm run build && node dist/bench/soak/backlog-memory.js [--queues 1000] [--messages 10000] [--size 1024]
//
// Prints the broker's VmRSS when empty, after the backlog is built, and after it has sat idle.
import { startWarren } from '../../src/loadgen/amqp/broker';
import { readRssKiB } from '../../src/loadgen/amqp/procfs';
import { ClientConnection, PublishTemplate, batchSizeFor } from '../../src/client';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

// Where the broker's memory is, from its own /metrics: V8 heap, memory outside it (Buffers), and
// the two store budgets inside the latter.
async function breakdown(httpPort: number): Promise<string> {
  if (httpPort === 0) return '';
  try {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const get = (name: string) => Number(new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(text)?.[1] ?? NaN);
    const mib = (n: number) => (n / 1048576).toFixed(1);
    return ` (V8 heap ${mib(get('warren_nodejs_heap_used_bytes'))}/${mib(get('warren_nodejs_heap_total_bytes'))} MiB, ` +
      `external ${mib(get('warren_nodejs_external_memory_bytes'))} MiB of which tail cache ${mib(get('warren_store_tail_cache_bytes'))}, ` +
      `write buffers ${mib(get('warren_store_write_buffer_bytes'))})`;
  } catch {
    return '';
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const queues = arg('queues', 1000);
  const messages = arg('messages', 10_000);
  const size = arg('size', 1024);
  // BROKER_NODE_ARGS: extra node flags for the broker, e.g. --heapsnapshot-signal=SIGUSR2
  const broker = await startWarren({ nodeArgs: process.env.BROKER_NODE_ARGS?.split(' ').filter(Boolean) });
  console.log(`broker pid ${broker.pid}`);
  try {
    const conn = await ClientConnection.connect(broker.url);
    const ch = await conn.openChannel();
    await sleep(2000);
    const empty = readRssKiB(broker.pid) ?? 0;
    console.log(`empty broker: RSS ${(empty / 1024).toFixed(1)} MiB${await breakdown(broker.httpPort)}`);
    const t0 = Date.now();
    const names: string[] = [];
    for (let q = 0; q < queues; q++) {
      names.push(`backlog.${q}`);
      await ch.declareQueue(names[q], { durable: true });
    }
    console.log(`${queues} durable queues declared in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const t1 = Date.now();
    // round-robin over the queues, a batch per queue at a time, so every log is busy at once
    const perBatch = Math.min(messages, batchSizeFor(size + 100));
    const templates = names.map((n) => new PublishTemplate({
      channel: ch.id, exchange: '', routingKey: n, bodySize: size, properties: { deliveryMode: 2 }, frameMax: conn.frameMax, maxBatch: perBatch,
    }));
    let peak = 0;
    for (let sent = 0; sent < messages; sent += perBatch) {
      const n = Math.min(perBatch, messages - sent);
      for (let q = 0; q < queues; q++) {
        if (!ch.publishBatch(templates[q], n, false)) await new Promise((r) => conn.socket.once('drain', r));
      }
      peak = Math.max(peak, readRssKiB(broker.pid) ?? 0);
    }
    // wait until every message is in its queue
    for (;;) {
      const d = await ch.declareQueue(names[queues - 1], { durable: true, passive: true });
      if (d.messageCount >= messages) break;
      await sleep(500);
    }
    const secs = (Date.now() - t1) / 1000;
    const total = queues * messages;
    console.log(`${total} messages of ${size} B published in ${secs.toFixed(1)} s (${Math.round(total / secs)} msg/s); peak RSS while publishing ${(peak / 1024).toFixed(1)} MiB`);
    const full = readRssKiB(broker.pid) ?? 0;
    console.log(`with the backlog: RSS ${(full / 1024).toFixed(1)} MiB${await breakdown(broker.httpPort)}`);
    await sleep(10_000);
    const idle = readRssKiB(broker.pid) ?? 0;
    const above = (idle - empty) / 1024;
    console.log(`after 10 s idle: RSS ${(idle / 1024).toFixed(1)} MiB${await breakdown(broker.httpPort)}, ${above.toFixed(1)} MiB above the empty broker ` +
      `(target <= 200 MiB): ${above <= 200 ? 'PASS' : 'FAIL'}`);
    await conn.close();
  } finally {
    await broker.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
