// The Stream protocol in the management API (RabbitMQ's rabbitmq_stream_management shapes, whose
// fields were compared with RabbitMQ 3.10.8): /api/stream/connections, publishers and consumers,
// and Stream connections and subscriptions in /api/connections, /api/consumers and a queue's
// consumer details. Driven with rabbitmq-stream-js-client and amqplib, unmodified.
import t from 'tap';
import * as rabbit from 'rabbitmq-stream-js-client';
import { startBroker, type RunningBroker } from '../helpers/broker';
import { connect, sleep, uniq, waitFor } from '../helpers/amqp';
import { streamClients } from '../helpers/stream-client';
import { api, enc } from '../helpers/http';
import { RawStreamClient } from '../helpers/stream-raw';

let b: RunningBroker;
const clients = streamClients(() => b.streamPort);
const open = clients.open;
t.before(async () => {
  b = await startBroker({ logLevel: 'info', stream: true });
});
t.teardown(async () => {
  await clients.closeAll();
  await b.stop();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON rows
type Row = any;

t.test('stream connections, publishers and consumers as RabbitMQ\'s management shows them', async (t) => {
  const s = uniq('mgmt.stream');
  const client = await open();
  await client.createStream({ stream: s, arguments: {} });
  const pub = await client.declarePublisher({ stream: s, publisherRef: 'invoicer' });
  let confirmed = 0;
  pub.on('publish_confirm', (err, ids) => { if (err === null) confirmed += ids.length; });
  for (let i = 0; i < 20; i++) await pub.send(Buffer.from(`m${i}`));
  await pub.flush();
  t.ok(await waitFor(() => confirmed === 20, 5000));
  let got = 0;
  await client.declareConsumer({ stream: s, offset: rabbit.Offset.first(), consumerTag: 'reader' }, () => { got++; });
  t.ok(await waitFor(() => got === 20, 5000));
  const amqp = await connect(b.url);
  t.teardown(() => amqp.close().catch(() => undefined));

  // the client keeps a connection for locating streams, one for its publishers, one for its consumers
  const conns = (await api(b, 'GET', '/api/stream/connections')).body as Row[];
  t.ok(conns.length >= 1, `${conns.length} Stream connection(s)`);
  for (const c of conns) t.match(c, { protocol: 'stream', vhost: '/', user: 'guest', state: 'running', auth_mechanism: 'PLAIN', channels: 0 });

  const pubs = (await api(b, 'GET', `/api/stream/publishers/%2F/${enc(s)}`)).body as Row[];
  t.equal(pubs.length, 1);
  t.match(pubs[0], { queue: { name: s, vhost: '/' }, reference: 'invoicer', published: 20, confirmed: 20, errored: 0, connection_details: { user: 'guest' } });
  t.same((await api(b, 'GET', '/api/stream/publishers/%2F/other')).body, [], 'none on another stream');
  const pc = conns.find((c) => c.name === pubs[0].connection_details.name);
  t.ok(pc !== undefined && pc.recv_oct > 0 && pc.send_oct > 0, 'the publisher\'s connection, with bytes both ways');
  t.same((await api(b, 'GET', `/api/stream/connections/%2F/${enc(pc.name)}/publishers`)).body.map((p: Row) => p.reference), ['invoicer']);

  const cons = (await api(b, 'GET', '/api/stream/consumers/%2F')).body as Row[];
  t.equal(cons.length, 1);
  t.match(cons[0], { queue: { name: s, vhost: '/' }, consumed: 20, offset_lag: 0, properties: { identifier: 'reader' } });
  t.equal(typeof cons[0].subscription_id, 'number');
  const cc = cons[0].connection_details.name;
  t.same((await api(b, 'GET', `/api/stream/connections/%2F/${enc(cc)}/consumers`)).body, cons, 'the same through its connection');

  const all = (await api(b, 'GET', '/api/connections')).body as Row[];
  t.same(all.filter((c) => c.protocol === 'stream').map((c) => c.name).sort(), conns.map((c) => c.name).sort(), '/api/connections lists the Stream connections');
  t.equal(all.filter((c) => c.protocol === 'AMQP 0-9-1').length, 1, 'beside the AMQP one');
  t.equal((await api(b, 'GET', `/api/connections/${enc(cc)}`)).body.protocol, 'stream', 'and finds a Stream one by name');
  t.same((await api(b, 'GET', `/api/connections/${enc(cc)}/channels`)).body, [], 'with no channels (the console\'s connection page asks)');
  t.equal((await api(b, 'GET', '/api/overview')).body.object_totals.connections, conns.length + 1);

  const tag = `stream.subid-${cons[0].subscription_id}`;
  const consumers = (await api(b, 'GET', '/api/consumers')).body as Row[];
  t.match(consumers.find((c) => c.consumer_tag === tag), { queue: { name: s }, ack_required: false, active: true, activity_status: 'up', channel_details: { connection_name: cc, number: 0 } }, '/api/consumers has the subscription');
  const q = (await api(b, 'GET', `/api/queues/%2F/${enc(s)}`)).body;
  t.equal(q.consumers, 1, 'the stream counts it as a consumer');
  t.same(q.consumer_details.map((c: Row) => c.consumer_tag), [tag]);
});

t.test('single active consumers show which one is active', async (t) => {
  const s = uniq('mgmt.sac');
  const c1 = await open();
  const c2 = await open();
  await c1.createStream({ stream: s, arguments: {} });
  await c1.declareConsumer({ stream: s, offset: rabbit.Offset.first(), singleActive: true, consumerRef: 'g' }, () => undefined);
  await c2.declareConsumer({ stream: s, offset: rabbit.Offset.first(), singleActive: true, consumerRef: 'g' }, () => undefined);
  let rows: Row[] = [];
  for (let k = 0; k < 100 && rows.length < 2; k++) {
    rows = ((await api(b, 'GET', '/api/stream/consumers')).body as Row[]).filter((x) => x.queue.name === s);
    if (rows.length < 2) await sleep(20);
  }
  t.equal(rows.length, 2, 'two subscriptions');
  t.same(rows.map((x) => x.activity_status).sort(), ['single_active', 'waiting']);
  const details = (await api(b, 'GET', `/api/queues/%2F/${enc(s)}`)).body.consumer_details as Row[];
  t.same(details.map((x) => [x.active, x.activity_status]).sort(), [[false, 'waiting'], [true, 'single_active']]);
});

t.test('DELETE closes a Stream connection', async (t) => {
  const raw = await RawStreamClient.open(b.streamPort);
  t.teardown(() => raw.close());
  const mine = `${raw.socket.localAddress}:${raw.socket.localPort}`;
  const row = ((await api(b, 'GET', '/api/stream/connections')).body as Row[]).find((x) => x.peer_port === raw.socket.localPort);
  t.ok(row !== undefined, `listed (${mine})`);
  t.equal((await api(b, 'DELETE', `/api/stream/connections/%2F/${enc(row.name)}`)).status, 204);
  const close = await raw.next((f) => f.key === 0x16);
  const cr = close.reader();
  cr.u32();
  t.equal(cr.u16(), 1, 'the client gets a close');
  t.ok(await raw.closedByServer(), 'and the connection goes');
  t.equal((await api(b, 'GET', `/api/stream/connections/%2F/${enc(row.name)}`)).status, 404);
  t.ok(b.logs.some((l) => l.includes(`closing Stream connection ${row.name}`)), 'the close is logged');
});
