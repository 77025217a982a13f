// The load generator must not break silently: its lean client publishes and consumes exact
// counts against a real broker, and the harness (forked workers, IPC, drain) reports them.
import t from 'tap';
import { Writable } from 'node:stream';
import { startBroker } from '../helpers/broker';
import { ClientConnection, PublishTemplate, batchSizeFor, nowMs } from '../../src/client';
import { runOne, makeReporter } from '../../src/loadgen/amqp/runner';
import { DEFAULTS, type RunConfig } from '../../src/loadgen/amqp/scenarios';

function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => (cond() ? resolve(true) : Date.now() > end ? resolve(false) : setTimeout(tick, 5));
    tick();
  });
}

t.test('bench client and harness against Warren', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());

  t.test('lean client: N published with confirms, N consumed with manual acks, counts exact', async (t) => {
    const N = 30000;
    const pubConn = await ClientConnection.connect(b.url);
    const subConn = await ClientConnection.connect(b.url);
    t.teardown(async () => { await pubConn.close(); await subConn.close(); });
    const admin = await pubConn.openChannel();
    const q = 'bench-test-client';
    await admin.declareQueue(q, { durable: false });
    await admin.purgeQueue(q);

    const sub = await subConn.openChannel();
    let received = 0;
    let withTimestamp = 0;
    let lastTag = 0;
    let ordered = true;
    sub.sink = {
      onMessage(_ch, tag, sentAt, chunkTime) {
        received++;
        if (tag !== lastTag + 1) ordered = false;
        lastTag = tag;
        if (sentAt === sentAt && chunkTime >= sentAt) withTimestamp++;
      },
    };
    await sub.qos(500);
    await sub.consume(q, { noAck: false });

    const pub = await pubConn.openChannel();
    await pub.confirmSelect();
    const tpl = new PublishTemplate({
      channel: pub.id, exchange: '', routingKey: q, bodySize: 16, frameMax: pubConn.frameMax,
      maxBatch: batchSizeFor(100), properties: { deliveryMode: 1 },
    });
    const window = 1000;
    const t0 = nowMs();
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (pub.published < N && pub.unconfirmed < window) {
          pub.publishBatch(tpl, Math.min(tpl.maxBatch, N - pub.published, window - pub.unconfirmed), true);
        }
        if (pub.acked + pub.nacked >= N) resolve();
      };
      pub.onConfirms = pump;
      pump();
    });
    t.equal(pub.published, N, 'published N');
    t.equal(pub.acked, N, 'all N confirmed');
    t.equal(pub.nacked, 0, 'none nacked');
    t.ok(await waitFor(() => received >= N, 10000), 'consumer got them');
    await new Promise((r) => setTimeout(r, 200));
    t.equal(received, N, 'exactly N received, no duplicates');
    t.ok(ordered, 'delivery tags arrive in order');
    t.equal(withTimestamp, N, 'every body carries the send timestamp');
    t.ok(nowMs() - t0 < 10000, 'in reasonable time');

    // every delivery was acked: nothing is left in the queue, nothing unacked comes back
    await sub.close();
    const d = await admin.declareQueue(q, { passive: true });
    t.equal(d.messageCount, 0, 'queue empty after the acks');
    await admin.deleteQueue(q);
  });

  const sink = new Writable({ write(_c, _e, cb) { cb(); } });
  const rep = makeReporter(true, sink);

  t.test('harness: a 2-second run receives exactly what it sent', async (t) => {
    const cfg: RunConfig = { ...DEFAULTS, label: 'test', size: 16, duration: 2, autoAck: false, prefetch: 1000, queuePrefix: 'bench-test-timed' };
    const r = await runOne(cfg, { url: b.url, name: 'warren' }, rep);
    t.ok(r.sent > 1000, `sent ${r.sent}`);
    t.equal(r.received, r.sent, 'received == sent after the drain');
    t.equal(r.missing, 0, 'nothing missing');
    t.ok(r.recv_rate > 0 && r.seconds > 1.5, 'rates over the run');
    t.ok(r.latency && r.latency.n > 0 && r.latency.p50 >= 0, 'latency measured');
  });

  t.test('harness: confirms and fanout keep exact counts', async (t) => {
    const cfg: RunConfig = { ...DEFAULTS, label: 'test-fanout', size: 1024, duration: 2, confirm: 256, fanout: 3, consumers: 2, queuePrefix: 'bench-test-fanout' };
    const r = await runOne(cfg, { url: b.url, name: 'warren' }, rep);
    t.ok(r.sent > 100, `sent ${r.sent}`);
    t.equal(r.confirmed, r.sent, 'every publish confirmed');
    t.equal(r.received, r.sent * 3, 'each message reached all 3 queues');
    t.equal(r.missing, 0);
  });

  t.test('harness: publish-only then consume-only of an exact backlog', async (t) => {
    const N = 20000;
    const base: RunConfig = { ...DEFAULTS, size: 64, count: N, persistent: true, durable: true, queuePrefix: 'bench-test-backlog' };
    const fill = await runOne({ ...base, label: 'fill', publishOnly: true, confirm: 512, cleanBefore: true, cleanAfter: false }, { url: b.url, name: 'warren' }, rep);
    t.equal(fill.sent, N, 'published N');
    t.equal(fill.confirmed, N, 'confirmed N');
    const drain = await runOne({ ...base, label: 'drain', consumeOnly: true, cleanBefore: false, cleanAfter: true }, { url: b.url, name: 'warren' }, rep);
    t.equal(drain.received, N, 'drained exactly N');
    t.equal(drain.missing, 0);
    t.ok(drain.recv_rate > 0);
  });
});
