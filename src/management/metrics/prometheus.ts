// Prometheus metrics named as RabbitMQ 3.10's rabbitmq_prometheus plugin names them, on the
// same three endpoints (no authentication, as there):
//   /metrics              aggregated: per-queue/channel/connection metrics summed, no labels
//   /metrics/per-object   the same metrics, one sample per queue {vhost,queue}, channel and
//                         connection {channel}
//   /metrics/detailed     only the requested families (?family=queue_coarse_metrics&...),
//                         prefixed rabbitmq_detailed_, queue families filtered by ?vhost=
// Global counters (rabbitmq_global_*), churn counters, identity and build info, process and
// disk figures are in /metrics and /metrics/per-object. Warren's own figures are warren_*.
// test/fixtures/rabbitmq-3.10-metrics/ holds what a RabbitMQ 3.10.8 node serves, to compare.
import * as v8 from 'node:v8';
import { storeStats, tailCacheBytes, writeBufferBytes } from '../../store';
import { authMetricLines } from '../../broker/auth/mechanisms';
import type { Queue } from '../../broker/queue';
import type { Connection } from '../../server/connection';
import { counters, deadLettered, MESSAGE_SIZE_BUCKETS, messageSizes } from '../../broker/counters';
import { VERSION } from '../../server/server';
import type { ManagementContext } from '../api/context';
import { type MetricType, Writer, labels } from './writer';
import { STREAM_ERROR_COUNTERS, streamCounters } from '../../stream/stream-counters';
import { writeCluster } from './cluster';
import { type ChannelRow, type Snapshot, maxFds, openFds, snapshot } from './sources';

interface ObjectMetric<T> { name: string; type: MetricType; help: string; family: string; value(o: T): number }

const QUEUE_METRICS: Array<ObjectMetric<Queue>> = [
  { name: 'queue_messages_ready', type: 'gauge', help: 'Messages ready to be delivered to consumers', family: 'queue_coarse_metrics', value: (q) => q.messageCount },
  { name: 'queue_messages_unacked', type: 'gauge', help: 'Messages delivered to consumers but not yet acknowledged', family: 'queue_coarse_metrics', value: (q) => q.unackedCount },
  { name: 'queue_messages', type: 'gauge', help: 'Sum of ready and unacknowledged messages - total queue depth', family: 'queue_coarse_metrics', value: (q) => q.messageCount + q.unackedCount },
  { name: 'queue_consumers', type: 'gauge', help: 'Consumers on a queue', family: 'queue_consumer_count', value: (q) => q.consumerCount },
  { name: 'queue_messages_ready_bytes', type: 'gauge', help: 'Size in bytes of ready messages (message bodies; approximate after a restart)', family: 'queue_metrics', value: (q) => q.readyBytes },
  { name: 'queue_messages_published_total', type: 'counter', help: 'Total number of messages published to queues', family: 'queue_metrics', value: (q) => q.publishCount },
];

const CHANNEL_METRICS: Array<ObjectMetric<ChannelRow>> = [
  { name: 'channel_consumers', type: 'gauge', help: 'Consumers on a channel', family: 'channel_metrics', value: (c) => c.ch.info.consumers },
  { name: 'channel_messages_unacked', type: 'gauge', help: 'Delivered but not yet acknowledged messages', family: 'channel_metrics', value: (c) => c.ch.info.unacked },
  { name: 'consumer_prefetch', type: 'gauge', help: 'Limit of unacknowledged messages for each consumer', family: 'channel_metrics', value: (c) => c.ch.info.prefetch },
  { name: 'channel_prefetch', type: 'gauge', help: 'Total limit of unacknowledged messages for all consumers on a channel', family: 'channel_metrics', value: (c) => c.ch.info.globalPrefetch },
];

const CONNECTION_METRICS: Array<ObjectMetric<Connection>> = [
  { name: 'connection_incoming_bytes_total', type: 'counter', help: 'Total number of bytes received on a connection', family: 'connection_coarse_metrics', value: (c) => c.socket.bytesRead },
  { name: 'connection_outgoing_bytes_total', type: 'counter', help: 'Total number of bytes sent on a connection', family: 'connection_coarse_metrics', value: (c) => c.socket.bytesWritten },
  { name: 'connection_channels', type: 'gauge', help: 'Channels on a connection', family: 'connection_metrics', value: (c) => c.channelCount },
];

