// The confirm contract: a basic.ack for a persistent message in a durable queue comes only after
// the fdatasync that covers it, however many channels, connections and queues share that sync;
// a failed fdatasync turns the confirms it covers into basic.nack. Every fdatasync of the broker
// under test is slowed (and, on demand, failed) by test/fixtures/slow-sync.js; publishes of
// several channels are written in ONE socket write, so they arrive in one read and share a
// group commit (the case that once acked one channel before its data was synced).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, tempDir, type RunningBroker } from '../helpers/broker';
import { RawConn } from '../helpers/raw-amqp';
import { encodeMethodFrame, encodeContentHeaderFrame, encodeBodyFrames, encodeProperties, type AnyMethod } from '../../src/protocol';

const DELAY = 150;                  // every fdatasync takes at least this long
const EARLIEST = DELAY * 0.9;       // no ack may come sooner after its publish
const FIXTURE = path.join(__dirname, '..', 'fixtures', 'slow-sync.js');

let broker: RunningBroker;
const failFile = path.join(tempDir('warren-syncfail-'), 'fail');

t.before(async () => {
  broker = await startBroker({
    nodeArgs: ['-r', FIXTURE],
    env: { WARREN_TEST_SYNC_DELAY_MS: String(DELAY), WARREN_TEST_SYNC_FAIL_FILE: failFile },
    logLevel: 'warning',
  });
});
t.teardown(async () => {
  await broker.stop();
});

interface Confirm { channel: number; ack: boolean; tag: number; multiple: boolean; at: number }

function publishFrames(channel: number, queueOrKey: string, exchange = ''): Buffer {
  const body = Buffer.from(`m-${channel}-${queueOrKey}`);
  return Buffer.concat([
    encodeMethodFrame(channel, { name: 'basic.publish', exchange, routingKey: queueOrKey, mandatory: false, immediate: false }),
    encodeContentHeaderFrame(channel, 60, body.length, encodeProperties({ deliveryMode: 2 })),
    encodeBodyFrames(channel, body, 131072),
  ]);
}

async function confirmChannels(c: RawConn, n: number, first = 1): Promise<number[]> {
  const chans: number[] = [];
  for (let i = first; i < first + n; i++) {
    await c.openChannel(i);
    c.send(i, { name: 'confirm.select', nowait: false });
    await c.expect(i, 'confirm.select-ok');
    chans.push(i);
  }
  return chans;
}

async function declare(c: RawConn, name: string, args: Record<string, unknown> = {}): Promise<void> {
  const m = { name: 'queue.declare', queue: name, passive: false, durable: true, exclusive: false, autoDelete: false, noWait: false, arguments: args } as AnyMethod;
  c.send(1, m);
  await c.expect(1, 'queue.declare-ok');
}

// Waits for one confirm on each of `chans` (each published one message); returns them all.
async function confirms(c: RawConn, chans: number[], timeoutMs = 5000): Promise<Confirm[]> {
  const out: Confirm[] = [];
  const waiting = new Set(chans);
  const deadline = Date.now() + timeoutMs;
  while (waiting.size > 0) {
    const f = await c.next((fr) => fr.method !== undefined && (fr.method.name === 'basic.ack' || fr.method.name === 'basic.nack') && waiting.has(fr.channel),
      Math.max(1, deadline - Date.now()));
    const m = f.method as { name: string; deliveryTag: number; multiple: boolean };
    out.push({ channel: f.channel, ack: m.name === 'basic.ack', tag: m.deliveryTag, multiple: m.multiple, at: f.at });
    waiting.delete(f.channel);
  }
  return out;
}

for (const n of [1, 2, 4, 16]) {
  t.test(`${n} confirm channel(s) on one connection, one durable queue, one socket write`, async (t) => {
    const c = await RawConn.open(broker.port);
    const chans = await confirmChannels(c, n);
    const q = `cc.one.${n}`;
    await declare(c, q);
    for (let round = 0; round < 3; round++) {
      const t0 = Date.now();
      c.write(Buffer.concat(chans.map((ch) => publishFrames(ch, q))));
      const got = await confirms(c, chans);
      t.equal(got.filter((g) => g.ack).length, n, `round ${round}: every channel acked`);
      const early = got.filter((g) => g.at - t0 < EARLIEST);
      t.same(early, [], `round ${round}: no ack sooner than ${EARLIEST} ms (fastest ${Math.min(...got.map((g) => g.at - t0))} ms)`);
    }
    c.destroy();
  });
}

