// Recent chunks of every stream log in memory, under ONE process-wide budget (as the tail
// cache): chunks just written, so readers at the tail never read the file, and chunks one
// reader read, so readers at the same position read it once between them. Least recently used
// chunks go first, whatever their stream.
import { LRUCache } from 'lru-cache';
import type { LogRecord } from './record';

const DEFAULT_BUDGET = 8 * 1024 * 1024;

let lru = newLru(DEFAULT_BUDGET);

function newLru(maxSize: number): LRUCache<string, LogRecord> {
  return new LRUCache<string, LogRecord>({ maxSize: Math.max(1, maxSize), sizeCalculation: (r) => r.props.length + r.body.length + 96 });
}

/** The process-wide budget of the chunk cache in bytes (0: no caching). */
export function setChunkCacheBudget(bytes: number): void {
  lru.clear();
  lru = newLru(bytes);
  budget = bytes;
}
let budget = DEFAULT_BUDGET;

export function chunkCacheBytes(): number {
  return lru.calculatedSize;
}

let nextId = 1;

/** One stream's view of the shared cache, by chunk first offset. */
export class ChunkCache {
  private readonly prefix = `${nextId++}:`;

  get(offset: number): LogRecord | undefined {
    return budget > 0 ? lru.get(this.prefix + offset) : undefined;
  }

  has(offset: number): boolean {
    return budget > 0 && lru.has(this.prefix + offset);
  }

  set(offset: number, rec: LogRecord): void {
    if (budget > 0) lru.set(this.prefix + offset, rec);
  }

  /** Drop this stream's chunks (close, delete). */
  clear(): void {
    for (const k of [...lru.keys()]) if (k.startsWith(this.prefix)) lru.delete(k);
  }
}
