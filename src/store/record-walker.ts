// Walking framed records (record.ts) through a segment file: one implementation shared by
// recovery (segment.ts scan), reads and cursors (log.ts, cursor.ts) and `warren log verify`
// (verify.ts).
//
// Damage is contained to the damaged bytes: when a frame fails its checks, resync() finds the
// next intact frame (the damaged frame's own length first, then a byte-by-byte search for a
// frame that passes every check and whose offset could follow), so a flipped byte costs the
// record it hit and never the records after it.
import { readFully } from './fd-cache';
import { HEADER_SIZE, MAGIC, MAGIC_BATCH, MAX_RECORD_SIZE, checkFrame, frameCount, frameOffset, readU32 } from './record';

// The fewest bytes one offset can take (a message in a batch): bounds how far offsets can jump
// over a damaged range.
const MIN_BYTES_PER_OFFSET = 4;

/** A file of known size whose bytes can be read at any position (read errors throw). */
export interface FrameFile {
  readonly size: number;
  readAt(buf: Buffer, off: number, len: number, pos: number): number;
}

export function fdFrameFile(fd: number, size: number): FrameFile {
  return { size, readAt: (buf, off, len, pos) => readFully(fd, buf, off, len, pos) };
}

/** A read window: `ensure(file, pos, n)` makes bytes [pos, pos + n) available in `buf`. */
export class FrameWindow {
  buf: Buffer;
  private file: FrameFile | null = null;
  private start = 0;
  private len = 0;
  /** the file turned out shorter than its size said (truncated while being read) */
  shrank = false;
  /** index in buf of the frame last accepted by checkFrameAt, and the offsets it takes */
  frame = 0;
  count = 1;

  constructor(private readonly chunk: number) {
    this.buf = Buffer.allocUnsafe(chunk);
  }

  /** Index of `pos` in buf with n bytes available, or -1 when the file ends before pos + n. */
  ensure(file: FrameFile, pos: number, n: number): number {
    if (this.file === file && pos >= this.start && pos + n <= this.start + this.len) return pos - this.start;
    if (pos + n > file.size) return -1;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(n);
    else if (this.buf.length > this.chunk && n <= this.chunk) this.buf = Buffer.allocUnsafe(this.chunk);
    const want = Math.min(this.buf.length, file.size - pos);
    this.file = file;
    this.start = pos;
    this.len = 0;
    const got = file.readAt(this.buf, 0, want, pos);
    this.len = got;
    if (got < n) {
      this.shrank = true;
      return -1;
    }
    return 0;
  }

  invalidate(): void {
    this.file = null;
    this.len = 0;
  }
}

/**
 * Checks the frame at `pos` that should hold `expected`: a plausible length, the frame within the
 * file, the expected offset, and with `crc` its magic, internal lengths and CRC. Returns the
 * frame's size, or the reason it is not a good frame. `w.buf` holds the frame at `w.frame`.
 */
export function checkFrameAt(w: FrameWindow, file: FrameFile, pos: number, expected: number, crc: boolean): number | string {
  let i = w.ensure(file, pos, HEADER_SIZE);
  if (i < 0) return `${file.size - pos} bytes are too short for a record header`;
  const len = readU32(w.buf, i);
  if (len < HEADER_SIZE - 4 || len > MAX_RECORD_SIZE) return `impossible record length ${len}`;
  const size = len + 4;
  if (pos + size > file.size) return `record of ${size} bytes extends past the end of the file (${file.size - pos} bytes left)`;
  if (crc) {
    i = w.ensure(file, pos, size);
    if (i < 0) return 'file became shorter while being read';
    const bad = checkFrame(w.buf, i, size);
    if (bad !== null) return bad;
  }
  const found = frameOffset(w.buf, i);
  if (found !== expected) return `offset ${found} where ${expected} was expected`;
  w.frame = i;
  w.count = frameCount(w.buf, i);
  return size;
}

