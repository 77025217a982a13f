// Stream queues over AMQP 0-9-1 with amqplib: declare rules, every offset form, the offset
// header, credit, filters, many consumers, retention, and RabbitMQ 3.10's errors (texts checked
// against a real 3.10.8).
import t from 'tap';
import type * as amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, channelErrorCode, confirmChannel, connect, sleep, uniq, waitFor, type Conn } from '../helpers/amqp';

const STREAM = { 'x-queue-type': 'stream' };
// Outside CI the same tests run against another broker (RabbitMQ 3.10), e.g.
//   STREAM_COMPARE_URL=amqp://guest:guest@127.0.0.1:5673 npx tap test/streams/amqp.test.ts
// Warren-only behaviour is skipped there: filters (RabbitMQ 3.13) and nack/reject giving credit.
const OTHER = process.env.STREAM_COMPARE_URL;
const WARREN_ONLY = OTHER !== undefined ? 'Warren only (see docs/streams.md)' : false;

let b: Pick<RunningBroker, 'url' | 'stop'>;
let c: Conn;
t.before(async () => {
  b = OTHER !== undefined ? { url: OTHER, stop: async () => null } : await startBroker({ logLevel: 'warning' });
  c = await connect(b.url);
});
t.teardown(async () => {
  await c.close().catch(() => undefined);
  await b.stop();
});

async function declareStream(name: string, args: Record<string, unknown> = {}): Promise<void> {
  const ch = await channel(c);
  await ch.assertQueue(name, { durable: true, arguments: { ...STREAM, ...args } });
  await ch.close();
}

async function publish(q: string, n: number, opts: (i: number) => amqp.Options.Publish = () => ({}), from = 0): Promise<void> {
  const ch = await confirmChannel(c);
  for (let i = from; i < from + n; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), opts(i));
  await ch.waitForConfirms();
  await ch.close();
}

// Consumes from a stream with the given consume arguments until `n` messages (or ms) arrive.
async function read(q: string, args: Record<string, unknown>, n: number, opts: { prefetch?: number; ms?: number; ack?: boolean } = {}): Promise<amqp.ConsumeMessage[]> {
  const ch = await channel(c);
  await ch.prefetch(opts.prefetch ?? 1000);
  const got: amqp.ConsumeMessage[] = [];
  await ch.consume(q, (m) => {
    if (m === null) return;
    got.push(m);
    if (opts.ack !== false) ch.ack(m);
  }, { arguments: args });
  await waitFor(() => got.length >= n, opts.ms ?? 3000);
  await sleep(50);
  await ch.close().catch(() => undefined);
  return got;
}

const offsets = (ms: amqp.ConsumeMessage[]) => ms.map((m) => Number(m.properties.headers?.['x-stream-offset']));

t.test('declare: RabbitMQ 3.10\'s rules and texts', async (t) => {
  const cases: Array<[string, amqp.Options.AssertQueue, number | null, string]> = [
    ['d1', { durable: false, arguments: STREAM }, 406, "invalid property 'non-durable' for queue 'd1' in vhost '/'"],
    ['d2', { durable: true, exclusive: true, arguments: STREAM }, 406, "invalid property 'exclusive-owner' for queue 'd2' in vhost '/'"],
    ['d3', { durable: true, autoDelete: true, exclusive: true, arguments: STREAM }, 406, "invalid property 'auto-delete' for queue 'd3' in vhost '/'"],
    ['d4', { durable: false, arguments: { ...STREAM, 'x-message-ttl': -1 } }, 406, "invalid arg 'x-message-ttl' for queue 'd4' in vhost '/' of queue type rabbit_stream_queue"],
    ['d5', { durable: true, arguments: { ...STREAM, 'x-max-age': '1x' } }, 406, "invalid arg 'x-max-age' for queue 'd5' in vhost '/': invalid_max_age"],
    ['d6', { durable: true, arguments: { ...STREAM, 'x-max-length-bytes': 'abc' } }, 406, `invalid arg 'x-max-length-bytes' for queue 'd6' in vhost '/': "expected integer, got longstr"`],
    ['', { durable: true, arguments: STREAM }, 406, 'Cannot declare a server-named queue for type rabbit_stream_queue'],
    ['d7', { durable: true, arguments: { ...STREAM, 'x-max-age': '7D', 'x-stream-filter-size-bytes': 32, 'x-stream-max-segment-size-bytes': 1000000, 'x-foo': 1 } }, null, ''],
  ];
  for (const [name, opts, code, text] of cases) {
    const r = await channelErrorCode(c, (ch) => ch.assertQueue(name, opts));
    t.equal(r.code, code, `${name || '(server-named)'}: ${code ?? 'ok'}`);
    if (code !== null) t.match(r.message, text);
  }
  const redeclare = await channelErrorCode(c, (ch) => ch.assertQueue('d7', { durable: true, arguments: { ...STREAM, 'x-max-age': '8D' } }));
  t.equal(redeclare.code, 406);
  t.match(redeclare.message, "inequivalent arg 'x-max-age' for queue 'd7' in vhost '/': received '8D' but current is '7D'");
  const none = await channelErrorCode(c, (ch) => ch.assertQueue('d7', { durable: true, arguments: { ...STREAM, 'x-stream-max-segment-size-bytes': 1000000 } }));
  t.match(none.message, "inequivalent arg 'x-max-age' for queue 'd7' in vhost '/': received none but current is the value '7D' of type 'longstr'");
  const same = await channelErrorCode(c, (ch) => ch.assertQueue('d7', { durable: true, arguments: { ...STREAM, 'x-max-age': '7D', 'x-stream-max-segment-size-bytes': 1000000, 'x-message-ttl': 5 } }));
  t.equal(same.code, null, 'a redeclare compares only what 3.10 compares for streams');
  const ok = await channel(c);
  const dok = await ok.checkQueue('d7');
  t.equal(dok.messageCount, 0);
  await ok.deleteQueue('d7');
  await ok.close();
});

