import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as amqp from 'amqplib';
import { startBroker } from '../helpers/broker';
import { channel, channelErrorCode, confirmChannel, connect, drain, sleep } from '../helpers/amqp';

async function consumeN(ch: amqp.Channel, q: string, n: number, ms = 3000): Promise<amqp.ConsumeMessage[]> {
  const got: amqp.ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(q, (m) => { if (m) got.push(m); });
  const end = Date.now() + ms;
  while (got.length < n && Date.now() < end) await sleep(10);
  await ch.cancel(consumerTag);
  return got;
}

t.test('durable definitions and persistent messages survive a clean restart', async (t) => {
  const b1 = await startBroker();
  const c1 = await connect(b1.url);
  const ch = await channel(c1);
  await ch.assertExchange('ae.x', 'fanout', { durable: true });
  await ch.assertExchange('dur.x', 'topic', { durable: true, alternateExchange: 'ae.x' });
  await ch.assertExchange('dur.x2', 'direct', { durable: true });
  await ch.assertExchange('tmp.x', 'direct', { durable: false });
  await ch.assertQueue('dur.q', { durable: true, arguments: { 'x-max-length': 1000, 'x-message-ttl': 3600000 } });
  await ch.assertQueue('ae.q', { durable: true });
  await ch.assertQueue('tmp.q', { durable: false });
  await ch.bindQueue('dur.q', 'dur.x', 'a.#');
  await ch.bindQueue('ae.q', 'ae.x', '');
  await ch.bindExchange('dur.x2', 'dur.x', 'e2e.*');
  await ch.bindQueue('dur.q', 'dur.x2', 'e2e.k');
  await ch.assertExchange('dur.h', 'headers', { durable: true });
  await ch.assertQueue('dur.hq', { durable: true, arguments: { 'x-max-priority': 5 } });
  await ch.bindQueue('dur.hq', 'dur.h', '', { 'x-match': 'all', kind: 'invoice' });
  for (let i = 0; i < 10; i++) ch.publish('dur.x', 'a.b', Buffer.from(`p${i}`), { persistent: true });
  for (let i = 0; i < 5; i++) ch.publish('dur.x', 'a.b', Buffer.from(`t${i}`), { persistent: false });
  ch.sendToQueue('tmp.q', Buffer.from('gone'), { persistent: true });
  await sleep(100);
  // Ack p0, p1; leave p2, p3 delivered but unacked when the broker stops.
  const cons = await channel(c1);
  await cons.prefetch(4);
  const first = await consumeN(cons, 'dur.q', 4);
  t.same(first.map((m) => m.content.toString()), ['p0', 'p1', 'p2', 'p3']);
  cons.ack(first[0]);
  cons.ack(first[1]);
  await sleep(200);
  const code = await b1.stop();
  t.equal(code, 0, 'SIGTERM stops cleanly with exit code 0');
  t.ok(b1.logs.some((l) => /stopped/.test(l)), 'shutdown logged');

  const b2 = await startBroker({ dataDir: b1.dataDir });
  t.teardown(() => b2.stop());
  t.ok(b2.logs.some((l) => /queue 'dur\.q' in vhost '\/': \d+ messages recovered in [\d.]+ s/.test(l)), 'recovery line logged');
  const c2 = await connect(b2.url);
  t.teardown(() => c2.close().catch(() => undefined));
  const ch2 = await channel(c2);
  await ch2.checkExchange('dur.x');
  await ch2.checkExchange('ae.x');
  t.equal((await channelErrorCode(c2, (x) => x.checkExchange('tmp.x'))).code, 404, 'non-durable exchange gone');
  t.equal((await channelErrorCode(c2, (x) => x.checkQueue('tmp.q'))).code, 404, 'non-durable queue gone');
  // Same arguments redeclare fine; different ones are refused: the arguments came back.
  await ch2.assertQueue('dur.q', { durable: true, arguments: { 'x-max-length': 1000, 'x-message-ttl': 3600000 } });
  t.equal((await channelErrorCode(c2, (x) => x.assertQueue('dur.q', { durable: true, arguments: { 'x-max-length': 5 } }))).code, 406);
  t.equal((await channelErrorCode(c2, (x) => x.assertExchange('dur.x', 'topic', { durable: true }))).code, 406, 'exchange arguments restored');
  const msgs = await consumeN(ch2, 'dur.q', 8);
  t.same(msgs.map((m) => m.content.toString()), ['p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9'],
    'persistent messages back in order; acked ones and transient ones gone');
  t.same(msgs.map((m) => m.fields.redelivered), [true, true, false, false, false, false, false, false],
    'delivered-but-unacked messages are flagged redelivered');
  for (const m of msgs) ch2.ack(m);
  // Bindings (queue, e2e, alternate exchange) still route.
  ch2.publish('dur.x', 'a.z', Buffer.from('via-binding'));
  ch2.publish('dur.x', 'e2e.k', Buffer.from('via-e2e'));
  ch2.publish('dur.x', 'unroutable', Buffer.from('via-ae'));
  const routed = await drain(ch2, 'dur.q', 2);
  t.same(routed.map((m) => m.content.toString()).sort(), ['via-binding', 'via-e2e']);
  t.same((await drain(ch2, 'ae.q', 1)).map((m) => m.content.toString()), ['via-ae']);
  // A headers binding keeps its arguments, and a priority queue its x-max-priority.
  ch2.publish('dur.h', '', Buffer.from('low'), { headers: { kind: 'invoice' }, priority: 1 });
  ch2.publish('dur.h', '', Buffer.from('high'), { headers: { kind: 'invoice' }, priority: 5 });
  ch2.publish('dur.h', '', Buffer.from('no-match'), { headers: { kind: 'receipt' } });
  await sleep(50);
  t.same((await drain(ch2, 'dur.hq', 2)).map((m) => m.content.toString()), ['high', 'low'],
    'headers binding arguments and x-max-priority restored');
  t.equal(await ch2.get('dur.hq', { noAck: true }), false, 'non-matching headers not routed');
});

