// Reading a stream for AMQP 0-9-1 consumers: chunks are split into their messages (decoded once
// and shared by every consumer of the stream), each message converted back to 0-9-1 with an
// x-stream-offset header (long, the last header, as RabbitMQ 3.10 adds it).
//
// Conversion is cached by the bytes of the sections before the body: a run of messages with the
// same annotations and properties (one publisher, one exchange and routing key) is converted
// once, and each delivery only copies the property bytes and writes its offset into them.
import * as zlib from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { type FieldTable, Typed } from '../protocol/field-table';
import { encodeProperties } from '../protocol/properties';
import { Amqp10Reader } from '../protocol/amqp10/types';
import { amqp10To091, type Amqp091Form } from '../protocol/amqp10/convert';
import { walkEntries } from '../protocol/stream/chunk';
import type { LogRecord } from '../store';
import type { StreamLog, StreamReader, FilteredReader } from '../store/stream-log';
import type { Envelope } from './message';
import { type StreamFilter, bloomMatches } from './stream-bloom';
import { readChunkExtension } from './stream-chunk';
import { log } from '../logger';

/** One chunk split into messages: message i is bufs[i][starts[i], ends[i]) at offset + i. */
export class DecodedChunk {
  readonly bufs: Buffer[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** per message: its filter value (null: none) */
  readonly filters: Array<string | null> = [];
  /** per message, once converted: its 0-9-1 form (shared by every consumer), null if unusable */
  readonly views: Array<MessageView | null | undefined> = [];

  constructor(readonly offset: number, readonly count: number) {}

  get length(): number {
    return this.starts.length;
  }
}

interface Template {
  prefix: Buffer;
  exchange: string;
  routingKey: string;
  envelope: Envelope;
  props: Buffer;
  offsetPos: number;
  /** the props of one delivery: a copy of props with its offset written in (reused) */
  scratch: Buffer;
}

/** A message of a chunk in its 0-9-1 form: the conversion template and the body. */
interface MessageView {
  t: Template;
  body: Buffer;
}

/** What a delivery hands the channel (reused: the channel copies it at once). */
export interface Delivery {
  envelope: Envelope;
  props: Buffer;
  body: Buffer;
  offset: number;
}

const OFFSET_HEADER = 'x-stream-offset';

// Decoded chunks of every stream, under one process-wide bound counted in messages (a decoded
// message costs ~100 bytes: offsets, its view, a body view).
const decodedChunks = new LRUCache<string, DecodedChunk>({ maxSize: 128 * 1024, sizeCalculation: (d) => Math.max(1, d.count) });
let nextViewId = 1;

/** Per stream queue: the shared decoded chunks and conversion templates. */
export class AmqpView {
  private readonly prefix = `${nextViewId++}:`;
  private templates: Template[] = [];
  readonly out: Delivery = { envelope: ['', '', null], props: Buffer.alloc(0), body: Buffer.alloc(0), offset: 0 };

  constructor(readonly stream: StreamLog, private readonly queueName: string) {}

  decode(rec: LogRecord): DecodedChunk {
    const key = this.prefix + rec.offset;
    const hit = decodedChunks.get(key);
    if (hit !== undefined) return hit;
    const d = new DecodedChunk(rec.offset, rec.count);
    const ext = readChunkExtension(rec.props);
    const body = rec.body;
    let entry = 0;
    walkEntries(body, 0, body.length, (e) => {
      const idx = ext.entryValues === null ? 0 : ext.entryValues[entry];
      const fv = idx === 0 ? null : ext.values[idx - 1] ?? null;
      entry++;
      if (e.compression < 0) {
        d.bufs.push(body);
        d.starts.push(e.start);
        d.ends.push(e.end);
        d.filters.push(fv);
        return;
      }
      let data: Buffer = body.subarray(e.start, e.end);
      if (e.compression === 1) {
        try {
          data = zlib.gunzipSync(data);
        } catch (err) {
          log.warn(`stream '${this.queueName}': a gzip sub-batch at offset ${rec.offset} cannot be decompressed (${(err as Error).message})`);
          data = Buffer.alloc(0);
        }
      } else if (e.compression !== 0) {
        log.warn(`stream '${this.queueName}': sub-batch compression ${e.compression} at offset ${rec.offset} is not supported for AMQP 0-9-1 consumers; ${e.records} message(s) skipped`);
        data = Buffer.alloc(0);
      }
      const before = d.starts.length;
      walkEntries(data, 0, data.length, (m) => {
        d.bufs.push(data);
        d.starts.push(m.start);
        d.ends.push(m.end);
        d.filters.push(fv);
      });
      // keep offsets aligned with the entry's record count even when its data is unusable
      for (let k = d.starts.length - before; k < e.records; k++) {
        d.bufs.push(data);
        d.starts.push(-1);
        d.ends.push(-1);
        d.filters.push(fv);
      }
    });
    decodedChunks.set(key, d);
    return d;
  }

  /** Message i of the chunk as a 0-9-1 delivery in `out`; false when it cannot be converted. */
  delivery(c: DecodedChunk, i: number): boolean {
    let v = c.views[i];
    if (v === undefined) v = c.views[i] = this.view(c, i);
    if (v === null) return false;
    const t = v.t;
    const offset = c.offset + i;
    const s = t.scratch;
    const hi = Math.floor(offset / 4294967296);
    s.writeUInt32BE(hi, t.offsetPos);
    s.writeUInt32BE(offset - hi * 4294967296, t.offsetPos + 4);
    const o = this.out;
    o.envelope = t.envelope;
    o.props = s;
    o.body = v.body;
    o.offset = offset;
    return true;
  }

