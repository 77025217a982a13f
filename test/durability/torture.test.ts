// Crash torture: a publisher with confirms sends numbered persistent messages, a consumer acks
// the odd ones and leaves the even ones unacked, and the broker is killed with SIGKILL at random
// moments and restarted, many times. Every confirmed message must be delivered at least once,
// and every confirmed even (never acked) message must still be in the queue at the end.
import t from 'tap';
import type * as amqp from 'amqplib';
import { startBroker, tempDir } from '../helpers/broker';
import { connect, sleep } from '../helpers/amqp';

const CYCLES = Number(process.env.TORTURE_CYCLES ?? 20);
const Q = 'torture.q';

// Deterministic PRNG so a failure can be replayed with the same seed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32; };
}

t.test('kill -9 torture: no confirmed message is lost', async (t) => {
  const seed = Number(process.env.TORTURE_SEED ?? Date.now() % 100000);
  const rnd = prng(seed);
  const dataDir = tempDir('warren-torture-');
  const confirmed = new Set<number>();
  const delivered = new Map<number, number>();
  let next = 0;

  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const b = await startBroker({ dataDir, logLevel: 'warning' });
    const pubConn = await connect(b.url);
    const subConn = await connect(b.url);
    const pub = await pubConn.createConfirmChannel();
    pub.on('error', () => undefined);
    await pub.assertQueue(Q, { durable: true });
    const sub = await subConn.createChannel();
    sub.on('error', () => undefined);
    await sub.consume(Q, (m) => {
      if (!m) return;
      const n = Number(m.content.toString());
      delivered.set(n, (delivered.get(n) ?? 0) + 1);
      if (n % 2 === 1) { try { sub.ack(m); } catch { /* broker gone */ } }
    });
    let running = true;
    const publishing = (async () => {
      while (running) {
        const batch: Promise<void>[] = [];
        for (let i = 0; i < 50 && running; i++) {
          const n = next++;
          batch.push(new Promise<void>((resolve) => {
            try {
              pub.sendToQueue(Q, Buffer.from(String(n)), { persistent: true }, (err) => { if (!err) confirmed.add(n); resolve(); });
            } catch { resolve(); }
          }));
        }
        await Promise.race([Promise.all(batch), sleep(2000)]);
        // Once the broker is gone sendToQueue throws at once; yield so the kill can proceed.
        await new Promise((r) => setImmediate(r));
      }
    })();
    await sleep(200 + rnd() * 800);
    await b.kill();
    running = false;
    await publishing;
    // amqplib's close() on a connection whose broker was killed may never settle (and holds no
    // timer or socket open, so the process could simply run out of work): bound the wait.
    await Promise.race([Promise.all([pubConn.close().catch(() => undefined), subConn.close().catch(() => undefined)]), sleep(500)]);
  }

  // Final check: drain what is left.
  const b = await startBroker({ dataDir, logLevel: 'warning' });
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await c.createChannel();
  ch.on('error', () => undefined);
  const remaining = new Set<number>();
  let m: amqp.GetMessage | false;
  while ((m = await ch.get(Q, { noAck: true })) !== false) {
    const n = Number(m.content.toString());
    remaining.add(n);
    delivered.set(n, (delivered.get(n) ?? 0) + 1);
  }
  let lost = 0;
  const lostSample: number[] = [];
  for (const n of confirmed) {
    const ok = n % 2 === 0 ? remaining.has(n) : delivered.has(n);
    if (!ok) { lost++; if (lostSample.length < 10) lostSample.push(n); }
  }
  let duplicates = 0;
  for (const [n, k] of delivered) if (n % 2 === 1 && k > 1) duplicates += k - 1;
  const line = `torture: seed=${seed} cycles=${CYCLES} confirmed=${confirmed.size} delivered=${delivered.size} lost=${lost} duplicates=${duplicates}`;
  console.log(line);
  t.ok(confirmed.size > CYCLES * 50, `publishing made progress (${confirmed.size} confirmed)`);
  t.equal(lost, 0, `${line}${lost ? ` lost e.g. ${lostSample.join(',')}` : ''}`);
});
