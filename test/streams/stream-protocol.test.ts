// The RabbitMQ Stream protocol through rabbitmq-stream-js-client, unmodified: publish and
// confirm, every offset specification, stored offsets, de-duplication, super streams, filters,
// interop with AMQP 0-9-1, and the protocol's error codes (a bare client for exact frames).
import t from 'tap';
import type * as amqp from 'amqplib';
import * as rabbit from 'rabbitmq-stream-js-client';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, sleep, uniq, waitFor } from '../helpers/amqp';
import { closeStreamClient } from '../helpers/stream-client';
import { RawStreamClient, entry, publishChunks } from '../helpers/stream-raw';
import { FrameWriter } from '../../src/protocol/stream/frames';

let b: RunningBroker;
let client: rabbit.Client;
t.before(async () => {
  b = await startBroker({ logLevel: 'warning', stream: true });
  client = await open(b.streamPort);
});
t.teardown(async () => {
  await closeStreamClient(client);
  await b.stop();
});

function open(port: number): Promise<rabbit.Client> {
  return rabbit.connect({ hostname: '127.0.0.1', port, username: 'guest', password: 'guest', vhost: '/' });
}

async function publishN(stream: string, n: number, opts: { ref?: string; from?: number; props?: (i: number) => rabbit.MessageOptions } = {}): Promise<number> {
  const pub = await client.declarePublisher({ stream, publisherRef: opts.ref });
  let confirmed = 0;
  pub.on('publish_confirm', (err, ids) => { if (err === null) confirmed += ids.length; });
  const from = opts.from ?? 0;
  for (let i = from; i < from + n; i++) await pub.send(Buffer.from(`m${i}`), opts.props?.(i) ?? {});
  await pub.flush();
  await waitFor(() => confirmed >= n, 5000);
  await pub.close();
  return confirmed;
}

async function consume(stream: string, offset: rabbit.Offset, n: number, ms = 3000): Promise<rabbit.Message[]> {
  const got: rabbit.Message[] = [];
  const c = await client.declareConsumer({ stream, offset }, (m) => { got.push(m); });
  await waitFor(() => got.length >= n, ms);
  await sleep(50);
  await client.closeConsumer(c.extendedId);
  return got;
}

t.test('create, publish with confirms, consume from first', async (t) => {
  const s = uniq('sp.basic');
  t.equal(await client.createStream({ stream: s, arguments: { 'max-age': '1h', 'stream-max-segment-size-bytes': 1000000 } }), true);
  t.equal(await client.createStream({ stream: s, arguments: {} }), true, 'creating it again: "already exists", which the client accepts');
  t.equal(await publishN(s, 500, { props: (i) => ({ applicationProperties: { i: `v${i}` }, messageProperties: { messageId: `id${i}` } }) }), 500, 'every message confirmed');
  const got = await consume(s, rabbit.Offset.first(), 500);
  t.equal(got.length, 500);
  t.ok(got.every((m, k) => m.content.toString() === `m${k}` && m.offset === BigInt(k)), 'in order, with offsets');
  t.same(got[7].applicationProperties, { i: 'v7' });
  t.equal(got[7].messageProperties?.messageId, 'id7');
  const stats = await client.streamStatsRequest(s);
  t.equal(stats.firstChunkId, 0n);
  t.ok(stats.committedChunkId <= 499n);
  const [meta] = await client.queryMetadata({ streams: [s, 'no-such-stream'] });
  t.equal(meta.streamName, s);
  t.equal(meta.leader?.port, b.streamPort, 'metadata: this node is the leader');
  t.equal(await client.deleteStream({ stream: s }), true);
  await t.rejects(client.deleteStream({ stream: s }), /code 2/, 'deleting a stream that does not exist: code 2');
});

t.test('every offset specification', async (t) => {
  const s = uniq('sp.offsets');
  await client.createStream({ stream: s, arguments: {} });
  await publishN(s, 100);
  await sleep(1100);
  const ts = Date.now();
  await sleep(50);
  await publishN(s, 20, { from: 100 });
  const offs = (ms: rabbit.Message[]) => ms.map((m) => Number(m.offset));
  t.same(offs(await consume(s, rabbit.Offset.first(), 120)), Array.from({ length: 120 }, (_, i) => i), 'first');
  t.same(offs(await consume(s, rabbit.Offset.offset(42n), 78)), Array.from({ length: 78 }, (_, i) => 42 + i), 'offset 42 (the client drops the chunk before it)');
  t.same(offs(await consume(s, rabbit.Offset.timestamp(new Date(ts)), 20)), Array.from({ length: 20 }, (_, i) => 100 + i), 'timestamp');
  const last = offs(await consume(s, rabbit.Offset.last(), 1, 1000));
  t.ok(last.length > 0 && last[last.length - 1] === 119, `last: the newest chunk (from ${last[0]})`);
  // next: only new messages
  const got: rabbit.Message[] = [];
  const c = await client.declareConsumer({ stream: s, offset: rabbit.Offset.next() }, (m) => { got.push(m); });
  await sleep(200);
  t.equal(got.length, 0, 'next: nothing old');
  await publishN(s, 5, { from: 120 });
  await waitFor(() => got.length >= 5);
  t.same(offs(got), [120, 121, 122, 123, 124], 'next: the new messages');
  await client.closeConsumer(c.extendedId);
});

