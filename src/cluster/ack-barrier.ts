// What a confirm waits for on the leader, after its own fdatasync: every follower in the wait
// set (the in-sync replicas) having acknowledged a synced position at or past the replication
// position of that moment. The wait set only ever errs on the large side: a follower joins it
// BEFORE it is written into the ISR in etcd, and leaves it only AFTER it was removed there, so
// every node etcd lists as in sync holds everything that was confirmed.
interface Waiter { pos: number; resolve: () => void }

export class AckBarrier {
  private readonly acked = new Map<string, number>();
  private waiters: Waiter[] = [];

  constructor(private readonly position: () => number) {}

  get members(): string[] {
    return [...this.acked.keys()];
  }

  has(id: string): boolean {
    return this.acked.has(id);
  }

  add(id: string, ackedPos: number): void {
    this.acked.set(id, ackedPos);
  }

  remove(id: string): void {
    if (this.acked.delete(id)) this.release();
  }

  /** A follower acknowledged `pos` synced (ignored when it is not in the wait set). */
  ack(id: string, pos: number): void {
    const cur = this.acked.get(id);
    if (cur === undefined || pos <= cur) return;
    this.acked.set(id, pos);
    this.release();
  }

  private low(): number {
    let m = Infinity;
    for (const v of this.acked.values()) if (v < m) m = v;
    return m;
  }

  /**
   * Resolves once every member has acknowledged `at` (a position a local sync resolved with),
   * or the position of this moment.
   */
  readonly wait = (at?: number): Promise<void> => {
    const now = this.position();
    const pos = at === undefined || at > now ? now : at;
    if (this.low() >= pos) return Promise.resolve();
    return new Promise<void>((resolve) => {
      // Kept in position order (a sync's position may be older than the one of a waiter
      // before it): almost always an append.
      const ws = this.waiters;
      let j = ws.length;
      while (j > 0 && ws[j - 1].pos > pos) j--;
      if (j === ws.length) ws.push({ pos, resolve });
      else ws.splice(j, 0, { pos, resolve });
    });
  };

  get waiting(): number {
    return this.waiters.length;
  }

  private release(): void {
    const low = this.low();
    const ws = this.waiters;
    let i = 0;
    while (i < ws.length && ws[i].pos <= low) i++; // in position order: the leading run
    if (i === 0) return;
    const ready = ws.slice(0, i);
    this.waiters = ws.slice(i);
    for (const w of ready) w.resolve();
  }
}
