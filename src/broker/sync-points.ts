// What a confirm (or a tx.commit, or the removal of a dead-lettered message) must wait for: per
// log it appended to, the last offset it wrote. whenSynced() resolves when every one of those
// logs reports that offset durable, and is rejected when any of those syncs fails. Nothing is
// shared between batches: each holds its own offsets, so no batch can be acked on the strength
// of a sync that did not cover it.
import { afterReplicas, latest } from './replica-barrier';

/** What a sync point waits on: a log (or a stream's chunk, which appends itself first). */
export interface SyncTarget {
  /** resolves with the replication position that covers the offset (replica-barrier.ts) */
  whenSynced(offset: number): Promise<number>;
}

export class SyncPoints {
  private logs: SyncTarget[] = [];
  private offsets: number[] = [];

  /** An append of `offset` to `log` must be durable before the owner may proceed. */
  add(log: SyncTarget, offset: number): void {
    const logs = this.logs;
    for (let i = 0; i < logs.length; i++) {
      if (logs[i] === log) {
        if (offset > this.offsets[i]) this.offsets[i] = offset;
        return;
      }
    }
    logs.push(log);
    this.offsets.push(offset);
  }

  get empty(): boolean {
    return this.logs.length === 0;
  }

  whenSynced(): Promise<void> {
    const logs = this.logs;
    if (logs.length === 1) return afterReplicas(logs[0].whenSynced(this.offsets[0]));
    const all: Promise<number>[] = [];
    for (let i = 0; i < logs.length; i++) all.push(logs[i].whenSynced(this.offsets[i]));
    return afterReplicas(Promise.all(all).then(latest));
  }

  /** Move everything into `other` (a batch joining a larger one). */
  mergeInto(other: SyncPoints): void {
    for (let i = 0; i < this.logs.length; i++) other.add(this.logs[i], this.offsets[i]);
  }

  clear(): void {
    if (this.logs.length === 0) return;
    this.logs = [];
    this.offsets = [];
  }
}
