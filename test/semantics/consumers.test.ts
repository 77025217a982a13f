// Message priorities, single active consumer, consumer priorities and the consumer timeout.
import t from 'tap';
import type * as amqp from 'amqplib';
import { channel, connect, drain, getOne, sleep, uniq, waitFor } from '../helpers/amqp';
import { brokerUnderTest } from '../fixtures/semantics';

t.test('priorities and consumers', async (t) => {
  const b = await brokerUnderTest();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('x-max-priority: higher first, FIFO within a priority, above max counts as max', async (t) => {
    const ch = await channel(c);
    const q = uniq('prio');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-priority': 5 } });
    const sends: Array<[string, number | undefined]> = [
      ['none-1', undefined], ['p1', 1], ['p5-a', 5], ['p3', 3], ['p9', 9], ['p5-b', 5], ['p0', 0], ['p200', 200], ['none-2', undefined], ['p1-b', 1],
    ];
    for (const [body, priority] of sends) ch.sendToQueue(q, Buffer.from(body), priority === undefined ? {} : { priority });
    await sleep(50);
    t.equal((await ch.checkQueue(q)).messageCount, sends.length);
    const got = (await drain(ch, q, sends.length)).map((m) => m.content.toString());
    t.same(got, ['p5-a', 'p9', 'p5-b', 'p200', 'p3', 'p1', 'p1-b', 'none-1', 'p0', 'none-2']);
    await ch.close();
  });

  t.test('priorities apply to consumers too, and to requeued messages', async (t) => {
    const ch = await channel(c);
    const q = uniq('prio2');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-max-priority': 10 } });
    for (let p = 0; p <= 10; p += 2) ch.sendToQueue(q, Buffer.from(`p${p}`), { priority: p });
    await sleep(50);
    const cons = await channel(c);
    await cons.prefetch(1);
    const got: string[] = [];
    let requeuedOnce = false;
    await cons.consume(q, (m) => {
      if (!m) return;
      if (!requeuedOnce && m.content.toString() === 'p8') { requeuedOnce = true; cons.nack(m, false, true); return; }
      got.push(m.content.toString());
      cons.ack(m);
    });
    await waitFor(() => got.length === 6);
    t.same(got, ['p10', 'p8', 'p6', 'p4', 'p2', 'p0'], 'a requeued message keeps its priority');
    await cons.close();
    await ch.close();
  });

  t.test('without x-max-priority the priority property is ignored', async (t) => {
    const ch = await channel(c);
    const q = uniq('noprio');
    await ch.assertQueue(q, { exclusive: true });
    ch.sendToQueue(q, Buffer.from('a'), { priority: 1 });
    ch.sendToQueue(q, Buffer.from('b'), { priority: 9 });
    t.same((await drain(ch, q, 2)).map((m) => m.content.toString()), ['a', 'b']);
    await ch.close();
  });

  t.test('single active consumer: one consumer gets everything; the next takes over on cancel', async (t) => {
    const ch = await channel(c);
    const q = uniq('sac');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-single-active-consumer': true } });
    const ch1 = await channel(c), ch2 = await channel(c), ch3 = await channel(c);
    const got: Record<string, string[]> = { one: [], two: [], three: [] };
    const t1 = (await ch1.consume(q, (m) => { got.one.push(m!.content.toString()); }, { noAck: true })).consumerTag;
    await ch2.consume(q, (m) => { got.two.push(m!.content.toString()); }, { noAck: true });
    await ch3.consume(q, (m) => { got.three.push(m!.content.toString()); }, { noAck: true });
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(`a${i}`));
    await waitFor(() => got.one.length === 6);
    await sleep(50);
    t.same(got, { one: ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'], two: [], three: [] }, 'only the first consumer receives');
    await ch1.cancel(t1);
    for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(`b${i}`));
    await waitFor(() => got.two.length === 4);
    await sleep(50);
    t.same(got.two, ['b0', 'b1', 'b2', 'b3'], 'the next consumer in line takes over');
    t.same(got.three, [], 'the third still waits');
    await ch2.close();
    ch.sendToQueue(q, Buffer.from('c0'));
    await waitFor(() => got.three.length === 1);
    t.same(got.three, ['c0'], 'closing the active consumer\'s channel hands over too');
    await ch1.close(); await ch3.close(); await ch.close();
  });

  t.test('single active consumer: unacked messages of the old active consumer go to the new one in order', async (t) => {
    const ch = await channel(c);
    const q = uniq('sac2');
    await ch.assertQueue(q, { exclusive: true, arguments: { 'x-single-active-consumer': true } });
    const ch1 = await channel(c), ch2 = await channel(c);
    await ch1.prefetch(2);
    const got1: string[] = [], got2: amqp.ConsumeMessage[] = [];
    await ch1.consume(q, (m) => { got1.push(m!.content.toString()); });
    await ch2.consume(q, (m) => { got2.push(m!); ch2.ack(m!); });
    for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await waitFor(() => got1.length === 2);
    await sleep(50);
    t.same(got1, ['m0', 'm1']);
    t.equal(got2.length, 0, 'the waiting consumer gets nothing while the active one is blocked');
    await ch1.close();
    await waitFor(() => got2.length === 4);
    t.same(got2.map((m) => m.content.toString()), ['m0', 'm1', 'm2', 'm3']);
    t.same(got2.map((m) => m.fields.redelivered), [true, true, false, false]);
    await ch2.close(); await ch.close();
  });

  t.test('consumer priorities: the higher-priority consumer with credit gets the messages', async (t) => {
    const ch = await channel(c);
    const q = uniq('cprio');
    await ch.assertQueue(q, { exclusive: true });
    const low = await channel(c), high = await channel(c);
    const gotLow: string[] = [], gotHigh: string[] = [];
    await low.consume(q, (m) => { gotLow.push(m!.content.toString()); low.ack(m!); }, { priority: 1 });
    await high.consume(q, (m) => { gotHigh.push(m!.content.toString()); high.ack(m!); }, { priority: 10 });
    for (let i = 0; i < 20; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await waitFor(() => gotLow.length + gotHigh.length === 20);
    t.equal(gotHigh.length, 20, 'all to the high-priority consumer while it has credit');
    t.equal(gotLow.length, 0);
    await low.close(); await high.close(); await ch.close();
  });

  t.test('consumer priorities: the lower one gets messages when the higher is blocked by prefetch', async (t) => {
    const ch = await channel(c);
    const q = uniq('cprio2');
    await ch.assertQueue(q, { exclusive: true });
    const low = await channel(c), high = await channel(c);
    await high.prefetch(2);
    const gotLow: string[] = [], gotHigh: amqp.ConsumeMessage[] = [];
    await low.consume(q, (m) => { gotLow.push(m!.content.toString()); }, { noAck: true, priority: -5 });
    await high.consume(q, (m) => { gotHigh.push(m!); }, { priority: 5 });
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await waitFor(() => gotLow.length + gotHigh.length === 6);
    t.same(gotHigh.map((m) => m.content.toString()), ['m0', 'm1'], 'the high one up to its prefetch');
    t.same(gotLow, ['m2', 'm3', 'm4', 'm5'], 'the rest to the low one');
    // Once the high one has credit again it is preferred again.
    high.ack(gotHigh[1], true);
    ch.sendToQueue(q, Buffer.from('m6'));
    await waitFor(() => gotHigh.length === 3);
    t.equal(gotHigh[2]?.content.toString(), 'm6');
    t.equal(gotLow.length, 4);
    await low.close(); await high.close(); await ch.close();
  });

  t.test('consumers of equal priority share round-robin', async (t) => {
    const ch = await channel(c);
    const q = uniq('rr');
    await ch.assertQueue(q, { exclusive: true });
    const got: Record<string, number> = { a: 0, b: 0, low: 0 };
    await ch.consume(q, () => { got.a++; }, { noAck: true, priority: 3 });
    await ch.consume(q, () => { got.b++; }, { noAck: true, priority: 3 });
    await ch.consume(q, () => { got.low++; }, { noAck: true });
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from('x'));
    await waitFor(() => got.a + got.b + got.low === 10);
    t.same(got, { a: 5, b: 5, low: 0 });
    await ch.close();
  });

  t.test('an invalid x-priority consume argument is refused with 406', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const err = await ch.consume(q, () => undefined, { arguments: { 'x-priority': 'high' } }).then(() => null, (e: Error & { code?: number }) => e);
    t.equal(err?.code, 406);
    t.match(err?.message ?? '', /x-priority/);
  });
});