const CHURN: Array<[string, string, () => number]> = [
  ['connections_opened_total', 'Total number of connections opened', () => counters.connectionsOpened],
  ['connections_closed_total', 'Total number of connections closed or terminated', () => counters.connectionsClosed],
  ['channels_opened_total', 'Total number of channels opened', () => counters.channelsOpened],
  ['channels_closed_total', 'Total number of channels closed', () => counters.channelsClosed],
  ['queues_declared_total', 'Total number of queues declared', () => counters.queuesDeclared],
  ['queues_created_total', 'Total number of queues created', () => counters.queuesCreated],
  ['queues_deleted_total', 'Total number of queues deleted', () => counters.queuesDeleted],
];

type Mode = 'aggregated' | 'per-object';

export type Sink = (chunk: string) => Promise<void>;

// Without a sink, the text; with one, the text goes to the sink in pieces and '' is returned.
export async function renderMetrics(ctx: ManagementContext, mode: Mode = 'aggregated', sink: Sink | null = null): Promise<string> {
  const s = snapshot(ctx);
  const w = new Writer(sink);
  w.one('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.', Math.round(Date.now() / 1000 - process.uptime()));
  writeAlarms(w, ctx);
  for (const [name, help, v] of CHURN) w.one(`rabbitmq_${name}`, 'counter', help, v());
  writeProcess(w, ctx, s);
  const perObject = mode === 'per-object';
  await writeObjects(w, 'rabbitmq_', QUEUE_METRICS, s.queues.map((r) => r.q), perObject ? queueLabels(s) : null);
  await writeObjects(w, 'rabbitmq_', CHANNEL_METRICS, s.channels, perObject ? s.channels.map((c) => labels({ channel: c.name })) : null);
  writeChannelCounters(w);
  await writeObjects(w, 'rabbitmq_', CONNECTION_METRICS, s.connections, perObject ? s.connections.map((c) => labels({ channel: c.name })) : null);
  w.one('rabbitmq_connections', 'gauge', 'Connections currently open', s.connections.length + s.stream.connections);
  w.one('rabbitmq_channels', 'gauge', 'Channels currently open', s.channels.length);
  w.one('rabbitmq_consumers', 'gauge', 'Consumers currently connected', s.consumers);
  w.one('rabbitmq_queues', 'gauge', 'Queues available', s.queues.length);
  writeIdentity(w, ctx);
  writeGlobal(w, s);
  writeWarren(w, ctx, s);
  return w.finish();
}

// /metrics/detailed?family=...&vhost=...: only what is asked for (nothing when no family is).
export async function renderDetailed(ctx: ManagementContext, query: URLSearchParams, sink: Sink | null = null): Promise<string> {
  const families = new Set(query.getAll('family'));
  const vhostFilter = query.getAll('vhost');
  const s = snapshot(ctx, vhostFilter.length > 0 ? new Set(vhostFilter) : undefined);
  const w = new Writer(sink);
  if (families.has('connection_churn_metrics')) {
    for (const [name, help, v] of CHURN) w.one(`rabbitmq_detailed_${name}`, 'counter', help, v());
  }
  const pick = <T>(ms: Array<ObjectMetric<T>>) => ms.filter((m) => families.has(m.family));
  await writeObjects(w, 'rabbitmq_detailed_', pick(QUEUE_METRICS), s.queues.map((r) => r.q), queueLabels(s));
  await writeObjects(w, 'rabbitmq_detailed_', pick(CHANNEL_METRICS), s.channels, s.channels.map((c) => labels({ channel: c.name })));
  await writeObjects(w, 'rabbitmq_detailed_', pick(CONNECTION_METRICS), s.connections, s.connections.map((c) => labels({ channel: c.name })));
  if (families.has('identity_info')) writeIdentity(w, ctx, 'rabbitmq_detailed_');
  return w.finish();
}

function queueLabels(s: Snapshot): string[] {
  return s.queues.map((r) => {
    let l = queueLabelCache.get(r.q);
    if (l === undefined) queueLabelCache.set(r.q, l = labels({ vhost: r.vhost, queue: r.q.name }));
    return l;
  });
}

// One family per metric: summed without labels, or one sample per object. Per-object samples
// are built 1,000 objects at a time with a checkpoint in between (10,000 queues make 60,000
// lines: streamed, the scrape never holds the event loop for long).
async function writeObjects<T>(w: Writer, prefix: string, metrics: Array<ObjectMetric<T>>, objects: T[], objLabels: string[] | null): Promise<void> {
  for (const m of metrics) {
    const name = prefix + m.name;
    w.family(name, m.type, m.help);
    if (objLabels === null) {
      let sum = 0;
      for (const o of objects) sum += m.value(o);
      w.sample(name, '', sum);
    } else {
      for (let from = 0; from < objects.length; from += 1000) {
        let chunk = '';
        const to = Math.min(objects.length, from + 1000);
        for (let i = from; i < to; i++) chunk += name + objLabels[i] + ' ' + m.value(objects[i]) + '\n';
        w.raw(chunk.slice(0, -1));
        await w.checkpoint();
      }
    }
  }
}

