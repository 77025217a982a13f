// Prometheus metrics in the text exposition format 0.0.4, at /metrics without authentication
// (as RabbitMQ's rabbitmq_prometheus plugin serves them). RabbitMQ's metric names where one
// exists (rabbitmq_queue_messages_ready, rabbitmq_connections, ...), warren_* for the rest;
// per-queue metrics carry vhost and queue labels.
import { storeStats } from '../store';
import * as fs from 'node:fs';
import type { ManagementContext } from './api';
import { VERSION } from '../server/server';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

type Labels = Record<string, string>;

class Writer {
  private readonly lines: string[] = [];

  metric(name: string, type: 'gauge' | 'counter', help: string, samples: Array<[Labels, number]>): void {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  one(name: string, type: 'gauge' | 'counter', help: string, value: number, labels: Labels = {}): void {
    this.metric(name, type, help, [[labels, value]]);
  }

  text(): string {
    return this.lines.join('\n') + '\n';
  }
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(',')}}`;
}

export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function openFds(): number | null {
  try { return fs.readdirSync('/proc/self/fd').length; } catch { return null; }
}

export function renderMetrics(ctx: ManagementContext): string {
  const { broker, amqp } = ctx;
  const w = new Writer();
  const ready: Array<[Labels, number]> = [];
  const unacked: Array<[Labels, number]> = [];
  const total: Array<[Labels, number]> = [];
  const bytes: Array<[Labels, number]> = [];
  const consumers: Array<[Labels, number]> = [];
  const published: Array<[Labels, number]> = [];
  const delivered: Array<[Labels, number]> = [];
  const acked: Array<[Labels, number]> = [];
  let queues = 0, consumerTotal = 0, exchanges = 0;
  for (const vh of broker.vhosts.values()) {
    exchanges += vh.exchanges.size;
    for (const q of vh.queues.values()) {
      const l = { vhost: vh.name, queue: q.name };
      queues++;
      consumerTotal += q.consumerCount;
      ready.push([l, q.messageCount]);
      unacked.push([l, q.unackedCount]);
      total.push([l, q.messageCount + q.unackedCount]);
      bytes.push([l, q.readyBytes]);
      consumers.push([l, q.consumerCount]);
      published.push([l, q.publishCount]);
      delivered.push([l, q.deliverCount]);
      acked.push([l, q.ackCount]);
    }
  }
  let connections = 0, channels = 0;
  for (const c of amqp.connections) {
    if (c.connectionState === 'closed') continue;
    connections++;
    channels += c.channelCount;
  }

  w.one('rabbitmq_identity_info', 'gauge', 'Node and cluster names', 1, { rabbitmq_node: ctx.node, rabbitmq_cluster: 'warren' });
  w.one('warren_build_info', 'gauge', 'Warren and Node.js versions', 1, { version: VERSION, nodejs_version: process.version });
  w.metric('warren_listener', 'gauge', 'Listeners of this node (AMQP, HTTP, Stream protocol), by protocol and port',
    ctx.listeners.map((l) => [{ protocol: l.protocol, port: String(l.port) }, 1]));

  w.one('rabbitmq_connections', 'gauge', 'AMQP connections currently open', connections);
  w.one('rabbitmq_channels', 'gauge', 'AMQP channels currently open', channels);
  w.one('rabbitmq_queues', 'gauge', 'Queues', queues);
  w.one('rabbitmq_consumers', 'gauge', 'Consumers', consumerTotal);
  w.one('warren_exchanges', 'gauge', 'Exchanges, the default and amq.* ones included', exchanges);

  w.metric('rabbitmq_queue_messages_ready', 'gauge', 'Messages ready to be delivered to consumers', ready);
  w.metric('rabbitmq_queue_messages_unacked', 'gauge', 'Messages delivered to consumers but not yet acknowledged', unacked);
  w.metric('rabbitmq_queue_messages', 'gauge', 'Sum of ready and unacknowledged messages', total);
  w.metric('rabbitmq_queue_messages_ready_bytes', 'gauge', 'Approximate log bytes of the ready messages (record framing included)', bytes);
  w.metric('rabbitmq_queue_consumers', 'gauge', 'Consumers on a queue', consumers);
  w.metric('warren_queue_messages_published_total', 'counter', 'Messages enqueued to a queue since it was created or recovered', published);
  w.metric('warren_queue_messages_delivered_total', 'counter', 'Deliveries and basic.get answers from a queue since it was created or recovered', delivered);
  w.metric('warren_queue_messages_acknowledged_total', 'counter', 'Acknowledged deliveries from a queue since it was created or recovered', acked);

  const t = ctx.stats.totals();
  w.one('warren_messages_published_total', 'counter', 'Messages enqueued to queues (one per destination queue) since start', t.publish);
  w.one('warren_messages_delivered_total', 'counter', 'Deliveries to consumers and basic.get answers since start', t.deliver);
  w.one('warren_messages_acknowledged_total', 'counter', 'Acknowledged deliveries since start', t.ack);

  w.one('warren_store_corrupt_records_total', 'counter', 'Damaged records found by reads or recovery and skipped (each costs only itself)', storeStats.corruptRecords);
  w.one('warren_store_sync_failures_total', 'counter', 'fdatasync calls that failed (their confirms became nacks)', storeStats.syncFailures);
  w.one('warren_store_write_failures_total', 'counter', 'Log writes that failed and were retried', storeStats.writeFailures);

  const alarm = broker.disk.alarmed ? 1 : 0;
  w.one('warren_disk_alarm', 'gauge', '1 while the free-disk alarm blocks publishers', alarm);
  w.one('rabbitmq_alarms_free_disk_space_watermark', 'gauge', '1 while the free disk space alarm is in effect', alarm);
  try {
    w.one('rabbitmq_disk_space_available_bytes', 'gauge', 'Free disk space of the data directory filesystem', broker.disk.freeBytes());
  } catch { /* statfs failed: leave the metric out */ }
  w.one('rabbitmq_disk_space_available_limit_bytes', 'gauge', 'Free disk space below which publishers are blocked', broker.opts.diskFreeLimitBytes ?? 50_000_000);

  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  w.one('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes', mem.rss);
  w.one('process_cpu_seconds_total', 'counter', 'User and system CPU time spent in seconds', (cpu.user + cpu.system) / 1e6);
  w.one('process_start_time_seconds', 'gauge', 'Start time of the process since the epoch in seconds', Math.round(Date.now() / 1000 - process.uptime()));
  const fds = openFds();
  if (fds !== null) w.one('process_open_fds', 'gauge', 'Open file descriptors', fds);
  w.one('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use', mem.heapUsed);
  w.one('nodejs_heap_total_bytes', 'gauge', 'V8 heap allocated', mem.heapTotal);
  w.one('nodejs_external_memory_bytes', 'gauge', 'Memory of Buffers and other objects outside the V8 heap', mem.external);
  return w.text();
}
