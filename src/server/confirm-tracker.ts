// Publisher confirms of one channel. Every publish gets the next sequence number and an outcome:
// accepted (ack), refused (nack), or accepted pending durability (its sync points: the logs and
// offsets its persistent copies went to). Publishes of one socket read form one batch; a batch is
// settled when all its sync points are durable (acks) or when one of those syncs fails (nacks:
// a failed sync never becomes an ack). Confirms go out in sequence order, and acks that are
// ready together go out as one `multiple=true` ack, as RabbitMQ coalesces them.
import { SyncPoints } from '../broker/sync-points';

export interface ConfirmSink {
  /** basic.ack (ack) or basic.nack for `seq` (and, with multiple, every unconfirmed seq below) */
  confirm(seq: number, multiple: boolean, ack: boolean): void;
  /** a sync covering this channel's messages failed */
  syncFailed(err: Error): void;
}

interface Batch {
  first: number;
  last: number;
  /** refused publishes, ascending */
  nacks: number[] | null;
  done: boolean;
  failed: boolean;
}

export class ConfirmTracker {
  private seq = 0;
  private batch: Batch | null = null;
  private readonly queue: Batch[] = [];
  /** sync points of the open batch, handed to the store by each publish */
  readonly sync = new SyncPoints();
  private closed = false;

  constructor(private readonly sink: ConfirmSink) {}

  /** The next publish: its sequence number (its outcome follows with accepted() or refused()). */
  next(): number {
    const s = ++this.seq;
    const b = this.batch;
    if (b === null) this.batch = { first: s, last: s, nacks: null, done: false, failed: false };
    else b.last = s;
    return s;
  }

  /** The publish `seq` (the latest) was refused: it is nacked, in order. */
  refused(seq: number): void {
    ((this.batch as Batch).nacks ??= []).push(seq);
  }

  /**
   * End of a socket read: the open batch waits for its sync points (if any) and confirms go out
   * for every batch that is settled, in order.
   */
  endOfChunk(): void {
    const b = this.batch;
    if (b === null) return;
    this.batch = null;
    this.queue.push(b);
    if (this.sync.empty) {
      b.done = true;
      this.drain();
      return;
    }
    const p = this.sync.whenSynced();
    this.sync.clear();
    p.then(() => {
      b.done = true;
      this.drain();
    }, (err: Error) => {
      b.done = true;
      b.failed = true;
      if (!this.closed) this.sink.syncFailed(err);
      this.drain();
    });
  }

  get pending(): number {
    return this.queue.length + (this.batch === null ? 0 : 1);
  }

  /** The channel closed: nothing more is sent. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    this.batch = null;
    this.sync.clear();
  }

  private drain(): void {
    if (this.closed) return;
    const q = this.queue;
    let runFrom = 0; // an ack run [runFrom, runTo] not yet sent
    let runTo = 0;
    const flushRun = () => {
      if (runTo === 0) return;
      this.sink.confirm(runTo, runTo > runFrom, true);
      runTo = 0;
    };
    while (q.length > 0 && q[0].done) {
      const b = q.shift() as Batch;
      if (b.failed) {
        flushRun();
        for (let s = b.first; s <= b.last; s++) this.sink.confirm(s, false, false);
        continue;
      }
      const nacks = b.nacks;
      let k = 0;
      for (let s = b.first; s <= b.last;) {
        const nextNack = nacks !== null && k < nacks.length ? nacks[k] : b.last + 1;
        if (s < nextNack) {
          // acks [s, nextNack - 1]
          if (runTo === 0) runFrom = s;
          runTo = nextNack - 1;
          s = nextNack;
        } else {
          flushRun();
          this.sink.confirm(s, false, false);
          k++;
          s++;
        }
      }
    }
    flushRun();
  }
}