  private view(c: DecodedChunk, i: number): MessageView | null {
    const buf = c.bufs[i];
    const start = c.starts[i];
    const end = c.ends[i];
    if (start < 0) return null;
    try {
      const dataAt = soleTrailingData(buf, start, end);
      if (dataAt >= 0) {
        const t = this.template(buf, start, dataAt);
        const bodyStart = buf[dataAt + 3] === 0xa0 ? dataAt + 5 : dataAt + 8;
        return { t, body: buf.subarray(bodyStart, end) };
      }
      const f = amqp10To091(buf, start, end, this.queueName);
      return { t: this.makeTemplate(f, Buffer.alloc(0)), body: f.body };
    } catch (e) {
      log.warn(`stream '${this.queueName}': message at offset ${c.offset + i} is not a valid AMQP 1.0 message (${(e as Error).message}); skipped for AMQP 0-9-1 consumers`);
      return null;
    }
  }

  private template(buf: Buffer, start: number, end: number): Template {
    const n = end - start;
    const ts = this.templates;
    for (let k = 0; k < ts.length; k++) {
      const t = ts[k];
      if (t.prefix.length === n && buf.compare(t.prefix, 0, n, start, end) === 0) return t;
    }
    const f = amqp10To091(buf, start, end, this.queueName);
    const t = this.makeTemplate(f, Buffer.from(buf.subarray(start, end)));
    ts.unshift(t);
    if (ts.length > 8) ts.pop();
    return t;
  }

  /** The stream is gone: its decoded chunks go too. */
  clear(): void {
    for (const k of [...decodedChunks.keys()]) if (k.startsWith(this.prefix)) decodedChunks.delete(k);
    this.templates = [];
  }

  private makeTemplate(f: Amqp091Form, prefix: Buffer): Template {
    const headers: FieldTable = { ...(f.props.headers ?? {}) };
    delete headers[OFFSET_HEADER];
    headers[OFFSET_HEADER] = new Typed('l', 0);
    const props = encodeProperties({ ...f.props, headers });
    // the header table follows the flags, content-type and content-encoding; ours is its last entry
    let p = 2;
    if (f.props.contentType !== undefined) p += 1 + Buffer.byteLength(f.props.contentType);
    if (f.props.contentEncoding !== undefined) p += 1 + Buffer.byteLength(f.props.contentEncoding);
    const offsetPos = p + 4 + props.readUInt32BE(p) - 8;
    return { prefix, exchange: f.exchange, routingKey: f.routingKey, envelope: [f.exchange, f.routingKey, null], props, offsetPos, scratch: Buffer.from(props) };
  }
}

// The position of the message's data section when it is its only body section and the last
// section (the usual case), else -1.
function soleTrailingData(buf: Buffer, start: number, end: number): number {
  const r = new Amqp10Reader(buf, start, end);
  let data = -1;
  while (!r.atEnd) {
    const s = r.pos;
    if (buf[s] !== 0x00 || buf[s + 1] !== 0x53) return -1;
    const code = buf[s + 2];
    r.pos = s + 3;
    r.skip();
    if (code === 0x75) {
      if (data >= 0) return -1;
      data = s;
    } else if (code >= 0x75 || data >= 0) return -1;
  }
  return data;
}

/** An AMQP 0-9-1 consumer's position in a stream. */
export class AmqpStreamCursor {
  private chunk: DecodedChunk | null = null;
  private i = 0;
  /** messages delivered through this cursor (management) */
  delivered = 0;

  constructor(
    private readonly view: AmqpView,
    private readonly reader: StreamReader | FilteredReader,
    /** offsets below this are not delivered (the first chunk may start before it) */
    private start: number,
    private readonly filter: StreamFilter | null,
  ) {}

  static create(view: AmqpView, start: number, filter: StreamFilter | null): AmqpStreamCursor {
    const sl = view.stream;
    const reader = filter === null ? sl.reader(start) : sl.filteredReader(start, (s) => bloomMatches(s, filter));
    return new AmqpStreamCursor(view, reader, start, filter);
  }

  /** the next offset this consumer gets */
  get position(): number {
    const c = this.chunk;
    return c !== null && this.i < c.length ? Math.max(c.offset + this.i, this.start) : Math.max(this.reader.position, this.start);
  }

  /** Puts the next message to deliver into view.out; false when none is readable now. */
  next(): boolean {
    const v = this.view;
    for (;;) {
      const c = this.chunk;
      if (c !== null && this.i < c.length) {
        const i = this.i++;
        if (c.offset + i < this.start) continue;
        if (this.filter !== null && !this.matches(c.filters[i])) continue;
        if (v.delivery(c, i)) return true;
        continue;
      }
      const rec = this.reader.next();
      if (rec === undefined) return false;
      this.chunk = v.decode(rec);
      this.i = 0;
      if (rec.offset > this.start) this.start = rec.offset;
    }
  }

  private matches(value: string | null): boolean {
    const f = this.filter as StreamFilter;
    if (value === null) return f.matchUnfiltered;
    return f.values.includes(value);
  }
}
