// SegmentedLog: an append-only log of records split into segment files, the storage of every
// queue. This file is the facade; each concept lives in its own module:
//   segment.ts / segment-set.ts   the files of one segment, the ordered set of them
//   offset-index.ts, ack-file.ts, volatile-list.ts   a segment's companions
//   record.ts, record-walker.ts   framing, and walking frames (damage stepped over)
//   tail-cache.ts                 newest records in memory, one process-wide budget
//   write-buffer.ts, pending-writes.ts   pooled write buffers; a log's records not yet written
//   group-commit.ts               whenSynced(offset), the flush/sync timer
//   sync-tracker.ts               what still needs an fdatasync; the recovery point
//   log-loader.ts                 opening and recovery
//   cursor.ts                     sequential readers
// Write path: append() frames the record into the write buffer and keeps the caller's object
// (stamped with offset, timestamp, flags and size) in the tail cache; the group commit writes the
// buffer and syncs it.
import * as fs from 'node:fs';
import { CLEAN_SHUTDOWN_FILE } from './data-dir';
import { Cursor, type CursorSource, type LogCursor } from './cursor';
import { fsyncDir, withPath } from './fd-cache';
import { type CommitTarget, GroupCommit } from './group-commit';
import { loadLog, writeRecoveryPoint } from './log-loader';
import { HEADER_SIZE, type LogRecord, type LogRecordInput, MAX_BATCH_COUNT, MAX_RECORD_SIZE, decodeFrame, encodeInto, frameSize, packEnvelope } from './record';
import { type Damage, type FrameFile, FrameWindow, seekRecord } from './record-walker';
import { Segment } from './segment';
import { SegmentSet } from './segment-set';
import { storeStats } from './store-stats';
import { SyncTracker } from './sync-tracker';
import { TailCache } from './tail-cache';
import { bufferClass } from './write-buffer';
import { type PendingOwner, PendingWrites } from './pending-writes';
import * as path from 'node:path';

export type { LogCursor } from './cursor';
export type { LogOptions, SegmentInfo } from './log-options';
import type { LogOptions, SegmentInfo } from './log-options';

const MiB = 1024 * 1024;

const enum State { Open, Closing, Closed }

export class SegmentedLog implements CommitTarget, PendingOwner {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly indexInterval: number;
  readonly fsync: boolean;
  private readonly ephemeral: boolean;
  private readonly keepFlag: number;
  private readonly reclaimBytes: number;
  private readonly eagerFlush: boolean;
  private flushScheduled = false;
  private readonly opts: LogOptions;

  private state = State.Open;
  private segs: SegmentSet;
  private next = 0;
  private live = 0;
  private totalSize = 0;
  private clean = false;

  // records [flushedNext, next) of the open segment, not yet in its file
  private readonly pending: PendingWrites;
  private flushedNext = 0;

  private readonly cache: TailCache;
  private readonly commit: GroupCommit;
  private ackDirty: Segment[] = [];
  private readonly syncs: SyncTracker;
  private readWindow: FrameWindow | null = null;
  /** where the last append went: its segment's base and its byte position in that segment */
  lastAppendBase = -1;
  lastAppendPos = 0;

  private constructor(dir: string, opts: LogOptions) {
    this.dir = dir;
    this.opts = opts;
    this.segmentBytes = Math.min(opts.segmentBytes ?? 64 * MiB, 2048 * MiB);
    if (!(this.segmentBytes > 0)) throw new RangeError('segmentBytes must be > 0');
    this.indexInterval = Math.max(1, opts.indexIntervalBytes ?? 4096);
    this.pending = new PendingWrites(bufferClass(Math.max(1024, opts.writeBufferBytes ?? 256 * 1024)));
    this.fsync = opts.fsync ?? true;
    this.ephemeral = opts.ephemeral ?? false;
    this.keepFlag = opts.keepFlag ?? 0;
    this.reclaimBytes = opts.reclaimBytes ?? 16 * MiB;
    this.eagerFlush = opts.eagerFlush ?? false;
    this.cache = new TailCache(Math.max(0, opts.tailCacheBytes ?? 8 * MiB), opts.dropReadFromCache ?? true);
    this.segs = new SegmentSet([]);
    const checkpointBase = this.load();
    this.syncs = new SyncTracker(dir, this.ephemeral, checkpointBase, (m) => this.warn(m));
    this.commit = new GroupCommit(this, opts.flushIntervalMs ?? 200, opts.syncIntervalMs ?? 1000);
  }

