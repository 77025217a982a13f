// What of a log still needs an fdatasync before its records can be called durable: the open
// segment past its synced size, segments rolled before their data was synced, and the
// directory after a segment was created. Once they are synced the recovery point may move
// forward, so that the next start rescans only the segments written since (log-loader.ts).
import { fsyncDirAsync } from './fd-cache';
import { currentSyncFn } from './group-commit';
import { writeRecoveryPoint } from './log-loader';
import type { Segment } from './segment';

export class SyncTracker {
  private rolled: Segment[] = [];
  private dirUnsynced = false;

  constructor(
    private readonly dir: string,
    private readonly ephemeral: boolean,
    private checkpointBase: number,
    private readonly warn: (msg: string) => void,
  ) {}

  /** A segment was created: its directory entry must be durable with its data. */
  dirChanged(): void {
    this.dirUnsynced = true;
  }

  /** A segment was rolled with data not yet synced. */
  rolledUnsynced(seg: Segment): void {
    this.rolled.push(seg);
  }

  /** Something besides the open segment's data is waiting for a sync. */
  get waiting(): boolean {
    return this.rolled.length > 0 || this.dirUnsynced;
  }

  /** fdatasync what needs it (in the thread pool); cb gets the first error. */
  syncFiles(open: Segment | undefined, cb: (err: Error | null) => void): void {
    const targets: Segment[] = [];
    for (const s of this.rolled) if (!s.deleted && s.syncedSize < s.size) targets.push(s);
    if (open !== undefined && open.size > open.syncedSize) targets.push(open);
    const dir = this.dirUnsynced;
    this.dirUnsynced = false;
    if (targets.length === 0 && !dir) {
      cb(null);
      return;
    }
    let pending = targets.length + (dir ? 1 : 0);
    let error: Error | null = null;
    const done = (err: Error | null): void => {
      if (err !== null && error === null) error = err;
      if (--pending === 0) cb(error);
    };
    if (dir) fsyncDirAsync(this.dir, () => done(null));
    const fn = currentSyncFn();
    for (const seg of targets) seg.sync(fn, done);
  }

  /** After a sync round: forget what is synced, move the recovery point up to what is not. */
  afterSync(open: Segment | undefined): void {
    const still: Segment[] = [];
    for (const s of this.rolled) if (!s.deleted && s.syncedSize < s.size) still.push(s);
    this.rolled = still;
    if (open === undefined || this.ephemeral) return;
    let first = open.base;
    for (const s of still) if (s.base < first) first = s.base;
    if (first > this.checkpointBase) this.writeCheckpoint(first, 0);
  }

  writeCheckpoint(base: number, position: number): void {
    try {
      writeRecoveryPoint(this.dir, base, position);
      this.checkpointBase = base;
    } catch (e) {
      this.warn(`cannot write the recovery point: ${(e as Error).message}`);
    }
  }

  /** At a clean close: the rolled segments synced now, in this thread. */
  syncRolledNow(): void {
    for (const s of this.rolled) if (!s.deleted) s.syncNow();
  }

  /** The log is closing or was emptied: the rolled segments are no longer its business. */
  release(closeFiles: boolean): void {
    if (closeFiles) for (const s of this.rolled) s.closeFiles();
    this.rolled = [];
  }
}
