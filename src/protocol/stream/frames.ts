/**
 * RabbitMQ Stream protocol framing (deps/rabbitmq_stream/docs/PROTOCOL.adoc): every frame is
 * [u32 size][u16 key][u16 version][content]; responses set the key's top bit. Big-endian; a
 * string is [i16 length][utf8] (-1: null), bytes are [i32 length][data], arrays [i32 count].
 */

export const enum Cmd {
  DeclarePublisher = 0x01, Publish = 0x02, PublishConfirm = 0x03, PublishError = 0x04,
  QueryPublisherSequence = 0x05, DeletePublisher = 0x06, Subscribe = 0x07, Deliver = 0x08,
  Credit = 0x09, StoreOffset = 0x0a, QueryOffset = 0x0b, Unsubscribe = 0x0c, Create = 0x0d,
  Delete = 0x0e, Metadata = 0x0f, MetadataUpdate = 0x10, PeerProperties = 0x11,
  SaslHandshake = 0x12, SaslAuthenticate = 0x13, Tune = 0x14, Open = 0x15, Close = 0x16,
  Heartbeat = 0x17, Route = 0x18, Partitions = 0x19, ConsumerUpdate = 0x1a,
  ExchangeCommandVersions = 0x1b, StreamStats = 0x1c, CreateSuperStream = 0x1d, DeleteSuperStream = 0x1e,
}

export const RESPONSE = 0x8000;

export const enum Code {
  Ok = 0x01, StreamDoesNotExist = 0x02, SubscriptionIdAlreadyExists = 0x03, SubscriptionIdDoesNotExist = 0x04,
  StreamAlreadyExists = 0x05, StreamNotAvailable = 0x06, SaslMechanismNotSupported = 0x07,
  AuthenticationFailure = 0x08, SaslError = 0x09, SaslChallenge = 0x0a, SaslAuthenticationFailureLoopback = 0x0b,
  VirtualHostAccessFailure = 0x0c, UnknownFrame = 0x0d, FrameTooLarge = 0x0e, InternalError = 0x0f,
  AccessRefused = 0x10, PreconditionFailed = 0x11, PublisherDoesNotExist = 0x12, NoOffset = 0x13,
}

/** A malformed frame: the connection answers with a protocol error and closes. */
export class StreamFrameError extends Error {
  override name = 'StreamFrameError';
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

const TWO32 = 4294967296;

/** Reads the fields of one frame's content (throws StreamFrameError past its end). */
export class FieldReader {
  pos: number;

  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): number {
    const p = this.pos;
    if (n < 0 || p + n > this.end) throw new StreamFrameError(Code.UnknownFrame, 'frame content is truncated');
    this.pos = p + n;
    return p;
  }

  u8(): number { return this.buf[this.need(1)]; }
  u16(): number { return this.buf.readUInt16BE(this.need(2)); }
  i16(): number { return this.buf.readInt16BE(this.need(2)); }
  u32(): number { return this.buf.readUInt32BE(this.need(4)); }
  i32(): number { return this.buf.readInt32BE(this.need(4)); }

  /** u64 as a number (exact below 2^53) */
  u64(): number {
    const p = this.need(8);
    return this.buf.readUInt32BE(p) * TWO32 + this.buf.readUInt32BE(p + 4);
  }

  i64(): number {
    const p = this.need(8);
    return this.buf.readInt32BE(p) * TWO32 + this.buf.readUInt32BE(p + 4);
  }

  /** Position of the next 8 bytes, consumed (for ids copied as they are). */
  raw8(): number {
    return this.need(8);
  }

  /** a string; null for length -1 */
  str(): string | null {
    const n = this.i16();
    if (n === -1) return null;
    const p = this.need(n);
    return this.buf.toString('utf8', p, p + n);
  }

  /** a string that must be present */
  string(): string {
    return this.str() ?? '';
  }

  bytes(): Buffer | null {
    const n = this.i32();
    if (n === -1) return null;
    const p = this.need(n);
    return this.buf.subarray(p, p + n);
  }

  /** an array count, bounded by what the frame can hold (each item at least minItem bytes) */
  count(minItem: number): number {
    const n = this.i32();
    if (n < 0 || n * minItem > this.remaining) throw new StreamFrameError(Code.UnknownFrame, `array of ${n} items does not fit the frame`);
    return n;
  }