  /** Synchronous open and recovery. The directory is created by the first append. */
  static open(dir: string, opts: LogOptions = {}): SegmentedLog {
    return new SegmentedLog(dir, opts);
  }

  /** Recovers what is on disk; returns the recovery point's segment base (-1: none). */
  private load(): number {
    if (!fs.existsSync(this.dir)) return -1;
    const r = loadLog(this.dir, {
      indexInterval: this.indexInterval, keepFlag: this.keepFlag, fsync: this.fsync,
      warn: (m) => this.warn(m), progress: this.opts.onProgress,
    });
    this.segs = new SegmentSet(r.segments);
    this.clean = r.clean;
    const open = this.segs.last;
    if (open !== undefined) this.next = open.next;
    for (const s of r.segments) {
      this.totalSize += s.size;
      this.live += s.liveCount;
    }
    if (r.droppedVolatile > 0) this.warn(`${r.droppedVolatile} transient record(s) from before the restart dropped`);
    for (const s of r.segments.slice()) if (s !== open && s.fullyAcked) this.deleteSegment(s, false);
    this.flushedNext = this.next;
    this.cache.clear(this.next);
    return r.checkpointBase;
  }

  // ---- properties --------------------------------------------------------------------------

  /** first offset still stored (after deletions) */
  get startOffset(): number {
    return this.segs.first?.base ?? this.next;
  }

  get nextOffset(): number {
    return this.next;
  }

  /** records stored and not acked */
  get liveCount(): number {
    return this.live;
  }

  get sizeBytes(): number {
    return this.totalSize + this.pending.length;
  }

  get segmentCount(): number {
    return this.segs.length;
  }

  segments(): SegmentInfo[] {
    const open = this.segs.last;
    return this.segs.all.map((s) => ({
      baseOffset: s.base, nextOffset: s.next, liveCount: s.liveCount, bytes: s.size + (s === open ? this.pending.length : 0),
      oldestTimestamp: s.oldestTimestamp, newestTimestamp: s.newestTimestamp,
    }));
  }

  /** the last open found a clean-shutdown marker (everything was synced and closed) */
  get openedClean(): boolean {
    return this.clean;
  }

  // ---- append ------------------------------------------------------------------------------