t.test('every offset form, the offset header, properties kept', async (t) => {
  const q = uniq('s.offsets');
  await declareStream(q);
  await publish(q, 50, (i) => ({ headers: { h: 'v', n: i }, messageId: `id${i}`, priority: 3, persistent: true, contentType: 'text/plain', type: 't', appId: 'app', timestamp: 1700000000 }));
  await sleep(1100);
  const tsMid = Math.floor(Date.now() / 1000);
  await sleep(1100);
  await publish(q, 10, () => ({}), 50);

  const first = await read(q, { 'x-stream-offset': 'first' }, 60);
  t.same(offsets(first), Array.from({ length: 60 }, (_, i) => i), 'first: everything, in order');
  const m = first[3];
  t.equal(m.content.toString(), 'm3');
  t.equal(m.fields.redelivered, false);
  t.equal(m.fields.exchange, '');
  t.equal(m.fields.routingKey, q);
  t.same(m.properties.headers, { h: 'v', n: 3, 'x-stream-offset': 3 }, 'headers kept, x-stream-offset last');
  t.equal(m.properties.messageId, 'id3');
  t.equal(m.properties.priority, 3);
  t.equal(m.properties.deliveryMode, 2);
  t.equal(m.properties.contentType, 'text/plain');
  t.equal(m.properties.type, 't');
  t.equal(m.properties.appId, 'app');
  t.equal(m.properties.timestamp, 1700000000);

  t.same(offsets(await read(q, { 'x-stream-offset': 42 }, 18)), Array.from({ length: 18 }, (_, i) => 42 + i), 'a number');
  t.same(offsets(await read(q, { 'x-stream-offset': -5 }, 60)).length, 60, 'a negative number: from the start');
  t.same(offsets(await read(q, { 'x-stream-offset': 1000 }, 1, { ms: 300 })), [], 'past the end: nothing yet');
  const last = offsets(await read(q, { 'x-stream-offset': 'last' }, 10, { ms: 500 }));
  t.ok(last.length > 0 && last.length <= 10 && last[last.length - 1] === 59, `last: the newest chunk (${last[0]}..59)`);
  const ts = await read(q, { 'x-stream-offset': { '!': 'timestamp', value: tsMid } }, 10, { ms: 1000 });
  t.same(offsets(ts), Array.from({ length: 10 }, (_, i) => 50 + i), 'a timestamp (seconds): what was published after it');
  t.equal((await read(q, { 'x-stream-offset': '1h' }, 60)).length, 60, 'an interval: the last hour');

  // next: only what is published after the consumer started
  const ch = await channel(c);
  await ch.prefetch(100);
  const got: amqp.ConsumeMessage[] = [];
  await ch.consume(q, (x) => { if (x) { got.push(x); ch.ack(x); } });
  await sleep(100);
  await publish(q, 3, () => ({}), 60);
  await waitFor(() => got.length >= 3);
  t.same(offsets(got), [60, 61, 62], 'next (the default): new messages only');
  await ch.close();
});

