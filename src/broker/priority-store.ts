// A queue with x-max-priority: one lane (log) per priority level in use, composed behind the
// MessageStore interface. The next ready message comes from the highest non-empty lane; within
// a lane, FIFO. Lanes are opened when first used (or found on disk at a restart).
import type { LogRecord, SegmentedLog } from '../store';
import type { LaneStore } from './lane-store';
import type { Message } from './message';
import { type MessageRef, laneOf } from './message-ref';
import type { MessageStore, StoreHead } from './message-store';
import type { SyncPoints } from './sync-points';

export class PriorityStore implements MessageStore {
  head: StoreHead = { rec: undefined, redelivered: false };
  private readonly lanes: Array<LaneStore | undefined> = [];
  private peeked: LaneStore | null = null;

  /** `existing`: lanes found on disk; `open(p)` opens lane p when a message first needs it */
  constructor(private readonly maxPriority: number, existing: LaneStore[], private readonly open: (p: number) => LaneStore) {
    for (const l of existing) this.lanes[l.lane] = l;
  }

  private lane(p: number): LaneStore {
    return this.lanes[p] ??= this.open(p);
  }

  get ready(): number {
    let n = 0;
    for (const l of this.lanes) if (l !== undefined) n += l.ready;
    return n;
  }

  get readyBytes(): number {
    let n = 0;
    for (const l of this.lanes) if (l !== undefined) n += l.readyBytes;
    return n;
  }

  push(msg: Message, priority: number, sync: SyncPoints | null): void {
    const p = priority <= 0 ? 0 : priority > this.maxPriority ? this.maxPriority : priority;
    this.lane(p).push(msg, p, sync);
  }

  peek(): boolean {
    for (let p = this.lanes.length - 1; p >= 0; p--) {
      const l = this.lanes[p];
      if (l !== undefined && l.peek()) {
        this.peeked = l;
        this.head = l.head;
        return true;
      }
    }
    this.peeked = null;
    return false;
  }

  shift(): MessageRef {
    return (this.peeked as LaneStore).shift();
  }

  requeue(ref: MessageRef): void {
    this.lanes[laneOf(ref)]?.requeue(ref);
  }

  settle(ref: MessageRef): void {
    this.lanes[laneOf(ref)]?.settle(ref);
  }

  read(ref: MessageRef): LogRecord | undefined {
    return this.lanes[laneOf(ref)]?.read(ref);
  }

  purge(): number {
    let n = 0;
    for (const l of this.lanes) if (l !== undefined) n += l.purge();
    return n;
  }

  reclaim(force: boolean): void {
    for (const l of this.lanes) l?.reclaim(force);
  }

  logs(): SegmentedLog[] {
    const out: SegmentedLog[] = [];
    for (const l of this.lanes) if (l !== undefined) out.push(l.log);
    return out;
  }

  allLanes(): LaneStore[] {
    return this.lanes.filter((l): l is LaneStore => l !== undefined);
  }

  async close(): Promise<void> {
    for (const l of this.lanes) if (l !== undefined) await l.close();
  }

  destroy(): void {
    for (const l of this.lanes) l?.destroy();
  }
}
