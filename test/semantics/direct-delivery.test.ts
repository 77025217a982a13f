// Messages that reach a consumer straight away (transient, nothing waiting, a consumer with
// credit) skip the log; these tests pin down that nothing a user can see changes: requeue order
// against messages that did wait in the log, redelivered flags, message counts, purge,
// dead-lettering and fanout. Run with SEMANTICS_URL=amqp://... to check them against RabbitMQ.
import t from 'tap';
import type * as amqp from 'amqplib';
import { channel, connect, drain, sleep, uniq, waitFor } from '../helpers/amqp';
import { brokerUnderTest, xDeath } from '../fixtures/semantics';

type Got = { body: string; redelivered: boolean; m: amqp.ConsumeMessage };

async function consumer(c: amqp.ChannelModel, q: string, prefetch: number): Promise<{ ch: amqp.Channel; got: Got[] }> {
  const ch = await channel(c);
  await ch.prefetch(prefetch);
  const got: Got[] = [];
  await ch.consume(q, (m) => { if (m) got.push({ body: m.content.toString(), redelivered: m.fields.redelivered, m }); });
  return { ch, got };
}

t.test('direct deliveries', async (t) => {
  const b = await brokerUnderTest();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const pub = await channel(c);

  t.test('requeued on channel close: back first, in order, ahead of messages that waited', async (t) => {
    const q = uniq('direct-order');
    await pub.assertQueue(q, { exclusive: true });
    const cons = await consumer(c, q, 3);
    for (const s of ['m1', 'm2', 'm3']) pub.sendToQueue(q, Buffer.from(s));
    t.ok(await waitFor(() => cons.got.length === 3), 'the consumer got the first three');
    for (const s of ['m4', 'm5', 'm6']) pub.sendToQueue(q, Buffer.from(s));
    await sleep(100);
    t.equal((await pub.checkQueue(q)).messageCount, 3, 'three wait (no credit left)');
    await cons.ch.close();
    await sleep(50);
    t.equal((await pub.checkQueue(q)).messageCount, 6, 'the three unacked are ready again');
    const all = await drain(pub, q, 6);
    t.same(all.map((m) => m.content.toString()), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    t.same(all.map((m) => m.fields.redelivered), [true, true, true, false, false, false]);
  });

  t.test('a nacked direct delivery goes back to the head, before messages that waited', async (t) => {
    const q = uniq('direct-nack');
    await pub.assertQueue(q, { exclusive: true });
    const cons = await consumer(c, q, 2);
    for (const s of ['a', 'b', 'c', 'd']) pub.sendToQueue(q, Buffer.from(s));
    t.ok(await waitFor(() => cons.got.length === 2));
    await sleep(50);
    t.same(cons.got.map((g) => g.body), ['a', 'b']);
    cons.ch.nack(cons.got[1].m, false, true);
    t.ok(await waitFor(() => cons.got.length === 3));
    t.same([cons.got[2].body, cons.got[2].redelivered], ['b', true], 'b again, redelivered, before c');
    cons.ch.ack(cons.got[0].m);
    cons.ch.ack(cons.got[2].m);
    t.ok(await waitFor(() => cons.got.length === 5));
    t.same(cons.got.slice(3).map((g) => [g.body, g.redelivered]), [['c', false], ['d', false]]);
    cons.ch.ack(cons.got[4].m, true);
    await sleep(50);
    const st = await pub.checkQueue(q);
    t.equal(st.messageCount, 0);
    await cons.ch.close();
    t.equal((await pub.checkQueue(q)).messageCount, 0, 'all acked: nothing comes back');
  });

  t.test('purge removes requeued direct deliveries', async (t) => {
    const q = uniq('direct-purge');
    await pub.assertQueue(q, { exclusive: true });
    const cons = await consumer(c, q, 10);
    for (const s of ['x', 'y']) pub.sendToQueue(q, Buffer.from(s));
    t.ok(await waitFor(() => cons.got.length === 2));
    await cons.ch.close();
    await sleep(50);
    t.equal((await pub.purgeQueue(q)).messageCount, 2);
    t.equal((await pub.checkQueue(q)).messageCount, 0);
    t.same(await drain(pub, q, 1, 200), []);
  });

  t.test('rejected without requeue: dead-lettered with x-death', async (t) => {
    const q = uniq('direct-dlx');
    const dlq = uniq('direct-dlq');
    await pub.assertQueue(dlq, { exclusive: true });
    await pub.assertQueue(q, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    const cons = await consumer(c, q, 5);
    pub.sendToQueue(q, Buffer.from('bad'), { headers: { k: 'v' } });
    t.ok(await waitFor(() => cons.got.length === 1));
    cons.ch.reject(cons.got[0].m, false);
    const [m] = await drain(pub, dlq, 1);
    t.equal(m?.content.toString(), 'bad');
    t.equal(m?.properties.headers?.k, 'v', 'properties kept');
    const d = xDeath(m ?? null);
    t.equal(d.length, 1);
    t.equal(d[0]?.reason, 'rejected');
    t.equal(d[0]?.queue, q);
    await cons.ch.close();
  });

  t.test('fanout: each queue settles its own copy', async (t) => {
    const ex = uniq('direct-fan');
    await pub.assertExchange(ex, 'fanout', { autoDelete: true });
    const q1 = uniq('direct-f1');
    const q2 = uniq('direct-f2');
    for (const q of [q1, q2]) { await pub.assertQueue(q, { exclusive: true }); await pub.bindQueue(q, ex, ''); }
    const c1 = await consumer(c, q1, 5);
    const c2 = await consumer(c, q2, 5);
    pub.publish(ex, '', Buffer.from('both'));
    t.ok(await waitFor(() => c1.got.length === 1 && c2.got.length === 1));
    c1.ch.ack(c1.got[0].m);
    c2.ch.nack(c2.got[0].m, false, true);
    t.ok(await waitFor(() => c2.got.length === 2));
    t.same([c2.got[1].body, c2.got[1].redelivered], ['both', true]);
    await sleep(50);
    t.equal(c1.got.length, 1, 'the acked copy does not come back');
    c2.ch.ack(c2.got[1].m);
    await c1.ch.close();
    await c2.ch.close();
    t.equal((await pub.checkQueue(q1)).messageCount, 0);
    t.equal((await pub.checkQueue(q2)).messageCount, 0);
  });

  t.test('no prefetch limit, 12,000 unacked (more than Warren holds in memory): all come back in order', async (t) => {
    const q = uniq('direct-many');
    await pub.assertQueue(q, { exclusive: true });
    const cons = await consumer(c, q, 0);
    const n = 12_000;
    for (let i = 0; i < n; i++) pub.sendToQueue(q, Buffer.from(String(i)));
    t.ok(await waitFor(() => cons.got.length === n, 20_000), 'all delivered, none acked');
    t.ok(cons.got.every((g, i) => g.body === String(i)), 'delivered in order');
    await cons.ch.close();
    await sleep(100);
    t.equal((await pub.checkQueue(q)).messageCount, n, 'all ready again');
    const again: Array<[string, boolean]> = [];
    const ch = await channel(c);
    await ch.consume(q, (m) => { if (m) again.push([m.content.toString(), m.fields.redelivered]); }, { noAck: true });
    t.ok(await waitFor(() => again.length === n, 20_000));
    const firstBad = again.findIndex(([b, r], i) => b !== String(i) || !r);
    t.equal(firstBad, -1, 'redelivered, in the original order');
    await ch.close();
  });

  t.test('auto-ack consumers: nothing is kept, nothing comes back', async (t) => {
    const q = uniq('direct-noack');
    await pub.assertQueue(q, { exclusive: true });
    const ch = await channel(c);
    const got: string[] = [];
    await ch.consume(q, (m) => { if (m) got.push(m.content.toString()); }, { noAck: true });
    for (let i = 0; i < 100; i++) pub.sendToQueue(q, Buffer.from(String(i)));
    t.ok(await waitFor(() => got.length === 100));
    t.same(got, Array.from({ length: 100 }, (_, i) => String(i)), 'in order');
    await ch.close();
    t.equal((await pub.checkQueue(q)).messageCount, 0);
  });
});