  /** key/value string pairs */
  properties(): Map<string, string> {
    const n = this.count(4);
    const m = new Map<string, string>();
    for (let i = 0; i < n; i++) {
      const k = this.string();
      m.set(k, this.string());
    }
    return m;
  }
}

/** A growable frame writer: begin() reserves the size word, end() fills it in. */
export class FrameWriter {
  buf: Buffer;
  pos = 0;
  private start = 0;

  constructor(size = 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  begin(key: number, version = 1): this {
    this.pos = 0;
    this.ensure(8);
    this.start = 0;
    this.pos = 4;
    this.u16(key).u16(version);
    return this;
  }

  /** a response: key | RESPONSE, correlation id, response code */
  response(key: number, correlationId: number, code: number, version = 1): this {
    return this.begin(key | RESPONSE, version).u32(correlationId).u16(code);
  }

  u8(v: number): this { this.ensure(1); this.buf[this.pos++] = v; return this; }
  u16(v: number): this { this.ensure(2); this.pos = this.buf.writeUInt16BE(v & 0xffff, this.pos); return this; }
  i16(v: number): this { this.ensure(2); this.pos = this.buf.writeInt16BE(v, this.pos); return this; }
  u32(v: number): this { this.ensure(4); this.pos = this.buf.writeUInt32BE(v >>> 0, this.pos); return this; }
  i32(v: number): this { this.ensure(4); this.pos = this.buf.writeInt32BE(v | 0, this.pos); return this; }

  u64(v: number): this {
    this.ensure(8);
    const hi = Math.floor(v / TWO32);
    this.buf.writeUInt32BE(hi >>> 0, this.pos);
    this.buf.writeUInt32BE((v - hi * TWO32) >>> 0, this.pos + 4);
    this.pos += 8;
    return this;
  }

  i64(v: number): this {
    this.ensure(8);
    this.pos = this.buf.writeBigInt64BE(BigInt(Math.trunc(v)), this.pos);
    return this;
  }

  raw(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string | null): this {
    if (s === null) return this.i16(-1);
    const n = Buffer.byteLength(s);
    this.ensure(2 + n);
    this.pos = this.buf.writeInt16BE(n, this.pos);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    return this;
  }

  bytes(b: Buffer | null): this {
    if (b === null) return this.i32(-1);
    this.i32(b.length);
    return this.raw(b);
  }

  properties(p: Iterable<[string, string]>): this {
    const list = [...p];
    this.i32(list.length);
    for (const [k, v] of list) this.string(k).string(v);
    return this;
  }

  /** The finished frame (a copy). */
  end(): Buffer {
    this.buf.writeUInt32BE(this.pos - this.start - 4, this.start);
    return Buffer.from(this.buf.subarray(this.start, this.pos));
  }
}

/** Frame boundaries in a stream of bytes: returns frames as [start, end) of their content. */
export class FrameSplitter {
  // bytes of an incomplete frame, kept as received until the frame is whole (one copy then)
  private parts: Buffer[] = [];
  private have = 0;

  constructor(public maxFrame: number) {}

  /**
   * Calls onFrame(buf, start, end) for each complete frame (start at its key). Throws
   * StreamFrameError(FrameTooLarge) when a frame's size is over maxFrame (0: no limit).
   */
  push(chunk: Buffer, onFrame: (buf: Buffer, start: number, end: number) => void): void {
    let buf = chunk;
    if (this.have > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < 4) return;
      const head = this.parts[0].length >= 4 ? this.parts[0] : Buffer.concat(this.parts);
      const size = this.check(head.readUInt32BE(0));
      if (this.have < 4 + size) return;
      buf = Buffer.concat(this.parts, this.have);
      this.parts = [];
      this.have = 0;
    }
    let p = 0;
    const n = buf.length;
    while (n - p >= 4) {
      const size = this.check(buf.readUInt32BE(p));
      if (n - p - 4 < size) break;
      onFrame(buf, p + 4, p + 4 + size);
      p += 4 + size;
    }
    if (p < n) {
      const rest = buf.subarray(p);
      this.parts = [rest];
      this.have = rest.length;
    }
  }

  private check(size: number): number {
    if (this.maxFrame > 0 && size > this.maxFrame) throw new StreamFrameError(Code.FrameTooLarge, `frame of ${size} bytes is larger than the maximum of ${this.maxFrame}`);
    if (size < 4) throw new StreamFrameError(Code.UnknownFrame, `frame of ${size} bytes is too short`);
    return size;
  }

  get buffered(): number {
    return this.have;
  }
}
