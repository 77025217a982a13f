// The log of a stream queue: a SegmentedLog of batch records (chunks), each segment with a chunk
// index (chunk-index.ts), retention by whole segments, attach by time, and a cache of recent
// chunks that every reader of the stream shares. What a chunk holds is the owner's business
// (broker/stream-*.ts); this module only sees records with a count and a summary.
//
// Writes go to the file at the end of the event-loop turn (eagerFlush) and become readable then
// (onReadable). A chunk just appended is also kept in the shared cache, so readers at the tail
// get it from memory and readers at the same position read the file once between them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChunkCache } from './chunk-cache';
import { ChunkIndex, type ChunkEntry, decodeEntry } from './chunk-index';
import { segmentStem } from './data-dir';
import { withPath } from './fd-cache';
import { SegmentedLog, type LogCursor } from './log';
import type { SegmentInfo } from './log-options';
import { checkFrame, decodeFrame, frameCount, frameOffset, frameSize, frameTimestamp, type LogRecord } from './record';
import { type FrameFile, FrameWindow, checkFrameAt } from './record-walker';

const MiB = 1024 * 1024;
const CIX_RE = /^(\d{20})\.cix$/;

export interface StreamLogOptions {
  /** roll threshold (default 500 MB, RabbitMQ's default x-stream-max-segment-size-bytes) */
  segmentBytes?: number;
  /** bytes of summary per chunk in the chunk index (the owner's Bloom filter); 0 = none */
  summarySize: number;
  /** the summary of a stored chunk, to rebuild an index from the segment */
  summaryOf(props: Buffer, body: Buffer): Uint8Array | null;
  /** chunks up to nextOffset became readable */
  onReadable?: () => void;
  onWarning?: (msg: string) => void;
  onProgress?: (msg: string) => void;
  /** false: chunks are not cached for this log's readers (tests) */
  cache?: boolean;
}

export class StreamLog {
  readonly log: SegmentedLog;
  private readonly indexes = new Map<number, ChunkIndex>();
  private openIndex: ChunkIndex | null = null;
  private openBase = -1;
  private readable = 0;
  private readonly cache = new ChunkCache();
  private readonly summarySize: number;
  private lastChunk = -1;
  private lastTimestamp = 0;
  private readonly cacheOn: boolean;

  constructor(readonly dir: string, private readonly opts: StreamLogOptions) {
    this.summarySize = opts.summarySize;
    this.cacheOn = opts.cache ?? true;
    this.log = SegmentedLog.open(dir, {
      segmentBytes: opts.segmentBytes ?? 500_000_000,
      eagerFlush: true,
      fsync: true,
      dropReadFromCache: false,
      onReadable: () => {
        this.readable = this.log.nextOffset;
        this.openIndex?.flush();
        opts.onReadable?.();
      },
      onWarning: opts.onWarning,
      onProgress: opts.onProgress,
    });
    this.readable = this.log.nextOffset;
    this.recoverIndexes();
  }

  // ---- properties -------------------------------------------------------------------------------

  get startOffset(): number { return this.log.startOffset; }
  get nextOffset(): number { return this.log.nextOffset; }
  /** offsets below this are written to the file and may be read */
  get readableEnd(): number { return this.readable; }
  /** first offset of the newest chunk (RabbitMQ's 'last'), or nextOffset when empty */
  get lastChunkOffset(): number { return this.lastChunk >= this.startOffset ? this.lastChunk : this.nextOffset; }
  /** timestamp of the newest chunk (chunk timestamps never go backwards) */
  get newestTimestamp(): number { return this.lastTimestamp; }
  get sizeBytes(): number { return this.log.sizeBytes; }
  segments(): SegmentInfo[] { return this.log.segments(); }

  // ---- append -----------------------------------------------------------------------------------