// Label strings of a queue never change: rendered once per queue, not once per scrape.
const queueLabelCache = new WeakMap<Queue, string>();

// RabbitMQ sums per-channel counters over the channels still open, so its aggregated values can
// drop when channels close; Warren counts broker-wide and never decreases (also in
// /metrics/per-object, where they carry no channel label). The Grafana dashboards only take
// rate() of them.
function writeChannelCounters(w: Writer): void {
  const c = counters;
  const one = (name: string, help: string, v: number, type: MetricType = 'counter') => w.one(`rabbitmq_channel_${name}`, type, help, v);
  one('messages_published_total', 'Total number of messages published into an exchange on a channel', c.received);
  one('messages_confirmed_total', 'Total number of messages published into an exchange and confirmed on the channel', c.confirmed);
  one('messages_unroutable_returned_total', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', c.unroutableReturned);
  one('messages_unroutable_dropped_total', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', c.unroutableDropped);
  one('get_ack_total', 'Total number of messages fetched with basic.get in manual acknowledgement mode', c.deliveredGetManualAck);
  one('get_total', 'Total number of messages fetched with basic.get in automatic acknowledgement mode', c.deliveredGetAutoAck);
  one('messages_delivered_ack_total', 'Total number of messages delivered to consumers in manual acknowledgement mode', c.deliveredConsumeManualAck);
  one('messages_delivered_total', 'Total number of messages delivered to consumers in automatic acknowledgement mode', c.deliveredConsumeAutoAck);
  one('messages_redelivered_total', 'Total number of messages redelivered to consumers', c.redelivered);
  one('messages_acked_total', 'Total number of messages acknowledged by consumers', c.acknowledged);
  one('get_empty_total', 'Total number of times basic.get operations fetched no message', c.getEmpty);
  one('messages_unconfirmed', 'Published but not yet confirmed messages', Math.max(0, c.receivedConfirm - c.confirmed), 'gauge');
}

function writeAlarms(w: Writer, ctx: ManagementContext): void {
  w.one('rabbitmq_alarms_file_descriptor_limit', 'untyped', 'is 1 if file descriptor limit alarm is in effect', 0);
  w.one('rabbitmq_alarms_free_disk_space_watermark', 'untyped', 'is 1 if free disk space watermark alarm is in effect', ctx.broker.disk.alarmed ? 1 : 0);
  w.one('rabbitmq_alarms_memory_used_watermark', 'untyped', 'is 1 if VM memory watermark alarm is in effect', 0);
}

function writeProcess(w: Writer, ctx: ManagementContext, s: Snapshot): void {
  const rss = process.memoryUsage.rss();
  w.one('rabbitmq_process_open_fds', 'gauge', 'Open file descriptors', openFds());
  w.one('rabbitmq_process_open_tcp_sockets', 'gauge', 'Open TCP sockets', s.connections.length);
  w.one('rabbitmq_process_resident_memory_bytes', 'gauge', 'Memory used in bytes', rss);
  try {
    w.one('rabbitmq_disk_space_available_bytes', 'gauge', 'Disk space available in bytes', ctx.broker.disk.freeBytes());
  } catch { /* statfs failed: leave it out */ }
  const fds = maxFds();
  w.one('rabbitmq_process_max_fds', 'gauge', 'Open file descriptors limit', fds);
  w.one('rabbitmq_process_max_tcp_sockets', 'gauge', 'Open TCP sockets limit', Math.floor(fds * 0.9));
  // Warren has no memory alarm; the limit shown is the V8 heap limit.
  w.one('rabbitmq_resident_memory_limit_bytes', 'gauge', 'Memory high watermark in bytes', heapLimit());
  w.one('rabbitmq_disk_space_available_limit_bytes', 'gauge', 'Free disk space low watermark in bytes', ctx.broker.opts.diskFreeLimitBytes ?? 50_000_000);
}

function heapLimit(): number {
  return v8.getHeapStatistics().heap_size_limit;
}

function writeIdentity(w: Writer, ctx: ManagementContext, prefix = 'rabbitmq_'): void {
  const g = ctx.broker.runtime;
  w.one(`${prefix}identity_info`, 'untyped', 'RabbitMQ node & cluster identity info', 1, labels({
    rabbitmq_node: ctx.node, rabbitmq_cluster: g.clusterName ?? ctx.node,
    rabbitmq_cluster_permanent_id: String(g.global.get('internal_cluster_id') ?? ''),
  }));
  if (prefix !== 'rabbitmq_') return;
  w.one('rabbitmq_build_info', 'untyped', 'RabbitMQ & Erlang/OTP version info', 1, labels({
    rabbitmq_version: `${VERSION}-warren`, prometheus_plugin_version: VERSION, prometheus_client_version: VERSION,
    erlang_version: `nodejs-${process.versions.node}`,
  }));
}

const AMQP = labels({ protocol: 'amqp091' });
const STREAM = labels({ protocol: 'stream' });
const STREAM_QUEUE = labels({ protocol: 'stream', queue_type: 'rabbit_stream_queue' });
const AMQP_CLASSIC = labels({ protocol: 'amqp091', queue_type: 'rabbit_classic_queue' });

function writeGlobal(w: Writer, s: Snapshot): void {
  const c = counters;
  const delivered = c.deliveredConsumeAutoAck + c.deliveredConsumeManualAck + c.deliveredGetAutoAck + c.deliveredGetManualAck;
  const routed = c.received - c.unroutableDropped - c.unroutableReturned;
  const sc = streamCounters;
  // the per-queue-type families: classic queues over AMQP 0-9-1, and streams over the Stream protocol
  const classicAndStream = (name: string, help: string, amqp: number, stream: number) => {
    w.family(name, 'counter', help);
    w.sample(name, AMQP_CLASSIC, amqp);
    w.sample(name, STREAM_QUEUE, stream);
  };
  // a family with its AMQP 0-9-1 sample and its Stream protocol one, as RabbitMQ's stream plugin adds
  const both = (name: string, type: MetricType, help: string, amqp: number, stream: number) => {
    w.family(name, type, help);
    w.sample(name, AMQP, amqp);
    w.sample(name, STREAM, stream);
  };
  both('rabbitmq_global_consumers', 'gauge', 'Current number of consumers', s.consumers - s.stream.consumers, s.stream.consumers);
  classicAndStream('rabbitmq_global_messages_acknowledged_total', 'Total number of messages acknowledged by consumers', c.acknowledged, 0);
  both('rabbitmq_global_messages_confirmed_total', 'counter', 'Total number of messages confirmed to publishers', c.confirmed, sc.confirmed);
  for (const [reason, by] of Object.entries(deadLettered)) {
    const name = `rabbitmq_global_messages_dead_lettered_${reason}_total`;
    w.family(name, 'counter', `Total number of messages dead-lettered due to ${reason.replace('_', '-')}`);
    for (const [strategy, n] of Object.entries(by)) w.sample(name, labels({ queue_type: 'rabbit_classic_queue', dead_letter_strategy: strategy }), n);
  }
  classicAndStream('rabbitmq_global_messages_delivered_consume_auto_ack_total', 'Total number of messages delivered to consumers using basic.consume with automatic acknowledgment', c.deliveredConsumeAutoAck, 0);
  classicAndStream('rabbitmq_global_messages_delivered_consume_manual_ack_total', 'Total number of messages delivered to consumers using basic.consume with manual acknowledgment', c.deliveredConsumeManualAck, 0);
  classicAndStream('rabbitmq_global_messages_delivered_get_auto_ack_total', 'Total number of messages delivered to consumers using basic.get with automatic acknowledgment', c.deliveredGetAutoAck, 0);
  classicAndStream('rabbitmq_global_messages_delivered_get_manual_ack_total', 'Total number of messages delivered to consumers using basic.get with manual acknowledgment', c.deliveredGetManualAck, 0);
  classicAndStream('rabbitmq_global_messages_delivered_total', 'Total number of messages delivered to consumers', delivered, sc.delivered);
  classicAndStream('rabbitmq_global_messages_get_empty_total', 'Total number of times basic.get operations fetched no message', c.getEmpty, 0);
  both('rabbitmq_global_messages_received_confirm_total', 'counter', 'Total number of messages received from publishers expecting confirmations', c.receivedConfirm, sc.received);
  both('rabbitmq_global_messages_received_total', 'counter', 'Total number of messages received from publishers', c.received, sc.received);
  classicAndStream('rabbitmq_global_messages_redelivered_total', 'Total number of messages redelivered to consumers', c.redelivered, 0);
  // RabbitMQ 3.10 leaves routed at 0 for the Stream protocol (a publisher writes to its stream)
  both('rabbitmq_global_messages_routed_total', 'counter', 'Total number of messages routed to queues or streams', routed, 0);
  both('rabbitmq_global_messages_unroutable_dropped_total', 'counter', 'Total number of messages published as non-mandatory into an exchange and dropped as unroutable', c.unroutableDropped, 0);
  both('rabbitmq_global_messages_unroutable_returned_total', 'counter', 'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable', c.unroutableReturned, 0);
  both('rabbitmq_global_publishers', 'gauge', 'Current number of publishers', s.publishers, s.stream.publishers);
  for (const [code, what] of STREAM_ERROR_COUNTERS) {
    const name = `rabbitmq_global_stream_error_${what}_total`;
    const words = what.replace(/_/g, ' ');
    const help = what === 'stream_does_not_exist' ? `Total number of commands rejected with ${words} error` : `Total number of commands failed with ${words}`;
    w.one(name, 'counter', help, sc.errors[code], STREAM);
  }
  // Histogram of received message sizes (RabbitMQ 4's rabbit_msg_size_metrics buckets).
  const name = 'rabbitmq_global_message_size_bytes';
  w.family(name, 'histogram', 'Size of messages received from publishers');
  let cumulative = 0;
  for (let i = 0; i < MESSAGE_SIZE_BUCKETS.length; i++) {
    cumulative += messageSizes[i];
    w.sample(`${name}_bucket`, labels({ protocol: 'amqp091', le: String(MESSAGE_SIZE_BUCKETS[i]) }), cumulative);
  }
  cumulative += messageSizes[MESSAGE_SIZE_BUCKETS.length];
  w.sample(`${name}_bucket`, labels({ protocol: 'amqp091', le: '+Inf' }), cumulative);
  w.sample(`${name}_count`, AMQP, cumulative);
  w.sample(`${name}_sum`, AMQP, messageSizes[MESSAGE_SIZE_BUCKETS.length + 1]);
}

function writeWarren(w: Writer, ctx: ManagementContext, s: Snapshot): void {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  w.one('process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds', (cpu.user + cpu.system) / 1e6);
  w.one('warren_exchanges', 'gauge', 'Exchanges, the default and amq.* ones included', s.exchanges);
  w.family('warren_listener', 'gauge', 'Listeners of this node (AMQP, HTTP, Stream protocol), by protocol and port');
  for (const l of ctx.listeners) w.sample('warren_listener', labels({ protocol: l.protocol, port: String(l.port) }), 1);
  w.one('warren_disk_alarm', 'gauge', '1 while the free-disk alarm blocks publishers', ctx.broker.disk.alarmed ? 1 : 0);
  w.one('warren_nodejs_heap_used_bytes', 'gauge', 'V8 heap in use', mem.heapUsed);
  w.one('warren_nodejs_heap_total_bytes', 'gauge', 'V8 heap allocated', mem.heapTotal);
  w.one('warren_nodejs_external_memory_bytes', 'gauge', 'Memory of Buffers and other objects outside the V8 heap', mem.external);
  const t = ctx.stats.totals();
  w.one('warren_messages_published_total', 'counter', 'Messages enqueued to queues (one per destination queue) since start', t.publish);
  w.one('warren_messages_delivered_total', 'counter', 'Deliveries to consumers and basic.get answers since start', t.deliver);
  w.one('warren_messages_acknowledged_total', 'counter', 'Acknowledged deliveries (auto-acks included) since start', t.ack);
  w.one('warren_store_corrupt_records_total', 'counter', 'Damaged records found by reads or recovery and skipped (each costs only itself)', storeStats.corruptRecords);
  w.one('warren_store_sync_failures_total', 'counter', 'fdatasync calls that failed (their confirms became nacks)', storeStats.syncFailures);
  w.one('warren_store_tail_cache_bytes', 'gauge', 'Newest records of the queue logs kept in memory (one process-wide budget)', tailCacheBytes());
  const wb = writeBufferBytes();
  w.one('warren_store_write_buffer_bytes', 'gauge', 'Write buffers lent to logs with records not yet written, and kept in the pool', wb.lent + wb.pooled);
  w.one('warren_store_write_failures_total', 'counter', 'Log writes that failed and were retried', storeStats.writeFailures);
  w.one('warren_store_bytes_read_total', 'counter', 'Bytes read from segment files and stream chunk indexes (page cache hits included)', storeStats.bytesRead);
  w.one('warren_store_bytes_written_total', 'counter', 'Bytes appended to segment files of queues and streams', storeStats.bytesWritten);
  for (const [name, help, v] of authMetricLines()) w.one(name, 'counter', help, v);
  writeCluster(w);
}