t.test('consumer timeout', async (t) => {
  const b = await brokerUnderTest(['--consumer-timeout', '500']);
  if (b.external) { t.skip('needs a broker started with --consumer-timeout'); return; }
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('an unacked delivery older than the timeout closes its channel with 406 and is redelivered', async (t) => {
    const admin = await channel(c);
    const q = uniq('slow');
    await admin.assertQueue(q, { exclusive: true });
    const slow = await c.createChannel();
    let closeErr: (Error & { code?: number }) | null = null;
    let closedAt = 0;
    slow.on('error', (e: Error & { code?: number }) => { closeErr = e; closedAt = Date.now(); });
    const slowGot: string[] = [];
    await slow.consume(q, (m) => { if (m) slowGot.push(m.content.toString()); });
    const t0 = Date.now();
    admin.sendToQueue(q, Buffer.from('never-acked'));
    t.ok(await waitFor(() => closeErr !== null, 3000), 'channel closed by the broker');
    t.same(slowGot, ['never-acked']);
    const e = closeErr as (Error & { code?: number }) | null;
    t.equal(e?.code, 406);
    t.match(e?.message ?? '', /PRECONDITION_FAILED - delivery acknowledgement on channel \d+ timed out\. Timeout value used: 500 ms/);
    const waited = closedAt - t0;
    t.ok(waited >= 450 && waited < 2500, `closed after about the timeout (${waited} ms)`);
    const m = await getOne(admin, q);
    t.equal(m && m.content.toString(), 'never-acked', 'the message went back to the queue');
    t.equal(m && m.fields.redelivered, true);
    admin.ack(m!);
    const probe = await channel(c);
    await probe.close();
    t.pass('the connection stays open');
    await admin.close();
  });

  t.test('a consumer that acks in time is left alone; a second consumer gets the redelivery', async (t) => {
    const admin = await channel(c);
    const q = uniq('timely');
    await admin.assertQueue(q, { exclusive: true });
    const good = await channel(c);
    await good.prefetch(1);
    const goodGot: string[] = [];
    let goodClosed = false;
    good.on('close', () => { goodClosed = true; });
    await good.consume(q, (m) => { goodGot.push(m!.content.toString()); setTimeout(() => { try { good.ack(m!); } catch { /* closed */ } }, 200); });
    const bad = await c.createChannel();
    bad.on('error', () => undefined);
    await bad.prefetch(1);
    const badGot: string[] = [];
    await bad.consume(q, (m) => { badGot.push(m!.content.toString()); });
    for (let i = 0; i < 6; i++) admin.sendToQueue(q, Buffer.from(`m${i}`));
    t.ok(await waitFor(() => goodGot.length === 6, 5000), `the acking consumer got everything in the end (${goodGot.join(',')})`);
    t.equal(badGot.length, 1, 'the stuck consumer got one');
    t.ok(goodGot.includes(badGot[0]), 'its message was redelivered to the other consumer');
    await sleep(250);
    t.notOk(goodClosed, 'the acking channel stays open');
    await good.close(); await admin.close();
  });

  t.test('basic.get deliveries are subject to the timeout too', async (t) => {
    const admin = await channel(c);
    const q = uniq('getto');
    await admin.assertQueue(q, { exclusive: true });
    admin.sendToQueue(q, Buffer.from('g'));
    const ch = await c.createChannel();
    let err: (Error & { code?: number }) | null = null;
    ch.on('error', (e: Error & { code?: number }) => { err = e; });
    const m = await getOne(ch, q);
    t.ok(m);
    t.ok(await waitFor(() => err !== null, 3000), 'closed');
    t.equal((err as (Error & { code?: number }) | null)?.code, 406);
    const again = await getOne(admin, q, { noAck: true });
    t.equal(again && again.fields.redelivered, true);
    await admin.close();
  });
});
