// The last guard (issue 11): data written by an earlier version that can no longer be sent (an
// exchange or routing key over 255 bytes) costs that one message and at most that channel,
// never the process. Before, a message dead-lettered with a 300-byte x-dead-letter-routing-key
// crashed the broker at delivery, again after every restart (basic.get gave 541, basic.consume
// killed the process).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import type * as amqp from 'amqplib';
import { startBroker, tempDir } from '../helpers/broker';
import { channel, connect, sleep, waitFor } from '../helpers/amqp';
import { SegmentedLog } from '../../src/store';
import { encodeProperties } from '../../src/protocol';
import { hashName } from '../../src/store/data-dir';

const LONG_KEY = 'k'.repeat(300);

// definitions.json as Warren wrote it before names.ts existed: the declare of 'src' was accepted.
function legacyDefinitions(dir: string): void {
  fs.writeFileSync(path.join(dir, 'definitions.json'), JSON.stringify({
    warren_version: '0.1.0',
    users: [{ name: 'guest', password_hash: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['administrator'] }],
    vhosts: [{ name: '/' }],
    permissions: [{ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' }],
    exchanges: [],
    queues: [
      { name: 'src', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-message-ttl': 50, 'x-dead-letter-exchange': 'amq.fanout', 'x-dead-letter-routing-key': LONG_KEY } },
      { name: 'dst', vhost: '/', durable: true, auto_delete: false, arguments: {} },
    ],
    bindings: [{ source: 'amq.fanout', vhost: '/', destination: 'dst', destination_type: 'queue', routing_key: '', arguments: {} }],
  }));
}

function guestPassword(dir: string): void {
  // The hash above is a placeholder; write guest/guest's real one (salt 0).
  const f = path.join(dir, 'definitions.json');
  const d = JSON.parse(fs.readFileSync(f, 'utf8'));
  const salt = Buffer.alloc(4);
  d.users[0].password_hash = Buffer.concat([salt, crypto.createHash('sha256').update(Buffer.concat([salt, Buffer.from('guest')])).digest()]).toString('base64');
  fs.writeFileSync(f, JSON.stringify(d));
}

// A record in queue dst's log, dead-lettered there by an earlier version with the long key.
async function appendPoison(dataDir: string): Promise<void> {
  const dir = path.join(dataDir, 'vhosts', hashName('/'), 'queues', hashName('dst'), 'log');
  const log = SegmentedLog.open(dir, { fsync: true });
  log.append({ timestamp: Date.now(), flags: 1, envelope: ['amq.fanout', LONG_KEY, null], props: encodeProperties({ deliveryMode: 2 }), body: Buffer.from('poison') });
  log.append({ timestamp: Date.now(), flags: 1, envelope: ['amq.fanout', 'fine', null], props: encodeProperties({ deliveryMode: 2 }), body: Buffer.from('after-poison') });
  await log.close();
}

async function consumeAll(ch: amqp.Channel, q: string, into: string[]): Promise<void> {
  await ch.consume(q, (m) => { if (m) { into.push(m.content.toString()); ch.ack(m); } });
}

t.test('a queue restored from old definitions with a 300-byte x-dead-letter-routing-key', async (t) => {
  const dir = tempDir();
  legacyDefinitions(dir);
  guestPassword(dir);
  const b = await startBroker({ dataDir: dir });
  t.teardown(() => b.stop());
  t.ok(b.logs.some((l) => /invalid arg 'x-dead-letter-routing-key' for queue 'src' in vhost '\/': \{value_too_long,300,255\}: kept from an earlier version/.test(l)),
    'the start warns about the queue');
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await channel(c);
  const got: string[] = [];
  await consumeAll(ch, 'dst', got);
  const pub = await channel(c);
  pub.sendToQueue('src', Buffer.from('expires'), { persistent: true });
  t.ok(await waitFor(() => b.logs.some((l) => /message of queue 'src' dropped instead of dead-lettered: its routing key is over 255 bytes/.test(l))),
    'the expired message is dropped with a log line');
  pub.publish('amq.fanout', 'ok', Buffer.from('next'));
  t.ok(await waitFor(() => got.includes('next')), 'the broker keeps delivering');
  t.same(got, ['next'], 'nothing undeliverable reached the consumer');
  t.equal(b.proc.exitCode, null, 'the broker is running');
});

t.test('a message in a queue log that cannot be sent (written by an earlier version)', async (t) => {
  const dir = tempDir();
  legacyDefinitions(dir);
  guestPassword(dir);
  const b1 = await startBroker({ dataDir: dir });
  t.equal(await b1.stop(), 0);
  await appendPoison(dir);

  const b = await startBroker({ dataDir: dir });
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  // basic.get first: 541 on that channel, the message dropped (dst has no dead-letter exchange).
  const getCh = await channel(c);
  const closed = new Promise<Error>((r) => getCh.once('error', r));
  await getCh.get('dst', { noAck: false }).catch(() => undefined);
  const err = await closed as Error & { code?: number };
  t.equal(err.code, 541, 'the channel is closed with 541');
  t.match(err.message, `INTERNAL_ERROR - cannot deliver a message of queue 'dst' in vhost '/': `);
  t.ok(await waitFor(() => b.logs.some((l) => /connection .*: channel \d+, queue 'dst' in vhost '\/': cannot send a message \(.*\); the message is dropped and the channel closed/.test(l))),
    'logged with the connection, channel, vhost and queue');

  // A consumer on another channel gets the intact message after it, and nothing is retried.
  const ch = await channel(c);
  const got: string[] = [];
  await consumeAll(ch, 'dst', got);
  t.ok(await waitFor(() => got.includes('after-poison')), 'the next message is delivered');
  await sleep(300);
  t.same(got, ['after-poison'], 'the bad message is not retried');
  t.equal(b.proc.exitCode, null, 'the broker is running');
  await c.close();
  t.equal(await b.stop(), 0);

  // After a restart the bad message stays gone.
  const b2 = await startBroker({ dataDir: dir });
  t.teardown(() => b2.stop());
  const c2 = await connect(b2.url);
  t.teardown(() => c2.close().catch(() => undefined));
  const ch2 = await channel(c2);
  const got2: string[] = [];
  await consumeAll(ch2, 'dst', got2);
  await sleep(300);
  t.same(got2, [], 'nothing comes back after a restart');
  t.equal(b2.proc.exitCode, null);
});

t.test('a consumer (not basic.get) meets the bad message: dropped with a log line, the rest delivered, broker up', async (t) => {
  const dir = tempDir();
  legacyDefinitions(dir);
  guestPassword(dir);
  const b1 = await startBroker({ dataDir: dir });
  t.equal(await b1.stop(), 0);
  await appendPoison(dir);
  const b = await startBroker({ dataDir: dir });
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await channel(c);
  const got: string[] = [];
  await consumeAll(ch, 'dst', got);
  t.ok(await waitFor(() => got.includes('after-poison')), 'the intact message after it is delivered');
  t.ok(await waitFor(() => b.logs.some((l) => /queue 'dst' in vhost '\/': cannot deliver a message to consumer .*; dropping it/.test(l))),
    'the bad one is dropped with a log line (the queue guards deliveries: Queue.deliverGuarded)');
  await sleep(300);
  t.same(got, ['after-poison'], 'and never retried');
  const pub = await channel(c);
  pub.sendToQueue('dst', Buffer.from('later'));
  t.ok(await waitFor(() => got.includes('later')), 'the consumer keeps receiving');
  t.equal(b.proc.exitCode, null, 'the broker is running');
});