  /** Returns the offset. The input object is stamped (offset, timestamp, flags, size) and cached. */
  append(rec: LogRecordInput): number {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    const env = rec.envelope === undefined ? undefined : packEnvelope(rec.envelope);
    const props = rec.props;
    const body = rec.body;
    const size = HEADER_SIZE + (env === undefined ? 0 : env.length) + props.length + body.length;
    if (size > MAX_RECORD_SIZE) throw new RangeError(`record of ${size} bytes exceeds ${MAX_RECORD_SIZE}`);
    const count = rec.count ?? 1;
    if (!(count >= 1 && count <= MAX_BATCH_COUNT)) throw new RangeError(`a record takes 1 to ${MAX_BATCH_COUNT} offsets, not ${count}`);
    // the tail cache keeps one record per offset: batches go to logs that write at once
    if (count > 1 && !this.eagerFlush) throw new RangeError('batch records need a log with eagerFlush');
    let seg = this.segs.last ?? this.firstSegment();
    if (seg.size + this.pending.length + size > this.segmentBytes && seg.size + this.pending.length > 0) seg = this.roll();
    const offset = this.next;
    const ts = rec.timestamp ?? Date.now();
    const flags = (rec.flags ?? 0) & 0xffff;
    const filePos = seg.size + this.pending.length;
    if (!this.pending.hasRoom(size)) this.pending.makeRoom(size, this);
    if (size > this.pending.maxBuffer) {
      // larger than any buffer: framed on its own and written at once
      const big = Buffer.allocUnsafe(size);
      encodeInto(big, 0, offset, ts, flags, env, props, body, count);
      seg.write(big, 0, size);
      this.totalSize += size;
      this.flushedNext = offset + 1;
    } else {
      this.pending.frame(size, offset, ts, flags, env, props, body, count);
    }
    const rel = offset - seg.base;
    this.lastAppendBase = seg.base;
    this.lastAppendPos = filePos;
    seg.index.maybeAdd(rel, filePos);
    if (seg.next === seg.base) seg.oldestTimestamp = ts;
    if (ts > seg.newestTimestamp) seg.newestTimestamp = ts;
    if (this.keepFlag !== 0 && count === 1 && (flags & this.keepFlag) === 0) seg.volatile.add(rel);
    seg.next = offset + count;
    this.next = offset + count;
    this.live += count;

    const r = rec as LogRecord;
    r.offset = offset;
    r.timestamp = ts;
    r.flags = count === 1 ? flags : 0;
    r.count = count;
    r.size = size;
    // the cache holds one record per offset: batch records are read from the file
    if (!this.eagerFlush) this.cache.push(r);
    if (this.flushedNext > offset) this.cache.flushedNext = this.flushedNext;
    if (this.eagerFlush) this.scheduleFlush();
    else this.commit.touched();
    return offset;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.eagerFlushCb);
  }

  private readonly eagerFlushCb = (): void => {
    this.flushScheduled = false;
    if (this.state !== State.Open) return;
    try {
      this.flushData();
    } catch (e) {
      this.writeFailed(e as Error);
      this.commit.touched();
      return;
    }
    this.commit.touched(); // index, and the background sync
    this.opts.onReadable?.();
  };

  // The records are appended (offsets taken, cached): a failed write must not make append throw.
  // They stay buffered and are rewritten at the same file position; the sync that covers them
  // reports the failure to its waiters.
  writeFailed(e: Error): void {
    storeStats.writeFailures++;
    this.warn(`write failed, will retry: ${e.message}`);
  }

  private firstSegment(): Segment {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
    } catch (e) {
      throw withPath(e, this.dir);
    }
    const s = Segment.create(this.dir, this.next, this.indexInterval);
    this.segs.add(s);
    this.syncs.dirChanged();
    this.flushedNext = this.next;
    this.cache.clear(this.next);
    return s;
  }

  // ---- flush / sync (CommitTarget) -----------------------------------------------------------

  /** Write buffered records to the file; throws on a write error (nothing advances). */
  flushData(): void {
    if (this.state === State.Closed) return;
    if (this.pending.length > 0) this.totalSize += this.pending.writeTo(this.segs.last as Segment);
    else this.pending.discard();
    this.flushedNext = this.next;
    this.cache.flushedNext = this.next;
    this.cache.trim();
  }

  /** Index entries and acks; a failure is reported and retried by a later flush. */
  flushMeta(): void {
    if (this.state === State.Closed) return;
    const open = this.segs.last;
    try {
      if (open !== undefined && open.index.dirty) open.index.flush();
    } catch (e) {
      storeStats.writeFailures++;
      this.warn(`writing the index failed, will retry: ${(e as Error).message}`);
    }
    const dirty = this.ackDirty;
    if (dirty.length === 0) return;
    this.ackDirty = [];
    for (let k = 0; k < dirty.length; k++) {
      const seg = dirty[k];
      if (seg.deleted) continue;
      try {
        seg.acks.flush();
      } catch (e) {
        storeStats.writeFailures++;
        this.warn(`writing acks failed, will retry: ${(e as Error).message}`);
        for (let j = k; j < dirty.length; j++) if (!dirty[j].deleted) this.ackDirty.push(dirty[j]);
        this.commit.touched();
        return;
      }
    }
  }

  /** Write everything buffered to the files (no fsync). Throws when the data write fails. */
  flush(): void {
    this.flushData();
    this.flushMeta();
  }

  syncFiles(cb: (err: Error | null) => void): void {
    this.syncs.syncFiles(this.segs.last, cb);
  }

  afterSync(): void {
    if (this.state !== State.Closed) this.syncs.afterSync(this.segs.last);
  }

  roundFailed(from: number, to: number, err: Error): void {
    this.opts.onSyncFailed?.(from, to, err);
  }

  get dirty(): boolean {
    return this.pending.length > 0 || this.ackDirty.length > 0 || (this.segs.last?.index.dirty ?? false);
  }

  get unsynced(): boolean {
    if (this.pending.length > 0 || this.syncs.waiting) return true;
    const open = this.segs.last;
    return open !== undefined && open.size > open.syncedSize;
  }

  /** Resolves once `offset` and everything before it is durable; rejects if that sync fails. */
  whenSynced(offset: number): Promise<number> {
    if (this.state !== State.Open) return Promise.reject(new Error(`log ${this.dir} is closed`));
    return this.commit.whenSynced(offset);
  }

  /** Resolves once everything appended so far is durable; pending acks are written first. */
  sync(): Promise<void> {
    if (this.state === State.Open) this.flushMeta();
    return this.whenSynced(this.next - 1).then(() => undefined);
  }

  /** Offsets below this are durable. */
  get syncedOffset(): number {
    return this.commit.syncedOffset;
  }

  warn(msg: string): void {
    this.opts.onWarning?.(msg);
  }

  // ---- segments ----------------------------------------------------------------------------

  private roll(): Segment {
    this.flushData(); // throws on a write error: the append is refused
    this.flushMeta();
    const old = this.segs.last as Segment;
    old.seal();
    if (this.keepFlag !== 0 && old.volatile.length > 0) {
      // listed durably before the recovery point can move past the segment
      old.volatile.save(this.dir, this.fsync);
      old.volatile.clear();
    }
    const seg = Segment.create(this.dir, this.next, this.indexInterval);
    this.segs.add(seg);
    this.syncs.dirChanged();
    if (old.fullyAcked) this.deleteSegment(old, true);
    else if (this.fsync && old.syncedSize < old.size) {
      this.syncs.rolledUnsynced(old);
      this.commit.whenSynced(old.next - 1).catch((e: Error) => this.warn(`background sync after roll failed: ${e.message}`));
    } else if (!this.fsync && !this.ephemeral) this.syncs.writeCheckpoint(seg.base, 0);
    return seg;
  }

  private deleteSegment(seg: Segment, background: boolean): void {
    if (seg.deleted) return;
    this.segs.remove(seg);
    this.live -= seg.liveCount;
    this.totalSize -= seg.size;
    seg.delete(background, (m) => this.warn(m));
  }

  /**
   * Retention (stream queues): delete the segments that hold only offsets below `offset`, oldest
   * first, in the background. The open segment is never deleted. Returns how many went.
   */
  dropSegmentsBefore(offset: number): number {
    if (this.state !== State.Open) return 0;
    let n = 0;
    for (;;) {
      const s = this.segs.first;
      if (s === undefined || s === this.segs.last || s.next > offset) return n;
      this.deleteSegment(s, true);
      n++;
    }
  }

  /** A segment's file, for readers that know where a record is (stream chunk indexes). */
  segmentFile(base: number): FrameFile | undefined {
    const s = this.segs.holding(base);
    return s !== undefined && s.base === base ? s : undefined;
  }

  /**
   * The open segment, once every record in it is acked, is rolled and deleted, so that draining
   * a queue gives its disk space back (`force`: whatever its size, e.g. under a disk alarm).
   */
  reclaim(force = false): void {
    const open = this.segs.last;
    if (this.state !== State.Open || open === undefined || open.count === 0 || !open.fullyAcked) return;
    if (!force && open.size + this.pending.length < this.reclaimBytes) return;
    try {
      this.roll();
    } catch (e) {
      // Most likely the disk is full and the records still buffered could not be written. They
      // are acked too, so they need never be: without this, the segment holding the space could
      // only go after a write that needs the space it holds.
      try {
        this.replaceAckedOpen();
      } catch (e2) {
        this.warn(`cannot reclaim ${open.files.log}: ${(e as Error).message}; ${(e2 as Error).message}`);
      }
    }
  }

  /** The open segment, every record acked (buffered ones included), goes for an empty one. */
  private replaceAckedOpen(): void {
    const old = this.segs.last as Segment;
    const seg = Segment.create(this.dir, this.next, this.indexInterval); // throws: nothing changed
    this.pending.discard();
    this.flushedNext = this.next;
    this.cache.flushedNext = this.next;
    this.cache.trim();
    this.segs.add(seg);
    this.syncs.dirChanged();
    this.deleteSegment(old, true);
  }

  // ---- reads -------------------------------------------------------------------------------

  /**
   * The record at `offset`: the cached instance when still in the tail cache, else read from
   * disk. undefined when deleted, out of range or damaged (a damaged record is settled, counted
   * and reported once).
   */
  read(offset: number): LogRecord | undefined {
    if (this.state === State.Closed) throw new Error(`log ${this.dir} is closed`);
    const seg = this.segs.holding(offset);
    if (seg === undefined) return undefined;
    const cached = this.cache.get(offset);
    if (cached !== undefined) return cached;
    if (offset >= this.flushedNext) return undefined; // a batch not written yet
    const w = (this.readWindow ??= new FrameWindow(Math.max(64 * 1024, 2 * this.indexInterval + 16 * 1024)));
    const rel = offset - seg.base;
    const r = seekRecord(w, seg, seg.base + seg.index.lookupRel(rel), seg.index.lookupPos(rel), offset);
    if (typeof r === 'number') return decodeFrame(w.buf, w.frame, frameSize(w.buf, w.frame));
    this.lost(seg, r);
    return undefined;
  }

  /** Sequential reader from `from`; returns every stored record in order (acked ones too). */
  cursor(from: number, opts: { readAheadBytes?: number } = {}): LogCursor {
    return new Cursor(this.cursorSource, from, opts.readAheadBytes ?? MiB);
  }

  private readonly cursorSource: CursorSource = {
    startOffset: () => this.startOffset,
    nextOffset: () => (this.eagerFlush ? this.flushedNext : this.next),
    cached: (offset) => {
      const r = this.cache.get(offset);
      if (r !== undefined) this.cache.noteRead(offset);
      return r;
    },
    atOrAfter: (offset) => this.segs.atOrAfter(offset),
    lost: (seg, d) => this.lost(seg, d),
    closed: () => this.state === State.Closed,
  };

  /** Offsets a read found damaged: acked (never served), counted and reported once. */
  private lost(seg: Segment, d: Damage): void {
    const to = d.next >= 0 ? d.next : seg.next;
    let n = 0;
    for (let off = d.lost; off < to; off++) if (this.ackIn(seg, off)) n++;
    if (n === 0) return;
    storeStats.corruptRecords += n;
    this.warn(`${seg.files.log}: ${to - d.lost === 1 ? `record ${d.lost} is` : `records ${d.lost}..${to - 1} are`} damaged at byte ${d.pos} (${d.reason}); skipped` +
      (d.next >= 0 ? `, reading resumes at offset ${d.next}` : ''));
  }

  // ---- acks --------------------------------------------------------------------------------

  /** false if already acked or not stored. Written to the segment's ack file by the next flush. */
  ack(offset: number): boolean {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    const seg = this.segs.holding(offset);
    return seg !== undefined && this.ackIn(seg, offset);
  }

  private ackIn(seg: Segment, offset: number): boolean {
    const open = seg === this.segs.last;
    const had = seg.acks.hasPending;
    if (!seg.acks.add(offset - seg.base, open ? 0 : seg.count)) return false;
    this.live--;
    if (!had) this.ackDirty.push(seg);
    if (!open && seg.fullyAcked) this.deleteSegment(seg, true);
    else {
      if (open && seg.fullyAcked && seg.size + this.pending.length >= this.reclaimBytes) this.reclaim();
      this.commit.touched();
    }
    return true;
  }

  /** true for acked records and for offsets below nextOffset that are no longer stored */
  isAcked(offset: number): boolean {
    if (offset >= this.next || offset < 0) return false;
    const seg = this.segs.holding(offset);
    return seg === undefined || seg.acks.has(offset - seg.base);
  }

  /**
   * The first offset >= `from` that is stored and not acked, else max(from, nextOffset). Looks
   * only at the ack bitmaps, never at the files: a cursor behind a long acked run can seek past it.
   */
  nextUnacked(from: number): number {
    let off = Math.max(from, this.startOffset);
    while (off < this.next) {
      const seg = this.segs.atOrAfter(off);
      if (seg === undefined) return this.next;
      if (off < seg.base) off = seg.base;
      const rel = seg.acks.nextClear(off - seg.base, seg.count);
      if (rel < seg.count) return seg.base + rel;
      off = seg.next;
    }
    return Math.max(off, this.next);
  }

  /** Drop every record (queue purge). Offsets keep increasing: the next append gets nextOffset. */
  truncateAll(): void {
    if (this.state !== State.Open) throw new Error(`log ${this.dir} is closed`);
    this.pending.discard();
    this.flushedNext = this.next;
    this.cache.clear(this.next);
    this.ackDirty = [];
    this.syncs.release(false);
    for (const s of this.segs.all.slice()) this.deleteSegment(s, true);
    this.live = 0;
    this.totalSize = 0;
    if (fs.existsSync(this.dir)) {
      this.segs.add(Segment.create(this.dir, this.next, this.indexInterval));
      this.syncs.writeCheckpoint(this.next, 0);
      fsyncDir(this.dir);
    }
    this.commit.skipTo(this.next);
  }

  // ---- close -------------------------------------------------------------------------------

  /** Flush, fsync, write the clean-shutdown marker and the recovery point, close the files. */
  async close(): Promise<void> {
    if (this.state !== State.Open) return;
    if (this.fsync && this.next > 0) {
      try {
        await this.commit.whenSynced(this.next - 1);
      } catch {
        /* closeSync retries and reports */
      }
    }
    this.closeSync();
  }

  /** Same as close(), synchronously. */
  closeSync(): void {
    if (this.state !== State.Open) return;
    this.state = State.Closing;
    const open = this.segs.last;
    try {
      this.flush();
      if (open !== undefined) {
        if (this.fsync) {
          this.syncs.syncRolledNow();
          open.syncNow();
        }
        if (this.keepFlag !== 0) open.volatile.save(this.dir, this.fsync);
        if (!this.ephemeral) {
          writeRecoveryPoint(this.dir, open.base, open.size);
          fs.writeFileSync(path.join(this.dir, CLEAN_SHUTDOWN_FILE), '');
          fsyncDir(this.dir);
        }
      }
    } catch (e) {
      this.warn(`closing the log failed (the next start recovers it): ${withPath(e, this.dir).message}`);
    }
    this.commit.closeSynced();
    this.release();
  }

  /** Close the files and remove the directory (queue.delete). */
  destroy(): void {
    if (this.state !== State.Closed) {
      this.commit.abort(new Error(`log ${this.dir} was deleted`));
      this.release();
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * For tests: stop like a crash would. Nothing buffered is written, no marker; files are closed
   * so that another instance can open the directory. Unflushed appends and acks are lost.
   */
  crashForTesting(): void {
    if (this.state === State.Closed) return;
    this.pending.discard();
    this.ackDirty = [];
    this.commit.abort(new Error('crashed'));
    this.release();
  }

  private release(): void {
    this.state = State.Closed;
    for (const s of this.segs.all) s.closeFiles();
    this.syncs.release(true);
    this.pending.discard();
    this.cache.clear(this.next);
    this.readWindow = null;
  }
}

