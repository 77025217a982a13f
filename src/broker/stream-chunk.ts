// How a stream stores a chunk: one batch record of the stream's log (store/stream-log.ts) whose
// body is the chunk's data entries exactly as the Stream protocol's Deliver frame carries them,
// and whose props are the Osiris chunk header (sent as is) followed by Warren's own per-chunk
// data, which is never sent:
//
//   props = [48-byte chunk header][u8 version 1][u8 flags][filter section?][producer section?]
//   filter section (flags & 1):   u16 n, n x (u16 len, utf8 value), then per entry u16 value index
//                                 (0: the entry has no filter value, i: the i-th value)
//   producer section (flags & 2): u16 n, n x (u16 len, utf8 producer reference, u64 publishing id)
//                                 the last publishing id of each named producer in this chunk
//
// The chunk index summary of a chunk is the Bloom filter of its entries' filter values.
import { Amqp10Writer } from '../protocol/amqp10/types';
import { CHUNK_HEADER_SIZE, CHUNK_TYPE_USER, SUBBATCH_HEADER_SIZE, walkEntries, writeChunkHeader } from '../protocol/stream/chunk';
import { crc32 } from '../store/record';
import { bloomAdd } from './stream-bloom';

const EXT_VERSION = 1;
const F_FILTER = 1;
const F_PRODUCERS = 2;
const INITIAL = 64 * 1024;

/** A chunk ready to append. */
export interface BuiltChunk {
  props: Buffer;
  body: Buffer;
  count: number;
  summary: Uint8Array | null;
}

/** The chunk being filled by publishers during one event-loop turn. */
export class ChunkBuilder {
  readonly w = new Amqp10Writer(INITIAL);
  entries = 0;
  records = 0;
  private values: string[] = [];
  private valueIndex: Map<string, number> | null = null;
  private entryValues: number[] | null = null;
  private producers: Map<string, Buffer> | null = null;

  constructor(private readonly filterSize: number) {}

  get empty(): boolean {
    return this.entries === 0;
  }

  /** Start a simple entry: the message is then written into `w`; endSimple() sets its size. */
  beginSimple(): number {
    const w = this.w;
    w.ensure(4);
    const mark = w.pos;
    w.pos += 4;
    return mark;
  }

  endSimple(mark: number): void {
    const w = this.w;
    w.buf.writeUInt32BE(w.pos - mark - 4, mark);
    this.entries++;
    this.records++;
  }

  /** An entry already framed (a simple entry's size word + message, or a sub-batch). */
  addEntry(src: Buffer, start: number, end: number, records: number): void {
    const w = this.w;
    const n = end - start;
    w.ensure(n);
    if (n < 64) {
      const b = w.buf;
      let p = w.pos;
      for (let i = start; i < end; i++) b[p++] = src[i];
    } else src.copy(w.buf, w.pos, start, end);
    w.pos += n;
    this.entries++;
    this.records += records;
  }

  /** The filter value of the entry just added. */
  setFilterValue(v: string | null): void {
    if (v === null && this.entryValues === null) return;
    if (this.entryValues === null) this.entryValues = new Array<number>(this.entries - 1).fill(0);
    let idx = 0;
    if (v !== null) {
      const map = (this.valueIndex ??= new Map());
      let i = map.get(v);
      if (i === undefined) {
        this.values.push(v);
        i = this.values.length;
        map.set(v, i);
      }
      idx = i;
    }
    while (this.entryValues.length < this.entries - 1) this.entryValues.push(0);
    this.entryValues.push(idx);
  }

  /** A named producer's publishing id (8 bytes, big-endian at src[p]) went into this chunk. */
  noteProducer(ref: string, src: Buffer, p: number): void {
    const m = (this.producers ??= new Map());
    let b = m.get(ref);
    if (b === undefined) {
      b = Buffer.allocUnsafe(8);
      m.set(ref, b);
    }
    src.copy(b, 0, p, p + 8);
  }

