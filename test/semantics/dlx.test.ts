// Dead-lettering as RabbitMQ does it: reasons, routing keys, the x-death header, cycles.
import t from 'tap';
import { channel, confirmChannel, connect, drain, getOne, sleep, uniq } from '../helpers/amqp';
import { brokerUnderTest, deathHeaders, nowSeconds, timestampSeconds, withoutTime, xDeath } from '../fixtures/semantics';

t.test('dead-lettering', async (t) => {
  const b = await brokerUnderTest();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('reject and nack with requeue=false dead-letter with an exact x-death', async (t) => {
    const ch = await channel(c);
    const dlx = uniq('dlx'), dlq = uniq('dlq'), work = uniq('work');
    await ch.assertExchange(dlx, 'topic', { durable: false });
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.bindQueue(dlq, dlx, '#');
    await ch.assertQueue(work, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx } });
    const before = nowSeconds();
    ch.sendToQueue(work, Buffer.from('m1'), { headers: { keep: 'yes', n: 7 }, messageId: 'id-1', priority: 3, expiration: '60000', contentType: 'text/plain' });
    ch.sendToQueue(work, Buffer.from('m2'), { headers: { keep: 'too' } });
    const m1 = await getOne(ch, work);
    const m2 = await getOne(ch, work);
    t.ok(m1 && m2, 'both delivered');
    ch.reject(m1!, false);
    ch.nack(m2!, false, false);
    const dead = await drain(ch, dlq, 2);
    const after = nowSeconds();
    t.same(dead.map((m) => m.content.toString()), ['m1', 'm2'], 'both dead-lettered, in order');
    const [d1, d2] = dead;
    t.equal(d1.fields.exchange, dlx, 'delivered from the dead-letter exchange');
    t.equal(d1.fields.routingKey, work, 'original routing key kept without x-dead-letter-routing-key');
    t.equal(d1.properties.messageId, 'id-1', 'properties kept');
    t.equal(d1.properties.priority, 3);
    t.equal(d1.properties.contentType, 'text/plain');
    t.equal(d1.properties.expiration, undefined, 'expiration property removed');
    t.equal(d1.properties.headers?.keep, 'yes', 'original headers kept');
    t.equal(d1.properties.headers?.n, 7);
    const xd1 = xDeath(d1);
    t.equal(xd1.length, 1, 'one x-death entry');
    t.same(withoutTime(xd1[0]), {
      count: 1, reason: 'rejected', queue: work, exchange: '', 'routing-keys': [work], 'original-expiration': '60000',
    }, 'x-death entry for reject');
    const ts = timestampSeconds(xd1[0].time);
    t.ok(ts !== null && ts >= before && ts <= after, `time is an AMQP timestamp of the death (${JSON.stringify(xd1[0].time)})`);
    t.same(deathHeaders(d1), {
      'x-first-death-reason': 'rejected', 'x-first-death-queue': work, 'x-first-death-exchange': '',
      'x-last-death-reason': 'rejected', 'x-last-death-queue': work, 'x-last-death-exchange': '',
    });
    const xd2 = xDeath(d2);
    t.same(withoutTime(xd2[0]), { count: 1, reason: 'rejected', queue: work, exchange: '', 'routing-keys': [work] },
      'no original-expiration when the message had none');
    t.equal((await ch.checkQueue(work)).messageCount, 0, 'work queue empty');
    await ch.close();
  });

  t.test('x-dead-letter-routing-key replaces the routing key; x-death keeps the original', async (t) => {
    const ch = await channel(c);
    const dlx = uniq('dlx'), dlq = uniq('dlq'), other = uniq('other'), src = uniq('src'), work = uniq('work');
    await ch.assertExchange(dlx, 'direct', { durable: false });
    await ch.assertExchange(src, 'topic', { durable: false });
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(other, { exclusive: true });
    await ch.bindQueue(dlq, dlx, 'dead.key');
    await ch.bindQueue(other, dlx, 'orders.created');
    await ch.assertQueue(work, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'dead.key' } });
    await ch.bindQueue(work, src, 'orders.*');
    ch.publish(src, 'orders.created', Buffer.from('x'));
    const m = await getOne(ch, work);
    t.equal(m && m.fields.routingKey, 'orders.created');
    ch.nack(m!, false, false);
    const d = await getOne(ch, dlq, { noAck: true });
    t.ok(d, 'routed with the dead-letter routing key');
    t.equal(d && d.fields.routingKey, 'dead.key');
    t.same(withoutTime(xDeath(d)[0]), { count: 1, reason: 'rejected', queue: work, exchange: src, 'routing-keys': ['orders.created'] });
    t.equal(d && d.properties.headers?.['x-first-death-exchange'], src);
    await sleep(50);
    t.equal((await ch.checkQueue(other)).messageCount, 0, 'not routed with the original key');
    await ch.close();
  });

  t.test('a message cycling work -> DLQ (TTL) -> work through rejections counts each (queue, reason)', async (t) => {
    const ch = await channel(c);
    const work = uniq('work'), dlq = uniq('retry');
    await ch.assertQueue(work, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    await ch.assertQueue(dlq, { exclusive: true, arguments: { 'x-message-ttl': 30, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': work } });
    ch.sendToQueue(work, Buffer.from('retry-me'), { headers: { app: 1 } });
    let m = await getOne(ch, work);
    t.same(xDeath(m), [], 'first delivery has no x-death');
    ch.nack(m!, false, false);
    m = await getOne(ch, work);
    let xd = xDeath(m);
    t.same(xd.map(withoutTime), [
      { count: 1, reason: 'expired', queue: dlq, exchange: '', 'routing-keys': [dlq] },
      { count: 1, reason: 'rejected', queue: work, exchange: '', 'routing-keys': [work] },
    ], 'after one cycle: newest first, one entry per (queue, reason)');
    const firstTime = timestampSeconds(xd[1].time);
    ch.nack(m!, false, false);
    m = await getOne(ch, work);
    ch.nack(m!, false, false);
    m = await getOne(ch, work);
    xd = xDeath(m);
    t.same(xd.map(withoutTime), [
      { count: 3, reason: 'expired', queue: dlq, exchange: '', 'routing-keys': [dlq] },
      { count: 3, reason: 'rejected', queue: work, exchange: '', 'routing-keys': [work] },
    ], 'after three cycles: counts incremented, no new entries');
    t.equal(timestampSeconds(xd[1].time), firstTime, 'time of an entry is the time of its first death');
    t.same(deathHeaders(m!), {
      'x-first-death-reason': 'rejected', 'x-first-death-queue': work, 'x-first-death-exchange': '',
      'x-last-death-reason': 'expired', 'x-last-death-queue': dlq, 'x-last-death-exchange': '',
    }, 'x-first-death-* set once, x-last-death-* follows the latest death');
    t.equal(m!.properties.headers?.app, 1, 'application headers survive the cycles');
    ch.ack(m!);
    await ch.close();
  });

  t.test('the entry for a repeated (queue, reason) moves to the front', async (t) => {
    const ch = await channel(c);
    const a = uniq('a'), bq = uniq('b');
    // a rejects into b; b rejects back into a.
    await ch.assertQueue(a, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': bq } });
    await ch.assertQueue(bq, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': a } });
    ch.sendToQueue(a, Buffer.from('ping'));
    let m = await getOne(ch, a); ch.reject(m!, false);       // [a]
    m = await getOne(ch, bq); ch.reject(m!, false);          // [b, a]
    m = await getOne(ch, a);
    t.same(xDeath(m).map((d) => [d.queue, d.count]), [[bq, 1], [a, 1]]);
    ch.reject(m!, false);                                    // [a x2, b]
    m = await getOne(ch, bq);
    t.same(xDeath(m).map((d) => [d.queue, d.reason, d.count]), [[a, 'rejected', 2], [bq, 'rejected', 1]]);
    ch.ack(m!);
    await ch.close();
  });

  t.test('dead-letter cycles through expiry only are dropped', async (t) => {
    const ch = await channel(c);
    const q1 = uniq('cyc1'), q2 = uniq('cyc2'), fan = uniq('fan'), seen = uniq('seen');
    await ch.assertExchange(fan, 'fanout', { durable: false });
    await ch.assertQueue(seen, { exclusive: true });
    await ch.assertQueue(q1, { exclusive: true, arguments: { 'x-message-ttl': 40, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': q2 } });
    // q2 dead-letters to a fanout that feeds both q1 (a cycle) and an observer queue.
    await ch.assertQueue(q2, { exclusive: true, arguments: { 'x-message-ttl': 40, 'x-dead-letter-exchange': fan } });
    await ch.bindQueue(q1, fan, '');
    await ch.bindQueue(seen, fan, '');
    ch.sendToQueue(q1, Buffer.from('loop'));
    const obs = await getOne(ch, seen, { noAck: true });
    t.ok(obs, 'the observer got the message from q2');
    t.same(xDeath(obs).map((d) => [d.queue, d.reason, d.count]), [[q2, 'expired', 1], [q1, 'expired', 1]]);
    await sleep(300);
    t.equal((await ch.checkQueue(q1)).messageCount, 0, 'not back in q1');
    t.equal((await ch.checkQueue(q2)).messageCount, 0, 'not in q2');
    t.equal((await ch.checkQueue(seen)).messageCount, 0, 'observer got it only once');
    await ch.close();
  });

  t.test('a queue dead-lettering to itself on expiry drops, on rejection requeues', async (t) => {
    const ch = await channel(c);
    const q = uniq('self');
    // a TTL long enough for the 'reject' round below to get its message on a loaded machine
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-message-ttl': 400 } });
    ch.sendToQueue(q, Buffer.from('expire'));
    await sleep(700);
    t.equal((await ch.checkQueue(q)).messageCount, 0, 'expired message not dead-lettered back into its own queue');
    ch.sendToQueue(q, Buffer.from('reject'));
    const m = await getOne(ch, q);
    ch.reject(m!, false);
    const again = await getOne(ch, q);
    t.ok(again, 'rejected message comes back through the DLX');
    t.same(xDeath(again).map((d) => [d.queue, d.reason]), [[q, 'rejected']]);
    ch.ack(again!);
    await ch.close();
  });

  t.test('max-length drop-head dead-letters the head with reason maxlen', async (t) => {
    const ch = await channel(c);
    const q = uniq('ml'), dlq = uniq('mldl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length': 2, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    for (const s of ['a', 'b', 'c', 'd']) ch.sendToQueue(q, Buffer.from(s));
    const dead = await drain(ch, dlq, 2);
    t.same(dead.map((m) => m.content.toString()), ['a', 'b']);
    t.same(withoutTime(xDeath(dead[0])[0]), { count: 1, reason: 'maxlen', queue: q, exchange: '', 'routing-keys': [q] });
    const left = await drain(ch, q, 2);
    t.same(left.map((m) => m.content.toString()), ['c', 'd']);
    await ch.close();
  });

  t.test('delivery limit dead-letters with reason delivery_limit', async (t) => {
    const ch = await channel(c);
    const q = uniq('dlim'), dlq = uniq('dlimdl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-delivery-limit': 2, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    ch.sendToQueue(q, Buffer.from('poison'), { headers: { h: 1 } });
    const counts: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await getOne(ch, q);
      t.ok(m, `delivery ${i + 1}`);
      counts.push(m!.properties.headers?.['x-delivery-count']);
      t.equal(m!.fields.redelivered, i > 0);
      ch.nack(m!, false, true);
    }
    t.same(counts, [undefined, 1, 2], 'x-delivery-count on redeliveries');
    const d = await getOne(ch, dlq, { noAck: true });
    t.ok(d, 'dead-lettered after the limit');
    t.same(withoutTime(xDeath(d)[0]), { count: 1, reason: 'delivery_limit', queue: q, exchange: '', 'routing-keys': [q] });
    t.equal(d!.properties.headers?.h, 1);
    t.equal((await ch.checkQueue(q)).messageCount, 0, 'gone from the source queue');
    await ch.close();
  });

  t.test('reject-publish-dlx: nack to the publisher and a dead-lettered copy', async (t) => {
    const ch = await confirmChannel(c);
    const q = uniq('rpd'), dlq = uniq('rpddl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish-dlx', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    const res: string[] = [];
    for (const s of ['first', 'second']) {
      await new Promise<void>((r) => ch.sendToQueue(q, Buffer.from(s), { expiration: '10000' }, (err) => { res.push(err ? 'nack' : 'ack'); r(); }));
    }
    t.same(res, ['ack', 'nack']);
    const d = await getOne(ch, dlq, { noAck: true });
    t.equal(d && d.content.toString(), 'second');
    t.same(withoutTime(xDeath(d)[0]), { count: 1, reason: 'maxlen', queue: q, exchange: '', 'routing-keys': [q], 'original-expiration': '10000' });
    t.equal(d!.properties.expiration, undefined);
    const left = await drain(ch, q, 1);
    t.same(left.map((m) => m.content.toString()), ['first']);
    await ch.close();
  });

  t.test('a missing dead-letter exchange drops the message', async (t) => {
    const ch = await channel(c);
    const q = uniq('nodlx');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-dead-letter-exchange': uniq('absent') } });
    ch.sendToQueue(q, Buffer.from('x'));
    const m = await getOne(ch, q);
    ch.reject(m!, false);
    await sleep(50);
    t.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  t.test('CC routing keys appear in routing-keys; a dead-letter routing key drops CC', async (t) => {
    const ch = await channel(c);
    const dlx = uniq('ccdlx'), dlq = uniq('ccdlq'), q = uniq('ccq'), q2 = uniq('ccq2');
    await ch.assertExchange(dlx, 'fanout', { durable: false });
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.bindQueue(dlq, dlx, '');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx } });
    await ch.assertQueue(q2, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx, 'x-dead-letter-routing-key': 'rk' } });
    ch.sendToQueue(q, Buffer.from('cc'), { headers: { CC: ['other.key'] } });
    let m = await getOne(ch, q);
    ch.reject(m!, false);
    let d = await getOne(ch, dlq, { noAck: true });
    t.same(xDeath(d)[0]['routing-keys'], [q, 'other.key']);
    t.same(d!.properties.headers?.CC, ['other.key'], 'CC kept without a dead-letter routing key');
    ch.sendToQueue(q2, Buffer.from('cc2'), { headers: { CC: ['other.key'] } });
    m = await getOne(ch, q2);
    ch.reject(m!, false);
    d = await getOne(ch, dlq, { noAck: true });
    t.equal(d!.fields.routingKey, 'rk');
    t.equal(d!.properties.headers?.CC, undefined, 'CC removed with a dead-letter routing key');
    await ch.close();
  });
});
