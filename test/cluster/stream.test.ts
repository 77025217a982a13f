// Stream protocol confirms in a cluster wait for the in-sync followers too: after the leader is
// killed, the new leader holds every message a Stream protocol publisher had confirmed.
import t from 'tap';
import amqp from 'amqplib';
import { etcdAvailable, startCluster } from '../helpers/cluster';
import { abandonStreamClient, closeStreamClient } from '../helpers/stream-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('Stream protocol: confirmed messages survive the leader\'s kill -9', { skip: etcdAvailable() ? false : 'no etcd binary' }, async (t) => {
  const rabbit = await import('rabbitmq-stream-js-client');
  const c = await startCluster({ leaseTtl: 5, stream: true });
  t.teardown(() => c.close());
  try {
    const leader = await c.leader();
    const until = Date.now() + 20_000;
    while ((await c.isr()).length < 3 && Date.now() < until) await sleep(100);
    const c1 = await rabbit.connect({ hostname: '127.0.0.1', port: leader.streamPort, username: 'guest', password: 'guest', vhost: '/' });
    c1.on?.('error', () => undefined);
    await c1.createStream({ stream: 'cs', arguments: {} });
    const pub = await c1.declarePublisher({ stream: 'cs', publisherRef: 'w' });
    let maxConfirmed = 0n;
    pub.on('publish_confirm', (err, ids) => { if (err === null) for (const id of ids) if (id > maxConfirmed) maxConfirmed = id; });
    let stop = false;
    const pump = (async () => {
      let i = 0n;
      while (!stop) {
        i++;
        try { await pub.send(Buffer.from(`w${i}`), { publishingId: i }); } catch { return; }
        if (i % 200n === 0n) await sleep(1);
      }
    })();
    const end = Date.now() + 20_000;
    while (maxConfirmed < 3000n && Date.now() < end) await sleep(50);
    await leader.kill();
    stop = true;
    await Promise.race([pump, sleep(1000)]);
    abandonStreamClient(c1);
    t.ok(maxConfirmed >= 3000n, `${maxConfirmed} confirmed before the kill`);
    const next = await c.leader(30_000, leader);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${next.port}`);
    const ch = await conn.createChannel();
    await ch.prefetch(5000);
    const got: string[] = [];
    await ch.consume('cs', (m) => { if (m) { got.push(m.content.toString()); ch.ack(m); } }, { arguments: { 'x-stream-offset': 'first' } });
    const end2 = Date.now() + 10_000;
    while (got.length < Number(maxConfirmed) && Date.now() < end2) await sleep(100);
    await sleep(200);
    await conn.close();
    t.ok(got.length >= Number(maxConfirmed), `${got.length} messages on the new leader`);
    t.equal(got.findIndex((m, k) => m !== `w${k + 1}`), -1, 'in order, no gap, no duplicate');
    // and the Stream protocol answers on the new leader
    const c2 = await rabbit.connect({ hostname: '127.0.0.1', port: next.streamPort, username: 'guest', password: 'guest', vhost: '/' });
    const pub2 = await c2.declarePublisher({ stream: 'cs', publisherRef: 'w' });
    t.ok(await pub2.getLastPublishingId() >= maxConfirmed, 'the de-duplication state came along');
    await closeStreamClient(c2);
  } catch (e) {
    t.comment(c.nodes.flatMap((n) => n.logs.slice(-20)).join('\n'));
    throw e;
  }
});
