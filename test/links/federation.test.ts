// Federation between Warren brokers over TCP: a three-broker ring of exchange federation with
// max-hops 2 (each message reaches each broker exactly once; bindings made and removed
// downstream appear and vanish upstream), and a federated queue that pulls from its upstream
// only while it has consumers.
import t from 'tap';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { api } from '../helpers/http';
import { channel, confirmChannel, connect, drain, sleep } from '../helpers/amqp';

async function until(what: string, cond: () => Promise<boolean>, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

type Link = { status: string; type: string; exchange?: string; queue?: string; upstream: string; error?: string; [k: string]: unknown };
const links = async (b: RunningBroker) => (await api(b, 'GET', '/api/federation-links')).body as Link[];
const count = async (b: RunningBroker, q: string) => ((await api(b, 'GET', `/api/queues/%2F/${encodeURIComponent(q)}`)).body as { messages?: number }).messages ?? -1;

async function upstreamBindingKeys(up: RunningBroker, downstream: string): Promise<string[]> {
  const bs = (await api(up, 'GET', '/api/exchanges/%2F/ring/bindings/source')).body as Array<{ destination: string; routing_key: string }>;
  // one key can be bound more than once: by the downstream's own binding, and (another x-bound-from)
  // by the binding the next broker's link made downstream
  return [...new Set(bs.filter((b) => b.destination.startsWith(`federation: ring -> ${downstream}`)).map((b) => b.routing_key))].sort();
}

t.test('a three-broker ring of exchange federation, max-hops 2', async (t) => {
  const names = ['A', 'B', 'C'];
  const brokers = await Promise.all(names.map(() => startBroker({ logLevel: 'warning' })));
  t.teardown(() => Promise.all(brokers.map((b) => b.stop())));
  for (const [i, b] of brokers.entries()) {
    // x-received-from names brokers by cluster name: each its own
    t.equal((await api(b, 'PUT', '/api/global-parameters/cluster_name', { value: names[i] })).status, 201);
    const c = await connect(b.url);
    const ch = await channel(c);
    await ch.assertExchange('ring', 'topic', { durable: true });
    await ch.assertQueue('ring.q', { durable: true });
    await ch.bindQueue('ring.q', 'ring', 'ring.#');
    await c.close();
  }
  // B <- A, C <- B, A <- C
  for (let i = 0; i < 3; i++) {
    const down = brokers[i], up = brokers[(i + 2) % 3];
    t.equal((await api(down, 'PUT', '/api/parameters/federation-upstream/%2F/prev', { value: { uri: up.url, 'max-hops': 2 } })).status, 201);
    t.equal((await api(down, 'PUT', '/api/policies/%2F/fed', { pattern: '^ring$', 'apply-to': 'exchanges', definition: { 'federation-upstream-set': 'all' } })).status, 201);
  }
  for (const b of brokers) await until('the link running', async () => (await links(b)).some((l) => l.status === 'running'));
  const l = (await links(brokers[1]))[0];
  t.match(l, { type: 'exchange', exchange: 'ring', upstream_exchange: 'ring', upstream: 'prev', vhost: '/', status: 'running' });
  t.equal(l.uri, brokers[0].url.replace(':guest@', ':***@'));
  // each upstream carries the downstream's binding key
  for (let i = 0; i < 3; i++) {
    await until('bindings upstream', async () => (await upstreamBindingKeys(brokers[(i + 2) % 3], names[i])).join() === 'ring.#');
  }

  // one message published at each broker
  for (const [i, b] of brokers.entries()) {
    const c = await connect(b.url);
    const ch = await confirmChannel(c);
    ch.publish('ring', 'ring.msg', Buffer.from(`from ${names[i]}`), { persistent: true });
    await ch.waitForConfirms();
    await c.close();
  }
  for (const b of brokers) await until('3 messages at each broker', async () => (await count(b, 'ring.q')) >= 3);
  await sleep(1000); // time for a fourth copy, if the hop limit let one through
  for (const [i, b] of brokers.entries()) {
    const c = await connect(b.url);
    const msgs = await drain(await channel(c), 'ring.q', 10, 500);
    t.same(msgs.map((m) => m.content.toString()).sort(), ['from A', 'from B', 'from C'], `each message exactly once at ${names[i]}`);
    const fromTwoAway = msgs.find((m) => m.content.toString() === `from ${names[(i + 1) % 3]}`)!;
    const hops = fromTwoAway.properties.headers!['x-received-from'] as Array<Record<string, unknown>>;
    t.equal(hops.length, 2, 'two hops recorded');
    t.match(hops[0], { exchange: 'ring', 'cluster-name': names[(i + 2) % 3], redelivered: false });
    t.equal(fromTwoAway.fields.routingKey, 'ring.msg', 'routing key kept');
    await c.close();
  }

  // bindings made and removed downstream appear and vanish upstream
  const c = await connect(brokers[1].url);
  const ch = await channel(c);
  await ch.assertQueue('extra', { durable: false });
  await ch.bindQueue('extra', 'ring', 'orders.*');
  await until('the new key upstream', async () => (await upstreamBindingKeys(brokers[0], 'B')).join() === 'orders.*,ring.#');
  const ca = await connect(brokers[0].url);
  const cha = await confirmChannel(ca);
  cha.publish('ring', 'orders.new', Buffer.from('order'));
  await cha.waitForConfirms();
  await until('the order at B', async () => (await count(brokers[1], 'extra')) === 1);
  // the binding went on one more hop (x-bound-from), so an order published at C reaches B by A
  const cc = await connect(brokers[2].url);
  const chc = await confirmChannel(cc);
  await until('the key at C', async () => ((await api(brokers[2], 'GET', '/api/exchanges/%2F/ring/bindings/source')).body as Array<{ routing_key: string }>)
    .some((b) => b.routing_key === 'orders.*'));
  chc.publish('ring', 'orders.two', Buffer.from('order two'));
  await chc.waitForConfirms();
  await until('the second order at B', async () => (await count(brokers[1], 'extra')) === 2);
  await cc.close();
  await ch.unbindQueue('extra', 'ring', 'orders.*');
  await until('the key gone upstream', async () => (await upstreamBindingKeys(brokers[0], 'B')).join() === 'ring.#');
  await c.close();
  await ca.close();

  // the policy removed: the link stops and its upstream queue and exchange are deleted
  t.equal((await api(brokers[1], 'DELETE', '/api/policies/%2F/fed')).status, 204);
  await until('no link on B', async () => (await links(brokers[1])).length === 0);
  await until('upstream objects gone', async () => (await api(brokers[0], 'GET', `/api/queues/%2F/${encodeURIComponent('federation: ring -> B')}`)).status === 404);
});

t.test('queue federation: the downstream queue pulls while it has consumers', async (t) => {
  const up = await startBroker({ logLevel: 'warning' });
  const down = await startBroker({ logLevel: 'warning' });
  t.teardown(async () => { await up.stop(); await down.stop(); });
  const cu = await connect(up.url);
  const chu = await confirmChannel(cu);
  await chu.assertQueue('work', { durable: true });
  for (let i = 0; i < 20; i++) chu.sendToQueue('work', Buffer.from(`job ${i}`), { persistent: true });
  await chu.waitForConfirms();

  await api(down, 'PUT', '/api/parameters/federation-upstream/%2F/origin', { value: { uri: up.url } });
  await api(down, 'PUT', '/api/policies/%2F/fedq', { pattern: '^work$', 'apply-to': 'queues', definition: { 'federation-upstream': 'origin' } });
  const cd = await connect(down.url);
  const chd = await channel(cd);
  await chd.assertQueue('work', { durable: true });
  await until('the queue link running', async () => (await links(down)).some((l) => l.type === 'queue' && l.status === 'running'));
  t.match((await links(down))[0], { type: 'queue', queue: 'work', upstream_queue: 'work', upstream: 'origin' });
  await sleep(500);
  t.equal(await count(up, 'work'), 20, 'nothing moves without a consumer downstream');

  const got: string[] = [];
  await chd.prefetch(5);
  await chd.consume('work', (m) => { if (m) { got.push(m.content.toString()); chd.ack(m); } });
  await until('20 messages consumed downstream', async () => got.length === 20);
  t.same(got.slice().sort(), Array.from({ length: 20 }, (_, i) => `job ${i}`).sort());
  t.equal(await count(up, 'work'), 0, 'the upstream queue drained');
  await cu.close();
  await cd.close();
});
