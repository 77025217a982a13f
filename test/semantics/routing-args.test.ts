// Alternate exchanges with exchange-to-exchange bindings (cycles included), and queue argument
// validation with RabbitMQ's 406 replies.
import t from 'tap';
import type * as amqp from 'amqplib';
import { channel, channelErrorCode, connect, drain, getOne, sleep, uniq } from '../helpers/amqp';
import { brokerUnderTest } from '../fixtures/semantics';

t.test('alternate exchanges and exchange-to-exchange bindings', async (t) => {
  const b = await brokerUnderTest();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  async function setup(ch: amqp.Channel) {
    const names = { front: uniq('front'), inner: uniq('inner'), ae: uniq('ae'), qInner: uniq('qinner'), qAe: uniq('qae'), qFront: uniq('qfront') };
    await ch.assertExchange(names.ae, 'fanout', { durable: false, autoDelete: false });
    await ch.assertExchange(names.front, 'direct', { durable: false, alternateExchange: names.ae });
    await ch.assertExchange(names.inner, 'topic', { durable: false });
    await ch.bindExchange(names.inner, names.front, 'orders');
    for (const q of [names.qInner, names.qAe, names.qFront]) await ch.assertQueue(q, { exclusive: true });
    await ch.bindQueue(names.qInner, names.inner, '#');
    await ch.bindQueue(names.qAe, names.ae, '');
    await ch.bindQueue(names.qFront, names.front, 'direct-key');
    return names;
  }

  t.test('routed messages follow e2e bindings; unroutable ones go to the alternate exchange', async (t) => {
    const ch = await channel(c);
    const n = await setup(ch);
    ch.publish(n.front, 'orders', Buffer.from('via-e2e'));
    ch.publish(n.front, 'direct-key', Buffer.from('direct'));
    ch.publish(n.front, 'nobody', Buffer.from('unroutable'));
    await sleep(50);
    t.same((await drain(ch, n.qInner, 1)).map((m) => m.content.toString()), ['via-e2e']);
    t.same((await drain(ch, n.qFront, 1)).map((m) => m.content.toString()), ['direct']);
    const ae = await drain(ch, n.qAe, 1);
    t.same(ae.map((m) => m.content.toString()), ['unroutable']);
    t.equal(ae[0]?.fields.exchange, n.front, 'exchange and routing key are the original ones');
    t.equal(ae[0]?.fields.routingKey, 'nobody');
    await sleep(50);
    t.equal((await ch.checkQueue(n.qAe)).messageCount, 0, 'routed messages do not reach the AE');
    await ch.close();
  });

  t.test('mandatory: a message taken by the alternate exchange is not returned', async (t) => {
    const ch = await channel(c);
    const n = await setup(ch);
    const returned: string[] = [];
    ch.on('return', (m: amqp.Message) => returned.push(m.content.toString()));
    ch.publish(n.front, 'nobody', Buffer.from('to-ae'), { mandatory: true });
    const noAe = uniq('noae');
    await ch.assertExchange(noAe, 'direct', { durable: false });
    ch.publish(noAe, 'nobody', Buffer.from('returned'), { mandatory: true });
    await sleep(150);
    t.same(returned, ['returned']);
    t.equal((await ch.checkQueue(n.qAe)).messageCount, 1);
    await ch.close();
  });

  t.test('an exchange reached through an e2e binding uses its own alternate exchange', async (t) => {
    const ch = await channel(c);
    const front = uniq('f'), mid = uniq('mid'), midAe = uniq('midae'), q = uniq('q'), frontAeQ = uniq('fq');
    const frontAe = uniq('fae');
    await ch.assertExchange(midAe, 'fanout', { durable: false });
    await ch.assertExchange(frontAe, 'fanout', { durable: false });
    await ch.assertExchange(mid, 'direct', { durable: false, alternateExchange: midAe });
    await ch.assertExchange(front, 'fanout', { durable: false, alternateExchange: frontAe });
    await ch.bindExchange(mid, front, '');
    await ch.assertQueue(q, { exclusive: true });
    await ch.assertQueue(frontAeQ, { exclusive: true });
    await ch.bindQueue(q, midAe, '');
    await ch.bindQueue(frontAeQ, frontAe, '');
    ch.publish(front, 'unknown', Buffer.from('m'));
    t.ok(await getOne(ch, q, { noAck: true }), 'the inner exchange\'s AE took it');
    await sleep(50);
    t.equal((await ch.checkQueue(frontAeQ)).messageCount, 0, 'the front AE is not used: front did route (to an exchange)');
    await ch.close();
  });

  t.test('cycles terminate: AE pointing to itself, AEs pointing to each other, e2e loops', async (t) => {
    const ch = await channel(c);
    const returned: string[] = [];
    ch.on('return', (m: amqp.Message) => returned.push(m.content.toString()));
    const self = uniq('self');
    await ch.assertExchange(self, 'direct', { durable: false, alternateExchange: self });
    const a = uniq('aeA'), bx = uniq('aeB');
    await ch.assertExchange(a, 'direct', { durable: false, alternateExchange: bx });
    await ch.assertExchange(bx, 'direct', { durable: false, alternateExchange: a });
    ch.publish(self, 'x', Buffer.from('self'), { mandatory: true });
    ch.publish(a, 'x', Buffer.from('pair'), { mandatory: true });
    // e2e loop x1 -> x2 -> x1, with a queue on x2 and x1's AE pointing at x2.
    const x1 = uniq('x1'), x2 = uniq('x2'), q = uniq('loopq');
    await ch.assertExchange(x2, 'fanout', { durable: false });
    await ch.assertExchange(x1, 'fanout', { durable: false, alternateExchange: x2 });
    await ch.bindExchange(x2, x1, '');
    await ch.bindExchange(x1, x2, '');
    await ch.assertQueue(q, { exclusive: true });
    await ch.bindQueue(q, x2, '');
    ch.publish(x1, 'k', Buffer.from('loop'));
    // And a pair of AEs that eventually find a queue.
    const p1 = uniq('p1'), p2 = uniq('p2'), pq = uniq('pq');
    await ch.assertExchange(p2, 'fanout', { durable: false, alternateExchange: p1 });
    await ch.assertExchange(p1, 'direct', { durable: false, alternateExchange: p2 });
    await ch.assertQueue(pq, { exclusive: true });
    await ch.bindQueue(pq, p2, '');
    ch.publish(p1, 'none', Buffer.from('found'));
    await sleep(150);
    t.same(returned.sort(), ['pair', 'self'], 'unroutable through AE cycles: returned, no hang');
    t.same((await drain(ch, q, 2, 300)).map((m) => m.content.toString()), ['loop'], 'delivered exactly once through the e2e loop');
    t.same((await drain(ch, pq, 2, 300)).map((m) => m.content.toString()), ['found']);
    // The broker is still responsive.
    const x = await ch.checkExchange(self);
    t.ok(x);
    await ch.close();
  });

  t.test('a message reaching one queue by two paths is enqueued once', async (t) => {
    const ch = await channel(c);
    const x = uniq('two'), y = uniq('two.y'), q = uniq('two.q');
    await ch.assertExchange(x, 'topic', { durable: false });
    await ch.assertExchange(y, 'fanout', { durable: false });
    await ch.assertQueue(q, { exclusive: true });
    await ch.bindQueue(q, x, 'a.*');
    await ch.bindQueue(q, x, '#');
    await ch.bindExchange(y, x, 'a.b');
    await ch.bindQueue(q, y, '');
    ch.publish(x, 'a.b', Buffer.from('once'));
    await sleep(50);
    t.equal((await ch.checkQueue(q)).messageCount, 1);
    await ch.close();
  });

  t.test('dead-lettering goes through e2e bindings and alternate exchanges too', async (t) => {
    const ch = await channel(c);
    const dlx = uniq('dlx'), dlxAe = uniq('dlx.ae'), aeq = uniq('dlx.aeq'), work = uniq('work');
    await ch.assertExchange(dlxAe, 'fanout', { durable: false });
    await ch.assertExchange(dlx, 'direct', { durable: false, alternateExchange: dlxAe });
    await ch.assertQueue(aeq, { exclusive: true });
    await ch.bindQueue(aeq, dlxAe, '');
    await ch.assertQueue(work, { exclusive: true, arguments: { 'x-dead-letter-exchange': dlx } });
    ch.sendToQueue(work, Buffer.from('dead'));
    const m = await getOne(ch, work);
    ch.reject(m!, false);
    const d = await getOne(ch, aeq, { noAck: true });
    t.equal(d && d.content.toString(), 'dead');
    t.equal(d && d.fields.exchange, dlx);
    await ch.close();
  });
});

