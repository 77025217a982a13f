// Records that must not survive a restart (transient messages in a durable queue) are written to
// the log like any other, so that ordering and reads stay simple; a segment's .vol file lists
// their relative offsets (u32 LE) so that the next open acks them without reading the data, and
// a queue's message count is exact from the first moment after a restart.
//
// The list of the segment being appended to lives in memory and is written when the segment is
// rolled (synced before the recovery point moves past the segment) and at a clean close. After
// a crash, recovery reads the flags of every record past the recovery point anyway, so a stale
// .vol of the open segment is never trusted.
import * as fs from 'node:fs';
import { withPath, writeFileAtomic } from './fd-cache';

export class VolatileList {
  private rels = new Uint32Array(0);
  private len = 0;

  constructor(readonly path: string) {}

  get length(): number {
    return this.len;
  }

  add(rel: number): void {
    if (this.len === this.rels.length) {
      const grown = new Uint32Array(Math.max(64, this.rels.length * 2));
      grown.set(this.rels);
      this.rels = grown;
    }
    this.rels[this.len++] = rel;
  }

  forEach(fn: (rel: number) => void): void {
    for (let i = 0; i < this.len; i++) fn(this.rels[i]);
  }

  clear(): void {
    this.rels = new Uint32Array(0);
    this.len = 0;
  }

  /** Write the file (when there is anything to list); `sync` makes it durable at once. */
  save(dir: string, sync: boolean): boolean {
    if (this.len === 0) return false;
    const b = Buffer.from(this.rels.buffer, this.rels.byteOffset, this.len * 4);
    writeFileAtomic(this.path, littleEndian(b), dir, sync);
    return true;
  }

  /** Read the file into the list (a missing file lists nothing); entries >= count are ignored. */
  load(count: number): void {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw withPath(e, this.path);
    }
    const n = buf.length >> 2;
    for (let i = 0; i < n; i++) {
      const rel = buf.readUInt32LE(i * 4);
      if (rel < count) this.add(rel);
    }
  }
}

const LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function littleEndian(b: Buffer): Buffer {
  if (LE) return b;
  const out = Buffer.allocUnsafe(b.length);
  for (let i = 0; i < b.length; i += 4) out.writeUInt32LE(b.readUInt32BE(i), i);
  return out;
}
