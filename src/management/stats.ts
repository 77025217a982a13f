// Message rates and history for the management API and the console's charts, sampled every
// 5 seconds (RabbitMQ's collect_statistics_interval):
// - broker-wide: the global counters (publish, confirm, deliver ..., from src/broker/counters),
//   queue totals and churn, kept for one day (17,280 samples);
// - per queue: published, delivered/got, acked and the three lengths, kept for 10 minutes, and
//   only for queues that have seen a message (10,000 idle queues cost nothing).
// Rates are the change between the last two samples. The ?msg_rates_age=&msg_rates_incr= and
// ?lengths_age=&lengths_incr= query parameters ask for the samples themselves, as RabbitMQ's
// API does ({sample, timestamp}, newest first).
import type { Broker } from '../broker/broker';
import type { Queue } from '../broker/queue';
import { counters } from '../broker/counters';

export const GLOBAL_RATE_FIELDS = ['publish', 'confirm', 'return_unroutable', 'drop_unroutable', 'deliver', 'deliver_no_ack',
  'get', 'get_no_ack', 'get_empty', 'deliver_get', 'redeliver', 'ack'] as const;
export const CHURN_FIELDS = ['connection_created', 'connection_closed', 'channel_created', 'channel_closed',
  'queue_declared', 'queue_created', 'queue_deleted'] as const;
export const LENGTH_FIELDS = ['messages', 'messages_ready', 'messages_unacknowledged'] as const;
export const QUEUE_RATE_FIELDS = ['publish', 'deliver_get', 'ack'] as const;

const GLOBAL_FIELDS = [...GLOBAL_RATE_FIELDS, ...CHURN_FIELDS, ...LENGTH_FIELDS];
const QUEUE_FIELDS = [...QUEUE_RATE_FIELDS, ...LENGTH_FIELDS];
const DAY_SAMPLES = 17280;
const QUEUE_SAMPLES = 120;

// A ring of timestamped rows of numbers.
export class Ring {
  private readonly data: Float64Array;
  private readonly width: number;
  private next = 0;
  count = 0;

  constructor(readonly capacity: number, readonly fields: readonly string[]) {
    this.width = fields.length + 1;
    this.data = new Float64Array(capacity * this.width);
  }

  push(at: number, values: ArrayLike<number>): void {
    const o = this.next * this.width;
    this.data[o] = at;
    for (let i = 0; i < values.length; i++) this.data[o + 1 + i] = values[i];
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  // back = 0 is the newest row.
  at(back: number): number { return this.data[this.slot(back) * this.width]; }
  value(back: number, field: number): number { return this.data[this.slot(back) * this.width + 1 + field]; }
  private slot(back: number): number { return (this.next - 1 - back + this.capacity * 2) % this.capacity; }
}

export interface SampleQuery { age: number; incr: number }

export interface MessageTotals { publish: number; deliver: number; ack: number }

export class StatsTracker {
  private timer: NodeJS.Timeout | null = null;
  readonly global = new Ring(DAY_SAMPLES, GLOBAL_FIELDS);
  private readonly queues = new WeakMap<Queue, Ring>();
  private readonly row = new Float64Array(GLOBAL_FIELDS.length);
  private readonly qrow = new Float64Array(QUEUE_FIELDS.length);

