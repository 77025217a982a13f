/*
 * One segment of a SegmentedLog: `<20-digit base offset>.log` with its sparse offset index
 * (`.idx`) and its ack file (`.ack`).
 *
 * .idx: a sequence of 8-byte entries, u32 LE relative offset then u32 LE byte position of that
 *       record in the .log file, strictly increasing in both. The first record (relative offset
 *       0, position 0) is implicit and never stored. An entry is added for a record when at least
 *       indexIntervalBytes lie between the previous entry's position and the record's position.
 *       The index is derived data: it is rebuilt from the .log when missing, short or invalid.
 * .ack: append-only sequence of u32 LE relative offsets of acked records (any order). Loaded at
 *       open into a bitmap; entries pointing past the data are dropped (and the file rewritten).
 */
import * as fs from 'fs';
import * as path from 'path';
import { LRUCache } from 'lru-cache';

export const SEGMENT_NAME_RE = /^(\d{20})\.log$/;

export function segmentFileName(base: number): string {
  return String(base).padStart(20, '0') + '.log';
}

export class Segment {
  readonly base: number;
  readonly name: string;
  readonly logPath: string;
  readonly idxPath: string;
  readonly ackPath: string;
  /** bytes in the .log file (written with writeSync; excludes the log's write buffer) */
  size = 0;
  /** offset after the last record (base + record count) */
  next: number;
  /** bytes known to be fdatasync'ed */
  syncedSize = 0;
  oldestTimestamp = 0;
  newestTimestamp = 0;

  /** sparse index, pairs [relOffset, position]; idxLen entries used */
  idx: Uint32Array = EMPTY_INDEX;
  idxLen = 0;
  /** entries already written to the .idx file */
  idxWritten = 0;
  /** position of the last index entry (0 = the implicit first record) */
  lastIdxPos = 0;

  /** ack bitmap, allocated on the first ack */
  acked: Uint8Array | null = null;
  ackedCount = 0;
  /** acked relative offsets not yet appended to the .ack file */
  ackPending: number[] | null = null;

  /** file descriptor of the .log (-1 = not open) */
  fd = -1;
  /** the fd is the writable one of the open segment (or of a rolled segment awaiting its sync) */
  writable = false;
  /** fdatasync calls in flight on fd */
  inflight = 0;
  closeWhenIdle = false;
  /** .idx fd while the segment is open for appends */
  idxFd = -1;
  deleted = false;

  constructor(dir: string, base: number) {
    this.base = base;
    this.next = base;
    this.name = segmentFileName(base);
    this.logPath = path.join(dir, this.name);
    const stem = this.logPath.slice(0, -4);
    this.idxPath = stem + '.idx';
    this.ackPath = stem + '.ack';
  }

  get count(): number {
    return this.next - this.base;
  }

  get liveCount(): number {
    return this.next - this.base - this.ackedCount;
  }

  // ---- index -----------------------------------------------------------------------------

  addIndexEntry(rel: number, pos: number): void {
    if (this.idxLen * 2 === this.idx.length) {
      const grown = new Uint32Array(Math.max(64, this.idx.length * 2));
      grown.set(this.idx);
      this.idx = grown;
    }
    this.idx[this.idxLen * 2] = rel;
    this.idx[this.idxLen * 2 + 1] = pos;
    this.idxLen++;
    this.lastIdxPos = pos;
  }

  /** Add an entry for the record at `pos` if the interval rule asks for one. */
  maybeIndex(rel: number, pos: number, interval: number): void {
    if (pos - this.lastIdxPos >= interval && pos > 0) this.addIndexEntry(rel, pos);
  }

  resetIndex(): void {
    this.idx = EMPTY_INDEX;
    this.idxLen = 0;
    this.idxWritten = 0;
    this.lastIdxPos = 0;
  }

  /** Shrink the index array to its used length (for closed segments). */
  compactIndex(): void {
    if (this.idx.length !== this.idxLen * 2) this.idx = this.idx.slice(0, this.idxLen * 2);
  }

  /** Index slot with the greatest relative offset <= rel, or -1 for the implicit (0, 0). */
  lookup(rel: number): number {
    let lo = 0;
    let hi = this.idxLen - 1;
    let found = -1;
    const idx = this.idx;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (idx[mid * 2] <= rel) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  entryRel(slot: number): number {
    return slot < 0 ? 0 : this.idx[slot * 2];
  }

  entryPos(slot: number): number {
    return slot < 0 ? 0 : this.idx[slot * 2 + 1];
  }

  /** Serialised index entries [from, idxLen). */
  indexBytes(from: number): Buffer {
    const n = this.idxLen - from;
    const b = Buffer.allocUnsafe(n * 8);
    for (let i = 0; i < n; i++) {
      b.writeUInt32LE(this.idx[(from + i) * 2], i * 8);
      b.writeUInt32LE(this.idx[(from + i) * 2 + 1], i * 8 + 4);
    }
    return b;
  }

  // ---- acks ------------------------------------------------------------------------------

  isAckedRel(rel: number): boolean {
    const a = this.acked;
    return a !== null && rel >> 3 < a.length && (a[rel >> 3] & (1 << (rel & 7))) !== 0;
  }

  /** Set the ack bit; false if it was already set. */
  setAckedRel(rel: number, growable: boolean): boolean {
    let a = this.acked;
    const byte = rel >> 3;
    if (a === null || byte >= a.length) {
      const need = byte + 1;
      const size = growable ? Math.max(need, a === null ? 64 : a.length * 2) : Math.max(need, (this.count + 7) >> 3);
      const grown = new Uint8Array(size);
      if (a !== null) grown.set(a);
      this.acked = a = grown;
    }
    const bit = 1 << (rel & 7);
    if ((a[byte] & bit) !== 0) return false;
    a[byte] |= bit;
    this.ackedCount++;
    return true;
  }
}

const EMPTY_INDEX = new Uint32Array(0);

// ---- file descriptors of closed segments ----------------------------------------------------

/**
 * Read fds of closed segments, shared by all logs of the process so that thousands of queues
 * with many segments each stay under the fd limit.
 */
export const readFds = new LRUCache<Segment, number>({
  max: 512,
  dispose: (fd, seg) => {
    if (seg.fd === fd) {
      if (seg.inflight > 0) {
        seg.closeWhenIdle = true;
        return;
      }
      seg.fd = -1;
    }
    try {
      fs.closeSync(fd);
    } catch {
      /* already closed */
    }
  },
});

/** Close a segment's fds now, or when its in-flight fdatasync calls are done. */
export function releaseFds(seg: Segment): void {
  if (seg.idxFd >= 0) {
    closeQuiet(seg.idxFd);
    seg.idxFd = -1;
  }
  if (seg.fd < 0) return;
  if (readFds.has(seg)) {
    readFds.delete(seg); // dispose closes it (or defers)
    return;
  }
  if (seg.inflight > 0) {
    seg.closeWhenIdle = true;
    return;
  }
  closeQuiet(seg.fd);
  seg.fd = -1;
  seg.writable = false;
}

export function closeQuiet(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    /* ignore */
  }
}

export function unlinkQuiet(p: string): void {
  try {
    fs.unlinkSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
