// How a SegmentedLog is set up (log.ts), and how it describes its segments.

export interface LogOptions {
  /** roll threshold, default 64 MiB (at most 2 GiB) */
  segmentBytes?: number;
  /** sparse index granularity, default 4096 */
  indexIntervalBytes?: number;
  /** largest write buffer (default 256 KiB): a log flushes to its file when it is full */
  writeBufferBytes?: number;
  /** recently appended records this log may keep in memory (default 8 MiB, within the process budget) */
  tailCacheBytes?: number;
  /**
   * default true: a record a cursor has read leaves the tail cache once it is flushed (a queue
   * reads each record once; keeping read records only makes them survive young GCs). Set false
   * for logs with many readers.
   */
  dropReadFromCache?: boolean;
  /** the log is never reopened (a non-durable queue's): no recovery point at each roll */
  ephemeral?: boolean;
  /** default true; false: a sync only writes to the OS (transient queues) */
  fsync?: boolean;
  /** buffered data and acks reach the file this long after they were produced (default 200 ms) */
  flushIntervalMs?: number;
  /** unsynced data is synced in the background after this long (default 1000 ms; 0 = never) */
  syncIntervalMs?: number;
  /**
   * Write appended records to the file at the end of the event loop turn instead of on the flush
   * timer (stream logs: readers see a batch at once; they read from the file, there is no tail
   * cache for batch records). Default false.
   */
  eagerFlush?: boolean;
  /** with eagerFlush: records up to nextOffset became readable (after each eager write) */
  onReadable?: () => void;
  /** records whose flags lack this bit do not survive a reopen (default 0: all do) */
  keepFlag?: number;
  /** an open segment this large is reclaimed (rolled and deleted) once fully acked (default 16 MiB) */
  reclaimBytes?: number;
  /** recovery progress for large logs */
  onProgress?: (msg: string) => void;
  /** what recovery truncated or skipped, damaged records, failed writes, with file and position */
  onWarning?: (msg: string) => void;
  /**
   * A sync round could not make records [from, to) durable (write or fdatasync failed); their
   * waiters are rejected right after this call. The records stay and are written later; the
   * owner decides whether they still count (a queue acks the persistent ones: their publishers
   * get basic.nack, so they must never be delivered).
   */
  onSyncFailed?: (from: number, to: number, err: Error) => void;
}

/** One segment, as management and tools see it. */
export interface SegmentInfo {
  baseOffset: number;
  nextOffset: number;
  liveCount: number;
  bytes: number;
  oldestTimestamp: number;
  newestTimestamp: number;
}
