// Batched socket output. Frames are written straight into a large chunk; the bytes written
// since the last flush go to the socket as one write, at most once per event-loop turn. Regions
// already handed to the socket are never written again, so no copy is needed on flush.
import type { Socket } from 'node:net';

const CHUNK = 256 * 1024;
// Bodies at least this large go to the socket as their own write instead of being copied.
export const ZERO_COPY_THRESHOLD = 64 * 1024;

const pending = new Set<OutBuffer>();
let scheduled = false;

function flushAll(): void {
  scheduled = false;
  for (const o of pending) o.flush();
  pending.clear();
}

export class OutBuffer {
  buf: Buffer = Buffer.allocUnsafe(CHUNK);
  pos = 0;
  private start = 0;
  private dead = false;

  constructor(private readonly socket: Socket) {}

  // Makes room for n bytes at this.pos; the caller writes them and advances pos with commit().
  reserve(n: number): Buffer {
    if (this.buf.length - this.pos < n) {
      this.push();
      this.buf = Buffer.allocUnsafe(n > CHUNK ? n : CHUNK);
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
      if (!this.dead) this.socket.write(this.buf.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }

  flush(): void {
    this.push();
    // Reuse the tail of the chunk only when there is a useful amount of it left.
    if (this.buf.length - this.pos < 4096) {
      this.buf = Buffer.allocUnsafe(CHUNK);
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
