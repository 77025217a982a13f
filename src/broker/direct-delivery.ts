// Direct delivery: a message that needs no durability in its queue (transient, or any message
// in a non-durable queue) and arrives while nothing waits and a consumer has credit goes
// straight to the consumer without touching the log, as RabbitMQ's classic queues do. While
// unacked it is held in memory (bounded: beyond the caps messages go through the log even when
// a consumer has credit); requeued, it takes its place in order: ahead of every log record
// appended after it arrived (its key is the log offset it would have had).
import type { LogRecord, SegmentedLog } from '../store';
import type { LaneStore } from './lane-store';
import { insertSorted } from './lane-store';
import type { Message } from './message';
import { type MessageRef, heldRef, isHeld } from './message-ref';
import type { MessageStore, StoreHead } from './message-store';
import type { SyncPoints } from './sync-points';

// Consumers without a prefetch limit must not pin unbounded memory.
const MAX_HELD = 10_000;
const MAX_HELD_BYTES = 16 * 1024 * 1024;

interface Held {
  readonly ref: MessageRef;
  readonly key: number;
  readonly rec: LogRecord;
}

export class DirectDelivery implements MessageStore {
  head: StoreHead;
  private readonly heldHead: StoreHead = { rec: undefined, redelivered: true };
  private seq = 0;
  private readonly held = new Map<MessageRef, Held>();
  private requeued: Held[] = [];
  private heldBytes = 0;
  private fromHeld = false;

  constructor(readonly lane: LaneStore) {
    this.head = lane.head;
  }

  /** A message arriving now may skip the log (the caller checked for a consumer with credit). */
  canHold(): boolean {
    return this.requeued.length === 0 && this.lane.idle && this.held.size < MAX_HELD && this.heldBytes < MAX_HELD_BYTES;
  }

  /** Hand a message out without storing it; `keep` while unacked (false for no-ack consumers). */
  hold(msg: Message, keep: boolean): MessageRef {
    const ref = heldRef(++this.seq);
    if (keep) {
      const rec = msg as unknown as LogRecord;
      this.held.set(ref, { ref, key: this.lane.log.nextOffset, rec });
      this.heldBytes += rec.body.length;
    }
    return ref;
  }

  get ready(): number {
    return this.lane.ready + this.requeued.length;
  }

  /** no message held unacked or requeued */
  get holdsNothing(): boolean {
    return this.held.size === 0 && this.requeued.length === 0;
  }

  get readyBytes(): number {
    let n = this.lane.readyBytes;
    for (const h of this.requeued) n += h.rec.body.length;
    return n;
  }

  push(msg: Message, priority: number, sync: SyncPoints | null): void {
    this.lane.push(msg, priority, sync);
  }

  peek(): boolean {
    const first = this.requeued[0];
    const inLane = this.lane.peek();
    // every record the lane still has to hand out was appended after `first` arrived, except
    // requeued ones, which are ordered by offset
    if (first !== undefined && (!inLane || first.key <= (this.lane.head.rec as LogRecord).offset)) {
      this.heldHead.rec = first.rec;
      this.head = this.heldHead;
      this.fromHeld = true;
      return true;
    }
    this.head = this.lane.head;
    this.fromHeld = false;
    return inLane;
  }

  shift(): MessageRef {
    if (this.fromHeld) {
      this.fromHeld = false;
      this.head = this.lane.head;
      return (this.requeued.shift() as Held).ref;
    }
    return this.lane.shift();
  }

  requeue(ref: MessageRef): void {
    if (!isHeld(ref)) return this.lane.requeue(ref);
    const h = this.held.get(ref);
    if (h === undefined) return;
    // in arrival order: by key, then by sequence
    insertSorted(this.requeued, h, (a) => a.key < h.key || (a.key === h.key && a.ref > ref));
  }

  settle(ref: MessageRef): void {
    if (!isHeld(ref)) return this.lane.settle(ref);
    const h = this.held.get(ref);
    if (h === undefined) return;
    this.held.delete(ref);
    this.heldBytes -= h.rec.body.length;
  }

  read(ref: MessageRef): LogRecord | undefined {
    return isHeld(ref) ? this.held.get(ref)?.rec : this.lane.read(ref);
  }

  purge(): number {
    const n = this.requeued.length;
    for (const h of this.requeued) this.settle(h.ref);
    this.requeued = [];
    return n + this.lane.purge();
  }

  reclaim(force: boolean): void {
    this.lane.reclaim(force);
  }

  logs(): SegmentedLog[] {
    return this.lane.logs();
  }

  close(): Promise<void> {
    return this.lane.close();
  }

  destroy(): void {
    this.held.clear();
    this.requeued = [];
    this.heldBytes = 0;
    this.lane.destroy();
  }
}

