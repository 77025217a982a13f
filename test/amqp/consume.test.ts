import t from 'tap';
import type * as amqp from 'amqplib';
import { startBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, drain, sleep, uniq, waitFor } from '../helpers/amqp';

t.test('consuming, acknowledging, redelivery', async (t) => {
  const b = await startBroker();
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('round-robin and fair dispatch with prefetch 1', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const fast = await channel(c);
    const slow = await channel(c);
    await fast.prefetch(1);
    await slow.prefetch(1);
    const gotFast: string[] = [];
    const gotSlow: string[] = [];
    await fast.consume(q, (m) => { gotFast.push(m!.content.toString()); fast.ack(m!); });
    await slow.consume(q, (m) => { gotSlow.push(m!.content.toString()); setTimeout(() => { try { slow.ack(m!); } catch { /* channel closed */ } }, 300); });
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await waitFor(() => gotFast.length + gotSlow.length === 10);
    t.equal(gotFast.length + gotSlow.length, 10, 'all delivered');
    t.ok(gotSlow.length <= 2, `slow consumer got at most 2 (got ${gotSlow.length})`);
    t.ok(gotFast.length >= 8, `fast consumer took the rest (${gotFast.length})`);
    await sleep(350);
    await fast.close(); await slow.close(); await ch.close();
  });

  t.test('round-robin without prefetch', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const got: Record<string, number> = {};
    for (const name of ['a', 'b', 'c']) {
      await ch.consume(q, () => { got[name] = (got[name] ?? 0) + 1; }, { noAck: true });
    }
    for (let i = 0; i < 30; i++) ch.sendToQueue(q, Buffer.from('x'));
    await waitFor(() => (got.a ?? 0) + (got.b ?? 0) + (got.c ?? 0) === 30);
    t.same(got, { a: 10, b: 10, c: 10 });
    await ch.close();
  });

  t.test('unacked messages return with redelivered=true when the channel closes', async (t) => {
    const admin = await channel(c);
    const q = uniq('q.redeliver');
    await admin.assertQueue(q, { autoDelete: false });
    for (let i = 0; i < 5; i++) admin.sendToQueue(q, Buffer.from(`m${i}`));
    const c1 = await channel(c);
    const first: amqp.ConsumeMessage[] = [];
    await c1.consume(q, (m) => { if (m) first.push(m); });
    await waitFor(() => first.length === 5);
    t.equal(first.length, 5);
    t.notOk(first[0].fields.redelivered);
    c1.ack(first[1]);
    await c1.close();
    const c2 = await channel(c);
    const second: amqp.ConsumeMessage[] = [];
    await c2.consume(q, (m) => { if (m) { second.push(m); c2.ack(m); } });
    await waitFor(() => second.length === 4);
    t.same(second.map((m) => m.content.toString()), ['m0', 'm2', 'm3', 'm4'], 'in original order, acked one gone');
    t.ok(second.every((m) => m.fields.redelivered), 'all flagged redelivered');
    await sleep(50);
    const check = await admin.checkQueue(q);
    t.equal(check.messageCount, 0);
    await c2.close();
    await admin.deleteQueue(q);
    await admin.close();
  });

  t.test('nack, reject and recover', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (const s of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(s));
    const [ma, mb, mc] = await drainManual(ch, q, 3);
    ch.reject(ma, false);       // dropped (no DLX)
    ch.nack(mb, false, true);   // back to the queue
    ch.nack(mc, false, false);  // dropped
    const again = await drainManual(ch, q, 1);
    t.equal(again[0]?.content.toString(), 'b');
    t.ok(again[0]?.fields.redelivered);
    await ch.recover();         // requeues the unacked 'b'
    const third = await drainManual(ch, q, 1);
    t.equal(third[0]?.content.toString(), 'b');
    ch.ack(third[0]);
    await sleep(30);
    t.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  t.test('multiple ack and nack', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    const ms = await drainManual(ch, q, 6);
    ch.ack(ms[2], true);              // acks 0,1,2
    ch.nack(ms[5], true, true);       // requeues 3,4,5
    const back = await drainManual(ch, q, 3);
    t.same(back.map((m) => m.content.toString()), ['3', '4', '5']);
    ch.ackAll();
    await sleep(30);
    t.equal((await ch.checkQueue(q)).messageCount, 0);
    await ch.close();
  });

  t.test('basic.get counts and get-empty', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    t.equal(await ch.get(q), false, 'get-empty');
    ch.sendToQueue(q, Buffer.from('1'));
    ch.sendToQueue(q, Buffer.from('2'));
    await sleep(30);
    const m = await ch.get(q, { noAck: false });
    t.ok(m);
    if (m) {
      t.equal(m.fields.messageCount, 1, 'message_count is what remains');
      ch.ack(m);
    }
    await ch.close();
  });

  t.test('properties pass through unchanged', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const props = {
      contentType: 'application/json', contentEncoding: 'utf-8', headers: { a: 1, b: 'two', c: true, d: [1, 'x'], e: { f: 2.5 } },
      deliveryMode: 2, priority: 3, correlationId: 'cid', replyTo: 'rq', expiration: '60000', messageId: 'mid',
      timestamp: 1700000000, type: 't', appId: 'app',
    };
    ch.sendToQueue(q, Buffer.from('{}'), props);
    const [m] = await drain(ch, q, 1);
    t.ok(m);
    const p = m.properties;
    t.equal(p.contentType, props.contentType);
    t.equal(p.contentEncoding, props.contentEncoding);
    t.same(p.headers, props.headers);
    t.equal(p.deliveryMode, 2);
    t.equal(p.priority, 3);
    t.equal(p.correlationId, 'cid');
    t.equal(p.replyTo, 'rq');
    t.equal(p.expiration, '60000');
    t.equal(p.messageId, 'mid');
    t.equal(p.timestamp, 1700000000);
    t.equal(p.type, 't');
    t.equal(p.appId, 'app');
    await ch.close();
  });

  t.test('large messages span several body frames', async (t) => {
    const ch = await channel(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const big = Buffer.alloc(1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    ch.sendToQueue(q, big);
    ch.sendToQueue(q, Buffer.alloc(0));
    const got = await drain(ch, q, 2);
    t.ok(got[0]?.content.equals(big), '1 MiB body intact');
    t.equal(got[1]?.content.length, 0, 'empty body');
    await ch.close();
  });

  t.test('server cancels consumers of a deleted queue', async (t) => {
    const ch = await channel(c);
    const q = uniq('q.cancel');
    await ch.assertQueue(q);
    const cancelled = new Promise<boolean>((r) => ch.consume(q, (m) => { if (m === null) r(true); }));
    const other = await channel(c);
    await other.deleteQueue(q);
    t.ok(await Promise.race([cancelled, sleep(2000).then(() => false)]), 'consumer got basic.cancel');
    await other.close(); await ch.close();
  });

  t.test('auto-delete queue goes with its last consumer', async (t) => {
    const ch = await channel(c);
    const q = uniq('q.autodel');
    await ch.assertQueue(q, { autoDelete: true });
    const { consumerTag } = await ch.consume(q, () => undefined);
    await ch.cancel(consumerTag);
    await sleep(50);
    const probe = await channel(c);
    const err = await probe.checkQueue(q).then(() => null, (e) => e.code);
    t.equal(err, 404);
    await ch.close();
  });

  t.test('publisher confirms', async (t) => {
    const ch = await confirmChannel(c);
    const q = uniq('q.confirm');
    await ch.assertQueue(q, { durable: true });
    const acks: number[] = [];
    for (let i = 0; i < 200; i++) {
      ch.sendToQueue(q, Buffer.from(`p${i}`), { persistent: i % 2 === 0 }, (err) => { if (!err) acks.push(i); });
    }
    await ch.waitForConfirms();
    t.equal(acks.length, 200, 'every publish confirmed');
    const unroutable = await new Promise<boolean>((r) => ch.publish('amq.direct', 'nobody', Buffer.from('x'), { mandatory: true }, (err) => r(!err)));
    t.ok(unroutable, 'unroutable message still acked');
    t.equal((await ch.checkQueue(q)).messageCount, 200);
    await ch.deleteQueue(q);
    await ch.close();
  });

  t.test('direct reply-to', async (t) => {
    const server = await channel(c);
    const rpcQ = (await server.assertQueue('', { exclusive: true })).queue;
    await server.consume(rpcQ, (m) => {
      server.sendToQueue(m!.properties.replyTo, Buffer.from(`re:${m!.content}`), { correlationId: m!.properties.correlationId });
      server.ack(m!);
    });
    const client = await channel(c);
    const reply = new Promise<amqp.ConsumeMessage>((r) => client.consume('amq.rabbitmq.reply-to', (m) => r(m!), { noAck: true }));
    await sleep(20);
    client.sendToQueue(rpcQ, Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to', correlationId: 'c-1' });
    const m = await Promise.race([reply, sleep(3000).then(() => null)]);
    t.ok(m, 'reply arrived');
    t.equal(m?.content.toString(), 're:ping');
    t.equal(m?.properties.correlationId, 'c-1');
    await client.close(); await server.close();
  });
});

async function drainManual(ch: amqp.Channel, q: string, n: number): Promise<amqp.GetMessage[]> {
  const out: amqp.GetMessage[] = [];
  const end = Date.now() + 3000;
  while (out.length < n && Date.now() < end) {
    const m = await ch.get(q, { noAck: false });
    if (m === false) await sleep(10); else out.push(m);
  }
  return out;
}
