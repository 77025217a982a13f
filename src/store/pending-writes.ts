// A log's records that are appended but not yet in its open segment's file: framed into a write
// buffer lent from the process-wide pool (write-buffer.ts) and written out in one write by the
// group commit's flush, or earlier when the buffer fills. A log that fills its buffer before the
// flush timer is busy and gets a bigger one next time, up to its limit, while the process stays
// under the pool's budget.
import type { Segment } from './segment';
import { encodeInto } from './record';
import { INITIAL_BUFFER, acquireBuffer, bufferClass, mayGrow, releaseBuffer } from './write-buffer';

/** The log a buffer belongs to: it writes the buffer out (flushData) and hears of failed writes. */
export interface PendingOwner {
  flushData(): void;
  writeFailed(e: Error): void;
}

export class PendingWrites {
  private buf: Buffer | null = null;
  private target = INITIAL_BUFFER;
  /** bytes framed and not yet written */
  length = 0;

  /** `maxBuffer`: a record larger than this is never buffered (see `fits`) */
  constructor(readonly maxBuffer: number) {}

  /** The buffer has room for `size` more bytes. */
  hasRoom(size: number): boolean {
    return this.buf !== null && this.length + size <= this.buf.length;
  }

  /**
   * Makes room for `size` bytes: a buffer holding records is written out first (owner.flushData).
   * When that write fails, the records stay (their offsets are taken and cached) in a grown
   * buffer, to be rewritten at the same file position (owner.writeFailed). For a record
   * larger than `maxBuffer` nothing is lent: the caller writes it on its own.
   */
  makeRoom(size: number, owner: PendingOwner): void {
    if (this.buf !== null && this.length > 0) {
      if (this.target < this.maxBuffer && mayGrow()) this.target *= 2;
      try {
        owner.flushData();
      } catch (e) {
        owner.writeFailed(e as Error);
        const grown = acquireBuffer(bufferClass(this.length + size));
        this.buf.copy(grown, 0, 0, this.length);
        releaseBuffer(this.buf);
        this.buf = grown;
        return;
      }
    }
    if (size > this.maxBuffer) return;
    if (this.buf === null || this.buf.length < size) {
      if (this.buf !== null) releaseBuffer(this.buf);
      this.buf = acquireBuffer(bufferClass(Math.max(mayGrow() ? this.target : INITIAL_BUFFER, size)));
    }
  }

  /** Frames one record after the others (the caller made room). */
  frame(size: number, offset: number, ts: number, flags: number, env: Uint8Array | undefined, props: Buffer, body: Buffer, count: number): void {
    encodeInto(this.buf as Buffer, this.length, offset, ts, flags, env, props, body, count);
    this.length += size;
  }

  /** Writes the framed records to `seg` (throws on a write error: nothing changes) and gives the buffer back. Returns the bytes written. */
  writeTo(seg: Segment): number {
    const n = this.length;
    if (n > 0) {
      seg.write(this.buf as Buffer, 0, n);
      this.length = 0;
    }
    this.release();
    return n;
  }

  /** Drops what is buffered (truncation, close, crash) and gives the buffer back. */
  discard(): void {
    this.length = 0;
    this.release();
  }

  private release(): void {
    if (this.buf !== null) {
      releaseBuffer(this.buf);
      this.buf = null;
    }
  }
}
