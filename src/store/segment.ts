// One segment of a log (Kafka's LogSegment): `<base>.log` with its offset index, ack set and
// volatile list (see data-dir.ts for the files). It owns its file handle, appends at its end,
// reads through the record walker, and recovers itself (scan or header walk).
import * as fs from 'node:fs';
import { SegmentFiles, segmentFiles } from './data-dir';
import { AckSet } from './ack-file';
import { FileHandle, fsyncDir, readFully, unlinkQuiet, withPath, writeFully } from './fd-cache';
import { OffsetIndex } from './offset-index';
import { HEADER_SIZE, frameOffset, frameSize, frameTimestamp } from './record';
import { type FrameFile, FrameWindow, apparentSize, checkFrameAt, resync } from './record-walker';
import { noteWritten, storeStats } from './store-stats';
import { VolatileList } from './volatile-list';

const SCAN_CHUNK = 4 * 1024 * 1024;
let sharedScanWindow: FrameWindow | null = null;
function scanWindow(): FrameWindow {
  return (sharedScanWindow ??= new FrameWindow(SCAN_CHUNK));
}

/** Offsets [from, to) of a segment that cannot be read (a damaged record or range). */
export interface LostRange {
  from: number;
  to: number;
  pos: number;
  reason: string;
}

export interface ScanResult {
  /** damaged ranges that later records survived (their offsets are gone) */
  lost: LostRange[];
  /** bytes cut off the end (a torn tail), with the reason and where */
  truncated: number;
  tailReason: string;
  tailPos: number;
}

export interface ScanOptions {
  /** true for the newest segment: a torn tail is cut off; else the unreadable rest stays a gap */
  truncateTail: boolean;
  /** records whose flags lack this bit are volatile (0: none are) */
  keepFlag: number;
  onBytes?: (n: number) => void;
}

export class Segment implements FrameFile {
  readonly base: number;
  readonly files: SegmentFiles;
  /** bytes in the .log file (the log's write buffer is not counted) */
  private size_ = 0;
  /** offset after the last record */
  next: number;
  /** bytes known to be fdatasync'ed */
  syncedSize = 0;
  oldestTimestamp = 0;
  newestTimestamp = 0;
  readonly index: OffsetIndex;
  readonly acks: AckSet;
  readonly volatile: VolatileList;
  private readonly handle: FileHandle;
  private deleted_ = false;

  private constructor(dir: string, base: number, indexInterval: number) {
    this.base = base;
    this.next = base;
    this.files = segmentFiles(dir, base);
    this.index = new OffsetIndex(this.files.idx, indexInterval);
    this.acks = new AckSet(this.files.ack);
    this.volatile = new VolatileList(this.files.vol);
    this.handle = new FileHandle(this.files.log, fs.constants.O_RDWR);
  }

  /** A new, empty segment file. */
  static create(dir: string, base: number, indexInterval: number): Segment {
    const s = new Segment(dir, base, indexInterval);
    try {
      fs.closeSync(fs.openSync(s.files.log, 'w'));
    } catch (e) {
      throw withPath(e, s.files.log);
    }
    return s;
  }

  /** An existing segment file (recovery follows). */
  static existing(dir: string, base: number, indexInterval: number): Segment {
    const s = new Segment(dir, base, indexInterval);
    try {
      s.size_ = fs.statSync(s.files.log).size;
    } catch (e) {
      throw withPath(e, s.files.log);
    }
    return s;
  }

  get name(): string {
    return this.files.name;
  }

  get size(): number {
    return this.size_;
  }

  get count(): number {
    return this.next - this.base;
  }

  get liveCount(): number {
    return this.next - this.base - this.acks.count;
  }

  get deleted(): boolean {
    return this.deleted_;
  }

  get fullyAcked(): boolean {
    return this.acks.count >= this.next - this.base;
  }

  readAt(buf: Buffer, off: number, len: number, pos: number): number {
    if (this.deleted_) throw new Error(`segment ${this.files.log} was deleted`);
    try {
      const n = readFully(this.handle.fd(), buf, off, len, pos);
      storeStats.bytesRead += n;
      return n;
    } catch (e) {
      throw withPath(e, this.files.log);
    }
  }

  /** Append bytes at the end of the file (positional: a failed write is redone in place). */
  write(buf: Buffer, off: number, len: number): void {
    try {
      writeFully(this.handle.fd(), buf, off, len, this.size_);
    } catch (e) {
      throw withPath(e, this.files.log);
    }
    this.size_ += len;
    noteWritten(len);
  }