t.test('interop: AMQP 0-9-1 and the Stream protocol read each other\'s messages', async (t) => {
  const s = uniq('sp.interop');
  const ac = await connect(b.url);
  t.teardown(() => closeStreamClient(ac));
  const ch = await confirmChannel(ac);
  await ch.assertQueue(s, { durable: true, arguments: { 'x-queue-type': 'stream' } });
  ch.publish('', s, Buffer.from('from amqp'), { headers: { h: 'hv' }, messageId: 'm1', contentType: 'text/plain', correlationId: 'c1' });
  await ch.waitForConfirms();
  await publishN(s, 1, { from: 1, props: () => ({ applicationProperties: { k: 'kv' }, messageProperties: { correlationId: 'c2', contentType: 'application/x' } }) });
  const viaStream = await consume(s, rabbit.Offset.first(), 2);
  t.equal(viaStream[0].content.toString(), 'from amqp');
  t.same(viaStream[0].applicationProperties, { h: 'hv' }, '0-9-1 headers are application properties');
  t.equal(viaStream[0].messageProperties?.messageId, 'm1');
  t.equal(viaStream[0].messageProperties?.contentType, 'text/plain');
  t.equal(viaStream[0].messageAnnotations?.['x-routing-key'], s, 'the routing key is a message annotation');
  const cons = await channel(ac);
  await cons.prefetch(10);
  const got: amqp.ConsumeMessage[] = [];
  await cons.consume(s, (m) => { if (m) { got.push(m); cons.ack(m); } }, { arguments: { 'x-stream-offset': 'first' } });
  await waitFor(() => got.length >= 2);
  t.equal(got[1].content.toString(), 'm1');
  t.same(got[1].properties.headers, { k: 'kv', 'x-stream-offset': 1 }, 'application properties are 0-9-1 headers');
  t.equal(got[1].properties.correlationId, 'c2');
  t.equal(got[1].properties.contentType, 'application/x');
  t.equal(got[1].fields.exchange, '');
  t.equal(got[1].fields.routingKey, s, 'a Stream protocol message: the stream\'s name as routing key');
});

t.test('de-duplication by producer reference, and stored offsets, across a restart', async (t) => {
  const b2 = await startBroker({ logLevel: 'warning', stream: true });
  let c2 = await open(b2.streamPort);
  const s = 'dedup';
  await c2.createStream({ stream: s, arguments: {} });
  const pub = await c2.declarePublisher({ stream: s, publisherRef: 'producer-1' });
  let confirmed = 0;
  pub.on('publish_confirm', (err, ids) => { if (err === null) confirmed += ids.length; });
  for (let i = 1; i <= 100; i++) await pub.send(Buffer.from(`d${i}`), { publishingId: BigInt(i) });
  await pub.flush();
  await waitFor(() => confirmed >= 100);
  for (let i = 50; i <= 150; i++) await pub.send(Buffer.from(`d${i}`), { publishingId: BigInt(i) });
  await pub.flush();
  await waitFor(() => confirmed >= 201);
  t.equal(confirmed, 201, 'a re-sent publishing id is confirmed ...');
  const consumer = await c2.declareConsumer({ stream: s, offset: rabbit.Offset.first(), consumerRef: 'reader-1' }, () => undefined);
  await consumer.storeOffset(77n);
  await sleep(200);
  t.equal(await consumer.queryOffset(), 77n, 'stored offset');
  await c2.close();
  await b2.kill(); // kill -9: dedup state and offsets must survive it

  const b3 = await startBroker({ logLevel: 'warning', stream: b2.streamPort, dataDir: b2.dataDir });
  c2 = await open(b3.streamPort);
  t.teardown(async () => {
    await closeStreamClient(c2);
    await b3.stop();
  });
  const got: rabbit.Message[] = [];
  const cons = await c2.declareConsumer({ stream: s, offset: rabbit.Offset.first(), consumerRef: 'reader-1' }, (m) => { got.push(m); });
  await waitFor(() => got.length >= 150);
  await sleep(100);
  t.equal(got.length, 150, '... not stored twice');
  t.ok(got.every((m, k) => m.content.toString() === `d${k + 1}`));
  t.equal(await cons.queryOffset(), 77n, 'the stored offset survived kill -9');
  const pub2 = await c2.declarePublisher({ stream: s, publisherRef: 'producer-1' });
  t.equal(await pub2.getLastPublishingId(), 150n, 'the publisher sequence survived kill -9');
  let c3 = 0;
  pub2.on('publish_confirm', (err, ids) => { if (err === null) c3 += ids.length; });
  for (let i = 140; i <= 160; i++) await pub2.send(Buffer.from(`d${i}`), { publishingId: BigInt(i) });
  await pub2.flush();
  await waitFor(() => c3 >= 21);
  await waitFor(() => got.length >= 160);
  await sleep(200);
  t.equal(got.length, 160, 'after the restart, re-sent ids are still dropped');
  await t.rejects(c2.declareConsumer({ stream: s, offset: rabbit.Offset.first(), consumerRef: 'nobody' }, () => undefined).then((c) => c.queryOffset()), /code 19/,
    'query offset of a reference that never stored one: code 19 (no offset)');
});

