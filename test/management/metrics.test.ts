// Prometheus metrics as RabbitMQ's rabbitmq_prometheus names them: the global counters follow
// known amqplib traffic exactly, the three endpoints (aggregated, per-object, detailed) have
// RabbitMQ's shapes, and every metric a RabbitMQ 3.10.8 node serves is served by Warren too,
// except the ones listed in NOT_PROVIDED (docs/monitoring.md says why).
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, startBroker } from '../helpers/broker';
import { confirmChannel, connect, channel, sleep, uniq } from '../helpers/amqp';
import { RawStreamClient, publishChunks } from '../helpers/stream-raw';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'rabbitmq-3.10-metrics');

// Erlang VM, Raft, Mnesia, file I/O internals, and figures Warren's design has no counterpart for.
const NOT_PROVIDED = [
  /^rabbitmq_erlang_/, /^erlang_/, /^rabbitmq_raft_/, /^rabbitmq_io_/, /^rabbitmq_schema_db_/, /^rabbitmq_msg_store_/,
  /^rabbitmq_queue_index_/, /^telemetry_/, /^rabbitmq_auth_attempts_/, /_process_reductions_total$/, /^rabbitmq_queue_process_memory_bytes$/,
  /^rabbitmq_queue_messages_(ram|ready_ram|unacked_ram|ram_bytes|paged_out|paged_out_bytes|persistent|persistent_bytes|bytes|unacked_bytes)$/,
  /^rabbitmq_queue_disk_(reads|writes)_total$/, /^rabbitmq_queue_consumer_(capacity|utilisation)$/, /^rabbitmq_queue_head_message_timestamp$/,
  /^rabbitmq_connection_(incoming|outgoing)_packets_total$/, /^rabbitmq_connection_pending_packets$/,
  /^rabbitmq_channel_(acks|messages)_uncommitted$/, /^rabbitmq_global_messages_dead_lettered_confirmed_total$/,
  /^process_/, /^prometheus_/, /^mnesia_/, /^ra_/,
];

function families(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]));
}