  /**
   * Appends one chunk of `count` offsets; returns its first offset. `props` and `body` are kept
   * (for the cache): the caller must not reuse them. Throws when the log cannot append.
   */
  append(props: Buffer, body: Buffer, count: number, timestamp: number, summary: Uint8Array | null): number {
    if (timestamp < this.lastTimestamp) timestamp = this.lastTimestamp;
    const rec = { props, body, count, timestamp };
    const offset = this.log.append(rec);
    const base = this.log.lastAppendBase;
    if (base !== this.openBase) this.rolledTo(base);
    (this.openIndex as ChunkIndex).append(offset, timestamp, this.log.lastAppendPos, (rec as LogRecord).size, count, summary);
    this.lastChunk = offset;
    this.lastTimestamp = timestamp;
    if (this.cacheOn) this.cache.set(offset, rec as LogRecord);
    return offset;
  }

  private rolledTo(base: number): void {
    const old = this.openIndex;
    if (old !== null) old.closeFile();
    const file = this.indexPath(base);
    fs.rmSync(file, { force: true }); // a leftover of a segment deleted before a crash
    const ix = new ChunkIndex(file, this.summarySize);
    this.indexes.set(base, ix);
    this.openIndex = ix;
    this.openBase = base;
  }

  private indexPath(base: number): string {
    return path.join(this.dir, segmentStem(base) + '.cix');
  }

  whenSynced(offset: number): Promise<number> {
    return this.log.whenSynced(offset);
  }

  // ---- reading ------------------------------------------------------------------------------------

  /** The chunk starting at `offset` if it is in the shared cache (and readable). */
  cached(offset: number): LogRecord | undefined {
    if (offset >= this.readable || !this.cacheOn) return undefined;
    return this.cache.get(offset);
  }

  /** A chunk read from the file by one reader, offered to the others. */
  remember(rec: LogRecord): void {
    if (this.cacheOn && !this.cache.has(rec.offset)) this.cache.set(rec.offset, rec);
  }

  /** A sequential reader from `from` (the first chunk returned holds `from`). */
  reader(from: number): StreamReader {
    return new StreamReader(this, from);
  }

  /** A reader that skips chunks whose summary `wanted` rejects, without reading them. */
  filteredReader(from: number, wanted: (summary: Buffer) => boolean): FilteredReader {
    return new FilteredReader(this, from, wanted);
  }

  /** First offset of the first chunk with a timestamp >= ts (nextOffset when there is none). */
  offsetAtTimestamp(ts: number): number {
    const segs = this.log.segments();
    for (const s of segs) {
      if (s.nextOffset === s.baseOffset) continue;
      if (s.nextOffset > s.baseOffset && this.segmentNewest(s) < ts) continue;
      const ix = this.indexes.get(s.baseOffset);
      if (ix === undefined) return s.baseOffset;
      const i = ix.findTimestamp(ts);
      if (i < ix.count) return Math.max(ix.entry(i).offset, this.startOffset);
    }
    return this.nextOffset;
  }

  private segmentNewest(s: SegmentInfo): number {
    const ix = this.indexes.get(s.baseOffset);
    return ix !== undefined && ix.lastOffset >= 0 ? ix.lastTimestamp : s.newestTimestamp;
  }

  /** @internal the index of the segment with this base */
  indexOf(base: number): ChunkIndex | undefined {
    return this.indexes.get(base);
  }

  /** @internal the chunk an index entry describes, read exactly (no read-ahead) */
  readEntry(base: number, e: ChunkEntry): LogRecord | undefined {
    const cached = this.cached(e.offset);
    if (cached !== undefined) return cached;
    const file = this.log.segmentFile(base);
    if (file === undefined || e.pos + e.size > file.size) return undefined;
    const b = Buffer.allocUnsafe(e.size);
    if (file.readAt(b, 0, e.size, e.pos) !== e.size) return undefined;
    if (frameSize(b, 0) !== e.size || frameOffset(b, 0) !== e.offset || checkFrame(b, 0, e.size) !== null) {
      this.opts.onWarning?.(`${segmentStem(base)}.log: the chunk at byte ${e.pos} does not match its index entry; read sequentially instead`);
      return this.log.read(e.offset);
    }
    const rec = decodeFrame(b, 0, e.size);
    this.remember(rec);
    return rec;
  }