  /**
   * fdatasync of everything written so far; calls back with the size it covers. `syncFn` is the
   * log's (replaceable by tests through group-commit.ts).
   */
  sync(syncFn: (fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => void, cb: (err: Error | null, upTo: number) => void): void {
    const upTo = this.size_;
    let fd: number;
    try {
      fd = this.handle.pin();
    } catch (e) {
      cb(e as Error, upTo);
      return;
    }
    syncFn(fd, (err) => {
      this.handle.unpin();
      if (err) cb(withPath(err, this.files.log), upTo);
      else {
        if (upTo > this.syncedSize) this.syncedSize = upTo;
        cb(null, upTo);
      }
    });
  }

  syncNow(): void {
    if (this.syncedSize >= this.size_) return;
    try {
      fs.fdatasyncSync(this.handle.fd());
    } catch (e) {
      throw withPath(e, this.files.log);
    }
    this.syncedSize = this.size_;
  }

  /** Release file descriptors (reopened on demand). */
  closeFiles(): void {
    this.handle.close();
    this.index.closeFile();
    this.acks.closeFile();
  }

  /** A segment that is no longer appended to: shrink its index, close its write-side files. */
  seal(): void {
    this.index.compact();
  }

  // ---- recovery ----------------------------------------------------------------------------

  /** Timestamp of the first record (read from its header), for retention by age. */
  readFirstTimestamp(): void {
    if (this.size_ < HEADER_SIZE) return;
    const h = Buffer.allocUnsafe(HEADER_SIZE);
    if (this.readAt(h, 0, HEADER_SIZE, 0) === HEADER_SIZE) this.oldestTimestamp = frameTimestamp(h, 0);
  }

  /**
   * For a segment past the recovery point (or after a crash): check every record with its CRC,
   * rebuild the index, find volatile records, step over damaged ranges, and cut off a torn tail
   * (newest segment only). Sets `next` and the timestamps.
   */
  scan(opts: ScanOptions): ScanResult {
    const w = scanWindow();
    w.invalidate();
    this.index.reset();
    this.volatile.clear();
    const res: ScanResult = { lost: [], truncated: 0, tailReason: '', tailPos: -1 };
    let pos = 0;
    let expect = this.base;
    let first = true;
    const size = this.size_;
    while (pos < size) {
      const r = checkFrameAt(w, this, pos, expect, true);
      if (typeof r === 'number') {
        const i = w.frame;
        const ts = frameTimestamp(w.buf, i);
        if (first) {
          this.oldestTimestamp = ts;
          first = false;
        }
        if (ts > this.newestTimestamp) this.newestTimestamp = ts;
        const rel = expect - this.base;
        this.index.maybeAdd(rel, pos);
        if (opts.keepFlag !== 0 && w.count === 1 && (w.buf[i + 24] & opts.keepFlag) === 0) this.volatile.add(rel);
        pos += r;
        expect += w.count;
        opts.onBytes?.(r);
        continue;
      }
      const next = resync(w, this, pos, apparentSize(w, this, pos), expect);
      if (next === null) {
        res.tailReason = r;
        res.tailPos = pos;
        if (opts.truncateTail) {
          res.truncated = size - pos;
          try {
            fs.truncateSync(this.files.log, pos);
          } catch (e) {
            throw withPath(e, this.files.log);
          }
          this.size_ = pos;
        }
        opts.onBytes?.(size - pos);
        break;
      }
      res.lost.push({ from: expect, to: next.offset, pos, reason: r });
      opts.onBytes?.(next.pos - pos);
      pos = next.pos;
      expect = next.offset;
    }
    this.next = expect;
    this.syncedSize = this.size_;
    return res;
  }

  /**
   * For a segment before the recovery point of a clean log: load its index and walk record
   * headers from the last entry to the end (at most one index interval plus a record). Returns
   * false when the walk does not end exactly at the end of the file (the caller then scans).
   */
  walkFromIndex(): boolean {
    const w = scanWindow();
    w.invalidate();
    this.index.load(this.base, this.size_, HEADER_SIZE, (pos) => {
      const i = w.ensure(this, pos, HEADER_SIZE);
      return i >= 0 && frameSize(w.buf, i) > 0 ? frameOffset(w.buf, i) : -1;
    });
    this.readFirstTimestamp();
    let rel = this.index.lastRel;
    let pos = this.index.lastPosition;
    const size = this.size_;
    while (pos < size) {
      const r = checkFrameAt(w, this, pos, this.base + rel, false);
      if (typeof r !== 'number') return false;
      const ts = frameTimestamp(w.buf, w.frame);
      if (ts > this.newestTimestamp) this.newestTimestamp = ts;
      this.index.maybeAdd(rel, pos);
      pos += r;
      rel += w.count;
    }
    this.next = this.base + rel;
    this.syncedSize = size;
    return true;
  }

  // ---- deletion ----------------------------------------------------------------------------

  /**
   * Remove the segment's files. In the background (libuv's thread pool) unlinking a 64 MiB
   * file's page cache costs the event loop nothing; the .log is renamed out of the log first
   * (cheap), so the segment is gone at once for anyone opening the directory, and a crash in
   * between leaves at most a .deleted file and companions without a .log, which open removes.
   */
  delete(background: boolean, warn: (msg: string) => void): void {
    if (this.deleted_) return;
    this.deleted_ = true;
    this.closeFiles();
    this.acks.drop();
    const f = this.files;
    if (!background) {
      for (const p of [f.log, f.idx, f.ack, f.vol]) {
        try {
          unlinkQuiet(p);
        } catch (e) {
          warn(`cannot delete ${p}: ${(e as Error).message}`);
        }
      }
      return;
    }
    const gone = f.log + '.deleted';
    try {
      fs.renameSync(f.log, gone);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') warn(`cannot delete ${f.log}: ${(e as Error).message}`);
    }
    unlinkInBackground([gone, f.idx, f.ack, f.vol], warn);
  }

  /** Make the directory entry of a new segment durable (after create). */
  static syncDir(dir: string): void {
    fsyncDir(dir);
  }
}

function unlinkInBackground(paths: string[], warn: (msg: string) => void): void {
  const p = paths.shift();
  if (p === undefined) return;
  fs.unlink(p, (err) => {
    if (err !== null && err.code !== 'ENOENT') warn(`cannot delete ${p}: ${err.message}`);
    unlinkInBackground(paths, warn);
  });
}
