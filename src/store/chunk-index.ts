// A segment's chunk index (<base>.cix) for logs of batch records (stream queues): one entry per
// record (a chunk), written as records are appended. It answers what the sparse offset index
// cannot: a record's exact position and size (a filtered reader reads only the chunks it wants),
// its timestamp (Kafka's .timeindex: attach by time is a binary search here, then one read),
// and a fixed-size summary the log's owner supplies (a stream's Bloom filter of filter values),
// so that a reader skips a chunk without reading it.
//
//   header  16 bytes  "WCX1", u32 summary size, 8 reserved
//   entry   28 + S    u64 offset, u64 timestamp, u32 file position, u32 framed size, u32 count,
//                     S bytes of summary                      (integers little-endian)
//
// The index is derived data: entries past the log's end are dropped at open, missing ones are
// rebuilt from the segment (stream-log.ts), so it is written without fsync.
import * as fs from 'node:fs';
import { FileHandle, readFully, unlinkQuiet, withPath, writeFully } from './fd-cache';
import { readU32, readU64, writeU32, writeU64 } from './record';
import { storeStats } from './store-stats';

export const CIX_HEADER = 16;
const MAGIC = 0x31584357; // "WCX1" little-endian
const FLUSH_AT = 64 * 1024;

export interface ChunkEntry {
  offset: number;
  timestamp: number;
  pos: number;
  size: number;
  count: number;
  /** a view of the reader's buffer: copy it to keep it */
  summary: Buffer;
}

export function cixPath(logPath: string): string {
  return logPath.slice(0, -4) + '.cix';
}

export class ChunkIndex {
  readonly entrySize: number;
  private readonly handle: FileHandle;
  /** entries in the file */
  private persisted = 0;
  private buf: Buffer | null = null;
  private bufLen = 0;
  private headerOk = false;
  /** the newest entry (append order), kept for 'last' and timestamps */
  lastOffset = -1;
  lastTimestamp = 0;

  constructor(readonly path: string, readonly summarySize: number) {
    this.entrySize = 28 + summarySize;
    this.handle = new FileHandle(path, fs.constants.O_RDWR | fs.constants.O_CREAT);
  }

  /**
   * Opens an existing index: entries whose header does not match are dropped. Returns the
   * number of entries found (the caller checks them against the segment).
   */
  load(): number {
    let size = 0;
    try {
      size = fs.statSync(this.path).size;
    } catch {
      size = 0;
    }
    this.persisted = 0;
    this.headerOk = false;
    if (size >= CIX_HEADER) {
      const h = Buffer.alloc(CIX_HEADER);
      readFully(this.handle.fd(), h, 0, CIX_HEADER, 0);
      if (readU32(h, 0) === MAGIC && readU32(h, 4) === this.summarySize) {
        this.headerOk = true;
        this.persisted = Math.floor((size - CIX_HEADER) / this.entrySize);
      }
    }
    if (this.persisted > 0) {
      const e = this.entry(this.persisted - 1);
      this.lastOffset = e.offset;
      this.lastTimestamp = e.timestamp;
    }
    return this.persisted;
  }

  get count(): number {
    return this.persisted + this.bufLen / this.entrySize;
  }

  append(offset: number, timestamp: number, pos: number, size: number, count: number, summary: Uint8Array | null): void {
    const E = this.entrySize;
    if (this.buf === null) this.buf = Buffer.allocUnsafe(Math.max(E * 64, 4096));
    if (this.bufLen + E > this.buf.length) {
      const b = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(b, 0, 0, this.bufLen);
      this.buf = b;
    }
    const b = this.buf;
    const p = this.bufLen;
    writeU64(b, p, offset);
    writeU64(b, p + 8, timestamp);
    writeU32(b, p + 16, pos);
    writeU32(b, p + 20, size);
    writeU32(b, p + 24, count);
    if (this.summarySize > 0) {
      if (summary !== null) b.set(summary.subarray(0, this.summarySize), p + 28);
      else b.fill(0, p + 28, p + E);
    }
    this.bufLen += E;
    this.lastOffset = offset;
    this.lastTimestamp = timestamp;
    if (this.bufLen >= FLUSH_AT) this.flush();
  }

