// Recently appended records kept in memory, so that a consumer reading right behind a producer
// never touches the file. Each log has a ring of its newest records; ONE process-wide budget
// bounds them all, so memory does not grow with the number of backlogged queues: when the total
// is over budget, the logs appended to least recently give up their oldest flushed records.
// Records not yet written to the file are always kept (they are bounded by the write buffer).
import type { LogRecord } from './record';

/** Estimated JS heap cost of one cached record beyond its framed bytes. */
export const CACHE_RECORD_OVERHEAD = 160;

const DEFAULT_BUDGET = 32 * 1024 * 1024;

class Budget {
  limit = DEFAULT_BUDGET;
  total = 0;
  // insertion order = least recently appended first
  private readonly caches = new Map<TailCache, true>();
  private mru: TailCache | null = null;

  touch(c: TailCache): void {
    if (c === this.mru) return;
    this.caches.delete(c);
    this.caches.set(c, true);
    this.mru = c;
  }

  forget(c: TailCache): void {
    this.caches.delete(c);
    if (this.mru === c) this.mru = null;
  }

  shrink(): void {
    const target = this.limit - (this.limit >> 3);
    for (const c of this.caches.keys()) {
      if (this.total <= target) return;
      c.evictFlushed(this.total - target);
    }
  }
}

const budget = new Budget();

/** Process-wide limit of cached record bytes (default 32 MiB: docs/design-notes.md, memory). */
export function setTailCacheBudget(bytes: number): void {
  budget.limit = Math.max(0, bytes);
  budget.shrink();
}

export function tailCacheBytes(): number {
  return budget.total;
}

export class TailCache {
  private ring: (LogRecord | undefined)[] = new Array(16);
  private mask = 15;
  private head = 0;
  private start = 0;
  private count = 0;
  private bytes = 0;
  /** records below this were read by a cursor (they go once flushed, with dropRead) */
  private readTo = 0;
  /** records below this are in the file and may be evicted (set by the log) */
  flushedNext = 0;

  constructor(private readonly perLogLimit: number, private readonly dropRead: boolean) {}

  get size(): number {
    return this.bytes;
  }

  push(r: LogRecord): void {
    if (this.count === 0) {
      this.start = r.offset;
      this.head = 0;
    }
    if (this.count > this.mask) this.grow();
    this.ring[(this.head + this.count) & this.mask] = r;
    this.count++;
    const cost = r.size + CACHE_RECORD_OVERHEAD;
    this.bytes += cost;
    budget.total += cost;
    budget.touch(this);
    if (this.bytes > this.perLogLimit) this.evictFlushed(this.bytes - this.perLogLimit);
    if (budget.total > budget.limit) budget.shrink();
  }

  private grow(): void {
    const old = this.ring;
    const cap = old.length * 2;
    const ring: (LogRecord | undefined)[] = new Array(cap);
    for (let i = 0; i < this.count; i++) ring[i] = old[(this.head + i) & this.mask];
    this.ring = ring;
    this.mask = cap - 1;
    this.head = 0;
  }

  get(offset: number): LogRecord | undefined {
    const rel = offset - this.start;
    if (rel < 0 || rel >= this.count) return undefined;
    return this.ring[(this.head + rel) & this.mask];
  }

  /** After a flush: what was read goes, and the ring shrinks back to this log's own limit. */
  trim(): void {
    this.evictFlushed(this.bytes > this.perLogLimit ? this.bytes - this.perLogLimit : 0);
  }

  /** A cursor read `offset` from the cache. */
  noteRead(offset: number): void {
    if (!this.dropRead || offset < this.readTo) return;
    this.readTo = offset + 1;
    if (this.start < this.flushedNext) this.evictFlushed(0);
  }

  /** Evict flushed records: those already read, and the oldest until `atLeast` bytes are freed. */
  evictFlushed(atLeast: number): void {
    const flushed = this.flushedNext;
    const read = this.dropRead ? this.readTo : 0;
    let freed = 0;
    while (this.count > 0 && this.start < flushed && (freed < atLeast || this.start < read)) {
      const i = this.head;
      const r = this.ring[i] as LogRecord;
      this.ring[i] = undefined;
      const cost = r.size + CACHE_RECORD_OVERHEAD;
      freed += cost;
      this.head = (i + 1) & this.mask;
      this.start++;
      this.count--;
    }
    this.bytes -= freed;
    budget.total -= freed;
    if (this.count === 0) {
      budget.forget(this);
      if (this.ring.length > 1024) {
        this.ring = new Array(16);
        this.mask = 15;
        this.head = 0;
      }
    }
  }

  /** Drop everything; the next record pushed will be `next`. */
  clear(next: number): void {
    budget.total -= this.bytes;
    budget.forget(this);
    this.ring = new Array(16);
    this.mask = 15;
    this.head = 0;
    this.count = 0;
    this.bytes = 0;
    this.start = next;
    this.readTo = 0;
    this.flushedNext = next;
  }
}
