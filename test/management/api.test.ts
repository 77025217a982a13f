// The HTTP face: management API, /metrics and the console page, against a real broker, with
// amqplib on the AMQP side to check that both faces see the same broker.
import t from 'tap';
import * as amqplib from 'amqplib';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, drain, sleep, uniq } from '../helpers/amqp';

const GUEST = 'Basic ' + Buffer.from('guest:guest').toString('base64');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of every shape
interface Reply { status: number; headers: Headers; body: any; text: string }

async function http(b: RunningBroker, method: string, path: string, body?: unknown, auth: string | null = GUEST): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (auth !== null) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`http://127.0.0.1:${b.httpPort}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = undefined;
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed, text };
}

const get = (b: RunningBroker, path: string) => http(b, 'GET', path);

// Polls fn until it returns a truthy value (counters are updated as the broker processes frames).
async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await sleep(20);
  }
}

const q = (name: string) => `/api/queues/%2F/${encodeURIComponent(name)}`;

t.test('management API', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('the start command prints the HTTP port', async (t) => {
    t.ok(b.httpPort > 0 && b.httpPort !== 15672, `http port ${b.httpPort}`);
  });

  t.test('authentication', async (t) => {
    const none = await http(b, 'GET', '/api/overview', undefined, null);
    t.equal(none.status, 401);
    t.match(none.headers.get('www-authenticate'), /^Basic /);
    t.equal(none.body.error, 'not_authorised');
    const bad = await http(b, 'GET', '/api/queues', undefined, 'Basic ' + Buffer.from('guest:wrong').toString('base64'));
    t.equal(bad.status, 401);
    const unknown = await http(b, 'GET', '/api/queues', undefined, 'Basic ' + Buffer.from('nobody:guest').toString('base64'));
    t.equal(unknown.status, 401);
    const garbage = await http(b, 'GET', '/api/queues', undefined, 'Bearer xyz');
    t.equal(garbage.status, 401);
    t.equal((await get(b, '/api/overview')).status, 200, 'guest from loopback');
    t.equal((await get(b, '/api/whoami')).body.name, 'guest');
  });

  t.test('errors are JSON with error and reason', async (t) => {
    const nf = await get(b, '/api/queues/%2F/no-such-queue');
    t.equal(nf.status, 404);
    t.match(nf.body, { error: String, reason: String });
    t.equal((await get(b, '/api/queues/no-such-vhost')).status, 404);
    t.equal((await get(b, '/api/nothing-here')).status, 404);
    const m = await http(b, 'PATCH', '/api/queues');
    t.equal(m.status, 405);
    t.match(m.headers.get('allow'), /GET/);
    const badJson = await fetch(`http://127.0.0.1:${b.httpPort}${q(uniq('bad'))}`, { method: 'PUT', headers: { authorization: GUEST, 'content-type': 'application/json' }, body: '{nope' });
    t.equal(badJson.status, 400);
    t.match(await badJson.json(), { error: 'bad_request' });
  });

  t.test('overview counts follow declares and publishes', async (t) => {
    const before = (await get(b, '/api/overview')).body;
    t.match(before, { product_name: 'Warren', product_version: String, node: String,
      object_totals: { connections: Number, channels: Number, exchanges: Number, queues: Number, consumers: Number },
      queue_totals: { messages: Number, messages_ready: Number, messages_unacknowledged: Number },
      message_stats: { publish: Number, deliver_get: Number, ack: Number } });
    const ch = await confirmChannel(c);
    const names = [uniq('ov'), uniq('ov')];
    for (const n of names) await ch.assertQueue(n, { exclusive: true });
    for (let i = 0; i < 3; i++) ch.sendToQueue(names[0], Buffer.from(`m${i}`));
    await ch.waitForConfirms();
    const after = (await eventually(() => get(b, '/api/overview'),
      (r) => r.body.queue_totals.messages_ready >= before.queue_totals.messages_ready + 3)).body;
    t.equal(after.object_totals.queues, before.object_totals.queues + 2);
    t.equal(after.queue_totals.messages_ready, before.queue_totals.messages_ready + 3);
    t.equal(after.message_stats.publish, before.message_stats.publish + 3);
    t.ok(after.object_totals.connections >= 1);
    t.ok(after.object_totals.channels >= 1);

    const got = await drain(ch, names[0], 3);
    t.equal(got.length, 3);
    const later = (await eventually(() => get(b, '/api/overview'), (r) => r.body.message_stats.deliver_get >= before.message_stats.deliver_get + 3)).body;
    t.equal(later.message_stats.deliver_get, before.message_stats.deliver_get + 3);
    await ch.close();
  });

  t.test('queue CRUD over HTTP is the same queue over AMQP', async (t) => {
    const name = uniq('crud');
    const put = await http(b, 'PUT', q(name), { durable: true, auto_delete: false, arguments: { 'x-max-length': 100 } });
    t.equal(put.status, 201, 'created');
    t.equal((await http(b, 'PUT', q(name), { durable: true, arguments: { 'x-max-length': 100 } })).status, 204, 'redeclare is idempotent');
    const ineq = await http(b, 'PUT', q(name), { durable: false });
    t.equal(ineq.status, 400);
    t.match(ineq.body.reason, /inequivalent arg 'durable'/);

    const ch = await confirmChannel(c);
    const ok = await ch.checkQueue(name);
    t.equal(ok.queue, name, 'visible over AMQP (passive declare)');
    for (let i = 0; i < 5; i++) ch.sendToQueue(name, Buffer.from(`m${i}`));
    await ch.waitForConfirms();

    const one = await eventually(() => get(b, q(name)), (r) => r.body.messages_ready === 5);
    t.match(one.body, { name, vhost: '/', durable: true, auto_delete: false, exclusive: false,
      arguments: { 'x-max-length': 100 }, messages: 5, messages_ready: 5, messages_unacknowledged: 0, consumers: 0 });

    // A delivered, unacked message counts as unacknowledged.
    const ch2 = await channel(c);
    const m = await ch2.get(name, { noAck: false });
    t.ok(m, 'got one');
    const mid = await eventually(() => get(b, q(name)), (r) => r.body.messages_unacknowledged === 1);
    t.match(mid.body, { messages_ready: 4, messages_unacknowledged: 1, messages: 5 });
    await ch2.close();

    const list = await get(b, '/api/queues/%2F');
    t.ok(list.body.some((x: { name: string }) => x.name === name), 'listed in its vhost');
    t.ok((await get(b, '/api/queues')).body.some((x: { name: string }) => x.name === name), 'listed overall');

    t.equal((await http(b, 'DELETE', `${q(name)}/contents`)).status, 204, 'purge');
    const purged = await eventually(() => get(b, q(name)), (r) => r.body.messages === 0);
    t.equal(purged.body.messages, 0);
    const check = await ch.checkQueue(name);
    t.equal(check.messageCount, 0, 'empty over AMQP too');

    const published = (await get(b, '/api/overview')).body.message_stats.publish;
    t.equal((await http(b, 'DELETE', q(name))).status, 204, 'delete');
    t.equal((await get(b, '/api/overview')).body.message_stats.publish, published, 'broker-wide counters survive the queue');
    t.equal((await get(b, q(name))).status, 404);
    t.equal((await http(b, 'DELETE', q(name))).status, 404, 'deleting again is 404');
    const gone = await channel(c);
    await t.rejects(gone.checkQueue(name), { code: 404 }, 'gone over AMQP');
    await ch.close();
  });

  t.test('exchanges and bindings', async (t) => {
    const x = uniq('x');
    const qa = uniq('qa');
    const qb = uniq('qb');
    t.equal((await http(b, 'PUT', `/api/exchanges/%2F/${x}`, { type: 'topic', durable: true })).status, 201);
    t.equal((await http(b, 'PUT', `/api/exchanges/%2F/${x}`, { type: 'topic', durable: true })).status, 204);
    t.equal((await http(b, 'PUT', `/api/exchanges/%2F/${uniq('x')}`, { durable: true })).status, 400, 'type is required');
    t.match((await get(b, `/api/exchanges/%2F/${x}`)).body, { name: x, vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false });
    t.ok((await get(b, '/api/exchanges/%2F')).body.some((e: { name: string }) => e.name === ''), 'the default exchange is listed');
    t.equal((await get(b, '/api/exchanges/%2F/amq.default')).body.name, '');
    t.equal((await http(b, 'DELETE', '/api/exchanges/%2F/amq.direct')).status, 403, 'system exchanges stay');
    for (const n of [qa, qb]) t.equal((await http(b, 'PUT', q(n), { durable: false })).status, 201);

    const post = await http(b, 'POST', `/api/bindings/%2F/e/${x}/q/${qa}`, { routing_key: 'a.*', arguments: {} });
    t.equal(post.status, 201);
    t.match(post.headers.get('location'), `/api/bindings/%2F/e/${x}/q/${qa}/`);
    t.equal((await http(b, 'POST', `/api/bindings/%2F/e/${x}/q/${qb}`, { routing_key: '#' })).status, 201);
    t.equal((await http(b, 'POST', `/api/bindings/%2F/e/${x}/q/no-such-queue`, { routing_key: '#' })).status, 404);

    const between = (await get(b, `/api/bindings/%2F/e/${x}/q/${qa}`)).body;
    t.match(between, [{ source: x, vhost: '/', destination: qa, destination_type: 'queue', routing_key: 'a.*', properties_key: 'a.*' }]);
    const all = (await get(b, '/api/bindings/%2F')).body as Array<{ source: string; destination: string }>;
    t.ok(all.some((v) => v.source === x && v.destination === qb));
    t.ok(all.some((v) => v.source === '' && v.destination === qa), 'default-exchange bindings are listed');
    t.equal((await get(b, `/api/queues/%2F/${qa}/bindings`)).body.length, 2);

    // The bindings route messages published over AMQP.
    const ch = await confirmChannel(c);
    ch.publish(x, 'a.one', Buffer.from('to both'));
    ch.publish(x, 'b.two', Buffer.from('to b only'));
    await ch.waitForConfirms();
    t.same((await drain(ch, qa, 1)).map((m) => m.content.toString()), ['to both']);
    t.same((await drain(ch, qb, 2)).map((m) => m.content.toString()), ['to both', 'to b only']);

    // Unbind by properties key, then the route is gone.
    t.equal((await http(b, 'DELETE', `/api/bindings/%2F/e/${x}/q/${qa}/${encodeURIComponent('a.*')}`)).status, 204);
    ch.publish(x, 'a.again', Buffer.from('to b'));
    await ch.waitForConfirms();
    t.same((await drain(ch, qb, 1)).map((m) => m.content.toString()), ['to b']);
    t.equal((await ch.checkQueue(qa)).messageCount, 0);

    t.equal((await http(b, 'DELETE', `/api/exchanges/%2F/${x}`)).status, 204);
    t.equal((await get(b, `/api/exchanges/%2F/${x}`)).status, 404);
    await ch.close();
  });

  t.test('/metrics', async (t) => {
    const name = uniq('metrics');
    const ch = await confirmChannel(c);
    await ch.assertQueue(name, { exclusive: true });
    for (let i = 0; i < 7; i++) ch.sendToQueue(name, Buffer.from('x'));
    await ch.waitForConfirms();
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/metrics/per-object`);
    t.equal(res.status, 200, 'no authentication needed');
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    t.match(text, `rabbitmq_queue_messages_ready{vhost="/",queue="${name}"} 7\n`);
    t.match(text, `rabbitmq_queue_messages_unacked{vhost="/",queue="${name}"} 0\n`);
    t.match(text, `rabbitmq_queue_consumers{vhost="/",queue="${name}"} 0\n`);
    t.match(text, /# TYPE rabbitmq_queue_messages_ready gauge\n/);
    t.match(text, /\nrabbitmq_connections [1-9]\d*\n/);
    t.match(text, /\nrabbitmq_channels [1-9]\d*\n/);
    t.match(text, /\nrabbitmq_queues [1-9]\d*\n/);
    t.match(text, /\nwarren_disk_alarm 0\n/);
    t.match(text, /\nrabbitmq_process_resident_memory_bytes \d+\n/);
    t.match(text, /\nwarren_messages_published_total \d+\n/);
    // Every sample line is "name{labels} value" or "name value".
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? -?[0-9.e+]+$/.test(line)) t.fail(`bad sample line: ${line}`);
    }
    await ch.close();
  });

  t.test('connections and channels; DELETE closes with 320', async (t) => {
    const tag = uniq('mgmt-conn');
    const conn = await amqplib.connect(b.url, { clientProperties: { connection_name: tag } });
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.prefetch(5);
    const closed = new Promise<{ code: number | undefined; message: string }>((resolve) => {
      let err: { code?: number; message: string } | null = null;
      conn.on('error', (e: { code?: number; message: string }) => { err = e; });
      conn.on('close', (e?: { code?: number; message: string }) => {
        const x = e ?? err;
        resolve({ code: x?.code, message: x?.message ?? '' });
      });
    });
    const list = await eventually(() => get(b, '/api/connections'),
      (r) => r.body.some((x: { user_provided_name?: string }) => x.user_provided_name === tag));
    const mine = list.body.find((x: { user_provided_name?: string }) => x.user_provided_name === tag);
    t.match(mine, { name: String, user: 'guest', vhost: '/', state: 'running', channels: 1, protocol: 'AMQP 0-9-1',
      client_properties: { connection_name: tag } });
    t.match((await get(b, `/api/connections/${encodeURIComponent(mine.name)}`)).body, { name: mine.name });

    const chans = (await get(b, '/api/channels')).body as Array<Record<string, unknown>>;
    const myCh = chans.find((x) => x.connection_details.name === mine.name);
    t.match(myCh, { number: 1, user: 'guest', vhost: '/', prefetch_count: 5, consumer_count: 0, messages_unacknowledged: 0 });
    t.equal((await get(b, `/api/channels/${encodeURIComponent(myCh!.name)}`)).body.number, 1);
    t.equal((await get(b, `/api/connections/${encodeURIComponent(mine.name)}/channels`)).body.length, 1);

    const del = await http(b, 'DELETE', `/api/connections/${encodeURIComponent(mine.name)}`);
    t.equal(del.status, 204);
    const why = await Promise.race([closed, sleep(3000).then(() => null)]);
    t.ok(why, 'the client saw the connection close');
    t.equal(why?.code, 320, 'CONNECTION_FORCED');
    t.match(why?.message, /CONNECTION_FORCED/);
    const after = await eventually(() => get(b, '/api/connections'), (r) => !r.body.some((x: { name: string }) => x.name === mine.name));
    t.notOk(after.body.some((x: { name: string }) => x.name === mine.name), 'gone from the list');
    t.equal((await http(b, 'DELETE', `/api/connections/${encodeURIComponent(mine.name)}`)).status, 404);
  });

  t.test('vhosts, nodes and health', async (t) => {
    t.match((await get(b, '/api/vhosts')).body, [{ name: '/' }]);
    t.match((await get(b, '/api/vhosts/%2F')).body, { name: '/', messages: Number });
    t.match((await get(b, '/api/nodes')).body, [{ name: String, running: true, disk_free_alarm: false }]);
    t.same((await get(b, '/api/healthchecks/node')).body, { status: 'ok' });
    t.same((await get(b, '/api/health/checks/alarms')).body, { status: 'ok' });
  });

  t.test('the console page: served by Warren, nothing from elsewhere', async (t) => {
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/`);
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/html/);
    t.match(res.headers.get('content-security-policy'), /default-src 'none'; script-src 'self'/);
    const html = await res.text();
    t.match(html, /<!doctype html>/i);
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => !u.startsWith('#'));
    t.ok(refs.length >= 2, 'a script and a stylesheet');
    for (const ref of refs) {
      t.match(ref, /^\/console\//, `${ref} is served by Warren`);
      const asset = await fetch(`http://127.0.0.1:${b.httpPort}${ref}`);
      t.equal(asset.status, 200, ref);
      t.notMatch(await asset.text(), /https?:\/\/(?!www\.w3\.org)/, `${ref} loads nothing from elsewhere`);
    }
    const main = await (await fetch(`http://127.0.0.1:${b.httpPort}/console/main.js`)).text();
    t.match(main, /api\/console\/session/);
    t.equal((await fetch(`http://127.0.0.1:${b.httpPort}/console/nope.js`)).status, 404);
  });
});

