// Validation at the door (issue 11): names and arguments that Warren would later have to send as
// a shortstr (at most 255 bytes) are refused when declared, over AMQP with 406 and over HTTP
// with 400, while a consumer on the same broker keeps receiving. Before, a queue declared with
// a 300-byte x-dead-letter-routing-key (a legal longstr) was accepted, and the first message that
// expired into its dead-letter queue killed the broker in writeBasicDeliver.
import t, { type Test } from 'tap';
import type * as amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { channel, channelErrorCode, connect, sleep, uniq, waitFor } from '../helpers/amqp';

const GUEST = 'Basic ' + Buffer.from('guest:guest').toString('base64');

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON from the HTTP API, checked field by field
type Json = any;
async function http(b: RunningBroker, method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`http://127.0.0.1:${b.httpPort}${path}`, {
    method, headers: { authorization: GUEST, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
}

t.test('names and arguments over 255 bytes are refused when declared', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));

  // A consumer that must keep receiving through everything below.
  const live = uniq('live');
  const consumerCh = await channel(c);
  await consumerCh.assertQueue(live, { durable: false });
  const got: string[] = [];
  await consumerCh.consume(live, (m) => { if (m) got.push(m.content.toString()); }, { noAck: true });
  // The dead-letter queue of the scenario, also with a consumer attached.
  const dlq = uniq('dlq');
  await consumerCh.assertQueue(dlq, { durable: true });
  await consumerCh.bindQueue(dlq, 'amq.fanout', '');
  const dead: amqp.ConsumeMessage[] = [];
  await consumerCh.consume(dlq, (m) => { if (m) dead.push(m); }, { noAck: true });
  const stillServing = async (t: Test, label: string) => {
    const pub = await channel(c);
    pub.sendToQueue(live, Buffer.from(label));
    t.ok(await waitFor(() => got.includes(label)), `the consumer still receives (${label})`);
    await pub.close();
  };

  t.test('AMQP: the issue scenario, a durable queue with a 300-byte x-dead-letter-routing-key and a TTL', async (t) => {
    const q = uniq('poison-src');
    const rk = 'k'.repeat(300);
    const r = await channelErrorCode(c, (ch) => ch.assertQueue(q, { durable: true, arguments: {
      'x-message-ttl': 50, 'x-dead-letter-exchange': 'amq.fanout', 'x-dead-letter-routing-key': rk } }));
    t.equal(r.code, 406);
    t.match(r.message, `PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue '${q}' in vhost '/': {value_too_long,300,255}`);
    // Had the declare been accepted, this message would expire into the dead-letter queue.
    const pub = await channel(c);
    pub.sendToQueue(q, Buffer.from('would-expire'), { persistent: true });
    await sleep(300);
    t.equal(dead.length, 0, 'nothing reached the dead-letter queue');
    await stillServing(t, 'after-dlrk');
  });

  t.test('AMQP: x-dead-letter-exchange and alternate-exchange over 255 bytes', async (t) => {
    const long = 'x'.repeat(256);
    const r1 = await channelErrorCode(c, (ch) => ch.assertQueue(uniq('q'), { durable: false, arguments: { 'x-dead-letter-exchange': long } }));
    t.equal(r1.code, 406);
    t.match(r1.message, /invalid arg 'x-dead-letter-exchange' for queue '.*' in vhost '\/': \{value_too_long,256,255\}/);
    const xname = uniq('ae-x');
    const r2 = await channelErrorCode(c, (ch) => ch.assertExchange(xname, 'direct', { durable: true, alternateExchange: long }));
    t.equal(r2.code, 406);
    t.match(r2.message, `invalid arg 'alternate-exchange' for exchange '${xname}' in vhost '/': {value_too_long,256,255}`);
    // Bytes count, not characters: 128 two-byte characters are 256 bytes.
    const r3 = await channelErrorCode(c, (ch) => ch.assertQueue(uniq('q'), { arguments: { 'x-dead-letter-exchange': 'amq.direct', 'x-dead-letter-routing-key': 'é'.repeat(128) } }));
    t.equal(r3.code, 406, '128 x é = 256 bytes');
    t.equal((await channelErrorCode(c, (ch) => ch.assertQueue(uniq('q'), { exclusive: true, arguments: {
      'x-dead-letter-exchange': 'd'.repeat(255), 'x-dead-letter-routing-key': 'é'.repeat(127) } }))).code, null, '255 bytes are fine');
    await stillServing(t, 'after-args');
  });

  t.test('HTTP: queue, exchange and binding names, and arguments, over 255 bytes: 400', async (t) => {
    const q300 = 'q'.repeat(300);
    let r = await http(b, 'PUT', `/api/queues/%2F/${q300}`, { durable: true });
    t.equal(r.status, 400);
    t.same(r.body, { error: 'bad_request', reason: 'queue should be less than 255 bytes, actually was 300' });
    r = await http(b, 'PUT', `/api/queues/%2F/${'q'.repeat(10000)}`, { durable: true });
    t.equal(r.status, 400, 'a 10,000-character queue name');
    r = await http(b, 'PUT', `/api/exchanges/%2F/${'e'.repeat(10000)}`, { type: 'direct', durable: true });
    t.equal(r.status, 400, 'a 10,000-character exchange name');
    t.equal(r.body.reason, 'exchange should be less than 255 bytes, actually was 10000');
    r = await http(b, 'PUT', `/api/queues/%2F/${'q'.repeat(255)}`, { durable: false });
    t.equal(r.status, 201, '255 bytes are fine');
    r = await http(b, 'POST', `/api/bindings/%2F/e/amq.direct/q/${live}`, { routing_key: 'r'.repeat(256) });
    t.equal(r.status, 400);
    t.equal(r.body.reason, 'routing_key should be less than 255 bytes, actually was 256');
    const q = uniq('http-dlrk');
    r = await http(b, 'PUT', `/api/queues/%2F/${q}`, { durable: true, arguments: { 'x-dead-letter-exchange': 'amq.fanout', 'x-dead-letter-routing-key': 'k'.repeat(300) } });
    t.equal(r.status, 400);
    t.equal(r.body.reason, `invalid arg 'x-dead-letter-routing-key' for queue '${q}' in vhost '/': {value_too_long,300,255}`);
    r = await http(b, 'PUT', `/api/exchanges/%2F/${uniq('x')}`, { type: 'fanout', arguments: { 'alternate-exchange': 'a'.repeat(300) } });
    t.equal(r.status, 400);
    r = await http(b, 'POST', '/api/definitions', { queues: [{ name: 'i'.repeat(300), vhost: '/', durable: true, auto_delete: false, arguments: {} }] });
    t.equal(r.status, 400, 'imported definitions are checked too');
    t.match(r.body.reason, /queue should be less than 255 bytes, actually was 300/);
    const names = (await http(b, 'GET', '/api/queues/%2F')).body.map((x: { name: string }) => x.name);
    t.notOk(names.some((n: string) => n.length > 255), 'no queue over 255 bytes exists');
    await stillServing(t, 'after-http');
  });
});
