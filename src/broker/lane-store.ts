// One log read as a queue: a cursor over the log, the record it has read but not handed out
// (the head), offsets of taken messages that came back (requeued, in offset order), and how far
// the lane has been handed out (for the redelivered flag). Memory does not grow with depth: the
// messages stay in the log. The ready count is derived, never counted by hand: every record the
// log still holds unacked, minus those taken and not yet settled or returned; so records the log
// itself settles (damaged ones, transient ones dropped at a restart, ones whose write failed)
// leave the count without any bookkeeping here.
import type { LogCursor, LogRecord, SegmentedLog } from '../store';
import type { DeliveredMarks } from './delivered-marks';
import { type Message, isPersistent } from './message';
import { type MessageRef, logRef, offsetOf } from './message-ref';
import type { MessageStore, StoreHead } from './message-store';
import type { SyncPoints } from './sync-points';
import { log as logger } from '../logger';

export class LaneStore implements MessageStore {
  readonly head: StoreHead = { rec: undefined, redelivered: false };
  private readonly cursor: LogCursor;
  private next: LogRecord | undefined = undefined; // read from the cursor, not yet taken
  private readonly requeued: number[] = [];        // offsets, ascending
  private fromRequeue = false;                     // what peek() found
  private redeliverBelow: number;                  // delivered before the last stop
  private takenUpTo: number;                       // one past the highest offset taken
  private outstanding = 0;                         // taken, neither settled nor requeued
  private bytes: number;

  /**
   * `redeliverBelow`: records below it may have been delivered before the restart (from the
   * delivered marks, capped at what the log held at open).
   */
  constructor(
    readonly log: SegmentedLog,
    readonly lane: number,
    redeliverBelow: number,
    private readonly marks: DeliveredMarks | null,
    private readonly what: string,
  ) {
    this.cursor = log.cursor(log.startOffset);
    this.redeliverBelow = Math.min(redeliverBelow, log.nextOffset);
    this.takenUpTo = this.redeliverBelow;
    this.bytes = log.liveCount > 0 ? log.sizeBytes : 0;
  }

  get ready(): number {
    return this.log.liveCount - this.outstanding;
  }

  get readyBytes(): number {
    return this.ready === 0 ? 0 : this.bytes;
  }

  /** one past the highest offset handed out (for the delivered marks at a clean stop) */
  get deliveredUpTo(): number {
    return this.takenUpTo;
  }

  /** No message waits in this lane: a message that arrives now may skip the log (direct-delivery.ts). */
  get idle(): boolean {
    return this.requeued.length === 0 && this.next === undefined && this.cursor.position >= this.log.nextOffset;
  }

  push(msg: Message, _priority: number, sync: SyncPoints | null): void {
    const offset = this.log.append(msg);
    this.bytes += msg.body.length;
    if (sync !== null && this.log.fsync && isPersistent(msg)) sync.add(this.log, offset);
  }

  peek(): boolean {
    const log = this.log;
    const rq = this.requeued;
    while (rq.length > 0) {
      const off = rq[0];
      const rec = log.isAcked(off) ? undefined : log.read(off);
      if (rec !== undefined) {
        this.head.rec = rec;
        this.head.redelivered = true;
        this.fromRequeue = true;
        return true;
      }
      rq.shift(); // gone meanwhile (purged, or unreadable: the log settled it)
    }
    if (this.next === undefined) this.next = this.fromCursor();
    if (this.next === undefined) return false;
    this.head.rec = this.next;
    this.head.redelivered = this.next.offset < this.redeliverBelow;
    this.fromRequeue = false;
    return true;
  }

  private fromCursor(): LogRecord | undefined {
    const log = this.log;
    for (;;) {
      const rec = this.cursor.next();
      if (rec === undefined) return undefined;
      if (!log.isAcked(rec.offset)) return rec;
      // Skip the rest of an acked run through the ack bitmaps, without reading each record
      // (after a restart the cursor starts at the first segment, which consumers may have acked
      // most of: decoding those cost ~1.5 us per record).
      const to = log.nextUnacked(rec.offset + 1);
      if (to > rec.offset + 1) this.cursor.seek(to);
    }
  }

  shift(): MessageRef {
    const rec = this.head.rec as LogRecord;
    let off: number;
    if (this.fromRequeue) off = this.requeued.shift() as number;
    else {
      off = rec.offset;
      this.next = undefined;
      if (off >= this.takenUpTo) {
        this.takenUpTo = off + 1;
        this.marks?.advance(this.lane, this.takenUpTo);
      }
    }
    this.outstanding++;
    this.bytes = Math.max(0, this.bytes - rec.body.length);
    this.head.rec = undefined;
    return logRef(this.lane, off);
  }

  requeue(ref: MessageRef): void {
    const off = offsetOf(ref);
    this.outstanding--;
    insertSorted(this.requeued, off, (a) => a < off);
    const rec = this.log.read(off);
    if (rec !== undefined) this.bytes += rec.body.length;
  }

  settle(ref: MessageRef): void {
    this.outstanding--;
    this.log.ack(offsetOf(ref));
  }

  read(ref: MessageRef): LogRecord | undefined {
    return this.log.read(offsetOf(ref));
  }

  purge(): number {
    const n = this.ready;
    const log = this.log;
    if (this.outstanding === 0) log.truncateAll(); // nothing handed out: drop the files wholesale
    else {
      // what is ready: the requeued offsets, the head, and every unacked record from the cursor on
      for (const off of this.requeued) log.ack(off);
      if (this.next !== undefined) log.ack(this.next.offset);
      for (let off = log.nextUnacked(this.cursor.position); off < log.nextOffset; off = log.nextUnacked(off + 1)) log.ack(off);
    }
    this.requeued.length = 0;
    this.next = undefined;
    this.head.rec = undefined;
    this.cursor.seek(log.nextOffset);
    this.bytes = 0;
    return n;
  }

  /**
   * A sync failed before records [from, to) reached the disk; their publishers get basic.nack,
   * so the persistent ones among those not yet handed out must never be delivered: they are
   * settled (the log still writes them, and the acks, once it can). Transient ones were
   * confirmed on arrival and are kept.
   */
  dropUnsynced(from: number, to: number, err: Error): void {
    const log = this.log;
    let n = 0;
    for (let off = Math.max(from, this.takenUpTo); off < to; off++) {
      if (log.isAcked(off)) continue;
      const rec = log.read(off);
      if (rec === undefined || !isPersistent(rec)) continue;
      log.ack(off);
      if (this.next !== undefined && this.next.offset === off) this.next = undefined;
      this.bytes = Math.max(0, this.bytes - rec.body.length);
      n++;
    }
    if (n > 0) logger.warn(`${this.what}: ${n} persistent message(s) dropped, not written (${err.message}); publishers get basic.nack`);
  }

  reclaim(force: boolean): void {
    this.log.reclaim(force);
  }

  logs(): SegmentedLog[] {
    return [this.log];
  }

  close(): Promise<void> {
    return this.log.close();
  }

  destroy(): void {
    this.log.destroy();
  }
}

// Inserts x into the sorted array a after every element for which before() holds. Requeues
// mostly come back in order, so the end is tried first.
export function insertSorted<T>(a: T[], x: T, before: (el: T) => boolean): void {
  const n = a.length;
  if (n === 0 || before(a[n - 1])) {
    a.push(x);
    return;
  }
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(a[mid])) lo = mid + 1;
    else hi = mid;
  }
  a.splice(lo, 0, x);
}