  // ---- retention ----------------------------------------------------------------------------------

  /**
   * Deletes whole segments, oldest first, while the stream is larger than `maxBytes` or a
   * segment's newest chunk is older than `maxAgeMs`. The open segment always stays. Returns the
   * number of segments deleted.
   */
  applyRetention(maxBytes: number | null, maxAgeMs: number | null, now = Date.now()): number {
    if (maxBytes === null && maxAgeMs === null) return 0;
    const segs = this.log.segments();
    let total = 0;
    for (const s of segs) total += s.bytes;
    let upTo = -1;
    for (let i = 0; i < segs.length - 1; i++) {
      const s = segs[i];
      const tooBig = maxBytes !== null && total > maxBytes;
      const tooOld = maxAgeMs !== null && this.segmentNewest(s) < now - maxAgeMs;
      if (!tooBig && !tooOld) break;
      total -= s.bytes;
      upTo = i;
    }
    if (upTo < 0) return 0;
    const n = this.log.dropSegmentsBefore(segs[upTo].nextOffset);
    for (let i = 0; i <= upTo; i++) {
      const ix = this.indexes.get(segs[i].baseOffset);
      if (ix === undefined) continue;
      this.indexes.delete(segs[i].baseOffset);
      ix.delete();
    }
    return n;
  }

  // ---- open: the chunk indexes ----------------------------------------------------------------------

  // Every segment's index must describe its chunks: entries past the end of the log (a torn tail
  // cut off by recovery) are dropped; chunks without an entry (written after the index's last
  // flush before a crash) are walked and indexed.
  private recoverIndexes(): void {
    const segs = this.log.segments();
    const bases = new Set(segs.map((s) => s.baseOffset));
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      names = [];
    }
    for (const n of names) {
      const m = CIX_RE.exec(n);
      if (m && !bases.has(Number(m[1]))) fs.rmSync(path.join(this.dir, n), { force: true });
    }
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const ix = new ChunkIndex(this.indexPath(s.baseOffset), this.summarySize);
      try {
        this.recoverIndex(ix, s);
      } catch (e) {
        this.opts.onWarning?.(`${ix.path}: cannot recover the chunk index (${(e as Error).message}); rebuilding it`);
        ix.truncate(0);
        this.walkInto(ix, s, s.baseOffset, 0);
      }
      this.indexes.set(s.baseOffset, ix);
      if (ix.lastOffset >= 0) {
        this.lastChunk = ix.lastOffset;
        this.lastTimestamp = ix.lastTimestamp;
      }
      if (i === segs.length - 1) {
        this.openIndex = ix;
        this.openBase = s.baseOffset;
      } else ix.closeFile();
    }
  }

  private recoverIndex(ix: ChunkIndex, s: SegmentInfo): void {
    const file = this.log.segmentFile(s.baseOffset);
    const fileSize = file?.size ?? 0;
    let n = ix.load();
    // the last entry that fits in the segment as it is now
    let lo = 0;
    let hi = n - 1;
    let keep = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = ix.entry(mid);
      if (e.pos + e.size <= fileSize && e.offset + e.count <= s.nextOffset) {
        keep = mid + 1;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (keep < n) ix.truncate(keep);
    n = keep;
    let pos = 0;
    let offset = s.baseOffset;
    if (n > 0) {
      const e = ix.entry(n - 1);
      // the entry must describe the frame that is there
      if (file === undefined || !frameMatches(file, e)) {
        ix.truncate(0);
        n = 0;
      } else {
        pos = e.pos + e.size;
        offset = e.offset + e.count;
      }
    }
    if (offset < s.nextOffset) this.walkInto(ix, s, offset, pos);
    ix.flush();
  }

  private walkInto(ix: ChunkIndex, s: SegmentInfo, offset: number, pos: number): void {
    const file = this.log.segmentFile(s.baseOffset);
    if (file === undefined) return;
    const w = new FrameWindow(MiB);
    let added = 0;
    while (pos < file.size) {
      const r = checkFrameAt(w, file, pos, offset, false);
      if (typeof r !== 'number') {
        // damage: the log reports and skips it; the index resumes at the next chunk it finds
        const rec = this.log.cursor(offset).next();
        if (rec === undefined || rec.offset >= s.nextOffset) break;
        const at = findFrame(w, file, pos, rec.offset);
        if (at <= pos) break;
        pos = at;
        offset = rec.offset;
        continue;
      }
      const i = w.ensure(file, pos, r);
      if (i < 0) break;
      const rec = decodeFrame(w.buf, i, r);
      ix.append(offset, rec.timestamp, pos, r, rec.count, this.opts.summaryOf(rec.props, rec.body));
      pos += r;
      offset += rec.count;
      added++;
    }
    if (added > 0) this.opts.onProgress?.(`${ix.path}: indexed ${added} chunk(s)`);
  }

  // ---- close ----------------------------------------------------------------------------------------

  async close(): Promise<void> {
    for (const ix of this.indexes.values()) {
      try {
        ix.closeFile();
      } catch (e) {
        this.opts.onWarning?.(`${ix.path}: ${(e as Error).message}`);
      }
    }
    this.cache.clear();
    await this.log.close();
  }

  destroy(): void {
    for (const ix of this.indexes.values()) ix.delete();
    this.indexes.clear();
    this.cache.clear();
    this.log.destroy();
  }

  crashForTesting(): void {
    this.cache.clear();
    this.log.crashForTesting();
  }
}