t.test('super streams: create, partitions, route, publish and consume by routing key', async (t) => {
  const ss = uniq('orders');
  t.equal(await client.createSuperStream({ streamName: ss, arguments: {} }, ['eu', 'us', 'apac'], 3), true);
  t.same(await client.queryPartitions({ superStream: ss }), [`${ss}-eu`, `${ss}-us`, `${ss}-apac`], 'partitions in order');
  const route = await client.routeQuery({ routingKey: 'us', superStream: ss });
  t.same(route.streams ?? route, [`${ss}-us`], 'route by binding key');
  await t.rejects(client.queryPartitions({ superStream: 'no-such-super-stream' }), /code 2/);
  const pub = await client.declareSuperStreamPublisher({ superStream: ss, routingStrategy: { type: 'key' } as never }, (content) => content);
  for (const r of ['eu', 'us', 'apac', 'us']) await pub.send(Buffer.from(r), { applicationProperties: { region: r } });
  await pub.close(); // flushes
  const us = await consume(`${ss}-us`, rabbit.Offset.first(), 2);
  t.same(us.map((m) => m.content.toString()), ['us', 'us'], 'messages routed to their partition');
  t.equal(await client.deleteSuperStream({ streamName: ss }), true);
  t.same((await client.queryMetadata({ streams: [`${ss}-eu`] }))[0].responseCode, 2, 'the partitions went with it');
});

t.test('filters: publish v2 filter values; a filtered subscription skips other chunks', async (t) => {
  const s = uniq('sp.filter');
  await client.createStream({ stream: s, arguments: {} });
  for (const colour of ['red', 'blue', 'green', 'blue', 'red']) {
    const pub = await client.declarePublisher({ stream: s }, (m) => m.applicationProperties?.colour as string);
    let n = 0;
    pub.on('publish_confirm', (err, ids) => { n += ids.length; });
    for (let i = 0; i < 10; i++) await pub.send(Buffer.from(colour), { applicationProperties: { colour } });
    await pub.flush();
    await waitFor(() => n >= 10);
    await pub.close();
  }
  const got: rabbit.Message[] = [];
  const c = await client.declareConsumer({
    stream: s, offset: rabbit.Offset.first(),
    filter: { values: ['blue'], postFilterFunc: (m) => m.applicationProperties?.colour === 'blue', matchUnfiltered: false },
  }, (m) => { got.push(m); });
  await waitFor(() => got.length >= 20);
  await sleep(200);
  await client.closeConsumer(c.extendedId);
  t.equal(got.length, 20);
  t.ok(got.every((m) => m.content.toString() === 'blue'));
  // over AMQP 0-9-1 the same filter matches exactly
  const ac = await connect(b.url);
  t.teardown(() => closeStreamClient(ac));
  const ch = await channel(ac);
  await ch.prefetch(100);
  const am: amqp.ConsumeMessage[] = [];
  await ch.consume(s, (m) => { if (m) { am.push(m); ch.ack(m); } }, { arguments: { 'x-stream-offset': 'first', 'x-stream-filter': 'green' } });
  await waitFor(() => am.length >= 10);
  await sleep(100);
  t.same(am.map((m) => m.content.toString()), Array(10).fill('green'));
});