t.test('a publish made while a sync is in flight waits for a sync of its own', async (t) => {
  const c = await RawConn.open(broker.port);
  const chans = await confirmChannels(c, 2);
  await declare(c, 'cc.inflight');
  const t0 = Date.now();
  c.write(publishFrames(chans[0], 'cc.inflight'));
  await new Promise((r) => setTimeout(r, DELAY / 3)); // the first sync is now running
  const t1 = Date.now();
  c.write(publishFrames(chans[1], 'cc.inflight'));
  const got = await confirms(c, chans);
  const second = got.find((g) => g.channel === chans[1]) as Confirm;
  const first = got.find((g) => g.channel === chans[0]) as Confirm;
  t.ok(first.at - t0 >= EARLIEST, `first ack after ${first.at - t0} ms`);
  t.ok(second.at - t1 >= EARLIEST, `second ack ${second.at - t1} ms after its publish (not with the sync that started before it)`);
  c.destroy();
});

t.test('several connections, several channels each, publishing at once', async (t) => {
  const conns = await Promise.all([0, 1, 2, 3].map(() => RawConn.open(broker.port)));
  const chans = await Promise.all(conns.map((c) => confirmChannels(c, 4)));
  await declare(conns[0], 'cc.multi');
  const t0 = Date.now();
  conns.forEach((c, i) => c.write(Buffer.concat(chans[i].map((ch) => publishFrames(ch, 'cc.multi')))));
  const all = (await Promise.all(conns.map((c, i) => confirms(c, chans[i])))).flat();
  t.equal(all.filter((g) => g.ack).length, 16);
  t.same(all.filter((g) => g.at - t0 < EARLIEST), [], 'no early ack on any connection');
  for (const c of conns) c.destroy();
});

t.test('one socket write to several durable queues (direct and fanout)', async (t) => {
  const c = await RawConn.open(broker.port);
  const chans = await confirmChannels(c, 4);
  for (const q of ['cc.a', 'cc.b', 'cc.c']) await declare(c, q);
  c.send(1, { name: 'exchange.declare', exchange: 'cc.fan', type: 'fanout', passive: false, durable: true, autoDelete: false, internal: false, noWait: false, arguments: {} });
  await c.expect(1, 'exchange.declare-ok');
  for (const q of ['cc.a', 'cc.b', 'cc.c']) {
    c.send(1, { name: 'queue.bind', queue: q, exchange: 'cc.fan', routingKey: '', noWait: false, arguments: {} });
    await c.expect(1, 'queue.bind-ok');
  }
  const t0 = Date.now();
  c.write(Buffer.concat([publishFrames(1, 'cc.a'), publishFrames(2, 'cc.b'), publishFrames(3, 'cc.c'), publishFrames(4, '', 'cc.fan')]));
  const got = await confirms(c, chans);
  t.equal(got.filter((g) => g.ack).length, 4);
  t.same(got.filter((g) => g.at - t0 < EARLIEST), [], 'no early ack');
  c.destroy();
});

t.test('a message dead-lettered on arrival is confirmed after its dead-lettered copy is synced', async (t) => {
  const c = await RawConn.open(broker.port);
  const chans = await confirmChannels(c, 2);
  await declare(c, 'cc.dlq');
  // TTL 0 and no consumer: the message expires at once into the dead-letter queue
  await declare(c, 'cc.ttl0', { 'x-message-ttl': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'cc.dlq' });
  const t0 = Date.now();
  c.write(Buffer.concat(chans.map((ch) => publishFrames(ch, 'cc.ttl0'))));
  const got = await confirms(c, chans);
  t.equal(got.filter((g) => g.ack).length, 2);
  t.same(got.filter((g) => g.at - t0 < EARLIEST), [], 'no ack before the copy in cc.dlq is on disk');
  const q = await c.declareQueue(1, 'cc.dlq', { durable: true, passive: true });
  t.equal(q.messageCount, 2, 'both dead-lettered');
  c.destroy();
});

