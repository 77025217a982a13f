// A sequential reader of a log. It owns its read window (a large read-ahead buffer, dropped once
// the cursor has caught up with the tail cache) and remembers where the next record starts, so
// reading forward costs one header check per record and one read per window.
import { decodeFrame, frameSize, type LogRecord } from './record';
import { type Damage, FrameWindow, seekRecord } from './record-walker';
import type { Segment } from './segment';

/** What a cursor needs from its log. */
export interface CursorSource {
  startOffset(): number;
  nextOffset(): number;
  /** the record from the tail cache (noting that a cursor read it), or undefined */
  cached(offset: number): LogRecord | undefined;
  atOrAfter(offset: number): Segment | undefined;
  /** damaged offsets met by a read: settle them, count and report them */
  lost(seg: Segment, d: Damage): void;
  closed(): boolean;
}

export interface LogCursor {
  /** the offset next() looks at next */
  readonly position: number;
  /**
   * The next stored record (acked ones too), or undefined at the end of what is readable. A
   * batch record is returned whole when the position is anywhere inside it; the position then
   * moves past it.
   */
  next(): LogRecord | undefined;
  seek(offset: number): void;
}

export class Cursor implements LogCursor {
  private pos: number;
  private win: FrameWindow | null = null;
  // where record `hintOffset` starts in `hintSeg`
  private hintSeg: Segment | null = null;
  private hintOffset = -1;
  private hintPos = 0;

  constructor(private readonly src: CursorSource, from: number, private readonly readAhead: number) {
    this.pos = Math.max(0, from);
  }

  get position(): number {
    return this.pos;
  }

  seek(offset: number): void {
    this.pos = Math.max(0, offset);
  }

  next(): LogRecord | undefined {
    const src = this.src;
    if (src.closed()) throw new Error('log is closed');
    for (;;) {
      let pos = this.pos;
      if (pos < src.startOffset()) pos = this.pos = src.startOffset();
      if (pos >= src.nextOffset()) return undefined;
      const cached = src.cached(pos);
      if (cached !== undefined) {
        this.pos = pos + 1;
        this.win = null; // caught up with the tail: release the read-ahead buffer
        this.hintSeg = null;
        return cached;
      }
      const seg = src.atOrAfter(pos);
      if (seg === undefined) return undefined;
      if (pos < seg.base) {
        this.pos = seg.base;
        continue;
      }
      const w = (this.win ??= new FrameWindow(this.readAhead));
      let from: number;
      let filePos: number;
      if (this.hintSeg === seg && this.hintOffset === pos) {
        from = pos;
        filePos = this.hintPos;
      } else {
        const rel = seg.index.lookupRel(pos - seg.base);
        from = seg.base + rel;
        filePos = seg.index.lookupPos(pos - seg.base);
      }
      const r = seekRecord(w, seg, from, filePos, pos);
      if (typeof r === 'number') {
        const size = frameSize(w.buf, w.frame);
        const rec = decodeFrame(w.buf, w.frame, size);
        const after = rec.offset + rec.count;
        this.pos = after;
        this.hintSeg = seg;
        this.hintOffset = after;
        this.hintPos = r + size;
        return rec;
      }
      src.lost(seg, r);
      if (r.next >= 0) {
        this.pos = r.next;
        this.hintSeg = seg;
        this.hintOffset = r.next;
        this.hintPos = r.nextPos;
      } else {
        this.pos = Math.max(pos + 1, seg.next);
        this.hintSeg = null;
      }
    }
  }
}