function frameMatches(file: FrameFile, e: ChunkEntry): boolean {
  const h = Buffer.allocUnsafe(40);
  if (file.readAt(h, 0, 40, e.pos) !== 40) return false;
  return frameSize(h, 0) === e.size && frameOffset(h, 0) === e.offset && frameCount(h, 0) === e.count && frameTimestamp(h, 0) === e.timestamp;
}

// Byte position of the frame holding `offset` at or after `from`, by walking headers; -1 if none.
function findFrame(w: FrameWindow, file: FrameFile, from: number, offset: number): number {
  for (let p = from; p + 40 <= file.size; p++) {
    const i = w.ensure(file, p, 40);
    if (i < 0) return -1;
    if (frameSize(w.buf, i) > 0 && frameOffset(w.buf, i) === offset) {
      const n = frameSize(w.buf, i);
      const j = w.ensure(file, p, n);
      if (j >= 0 && checkFrame(w.buf, j, n) === null) return p;
    }
  }
  return -1;
}

/** A reader of whole chunks in order, sharing the stream's cache of recent chunks. */
export class StreamReader {
  private pos: number;
  private cursor: LogCursor | null = null;

  constructor(private readonly sl: StreamLog, from: number) {
    this.pos = from;
  }

  /** the next offset this reader wants */
  get position(): number { return this.pos; }

  seek(offset: number): void {
    this.pos = offset;
  }

  /** The next chunk (the one holding position), or undefined when there is none readable yet. */
  next(): LogRecord | undefined {
    const sl = this.sl;
    if (this.pos < sl.startOffset) this.pos = sl.startOffset;
    if (this.pos >= sl.readableEnd) return undefined;
    const c = sl.cached(this.pos);
    if (c !== undefined) {
      this.pos = c.offset + c.count;
      return c;
    }
    const cur = (this.cursor ??= sl.log.cursor(this.pos));
    if (cur.position !== this.pos) cur.seek(this.pos);
    const rec = cur.next();
    if (rec === undefined) return undefined;
    if (rec.offset + rec.count > sl.readableEnd) return undefined;
    sl.remember(rec);
    this.pos = rec.offset + rec.count;
    // caught up: the next chunks come from the cache, the read-ahead buffer can go
    if (this.pos >= sl.readableEnd) this.cursor = null;
    return rec;
  }
}

