// Write buffers of the logs, lent from a small process-wide pool: a log holds one only while it
// has records not yet written to its file, so thousands of idle queues hold none. A log starts
// with a small buffer and doubles it when it fills before the flush timer (a busy log), up to
// its limit, while the buffers lent in the whole process stay under a budget: with a thousand
// queues busy at once, each writes its small buffer out when it is full instead of growing
// (measured: 1,000 queues filled round-robin held 256 MiB of write buffers before the budget).
const MIN_SIZE = 32 * 1024;
const POOL_PER_SIZE = 8;
const LENT_BUDGET = 16 * 1024 * 1024;
const pool = new Map<number, Buffer[]>();
let lent = 0;

/** A log may take a bigger buffer next time: the process is under its write-buffer budget. */
export function mayGrow(): boolean {
  return lent < LENT_BUDGET;
}

/** Size class for a wanted capacity: a power of two, at least 32 KiB. */
export function bufferClass(want: number): number {
  let n = MIN_SIZE;
  while (n < want) n *= 2;
  return n;
}

export function acquireBuffer(size: number): Buffer {
  lent += size;
  const free = pool.get(size);
  return free !== undefined && free.length > 0 ? (free.pop() as Buffer) : Buffer.allocUnsafe(size);
}

export function releaseBuffer(b: Buffer): void {
  lent -= b.length;
  let free = pool.get(b.length);
  if (free === undefined) pool.set(b.length, (free = []));
  if (free.length < POOL_PER_SIZE) free.push(b);
}

/** Bytes of write buffers lent to logs and kept in the pool, for the metrics. */
export function writeBufferBytes(): { lent: number; pooled: number } {
  let pooled = 0;
  for (const [size, free] of pool) pooled += size * free.length;
  return { lent, pooled };
}

export const INITIAL_BUFFER = MIN_SIZE;
