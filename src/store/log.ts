/*
 * SegmentedLog: an append-only log of records split into segment files (see segment.ts for the
 * files, record.ts for the record framing).
 *
 * Write path: append() frames the record straight into a preallocated write buffer and keeps the
 * caller's object (stamped with offset, timestamp, flags and size) in a tail cache; flush() writes
 * the buffer with one writeSync; sync() adds fdatasync with group commit.
 *
 * Files in the log directory besides the segments:
 *   recovery-point  JSON {"segment": base, "position": bytes}: every segment before `segment` is
 *                   fdatasync'ed and valid (written after the sync that covered a rolled segment,
 *                   and at close with the open segment's final size).
 *   clean-shutdown  empty marker written by close() after everything is synced; removed (and the
 *                   removal fsynced) by open(), so a later crash is detected.
 *
 * Open: with the marker and a recovery point matching the last segment's size, nothing is
 * CRC-scanned (each segment's index is loaded and its tail, from the last index entry to the end
 * of the file, is walked by headers only: at most indexIntervalBytes plus one record). Otherwise
 * every segment from the recovery point on (always all of the open segment) is read with CRC
 * checks and truncated at the first short or bad record; its index is rebuilt.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  CorruptRecordError,
  HEADER_SIZE,
  LogRecord,
  LogRecordInput,
  MAX_RECORD_SIZE,
  checkFrame,
  decodeFrame,
  encodeInto,
  frameOffset,
  frameSize,
  frameTimestamp,
  packEnvelope,
} from './record';
import { SEGMENT_NAME_RE, Segment, closeQuiet, readFds, releaseFds, unlinkQuiet } from './segment';

function unlinkInBackground(paths: string[], warn: (msg: string) => void): void {
  const p = paths.shift();
  if (p === undefined) return;
  fs.unlink(p, (err) => {
    if (err !== null && err.code !== 'ENOENT') warn(`cannot delete ${p}: ${err.message}`);
    unlinkInBackground(paths, warn);
  });
}

export interface LogOptions {
  /** roll threshold, default 64 MiB (at most 2 GiB) */
  segmentBytes?: number;
  /** sparse index granularity, default 4096 */
  indexIntervalBytes?: number;
  /** flush to the file when the buffer exceeds this (default 256 KiB) */
  writeBufferBytes?: number;
  /**
   * recently appended records kept in memory for reads (default 8 MiB). Accounted as framed
   * size + CACHE_RECORD_OVERHEAD per record. Records not yet flushed are always kept.
   */
  tailCacheBytes?: number;
  /**
   * default true: a record a cursor has read leaves the tail cache once it is flushed. A queue
   * reads each record once through its one cursor (requeues re-read by offset, rarely), so
   * keeping read records only makes them survive young-generation GCs and get promoted, which
   * showed as 5-15 ms old-generation pauses at 10k msg/s. Set false for logs with many readers.
   */
  dropReadFromCache?: boolean;
  /**
   * the log is never reopened (a non-durable queue's, removed at the next start): no recovery
   * point at each roll. Default false.
   */
  ephemeral?: boolean;
  /** default true; false = sync() only flushes to the OS (for transient queues) */
  fsync?: boolean;
  /** buffered data and acks are flushed this long after they were produced (default 200 ms) */
  flushIntervalMs?: number;
  /** with fsync, unsynced data is fdatasync'ed by a background sync after this long (default 1000 ms; 0 = never) */
  syncIntervalMs?: number;
  /** recovery progress lines for large logs (every 256 MiB scanned) */
  onProgress?: (msg: string) => void;
  /** what recovery truncated/dropped, with segment file and byte position; background sync errors */
  onWarning?: (msg: string) => void;
  /**
   * A sync round could not write the buffered records [from, to) (disk full, I/O error); its
   * waiters are rejected right after this call. The records stay buffered and are written later
   * at the same file position; the owner decides whether they still count (the broker acks the
   * persistent ones, whose publishers get basic.nack, so they never come back).
   */
  onSyncFailed?: (from: number, to: number, err: Error) => void;
}

export interface LogCursor {
  /** the offset next() looks at next */
  readonly position: number;
  next(): LogRecord | undefined;
  seek(offset: number): void;
}

export interface SegmentStat {
  baseOffset: number;
  nextOffset: number;
  liveCount: number;
  bytes: number;
  oldestTimestamp: number;
}

/** Estimated JS heap cost of one cached record beyond its framed bytes. */
export const CACHE_RECORD_OVERHEAD = 160;

const MARKER = 'clean-shutdown';
const RECOVERY_POINT = 'recovery-point';
const SCAN_CHUNK = 4 * 1024 * 1024;
const PROGRESS_EVERY = 256 * 1024 * 1024;
const MiB = 1024 * 1024;

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const State = { Open: 0, Closing: 1, Closed: 2 } as const;
type State = (typeof State)[keyof typeof State];

let sharedScanBuf: Buffer | null = null;
function scanBuffer(): Buffer {
  if (sharedScanBuf === null) sharedScanBuf = Buffer.allocUnsafe(SCAN_CHUNK);
  return sharedScanBuf;
}

