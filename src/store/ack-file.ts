// The acked records of one segment: a bitmap in memory and an append-only .ack file of u32 LE
// relative offsets (any order). Loaded at open; entries past the segment's data (acks of a torn
// tail) are dropped and the file rewritten. Pending entries are appended at the file's known
// end; a failed write is cut off again and the entries stay pending: an ack is retried until it
// is written, never dropped.
import * as fs from 'node:fs';
import { FileHandle, writeFully, withPath } from './fd-cache';

export class AckSet {
  private bits: Uint8Array | null = null;
  private count_ = 0;
  // entries not yet in the file, already in its format (u32 LE): pending[0, pendingCount * 4)
  private pending: Buffer | null = null;
  private pendingCount = 0;
  private fileSize = -1; // -1: unknown (not loaded or created yet)
  private handle: FileHandle | null = null;

  constructor(readonly path: string) {}

  get count(): number {
    return this.count_;
  }

  get hasPending(): boolean {
    return this.pendingCount > 0;
  }

  has(rel: number): boolean {
    const a = this.bits;
    return a !== null && rel >> 3 < a.length && (a[rel >> 3] & (1 << (rel & 7))) !== 0;
  }

  /**
   * Set the bit; false if it was already set. `capacity` sizes the bitmap of a closed segment
   * exactly; a segment still being appended to passes 0 and the bitmap grows by doubling.
   */
  set(rel: number, capacity: number): boolean {
    let a = this.bits;
    const byte = rel >> 3;
    if (a === null || byte >= a.length) {
      const need = byte + 1;
      const size = capacity === 0 ? Math.max(need, a === null ? 64 : a.length * 2) : Math.max(need, (capacity + 7) >> 3);
      const grown = new Uint8Array(size);
      if (a !== null) grown.set(a);
      this.bits = a = grown;
    }
    const bit = 1 << (rel & 7);
    if ((a[byte] & bit) !== 0) return false;
    a[byte] |= bit;
    this.count_++;
    return true;
  }

  /** set() and remember the entry for the file. */
  add(rel: number, capacity: number): boolean {
    if (!this.set(rel, capacity)) return false;
    const o = this.pendingCount << 2;
    let b = this.pending;
    if (b === null || o + 4 > b.length) {
      const grown = Buffer.allocUnsafe(b === null ? 1024 : b.length * 2);
      if (b !== null) b.copy(grown, 0, 0, o);
      this.pending = b = grown;
    }
    b[o] = rel;
    b[o + 1] = rel >>> 8;
    b[o + 2] = rel >>> 16;
    b[o + 3] = rel >>> 24;
    this.pendingCount++;
    return true;
  }

  /** First relative offset >= rel that is not acked (< count), else count. Skips 8 at a time. */
  nextClear(rel: number, count: number): number {
    const a = this.bits;
    if (a === null) return rel;
    while (rel < count) {
      const byte = rel >> 3;
      if (byte >= a.length) return rel;
      if ((rel & 7) === 0 && a[byte] === 0xff) {
        rel += 8;
        continue;
      }
      if ((a[byte] & (1 << (rel & 7))) === 0) return rel;
      rel++;
    }
    return count;
  }

  /**
   * Load the .ack file of a segment holding `count` records. A missing file means no acks; any
   * other read error is thrown (with the path): treating an unreadable ack file as empty would
   * bring acked messages back. Returns a description of dropped entries, or null.
   */
  load(count: number, growable: boolean, warn: (msg: string) => void): string | null {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.fileSize = 0;
        return null;
      }
      throw withPath(e, this.path);
    }
    const n = buf.length >> 2;
    const torn = buf.length & 3;
    let dropped = 0;
    const keep: number[] = [];
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32LE(i * 4);
      if (rel >= count) {
        dropped++;
        continue;
      }
      if (this.set(rel, growable ? 0 : count)) keep.push(rel);
    }
    this.fileSize = n * 4;
    if (dropped === 0 && torn === 0) return null;
    // Entries past the data must leave the file before any new record takes their offsets.
    try {
      this.rewrite(keep);
    } catch (e) {
      // A full disk at start: overwrite in place (the blocks are already allocated) and shrink.
      // A crash midway leaves old entries after the new ones, and the next open drops the same
      // entries again: nothing can have been appended in between.
      warn(`cannot replace ${this.path} (${(e as Error).message}); rewriting it in place`);
      this.rewriteInPlace(keep);
    }
    return `dropped ${dropped} ack entr${dropped === 1 ? 'y' : 'ies'} past the data (${count} records)` +
      (torn ? ` and ${torn} torn bytes at byte ${n * 4}` : '');
  }

  private rewrite(entries: number[]): void {
    const b = Buffer.allocUnsafe(entries.length * 4);
    for (let i = 0; i < entries.length; i++) b.writeUInt32LE(entries[i], i * 4);
    this.closeFile();
    try {
      fs.writeFileSync(this.path + '.tmp', b);
      fs.renameSync(this.path + '.tmp', this.path);
    } catch (e) {
      throw withPath(e, this.path);
    }
    this.fileSize = b.length;
  }

  private rewriteInPlace(entries: number[]): void {
    const b = Buffer.allocUnsafe(entries.length * 4);
    for (let i = 0; i < entries.length; i++) b.writeUInt32LE(entries[i], i * 4);
    this.closeFile();
    try {
      const fd = fs.openSync(this.path, 'r+');
      try {
        writeFully(fd, b, 0, b.length, 0);
        fs.ftruncateSync(fd, b.length);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      throw withPath(e, this.path);
    }
    this.fileSize = b.length;
  }

  /** Append pending entries. On a write error the file is cut back and the entries stay pending. */
  flush(): void {
    const b = this.pending;
    const len = this.pendingCount << 2;
    if (b === null || len === 0) return;
    const h = (this.handle ??= new FileHandle(this.path, fs.constants.O_WRONLY | fs.constants.O_CREAT));
    let end = this.fileSize;
    try {
      const fd = h.fd();
      if (end < 0) end = fs.fstatSync(fd).size & ~3;
      writeFully(fd, b, 0, len, end);
    } catch (e) {
      if (end >= 0) {
        try {
          fs.truncateSync(this.path, end);
        } catch {
          /* shrinking needs no space; nothing better to do */
        }
      }
      throw withPath(e, this.path);
    }
    this.fileSize = end + len;
    this.pending = null;
    this.pendingCount = 0;
  }

  /** Forget everything (the segment is gone). */
  drop(): void {
    this.bits = null;
    this.pending = null;
    this.pendingCount = 0;
    this.closeFile();
  }

  closeFile(): void {
    if (this.handle !== null) {
      this.handle.close();
      this.handle = null;
    }
  }
}