t.test('consumer errors, as RabbitMQ 3.10', async (t) => {
  const q = uniq('s.errors');
  await declareStream(q);
  const noPrefetch = await channelErrorCode(c, (ch) => ch.consume(q, () => undefined));
  t.equal(noPrefetch.code, 406);
  t.match(noPrefetch.message, `consumer prefetch count is not set for 'queue '${q}' in vhost '/''`);
  const globalOnly = await channelErrorCode(c, async (ch) => { await ch.prefetch(10, true); return ch.consume(q, () => undefined); });
  t.equal(globalOnly.code, 406, 'a global prefetch is not a consumer prefetch');
  // 'foo' and true: RabbitMQ 3.10 answers 541 and closes the connection (docs/streams.md)
  const bad: Array<[unknown, string]> = [['10x', '{longstr,<<"10x">>}'], ['0s', '{longstr,<<"0s">>}']];
  if (OTHER === undefined) bad.push(['foo', '{longstr,<<"foo">>}'], [true, '{bool,true}']);
  for (const [off, shown] of bad) {
    const r = await channelErrorCode(c, async (ch) => { await ch.prefetch(10); return ch.consume(q, () => undefined, { arguments: { 'x-stream-offset': off } }); });
    t.equal(r.code, 406, `x-stream-offset ${String(off)}: 406`);
    t.match(r.message, `invalid arg 'x-stream-offset' for queue '${q}' in vhost '/': {invalid_stream_offset_arg,${shown}}`);
  }
  // 540s close the connection
  for (const [what, fn, text] of [
    ['no-ack', async (ch: amqp.Channel) => { await ch.prefetch(10); return ch.consume(q, () => undefined, { noAck: true }); }, `automatic acknowledgement not supported by stream queues queue '${q}' in vhost '/'`],
    ['basic.get', (ch: amqp.Channel) => ch.get(q), `basic.get not supported by stream queues queue '${q}' in vhost '/'`],
    ['queue.purge', (ch: amqp.Channel) => ch.purgeQueue(q), `queue.purge not supported by stream queues queue '${q}' in vhost '/'`],
  ] as const) {
    const c2 = await connect(b.url);
    const closed = new Promise<Error>((r) => c2.once('error', r));
    const ch = await channel(c2);
    await (fn as (ch: amqp.Channel) => Promise<unknown>)(ch).catch(() => undefined);
    const e = await closed;
    t.equal((e as { code?: number }).code, 540, `${what}: 540 closes the connection`);
    t.match(e.message, text);
  }
});

t.test('credit: acks, nacks and rejects only give credit; many consumers; cancel and re-consume', { skip: WARREN_ONLY }, async (t) => {
  const q = uniq('s.credit');
  await declareStream(q);
  await publish(q, 100);
  const ch = await channel(c);
  await ch.prefetch(10);
  const got: amqp.ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume(q, (m) => { if (m) got.push(m); }, { arguments: { 'x-stream-offset': 'first' } });
  await waitFor(() => got.length >= 10);
  await sleep(100);
  t.equal(got.length, 10, 'the prefetch bounds what is unacked');
  ch.ack(got[9], true);
  await waitFor(() => got.length >= 20);
  await sleep(50);
  t.equal(got.length, 20, 'acks give credit');
  ch.nack(got[19], true, true);
  await waitFor(() => got.length >= 30);
  await sleep(50);
  t.same(offsets(got), Array.from({ length: 30 }, (_, i) => i), 'a nack with requeue gives credit and redelivers nothing');
  t.ok(got.every((m) => !m.fields.redelivered));
  ch.reject(got[20], false);
  await sleep(100);
  t.equal(got.length, 31, 'a reject gives one credit');
  await ch.cancel(consumerTag);
  got.length = 0;
  await ch.consume(q, (m) => { if (m) { got.push(m); ch.ack(m); } }, { arguments: { 'x-stream-offset': 95 } });
  await waitFor(() => got.length >= 5);
  t.same(offsets(got), [95, 96, 97, 98, 99], 're-consume from another offset on the same channel');
  await ch.close();

  // five consumers at independent positions
  const results = await Promise.all([0, 20, 40, 60, 80].map((o) => read(q, { 'x-stream-offset': o }, 100 - o, { prefetch: 7 })));
  results.forEach((r, k) => t.equal(r.length, 100 - k * 20, `consumer from ${k * 20} read ${r.length}`));
});

