// Queue semantics across a broker restart (SIGTERM, then a new broker on the same data dir).
import t from 'tap';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, drain, getOne, sleep, type Conn } from '../helpers/amqp';
import { withoutTime, xDeath } from '../fixtures/semantics';

t.test('durable queue semantics across a restart', async (t) => {
  let b: RunningBroker = await startBroker();
  let c: Conn = await connect(b.url);
  t.teardown(async () => { await c.close().catch(() => undefined); await b.stop(); });

  const ch = await confirmChannel(c);
  // 1. TTL: a durable queue with a 2 s TTL dead-lettering into a durable DLQ.
  await ch.assertQueue('sem.ttl.dlq', { durable: true });
  await ch.assertQueue('sem.ttl', { durable: true, arguments: { 'x-message-ttl': 2000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'sem.ttl.dlq' } });
  // 2. A persistent and a transient message rejected into a durable DLQ.
  await ch.assertQueue('sem.rej.dlq', { durable: true });
  await ch.assertQueue('sem.rej', { durable: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'sem.rej.dlq' } });
  // 3. Priorities.
  await ch.assertQueue('sem.prio', { durable: true, arguments: { 'x-max-priority': 5 } });
  // 4. Per-message expiration in a durable queue.
  await ch.assertQueue('sem.mexp', { durable: true });

  const publishedAt = Date.now();
  ch.sendToQueue('sem.ttl', Buffer.from('ttl'), { persistent: true });
  ch.sendToQueue('sem.rej', Buffer.from('persistent'), { persistent: true, headers: { kind: 'p' }, expiration: '600000' });
  ch.sendToQueue('sem.rej', Buffer.from('transient'), { persistent: false });
  for (const [body, priority] of [['p1', 1], ['none', undefined], ['p5', 5], ['p3', 3], ['p5-b', 9]] as Array<[string, number | undefined]>) {
    ch.sendToQueue('sem.prio', Buffer.from(body), { persistent: true, ...(priority === undefined ? {} : { priority }) });
  }
  ch.sendToQueue('sem.mexp', Buffer.from('short'), { persistent: true, expiration: '1500' });
  ch.sendToQueue('sem.mexp', Buffer.from('long'), { persistent: true, expiration: '600000' });
  await ch.waitForConfirms();
  const plain = await channel(c);
  for (let i = 0; i < 2; i++) {
    const m = await getOne(plain, 'sem.rej');
    t.ok(m, 'delivered before rejecting');
    plain.reject(m!, false);
  }
  await sleep(100);
  t.equal((await plain.checkQueue('sem.rej.dlq')).messageCount, 2, 'both dead-lettered before the restart');
  t.equal((await plain.checkQueue('sem.ttl')).messageCount, 1, 'TTL message still waiting');

  await c.close();
  t.equal(await b.stop(), 0, 'clean stop');
  // Stay down past the TTL of the first message.
  const downUntil = publishedAt + 2300;
  if (Date.now() < downUntil) await sleep(downUntil - Date.now());
  b = await startBroker({ dataDir: b.dataDir });
  c = await connect(b.url);
  const restartedAt = Date.now();
  const ch2 = await channel(c);

  const dead = await getOne(ch2, 'sem.ttl.dlq', { noAck: true, timeoutMs: 1500 });
  t.ok(dead, `TTL counted from the original publish: expired ${Date.now() - restartedAt} ms after the restart`);
  t.equal(dead && dead.content.toString(), 'ttl');
  t.same(dead && withoutTime(xDeath(dead)[0]), { count: 1, reason: 'expired', queue: 'sem.ttl', exchange: '', 'routing-keys': ['sem.ttl'] });
  t.equal((await ch2.checkQueue('sem.ttl')).messageCount, 0);

  const rej = await drain(ch2, 'sem.rej.dlq', 2, 500);
  t.same(rej.map((m) => m.content.toString()), ['persistent'], 'the persistent dead-lettered message survived, the transient one did not');
  t.equal(rej[0]?.properties.deliveryMode, 2);
  t.equal(rej[0]?.properties.headers?.kind, 'p');
  t.equal(rej[0]?.properties.expiration, undefined);
  t.same(rej[0] && withoutTime(xDeath(rej[0])[0]), { count: 1, reason: 'rejected', queue: 'sem.rej', exchange: '', 'routing-keys': ['sem.rej'], 'original-expiration': '600000' });
  t.equal(rej[0]?.properties.headers?.['x-first-death-queue'], 'sem.rej');

  const prio = await drain(ch2, 'sem.prio', 5, 1000);
  t.same(prio.map((m) => m.content.toString()), ['p5', 'p5-b', 'p3', 'p1', 'none'], 'priority order after the restart');

  // Per-message expiration also counts from the publish time: 'short' is gone (it expired while
  // the broker was down), 'long' is still there.
  await sleep(50);
  const mexp = await drain(ch2, 'sem.mexp', 2, 300);
  t.same(mexp.map((m) => m.content.toString()), ['long']);

  for (const q of ['sem.ttl', 'sem.ttl.dlq', 'sem.rej', 'sem.rej.dlq', 'sem.prio', 'sem.mexp']) await ch2.deleteQueue(q);
  await ch2.close();
});

t.test('a TTL that has not run out yet keeps its remaining time after a restart', async (t) => {
  let b: RunningBroker = await startBroker();
  let c: Conn = await connect(b.url);
  t.teardown(async () => { await c.close().catch(() => undefined); await b.stop(); });
  const ch = await confirmChannel(c);
  await ch.assertQueue('sem.rest.dlq', { durable: true });
  await ch.assertQueue('sem.rest', { durable: true, arguments: { 'x-message-ttl': 6000, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'sem.rest.dlq' } });
  const publishedAt = Date.now();
  ch.sendToQueue('sem.rest', Buffer.from('x'), { persistent: true });
  await ch.waitForConfirms();
  await c.close();
  await b.stop();
  b = await startBroker({ dataDir: b.dataDir });
  c = await connect(b.url);
  const ch2 = await channel(c);
  t.equal((await ch2.checkQueue('sem.rest')).messageCount, 1, 'still there after the restart');
  const d = await getOne(ch2, 'sem.rest.dlq', { noAck: true, timeoutMs: 10000 });
  const at = Date.now() - publishedAt;
  t.ok(d, 'expired');
  // 6 s leaves room for a slow restart on a loaded machine before the TTL runs out
  t.ok(at >= 5900 && at < 8000, `expired about 6 s after the original publish (${at} ms)`);
  await ch2.deleteQueue('sem.rest');
  await ch2.deleteQueue('sem.rest.dlq');
});