/**
 * The next intact frame after a damaged one at `from` (of apparent size `size`, or -1 when its
 * length is implausible) whose offset is at least `minOffset` and could follow (every offset
 * takes a few bytes at least). null when the rest of the file holds none.
 */
export function resync(w: FrameWindow, file: FrameFile, from: number, size: number, minOffset: number): { pos: number; offset: number } | null {
  if (size >= HEADER_SIZE && from + size < file.size) {
    // the damaged frame's own length leads to the record after it (or, when the damaged bytes
    // were not a record at all, to the one expected there)
    const r = intactFrameAt(w, file, from + size);
    if (r !== null && r >= minOffset && r <= minOffset + Math.ceil(size / MIN_BYTES_PER_OFFSET)) return { pos: from + size, offset: r };
  }
  for (let p = from + 1; p + HEADER_SIZE <= file.size; p++) {
    const i = w.ensure(file, p, HEADER_SIZE);
    if (i < 0) return null;
    const b = w.buf;
    if (b[i + 26] !== MAGIC && b[i + 26] !== MAGIC_BATCH) continue;
    const len = readU32(b, i);
    if (len < HEADER_SIZE - 4 || len > MAX_RECORD_SIZE || p + len + 4 > file.size) continue;
    const off = frameOffset(b, i);
    if (off < minOffset || off > minOffset + Math.ceil((p - from) / MIN_BYTES_PER_OFFSET) + 1) continue;
    if (intactFrameAt(w, file, p) === off) return { pos: p, offset: off };
  }
  return null;
}

/** The offset of the frame at `pos` if it passes every check, else null. */
function intactFrameAt(w: FrameWindow, file: FrameFile, pos: number): number | null {
  const i = w.ensure(file, pos, HEADER_SIZE);
  if (i < 0) return null;
  const len = readU32(w.buf, i);
  if (len < HEADER_SIZE - 4 || len > MAX_RECORD_SIZE || pos + len + 4 > file.size) return null;
  const j = w.ensure(file, pos, len + 4);
  if (j < 0 || checkFrame(w.buf, j, len + 4) !== null) return null;
  return frameOffset(w.buf, j);
}

/** What a walk found at one step that was not a good record: offsets [lost, next) are unreadable. */
export interface Damage {
  /** byte position where the damage starts */
  pos: number;
  /** first offset that cannot be read */
  lost: number;
  /** the next readable record (-1 with nextPos -1: nothing readable until the end of the file) */
  next: number;
  nextPos: number;
  reason: string;
}

/**
 * Position of the record holding `target`, walking frame headers from a known record (`offset`
 * at `pos`, e.g. an index entry). Returns the byte position of that record (its frame checked
 * with CRC, index in `w.frame`), or the Damage that covers it. Damage met before the target is
 * stepped over.
 */
export function seekRecord(w: FrameWindow, file: FrameFile, offset: number, pos: number, target: number): number | Damage {
  for (;;) {
    let r = checkFrameAt(w, file, pos, offset, false);
    if (typeof r === 'number') {
      const count = w.count;
      if (target >= offset + count) {
        pos += r;
        offset += count;
        continue;
      }
      r = checkFrameAt(w, file, pos, offset, true);
      if (typeof r === 'number') return pos;
    }
    const size = apparentSize(w, file, pos);
    const next = resync(w, file, pos, size, offset);
    if (next === null) return { pos, lost: offset, next: -1, nextPos: -1, reason: r };
    if (next.offset > target) return { pos, lost: offset, next: next.offset, nextPos: next.pos, reason: r };
    pos = next.pos;
    offset = next.offset;
  }
}

/** The length a damaged frame claims (for resync's first guess), or -1. */
export function apparentSize(w: FrameWindow, file: FrameFile, pos: number): number {
  const i = w.ensure(file, pos, 4);
  if (i < 0) return -1;
  const len = readU32(w.buf, i);
  return len < HEADER_SIZE - 4 || len > MAX_RECORD_SIZE ? -1 : len + 4;
}
