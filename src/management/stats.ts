// Broker-wide message counters for the management API and /metrics: the per-queue counters
// (Queue.publishCount, deliverCount, ackCount) of the live queues plus what each vhost's removed
// queues had counted (VHost.removedQueueTotals), so they only ever grow. Rates are the change
// between the last two samples of a slow timer.
import type { Broker } from '../broker/broker';

export interface MessageTotals {
  publish: number;   // messages enqueued (one per destination queue)
  deliver: number;   // deliveries to consumers and basic.get answers
  ack: number;       // acknowledged deliveries (including auto-acked ones)
}

const SAMPLE_MS = 5000;

export class StatsTracker {
  private timer: NodeJS.Timeout | null = null;
  private prev: { at: number; totals: MessageTotals } | null = null;
  private last: { at: number; totals: MessageTotals } | null = null;

  constructor(private readonly broker: Broker) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    this.prev = this.last;
    this.last = { at: Date.now(), totals: this.totals() };
  }

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

  // Messages per second over the last sample interval (0 until two samples exist).
  rates(): MessageTotals {
    const a = this.prev, b = this.last;
    if (!a || !b || b.at <= a.at) return { publish: 0, deliver: 0, ack: 0 };
    const s = (b.at - a.at) / 1000;
    const r = (x: number, y: number) => Math.round(((y - x) / s) * 10) / 10;
    return { publish: r(a.totals.publish, b.totals.publish), deliver: r(a.totals.deliver, b.totals.deliver), ack: r(a.totals.ack, b.totals.ack) };
  }
}
