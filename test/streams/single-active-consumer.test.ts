// Single active consumer over the Stream protocol (RabbitMQ 3.11+): rabbitmq-stream-js-client,
// unmodified, for what an application sees (one consumer of a group gets the messages, the next
// takes over from the stored offset, super stream partitions spread over the group), and a bare
// client for the exact consumer update frames.
import t from 'tap';
import * as rabbit from 'rabbitmq-stream-js-client';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { sleep, uniq, waitFor } from '../helpers/amqp';
import { streamClients } from '../helpers/stream-client';
import { RawStreamClient, publishChunks, type RawFrame } from '../helpers/stream-raw';
import { FrameWriter } from '../../src/protocol/stream/frames';

let b: RunningBroker;
const clients = streamClients(() => b.streamPort);
const open = clients.open;
t.before(async () => {
  b = await startBroker({ logLevel: 'warning', stream: true });
});
t.teardown(async () => {
  await clients.closeAll();
  await b.stop();
});

async function publish(client: rabbit.Client, stream: string, from: number, n: number): Promise<void> {
  const pub = await client.declarePublisher({ stream });
  let confirmed = 0;
  pub.on('publish_confirm', (err, ids) => { if (err === null) confirmed += ids.length; });
  for (let i = from; i < from + n; i++) await pub.send(Buffer.from(`m${i}`));
  await pub.flush();
  await waitFor(() => confirmed >= n, 5000);
  await pub.close();
}

const bodies = (ms: rabbit.Message[]): string[] => ms.map((m) => m.content.toString());
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => `m${from + k}`);

t.test('one consumer of a group gets the messages; the next takes over from the stored offset', async (t) => {
  const s = uniq('sac.plain');
  const admin = await open();
  await admin.createStream({ stream: s, arguments: {} });
  await publish(admin, s, 0, 100);

  // the application's choice of offset on activation: after the group's stored offset, or first
  const resume = (client: rabbit.Client) => async (ref: string, stream: string): Promise<rabbit.Offset> => {
    try {
      return rabbit.Offset.offset((await client.queryOffset({ reference: ref, stream })) + 1n);
    } catch {
      return rabbit.Offset.first();
    }
  };
  const ca = await open();
  const cb = await open();
  const gotA: rabbit.Message[] = [];
  const gotB: rabbit.Message[] = [];
  const a = await ca.declareConsumer({ stream: s, offset: rabbit.Offset.first(), singleActive: true, consumerRef: 'billing', consumerUpdateListener: resume(ca) }, (m) => { gotA.push(m); });
  await cb.declareConsumer({ stream: s, offset: rabbit.Offset.first(), singleActive: true, consumerRef: 'billing', consumerUpdateListener: resume(cb) }, (m) => { gotB.push(m); });
  t.ok(await waitFor(() => gotA.length >= 100, 5000), 'the first consumer gets the stream');
  await sleep(300);
  t.same(bodies(gotA), range(0, 100), 'all of it, in order');
  t.equal(gotB.length, 0, 'the second consumer of the group gets nothing while the first is there');

  // another group on the same stream is independent
  const gotC: rabbit.Message[] = [];
  await cb.declareConsumer({ stream: s, offset: rabbit.Offset.first(), singleActive: true, consumerRef: 'audit' }, (m) => { gotC.push(m); });
  t.ok(await waitFor(() => gotC.length >= 100, 5000), 'a consumer of another group is active in its own');

  // the active consumer stores where it got to (59) and goes: the next one resumes after that
  await a.storeOffset(59n);
  let stored = -1n;
  for (let k = 0; k < 100 && stored !== 59n; k++) {
    stored = await ca.queryOffset({ reference: 'billing', stream: s }).catch(() => -1n);
    if (stored !== 59n) await sleep(20);
  }
  t.equal(stored, 59n, 'offset stored'); // store offset has no answer: query until it shows
  await ca.closeConsumer(a.extendedId);
  t.ok(await waitFor(() => gotB.length >= 40, 5000), `the second consumer took over (${gotB.length})`);
  await publish(admin, s, 100, 10);
  t.ok(await waitFor(() => gotB.length >= 50, 5000));
  await sleep(200);
  t.same(bodies(gotB), range(60, 110), 'it resumed at 60, then got the new messages');
  t.equal(gotA.length, 100, 'nothing more went to the consumer that left');
});