export function readFully(fd: number, buf: Buffer, off: number, len: number, pos: number): number {
  let done = 0;
  while (done < len) {
    const n = fs.readSync(fd, buf, off + done, len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

function writeFully(fd: number, buf: Buffer, off: number, len: number, pos: number): void {
  let done = 0;
  while (done < len) done += fs.writeSync(fd, buf, off + done, len - done, pos + done);
}

function fsyncDir(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems do not support fsync on directories */
  } finally {
    if (fd >= 0) closeQuiet(fd);
  }
}

/**
 * A window over a segment file for sequential walks: `ensure(seg, pos, n)` makes bytes
 * [pos, pos + n) available in `buf` and returns their index in it.
 */
class Window {
  buf: Buffer;
  seg: Segment | null = null;
  start = 0;
  len = 0;
  constructor(private readonly chunk: number) {
    this.buf = Buffer.allocUnsafe(chunk);
  }
  /** returns the index of pos in buf, or -1 if the file ends before pos + n */
  ensure(log: SegmentedLog, seg: Segment, pos: number, n: number): number {
    if (this.seg === seg && pos >= this.start && pos + n <= this.start + this.len) return pos - this.start;
    const limit = seg.size;
    if (pos + n > limit) return -1;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    else if (this.buf.length > this.chunk && n <= this.chunk) this.buf = Buffer.allocUnsafe(this.chunk);
    const want = Math.min(this.buf.length, limit - pos);
    const fd = log._readFd(seg);
    const got = readFully(fd, this.buf, 0, want, pos);
    this.seg = seg;
    this.start = pos;
    this.len = got;
    if (got < n) return -1;
    return 0;
  }
  invalidate(): void {
    this.seg = null;
    this.len = 0;
  }
}

export class SegmentedLog {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly indexInterval: number;
  private readonly writeBufferBytes: number;
  private readonly tailCacheBytes: number;
  private readonly fsyncEnabled: boolean;
  private readonly ephemeral: boolean;
  private readonly flushIntervalMs: number;
  private readonly syncIntervalMs: number;
  private readonly onProgress?: (msg: string) => void;
  private readonly onWarning?: (msg: string) => void;
  private readonly onSyncFailed?: (from: number, to: number, err: Error) => void;

  private state: State = State.Open;
  private failed: Error | null = null;
  private segments: Segment[] = [];
  private open_!: Segment;
  private next = 0;
  private live = 0;
  private totalSize = 0;

  // write buffer: records [flushedNext, next) of the open segment
  private wbuf: Buffer;
  private bufLen = 0;
  private flushedNext = 0;

  // tail cache: ring of the records [ringStart, ringStart + ringCount)
  private ring: (LogRecord | undefined)[] = new Array(1024);
  private ringMask = 1023;
  private ringHead = 0;
  private ringStart = 0;
  private ringCount = 0;
  private cacheBytes = 0;
  private readonly dropRead: boolean;
  private readTo = 0; // records below this were read by a cursor (with dropRead)

  // acks
  private ackDirty: Segment[] = [];

  // group commit
  private syncing = false;
  private syncScheduled = false;
  private nextRound: Deferred | null = null;
  private unsynced: Segment[] = [];
  private checkpointBase = -1;
  private lastSyncAt = 0;

  private timer: NodeJS.Timeout | null = null;
  private readWindow: Window | null = null;

  private constructor(dir: string, opts: LogOptions) {
    this.dir = dir;
    this.segmentBytes = Math.min(opts.segmentBytes ?? 64 * MiB, 2048 * MiB);
    if (!(this.segmentBytes > 0)) throw new RangeError('segmentBytes must be > 0');
    this.indexInterval = Math.max(1, opts.indexIntervalBytes ?? 4096);
    this.writeBufferBytes = Math.max(1024, opts.writeBufferBytes ?? 256 * 1024);
    this.tailCacheBytes = Math.max(0, opts.tailCacheBytes ?? 8 * MiB);
    this.dropRead = opts.dropReadFromCache ?? true;
    this.fsyncEnabled = opts.fsync ?? true;
    this.ephemeral = opts.ephemeral ?? false;
    this.flushIntervalMs = opts.flushIntervalMs ?? 200;
    this.syncIntervalMs = opts.syncIntervalMs ?? 1000;
    this.onProgress = opts.onProgress;
    this.onWarning = opts.onWarning;
    this.onSyncFailed = opts.onSyncFailed;
    this.wbuf = Buffer.allocUnsafe(this.writeBufferBytes + 64 * 1024);
  }

  /** Synchronous open + recovery; creates the directory. */
  static open(dir: string, opts: LogOptions = {}): SegmentedLog {
    fs.mkdirSync(dir, { recursive: true });
    const log = new SegmentedLog(dir, opts);
    log.load();
    return log;
  }

  /** True when `dir` holds a log (at least one segment file). */
  static exists(dir: string): boolean {
    try {
      return fs.readdirSync(dir).some((n) => SEGMENT_NAME_RE.test(n));
    } catch {
      return false;
    }
  }

  // ---- properties --------------------------------------------------------------------------

  /** first offset still stored (after deletions/retention) */
  get startOffset(): number {
    return this.segments.length > 0 ? this.segments[0].base : this.next;
  }

  get nextOffset(): number {
    return this.next;
  }

  /** records stored and not acked, over all segments */
  get liveCount(): number {
    return this.live;
  }

  get sizeBytes(): number {
    return this.totalSize + this.bufLen;
  }

  // ---- append ------------------------------------------------------------------------------

  /** Synchronous; returns the offset. The input object is stamped (offset, timestamp, flags, size) and cached. */
  append(rec: LogRecordInput): number {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    const props = rec.props;
    const body = rec.body;
    const envelope = rec.envelope;
    const env = envelope === undefined ? undefined : packEnvelope(envelope);
    const size = HEADER_SIZE + (env === undefined ? 0 : env.length) + props.length + body.length;
    if (size > MAX_RECORD_SIZE) throw new RangeError(`record of ${size} bytes exceeds ${MAX_RECORD_SIZE}`);
    let seg = this.open_;
    if (seg.size + this.bufLen + size > this.segmentBytes && seg.size + this.bufLen > 0) {
      this.roll();
      seg = this.open_;
    }
    const offset = this.next;
    const ts = rec.timestamp ?? Date.now();
    const flags = (rec.flags ?? 0) & 0xffff;
    const filePos = seg.size + this.bufLen;
    if (this.bufLen + size > this.wbuf.length) {
      this.flush();
      if (size > this.wbuf.length) {
        // larger than the whole buffer: frame it on its own and write it directly
        const big = Buffer.allocUnsafe(size);
        encodeInto(big, 0, offset, ts, flags, env, props, body);
        writeFully(seg.fd, big, 0, size, seg.size);
        seg.size += size;
        this.totalSize += size;
        this.flushedNext = offset + 1;
      }
    }
    if (this.flushedNext <= offset) {
      encodeInto(this.wbuf, this.bufLen, offset, ts, flags, env, props, body);
      this.bufLen += size;
    }
    seg.maybeIndex(offset - seg.base, filePos, this.indexInterval);
    if (seg.next === seg.base) seg.oldestTimestamp = ts;
    if (ts > seg.newestTimestamp) seg.newestTimestamp = ts;
    seg.next = offset + 1;
    this.next = offset + 1;
    this.live++;

    const r = rec as LogRecord;
    r.offset = offset;
    r.timestamp = ts;
    r.flags = flags;
    r.size = size;
    this.cachePush(r, size);

    if (this.bufLen >= this.writeBufferBytes) {
      // The record is appended (offset taken, cached): a failed write must not make append throw,
      // or the caller would treat a record the log holds as refused. It stays buffered, the write
      // is retried at the same file position, and sync() reports the failure to its waiters.
      try {
        this.flush();
      } catch (e) {
        this.warn(`flush failed, will retry: ${(e as Error).message}`);
        if (this.timer === null) this.armTimer();
      }
    } else if (this.timer === null) this.armTimer();
    return offset;
  }

  /**
   * Write the buffer (and pending index entries and acks) to the files; no fsync. On a write
   * error (ENOSPC, EIO) it throws and nothing advances: the data is rewritten at the same file
   * position next time, over whatever part of it the failed write left past the end.
   */
  flush(): void {
    if (this.state === State.Closed) return;
    this.flushData();
    this.flushMeta();
  }

  private flushData(): void {
    const seg = this.open_;
    if (this.bufLen > 0) {
      writeFully(seg.fd, this.wbuf, 0, this.bufLen, seg.size);
      seg.size += this.bufLen;
      this.totalSize += this.bufLen;
      this.bufLen = 0;
    }
    this.flushedNext = this.next;
    this.cacheEvict();
  }

  private flushMeta(): void {
    const seg = this.open_;
    if (seg.idxWritten < seg.idxLen) this.writeIndexTail(seg);
    this.flushAcks();
  }

  // Positional: the .idx file holds exactly idxWritten entries, so a failed (or short) write is
  // redone at the same place instead of appending after a torn entry.
  private writeIndexTail(seg: Segment): void {
    if (seg.idxFd < 0) seg.idxFd = fs.openSync(seg.idxPath, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
    const bytes = seg.indexBytes(seg.idxWritten);
    writeFully(seg.idxFd, bytes, 0, bytes.length, seg.idxWritten * 8);
    seg.idxWritten = seg.idxLen;
  }

  // Acks are appended at the file's end; a failed write is cut off again (the file stays a whole
  // number of entries, so later appends stay aligned) and the acks stay pending for the next flush.
  private flushAcks(): void {
    const dirty = this.ackDirty;
    if (dirty.length === 0) return;
    this.ackDirty = [];
    for (let k = 0; k < dirty.length; k++) {
      const seg = dirty[k];
      const pending = seg.ackPending;
      if (pending === null || pending.length === 0 || seg.deleted) {
        seg.ackPending = null;
        continue;
      }
      const b = Buffer.allocUnsafe(pending.length * 4);
      for (let i = 0; i < pending.length; i++) b.writeUInt32LE(pending[i], i * 4);
      let fd = -1;
      let end = -1;
      try {
        fd = fs.openSync(seg.ackPath, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
        end = fs.fstatSync(fd).size & ~3;
        writeFully(fd, b, 0, b.length, end);
        seg.ackPending = null;
      } catch (e) {
        if (fd >= 0 && end >= 0) {
          try {
            fs.ftruncateSync(fd, end);
          } catch {
            /* shrinking does not need space; nothing better to do */
          }
        }
        this.ackDirty = dirty.slice(k).concat(this.ackDirty);
        throw e;
      } finally {
        if (fd >= 0) closeQuiet(fd);
      }
    }
  }

  private roll(): void {
    this.flush();
    const old = this.open_;
    if (old.idxFd >= 0) {
      closeQuiet(old.idxFd);
      old.idxFd = -1;
    }
    old.compactIndex();
    const seg = new Segment(this.dir, this.next);
    seg.fd = fs.openSync(seg.logPath, 'w+');
    seg.writable = true;
    this.segments.push(seg);
    this.open_ = seg;
    if (old.ackedCount === old.count) {
      this.deleteSegment(old, true);
    } else if (this.fsyncEnabled && old.syncedSize < old.size) {
      this.unsynced.push(old); // its fd stays open until the sync that covers it
      this.sync().catch((e: Error) => this.warn(`background sync after roll failed: ${e.message}`));
    } else {
      this.handOverFd(old);
      // (a recovery point is worth a rename per roll only for a log that will be reopened)
      if (!this.fsyncEnabled && !this.ephemeral) this.writeCheckpoint(seg.base, 0);
    }
  }

  /** A closed segment's write fd becomes a (LRU-managed) read fd. */
  private handOverFd(seg: Segment): void {
    seg.writable = false;
    if (seg.fd >= 0 && !seg.deleted) readFds.set(seg, seg.fd);
  }

  // ---- sync / group commit -----------------------------------------------------------------

  /**
   * Resolves when everything appended before the call is fdatasync'ed. Calls made while no sync
   * is running share the next one (started on setImmediate, so a burst of appends + syncs in one
   * event loop turn costs one fdatasync); calls made while one is in flight join the one after it.
   */
  sync(): Promise<void> {
    if (this.state !== State.Open) return Promise.reject(new Error(`log ${this.dir} is closed`));
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.nextRound === null) this.nextRound = deferred();
    const p = this.nextRound.promise;
    if (!this.syncing && !this.syncScheduled) {
      this.syncScheduled = true;
      setImmediate(this.startRoundCb);
    }
    return p;
  }

  private readonly startRoundCb = (): void => {
    this.syncScheduled = false;
    this.startRound();
  };

  private startRound(): void {
    if (this.syncing) return;
    const d = this.nextRound;
    if (d === null) return;
    this.nextRound = null;
    if (this.state === State.Closed) {
      d.reject(new Error(`log ${this.dir} is closed`));
      return;
    }
    if (this.failed !== null) {
      d.reject(this.failed);
      return;
    }
    try {
      this.flushData();
    } catch (e) {
      // Nothing of [flushedNext, next) is known to be on disk: tell the owner, then the waiters.
      if (this.onSyncFailed && this.flushedNext < this.next) {
        try {
          this.onSyncFailed(this.flushedNext, this.next, e as Error);
        } catch (e2) {
          this.warn(`onSyncFailed: ${(e2 as Error).message}`);
        }
      }
      d.reject(e as Error);
      return;
    }
    try {
      this.flushMeta();
    } catch (e) {
      // The index is derived data and acks do not need the fdatasync: the data is what this round
      // is for. Both stay pending and are written by a later flush.
      this.warn(`writing index or acks failed, will retry: ${(e as Error).message}`);
    }
    this.lastSyncAt = Date.now();
    if (!this.fsyncEnabled) {
      d.resolve();
      return;
    }
    const targets: Segment[] = [];
    for (const s of this.unsynced) if (!s.deleted && s.fd >= 0) targets.push(s);
    const open = this.open_;
    if (open.size > open.syncedSize) targets.push(open);
    const closedDone = this.unsynced;
    this.unsynced = [];
    if (targets.length === 0) {
      this.afterRound(closedDone);
      d.resolve();
      return;
    }
    this.syncing = true;
    let pending = targets.length;
    let error: Error | null = null;
    for (const seg of targets) {
      const upTo = seg.size;
      seg.inflight++;
      fs.fdatasync(seg.fd, (err) => {
        seg.inflight--;
        if (err) error = error ?? err;
        else if (upTo > seg.syncedSize) seg.syncedSize = upTo;
        if (seg.inflight === 0 && seg.closeWhenIdle) {
          seg.closeWhenIdle = false;
          closeQuiet(seg.fd);
          seg.fd = -1;
        }
        if (--pending > 0) return;
        this.syncing = false;
        if (error !== null) {
          this.failed = error;
          this.warn(`fdatasync failed, log is now read-only for sync: ${error.message}`);
          d.reject(error);
        } else {
          this.afterRound(closedDone);
          d.resolve();
        }
        if (this.nextRound !== null && !this.syncScheduled) this.startRound();
      });
    }
  }

  /** After closed segments are synced: their fds become read fds, the recovery point moves. */
  private afterRound(closed: Segment[]): void {
    if (closed.length === 0 || this.state === State.Closed) return;
    for (const s of closed) if (!s.deleted && s.writable) this.handOverFd(s);
    let first = this.open_.base;
    for (const s of this.unsynced) if (s.base < first) first = s.base;
    if (first > this.checkpointBase) this.writeCheckpoint(first, 0);
  }

  private writeCheckpoint(base: number, position: number): void {
    const p = path.join(this.dir, RECOVERY_POINT);
    try {
      fs.writeFileSync(p + '.tmp', JSON.stringify({ version: 1, segment: base, position }));
      fs.renameSync(p + '.tmp', p);
      this.checkpointBase = base;
    } catch (e) {
      this.warn(`cannot write recovery point: ${(e as Error).message}`);
    }
  }

  private armTimer(): void {
    if (this.flushIntervalMs <= 0 || this.state !== State.Open) return;
    this.timer = setTimeout(this.onTimer, this.flushIntervalMs);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.state !== State.Open) return;
    try {
      this.flush();
    } catch (e) {
      this.warn(`background flush failed: ${(e as Error).message}`);
      return;
    }
    if (this.fsyncEnabled && this.syncIntervalMs > 0 && this.failed === null) {
      const open = this.open_;
      const dirty = open.size > open.syncedSize || this.unsynced.length > 0;
      if (dirty) {
        if (Date.now() - this.lastSyncAt >= this.syncIntervalMs) {
          this.sync().catch((e: Error) => this.warn(`background sync failed: ${e.message}`));
        } else this.armTimer();
      }
    }
  };

  private warn(msg: string): void {
    if (this.onWarning) this.onWarning(msg);
  }

  // ---- tail cache --------------------------------------------------------------------------

  private cachePush(r: LogRecord, size: number): void {
    if (this.ringCount === 0) {
      this.ringStart = r.offset;
      this.ringHead = 0;
    }
    if (this.ringCount > this.ringMask) {
      const old = this.ring;
      const cap = old.length * 2;
      const ring: (LogRecord | undefined)[] = new Array(cap);
      for (let i = 0; i < this.ringCount; i++) ring[i] = old[(this.ringHead + i) & this.ringMask];
      this.ring = ring;
      this.ringMask = cap - 1;
      this.ringHead = 0;
    }
    this.ring[(this.ringHead + this.ringCount) & this.ringMask] = r;
    this.ringCount++;
    this.cacheBytes += size + CACHE_RECORD_OVERHEAD;
    if (this.cacheBytes > this.tailCacheBytes) this.cacheEvict();
  }

  private cacheEvict(): void {
    const limit = this.tailCacheBytes;
    const flushed = this.flushedNext;
    const read = this.readTo;
    while (this.ringCount > 0 && this.ringStart < flushed && (this.cacheBytes > limit || this.ringStart < read)) {
      const i = this.ringHead;
      const r = this.ring[i] as LogRecord;
      this.ring[i] = undefined;
      this.cacheBytes -= r.size + CACHE_RECORD_OVERHEAD;
      this.ringHead = (i + 1) & this.ringMask;
      this.ringStart++;
      this.ringCount--;
    }
  }

  private cacheGet(offset: number): LogRecord | undefined {
    const rel = offset - this.ringStart;
    if (rel < 0 || rel >= this.ringCount) return undefined;
    return this.ring[(this.ringHead + rel) & this.ringMask];
  }

  private cacheClear(): void {
    this.ring = new Array(1024);
    this.ringMask = 1023;
    this.ringHead = 0;
    this.ringCount = 0;
    this.ringStart = this.next;
    this.cacheBytes = 0;
    this.readTo = 0;
  }

  // ---- reads -------------------------------------------------------------------------------

  /** Segment holding `offset`, or undefined (deleted, truncated away or out of range). */
  private segmentOf(offset: number): Segment | undefined {
    const segs = this.segments;
    const open = this.open_;
    if (offset >= open.base) return offset < open.next ? open : undefined;
    let lo = 0;
    let hi = segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (segs[mid].base <= offset) lo = mid;
      else hi = mid - 1;
    }
    const s = segs[lo];
    return s !== undefined && offset >= s.base && offset < s.next ? s : undefined;
  }

  /** First segment with records at or after `offset` (for cursors jumping over gaps). */
  _segmentAtOrAfter(offset: number): Segment | undefined {
    const s = this.segmentOf(offset);
    if (s !== undefined) return s;
    for (const seg of this.segments) if (seg.base > offset && seg.next > seg.base) return seg;
    return undefined;
  }

  /** @internal read fd of a segment (the open segment's own fd, else LRU-managed) */
  _readFd(seg: Segment): number {
    if (seg.fd >= 0) {
      if (!seg.writable) readFds.get(seg); // touch
      return seg.fd;
    }
    if (seg.deleted) throw new Error(`segment ${seg.name} was deleted`);
    const fd = fs.openSync(seg.logPath, 'r');
    seg.fd = fd;
    readFds.set(seg, fd);
    return fd;
  }

  /**
   * The record at `offset`: the cached instance when still in the tail cache, else read from disk.
   * undefined if deleted or out of range; throws CorruptRecordError on a bad record.
   */
  read(offset: number): LogRecord | undefined {
    if (this.state === State.Closed) throw new Error(`log ${this.dir} is closed`);
    const seg = this.segmentOf(offset);
    if (seg === undefined) return undefined;
    const cached = this.cacheGet(offset);
    if (cached !== undefined) return cached;
    if (this.readWindow === null) this.readWindow = new Window(Math.max(64 * 1024, 2 * this.indexInterval + 16 * 1024));
    const slot = seg.lookup(offset - seg.base);
    return this._readFrom(this.readWindow, seg, seg.base + seg.entryRel(slot), seg.entryPos(slot), offset).rec;
  }

  /**
   * @internal Walk from (cur, pos) to `target` in `seg` through window `w` and decode it.
   * Returns the record and the position after it.
   */
  _readFrom(w: Window, seg: Segment, cur: number, pos: number, target: number): { rec: LogRecord; end: number } {
    for (;;) {
      let i = w.ensure(this, seg, pos, HEADER_SIZE);
      if (i < 0) throw new CorruptRecordError(seg.name, target, pos, `file ends before record ${cur}`);
      const size = frameSize(w.buf, i);
      if (size < 0) throw new CorruptRecordError(seg.name, target, pos, `impossible length at record ${cur}`);
      if (frameOffset(w.buf, i) !== cur)
        throw new CorruptRecordError(seg.name, target, pos, `expected record ${cur}, found ${frameOffset(w.buf, i)}`);
      if (cur === target) {
        i = w.ensure(this, seg, pos, size);
        if (i < 0) throw new CorruptRecordError(seg.name, target, pos, 'record extends past the end of the file');
        const bad = checkFrame(w.buf, i, size);
        if (bad !== null) throw new CorruptRecordError(seg.name, target, pos, bad);
        return { rec: decodeFrame(w.buf, i, size), end: pos + size };
      }
      pos += size;
      cur++;
    }
  }

  /** Sequential reader; returns every stored record in order (acked ones too), skipping deleted segments. */
  cursor(from: number, opts: { readAheadBytes?: number } = {}): LogCursor {
    return new Cursor(this, from, opts.readAheadBytes ?? MiB);
  }

  /** @internal for Cursor */
  _cursorNext(c: Cursor): LogRecord | undefined {
    if (this.state === State.Closed) throw new Error(`log ${this.dir} is closed`);
    for (;;) {
      let pos = c.pos;
      if (pos < this.startOffset) pos = c.pos = this.startOffset;
      if (pos >= this.next) return undefined;
      const seg = this._segmentAtOrAfter(pos);
      if (seg === undefined) return undefined;
      if (pos < seg.base) {
        c.pos = seg.base;
        continue;
      }
      const cached = this.cacheGet(pos);
      if (cached !== undefined) {
        c.pos = pos + 1;
        c.dropWindow();
        if (this.dropRead && pos >= this.readTo) {
          this.readTo = pos + 1;
          if (this.ringStart < this.flushedNext) this.cacheEvict();
        }
        return cached;
      }
      const w = c.window();
      let from = pos;
      let filePos: number;
      if (c.hintSeg === seg && c.hintOffset === pos) {
        filePos = c.hintPos;
      } else {
        const slot = seg.lookup(pos - seg.base);
        from = seg.base + seg.entryRel(slot);
        filePos = seg.entryPos(slot);
      }
      const { rec, end } = this._readFrom(w, seg, from, filePos, pos);
      c.pos = pos + 1;
      c.hintSeg = seg;
      c.hintOffset = pos + 1;
      c.hintPos = end;
      return rec;
    }
  }

  // ---- acks --------------------------------------------------------------------------------

  /** false if already acked / out of range. Buffered to the segment's ack file. */
  ack(offset: number): boolean {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    const seg = this.segmentOf(offset);
    if (seg === undefined) return false;
    const rel = offset - seg.base;
    if (!seg.setAckedRel(rel, seg === this.open_)) return false;
    this.live--;
    if (seg.ackPending === null) {
      seg.ackPending = [];
      this.ackDirty.push(seg);
    }
    seg.ackPending.push(rel);
    if (seg !== this.open_ && seg.ackedCount === seg.count) this.deleteSegment(seg, true);
    else if (this.timer === null) this.armTimer();
    return true;
  }

  /** true for acked records and for offsets below nextOffset that are no longer stored */
  isAcked(offset: number): boolean {
    if (offset >= this.next || offset < 0) return false;
    const seg = this.segmentOf(offset);
    if (seg === undefined) return true;
    return seg.isAckedRel(offset - seg.base);
  }

  /**
   * The first offset >= `from` that is stored and not acked, else max(from, nextOffset). Looks only at the
   * ack bitmaps (a fully acked byte skips 8 records at once), never at the files: a cursor
   * behind a long acked run (e.g. a restart after consumers acked part of a segment) can seek
   * past it instead of reading and decoding every record.
   */
  nextUnacked(from: number): number {
    let off = Math.max(from, this.startOffset);
    if (off >= this.next) return off;
    while (off < this.next) {
      const seg = this._segmentAtOrAfter(off);
      if (seg === undefined) return this.next;
      if (off < seg.base) off = seg.base;
      const a = seg.acked;
      if (a === null) return off;
      const count = seg.count;
      let rel = off - seg.base;
      while (rel < count) {
        const byte = rel >> 3;
        if (byte >= a.length) return seg.base + rel;
        if ((rel & 7) === 0 && a[byte] === 0xff) {
          rel += 8;
          continue;
        }
        if ((a[byte] & (1 << (rel & 7))) === 0) return seg.base + rel;
        rel++;
      }
      off = seg.next;
    }
    return this.next;
  }

  segmentStats(): SegmentStat[] {
    return this.segments.map((s) => ({
      baseOffset: s.base,
      nextOffset: s.next,
      liveCount: s.liveCount,
      bytes: s.size + (s === this.open_ ? this.bufLen : 0),
      oldestTimestamp: s.oldestTimestamp,
    }));
  }

  /**
   * Stream retention: drops whole closed segments, oldest first, while the oldest one's newest
   * record is older than maxAgeMs or the log is larger than maxBytes. Returns records dropped.
   */
  applyRetention(opts: { maxAgeMs?: number; maxBytes?: number }): number {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    const now = Date.now();
    let dropped = 0;
    while (this.segments.length > 1) {
      const s = this.segments[0];
      const byAge = opts.maxAgeMs !== undefined && s.newestTimestamp < now - opts.maxAgeMs;
      const bySize = opts.maxBytes !== undefined && this.sizeBytes > opts.maxBytes;
      if (!byAge && !bySize) break;
      dropped += s.count;
      this.deleteSegment(s);
    }
    return dropped;
  }

  private deleteSegment(seg: Segment, background = false): void {
    if (seg.deleted) return;
    seg.deleted = true;
    const i = this.segments.indexOf(seg);
    if (i >= 0) this.segments.splice(i, 1);
    this.live -= seg.liveCount;
    this.totalSize -= seg.size;
    seg.ackPending = null;
    seg.acked = null;
    releaseFds(seg);
    if (background) {
      // Off the event loop: unlinking a 64 MiB file frees its page-cache pages, 5-10 ms of
      // system time. The .log is first renamed out of the log (a cheap metadata operation), so
      // the segment is gone at once for anyone opening the directory: a crash or a reopen leaves
      // at most a .deleted file and an .idx/.ack without a .log, which open() removes.
      const gone = seg.logPath + '.deleted';
      try {
        fs.renameSync(seg.logPath, gone);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      unlinkInBackground([gone, seg.idxPath, seg.ackPath], (msg) => this.warn(msg));
      return;
    }
    unlinkQuiet(seg.logPath);
    unlinkQuiet(seg.idxPath);
    unlinkQuiet(seg.ackPath);
  }

  /** Drop every record (queue purge). Offsets keep increasing: the next append gets nextOffset. */
  truncateAll(): void {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    this.bufLen = 0;
    this.flushedNext = this.next;
    this.cacheClear();
    const old = this.segments.slice();
    if (this.open_.next !== this.open_.base || this.open_.size > 0) {
      const seg = new Segment(this.dir, this.next);
      seg.fd = fs.openSync(seg.logPath, 'w+');
      seg.writable = true;
      this.segments.push(seg);
      this.open_ = seg;
      for (const s of old) this.deleteSegment(s);
    } else {
      for (const s of old) if (s !== this.open_) this.deleteSegment(s);
    }
    this.unsynced = [];
    this.live = 0;
    this.writeCheckpoint(this.open_.base, 0);
    fsyncDir(this.dir);
  }

  // ---- close -------------------------------------------------------------------------------

  /** Flush, fsync, write the clean-shutdown marker and the recovery point, close fds. */
  async close(): Promise<void> {
    if (this.state !== State.Open) return;
    if (this.fsyncEnabled) {
      await this.sync();
    }
    if (this.state !== State.Open) return;
    this.closeSync();
  }

  /** Same as close(), synchronously (fdatasync with fdatasyncSync). */
  closeSync(): void {
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.flush();
    if (this.fsyncEnabled) {
      for (const s of this.unsynced) if (!s.deleted && s.fd >= 0 && s.syncedSize < s.size) fs.fdatasyncSync(s.fd);
      const open = this.open_;
      if (open.syncedSize < open.size) fs.fdatasyncSync(open.fd);
      open.syncedSize = open.size;
    }
    this.unsynced = [];
    this.writeCheckpoint(this.open_.base, this.open_.size);
    fs.writeFileSync(path.join(this.dir, MARKER), '');
    fsyncDir(this.dir);
    this.releaseAll();
    const d = this.nextRound;
    this.nextRound = null;
    if (d !== null) d.resolve(); // everything is synced
  }

  /** Close fds and remove the directory (queue.delete). */
  destroy(): void {
    if (this.state === State.Closed) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      return;
    }
    this.state = State.Closing;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.releaseAll();
    const d = this.nextRound;
    this.nextRound = null;
    if (d !== null) d.reject(new Error(`log ${this.dir} was destroyed`));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * For tests: stop like a crash would. Nothing buffered is written, no marker; fds are closed so
   * that another instance can open the directory. Unflushed appends and acks are lost.
   */
  _crashForTesting(): void {
    if (this.state === State.Closed) return;
    this.state = State.Closing;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.bufLen = 0;
    this.ackDirty = [];
    this.releaseAll();
    const d = this.nextRound;
    this.nextRound = null;
    if (d !== null) d.reject(new Error('crashed'));
  }

  private releaseAll(): void {
    for (const s of this.segments) releaseFds(s);
    for (const s of this.unsynced) releaseFds(s);
    this.state = State.Closed;
    this.cacheClear();
    this.readWindow = null;
  }

  // ---- open / recovery ---------------------------------------------------------------------

  private load(): void {
    const dir = this.dir;
    const names = fs.readdirSync(dir);
    const bases: number[] = [];
    const stems = new Set<string>();
    for (const n of names) {
      const m = SEGMENT_NAME_RE.exec(n);
      if (m) {
        bases.push(Number(m[1]));
        stems.add(m[1]);
      } else if (n.endsWith('.tmp') || n.endsWith('.deleted')) unlinkQuiet(path.join(dir, n));
    }
    for (const n of names) {
      const m = /^(\d{20})\.(idx|ack)$/.exec(n);
      if (m && !stems.has(m[1])) unlinkQuiet(path.join(dir, n));
    }
    bases.sort((a, b) => a - b);
    const clean = fs.existsSync(path.join(dir, MARKER));
    const cp = this.readCheckpoint();
    const segs = bases.map((b) => new Segment(dir, b));
    for (const s of segs) s.size = fs.statSync(s.logPath).size;

    // where the CRC scan starts
    let scanFrom = 0;
    if (segs.length > 0 && cp !== null) {
      const last = segs[segs.length - 1];
      if (clean && cp.segment === last.base && cp.position === last.size) scanFrom = segs.length;
      else {
        scanFrom = segs.length - 1;
        for (let i = 0; i < segs.length; i++) {
          if (segs[i].base >= cp.segment) {
            scanFrom = i;
            break;
          }
        }
      }
    }
    const totalScan = segs.slice(scanFrom).reduce((a, s) => a + s.size, 0);
    const progress = { done: 0, reported: 0, total: totalScan };
    if (totalScan >= PROGRESS_EVERY && this.onProgress)
      this.onProgress(`recovery of ${dir}: scanning ${segs.length - scanFrom} segment(s), ${(totalScan / MiB).toFixed(0)} MiB`);

    const scanned: Segment[] = [];
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const isLast = i === segs.length - 1;
      if (i < scanFrom) {
        const ok = this.loadIndexAndWalk(s, isLast);
        if (!ok && isLast) {
          this.warn(`${s.name}: tail does not match the index, rescanning the segment with CRC checks`);
          this.scanSegment(s, progress);
          scanned.push(s);
        }
      } else {
        this.scanSegment(s, progress);
        scanned.push(s);
      }
    }
    if (progress.total >= PROGRESS_EVERY && this.onProgress)
      this.onProgress(`recovery of ${dir}: done, ${(progress.done / MiB).toFixed(0)} MiB scanned`);

    // drop empty closed segments
    const kept: Segment[] = [];
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      if (i < segs.length - 1 && s.count === 0) {
        unlinkQuiet(s.logPath);
        unlinkQuiet(s.idxPath);
        unlinkQuiet(s.ackPath);
        continue;
      }
      kept.push(s);
    }
    for (let i = 0; i + 1 < kept.length; i++) {
      if (kept[i].next > kept[i + 1].base)
        this.warn(`${kept[i].name}: records up to ${kept[i].next - 1} overlap segment ${kept[i + 1].name}`);
    }

    if (kept.length === 0) {
      const s = new Segment(dir, 0);
      fs.writeFileSync(s.logPath, '');
      kept.push(s);
    }
    this.segments = kept;
    const open = kept[kept.length - 1];
    this.open_ = open;
    this.next = open.next;
    this.flushedNext = this.next;
    this.ringStart = this.next;
    open.fd = fs.openSync(open.logPath, 'r+');
    open.writable = true;
    // index entries of the open segment past what the .idx file holds are appended at flush
    for (const s of kept) {
      if (s !== open) s.compactIndex();
      this.totalSize += s.size;
    }

    // acks
    for (const s of kept) this.loadAcks(s, s === open);
    this.live = 0;
    for (const s of kept) this.live += s.liveCount;
    for (const s of kept.slice()) if (s !== open && s.ackedCount === s.count) this.deleteSegment(s);

    // make what recovery validated durable before it becomes the recovery point
    if (scanned.length > 0 && this.fsyncEnabled) {
      for (const s of scanned) {
        if (s.deleted) continue;
        const fd = s === open ? open.fd : fs.openSync(s.logPath, 'r');
        try {
          fs.fdatasyncSync(fd);
        } finally {
          if (s !== open) closeQuiet(fd);
        }
      }
    }
    for (const s of kept) s.syncedSize = s.size;
    if (scanned.length > 0 || cp === null || cp.segment !== open.base) this.writeCheckpoint(open.base, open.size);
    else this.checkpointBase = cp.segment;
    unlinkQuiet(path.join(dir, MARKER));
    fsyncDir(dir);
  }

  private readCheckpoint(): { segment: number; position: number } | null {
    try {
      const j = JSON.parse(fs.readFileSync(path.join(this.dir, RECOVERY_POINT), 'utf8')) as {
        segment?: unknown;
        position?: unknown;
      };
      if (typeof j.segment === 'number' && typeof j.position === 'number') return { segment: j.segment, position: j.position };
      return null;
    } catch {
      return null;
    }
  }

  /**
   * Load the .idx of a segment that is not CRC-scanned and walk record headers from its last
   * entry to the end of the file (extending the index: this is also how a missing or short
   * index is rebuilt). Returns false if the walk did not end exactly at the end of the file.
   */
  private loadIndexAndWalk(s: Segment, isLast: boolean): boolean {
    s.resetIndex();
    let buf: Buffer | null = null;
    try {
      buf = fs.readFileSync(s.idxPath);
    } catch {
      buf = null;
    }
    const fd = fs.openSync(s.logPath, 'r');
    try {
      if (buf !== null && buf.length >= 8) {
        const n = buf.length >> 3;
        const idx = new Uint32Array(n * 2);
        let len = 0;
        let prevRel = 0;
        let prevPos = 0;
        for (let i = 0; i < n; i++) {
          const rel = buf.readUInt32LE(i * 8);
          const pos = buf.readUInt32LE(i * 8 + 4);
          if (rel <= prevRel || pos <= prevPos || pos + HEADER_SIZE > s.size) break;
          idx[len * 2] = rel;
          idx[len * 2 + 1] = pos;
          len++;
          prevRel = rel;
          prevPos = pos;
        }
        // verify the last entry points at the record it names; otherwise drop entries back
        const hdr = Buffer.allocUnsafe(HEADER_SIZE);
        while (len > 0) {
          const rel = idx[(len - 1) * 2];
          const pos = idx[(len - 1) * 2 + 1];
          if (readFully(fd, hdr, 0, HEADER_SIZE, pos) === HEADER_SIZE && frameSize(hdr, 0) > 0 && frameOffset(hdr, 0) === s.base + rel)
            break;
          len = len > 8 ? len - 8 : 0; // something is wrong with the index tail: back off
        }
        s.idx = idx;
        s.idxLen = len;
        s.idxWritten = len === n && buf.length === n * 8 ? len : 0;
        s.lastIdxPos = len > 0 ? idx[(len - 1) * 2 + 1] : 0;
      }
      if (s.size > 0) {
        const hdr = Buffer.allocUnsafe(HEADER_SIZE);
        if (readFully(fd, hdr, 0, HEADER_SIZE, 0) === HEADER_SIZE) s.oldestTimestamp = frameTimestamp(hdr, 0);
      }
      const startRel = s.idxLen > 0 ? s.idx[(s.idxLen - 1) * 2] : 0;
      const startPos = s.lastIdxPos;
      const r = this.walk(fd, s, startRel, startPos, false, null);
      s.next = s.base + r.count;
      if (r.lastTs > s.newestTimestamp) s.newestTimestamp = r.lastTs;
      const rebuiltIdx = s.idxWritten < s.idxLen;
      if (r.end !== s.size) {
        if (!isLast)
          this.warn(
            `${s.name}: unreadable data at byte ${r.end} (${s.size - r.end} bytes, ${r.reason}); records from offset ${s.next} in this segment are not readable`,
          );
        return false;
      }
      if (rebuiltIdx || s.idxWritten !== s.idxLen) this.rewriteIndex(s);
      return true;
    } finally {
      closeQuiet(fd);
    }
  }

  /** CRC-scan a whole segment, rebuild its index, truncate it at the first short or bad record. */
  private scanSegment(s: Segment, progress: { done: number; reported: number; total: number }): void {
    s.resetIndex();
    const fd = fs.openSync(s.logPath, 'r+');
    try {
      const r = this.walk(fd, s, 0, 0, true, progress);
      s.next = s.base + r.count;
      s.newestTimestamp = r.lastTs;
      s.oldestTimestamp = r.firstTs;
      if (r.end < s.size) {
        this.warn(
          `${s.name}: recovery truncated ${s.size - r.end} bytes at byte position ${r.end} (${r.reason}); last good offset ${s.next - 1}`,
        );
        fs.ftruncateSync(fd, r.end);
        s.size = r.end;
      }
      this.rewriteIndex(s);
    } finally {
      closeQuiet(fd);
    }
  }

  private rewriteIndex(s: Segment): void {
    fs.writeFileSync(s.idxPath, s.indexBytes(0));
    s.idxWritten = s.idxLen;
  }

  /**
   * Walk records from (rel, pos) to the end of the file, checking headers (and CRCs when `crc`),
   * adding index entries. Returns the end of the last good record and the count up to it.
   */
  private walk(
    fd: number,
    s: Segment,
    rel: number,
    pos: number,
    crc: boolean,
    progress: { done: number; reported: number; total: number } | null,
  ): { end: number; count: number; firstTs: number; lastTs: number; reason: string } {
    let buf = scanBuffer();
    let bufStart = pos;
    let bufLen = 0;
    let firstTs = 0;
    let lastTs = 0;
    let reason = '';
    const size = s.size;
    // header-only walks read small windows; CRC scans read big chunks
    const chunk = crc ? buf.length : Math.min(buf.length, Math.max(64 * 1024, this.indexInterval * 2 + HEADER_SIZE));
    for (;;) {
      if (pos >= size) break;
      let i = pos - bufStart;
      if (i + HEADER_SIZE > bufLen) {
        const want = Math.min(chunk, size - pos);
        if (want < HEADER_SIZE) {
          reason = 'short header';
          break;
        }
        bufLen = readFully(fd, buf, 0, want, pos);
        bufStart = pos;
        i = 0;
        if (bufLen < HEADER_SIZE) {
          reason = 'short read';
          break;
        }
      }
      const fsz = frameSize(buf, i);
      if (fsz < 0) {
        reason = 'impossible length';
        break;
      }
      if (frameOffset(buf, i) !== s.base + rel) {
        reason = `offset ${frameOffset(buf, i)} where ${s.base + rel} was expected`;
        break;
      }
      if (pos + fsz > size) {
        reason = 'record extends past the end of the file';
        break;
      }
      if (crc) {
        if (i + fsz > bufLen) {
          if (fsz > buf.length) buf = Buffer.allocUnsafe(fsz);
          bufLen = readFully(fd, buf, 0, Math.min(buf.length, size - pos), pos);
          bufStart = pos;
          i = 0;
          if (bufLen < fsz) {
            reason = 'short read';
            break;
          }
        }
        const bad = checkFrame(buf, i, fsz);
        if (bad !== null) {
          reason = bad;
          break;
        }
      }
      const ts = frameTimestamp(buf, i);
      if (rel === 0) firstTs = ts;
      if (ts > lastTs) lastTs = ts;
      s.maybeIndex(rel, pos, this.indexInterval);
      pos += fsz;
      rel++;
      if (progress !== null) {
        progress.done += fsz;
        if (progress.total >= PROGRESS_EVERY && progress.done - progress.reported >= PROGRESS_EVERY && this.onProgress) {
          progress.reported = progress.done;
          this.onProgress(
            `recovery of ${this.dir}: ${(progress.done / MiB).toFixed(0)} of ${(progress.total / MiB).toFixed(0)} MiB scanned (${s.name})`,
          );
        }
      }
    }
    return { end: pos, count: rel, firstTs, lastTs, reason };
  }

  private loadAcks(s: Segment, growable: boolean): void {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(s.ackPath);
    } catch {
      return;
    }
    const n = buf.length >> 2;
    const torn = buf.length & 3;
    const count = s.count;
    let dropped = 0;
    const keep: number[] = [];
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32LE(i * 4);
      if (rel >= count) {
        dropped++;
        continue;
      }
      if (s.setAckedRel(rel, growable)) keep.push(rel);
    }
    if (dropped > 0 || torn !== 0) {
      this.warn(
        `${s.name.replace(/\.log$/, '.ack')}: dropped ${dropped} ack entr${dropped === 1 ? 'y' : 'ies'} past the data (${count} records)` +
          (torn ? ` and ${torn} torn bytes at byte ${n * 4}` : ''),
      );
      const b = Buffer.allocUnsafe(keep.length * 4);
      for (let i = 0; i < keep.length; i++) b.writeUInt32LE(keep[i], i * 4);
      fs.writeFileSync(s.ackPath + '.tmp', b);
      fs.renameSync(s.ackPath + '.tmp', s.ackPath);
    }
  }
}

class Cursor implements LogCursor {
  pos: number;
  hintSeg: Segment | null = null;
  hintOffset = -1;
  hintPos = 0;
  private win: Window | null = null;
  constructor(
    private readonly log: SegmentedLog,
    from: number,
    private readonly readAhead: number,
  ) {
    this.pos = Math.max(0, from);
  }
  get position(): number {
    return this.pos;
  }
  next(): LogRecord | undefined {
    return this.log._cursorNext(this);
  }
  seek(offset: number): void {
    this.pos = Math.max(0, offset);
  }
  window(): Window {
    if (this.win === null) this.win = new Window(this.readAhead);
    return this.win;
  }
  /** the cursor caught up with the tail cache: release the read-ahead buffer */
  dropWindow(): void {
    if (this.win !== null) {
      this.win = null;
      this.hintSeg = null;
    }
  }
}