  /** The chunk (first offset `chunkId`), leaving the builder empty. */
  build(chunkId: number, timestamp: number): BuiltChunk {
    const w = this.w;
    const len = w.pos;
    let body: Buffer;
    if (len > w.buf.length / 2) {
      body = w.buf.subarray(0, len);
      w.buf = Buffer.allocUnsafe(Math.max(INITIAL, Math.min(len, 4 * 1024 * 1024)));
    } else body = Buffer.from(w.buf.subarray(0, len));
    w.reset();

    const ev = this.entryValues;
    if (ev !== null) while (ev.length < this.entries) ev.push(0);
    let extLen = 2;
    if (ev !== null) {
      extLen += 2 + ev.length * 2;
      for (const v of this.values) extLen += 2 + Buffer.byteLength(v);
    }
    const prods = this.producers;
    if (prods !== null) {
      extLen += 2;
      for (const k of prods.keys()) extLen += 2 + Buffer.byteLength(k) + 8;
    }
    const props = Buffer.allocUnsafe(CHUNK_HEADER_SIZE + extLen);
    writeChunkHeader(props, 0, {
      type: CHUNK_TYPE_USER, numEntries: this.entries, numRecords: this.records, timestamp, epoch: 1,
      chunkId, crc: crc32(body), dataLength: len, trailerLength: 0,
    });
    let p = CHUNK_HEADER_SIZE;
    props[p++] = EXT_VERSION;
    props[p++] = (ev !== null ? F_FILTER : 0) | (prods !== null ? F_PRODUCERS : 0);
    let summary: Uint8Array | null = null;
    if (this.filterSize > 0) {
      summary = new Uint8Array(this.filterSize);
      if (ev === null) bloomAdd(summary, '');
    }
    if (ev !== null) {
      props.writeUInt16BE(this.values.length, p); p += 2;
      for (const v of this.values) {
        const n = props.write(v, p + 2, 'utf8');
        props.writeUInt16BE(n, p);
        p += 2 + n;
        if (summary !== null) bloomAdd(summary, v);
      }
      let unfiltered = false;
      for (const i of ev) {
        props.writeUInt16BE(i, p); p += 2;
        if (i === 0) unfiltered = true;
      }
      if (unfiltered && summary !== null) bloomAdd(summary, '');
    }
    if (prods !== null) {
      props.writeUInt16BE(prods.size, p); p += 2;
      for (const [k, id] of prods) {
        const n = props.write(k, p + 2, 'utf8');
        props.writeUInt16BE(n, p);
        p += 2 + n;
        id.copy(props, p);
        p += 8;
      }
    }
    const count = this.records;
    this.entries = 0;
    this.records = 0;
    this.values = [];
    this.valueIndex = null;
    this.entryValues = null;
    this.producers = null;
    return { props, body, count, summary };
  }
}

/** Warren's per-chunk data, read back. */
export interface ChunkExtension {
  /** filter values; entryValue(i) indexes into it (1-based, 0 = none) */
  values: string[];
  /** per entry value index, or null when no entry has a value */
  entryValues: Uint16Array | null;
  /** [reference, publishing id (8 bytes BE)] of named producers */
  producers: Array<[string, Buffer]>;
}

const NO_EXT: ChunkExtension = { values: [], entryValues: null, producers: [] };

/** Throws on a malformed extension (a damaged record fails its CRC before this). */
export function readChunkExtension(props: Buffer): ChunkExtension {
  let p = CHUNK_HEADER_SIZE;
  if (props.length < p + 2) return NO_EXT;
  const flags = props[p + 1];
  p += 2;
  if (flags === 0) return NO_EXT;
  const out: ChunkExtension = { values: [], entryValues: null, producers: [] };
  if (flags & F_FILTER) {
    const n = props.readUInt16BE(p); p += 2;
    for (let i = 0; i < n; i++) {
      const len = props.readUInt16BE(p);
      out.values.push(props.toString('utf8', p + 2, p + 2 + len));
      p += 2 + len;
    }
    const entries = props.readUInt16BE(2);
    const ev = new Uint16Array(entries);
    for (let i = 0; i < entries; i++) { ev[i] = props.readUInt16BE(p); p += 2; }
    out.entryValues = ev;
  }
  if (flags & F_PRODUCERS) {
    const n = props.readUInt16BE(p); p += 2;
    for (let i = 0; i < n; i++) {
      const len = props.readUInt16BE(p);
      const ref = props.toString('utf8', p + 2, p + 2 + len);
      p += 2 + len;
      out.producers.push([ref, Buffer.from(props.subarray(p, p + 8))]);
      p += 8;
    }
  }
  return out;
}

/** The Bloom filter of a stored chunk (chunk index rebuild). */
export function chunkSummary(props: Buffer, filterSize: number): Uint8Array | null {
  if (filterSize === 0) return null;
  const s = new Uint8Array(filterSize);
  const ext = readChunkExtension(props);
  if (ext.entryValues === null) {
    bloomAdd(s, '');
    return s;
  }
  for (const v of ext.values) bloomAdd(s, v);
  if (ext.entryValues.includes(0)) bloomAdd(s, '');
  return s;
}

/** Whether a chunk's data is a well-formed list of `entries` entries holding `records` offsets. */
export function checkEntries(body: Buffer, entries: number, records: number): boolean {
  let recs = 0;
  const n = walkEntries(body, 0, body.length, (e) => { recs += e.records; });
  return n === entries && recs === records;
}

export { SUBBATCH_HEADER_SIZE };