t.test('filters: the final match is exact', { skip: WARREN_ONLY }, async (t) => {
  const q = uniq('s.filter');
  await declareStream(q);
  const colour = (i: number) => (i % 10 === 0 ? 'red' : i % 10 === 1 ? undefined : 'blue');
  await publish(q, 200, (i) => (colour(i) === undefined ? {} : { headers: { 'x-stream-filter-value': colour(i) } }));
  const red = await read(q, { 'x-stream-offset': 'first', 'x-stream-filter': 'red' }, 20);
  t.equal(red.length, 20);
  t.ok(red.every((m) => m.properties.headers?.['x-stream-filter-value'] === 'red'), 'only red messages');
  const redOrNone = await read(q, { 'x-stream-offset': 'first', 'x-stream-filter': ['red', 'green'], 'x-stream-match-unfiltered': true }, 40);
  t.equal(redOrNone.length, 40, 'an array of values, and messages without a value');
  t.ok(redOrNone.every((m) => [undefined, 'red'].includes(m.properties.headers?.['x-stream-filter-value'] as string | undefined)));
  const bad = await channelErrorCode(c, async (ch) => { await ch.prefetch(1); return ch.consume(q, () => undefined, { arguments: { 'x-stream-filter': 5 } }); });
  t.equal(bad.code, 406);
});

t.test('retention by size and by age deletes whole old segments', async (t) => {
  const q = uniq('s.retention');
  await declareStream(q, { 'x-stream-max-segment-size-bytes': 4096, 'x-max-length-bytes': 20000 });
  const big = Buffer.alloc(1000, 1);
  const ch = await confirmChannel(c);
  for (let i = 0; i < 100; i++) {
    ch.sendToQueue(q, big);
    if (i % 5 === 4) await ch.waitForConfirms();
  }
  await ch.waitForConfirms();
  const first = await read(q, { 'x-stream-offset': 'first' }, 1);
  const start = offsets(first)[0];
  t.ok(start > 50, `the stream starts at ${start}: old segments are gone`);
  const all = await read(q, { 'x-stream-offset': 'first' }, 100 - start);
  t.ok(all.length >= 100 - start && all.length < 40, `${all.length} messages kept (about 20 KB)`);

  const q2 = uniq('s.age');
  await declareStream(q2, { 'x-stream-max-segment-size-bytes': 4096, 'x-max-age': '1s' });
  for (let i = 0; i < 20; i++) ch.sendToQueue(q2, big);
  await ch.waitForConfirms();
  await sleep(1500);
  for (let i = 0; i < 10; i++) ch.sendToQueue(q2, big);
  await ch.waitForConfirms();
  const after = offsets(await read(q2, { 'x-stream-offset': 'first' }, 1));
  t.ok(after[0] >= 16, `after a second the stream starts at ${after[0]} (the open segment stays)`);
  await ch.close();
});

// RabbitMQ updates the count every few seconds (its stats interval); Warren's is exact at once
t.test('delete ignores if-unused and if-empty, and reports 0 messages', async (t) => {
  const q = uniq('st.delete');
  await declareStream(q);
  await publish(q, 3);
  const cch = await channel(c);
  await cch.prefetch(10);
  await cch.consume(q, () => undefined, { arguments: { 'x-stream-offset': 'first' } });
  const ch = await channel(c);
  t.same(await ch.deleteQueue(q, { ifUnused: true, ifEmpty: true }), { messageCount: 0 }, 'deleted although it has a consumer and messages');
  t.equal((await channelErrorCode(c, (x) => x.checkQueue(q))).code, 404, 'gone');
  await ch.close();
});

t.test('streams are listed and counted', { skip: OTHER !== undefined ? 'RabbitMQ counts asynchronously' : false }, async (t) => {
  const q = uniq('s.count');
  await declareStream(q);
  await publish(q, 7);
  const ch = await channel(c);
  const ok = await ch.checkQueue(q);
  t.equal(ok.messageCount, 7, 'queue.declare-ok counts the stream\'s messages');
  await ch.deleteQueue(q);
  t.equal((await channelErrorCode(c, (x) => x.checkQueue(q))).code, 404, 'deleted');
  await ch.close();
});