  constructor(private readonly broker: Broker, readonly intervalMs = Number(process.env.WARREN_STATS_INTERVAL_MS) || 5000) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    const now = Date.now();
    const c = counters;
    const r = this.row;
    let i = 0;
    r[i++] = c.received; r[i++] = c.confirmed; r[i++] = c.unroutableReturned; r[i++] = c.unroutableDropped;
    r[i++] = c.deliveredConsumeManualAck; r[i++] = c.deliveredConsumeAutoAck; r[i++] = c.deliveredGetManualAck; r[i++] = c.deliveredGetAutoAck;
    r[i++] = c.getEmpty; r[i++] = c.deliveredConsumeManualAck + c.deliveredConsumeAutoAck + c.deliveredGetManualAck + c.deliveredGetAutoAck;
    r[i++] = c.redelivered; r[i++] = c.acknowledged;
    r[i++] = c.connectionsOpened; r[i++] = c.connectionsClosed; r[i++] = c.channelsOpened; r[i++] = c.channelsClosed;
    r[i++] = c.queuesDeclared; r[i++] = c.queuesCreated; r[i++] = c.queuesDeleted;
    let ready = 0, unacked = 0;
    const q = this.qrow;
    for (const vh of this.broker.vhosts.values()) {
      for (const queue of vh.queues.values()) {
        const rd = queue.messageCount, un = queue.unackedCount;
        ready += rd; unacked += un;
        let ring = this.queues.get(queue);
        if (!ring) {
          if (queue.publishCount === 0 && rd === 0) continue;
          ring = new Ring(QUEUE_SAMPLES, QUEUE_FIELDS);
          this.queues.set(queue, ring);
        }
        q[0] = queue.publishCount; q[1] = queue.deliverCount; q[2] = queue.ackCount; q[3] = rd + un; q[4] = rd; q[5] = un;
        ring.push(now, q);
      }
    }
    r[i++] = ready + unacked; r[i++] = ready; r[i++] = unacked;
    this.global.push(now, r);
  }

  queueRing(q: Queue): Ring | undefined {
    return this.queues.get(q);
  }

  // Per-queue counters of the live queues plus what removed queues had counted.
  totals(): MessageTotals {
    const t = { publish: 0, deliver: 0, ack: 0 };
    for (const vh of this.broker.vhosts.values()) {
      t.publish += vh.removedQueueTotals.publish;
      t.deliver += vh.removedQueueTotals.deliver;
      t.ack += vh.removedQueueTotals.ack;
      for (const q of vh.queues.values()) {
        t.publish += q.publishCount;
        t.deliver += q.deliverCount;
        t.ack += q.ackCount;
      }
    }
    return t;
  }
}

// Change per second of one field between the two newest rows (0 with fewer than two).
export function rate(ring: Ring | undefined, field: number): number {
  if (!ring || ring.count < 2) return 0;
  const dt = (ring.at(0) - ring.at(1)) / 1000;
  if (dt <= 0) return 0;
  return Math.round(((ring.value(0, field) - ring.value(1, field)) / dt) * 10) / 10;
}

// RabbitMQ's "*_details" object: the rate, and with a query the samples over `age` seconds
// every `incr` seconds, newest first, with their average.
export function details(ring: Ring | undefined, field: number, current: number, query: SampleQuery | null, isRate: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = { rate: rate(ring, field) };
  if (!query || !ring || ring.count === 0) return out;
  const samples: Array<{ sample: number; timestamp: number }> = [];
  const newest = ring.at(0);
  const oldest = newest - query.age * 1000;
  let nextAt = newest;
  for (let b = 0; b < ring.count; b++) {
    const t = ring.at(b);
    if (t < oldest) break;
    if (t > nextAt) continue;
    samples.push({ sample: ring.value(b, field), timestamp: t });
    nextAt = t - query.incr * 1000 + 1;
  }
  if (!isRate && samples.length > 0) samples[0].sample = current;
  out.samples = samples;
  if (samples.length > 0) {
    const first = samples[samples.length - 1], last = samples[0];
    const span = (last.timestamp - first.timestamp) / 1000;
    if (isRate) out.avg_rate = span > 0 ? Math.round(((last.sample - first.sample) / span) * 10) / 10 : 0;
    else out.avg = samples.reduce((s, x) => s + x.sample, 0) / samples.length;
  }
  return out;
}

export function sampleQuery(q: URLSearchParams, prefix: 'msg_rates' | 'lengths' | 'data_rates'): SampleQuery | null {
  const age = Number(q.get(`${prefix}_age`));
  const incr = Number(q.get(`${prefix}_incr`));
  if (!Number.isFinite(age) || age <= 0 || !Number.isFinite(incr) || incr <= 0) return null;
  return { age: Math.min(age, 86400), incr };
}

export const FIELD = {
  global: Object.fromEntries(GLOBAL_FIELDS.map((f, i) => [f, i])) as Record<(typeof GLOBAL_FIELDS)[number], number>,
  queue: Object.fromEntries(QUEUE_FIELDS.map((f, i) => [f, i])) as Record<(typeof QUEUE_FIELDS)[number], number>,
};