t.test('tx.commit of persistent messages answers after their sync', async (t) => {
  const c = await RawConn.open(broker.port);
  await c.openChannel(1);
  await declare(c, 'cc.tx');
  c.send(1, { name: 'tx.select' });
  await c.expect(1, 'tx.select-ok');
  for (let round = 0; round < 2; round++) {
    c.write(Buffer.concat([publishFrames(1, 'cc.tx'), publishFrames(1, 'cc.tx')]));
    const t0 = Date.now();
    c.send(1, { name: 'tx.commit' });
    const f = await c.next((fr) => fr.channel === 1 && fr.method?.name === 'tx.commit-ok');
    t.ok(f.at - t0 >= EARLIEST, `round ${round}: commit-ok after ${f.at - t0} ms`);
  }
  c.destroy();
});

t.test('a failed fdatasync turns every confirm it covers into a nack', async (t) => {
  const c = await RawConn.open(broker.port);
  const chans = await confirmChannels(c, 4);
  await declare(c, 'cc.fail1');
  await declare(c, 'cc.fail2');
  fs.writeFileSync(failFile, '');
  try {
    c.write(Buffer.concat(chans.map((ch, i) => publishFrames(ch, i % 2 ? 'cc.fail1' : 'cc.fail2'))));
    const got = await confirms(c, chans);
    t.equal(got.length, 4);
    t.same(got.filter((g) => g.ack), [], 'no ack for data whose sync failed');
  } finally {
    fs.rmSync(failFile, { force: true });
  }
  // the nacked messages are not delivered later
  for (const q of ['cc.fail1', 'cc.fail2']) {
    const d = await c.declareQueue(1, q, { durable: true, passive: true });
    t.equal(d.messageCount, 0, `${q}: nacked messages were dropped`);
  }
  // once syncs succeed again (the write-error alarm clears), publishing is confirmed again
  const deadline = Date.now() + 10_000;
  let acked = false;
  while (!acked && Date.now() < deadline) {
    c.write(publishFrames(chans[0], 'cc.fail1'));
    const [g] = await confirms(c, [chans[0]], 10_000);
    acked = g.ack;
  }
  t.ok(acked, 'acks resume after the disk recovers');
  c.destroy();
});

t.test('a failed fdatasync fails tx.commit', async (t) => {
  const c = await RawConn.open(broker.port);
  await c.openChannel(1);
  await declare(c, 'cc.txfail');
  c.send(1, { name: 'tx.select' });
  await c.expect(1, 'tx.select-ok');
  fs.writeFileSync(failFile, '');
  try {
    c.write(publishFrames(1, 'cc.txfail'));
    c.send(1, { name: 'tx.commit' });
    const f = await c.next((fr) => (fr.channel === 1 && fr.method?.name === 'tx.commit-ok') || fr.method?.name === 'channel.close' || fr.method?.name === 'connection.close');
    t.not(f.method?.name, 'tx.commit-ok', 'the commit is not reported done');
  } finally {
    fs.rmSync(failFile, { force: true });
  }
  c.destroy();
});

t.test('a burst of transient publishes is confirmed with a few multiple acks, as RabbitMQ does', async (t) => {
  const c = await RawConn.open(broker.port);
  const [ch] = await confirmChannels(c, 1);
  await c.declareQueue(ch, 'cc.burst', { exclusive: true });
  const one = (i: number) => {
    const body = Buffer.from(`t${i}`);
    return Buffer.concat([
      encodeMethodFrame(ch, { name: 'basic.publish', exchange: '', routingKey: 'cc.burst', mandatory: false, immediate: false }),
      encodeContentHeaderFrame(ch, 60, body.length, encodeProperties({})),
      encodeBodyFrames(ch, body, 131072),
    ]);
  };
  c.write(Buffer.concat(Array.from({ length: 640 }, (_, i) => one(i))));
  const acks: Array<{ tag: number; multiple: boolean }> = [];
  while (acks.length === 0 || acks[acks.length - 1].tag < 640) {
    const f = await c.next((fr) => fr.channel === ch && fr.method?.name === 'basic.ack');
    const m = f.method as { deliveryTag: number; multiple: boolean };
    acks.push({ tag: m.deliveryTag, multiple: m.multiple });
  }
  t.ok(acks.length <= 10, `640 publishes confirmed by ${acks.length} ack frame(s)`);
  t.ok(acks.every((a) => a.multiple), 'each one multiple');
  t.equal(acks[acks.length - 1].tag, 640);
  c.destroy();
});
