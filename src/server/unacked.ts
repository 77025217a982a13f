// A channel's unacknowledged deliveries, in delivery-tag order. Tags only grow, so lookups are
// binary searches and multiple-acks walk from the front; settled slots are compacted lazily.
import type { Queue } from '../broker/queue';
import type { MessageRef } from '../broker/message-ref';

export interface UnackedOwner {
  unacked: number;
}

export class UnackedList {
  private tags: number[] = [];
  private ids: MessageRef[] = [];
  private queues: Array<Queue | null> = [];
  private owners: Array<UnackedOwner | null> = [];
  private times: number[] = [];   // when each was delivered (ms), for the consumer timeout
  private head = 0;
  live = 0;

  push(tag: number, ref: MessageRef, q: Queue, owner: UnackedOwner | null, at: number): void {
    this.tags.push(tag);
    this.times.push(at);
    this.ids.push(ref);
    this.queues.push(q);
    this.owners.push(owner);
    this.live++;
  }

  private indexOf(tag: number): number {
    let lo = this.head, hi = this.tags.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tags[mid] < tag) lo = mid + 1; else hi = mid;
    }
    return lo < this.tags.length && this.tags[lo] === tag && this.queues[lo] !== null ? lo : -1;
  }

  has(tag: number): boolean { return this.indexOf(tag) >= 0; }

  // Every unsettled entry, oldest first (read-only, for the management API).
  forEach(fn: (tag: number, ref: MessageRef, q: Queue, owner: UnackedOwner | null, at: number) => void): void {
    for (let i = this.head; i < this.tags.length; i++) {
      const q = this.queues[i];
      if (q !== null) fn(this.tags[i], this.ids[i], q, this.owners[i], this.times[i]);
    }
  }

  // Delivery time of the oldest unsettled entry (deliveries are pushed in time order).
  oldestTime(): number | undefined {
    return this.head < this.tags.length ? this.times[this.head] : undefined;
  }

  // Calls fn for each settled entry: one tag, or every live tag up to and including `tag`.
  // Returns false when a single tag is unknown.
  settle(tag: number, multiple: boolean, fn: (q: Queue, ref: MessageRef, owner: UnackedOwner | null) => void): boolean {
    if (!multiple) {
      const i = this.indexOf(tag);
      if (i < 0) return false;
      this.take(i, fn);
      this.compact();
      return true;
    }
    const n = this.tags.length;
    for (let i = this.head; i < n && this.tags[i] <= tag; i++) {
      if (this.queues[i] !== null) this.take(i, fn);
    }
    this.compact();
    return true;
  }

  settleAll(fn: (q: Queue, ref: MessageRef, owner: UnackedOwner | null) => void): void {
    for (let i = this.head; i < this.tags.length; i++) if (this.queues[i] !== null) this.take(i, fn);
    this.compact();
  }

  private take(i: number, fn: (q: Queue, ref: MessageRef, owner: UnackedOwner | null) => void): void {
    const q = this.queues[i]!;
    const owner = this.owners[i];
    this.queues[i] = null;
    this.owners[i] = null;
    this.live--;
    if (owner) owner.unacked--;
    fn(q, this.ids[i], owner);
  }

  private compact(): void {
    while (this.head < this.tags.length && this.queues[this.head] === null) this.head++;
    if (this.head === this.tags.length) {
      this.tags.length = 0; this.ids.length = 0; this.queues.length = 0; this.owners.length = 0; this.times.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.tags.length) {
      this.tags.splice(0, this.head); this.ids.splice(0, this.head);
      this.queues.splice(0, this.head); this.owners.splice(0, this.head); this.times.splice(0, this.head);
      this.head = 0;
    }
  }
}
