// Dynamic shovels over the management API, against real brokers over TCP: validation, the
// status API, the three ack modes, properties and forwarding headers, src-delete-after, a
// restart, and an unreachable destination retried quietly in the background.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { api, enc } from '../helpers/http';
import { channel, confirmChannel, connect, drain, sleep } from '../helpers/amqp';

type Status = { name: string; vhost: string; state: string; reason?: string; forwarded?: number; [k: string]: unknown };

async function shovelStatus(b: RunningBroker, name: string): Promise<Status | undefined> {
  return ((await api(b, 'GET', '/api/shovels')).body as Status[]).find((s) => s.name === name);
}

async function until(what: string, cond: () => Promise<boolean>, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function count(b: RunningBroker, queue: string, vhost = '/'): Promise<number> {
  const c = await connect(`${b.url}/${enc(vhost)}`);
  try {
    const ch = await channel(c);
    return (await ch.checkQueue(queue)).messageCount;
  } catch {
    return -1;
  } finally {
    await c.close().catch(() => undefined);
  }
}

async function fill(b: RunningBroker, queue: string, n: number, props: Record<string, unknown> = {}): Promise<void> {
  const c = await connect(b.url);
  const ch = await confirmChannel(c);
  await ch.assertQueue(queue, { durable: true });
  for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true, ...props });
  await ch.waitForConfirms();
  await c.close();
}

const put = (b: RunningBroker, name: string, value: unknown, vhost = '/') => api(b, 'PUT', `/api/parameters/shovel/${enc(vhost)}/${enc(name)}`, { value });
const del = (b: RunningBroker, name: string, vhost = '/') => api(b, 'DELETE', `/api/parameters/shovel/${enc(vhost)}/${enc(name)}`);

