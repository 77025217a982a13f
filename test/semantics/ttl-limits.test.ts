// TTLs (x-message-ttl, per-message expiration, TTL 0, x-expires) and length limits
// (x-max-length, x-max-length-bytes, x-overflow).
import t from 'tap';
import { channel, confirmChannel, connect, drain, getOne, sleep, uniq, waitFor } from '../helpers/amqp';
import { brokerUnderTest, withoutTime, xDeath } from '../fixtures/semantics';

async function publishConfirmed(ch: import('amqplib').ConfirmChannel, q: string, body: string, opts: import('amqplib').Options.Publish = {}): Promise<'ack' | 'nack'> {
  return new Promise((r) => ch.sendToQueue(q, Buffer.from(body), opts, (err) => r(err ? 'nack' : 'ack')));
}

t.test('TTL and length limits', async (t) => {
  const b = await brokerUnderTest();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('x-message-ttl: expired messages leave the queue and are dead-lettered', async (t) => {
    const ch = await channel(c);
    const q = uniq('qttl'), dlq = uniq('qttl.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': 200, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    const t0 = Date.now();
    ch.sendToQueue(q, Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    await sleep(60);
    t.equal((await ch.checkQueue(q)).messageCount, 2, 'still there before the TTL');
    const dead = await drain(ch, dlq, 2, 2000);
    const took = Date.now() - t0;
    t.same(dead.map((m) => m.content.toString()), ['a', 'b'], 'dead-lettered in order');
    t.ok(took >= 190, `not before the TTL (${took} ms)`);
    t.same(withoutTime(xDeath(dead[0])[0]), { count: 1, reason: 'expired', queue: q, exchange: '', 'routing-keys': [q] },
      'no original-expiration for a queue TTL');
    t.equal((await ch.checkQueue(q)).messageCount, 0, 'expired messages are not counted');
    t.equal(await ch.get(q), false, 'nothing to get');
    await ch.close();
  });

  t.test('per-message expiration; expiration removed and kept as original-expiration', async (t) => {
    const ch = await channel(c);
    const q = uniq('mttl'), dlq = uniq('mttl.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    ch.sendToQueue(q, Buffer.from('short'), { expiration: '150' });
    ch.sendToQueue(q, Buffer.from('forever'));
    const d = await getOne(ch, dlq, { noAck: true, timeoutMs: 2000 });
    t.equal(d && d.content.toString(), 'short');
    t.equal(d!.properties.expiration, undefined, 'expiration property removed');
    t.equal(xDeath(d)[0]['original-expiration'], '150');
    t.equal(xDeath(d)[0].reason, 'expired');
    t.equal((await ch.checkQueue(q)).messageCount, 1, 'the message without expiration stays');
    await ch.close();
  });

  t.test('the lower of queue TTL and message expiration wins', async (t) => {
    const ch = await channel(c);
    const dlq = uniq('low.dl');
    const qLongTtl = uniq('low.q1'), qShortTtl = uniq('low.q2');
    await ch.assertQueue(dlq, { exclusive: true });
    const dl = { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq };
    await ch.assertQueue(qLongTtl, { exclusive: true, arguments: { 'x-message-ttl': 60000, ...dl } });
    await ch.assertQueue(qShortTtl, { exclusive: true, arguments: { 'x-message-ttl': 100, ...dl } });
    ch.sendToQueue(qLongTtl, Buffer.from('message-expiration-lower'), { expiration: '100' });
    ch.sendToQueue(qShortTtl, Buffer.from('queue-ttl-lower'), { expiration: '60000' });
    const dead = await drain(ch, dlq, 2, 1500);
    t.same(dead.map((m) => m.content.toString()).sort(), ['message-expiration-lower', 'queue-ttl-lower']);
    await ch.close();
  });

  t.test('a message expiring while consumers are blocked by prefetch still expires', async (t) => {
    const ch = await channel(c);
    const q = uniq('blocked'), dlq = uniq('blocked.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': 150, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    const cons = await channel(c);
    await cons.prefetch(1);
    const got: string[] = [];
    await cons.consume(q, (m) => { got.push(m!.content.toString()); /* never acked */ });
    ch.sendToQueue(q, Buffer.from('held'));
    ch.sendToQueue(q, Buffer.from('expires'));
    const d = await getOne(ch, dlq, { noAck: true, timeoutMs: 2000 });
    t.equal(d && d.content.toString(), 'expires');
    t.same(got, ['held']);
    await cons.close();
    await ch.close();
  });

  t.test('a requeued message keeps its original expiry', async (t) => {
    const ch = await channel(c);
    const q = uniq('rqttl'), dlq = uniq('rqttl.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': 150, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    const cons = await channel(c);
    const got: string[] = [];
    await cons.consume(q, (m) => { got.push(m!.content.toString()); });
    ch.sendToQueue(q, Buffer.from('held-too-long'));
    await waitFor(() => got.length === 1);
    await sleep(250);
    await cons.close();
    const d = await getOne(ch, dlq, { noAck: true, timeoutMs: 1000 });
    t.equal(d && d.content.toString(), 'held-too-long', 'expired on its way back instead of being redelivered');
    t.equal(d && xDeath(d)[0].reason, 'expired');
    t.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  t.test('TTL 0: delivered to a waiting consumer, otherwise expired at once', async (t) => {
    const ch = await channel(c);
    const q = uniq('ttl0'), dlq = uniq('ttl0.dl'), q2 = uniq('exp0');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-message-ttl': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    ch.sendToQueue(q, Buffer.from('nobody-waits'));
    const d = await getOne(ch, dlq, { noAck: true, timeoutMs: 1000 });
    t.equal(d && d.content.toString(), 'nobody-waits', 'dead-lettered at once');
    t.equal(xDeath(d)[0].reason, 'expired');
    t.equal((await ch.checkQueue(q)).messageCount, 0);
    const cons = await channel(c);
    const got: string[] = [];
    await cons.consume(q, (m) => { got.push(m!.content.toString()); }, { noAck: true });
    ch.sendToQueue(q, Buffer.from('consumer-waits'));
    t.ok(await waitFor(() => got.length === 1, 1000), 'delivered to the waiting consumer');
    t.same(got, ['consumer-waits']);
    await sleep(50);
    t.equal((await ch.checkQueue(dlq)).messageCount, 0, 'not dead-lettered');
    // expiration "0" on a queue without TTL behaves the same.
    await ch.assertQueue(q2, { exclusive: true });
    ch.sendToQueue(q2, Buffer.from('gone'), { expiration: '0' });
    await sleep(50);
    t.equal((await ch.checkQueue(q2)).messageCount, 0, 'expiration 0 with no consumer: dropped');
    const got2: string[] = [];
    await cons.consume(q2, (m) => { got2.push(m!.content.toString()); }, { noAck: true });
    ch.sendToQueue(q2, Buffer.from('kept'), { expiration: '0' });
    t.ok(await waitFor(() => got2.length === 1, 1000), 'expiration 0 with a consumer: delivered');
    await cons.close();
    await ch.close();
  });

  t.test('x-expires deletes an unused queue; use resets the timer', async (t) => {
    const admin = await channel(c);
    const q = uniq('expires');
    await admin.assertQueue(q, { arguments: { 'x-expires': 300 } });
    // Passive declares keep it alive past its x-expires.
    for (let i = 0; i < 3; i++) {
      await sleep(150);
      await admin.checkQueue(q);
    }
    t.pass('alive after 450 ms of passive declares');
    await sleep(700);
    const ch = await channel(c);
    const err = await ch.checkQueue(q).then(() => null, (e: { code?: number }) => e.code);
    t.equal(err, 404, 'deleted once unused for its x-expires');
    // A consumer keeps it alive; after the consumer leaves the timer starts again.
    const q2 = uniq('expires2');
    const ch2 = await channel(c);
    await ch2.assertQueue(q2, { arguments: { 'x-expires': 300 } });
    const { consumerTag } = await ch2.consume(q2, () => undefined, { noAck: true });
    await sleep(600);
    await ch2.checkQueue(q2);
    t.pass('a queue with a consumer is in use');
    await ch2.cancel(consumerTag);
    await sleep(700);
    const gone = await ch2.checkQueue(q2).then(() => null, (e: { code?: number }) => e.code);
    t.equal(gone, 404, 'deleted after its last consumer left');
    await admin.close().catch(() => undefined);
  });

  t.test('x-max-length drop-head without a DLX keeps the newest', async (t) => {
    const ch = await channel(c);
    const q = uniq('mlen');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length': 3 } });
    for (let i = 1; i <= 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);
    t.equal((await ch.checkQueue(q)).messageCount, 3);
    t.same((await drain(ch, q, 3)).map((m) => m.content.toString()), ['m3', 'm4', 'm5']);
    await ch.close();
  });

  t.test('x-max-length-bytes drop-head counts body bytes', async (t) => {
    const ch = await channel(c);
    const q = uniq('mbytes'), dlq = uniq('mbytes.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length-bytes': 10, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    for (const s of ['aaaa', 'bbbb', 'cccc']) ch.sendToQueue(q, Buffer.from(s));
    const dead = await drain(ch, dlq, 1);
    t.same(dead.map((m) => m.content.toString()), ['aaaa']);
    t.equal(xDeath(dead[0])[0].reason, 'maxlen');
    t.same((await drain(ch, q, 2)).map((m) => m.content.toString()), ['bbbb', 'cccc']);
    await ch.close();
  });

  t.test('x-max-length 0 with drop-head: every message is dropped at once', async (t) => {
    const ch = await channel(c);
    const q = uniq('zero'), dlq = uniq('zero.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    ch.sendToQueue(q, Buffer.from('x'));
    const d = await getOne(ch, dlq, { noAck: true });
    t.equal(d && xDeath(d)[0].reason, 'maxlen');
    t.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  t.test('reject-publish: nack with confirms, dropped without; no dead-lettering', async (t) => {
    const ch = await confirmChannel(c);
    const q = uniq('rp'), dlq = uniq('rp.dl');
    await ch.assertQueue(dlq, { exclusive: true });
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length': 2, 'x-overflow': 'reject-publish', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq } });
    const res = [];
    for (const s of ['a', 'b', 'c']) res.push(await publishConfirmed(ch, q, s));
    t.same(res, ['ack', 'ack', 'nack'], 'the publish over the limit is nacked');
    const plain = await channel(c);
    plain.sendToQueue(q, Buffer.from('d'));
    await sleep(50);
    t.equal((await plain.checkQueue(q)).messageCount, 2, 'without confirms the message is dropped');
    t.equal((await plain.checkQueue(dlq)).messageCount, 0, 'reject-publish does not dead-letter');
    t.same((await drain(plain, q, 2)).map((m) => m.content.toString()), ['a', 'b']);
    // Room again: publishes are accepted.
    t.equal(await publishConfirmed(ch, q, 'e'), 'ack', 'accepted once there is room');
    await plain.close();
    await ch.close();
  });

  t.test('reject-publish with x-max-length-bytes', async (t) => {
    const ch = await confirmChannel(c);
    const q = uniq('rpb');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-length-bytes': 8, 'x-overflow': 'reject-publish' } });
    const res = [];
    for (const s of ['1234', '5678', '9']) res.push(await publishConfirmed(ch, q, s));
    t.same(res, ['ack', 'ack', 'nack']);
    await ch.close();
  });

  t.test('a publish routed to several queues is nacked if any of them rejects it', async (t) => {
    const ch = await confirmChannel(c);
    const x = uniq('fan'), full = uniq('full'), free = uniq('free');
    await ch.assertExchange(x, 'fanout', { durable: false });
    await ch.assertQueue(full, { exclusive: true, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await ch.assertQueue(free, { exclusive: true });
    await ch.bindQueue(full, x, '');
    await ch.bindQueue(free, x, '');
    const r = await new Promise((res) => ch.publish(x, '', Buffer.from('m'), {}, (err) => res(err ? 'nack' : 'ack')));
    t.equal(r, 'nack');
    t.equal((await ch.checkQueue(free)).messageCount, 1, 'the other queue still got it');
    await ch.close();
  });
});