t.test('super stream: the partitions spread over the group as consumers join', async (t) => {
  const ss = uniq('sac.orders');
  const admin = await open();
  t.equal(await admin.createSuperStream({ streamName: ss, arguments: {} }, ['p0', 'p1', 'p2'], 3), true);
  const parts = [`${ss}-p0`, `${ss}-p1`, `${ss}-p2`];
  for (const [i, p] of parts.entries()) await publish(admin, p, i * 100, 5);

  const seen = (into: Map<string, string[]>) => (m: rabbit.Message, c: rabbit.Consumer): void => {
    const list = into.get(c.streamName) ?? [];
    list.push(m.content.toString());
    into.set(c.streamName, list);
  };
  const gotA = new Map<string, string[]>();
  const gotB = new Map<string, string[]>();
  const ca = await open();
  const cb = await open();
  await ca.declareSuperStreamConsumer({ superStream: ss, consumerRef: 'shipping', offset: rabbit.Offset.first() }, seen(gotA));
  t.ok(await waitFor(() => parts.every((p) => (gotA.get(p)?.length ?? 0) >= 5), 5000), 'alone, the first consumer gets every partition');

  // a second member: partition 1 (1 mod 2) moves to it, after the first has stepped down
  await cb.declareSuperStreamConsumer({ superStream: ss, consumerRef: 'shipping', offset: rabbit.Offset.first() }, seen(gotB));
  t.ok(await waitFor(() => (gotB.get(parts[1])?.length ?? 0) >= 5, 5000), 'partition 1 went to the second consumer');
  await sleep(300);
  t.same([...gotB.keys()], [parts[1]], 'and only partition 1');

  for (const [i, p] of parts.entries()) await publish(admin, p, i * 100 + 50, 3);
  t.ok(await waitFor(() => (gotA.get(parts[0])?.length ?? 0) >= 8 && (gotA.get(parts[2])?.length ?? 0) >= 8 && (gotB.get(parts[1])?.length ?? 0) >= 8, 5000), 'new messages delivered');
  await sleep(200);
  t.same(gotA.get(parts[0]), [...range(0, 5), ...range(50, 53)], 'partition 0 stays with the first consumer');
  t.same(gotA.get(parts[2]), [...range(200, 205), ...range(250, 253)], 'partition 2 (2 mod 2 = 0) too');
  t.same(gotA.get(parts[1]), range(100, 105), 'the first consumer got no new message of partition 1');
  t.same(gotB.get(parts[1]), [...range(100, 105), ...range(150, 153)], 'the second consumer got them');
});

// ---- exact frames ------------------------------------------------------------------------------

const CONSUMER_UPDATE = 0x1a;

/** A consumer update request: its correlation id, subscription id and active flag. */
function readUpdate(f: RawFrame): { corr: number; sub: number; active: boolean } {
  const r = f.reader();
  return { corr: r.u32(), sub: r.u8(), active: r.u8() === 1 };
}

function answer(c: RawStreamClient, corr: number, offset: { type: number; value?: number }): void {
  const w = new FrameWriter().begin(CONSUMER_UPDATE | 0x8000).u32(corr).u16(1).u16(offset.type);
  if (offset.value !== undefined) w.u64(offset.value);
  c.send(w.end());
}

/** The first offset of a delivered chunk (after the subscription id, in the Osiris header). */
const chunkOffset = (f: RawFrame): number => Number(f.body.readBigUInt64BE(1 + 24));

