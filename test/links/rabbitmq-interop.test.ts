// Shovels and federation between Warren and a real RabbitMQ 3.10 node (Debian's rabbitmq-server,
// started here on free ports; skipped when it is not installed): Warren shovels to and from
// RabbitMQ, RabbitMQ's shovel plugin moves messages out of and into Warren, RabbitMQ federates
// an exchange from a Warren upstream and Warren one from a RabbitMQ upstream.
import t from 'tap';
import { startBroker } from '../helpers/broker';
import { api } from '../helpers/http';
import { channel, confirmChannel, connect, sleep } from '../helpers/amqp';
import { rabbitmqInstalled, startRabbit, type RabbitNode } from '../helpers/rabbitmq';

async function until(what: string, cond: () => Promise<boolean>, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const base = (r: RabbitNode) => `http://127.0.0.1:${r.httpPort}`;

async function fill(url: string, queue: string, n: number): Promise<void> {
  const c = await connect(url);
  const ch = await confirmChannel(c);
  await ch.assertQueue(queue, { durable: true });
  for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(`m${i}`), { persistent: true, headers: { i } });
  await ch.waitForConfirms();
  await c.close();
}

// the management API's queue counts lag (RabbitMQ's stats are emitted every few seconds)
async function amqpCount(url: string, queue: string): Promise<number> {
  const c = await connect(url);
  try {
    return (await (await channel(c)).checkQueue(queue)).messageCount;
  } catch {
    return -1;
  } finally {
    await c.close().catch(() => undefined);
  }
}