const ENTRY_BLOCK = 256;

/**
 * A reader that consults the chunk index first: chunks whose summary `wanted` rejects are
 * skipped without being read; the others are read exactly (no read-ahead). The index itself is
 * read in blocks.
 */
export class FilteredReader {
  private pos: number;
  private base = -1;
  private ix: ChunkIndex | undefined;
  private block: Buffer | null = null;
  private blockFirst = 0;
  private blockLen = 0;
  private at = 0;
  /** chunks skipped and read, for tests and benchmarks */
  skipped = 0;
  read = 0;

  constructor(private readonly sl: StreamLog, from: number, private readonly wanted: (summary: Buffer) => boolean) {
    this.pos = from;
  }

  get position(): number { return this.pos; }

  seek(offset: number): void {
    this.pos = offset;
    this.base = -1;
  }

  /** The next wanted chunk, or undefined when nothing more is readable yet. */
  next(): LogRecord | undefined {
    const sl = this.sl;
    for (;;) {
      if (this.pos < sl.startOffset) { this.pos = sl.startOffset; this.base = -1; }
      if (this.pos >= sl.readableEnd) return undefined;
      if (!this.locate()) return undefined;
      const ix = this.ix as ChunkIndex;
      if (this.at >= this.blockFirst + this.blockLen) {
        const b = (this.block ??= Buffer.allocUnsafe(ENTRY_BLOCK * ix.entrySize));
        this.blockFirst = this.at;
        this.blockLen = ix.readEntries(this.at, ENTRY_BLOCK, b);
        if (this.blockLen === 0) {
          // the segment's index has no more entries: the next segment, if any
          const segs = sl.segments();
          const k = segs.findIndex((s) => s.baseOffset === this.base);
          if (k < 0 || k === segs.length - 1) return undefined;
          this.pos = Math.max(this.pos, segs[k + 1].baseOffset);
          this.base = -1;
          continue;
        }
      }
      const e = decodeEntry(this.block as Buffer, (this.at - this.blockFirst) * ix.entrySize, ix.summarySize);
      if (e.offset + e.count <= this.pos) { this.at++; continue; }
      if (e.offset >= sl.readableEnd) return undefined;
      this.at++;
      this.pos = e.offset + e.count;
      if (!this.wanted(e.summary)) {
        this.skipped++;
        continue;
      }
      const rec = sl.readEntry(this.base, e);
      if (rec === undefined) continue;
      this.read++;
      return rec;
    }
  }

  // The segment and entry holding `pos`.
  private locate(): boolean {
    if (this.base >= 0 && this.sl.indexOf(this.base) === this.ix && this.ix !== undefined) return true;
    const segs = this.sl.segments();
    let seg: SegmentInfo | undefined;
    for (const s of segs) if (s.baseOffset <= this.pos && this.pos < s.nextOffset) seg = s;
    if (seg === undefined) {
      seg = segs.find((s) => s.baseOffset > this.pos && s.nextOffset > s.baseOffset);
      if (seg === undefined) return false;
      this.pos = seg.baseOffset;
    }
    const ix = this.sl.indexOf(seg.baseOffset);
    if (ix === undefined) return false;
    this.base = seg.baseOffset;
    this.ix = ix;
    this.at = Math.max(0, ix.findOffset(this.pos));
    this.blockFirst = 0;
    this.blockLen = 0;
    return true;
  }
}

/** For tools: whether a directory holds a stream log's chunk indexes. */
export function hasChunkIndexes(dir: string): boolean {
  try {
    return fs.readdirSync(dir).some((n) => CIX_RE.test(n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw withPath(e, dir);
  }
}