t.test('kill -9 loses no confirmed persistent message', async (t) => {
  const b1 = await startBroker();
  const c1 = await connect(b1.url);
  const ch = await confirmChannel(c1);
  await ch.assertQueue('crash.q', { durable: true });
  const confirmed: number[] = [];
  for (let i = 0; i < 2000; i++) {
    ch.sendToQueue('crash.q', Buffer.from(String(i)), { persistent: true }, (err) => { if (!err) confirmed.push(i); });
  }
  await ch.waitForConfirms();
  t.equal(confirmed.length, 2000);
  await b1.kill();
  const b2 = await startBroker({ dataDir: b1.dataDir });
  t.teardown(() => b2.stop());
  const c2 = await connect(b2.url);
  t.teardown(() => c2.close().catch(() => undefined));
  const ch2 = await channel(c2);
  t.equal((await ch2.checkQueue('crash.q')).messageCount, 2000, 'every confirmed message is back');
  const got = await drain(ch2, 'crash.q', 2000, 10000);
  t.same(got.map((m) => Number(m.content.toString())), confirmed.slice().sort((a, b) => a - b), 'byte-identical, in order');
});

t.test('a torn write at the end of the open segment is cut, the prefix served', async (t) => {
  const b1 = await startBroker();
  const c1 = await connect(b1.url);
  const ch = await confirmChannel(c1);
  await ch.assertQueue('torn.q', { durable: true });
  for (let i = 0; i < 100; i++) ch.sendToQueue('torn.q', Buffer.alloc(100, i), { persistent: true });
  await ch.waitForConfirms();
  await b1.kill();
  // Find the queue's open segment and cut its last 30 bytes (half of the last record).
  const logs: string[] = [];
  const walk = (d: string) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p); else if (e.name.endsWith('.log')) logs.push(p);
  } };
  walk(path.join(b1.dataDir, 'vhosts'));
  t.equal(logs.length, 1, 'one segment file');
  const size = fs.statSync(logs[0]).size;
  fs.truncateSync(logs[0], size - 30);
  const b2 = await startBroker({ dataDir: b1.dataDir });
  t.teardown(() => b2.stop());
  t.ok(b2.logs.some((l) => /torn\.q/.test(l) && /(cut|truncat)/i.test(l)), `broker says what it cut: ${b2.logs.filter((l) => /warn/.test(l)).join(' | ')}`);
  const c2 = await connect(b2.url);
  t.teardown(() => c2.close().catch(() => undefined));
  const ch2 = await channel(c2);
  const got = await drain(ch2, 'torn.q', 99, 5000);
  t.equal(got.length, 99, 'the intact prefix is served');
  t.ok(got.every((m, i) => m.content.equals(Buffer.alloc(100, i))), 'records intact');
  // And the queue keeps working.
  ch2.sendToQueue('torn.q', Buffer.from('after'), { persistent: true });
  t.equal((await drain(ch2, 'torn.q', 1))[0]?.content.toString(), 'after');
});
