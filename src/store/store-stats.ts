// Process-wide counters of the store, for /metrics and the management API.
export const storeStats = {
  /** records found damaged (CRC, framing) by reads or recovery and skipped */
  corruptRecords: 0,
  /** fdatasync calls that failed */
  syncFailures: 0,
  /** writes (data, index, acks) that failed and are retried */
  writeFailures: 0,
  /** bytes read from segment files (every read: cursors, reads, recovery, streams) */
  bytesRead: 0,
  /** bytes appended to segment files (queue logs and streams) */
  bytesWritten: 0,
};

// One watcher of the bytes written: the free-disk alarm asks to hear when so much has been written
// that the disk could be near its limit, instead of relying on a timer being fast enough
// (a producer on a fast disk writes tens of MB between two 200 ms checks).
let watchAt = Infinity;
let watcher: (() => void) | null = null;

/** Calls `fn` once, on the event loop's next turn, after `bytes` more bytes are written. */
export function watchWrites(bytes: number, fn: () => void): void {
  watchAt = storeStats.bytesWritten + Math.max(0, bytes);
  watcher = fn;
}

export function noteWritten(n: number): void {
  storeStats.bytesWritten += n;
  if (storeStats.bytesWritten < watchAt) return;
  watchAt = Infinity;
  const fn = watcher;
  watcher = null;
  // not from inside a write: the watcher may block publishers
  if (fn !== null) setImmediate(fn);
}
