// JSON shapes of the management API, as RabbitMQ's management plugin names its fields (the ones
// scripts and dashboards read). Pure functions from broker/server objects to plain objects.
import * as crypto from 'node:crypto';
import type { FieldTable, FieldValue } from '../protocol';
import { Typed, isDecimal } from '../protocol';
import type { Queue } from '../broker/queue';
import type { Exchange, Binding } from '../broker/exchange';
import type { VHost } from '../broker/vhost';
import { Connection } from '../server/connection';
import type { Channel } from '../server/channel';
import { appliedPolicy } from '../broker/policy-apply';
import { type SampleQuery, type StatsTracker, FIELD, details } from './stats';

// An AMQP field table as JSON: typed numbers unwrapped, longstr/binary as text, timestamps as
// seconds since the epoch.
export function tableToJson(t: FieldTable | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!t) return out;
  for (const [k, v] of Object.entries(t)) out[k] = valueToJson(v);
  return out;
}

export function valueToJson(v: FieldValue): unknown {
  if (v === undefined) return null;
  if (v instanceof Typed) return valueToJson(v.value);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return v.toString();
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (Array.isArray(v)) return v.map(valueToJson);
  if (isDecimal(v)) return v.value / 10 ** v.scale;
  if (v !== null && typeof v === 'object') return tableToJson(v as FieldTable);
  return v;
}

export interface QueueFormatOptions {
  stats?: StatsTracker;
  msgRates?: SampleQuery | null;
  lengths?: SampleQuery | null;
}

export function formatQueue(q: Queue, node: string, o: QueueFormatOptions = {}): Record<string, unknown> {
  const ready = q.messageCount;
  const unacked = q.unackedCount;
  const owner = q.exclusiveOwner instanceof Connection ? q.exclusiveOwner : null;
  const applied = appliedPolicy(q);
  const ring = o.stats?.queueRing(q);
  const F = FIELD.queue;
  const lengths = o.lengths ?? null, rates = o.msgRates ?? null;
  const sac = q.args.singleActiveConsumer ? q.consumers[0] : undefined;
  return {
    name: q.name,
    vhost: q.vhost,
    durable: q.durable,
    auto_delete: q.autoDelete,
    exclusive: q.exclusiveOwner !== null,
    arguments: tableToJson(q.rawArgs),
    type: q.args.queueType,
    node,
    state: 'running',
    policy: applied?.policy?.name ?? null,
    operator_policy: applied?.operatorPolicy?.name ?? null,
    effective_policy_definition: applied?.definition ?? {},
    messages: ready + unacked,
    messages_details: details(ring, F.messages, ready + unacked, lengths, false),
    messages_ready: ready,
    messages_ready_details: details(ring, F.messages_ready, ready, lengths, false),
    messages_unacknowledged: unacked,
    messages_unacknowledged_details: details(ring, F.messages_unacknowledged, unacked, lengths, false),
    // Bytes of the ready messages' bodies (approximate after a restart).
    message_bytes_ready: q.readyBytes,
    consumers: q.consumerCount,
    single_active_consumer_tag: sac ? sac.tag : null,
    exclusive_consumer_tag: q.consumers.find((c) => c.exclusive)?.tag ?? null,
    owner_pid_details: owner ? connectionDetails(owner) : undefined,
    message_stats: {
      publish: q.publishCount, publish_details: details(ring, F.publish, q.publishCount, rates, true),
      deliver_get: q.deliverCount, deliver_get_details: details(ring, F.deliver_get, q.deliverCount, rates, true),
      ack: q.ackCount, ack_details: details(ring, F.ack, q.ackCount, rates, true),
    },
  };
}

export function formatExchange(x: Exchange, vhost: string): Record<string, unknown> {
  return {
    name: x.name,
    vhost,
    type: x.type,
    durable: x.durable,
    auto_delete: x.autoDelete,
    internal: x.internal,
    arguments: tableToJson(x.args),
    policy: appliedPolicy(x)?.policy?.name ?? null,
  };
}

export interface BindingView {
  source: string;
  vhost: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: Record<string, unknown>;
  properties_key: string;
}

// RabbitMQ's properties_key names one binding among those between the same two objects: the
// routing key ("~" for an empty one), plus "~" and a hash of the arguments when there are any.
export function propertiesKey(routingKey: string, args: FieldTable, argsKey: string): string {
  if (Object.keys(args).length === 0) return routingKey === '' ? '~' : routingKey;
  const h = crypto.createHash('sha256').update(argsKey).digest('base64url').slice(0, 12);
  return `${routingKey}~${h}`;
}

export function formatBinding(b: Binding, vhost: string): BindingView {
  return {
    source: b.source.name,
    vhost,
    destination: b.dest.name,
    destination_type: b.dest.kind,
    routing_key: b.routingKey,
    arguments: tableToJson(b.args),
    properties_key: propertiesKey(b.routingKey, b.args, b.argsKey),
  };
}

// Every queue is bound to the default exchange by its name; RabbitMQ lists those bindings too.
export function defaultBinding(q: Queue, vhost: string): BindingView {
  return {
    source: '', vhost, destination: q.name, destination_type: 'queue', routing_key: q.name,
    arguments: {}, properties_key: q.name === '' ? '~' : q.name,
  };
}

export function vhostBindings(vh: VHost): BindingView[] {
  const out: BindingView[] = [];
  for (const q of vh.queues.values()) out.push(defaultBinding(q, vh.name));
  for (const b of vh.allBindings()) out.push(formatBinding(b, vh.name));
  return out;
}

export function connectionState(c: Connection): string {
  const s = c.connectionState;
  return s === 'open' ? 'running' : s === 'closing' || s === 'closed' ? s : 'starting';
}

export function connectionDetails(c: Connection): Record<string, unknown> {
  return { name: c.name, peer_host: c.socket.remoteAddress ?? null, peer_port: c.socket.remotePort ?? null };
}

export function formatConnection(c: Connection, node: string): Record<string, unknown> {
  const props = tableToJson(c.clientProperties as FieldTable);
  return {
    name: c.name,
    node,
    type: 'network',
    state: connectionState(c),
    protocol: 'AMQP 0-9-1',
    vhost: c.vhost?.name ?? null,
    user: c.user?.name ?? null,
    channels: c.channelCount,
    peer_host: c.socket.remoteAddress ?? null,
    peer_port: c.socket.remotePort ?? null,
    host: c.socket.localAddress ?? null,
    port: c.socket.localPort ?? null,
    ssl: c.tls,
    connected_at: c.connectedAt,
    timeout: c.heartbeat,
    frame_max: c.frameMax,
    channel_max: c.channelMax,
    recv_oct: c.socket.bytesRead,
    send_oct: c.socket.bytesWritten,
    client_properties: props,
    user_provided_name: typeof props['connection_name'] === 'string' ? props['connection_name'] : undefined,
  };
}

export function channelName(c: Connection, ch: Channel): string {
  return `${c.name} (${ch.id})`;
}

export function formatChannel(c: Connection, ch: Channel, node: string): Record<string, unknown> {
  const i = ch.info;
  return {
    name: channelName(c, ch),
    number: ch.id,
    node,
    state: ch.state === 'open' ? 'running' : ch.state,
    vhost: c.vhost?.name ?? null,
    user: c.user?.name ?? null,
    connection_details: connectionDetails(c),
    consumer_count: i.consumers,
    messages_unacknowledged: i.unacked,
    prefetch_count: i.prefetch,
    global_prefetch_count: i.globalPrefetch,
    confirm: i.confirm,
    transactional: i.transactional,
  };
}