function subscribe(c: RawStreamClient, id: number, stream: string, credit: number, props: Record<string, string>): Promise<RawFrame> {
  return c.request(0x07, (w) => {
    w.u8(id).string(stream).u16(1).u16(credit).i32(Object.keys(props).length);
    for (const [k, v] of Object.entries(props)) w.string(k).string(v);
  });
}

t.test('consumer update frames: activation waits for the answer, whose offset is where delivery starts', async (t) => {
  const admin = await open();
  const s = uniq('sac.raw');
  await admin.createStream({ stream: s, arguments: {} });
  const r1 = await RawStreamClient.open(b.streamPort);
  const r2 = await RawStreamClient.open(b.streamPort);
  t.teardown(() => { r1.close(); r2.close(); });
  await publishChunks(r1, s, 10); // ten chunks of one message each

  const noName = await subscribe(r1, 3, s, 10, { 'single-active-consumer': 'true' });
  t.equal(noName.body.readUInt16BE(4), 0x11, 'single active consumer without a name: precondition failed');

  const sub1 = await subscribe(r1, 1, s, 10, { 'single-active-consumer': 'true', name: 'g' });
  t.equal(sub1.body.readUInt16BE(4), 1, 'subscribed');
  const u1 = readUpdate(await r1.next((f) => f.key === CONSUMER_UPDATE));
  t.same([u1.sub, u1.active], [1, true], 'the first of the group is told it is active');
  await t.rejects(r1.next((f) => f.key === 0x08, 300), /no matching frame/, 'nothing is delivered before the client answers');
  answer(r1, u1.corr, { type: 4, value: 6 });
  const firsts: number[] = [];
  for (let k = 0; k < 4; k++) firsts.push(chunkOffset(await r1.next((f) => f.key === 0x08)));
  t.same(firsts, [6, 7, 8, 9], 'delivery starts at the offset of the answer');

  const sub2 = await subscribe(r2, 7, s, 2, { 'single-active-consumer': 'true', name: 'g' });
  t.equal(sub2.body.readUInt16BE(4), 1);
  const u2 = readUpdate(await r2.next((f) => f.key === CONSUMER_UPDATE));
  t.same([u2.sub, u2.active], [7, false], 'a newcomer is told it waits');
  answer(r2, u2.corr, { type: 0 });
  r2.send(new FrameWriter().begin(0x09).u8(7).u16(8).end()); // credit given while waiting is kept
  await t.rejects(r2.next((f) => f.key === 0x08, 300), /no matching frame/, 'a waiting consumer gets nothing');

  const unsub = await r1.request(0x0c, (w) => w.u8(1));
  t.equal(unsub.body.readUInt16BE(4), 1, 'the active consumer unsubscribes');
  const u3 = readUpdate(await r2.next((f) => f.key === CONSUMER_UPDATE));
  t.same([u3.sub, u3.active], [7, true], 'the waiting one is activated');
  answer(r2, u3.corr, { type: 0 }); // none: the subscription's own offset (first)
  const got: number[] = [];
  for (let k = 0; k < 10; k++) got.push(chunkOffset(await r2.next((f) => f.key === 0x08)));
  t.same(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'from its own offset specification, with the 2 + 8 credits');

  // a connection that goes hands the group on as an unsubscribe does
  const sub3 = await subscribe(r1, 2, s, 10, { 'single-active-consumer': 'true', name: 'g' });
  t.equal(sub3.body.readUInt16BE(4), 1);
  const u4 = readUpdate(await r1.next((f) => f.key === CONSUMER_UPDATE));
  t.same([u4.sub, u4.active], [2, false]);
  r2.close();
  const u5 = readUpdate(await r1.next((f) => f.key === CONSUMER_UPDATE));
  t.same([u5.sub, u5.active], [2, true], 'the active consumer\'s connection closed: the next one is activated');
  answer(r1, u5.corr, { type: 2 }); // last: the last chunk
  t.equal(chunkOffset(await r1.next((f) => f.key === 0x08)), 9, 'from the last chunk');
});
