// The parts of the management API that follow RabbitMQ's shapes beyond the basics (paging,
// columns, sorting, consumers, publish/get, health checks, policies, parameters, definitions
// sections) and Warren's own (move, browse, unacked), with amqplib traffic behind them.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, confirmChannel, connect, sleep, uniq } from '../helpers/amqp';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON bodies of every shape
type Json = any;

const GUEST = 'Basic ' + Buffer.from('guest:guest').toString('base64');

async function http(b: RunningBroker, method: string, p: string, body?: unknown): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${b.httpPort}${p}`, {
    method, headers: { authorization: GUEST, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}
const enc = encodeURIComponent;

t.test('management API, RabbitMQ shapes', async (t) => {
  const b = await startBroker({ logLevel: 'warning', extraArgs: [] });
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  t.test('paging, filtering, sorting, columns', async (t) => {
    const p = uniq('pg');
    for (const n of ['b', 'a', 'C', 'd', 'e']) t.equal((await http(b, 'PUT', `/api/queues/%2F/${p}-${n}`, { durable: 'true', auto_delete: 'false' })).status, 201, 'booleans as strings');
    const page = await http(b, 'GET', `/api/queues/%2F?page=1&page_size=2&name=${p}&columns=name`);
    t.same(page.body, {
      filtered_count: 5, item_count: 2, items: [{ name: `${p}-C` }, { name: `${p}-a` }], page: 1, page_count: 3, page_size: 2,
      total_count: page.body.total_count,
    }, 'paged reply, byte-order name sort, only the columns asked for');
    t.ok(page.body.total_count >= 5);
    const last = await http(b, 'GET', `/api/queues/%2F?page=3&page_size=2&name=${p}&columns=name`);
    t.same(last.body.items, [{ name: `${p}-e` }]);
    const ci = await http(b, 'GET', `/api/queues?name=${p}-c&columns=name`);
    t.same(ci.body, [{ name: `${p}-C` }], 'name filter ignores case');
    const re = await http(b, 'GET', `/api/queues?name=${enc(`^${p}-[ab]$`)}&use_regex=true&columns=name`);
    t.same(re.body.map((q: { name: string }) => q.name), [`${p}-a`, `${p}-b`]);
    const rev = await http(b, 'GET', `/api/queues?name=${p}&sort=name&sort_reverse=true&columns=name,vhost`);
    t.same(rev.body[0], { name: `${p}-e`, vhost: '/' });
    const oor = await http(b, 'GET', `/api/queues?page=9&page_size=2&name=${p}`);
    t.equal(oor.status, 400);
    t.same(oor.body, { error: 'page_out_of_range', reason: 'Page out of range, page: 9 page size: 2, len: 5' });
    const big = await http(b, 'GET', '/api/queues?page=1&page_size=600');
    t.same(big.body, { error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 1, page size 600' });
    t.equal((await http(b, 'GET', '/api/queues?page=x')).status, 400);
    // sort by a number, dotted columns
    const ch = await confirmChannel(c);
    for (let i = 0; i < 3; i++) ch.sendToQueue(`${p}-d`, Buffer.from('x'));
    await ch.waitForConfirms();
    const bySize = await http(b, 'GET', `/api/queues?name=${p}&sort=messages&sort_reverse=true&columns=name,messages,message_stats.publish`);
    t.same(bySize.body[0], { name: `${p}-d`, messages: 3, message_stats: { publish: 3 } });
    const one = await http(b, 'GET', `/api/queues/%2F/${p}-d?columns=name,messages_ready`);
    t.same(one.body, { name: `${p}-d`, messages_ready: 3 });
    for (const x of ['exchanges', 'bindings', 'connections', 'channels', 'vhosts', 'consumers']) {
      const r = await http(b, 'GET', `/api/${x}?page=1&page_size=1`);
      t.equal(r.status, 200, `${x} pages`);
      t.ok(Array.isArray(r.body.items), `${x}: paged form`);
    }
    await ch.close();
  });

  t.test('consumers', async (t) => {
    const q = uniq('cons');
    const ch = await channel(c);
    await ch.assertQueue(q, { exclusive: true });
    await ch.prefetch(7);
    const { consumerTag } = await ch.consume(q, () => undefined, { noAck: false, arguments: { 'x-priority': 3 } });
    const all = await http(b, 'GET', '/api/consumers');
    const mine = all.body.find((x: { consumer_tag: string }) => x.consumer_tag === consumerTag);
    t.match(mine, { queue: { name: q, vhost: '/' }, ack_required: true, exclusive: false, prefetch_count: 7, active: true, arguments: { 'x-priority': 3 },
      channel_details: { number: Number, connection_name: String, user: 'guest', name: /\(\d+\)$/ } });
    t.equal((await http(b, 'GET', '/api/consumers/%2F')).body.length, all.body.length);
    t.equal((await http(b, 'GET', '/api/consumers/nope')).status, 404);
    const qd = await http(b, 'GET', `/api/queues/%2F/${enc(q)}`);
    t.equal(qd.body.consumer_details.length, 1);
    t.equal(qd.body.consumer_details[0].consumer_tag, consumerTag);
    await ch.close();
  });

  t.test('publish and get, all four ack modes', async (t) => {
    const q = uniq('pubget');
    t.equal((await http(b, 'PUT', `/api/queues/%2F/${q}`, { durable: true })).status, 201);
    const pub = (payload: string, extra: Record<string, unknown> = {}) => http(b, 'POST', '/api/exchanges/%2F/amq.default/publish',
      { properties: { delivery_mode: 2, headers: { h: 'v' }, content_type: 'text/plain' }, routing_key: q, payload, payload_encoding: 'string', ...extra });
    t.same((await pub('one')).body, { routed: true });
    t.same((await pub(Buffer.from([0, 1, 2, 255]).toString('base64'), { payload_encoding: 'base64' })).body, { routed: true });
    t.same((await http(b, 'POST', '/api/exchanges/%2F/amq.direct/publish', { properties: {}, routing_key: 'nowhere', payload: 'x', payload_encoding: 'string' })).body, { routed: false });
    t.equal((await http(b, 'POST', '/api/exchanges/%2F/nope/publish', { properties: {}, routing_key: 'x', payload: 'x' })).status, 404);
    // requeue by default: get twice, the same first message, redelivered the second time
    const g1 = await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: '2', encoding: 'auto' });
    t.equal(g1.status, 200);
    t.match(g1.body[0], { payload: 'one', payload_encoding: 'string', payload_bytes: 3, redelivered: false, exchange: '', routing_key: q,
      message_count: 1, properties: { delivery_mode: 2, headers: { h: 'v' }, content_type: 'text/plain' } });
    t.match(g1.body[1], { payload: Buffer.from([0, 1, 2, 255]).toString('base64'), payload_encoding: 'base64', payload_bytes: 4, message_count: 0 });
    const g2 = await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: 1, ackmode: 'ack_requeue_true', encoding: 'base64', truncate: 2 });
    t.match(g2.body[0], { payload: Buffer.from('on').toString('base64'), payload_encoding: 'base64', redelivered: true, payload_bytes: 3 });
    // ack_requeue_false removes; reject_requeue_false too (dead-letters when configured)
    const g3 = await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' });
    t.equal(g3.body[0].payload, 'one');
    const g4 = await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: 5, ackmode: 'reject_requeue_true', encoding: 'auto' });
    t.equal(g4.body.length, 1);
    const g5 = await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: 5, ackmode: 'reject_requeue_false', encoding: 'auto' });
    t.equal(g5.body.length, 1);
    t.same((await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto' })).body, []);
    t.equal((await http(b, 'POST', `/api/queues/%2F/${q}/get`, { count: 1, ackmode: 'bogus' })).status, 400);
    // and amqplib sees what HTTP published
    await pub('for amqp');
    const ch = await channel(c);
    const m = await ch.get(q, { noAck: true });
    t.ok(m && m.content.toString() === 'for amqp' && m.properties.headers?.h === 'v' && m.properties.deliveryMode === 2);
    await ch.close();
  });

  t.test('move, browse, unacked (Warren extensions)', async (t) => {
    const src = uniq('src'), dst = uniq('dst');
    const ch = await confirmChannel(c);
    await ch.assertQueue(src);
    await ch.assertQueue(dst);
    for (let i = 0; i < 6; i++) ch.sendToQueue(src, Buffer.from(`m${i}`), { persistent: true, headers: { i } });
    await ch.waitForConfirms();
    const t0 = Date.now();
    await sleep(20);
    ch.sendToQueue(src, Buffer.from('late'));
    await ch.waitForConfirms();
    // browse does not consume
    const br = await http(b, 'GET', `/api/queues/%2F/${src}/messages?count=3`);
    t.equal(br.status, 200);
    t.same(br.body.items.map((m: { payload: string }) => m.payload), ['m0', 'm1', 'm2']);
    t.match(br.body.items[0], { offset: 0, persistent: true, consumed: false, properties: { headers: { i: 0 } } });
    const next = await http(b, 'GET', `/api/queues/%2F/${src}/messages?offset=${br.body.continue_at}&count=10`);
    t.same(next.body.items.map((m: { payload: string }) => m.payload), ['m3', 'm4', 'm5', 'late']);
    const byTime = await http(b, 'GET', `/api/queues/%2F/${src}/messages?from_time=${t0 + 10}`);
    t.same(byTime.body.items.map((m: { payload: string }) => m.payload), ['late'], 'browse from a time');
    t.equal((await ch.checkQueue(src)).messageCount, 7, 'nothing consumed');
    // unacked: a consumer holds two
    const cons = await channel(c);
    await cons.prefetch(2);
    const held: unknown[] = [];
    const { consumerTag } = await cons.consume(src, (m) => held.push(m), { noAck: false });
    for (let i = 0; i < 100 && held.length < 2; i++) await sleep(10);
    await sleep(30);
    const un = await http(b, 'GET', `/api/queues/%2F/${src}/unacked`);
    t.equal(un.body.total, 2);
    t.match(un.body.items[0], { consumer_tag: consumerTag, delivery_tag: Number, payload: 'm0', age_ms: Number, channel: String });
    t.ok(un.body.items[0].age_ms >= 20, 'age grows');
    await cons.close();
    // move: ready messages go to the other queue, in order
    const mv = await http(b, 'POST', `/api/queues/%2F/${src}/move`, { destination: dst });
    t.same(mv.body, { moved: 7 });
    t.equal((await ch.checkQueue(src)).messageCount, 0);
    const moved = await http(b, 'GET', `/api/queues/%2F/${dst}/messages?count=10`);
    t.same(moved.body.items.map((m: { payload: string }) => m.payload), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'late']);
    t.match(moved.body.items[0].properties, { headers: { i: 0 }, delivery_mode: 2 });
    t.equal((await http(b, 'POST', `/api/queues/%2F/${src}/move`, { destination: 'nope' })).status, 400);
    await ch.close();
  });

  t.test('health checks', async (t) => {
    t.same((await http(b, 'GET', '/api/aliveness-test/%2F')).body, { status: 'ok' });
    t.same((await http(b, 'GET', '/api/health/checks/alarms')).body, { status: 'ok' });
    t.same((await http(b, 'GET', '/api/health/checks/local-alarms')).body, { status: 'ok' });
    t.same((await http(b, 'GET', `/api/health/checks/port-listener/${b.port}`)).body, { status: 'ok', port: b.port });
    const bad = await http(b, 'GET', '/api/health/checks/port-listener/1');
    t.equal(bad.status, 503);
    t.match(bad.body, { status: 'failed', reason: String, missing: 1 });
    t.same((await http(b, 'GET', '/api/health/checks/protocol-listener/amqp091')).body, { status: 'ok', protocol: 'amqp' });
    t.equal((await http(b, 'GET', '/api/health/checks/protocol-listener/mqtt')).status, 503);
    for (const p of ['virtual-hosts', 'node-is-quorum-critical', 'node-is-mirror-sync-critical', 'certificate-expiration/1/months']) {
      t.same((await http(b, 'GET', `/api/health/checks/${p}`)).body, { status: 'ok' }, p);
    }
  });

  t.test('policies apply to existing queues within a second, and leave when cleared', async (t) => {
    const q = uniq('live');
    const ch = await confirmChannel(c);
    await ch.assertQueue(q, { arguments: { 'x-max-length': 8 } });
    for (let i = 0; i < 8; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await ch.waitForConfirms();
    const put = await http(b, 'PUT', `/api/policies/%2F/${q}-p`, { pattern: `^${q}$`, definition: { 'max-length': 3, 'message-ttl': 600000 }, 'apply-to': 'queues', priority: '1' });
    t.equal(put.status, 201);
    t.equal((await http(b, 'PUT', `/api/policies/%2F/${q}-p`, { pattern: `^${q}$`, definition: { 'max-length': 3 }, 'apply-to': 'queues' })).status, 204, 'update');
    const start = Date.now();
    let n = 8;
    while (Date.now() - start < 1000 && n !== 3) { n = (await ch.checkQueue(q)).messageCount; if (n !== 3) await sleep(20); }
    t.equal(n, 3, 'the excess left from the head at once');
    const view = (await http(b, 'GET', `/api/queues/%2F/${q}`)).body;
    t.match(view, { policy: `${q}-p`, operator_policy: null, effective_policy_definition: { 'max-length': 3 }, arguments: { 'x-max-length': 8 } });
    t.same((await http(b, 'GET', `/api/policies/%2F/${q}-p`)).body, { vhost: '/', name: `${q}-p`, pattern: `^${q}$`, 'apply-to': 'queues', definition: { 'max-length': 3 }, priority: 0 });
    t.ok((await http(b, 'GET', '/api/policies')).body.some((p: { name: string }) => p.name === `${q}-p`));
    t.equal((await http(b, 'DELETE', `/api/policies/%2F/${q}-p`)).status, 204);
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from('more'));
    await ch.waitForConfirms();
    t.equal((await ch.checkQueue(q)).messageCount, 8, 'back to the argument\'s limit');
    t.equal((await http(b, 'GET', `/api/queues/%2F/${q}`)).body.policy, null);
    const bad = await http(b, 'PUT', '/api/policies/%2F/bad', { pattern: '^x', definition: { 'ha-mode': 'all' } });
    t.equal(bad.status, 400);
    t.match(bad.body.reason, /ha-mode.*not recognised policy settings/);
    t.match((await http(b, 'PUT', '/api/policies/%2F/bad', { pattern: '[', definition: { 'max-length': 1 } })).body.reason, /pattern should be regular expression/);
    t.match((await http(b, 'PUT', '/api/operator-policies/%2F/bad', { pattern: '.', definition: { 'dead-letter-exchange': 'x' } })).body.reason, /not recognised operator policy settings/);
    t.equal((await http(b, 'PUT', '/api/policies/nope/p', { pattern: '.', definition: { 'max-length': 1 } })).status, 404);
    // exchanges: alternate-exchange by policy
    const x = uniq('ae-src');
    await ch.assertExchange(x, 'direct', { durable: false });
    await ch.assertQueue(`${x}-catch`);
    await ch.bindQueue(`${x}-catch`, 'amq.fanout', '');
    t.equal((await http(b, 'PUT', `/api/policies/%2F/${x}`, { pattern: `^${x}$`, definition: { 'alternate-exchange': 'amq.fanout' }, 'apply-to': 'exchanges' })).status, 201);
    t.equal((await http(b, 'GET', `/api/exchanges/%2F/${x}`)).body.policy, x);
    ch.publish(x, 'unroutable', Buffer.from('ae'));
    await ch.waitForConfirms();
    t.equal((await ch.checkQueue(`${x}-catch`)).messageCount, 1);
    await http(b, 'DELETE', `/api/policies/%2F/${x}`);
    await ch.unbindQueue(`${x}-catch`, 'amq.fanout', '');
    await ch.close();
  });

  t.test('parameters and global parameters', async (t) => {
    const shovel = { 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://remote', 'dest-queue': 'b', 'ack-mode': 'on-confirm' };
    t.equal((await http(b, 'PUT', '/api/parameters/shovel/%2F/s1', { value: shovel })).status, 201);
    t.same((await http(b, 'GET', '/api/parameters/shovel/%2F/s1')).body, { vhost: '/', component: 'shovel', name: 's1', value: shovel });
    t.equal((await http(b, 'PUT', '/api/parameters/shovel/%2F/s2', { value: { 'src-uri': 'amqp://' } })).status, 400, 'shape checked');
    t.equal((await http(b, 'PUT', '/api/parameters/federation-upstream/%2F/u1', { value: { uri: 'amqp://up', 'max-hops': 1 } })).status, 201);
    t.equal((await http(b, 'PUT', '/api/parameters/nonsense/%2F/x', { value: {} })).status, 400);
    t.same((await http(b, 'GET', '/api/parameters/federation-upstream')).body.map((p: { name: string }) => p.name), ['u1']);
    t.equal((await http(b, 'GET', '/api/parameters')).body.length, 2);
    t.equal((await http(b, 'DELETE', '/api/parameters/shovel/%2F/s1')).status, 204);
    t.equal((await http(b, 'DELETE', '/api/parameters/shovel/%2F/s1')).status, 404);
    // an operator policy is also a parameter of component operator_policy
    t.equal((await http(b, 'PUT', '/api/parameters/operator_policy/%2F/cap', { value: { pattern: '^capped', definition: { 'max-length': 2 }, priority: 0, 'apply-to': 'queues' } })).status, 201);
    t.match((await http(b, 'GET', '/api/operator-policies/%2F/cap')).body, { definition: { 'max-length': 2 } });
    await http(b, 'DELETE', '/api/operator-policies/%2F/cap');
    t.equal((await http(b, 'PUT', '/api/global-parameters/cluster_name', { value: 'blue' })).status, 201);
    t.equal((await http(b, 'GET', '/api/overview')).body.cluster_name, 'blue');
    t.same((await http(b, 'GET', '/api/cluster-name')).body, { name: 'blue' });
    t.ok((await http(b, 'GET', '/api/global-parameters')).body.some((g: { name: string }) => g.name === 'internal_cluster_id'));
    await http(b, 'DELETE', '/api/parameters/federation-upstream/%2F/u1');
  });

  t.test('definitions: sections exported, unappliable imports refused whole', async (t) => {
    await http(b, 'PUT', '/api/policies/%2F/exp', { pattern: '^exp\\.', definition: { 'message-ttl': 1000 }, 'apply-to': 'queues', priority: 2 });
    await http(b, 'PUT', '/api/operator-policies/%2F/opx', { pattern: '^exp\\.', definition: { 'max-length': 9 }, 'apply-to': 'queues' });
    await http(b, 'PUT', '/api/parameters/shovel/%2F/sx', { value: { 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b' } });
    const d = (await http(b, 'GET', '/api/definitions')).body;
    t.match(d, { rabbit_version: String, product_name: 'Warren' });
    t.same(d.policies.find((p: { name: string }) => p.name === 'exp'), { vhost: '/', name: 'exp', pattern: '^exp\\.', 'apply-to': 'queues', definition: { 'message-ttl': 1000 }, priority: 2 });
    t.same(d.parameters.find((p: { name: string }) => p.name === 'opx'), { value: { pattern: '^exp\\.', definition: { 'max-length': 9 }, priority: 0, 'apply-to': 'queues' }, vhost: '/', component: 'operator_policy', name: 'opx' });
    t.ok(d.parameters.some((p: { component: string }) => p.component === 'shovel'));
    t.ok(d.global_parameters.some((g: { name: string }) => g.name === 'cluster_name'));
    const perVhost = (await http(b, 'GET', '/api/definitions/%2F')).body;
    t.same(Object.keys(perVhost).sort(), ['bindings', 'exchanges', 'parameters', 'policies', 'product_name', 'product_version', 'queues', 'rabbit_version', 'rabbitmq_version']);
    t.notOk('vhost' in perVhost.policies[0]);
    // refused whole: nothing of it applied
    const bad = await http(b, 'POST', '/api/definitions', {
      queues: [{ name: 'should-not-exist', vhost: '/', durable: true, auto_delete: false, arguments: {} }],
      policies: [{ vhost: '/', name: 'bad', pattern: '.', 'apply-to': 'queues', definition: { 'ha-mode': 'all' }, priority: 0 }],
      parameters: [{ vhost: '/', component: 'mqtt-thing', name: 'n', value: {} }],
    });
    t.equal(bad.status, 400);
    t.match(bad.body.reason, /policy 'bad' in vhost '\/'.*ha-mode/);
    t.match(bad.body.reason, /component 'mqtt-thing' is not supported/);
    t.equal((await http(b, 'GET', '/api/queues/%2F/should-not-exist')).status, 404, 'nothing applied');
    // per-vhost import puts everything into that vhost
    const ok = await http(b, 'POST', '/api/definitions/%2F', { policies: [{ name: 'pv', pattern: '^pv', 'apply-to': 'all', definition: { expires: 100000 }, priority: 0 }] });
    t.equal(ok.status, 204);
    t.equal((await http(b, 'GET', '/api/policies/%2F/pv')).status, 200);
    t.equal((await http(b, 'POST', '/api/definitions/%2F', { users: [{ name: 'x' }] })).status, 400);
  });

  t.test('the RabbitMQ 3.10 fixture imports unchanged and comes back equivalent', async (t) => {
    const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'shared', 'fixtures', 'rabbitmq-3.10-definitions.json'), 'utf8'));
    t.equal((await http(b, 'POST', '/api/definitions', fixture)).status, 204, 'the whole RabbitMQ 3.10 export imports unchanged');
    const mine = fixture;
    const out = (await http(b, 'GET', '/api/definitions')).body;
    const pick = (list: Array<Record<string, unknown>>, keys: string[]) => list.map((o) => Object.fromEntries(keys.map((k) => [k, o[k]])));
    const sortBy = (a: Array<Record<string, unknown>>) => a.map((o) => JSON.stringify(o)).sort();
    t.same(sortBy(out.policies.filter((p: { name: string }) => p.name === 'dlx')), sortBy(mine.policies), 'policies');
    for (const p of mine.parameters) {
      t.same(out.parameters.find((o: { name: string; component: string }) => o.name === p.name && o.component === p.component), p, `parameter ${p.component}/${p.name}`);
    }
    for (const g of mine.global_parameters) t.same(out.global_parameters.find((o: { name: string }) => o.name === g.name), g, `global parameter ${g.name}`);
    const qkeys = ['name', 'vhost', 'durable', 'auto_delete', 'arguments'];
    t.same(sortBy(pick(out.queues.filter((q: { name: string }) => mine.queues.some((m: { name: string }) => m.name === q.name)), qkeys)), sortBy(pick(mine.queues, qkeys)), 'queues');
    const xkeys = ['name', 'vhost', 'type', 'durable', 'auto_delete', 'internal', 'arguments'];
    t.same(sortBy(pick(out.exchanges.filter((x: { name: string }) => mine.exchanges.some((m: { name: string }) => m.name === x.name)), xkeys)), sortBy(pick(mine.exchanges, xkeys)), 'exchanges');
    const bkeys = ['source', 'vhost', 'destination', 'destination_type', 'routing_key', 'arguments'];
    t.same(sortBy(pick(out.bindings.filter((x: { source: string }) => ['dlx', 'hdr', 'orders', 'unrouted'].includes(x.source)), bkeys)), sortBy(pick(mine.bindings, bkeys)), 'bindings');
    // the imported policy and operator policy apply to the imported queues
    const q = (await http(b, 'GET', '/api/queues/%2F/orders.in')).body;
    t.match(q, { policy: 'dlx', operator_policy: 'cap', effective_policy_definition: { 'dead-letter-exchange': 'dlx', 'max-length': 100000, 'message-ttl': 60000, 'max-length-bytes': 1073741824 } });
  });

  t.test('overview: rates and samples', async (t) => {
    const o = (await http(b, 'GET', '/api/overview?msg_rates_age=60&msg_rates_incr=5&lengths_age=60&lengths_incr=5')).body;
    t.match(o, {
      object_totals: { queues: Number, connections: Number }, queue_totals: { messages: Number, messages_details: { rate: Number, samples: Array } },
      message_stats: { publish: Number, publish_details: { rate: Number, samples: Array }, deliver_get: Number, ack: Number, get_empty: Number },
      churn_rates: { connection_created: Number, queue_declared_details: { rate: Number } },
      listeners: [{ protocol: 'amqp', port: b.port }, { protocol: 'http', port: b.httpPort }],
    });
    t.ok(o.message_stats.publish_details.samples.length >= 1);
    t.match(o.message_stats.publish_details.samples[0], { sample: Number, timestamp: Number });
    t.equal((await http(b, 'GET', '/api/nodes/' + enc(o.node))).body.name, o.node);
    t.same((await http(b, 'GET', '/api/extensions')).body, []);
  });
});
