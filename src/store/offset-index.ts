// A segment's sparse offset index (Kafka's OffsetIndex): pairs (relative offset, byte position),
// strictly increasing in both, one entry whenever at least `interval` bytes lie between the
// previous entry's record and this one. The first record (0, 0) is implicit and never stored.
//
// The .idx file holds the entries as 8-byte pairs (u32 LE relative offset, u32 LE position).
// It is derived data: rebuilt from the .log when missing, short or wrong, and written
// positionally (entry k at byte 8k), so a failed write is redone in place.
import * as fs from 'node:fs';
import { FileHandle, writeFully, withPath } from './fd-cache';

const EMPTY = new Uint32Array(0);

export class OffsetIndex {
  private idx: Uint32Array = EMPTY;
  private len = 0;
  /** entries already in the .idx file */
  private written = 0;
  private lastPos = 0;
  private handle: FileHandle | null = null;

  constructor(readonly path: string, private readonly interval: number) {}

  get entries(): number {
    return this.len;
  }

  /** Add an entry for the record (rel, pos) if the interval rule asks for one. */
  maybeAdd(rel: number, pos: number): void {
    if (pos - this.lastPos < this.interval || pos === 0) return;
    if (this.len * 2 === this.idx.length) {
      const grown = new Uint32Array(Math.max(64, this.idx.length * 2));
      grown.set(this.idx);
      this.idx = grown;
    }
    this.idx[this.len * 2] = rel;
    this.idx[this.len * 2 + 1] = pos;
    this.len++;
    this.lastPos = pos;
  }

  /** The entry with the greatest relative offset <= rel: [rel, pos] ((0, 0) when none). */
  lookupRel(rel: number): number {
    const slot = this.slotOf(rel);
    return slot < 0 ? 0 : this.idx[slot * 2];
  }

  lookupPos(rel: number): number {
    const slot = this.slotOf(rel);
    return slot < 0 ? 0 : this.idx[slot * 2 + 1];
  }

  private slotOf(rel: number): number {
    let lo = 0;
    let hi = this.len - 1;
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

  /** The last entry, as a starting point to walk to the end of the segment. */
  get lastRel(): number {
    return this.len > 0 ? this.idx[(this.len - 1) * 2] : 0;
  }

  get lastPosition(): number {
    return this.lastPos;
  }

  reset(): void {
    this.idx = EMPTY;
    this.len = 0;
    this.written = 0;
    this.lastPos = 0;
  }

  /** Shrink to the used length (a closed segment's index no longer grows). */
  compact(): void {
    if (this.idx.length !== this.len * 2) this.idx = this.idx.slice(0, this.len * 2);
    this.closeFile();
  }

  /**
   * Load the .idx file, keeping the longest valid prefix: increasing entries inside `size` whose
   * last one names the record it points at (`recordAt(pos)` returns the offset of a plausible
   * frame there, or -1). Returns false when there is no usable file.
   */
  load(base: number, size: number, headerSize: number, recordAt: (pos: number) => number): boolean {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw withPath(e, this.path);
    }
    this.reset();
    const n = buf.length >> 3;
    if (n === 0) return false;
    const idx = new Uint32Array(n * 2);
    let len = 0;
    let prevRel = 0;
    let prevPos = 0;
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32LE(i * 8);
      const pos = buf.readUInt32LE(i * 8 + 4);
      if (rel <= prevRel || pos <= prevPos || pos + headerSize > size) break;
      idx[len * 2] = rel;
      idx[len * 2 + 1] = pos;
      len++;
      prevRel = rel;
      prevPos = pos;
    }
    // the last entry must name the record it points at; otherwise back off (a torn or stale tail)
    while (len > 0 && recordAt(idx[(len - 1) * 2 + 1]) !== base + idx[(len - 1) * 2]) len = len > 8 ? len - 8 : 0;
    this.idx = idx;
    this.len = len;
    this.written = len === n && buf.length === n * 8 ? len : 0;
    this.lastPos = len > 0 ? idx[(len - 1) * 2 + 1] : 0;
    return len > 0;
  }

  /** Entries not yet in the file are appended (positionally). Throws on a write error. */
  flush(): void {
    if (this.written === this.len) return;
    if (this.written === 0 && this.len > 0 && this.handle === null) {
      // the file may hold stale entries (after a reload that dropped some): rewrite it whole
      this.rewrite();
      return;
    }
    const h = (this.handle ??= new FileHandle(this.path, fs.constants.O_WRONLY | fs.constants.O_CREAT));
    const bytes = this.bytes(this.written);
    try {
      writeFully(h.fd(), bytes, 0, bytes.length, this.written * 8);
    } catch (e) {
      throw withPath(e, this.path);
    }
    this.written = this.len;
  }

  /** Replace the file with the entries in memory. */
  rewrite(): void {
    this.closeFile();
    try {
      fs.writeFileSync(this.path, this.bytes(0));
    } catch (e) {
      throw withPath(e, this.path);
    }
    this.written = this.len;
  }

  get dirty(): boolean {
    return this.written !== this.len;
  }

  closeFile(): void {
    if (this.handle !== null) {
      this.handle.close();
      this.handle = null;
    }
  }

  private bytes(from: number): Buffer {
    const n = this.len - from;
    const b = Buffer.allocUnsafe(n * 8);
    for (let i = 0; i < n; i++) {
      b.writeUInt32LE(this.idx[(from + i) * 2], i * 8);
      b.writeUInt32LE(this.idx[(from + i) * 2 + 1], i * 8 + 4);
    }
    return b;
  }
}
