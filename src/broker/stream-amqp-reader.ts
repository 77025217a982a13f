// Reading a stream for AMQP 0-9-1 consumers: chunks are split into their messages (decoded once
// and shared by every consumer of the stream), each message converted back to 0-9-1 with an
// x-stream-offset header (long, the last header, as RabbitMQ 3.10 adds it).
//
// Conversion is cached by the bytes of the sections before the body: a run of messages with the
// same annotations and properties (one publisher, one exchange and routing key) is converted
// once, and each delivery only copies the property bytes and writes its offset into them.
import * as zlib from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { type FieldTable, Typed, encodeProperties } from '../protocol';
import { Amqp10Reader, amqp10To091, type Amqp091Form } from '../protocol/amqp10';
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

  constructor(readonly offset: number, readonly count: number) {}

  get length(): number {
    return this.starts.length;
  }
}

interface Template {
  prefix: Buffer;
  exchange: string;
  routingKey: string;
  props: Buffer;
  offsetPos: number;
}

/** What a delivery hands the channel (reused: the channel copies it at once). */
export interface Delivery {
  envelope: Envelope;
  props: Buffer;
  body: Buffer;
  offset: number;
}

const OFFSET_HEADER = 'x-stream-offset';

/** Per stream queue: the shared decoded chunks and conversion templates. */
export class AmqpView {
  private readonly decoded = new LRUCache<number, DecodedChunk>({ max: 64 });
  private templates: Template[] = [];
  private scratch = Buffer.allocUnsafe(256);
  readonly out: Delivery = { envelope: ['', '', null], props: this.scratch, body: this.scratch, offset: 0 };

  constructor(readonly stream: StreamLog, private readonly queueName: string) {}

  decode(rec: LogRecord): DecodedChunk {
    const hit = this.decoded.get(rec.offset);
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
    this.decoded.set(rec.offset, d);
    return d;
  }

  /** Message i of the chunk as a 0-9-1 delivery in `out`; false when it cannot be converted. */
  delivery(c: DecodedChunk, i: number): boolean {
    const buf = c.bufs[i];
    const start = c.starts[i];
    const end = c.ends[i];
    const offset = c.offset + i;
    if (start < 0) return false;
    try {
      const dataAt = soleTrailingData(buf, start, end);
      if (dataAt >= 0) {
        const t = this.template(buf, start, dataAt);
        const bodyStart = buf[dataAt + 3] === 0xa0 ? dataAt + 5 : dataAt + 8;
        this.fill(t.exchange, t.routingKey, t.props, t.offsetPos, offset);
        this.out.body = buf.subarray(bodyStart, end);
        return true;
      }
      const f = amqp10To091(buf, start, end, this.queueName);
      const t = this.makeTemplate(f, Buffer.alloc(0));
      this.fill(t.exchange, t.routingKey, t.props, t.offsetPos, offset);
      this.out.body = f.body;
      return true;
    } catch (e) {
      log.warn(`stream '${this.queueName}': message at offset ${offset} is not a valid AMQP 1.0 message (${(e as Error).message}); skipped for AMQP 0-9-1 consumers`);
      return false;
    }
  }

  private fill(exchange: string, routingKey: string, props: Buffer, offsetPos: number, offset: number): void {
    const o = this.out;
    if (o.envelope[0] !== exchange || o.envelope[1] !== routingKey) o.envelope = [exchange, routingKey, null];
    if (this.scratch.length < props.length) this.scratch = Buffer.allocUnsafe(props.length * 2);
    const s = this.scratch;
    props.copy(s, 0);
    const hi = Math.floor(offset / 4294967296);
    s.writeUInt32BE(hi, offsetPos);
    s.writeUInt32BE(offset - hi * 4294967296, offsetPos + 4);
    o.props = s.subarray(0, props.length);
    o.offset = offset;
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
    return { prefix, exchange: f.exchange, routingKey: f.routingKey, props, offsetPos };
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
