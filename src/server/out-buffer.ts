// Batched socket output. Frames are written straight into a large chunk; the bytes written
// since the last flush go to the socket as one write, at most once per event-loop turn. Regions
// already handed to the socket are never written again, so no copy is needed on flush.
import type { Socket } from 'node:net';
import { type FrameSink, ZERO_COPY_THRESHOLD } from '../protocol/content-frames';

const CHUNK = 256 * 1024;

const pending = new Set<OutBuffer>();
const EMPTY = Buffer.alloc(0);
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  for (const o of pending) o.flush();
  pending.clear();
}

// Chunks whose bytes the kernel has taken are reused: allocating a fresh 256 KiB chunk for every
// few milliseconds of output keeps V8's external-memory accounting busy and brings on full GCs.
const free: Buffer[] = [];
const MAX_FREE = 32;

function takeChunk(min: number): Buffer {
  if (min <= CHUNK) {
    const b = free.pop();
    if (b !== undefined) return b;
  }
  return Buffer.allocUnsafeSlow(min > CHUNK ? min : CHUNK);
}

export class OutBuffer implements FrameSink {
  buf: Buffer = EMPTY;
  pos = 0;
  private start = 0;
  private dead = false;
  private inflight = 0;   // socket writes from the current chunk not yet handed to the kernel
  private readonly retired = new Map<Buffer, number>();

  constructor(private readonly socket: Socket) {}

  // Makes room for n bytes at this.pos; the caller writes them and advances pos with commit().
  reserve(n: number): Buffer {
    if (this.buf.length - this.pos < n) {
      this.push();
      this.retire();
      this.buf = takeChunk(n);
      this.pos = 0;
      this.start = 0;
    }
    return this.buf;
  }

  commit(newPos: number): void {
    this.pos = newPos;
    if (!scheduled) { scheduled = true; setImmediate(flushAll); }
    pending.add(this);
  }

  write(frame: Buffer): void {
    if (frame.length >= ZERO_COPY_THRESHOLD) {
      this.push();
      if (!this.dead) this.socket.write(frame);
      return;
    }
    const b = this.reserve(frame.length);
    frame.copy(b, this.pos);
    this.commit(this.pos + frame.length);
  }

  // Hands a large slice to the socket without copying, after what is already buffered.
  writeZeroCopy(slice: Buffer): void {
    this.push();
    if (!this.dead) this.socket.write(slice);
  }

  private push(): void {
    if (this.pos > this.start) {
      if (!this.dead) {
        const chunk = this.buf;
        this.inflight++;
        this.socket.write(chunk.subarray(this.start, this.pos), () => this.written(chunk));
      }
      this.start = this.pos;
    }
  }

  private written(chunk: Buffer): void {
    if (chunk === this.buf) { this.inflight--; return; }
    const left = (this.retired.get(chunk) ?? 1) - 1;
    if (left > 0) { this.retired.set(chunk, left); return; }
    this.retired.delete(chunk);
    if (free.length < MAX_FREE && chunk.length === CHUNK) free.push(chunk);
  }

  // The current chunk is done with: recycle it once the socket has written all of it.
  private retire(): void {
    const chunk = this.buf;
    if (chunk === EMPTY) return;
    if (this.inflight === 0) {
      if (free.length < MAX_FREE && chunk.length === CHUNK && !this.dead) free.push(chunk);
    } else {
      this.retired.set(chunk, this.inflight);
    }
    this.inflight = 0;
  }

  flush(): void {
    this.push();
    // Reuse the tail of the chunk only when there is a useful amount of it left.
    if (this.buf.length - this.pos < 4096) {
      this.retire();
      this.buf = EMPTY;
      this.pos = 0;
      this.start = 0;
    }
  }

  get backlog(): number { return this.socket.writableLength + (this.pos - this.start); }

  kill(): void {
    this.dead = true;
    pending.delete(this);
  }
}