t.test('queue argument validation', async (t) => {
  const b = await brokerUnderTest();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['x-message-ttl as a string', { 'x-message-ttl': '1000' }, /invalid arg 'x-message-ttl' for queue '[^']+' in vhost '\/': "expected integer, got longstr"/],
    ['x-message-ttl as a double', { 'x-message-ttl': 1.5 }, /invalid arg 'x-message-ttl'.*expected integer, got double/],
    ['negative x-message-ttl', { 'x-message-ttl': -1 }, /invalid arg 'x-message-ttl'.*\{value_negative,-1\}/],
    ['x-expires 0', { 'x-expires': 0 }, /invalid arg 'x-expires'.*\{value_zero,0\}/],
    ['negative x-expires', { 'x-expires': -5 }, /invalid arg 'x-expires'.*\{value_negative,-5\}/],
    ['negative x-max-length', { 'x-max-length': -1 }, /invalid arg 'x-max-length'.*value_negative/],
    ['x-max-length-bytes as a string', { 'x-max-length-bytes': 'lots' }, /invalid arg 'x-max-length-bytes'.*expected integer, got longstr/],
    ['x-overflow bogus', { 'x-overflow': 'bogus' }, /invalid arg 'x-overflow'.*invalid_overflow/],
    ['x-overflow as a number', { 'x-overflow': 5 }, /invalid arg 'x-overflow'.*unacceptable_type/],
    ['x-max-priority 300', { 'x-max-priority': 300 }, /invalid arg 'x-max-priority'.*\{max_value_exceeded,300\}/],
    ['negative x-max-priority', { 'x-max-priority': -1 }, /invalid arg 'x-max-priority'.*value_negative/],
    ['dead-letter routing key without exchange', { 'x-dead-letter-routing-key': 'k' }, /invalid arg 'x-dead-letter-routing-key'.*routing_key_but_no_dlx_defined/],
    ['x-dead-letter-exchange as a number', { 'x-dead-letter-exchange': 5 }, /x-dead-letter-exchange/],
    ['x-single-active-consumer as a string', { 'x-single-active-consumer': 'yes' }, /invalid arg 'x-single-active-consumer'.*unacceptable_type,longstr/],
    ['x-queue-type bogus', { 'x-queue-type': 'bogus' }, /invalid arg 'x-queue-type'.*unsupported queue type 'bogus'/],
    ['negative x-delivery-limit', { 'x-delivery-limit': -1 }, /x-delivery-limit/],
  ];
  for (const [what, args, re] of bad) {
    t.test(what, async (t) => {
      const r = await channelErrorCode(c, (ch) => ch.assertQueue(uniq('args'), { exclusive: true, arguments: args }));
      t.equal(r.code, 406, 'PRECONDITION_FAILED');
      t.match(r.message, /PRECONDITION_FAILED - /);
      t.match(r.message, re, 'reason names the argument');
    });
  }

  t.test('valid edge values are accepted', async (t) => {
    const ch = await channel(c);
    for (const args of [{ 'x-message-ttl': 0 }, { 'x-max-length': 0 }, { 'x-max-priority': 0 }, { 'x-max-priority': 255 }, { 'x-overflow': 'reject-publish-dlx' }, { 'x-single-active-consumer': false }]) {
      const q = await ch.assertQueue('', { exclusive: true, arguments: args });
      t.ok(q.queue, JSON.stringify(args));
    }
    await ch.close();
  });

  t.test('a failed declare creates nothing and leaves the connection usable', async (t) => {
    const name = uniq('notcreated');
    await channelErrorCode(c, (ch) => ch.assertQueue(name, { arguments: { 'x-message-ttl': 'x' } }));
    const r = await channelErrorCode(c, (ch) => ch.checkQueue(name));
    t.equal(r.code, 404);
  });

  t.test('redeclaring with different arguments gets 406 naming the argument', async (t) => {
    const ch = await channel(c);
    const q = uniq('redecl');
    await ch.assertQueue(q, { arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx' } });
    t.teardown(() => channel(c).then((x) => x.deleteQueue(q)).catch(() => undefined));
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ 'x-message-ttl': 2000, 'x-dead-letter-exchange': 'dlx' }, /inequivalent arg 'x-message-ttl' for queue '[^']+' in vhost '\/': received '2000' but current is '1000'/],
      [{ 'x-dead-letter-exchange': 'dlx' }, /inequivalent arg 'x-message-ttl'.*received none but current is the value '1000' of type '\w+'/],
      [{ 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx', 'x-max-length': 5 }, /inequivalent arg 'x-max-length'.*received the value '5' of type '\w+' but current is none/],
      [{ 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'other' }, /inequivalent arg 'x-dead-letter-exchange'.*received 'other' but current is 'dlx'/],
      [{ 'x-message-ttl': '1000', 'x-dead-letter-exchange': 'dlx' }, /inequivalent arg 'x-message-ttl'/],
    ];
    for (const [args, re] of cases) {
      const r = await channelErrorCode(c, (x) => x.assertQueue(q, { arguments: args }));
      t.equal(r.code, 406, JSON.stringify(args));
      t.match(r.message, re);
    }
    const ok = await ch.assertQueue(q, { arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx', 'x-custom': 'ignored' } });
    t.equal(ok.queue, q, 'same arguments (plus ones RabbitMQ does not compare) are fine');
    const durable = await channelErrorCode(c, (x) => x.assertQueue(q, { durable: false, arguments: { 'x-message-ttl': 1000, 'x-dead-letter-exchange': 'dlx' } }));
    t.equal(durable.code, 406);
    t.match(durable.message, /inequivalent arg 'durable'/);
    await ch.close();
  });
});