t.test('definitions exported from one broker recreate its objects in another', async (t) => {
  const a = await startBroker({ logLevel: 'warning' });
  t.teardown(() => a.stop());
  const x = uniq('defs.x');
  const qn = uniq('defs.q');
  t.equal((await http(a, 'PUT', `/api/exchanges/%2F/${x}`, { type: 'direct', durable: true })).status, 201);
  t.equal((await http(a, 'PUT', q(qn), { durable: true, arguments: { 'x-message-ttl': 60000 } })).status, 201);
  t.equal((await http(a, 'POST', `/api/bindings/%2F/e/${x}/q/${qn}`, { routing_key: 'rk' })).status, 201);
  const defs = await get(a, '/api/definitions');
  t.equal(defs.status, 200);
  t.match(defs.body, { queues: [{ name: qn, vhost: '/', durable: true, arguments: { 'x-message-ttl': 60000 } }],
    exchanges: [{ name: x, type: 'direct' }], bindings: [{ source: x, destination: qn, routing_key: 'rk' }] });

  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  t.equal((await get(b, q(qn))).status, 404, 'not there before the import');
  t.equal((await http(b, 'POST', '/api/definitions', { queues: 'not a list' })).status, 400);
  t.equal((await http(b, 'POST', '/api/definitions', defs.body)).status, 204);
  t.match((await get(b, q(qn))).body, { name: qn, durable: true, arguments: { 'x-message-ttl': 60000 } });
  t.match((await get(b, `/api/exchanges/%2F/${x}`)).body, { name: x, type: 'direct', durable: true });
  t.match((await get(b, `/api/bindings/%2F/e/${x}/q/${qn}`)).body, [{ routing_key: 'rk' }]);

  // The imported binding routes.
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const ch = await confirmChannel(c);
  ch.publish(x, 'rk', Buffer.from('routed'));
  await ch.waitForConfirms();
  t.same((await drain(ch, qn, 1)).map((m) => m.content.toString()), ['routed']);
});