  /** Buffered entries to the file (no fsync: derived data). */
  flush(): void {
    if (this.bufLen === 0) return;
    const fd = this.handle.fd();
    if (!this.headerOk) {
      const h = Buffer.alloc(CIX_HEADER);
      writeU32(h, 0, MAGIC);
      writeU32(h, 4, this.summarySize);
      writeFully(fd, h, 0, CIX_HEADER, 0);
      this.headerOk = true;
    }
    writeFully(fd, this.buf as Buffer, 0, this.bufLen, CIX_HEADER + this.persisted * this.entrySize);
    this.persisted += this.bufLen / this.entrySize;
    this.bufLen = 0;
    if (this.buf !== null && this.buf.length > 64 * 1024) this.buf = null;
  }

  /** Keep the first n entries. */
  truncate(n: number): void {
    this.flush();
    if (n >= this.persisted) return;
    try {
      fs.truncateSync(this.path, CIX_HEADER + n * this.entrySize);
    } catch (e) {
      throw withPath(e, this.path);
    }
    this.persisted = n;
    if (n > 0) {
      const e = this.entry(n - 1);
      this.lastOffset = e.offset;
      this.lastTimestamp = e.timestamp;
    } else {
      this.lastOffset = -1;
      this.lastTimestamp = 0;
    }
  }

  /**
   * Reads entries [i, i + n) into `out` (at least n * entrySize bytes); returns how many were
   * read (fewer at the end).
   */
  readEntries(i: number, n: number, out: Buffer): number {
    this.flush();
    const have = Math.max(0, Math.min(n, this.persisted - i));
    if (have === 0) return 0;
    const got = readFully(this.handle.fd(), out, 0, have * this.entrySize, CIX_HEADER + i * this.entrySize);
    storeStats.bytesRead += got;
    return Math.floor(got / this.entrySize);
  }

  private readonly one = { buf: Buffer.alloc(0) };

  /** Entry i, decoded (its summary is a view of a shared buffer). */
  entry(i: number): ChunkEntry {
    if (this.one.buf.length < this.entrySize) this.one.buf = Buffer.allocUnsafe(this.entrySize);
    const b = this.one.buf;
    if (i >= this.persisted) this.flush();
    storeStats.bytesRead += readFully(this.handle.fd(), b, 0, this.entrySize, CIX_HEADER + i * this.entrySize);
    return decodeEntry(b, 0, this.summarySize);
  }

  /** Index of the entry holding `offset` (the last entry starting at or before it), or -1. */
  findOffset(offset: number): number {
    return this.search((e) => e.offset <= offset);
  }

  /** Index of the first entry with a timestamp >= ts (count when none). */
  findTimestamp(ts: number): number {
    return this.search((e) => e.timestamp < ts) + 1;
  }

  // The last entry index for which `before` holds (entries are ordered for it), or -1.
  private search(before: (e: ChunkEntry) => boolean): number {
    this.flush();
    let lo = 0;
    let hi = this.persisted - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.entry(mid))) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  closeFile(): void {
    try {
      this.flush();
    } finally {
      this.handle.close();
    }
  }

  delete(): void {
    this.bufLen = 0;
    this.handle.close();
    unlinkQuiet(this.path);
  }
}

export function decodeEntry(b: Buffer, p: number, summarySize: number): ChunkEntry {
  return {
    offset: readU64(b, p),
    timestamp: readU64(b, p + 8),
    pos: readU32(b, p + 16),
    size: readU32(b, p + 20),
    count: readU32(b, p + 24),
    summary: b.subarray(p + 28, p + 28 + summarySize),
  };
}
