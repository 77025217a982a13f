// What a stream remembers besides its messages (Osiris's "tracking"):
//   producers  the last publishing id of each named producer, for de-duplication. The source of
//              truth is the log itself (each chunk lists the last id of every named producer in
//              it, stream-chunk.ts); `producers.json` is a snapshot covering the chunks below its
//              `upTo`, written only after those chunks are synced, so a restart (clean or not)
//              reads the snapshot and the chunks after it, and never trusts an id whose message
//              is not on disk.
//   offsets    consumer offsets stored by reference (Stream protocol store/query offset), in
//              `offsets.json`: rewritten at the end of the event-loop turn that changed it (a
//              killed process loses nothing the kernel has) and fsync'ed within a second.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../store/fd-cache';

const PRODUCERS_FILE = 'producers.json';
const OFFSETS_FILE = 'offsets.json';
const TWO32 = 4294967296;

/** A publishing id as two unsigned 32-bit halves (ids are uint64 on the wire). */
export interface ProducerState {
  hi: number;
  lo: number;
}

export function idFromBytes(b: Buffer, p: number): ProducerState {
  return { hi: b.readUInt32BE(p), lo: b.readUInt32BE(p + 4) };
}

export function idToBigInt(s: ProducerState): bigint {
  return (BigInt(s.hi) << 32n) | BigInt(s.lo);
}

function idFromString(s: string): ProducerState {
  const v = BigInt(s);
  return { hi: Number(v >> 32n), lo: Number(v & 0xffffffffn) };
}

/** a > b */
export function idAfter(aHi: number, aLo: number, b: ProducerState): boolean {
  return aHi > b.hi || (aHi === b.hi && aLo > b.lo);
}

export class StreamTracking {
  readonly producers = new Map<string, ProducerState>();
  readonly offsets = new Map<string, number>();
  private offsetsDirty = false;
  private offsetsScheduled = false;
  private offsetsUnsynced = false;
  private syncTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly dir: string, private readonly warn: (msg: string) => void) {}

  // ---- producers ----------------------------------------------------------------------------------

  /** Loads the snapshot; returns the offset from which chunks must be read to complete it. */
  loadProducers(): number {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, PRODUCERS_FILE), 'utf8');
    } catch {
      return 0;
    }
    try {
      const j = JSON.parse(text) as { upTo?: unknown; producers?: Record<string, string> };
      if (typeof j.upTo !== 'number' || typeof j.producers !== 'object' || j.producers === null) throw new Error('bad shape');
      for (const [ref, id] of Object.entries(j.producers)) this.producers.set(ref, idFromString(id));
      return j.upTo;
    } catch (e) {
      this.warn(`${PRODUCERS_FILE}: unreadable (${(e as Error).message}); de-duplication state is rebuilt from the log`);
      this.producers.clear();
      return 0;
    }
  }

  /** A chunk's producer ids (recovery: chunks after the snapshot). */
  noteChunkProducers(list: Array<[string, Buffer]>): void {
    for (const [ref, b] of list) {
      const id = idFromBytes(b, 0);
      const cur = this.producers.get(ref);
      if (cur === undefined || idAfter(id.hi, id.lo, cur)) this.producers.set(ref, id);
    }
  }

  /** The producers as they are now, to be saved once the chunks below `upTo` are durable. */
  captureProducers(upTo: number): string {
    const out: Record<string, string> = {};
    for (const [ref, s] of this.producers) out[ref] = idToBigInt(s).toString();
    return JSON.stringify({ version: 1, upTo, producers: out });
  }

  saveProducers(snapshot: string): void {
    if (this.closed && !fs.existsSync(this.dir)) return;
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(path.join(this.dir, PRODUCERS_FILE), snapshot, this.dir, true);
    } catch (e) {
      this.warn(`cannot save ${PRODUCERS_FILE}: ${(e as Error).message}`);
    }
  }

  // ---- consumer offsets ---------------------------------------------------------------------------

  loadOffsets(): void {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, OFFSETS_FILE), 'utf8');
    } catch {
      return;
    }
    try {
      const j = JSON.parse(text) as { offsets?: Record<string, number> };
      for (const [ref, off] of Object.entries(j.offsets ?? {})) if (typeof off === 'number') this.offsets.set(ref, off);
    } catch (e) {
      this.warn(`${OFFSETS_FILE}: unreadable (${(e as Error).message}); stored consumer offsets are lost`);
    }
  }

  storeOffset(ref: string, offset: number): void {
    this.offsets.set(ref, offset);
    this.offsetsDirty = true;
    if (this.offsetsScheduled || this.closed) return;
    this.offsetsScheduled = true;
    setImmediate(() => {
      this.offsetsScheduled = false;
      this.writeOffsets(false);
    });
  }

  private writeOffsets(sync: boolean): void {
    if (!this.offsetsDirty && !(sync && this.offsetsUnsynced)) return;
    const out: Record<string, number> = {};
    for (const [k, v] of this.offsets) out[k] = v;
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      writeFileAtomic(path.join(this.dir, OFFSETS_FILE), JSON.stringify({ version: 1, offsets: out }), this.dir, sync);
      this.offsetsDirty = false;
      this.offsetsUnsynced = !sync;
    } catch (e) {
      this.warn(`cannot save ${OFFSETS_FILE}: ${(e as Error).message}`);
      return;
    }
    if (!sync && this.syncTimer === null) {
      this.syncTimer = setTimeout(() => {
        this.syncTimer = null;
        this.writeOffsets(true);
      }, 1000);
      this.syncTimer.unref();
    }
  }

  close(): void {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    if (this.offsetsDirty || this.offsetsUnsynced) this.writeOffsets(true);
    this.closed = true;
  }

  dispose(): void {
    if (this.syncTimer !== null) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    this.closed = true;
  }
}

export { TWO32 };