t.test('interop with RabbitMQ 3.10', { skip: rabbitmqInstalled() ? false : 'rabbitmq-server is not installed' }, async (t) => {
  const [w, r] = await Promise.all([startBroker({ logLevel: 'warning' }), startRabbit()]);
  t.teardown(async () => { await w.stop(); await r.stop(); });
  const rb = base(r);

  t.test('Warren shovels to and from RabbitMQ', async (t) => {
    await fill(w.url, 'w2r.src', 50);
    await fill(r.url, 'r2w.src', 50);
    t.equal((await api(w, 'PUT', '/api/parameters/shovel/%2F/to-rabbit', { value: { 'src-uri': 'amqp://', 'src-queue': 'w2r.src', 'dest-uri': r.url, 'dest-queue': 'w2r.dst' } })).status, 201);
    t.equal((await api(w, 'PUT', '/api/parameters/shovel/%2F/from-rabbit', { value: { 'src-uri': r.url, 'src-queue': 'r2w.src', 'dest-uri': 'amqp://', 'dest-queue': 'r2w.dst', 'dest-add-forward-headers': true } })).status, 201);
    await until('50 at RabbitMQ', async () => (await amqpCount(r.url, 'w2r.dst')) === 50);
    await until('50 at Warren', async () => (await amqpCount(w.url, 'r2w.dst')) === 50);
    t.equal(await amqpCount(w.url, 'w2r.src'), 0);
    t.equal(await amqpCount(r.url, 'r2w.src'), 0);
    const c = await connect(r.url);
    const m = await (await channel(c)).get('w2r.dst', { noAck: true });
    t.ok(m && m.content.toString() === 'm0' && m.properties.headers?.i === 0, 'body and headers intact at RabbitMQ');
    await c.close();
    await api(w, 'DELETE', '/api/parameters/shovel/%2F/to-rabbit');
    await api(w, 'DELETE', '/api/parameters/shovel/%2F/from-rabbit');
  });

  t.test("RabbitMQ's shovel plugin moves messages out of and into Warren", async (t) => {
    await fill(w.url, 'rs.out', 40);
    await fill(r.url, 'rs.in', 40);
    t.equal((await api(rb, 'PUT', '/api/parameters/shovel/%2F/out-of-warren', { value: {
      'src-protocol': 'amqp091', 'src-uri': w.url, 'src-queue': 'rs.out', 'dest-protocol': 'amqp091', 'dest-uri': 'amqp://', 'dest-queue': 'rs.out.moved',
      'src-delete-after': 'queue-length', 'ack-mode': 'on-confirm',
    } })).status, 201);
    t.equal((await api(rb, 'PUT', '/api/parameters/shovel/%2F/into-warren', { value: {
      'src-protocol': 'amqp091', 'src-uri': 'amqp://', 'src-queue': 'rs.in', 'dest-protocol': 'amqp091', 'dest-uri': w.url, 'dest-queue': 'rs.in.moved',
    } })).status, 201);
    await until('40 moved out of Warren', async () => (await amqpCount(r.url, 'rs.out.moved')) === 40);
    await until('40 moved into Warren', async () => (await amqpCount(w.url, 'rs.in.moved')) === 40);
    t.equal(await amqpCount(w.url, 'rs.out'), 0, 'Warren queue emptied by RabbitMQ');
    await api(rb, 'DELETE', '/api/parameters/shovel/%2F/into-warren');
  });

  t.test('RabbitMQ federates an exchange from a Warren upstream', async (t) => {
    const cw = await connect(w.url);
    const chw = await confirmChannel(cw);
    await chw.assertExchange('fedx', 'topic', { durable: true });
    const cr = await connect(r.url);
    const chr = await channel(cr);
    await chr.assertExchange('fedx', 'topic', { durable: true });
    await chr.assertQueue('fedx.q', { durable: true });
    await chr.bindQueue('fedx.q', 'fedx', 'a.#');
    t.equal((await api(rb, 'PUT', '/api/parameters/federation-upstream/%2F/warren', { value: { uri: w.url } })).status, 201);
    t.equal((await api(rb, 'PUT', '/api/policies/%2F/fedx', { pattern: '^fedx$', 'apply-to': 'exchanges', definition: { 'federation-upstream': 'warren' } })).status, 201);
    await until("RabbitMQ's link running", async () => ((await api(rb, 'GET', '/api/federation-links')).body as Array<{ status: string }>).some((l) => l.status === 'running'));
    // RabbitMQ declared its x-federation-upstream exchange on Warren and bound it with its key
    await until('the binding on Warren', async () => ((await api(w, 'GET', '/api/exchanges/%2F/fedx/bindings/source')).body as Array<{ routing_key: string }>).some((b) => b.routing_key === 'a.#'));
    const internal = ((await api(w, 'GET', '/api/exchanges/%2F')).body as Array<{ name: string; type: string }>).find((x) => x.type === 'x-federation-upstream');
    t.ok(internal, `an x-federation-upstream exchange on Warren (${internal?.name})`);
    chw.publish('fedx', 'a.b', Buffer.from('to rabbit'));
    chw.publish('fedx', 'z.z', Buffer.from('not bound'));
    await chw.waitForConfirms();
    await until('the message at RabbitMQ', async () => (await amqpCount(r.url, 'fedx.q')) === 1);
    const m = await chr.get('fedx.q', { noAck: true });
    t.equal(m && m.content.toString(), 'to rabbit');
    t.ok(m && Array.isArray(m.properties.headers?.['x-received-from']), 'x-received-from added by RabbitMQ');
    await cw.close();
    await cr.close();
  });

  t.test('Warren federates an exchange from a RabbitMQ upstream', async (t) => {
    const cr = await connect(r.url);
    const chr = await confirmChannel(cr);
    await chr.assertExchange('fedy', 'direct', { durable: true });
    const cw = await connect(w.url);
    const chw = await channel(cw);
    await chw.assertExchange('fedy', 'direct', { durable: true });
    await chw.assertQueue('fedy.q', { durable: true });
    await chw.bindQueue('fedy.q', 'fedy', 'k');
    await api(w, 'PUT', '/api/parameters/federation-upstream/%2F/rabbit', { value: { uri: r.url } });
    await api(w, 'PUT', '/api/policies/%2F/fedy', { pattern: '^fedy$', 'apply-to': 'exchanges', definition: { 'federation-upstream': 'rabbit' } });
    await until("Warren's link running", async () => ((await api(w, 'GET', '/api/federation-links')).body as Array<{ status: string }>).some((l) => l.status === 'running'))
      .catch(async (e: Error) => { t.comment(JSON.stringify((await api(w, 'GET', '/api/federation-links')).body)); throw e; });
    await until('the binding on RabbitMQ', async () => ((await api(rb, 'GET', '/api/exchanges/%2F/fedy/bindings/source')).body as Array<{ routing_key: string }>).some((b) => b.routing_key === 'k'));
    chr.publish('fedy', 'k', Buffer.from('to warren'));
    await chr.waitForConfirms();
    await until('the message at Warren', async () => (await amqpCount(w.url, 'fedy.q')) === 1);
    const m = await chw.get('fedy.q', { noAck: true });
    t.equal(m && m.content.toString(), 'to warren');
    await cw.close();
    await cr.close();
  });

  t.test('Warren federates a queue from RabbitMQ', async (t) => {
    await fill(r.url, 'fedq', 10);
    await api(w, 'PUT', '/api/parameters/federation-upstream/%2F/rabbitq', { value: { uri: r.url } });
    await api(w, 'PUT', '/api/policies/%2F/fedq', { pattern: '^fedq$', 'apply-to': 'queues', definition: { 'federation-upstream': 'rabbitq' } });
    const cw = await connect(w.url);
    const chw = await channel(cw);
    await chw.assertQueue('fedq', { durable: true });
    const got: string[] = [];
    await chw.consume('fedq', (m) => { if (m) { got.push(m.content.toString()); chw.ack(m); } });
    await until('10 messages pulled from RabbitMQ', async () => got.length === 10);
    t.equal(await amqpCount(r.url, 'fedq'), 0, 'the RabbitMQ queue drained');
    await cw.close();
  });
});