t.test('bad input gets the protocol\'s codes; the broker stays up', async (t) => {
  // an unknown command
  const r1 = await RawStreamClient.open(b.streamPort);
  r1.send(new FrameWriter().begin(0x7777).u32(1).end());
  const close1 = await r1.next((f) => f.key === 0x16);
  const cr = close1.reader();
  cr.u32();
  t.equal(cr.u16(), 13, 'unknown command: close with code 13 (unknown frame)');
  t.ok(await r1.closedByServer());
  // a frame larger than the negotiated maximum
  const r2 = await RawStreamClient.open(b.streamPort, 4096);
  r2.send(Buffer.concat([new FrameWriter().begin(0x02).u8(0).i32(1).end().subarray(0, 4), Buffer.alloc(8)]).fill(0xff, 0, 1));
  const close2 = await r2.next((f) => f.key === 0x16);
  const c2r = close2.reader();
  c2r.u32();
  t.equal(c2r.u16(), 14, 'a frame over frame_max: close with code 14 (frame too large)');
  // garbage before the handshake
  const r3 = await RawStreamClient.connect(b.streamPort);
  r3.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  t.ok(await r3.closedByServer(), 'an HTTP request: closed');
  // a publish for a publisher that was never declared: publish errors, code 18
  const r4 = await RawStreamClient.open(b.streamPort);
  const id = Buffer.alloc(8);
  id.writeUInt32BE(7, 4);
  r4.send(new FrameWriter().begin(0x02).u8(9).i32(1).raw(id).raw(entry(Buffer.from('x'))).end());
  const err = await r4.next((f) => f.key === 0x04);
  const er = err.reader();
  t.equal(er.u8(), 9);
  t.equal(er.i32(), 1);
  t.equal(er.u64(), 7);
  t.equal(er.u16(), 18, 'publisher does not exist');
  // subscribing to a stream that does not exist; declaring a publisher on one
  const sub = await r4.request(0x07, (w) => w.u8(1).string('nope').u16(1).u16(10).i32(0));
  t.equal(sub.body.readUInt16BE(4), 2, 'subscribe: stream does not exist (2)');
  const dp = await r4.request(0x01, (w) => w.u8(1).string(null).string('nope'));
  t.equal(dp.body.readUInt16BE(4), 2, 'declare publisher: stream does not exist (2)');
  const cred = (r4.send(new FrameWriter().begin(0x09).u8(200).u16(5).end()), await r4.next((f) => f.key === 0x8009));
  t.equal(cred.body.readUInt16BE(0), 4, 'credit for an unknown subscription: code 4');
  r4.close();
  // wrong password: authentication failure (8); a vhost that does not exist: 12
  const r5 = await RawStreamClient.connect(b.streamPort);
  await r5.request(0x11, (w) => w.i32(0));
  await r5.request(0x12, () => undefined);
  const bad = await r5.request(0x13, (w) => w.string('PLAIN').bytes(Buffer.from('\0guest\0wrong')));
  t.equal(bad.body.readUInt16BE(4), 8, 'wrong password: authentication failure (8)');
  t.ok(await r5.closedByServer(), 'and the connection goes');
  const r6 = await RawStreamClient.connect(b.streamPort);
  await r6.request(0x11, (w) => w.i32(0));
  await r6.request(0x12, () => undefined);
  await r6.request(0x13, (w) => w.string('PLAIN').bytes(Buffer.from('\0guest\0guest')));
  await r6.next((f) => f.key === 0x14);
  r6.send(new FrameWriter().begin(0x14).u32(1048576).u32(0).end());
  const vh = await r6.request(0x15, (w) => w.string('no-such-vhost'));
  t.equal(vh.body.readUInt16BE(4), 12, 'unknown vhost: virtual host access failure (12)');
  // and the broker still serves
  t.ok((await client.queryMetadata({ streams: ['x'] })).length === 1);
});

t.test('credit: a consumer gets one chunk per credit, and no more', async (t) => {
  const s = uniq('sp.credit');
  await client.createStream({ stream: s, arguments: {} });
  const r = await RawStreamClient.open(b.streamPort);
  t.teardown(() => r.close());
  await publishChunks(r, s, 10); // ten publish frames in ten socket writes: ten chunks
  const sub = await r.request(0x07, (w) => w.u8(5).string(s).u16(1).u16(2).i32(0));
  t.equal(sub.body.readUInt16BE(4), 1);
  await r.next((f) => f.key === 0x08);
  await r.next((f) => f.key === 0x08);
  await t.rejects(r.next((f) => f.key === 0x08, 300), /no matching frame/, 'two credits: two chunks');
  r.send(new FrameWriter().begin(0x09).u8(5).u16(3).end());
  for (let k = 0; k < 3; k++) {
    const d = await r.next((f) => f.key === 0x08);
    t.equal(d.body[0], 5, 'subscription id');
    t.equal(d.body[1] >> 4, 5, 'Osiris chunk magic');
  }
  await t.rejects(r.next((f) => f.key === 0x08, 300), /no matching frame/, 'three more credits: three more chunks');
});