function value(text: string, name: string, labelPart = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    if (labelPart && !rest.includes(labelPart)) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

t.test('prometheus metrics', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const base = `http://127.0.0.1:${b.httpPort}`;
  const scrape = async (p: string) => {
    const res = await fetch(base + p);
    t.equal(res.status, 200, `${p} answers without authentication`);
    t.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  const c = await connect(b.url);
  t.teardown(() => c.close().catch(() => undefined));
  const q = uniq('m');
  const ch = await confirmChannel(c);
  await ch.assertQueue(q, { durable: false });
  // 5 confirmed publishes of 50, 500, 5000, 50000 and 150 bytes
  for (const n of [50, 500, 5000, 50000, 150]) ch.sendToQueue(q, Buffer.alloc(n));
  await ch.waitForConfirms();
  // an unroutable mandatory publish (returned) and a non-mandatory one (dropped)
  const plain = await channel(c);
  const returned = new Promise((r) => plain.once('return', r));
  plain.publish('amq.direct', 'nowhere', Buffer.from('r'), { mandatory: true });
  plain.publish('amq.direct', 'nowhere', Buffer.from('d'));
  await returned;
  // get with manual ack, nack it back (redelivered next time), get auto-ack, consume the rest
  const g1 = await plain.get(q, { noAck: false });
  t.ok(g1);
  plain.nack(g1 as never, false, true);
  t.ok(await plain.get(q, { noAck: true }));
  const seen: number[] = [];
  await plain.consume(q, (m) => { if (m) { seen.push(1); plain.ack(m); } }, { noAck: false });
  for (let i = 0; i < 100 && seen.length < 4; i++) await sleep(10);
  t.equal(seen.length, 4);
  const doomed = await channel(c);
  t.equal(await doomed.get(uniq('none')).catch(() => 'closed'), 'closed', 'basic.get on a missing queue closes the channel');
  const ch2 = await channel(c);
  const eq = uniq('empty');
  await ch2.assertQueue(eq, { durable: false });
  t.equal(await ch2.get(eq), false, 'get-empty');
  await sleep(50);

  t.test('/metrics: aggregated, with the global counters following the traffic', async (t) => {
    const text = await scrape('/metrics');
    const g = (name: string) => value(text, `rabbitmq_global_messages_${name}_total`);
    t.equal(g('received'), 7, 'received: 5 + returned + dropped');
    t.equal(g('received_confirm'), 5);
    t.equal(g('confirmed'), 5);
    t.equal(g('routed'), 5);
    t.equal(g('unroutable_returned'), 1);
    t.equal(g('unroutable_dropped'), 1);
    t.equal(g('delivered_get_manual_ack'), 1);
    t.equal(g('delivered_get_auto_ack'), 1);
    t.equal(g('delivered_consume_manual_ack'), 4);
    t.equal(g('delivered_consume_auto_ack'), 0);
    t.equal(g('delivered'), 6);
    t.equal(g('redelivered'), 1, 'the nacked message came back redelivered');
    t.equal(g('acknowledged'), 4);
    t.equal(g('get_empty'), 1);
    t.match(text, /\nrabbitmq_global_messages_received_total\{protocol="amqp091"\} 7\n/);
    t.match(text, /\nrabbitmq_global_consumers\{protocol="amqp091"\} 1\n/);
    t.match(text, /\nrabbitmq_global_publishers\{protocol="amqp091"\} 1\n/);
    // message sizes: 1 (<=100: 50 and the two 1-byte publishes) ... cumulative buckets
    t.equal(value(text, 'rabbitmq_global_message_size_bytes_bucket', 'le="100"'), 3);
    t.equal(value(text, 'rabbitmq_global_message_size_bytes_bucket', 'le="1000"'), 5);
    t.equal(value(text, 'rabbitmq_global_message_size_bytes_bucket', 'le="10000"'), 6);
    t.equal(value(text, 'rabbitmq_global_message_size_bytes_bucket', 'le="+Inf"'), 7);
    t.equal(value(text, 'rabbitmq_global_message_size_bytes_count'), 7);
    t.equal(value(text, 'rabbitmq_global_message_size_bytes_sum'), 50 + 500 + 5000 + 50000 + 150 + 2);
    // churn
    t.equal(value(text, 'rabbitmq_connections_opened_total'), 1);
    t.equal(value(text, 'rabbitmq_channels_opened_total'), 4);
    t.equal(value(text, 'rabbitmq_channels_closed_total'), 1, 'the channel closed by the failed get');
    t.equal(value(text, 'rabbitmq_queues_declared_total'), 2);
    t.equal(value(text, 'rabbitmq_queues_created_total'), 2);
    t.equal(value(text, 'rabbitmq_queues_deleted_total'), 0);
    // aggregated queue figures carry no labels
    t.equal(value(text, 'rabbitmq_queue_messages_ready'), 0);
    t.equal(value(text, 'rabbitmq_queue_messages_published_total'), 5);
    t.equal(value(text, 'rabbitmq_queue_consumers'), 1);
    t.equal(value(text, 'rabbitmq_queues'), 2);
    t.equal(value(text, 'rabbitmq_connections'), 1);
    t.equal(value(text, 'rabbitmq_channels'), 3);
    t.equal(value(text, 'rabbitmq_channel_messages_published_total'), 7);
    t.notMatch(text, /\nrabbitmq_queue_messages_ready\{/);
    t.match(text, /\nrabbitmq_identity_info\{rabbitmq_node="warren@[^"]+",rabbitmq_cluster="[^"]+",rabbitmq_cluster_permanent_id="warren-cluster-id-[^"]+"\} 1\n/);
    t.match(text, /\nrabbitmq_build_info\{rabbitmq_version="[^"]+",prometheus_plugin_version="[^"]+",prometheus_client_version="[^"]+",erlang_version="nodejs-[^"]+"\} 1\n/);
    for (const n of ['rabbitmq_process_open_fds', 'rabbitmq_process_max_fds', 'rabbitmq_process_resident_memory_bytes', 'rabbitmq_resident_memory_limit_bytes', 'rabbitmq_disk_space_available_bytes']) {
      t.ok((value(text, n) ?? 0) > 0, `${n} > 0`);
    }
    // valid exposition: every sample line is "name{labels} value" or "name value"
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? (-?[0-9.e+]+|\+Inf|NaN)$/.test(line)) t.fail(`bad sample line: ${line}`);
    }
  });

  t.test('every RabbitMQ 3.10 metric is there, but for the documented exceptions', async (t) => {
    const ours = families(await scrape('/metrics'));
    const theirs = families(fs.readFileSync(path.join(FIXTURES, 'aggregated.txt'), 'utf8'));
    const missing = [...theirs].filter((n) => !ours.has(n) && !NOT_PROVIDED.some((re) => re.test(n)));
    t.same(missing, [], 'no metric of RabbitMQ 3.10 missing beyond the documented ones');
    const stream = families(fs.readFileSync(path.join(FIXTURES, 'stream-plugin.txt'), 'utf8'));
    const extra = [...ours].filter((n) => !theirs.has(n) && !stream.has(n) && !n.startsWith('warren_') && !n.startsWith('process_'));
    t.same(extra, ['rabbitmq_global_message_size_bytes'], 'extras are warren_* (and RabbitMQ 4\'s message-size histogram)');
  });

  t.test('/metrics/per-object: one sample per queue, channel and connection', async (t) => {
    const text = await scrape('/metrics/per-object');
    t.match(text, `\nrabbitmq_queue_messages_ready{vhost="/",queue="${q}"} 0\n`);
    t.match(text, `\nrabbitmq_queue_messages_published_total{vhost="/",queue="${q}"} 5\n`);
    t.match(text, `\nrabbitmq_queue_consumers{vhost="/",queue="${q}"} 1\n`);
    t.match(text, `\nrabbitmq_queue_consumers{vhost="/",queue="${eq}"} 0\n`);
    t.match(text, /\nrabbitmq_channel_consumers\{channel="[^"]+ \(\d+\)"\} 1\n/);
    t.match(text, /\nrabbitmq_connection_channels\{channel="[^"]+"\} 3\n/);
    t.match(text, /\nrabbitmq_global_messages_received_total\{protocol="amqp091"\} 7\n/);
  });

  t.test('/metrics/detailed: only the families asked for, filtered by vhost', async (t) => {
    t.equal((await scrape('/metrics/detailed')).trim(), '', 'nothing without a family');
    const text = await scrape('/metrics/detailed?family=queue_coarse_metrics&family=connection_churn_metrics');
    t.match(text, `\nrabbitmq_detailed_queue_messages_ready{vhost="/",queue="${q}"} 0\n`);
    t.match(text, /\nrabbitmq_detailed_connections_opened_total 1\n/);
    t.notMatch(text, /rabbitmq_detailed_queue_consumers/);
    t.notMatch(text, /rabbitmq_global_/);
    const other = await scrape('/metrics/detailed?family=queue_consumer_count&vhost=no-such-vhost');
    t.notMatch(other, /\nrabbitmq_detailed_queue_consumers\{/, 'no queue of another vhost');
    const cc = await scrape('/metrics/detailed?family=queue_consumer_count&vhost=%2F');
    t.match(cc, `rabbitmq_detailed_queue_consumers{vhost="/",queue="${q}"} 1\n`);
  });

  t.test('churn counters follow connections closing and queues deleted', async (t) => {
    const c2 = await connect(b.url);
    const x = await c2.createChannel();
    await x.assertQueue(uniq('gone'), { exclusive: true });
    await c2.close();
    await sleep(50);
    const text = await scrape('/metrics');
    t.equal(value(text, 'rabbitmq_connections_opened_total'), 2);
    t.equal(value(text, 'rabbitmq_connections_closed_total'), 1);
    t.equal(value(text, 'rabbitmq_queues_deleted_total'), 1, 'the exclusive queue went with its connection');
  });
});

t.test('warren_store_bytes_written_total follows persistent messages to disk', async (t) => {
  const b = await startBroker({ logLevel: 'warning' });
  t.teardown(() => b.stop());
  const metric = async () => value(await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text(), 'warren_store_bytes_written_total') ?? -1;
  const before = await metric();
  t.ok(before >= 0, `exported (${before} at start)`);
  const c = await connect(b.url);
  const ch = await confirmChannel(c);
  const q = uniq('written');
  await ch.assertQueue(q, { durable: true });
  for (let i = 0; i < 20; i++) ch.sendToQueue(q, Buffer.alloc(1000, i), { persistent: true });
  await ch.waitForConfirms();
  await c.close();
  const after = await metric();
  t.ok(after - before >= 20 * 1000, `grew by ${after - before} bytes for 20 confirmed persistent messages of 1,000 bytes`);
});

// stream-plugin.txt: the families with a protocol="stream" sample that a RabbitMQ 3.10.8 node with
// rabbitmq_stream and rabbitmq_prometheus serves (its /metrics, those families' lines only).
t.test('the Stream protocol\'s metrics: RabbitMQ 3.10\'s stream plugin families, following the traffic', async (t) => {
  const b = await startBroker({ logLevel: 'warning', stream: true });
  t.teardown(() => b.stop());
  const scrape = async () => (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
  const fixture = fs.readFileSync(path.join(FIXTURES, 'stream-plugin.txt'), 'utf8');
  let text = await scrape();
  for (const line of fixture.split('\n')) {
    if (line.startsWith('# HELP ')) t.ok(text.includes(line), `${line.split(' ')[2]}: family with RabbitMQ's help text`);
    else if (line !== '' && !line.startsWith('#')) {
      const series = line.slice(0, line.lastIndexOf(' '));
      t.ok(text.split('\n').some((l) => l.startsWith(series + ' ')), `${series} is served`);
    }
  }

  const r = await RawStreamClient.open(b.streamPort);
  t.teardown(() => r.close());
  const s = uniq('metrics.stream');
  t.equal((await r.request(0x0d, (w) => w.string(s).i32(0))).body.readUInt16BE(4), 1);
  t.equal((await r.request(0x0d, (w) => w.string(s).i32(0))).body.readUInt16BE(4), 5, 'created twice: stream already exists');
  await publishChunks(r, s, 4);
  t.equal((await r.request(0x07, (w) => w.u8(1).string('no-such-stream').u16(1).u16(1).i32(0))).body.readUInt16BE(4), 2, 'subscribe to a missing stream');
  t.equal((await r.request(0x07, (w) => w.u8(1).string(s).u16(1).u16(1).i32(0))).body.readUInt16BE(4), 1, 'subscribed');
  await r.next((f) => f.key === 0x08);
  text = await scrape();
  const st = '{protocol="stream"}';
  t.equal(value(text, 'rabbitmq_global_messages_received_total', st), 4);
  t.equal(value(text, 'rabbitmq_global_messages_received_confirm_total', st), 4);
  t.equal(value(text, 'rabbitmq_global_messages_confirmed_total', st), 4);
  t.equal(value(text, 'rabbitmq_global_publishers', st), 1);
  t.equal(value(text, 'rabbitmq_global_consumers', st), 1);
  t.equal(value(text, 'rabbitmq_global_consumers', '{protocol="amqp091"}'), 0, 'not counted as an AMQP consumer');
  t.equal(value(text, 'rabbitmq_global_stream_error_stream_already_exists_total', st), 1);
  t.equal(value(text, 'rabbitmq_global_stream_error_stream_does_not_exist_total', st), 1);
  t.equal(value(text, 'rabbitmq_global_messages_delivered_total', '{protocol="stream",queue_type="rabbit_stream_queue"}'), 1, 'one chunk of one message delivered (credit 1)');
  t.equal(value(text, 'rabbitmq_connections'), 1, 'the Stream connection is a connection');
  t.equal(value(text, 'rabbitmq_consumers'), 1);
});