t.test('shovels', async (t) => {
  const a = await startBroker({ logLevel: 'info' });
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(async () => { await a.stop(); await b.stop(); });

  t.test('validation errors in RabbitMQ\'s shape', async (t) => {
    const cases: Array<[unknown, RegExp]> = [
      [{ 'src-uri': 'amqp://', 'dest-uri': 'amqp://', 'dest-queue': 'x' }, /Must specify 'src-queue' or 'src-exchange'/],
      [{ 'src-uri': 'amqp://', 'src-queue': 'a', 'src-exchange': 'x', 'dest-uri': 'amqp://' }, /Cannot specify 'src-queue' and 'src-exchange'/],
      [{ 'src-uri': 'amqp://', 'src-queue': 'a' }, /Key "dest-uri" not found in shovel/],
      [{ 'src-uri': 'http://x', 'src-queue': 'a', 'dest-uri': 'amqp://' }, /"http:\/\/x" not a valid URI/],
      [{ 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'ack-mode': 'sometimes' }, /ack-mode/],
      [{ 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'ack-mode': 'no-ack', 'src-delete-after': 5 }, /Cannot specify 'no-ack' and numerical 'delete-after'/],
      [{ 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'src-delete-after': 'soon' }, /src-delete-after/],
      [{ 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'bogus-key': 1 }, /Unrecognised terms "bogus-key"/],
    ];
    for (const [value, reason] of cases) {
      const r = await put(a, 'bad', value);
      t.equal(r.status, 400, JSON.stringify(value));
      t.equal(r.body.error, 'bad_request');
      t.match(r.body.reason, /^Validation failed/);
      t.match(r.body.reason, reason);
    }
    t.equal((await api(a, 'GET', '/api/parameters/shovel/%2F/bad')).status, 404, 'nothing stored');
  });

  t.test('local queue to queue, on-confirm: properties kept, status and counts, deleted', async (t) => {
    await fill(a, 'l.src', 200, { headers: { h: 'v', n: 7 }, contentType: 'text/plain', messageId: 'mid', priority: 3 });
    t.equal((await put(a, 'local', { 'src-uri': 'amqp://', 'src-queue': 'l.src', 'dest-uri': 'amqp://', 'dest-queue': 'l.dst' })).status, 201);
    await until('200 messages in l.dst', async () => (await count(a, 'l.dst')) === 200);
    t.equal(await count(a, 'l.src'), 0, 'source emptied');
    const s = await shovelStatus(a, 'local');
    t.match(s, { vhost: '/', type: 'dynamic', state: 'running', src_queue: 'l.src', dest_queue: 'l.dst', forwarded: 200, pending: 0, src_protocol: 'amqp091' });
    t.match(s?.timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    t.same(((await api(a, 'GET', '/api/shovels/%2F')).body as Status[]).map((x) => x.name), ['local']);
    const c = await connect(a.url);
    const ch = await channel(c);
    const [m] = await drain(ch, 'l.dst', 1);
    t.equal(m.content.toString(), 'm0', 'order kept');
    t.match(m.properties, { headers: { h: 'v', n: 7 }, contentType: 'text/plain', messageId: 'mid', priority: 3, deliveryMode: 2 });
    t.notOk('x-shovelled' in (m.properties.headers ?? {}), 'no forward headers unless asked');
    // the shovel's connections are named as RabbitMQ names them
    const conns = (await api(a, 'GET', '/api/connections')).body as Array<{ client_properties: { connection_name?: string } }>;
    t.equal(conns.filter((x) => x.client_properties.connection_name === 'Shovel local').length, 2);
    t.equal((await del(a, 'local')).status, 204);
    await until('the shovel to stop', async () => (await shovelStatus(a, 'local')) === undefined);
    await fill(a, 'l.src', 3);
    await sleep(300);
    t.equal(await count(a, 'l.src'), 3, 'a deleted shovel moves nothing');
    await c.close();
  });

  t.test('broker to broker, on-publish, to an exchange with forward and timestamp headers and publish properties', async (t) => {
    const c = await connect(b.url);
    const ch = await channel(c);
    await ch.assertExchange('bx', 'direct', { durable: true });
    await ch.assertQueue('b.in', { durable: true });
    await ch.bindQueue('b.in', 'bx', 'routed');
    await fill(a, 'x.src', 20, { headers: { 'x-shovelled': [{ 'shovel-name': 'earlier' }] } });
    t.equal((await put(a, 'remote', {
      'src-uri': 'amqp://', 'src-queue': 'x.src', 'dest-uri': [`amqp://guest:guest@127.0.0.1:1`, b.url], 'dest-exchange': 'bx',
      'dest-exchange-key': 'routed', 'ack-mode': 'on-publish', 'dest-add-forward-headers': true, 'dest-add-timestamp-header': true,
      'dest-publish-properties': { delivery_mode: 1, app_id: 'shovelled' },
    })).status, 201);
    await until('20 messages in b.in', async () => (await count(b, 'b.in')) === 20);
    const [m] = await drain(ch, 'b.in', 1);
    t.match(m.properties, { deliveryMode: 1, appId: 'shovelled' });
    const fwd = m.properties.headers!['x-shovelled'] as Array<Record<string, unknown>>;
    t.equal(fwd.length, 2, 'prepended to the existing x-shovelled');
    t.match(fwd[0], { 'shovel-name': 'remote', 'shovel-type': 'dynamic', 'shovel-vhost': '/', 'src-queue': 'x.src', 'dest-exchange': 'bx', 'dest-exchange-key': 'routed' });
    t.match(fwd[1], { 'shovel-name': 'earlier' });
    // amqplib reads a timestamp field as {'!': 'timestamp', value} (seconds)
    const ts = m.properties.headers!['x-shovelled-timestamp'] as { value?: number } | number;
    const secs = typeof ts === 'number' ? ts : ts.value ?? 0;
    t.ok(Math.abs(secs - Date.now() / 1000) < 60, `timestamp header (${JSON.stringify(ts)})`);
    const s = await shovelStatus(a, 'remote');
    t.equal(s?.dest_uri, b.url.replace(':guest@', ':***@'), 'the second URI of the list, password hidden');
    await del(a, 'remote');
    await c.close();
  });

  t.test('from an exchange, no-ack', async (t) => {
    t.equal((await put(a, 'fromx', { 'src-uri': 'amqp://', 'src-exchange': 'amq.topic', 'src-exchange-key': 'orders.#', 'dest-uri': b.url, 'dest-queue': 'from.topic', 'ack-mode': 'no-ack' })).status, 201);
    await until('running', async () => (await shovelStatus(a, 'fromx'))?.state === 'running');
    const c = await connect(a.url);
    const ch = await confirmChannel(c);
    for (let i = 0; i < 10; i++) ch.publish('amq.topic', i % 2 === 0 ? 'orders.new' : 'other', Buffer.from(String(i)));
    await ch.waitForConfirms();
    await until('5 messages in from.topic', async () => (await count(b, 'from.topic')) === 5);
    const bc = await connect(b.url);
    const msgs = await drain(await channel(bc), 'from.topic', 5);
    t.same(msgs.map((m) => m.fields.routingKey), Array(5).fill('from.topic'), 'to the queue by the default exchange');
    await del(a, 'fromx');
    await c.close();
    await bc.close();
  });

  t.test('move messages: src-delete-after queue-length, then the shovel deletes itself', async (t) => {
    await fill(a, 'mv.src', 50);
    t.equal((await put(a, 'move', { 'src-uri': 'amqp://', 'src-queue': 'mv.src', 'dest-uri': b.url, 'dest-queue': 'mv.dst', 'src-delete-after': 'queue-length' })).status, 201);
    await until('the shovel to delete itself', async () => (await api(a, 'GET', '/api/parameters/shovel/%2F/move')).status === 404);
    t.equal(await count(b, 'mv.dst'), 50);
    t.equal(await count(a, 'mv.src'), 0);
    t.equal(await shovelStatus(a, 'move'), undefined);
    t.ok(a.logs.some((l) => /shovel 'move' in vhost '\/' completed/.test(l)));
  });

  t.test('src-delete-after as a number moves that many', async (t) => {
    await fill(a, 'n.src', 30);
    await put(a, 'ten', { 'src-uri': 'amqp://', 'src-queue': 'n.src', 'dest-uri': 'amqp://', 'dest-queue': 'n.dst', 'src-delete-after': 10, 'src-prefetch-count': 25 });
    await until('the shovel to delete itself', async () => (await api(a, 'GET', '/api/parameters/shovel/%2F/ten')).status === 404);
    await sleep(200);
    t.equal(await count(a, 'n.dst'), 10);
    t.equal(await count(a, 'n.src'), 20, 'the prefetched rest went back to the source');
  });

  t.test('an unreachable destination: terminated with the reason, retried with backoff, quietly', async (t) => {
    const before = a.logs.length;
    await put(a, 'nowhere', { 'src-uri': 'amqp://', 'src-queue': 'nw.src', 'dest-uri': 'amqp://guest:guest@127.0.0.1:1', 'reconnect-delay': 1 });
    await until('terminated', async () => (await shovelStatus(a, 'nowhere'))?.state === 'terminated');
    t.match((await shovelStatus(a, 'nowhere'))?.reason, /cannot connect to the destination.*ECONNREFUSED/);
    await sleep(4000);
    const lines = a.logs.slice(before).filter((l) => l.includes("shovel 'nowhere'"));
    t.ok(lines.length >= 1 && lines.length <= 2, `logged once, not per retry (${lines.length} lines)`);
    await del(a, 'nowhere');
  });

  t.test('survives a restart; part of the definitions', async (t) => {
    const dir = (await import('../helpers/broker')).tempDir();
    let c1 = await startBroker({ dataDir: dir, logLevel: 'warning' });
    await put(c1, 'durable', { 'src-uri': 'amqp://', 'src-queue': 'd.src', 'dest-uri': b.url, 'dest-queue': 'd.dst' });
    await until('running', async () => (await shovelStatus(c1, 'durable'))?.state === 'running');
    const defs = (await api(c1, 'GET', '/api/definitions')).body;
    t.ok(defs.parameters.some((p: { component: string; name: string }) => p.component === 'shovel' && p.name === 'durable'));
    t.equal(await c1.stop(), 0);
    c1 = await startBroker({ dataDir: dir, logLevel: 'warning' });
    t.teardown(() => c1.stop());
    await fill(c1, 'd.src', 5);
    await until('5 messages in d.dst', async () => (await count(b, 'd.dst')) === 5);
    t.equal((await shovelStatus(c1, 'durable'))?.state, 'running');
    // the same definitions on another broker start the same shovel
    const c2 = await startBroker({ logLevel: 'warning' });
    t.teardown(() => c2.stop());
    t.equal((await api(c2, 'POST', '/api/definitions', defs)).status, 204);
    await until('running on the other broker', async () => (await shovelStatus(c2, 'durable'))?.state === 'running');
  });

  t.test('the RabbitMQ 3.10 fixture: its shovel to remote.example retries harmlessly', async (t) => {
    const fixture = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'rabbitmq-3.10-definitions.json');
    if (!fs.existsSync(fixture)) { t.skip('fixture missing'); return; }
    const c = await startBroker({ logLevel: 'info', extraArgs: ['--definitions', fixture] });
    t.teardown(() => c.stop());
    await until('sh1 terminated', async () => (await shovelStatus(c, 'sh1'))?.state === 'terminated');
    t.match((await shovelStatus(c, 'sh1'))?.reason, /remote\.example/);
    await sleep(3000);
    t.ok(c.logs.filter((l) => l.includes("shovel 'sh1'")).length <= 2, 'no log flood');
    t.equal((await api(c, 'GET', '/api/aliveness-test/%2F')).status, 200, 'the broker is fine');
  });
});
