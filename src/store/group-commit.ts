// The one owner of "this offset is on disk" for a log: whenSynced(offset) resolves only after
// the fdatasync that covers the offset has returned, and is rejected when that sync (or the
// write before it) fails. Everything a sync round covers is decided when the round starts; a
// waiter for data appended later joins the next round. Many waiters share one round (group
// commit), started on setImmediate so a burst of appends in one event loop turn costs one
// fdatasync per log.
//
// Each log has ONE timer: it writes buffered data, index entries and acks to the file
// `flushIntervalMs` after they were produced, and starts a background sync when data has been
// unsynced for `syncIntervalMs` with nobody waiting.
import * as fs from 'node:fs';
import { storeStats } from './store-stats';
import { replicationPosition } from './replication-position';

export type SyncFn = (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void;

// null: fs.fdatasync as it is at each call (a cluster leader's fs tap wraps it: fs-tap.ts)
let syncFn: SyncFn | null = null;

/**
 * Test hook: replace fdatasync for every log in the process (a slow or failing disk). Not an
 * option of the broker: tests load it with `node --require` (test/fixtures/slow-sync.ts).
 */
export function setSyncFnForTesting(fn: SyncFn | null): void {
  syncFn = fn;
}

export function currentSyncFn(): SyncFn {
  return syncFn ?? fs.fdatasync;
}

// Start times of the sync rounds in flight, for a watchdog: a cluster leader whose disk stalls
// steps down rather than hold every confirm of the cluster (src/cluster/node.ts).
const inFlight = new Map<GroupCommit, number>();

/** Milliseconds the oldest sync round in flight has been waiting (0: none). */
export function oldestSyncWaitMs(): number {
  let oldest = Infinity;
  for (const t of inFlight.values()) if (t < oldest) oldest = t;
  return oldest === Infinity ? 0 : Date.now() - oldest;
}

/** What a log gives its group commit. */
export interface CommitTarget {
  /** offset after the last appended record */
  readonly nextOffset: number;
  /** whether syncs call fdatasync (false: a write to the OS is enough) */
  readonly fsync: boolean;
  /** write buffered records to the file; throws when the write fails (nothing advances) */
  flushData(): void;
  /** write index entries and acks; failures are the log's to report and retry */
  flushMeta(): void;
  /** fdatasync every file holding unsynced records; calls back once with the first error */
  syncFiles(cb: (err: Error | null) => void): void;
  /** after a successful round: move the recovery point, release rolled segments */
  afterSync(): void;
  /** records [from, to) could not be made durable; their waiters are rejected right after */
  roundFailed(from: number, to: number, err: Error): void;
  /** something is buffered, unflushed or unsynced */
  readonly dirty: boolean;
  readonly unsynced: boolean;
  warn(msg: string): void;
}

interface Waiter {
  offset: number;
  resolve: (replicated: number) => void;
  reject: (e: Error) => void;
}

export class GroupCommit {
  /** offsets below this are durable */
  private syncedNext: number;
  private waiters: Waiter[] = [];
  private syncing = false;
  private scheduled = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private lastSyncAt = Date.now();
  /** the replication position read by the last round that completed (replication-position.ts) */
  private lastMark = 0;

  constructor(
    private readonly log: CommitTarget,
    private readonly flushIntervalMs: number,
    private readonly syncIntervalMs: number,
  ) {
    this.syncedNext = log.nextOffset;
  }

  get syncedOffset(): number {
    return this.syncedNext;
  }

  /**
   * Resolves once every record up to and including `offset` is durable, with the replication
   * position that covers those records (0 outside a cluster leader).
   */
  whenSynced(offset: number): Promise<number> {
    if (this.closed) return Promise.reject(new Error('log is closed'));
    if (offset < this.syncedNext) return Promise.resolve(this.lastMark);
    return new Promise<number>((resolve, reject) => {
      this.waiters.push({ offset, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.syncing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.startCb);
  }

  private readonly startCb = (): void => {
    this.scheduled = false;
    this.round();
  };

  /** Something was appended or acked: make sure the timer will write it. */
  touched(): void {
    if (this.timer === null && !this.closed && this.flushIntervalMs > 0) {
      this.timer = setTimeout(this.onTimer, this.flushIntervalMs);
      this.timer.unref();
    }
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.closed) return;
    const log = this.log;
    try {
      log.flushData();
    } catch (e) {
      storeStats.writeFailures++;
      log.warn(`background write failed, will retry: ${(e as Error).message}`);
      this.touched();
      return;
    }
    log.flushMeta();
    if (log.fsync && log.unsynced && this.syncIntervalMs > 0) {
      if (Date.now() - this.lastSyncAt >= this.syncIntervalMs) this.round();
      else this.touched();
    } else if (log.dirty) this.touched();
  };

  private round(): void {
    if (this.syncing || this.closed) return;
    const log = this.log;
    const from = this.syncedNext;
    const to = log.nextOffset;
    try {
      log.flushData();
    } catch (e) {
      storeStats.writeFailures++;
      this.fail(from, to, e as Error);
      return;
    }
    log.flushMeta();
    this.lastSyncAt = Date.now();
    if (!log.fsync || !log.unsynced) {
      this.done(to, replicationPosition());
      return;
    }
    this.syncing = true;
    inFlight.set(this, Date.now());
    // The replication position once this round's data is written and its fdatasyncs started
    // (a follower syncs what the leader syncs, when the stream says the leader started to);
    // read at the callback when that comes at once.
    let mark = -1;
    log.syncFiles((err) => {
      this.syncing = false;
      inFlight.delete(this);
      if (this.closed) return;
      if (err !== null) {
        storeStats.syncFailures++;
        this.fail(from, to, err);
      } else {
        log.afterSync();
        this.done(to, mark >= 0 ? mark : replicationPosition());
      }
      if (this.waiters.length > 0) this.schedule();
    });
    mark = replicationPosition();
  }

  private done(to: number, mark: number): void {
    if (to > this.syncedNext) this.syncedNext = to;
    if (mark > this.lastMark) this.lastMark = mark;
    this.settle(to, null);
  }

  private fail(from: number, to: number, err: Error): void {
    this.log.warn(`sync of offsets ${from}..${to - 1} failed: ${err.message}`);
    try {
      this.log.roundFailed(from, to, err);
    } catch (e) {
      this.log.warn(`after a failed sync: ${(e as Error).message}`);
    }
    // The failed records are the owner's to drop (roundFailed): later rounds need not cover them.
    if (to > this.syncedNext) this.syncedNext = to;
    this.settle(to, err);
    this.touched();
  }

  /** Resolve (or reject, with err) every waiter for an offset below `to`. */
  private settle(to: number, err: Error | null): void {
    const ws = this.waiters;
    if (ws.length === 0) return;
    const keep: Waiter[] = [];
    const ready: Waiter[] = [];
    for (const w of ws) (w.offset < to ? ready : keep).push(w);
    this.waiters = keep;
    for (const w of ready) {
      if (err === null) w.resolve(this.lastMark);
      else w.reject(err);
    }
  }

  /** Everything is synced by the caller (close): resolve all waiters. */
  closeSynced(): void {
    this.stopTimer();
    this.closed = true;
    this.syncedNext = this.log.nextOffset;
    this.lastMark = replicationPosition();
    this.settle(Infinity, null);
  }

  /** The log goes away without syncing (destroy, crash test): reject all waiters. */
  abort(err: Error): void {
    this.stopTimer();
    this.closed = true;
    this.settle(Infinity, err);
  }

  /** Offsets were dropped wholesale (purge): nobody needs to wait for them any more. */
  skipTo(next: number): void {
    if (next > this.syncedNext) this.syncedNext = next;
    this.lastMark = replicationPosition();
    this.settle(next, null);
  }

  private stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
