/**
 * AMQP 1.0 type system (OASIS AMQP 1.0, part 1): the values stream messages are made of.
 *
 * A decoded value keeps its AMQP type, because converting to AMQP 0-9-1 maps each 1.0 type to a
 * field-table type (long -> 'l', uint -> 'i', timestamp -> 'T' ...). Integers are JS numbers when
 * they are safe integers, bigints otherwise. Encoding uses the compact forms where they exist
 * (smallulong, smalllong, str8, list8 ...), as RabbitMQ's generator does.
 */

export type Amqp10Value =
  | { type: 'null'; value: null }
  | { type: 'boolean'; value: boolean }
  | { type: 'ubyte' | 'ushort' | 'uint' | 'byte' | 'short' | 'int' | 'float' | 'double' | 'char'; value: number }
  | { type: 'ulong' | 'long'; value: number | bigint }
  /** milliseconds since the epoch */
  | { type: 'timestamp'; value: number }
  | { type: 'decimal32' | 'decimal64' | 'decimal128' | 'uuid' | 'binary'; value: Buffer }
  | { type: 'string' | 'symbol'; value: string }
  | { type: 'list' | 'array'; value: Amqp10Value[] }
  | { type: 'map'; value: Array<[Amqp10Value, Amqp10Value]> }
  | { type: 'described'; descriptor: Amqp10Value; value: Amqp10Value };

export class Amqp10Error extends Error {
  override name = 'Amqp10Error';
}

export const NULL: Amqp10Value = { type: 'null', value: null };
export const str = (value: string): Amqp10Value => ({ type: 'string', value });
export const sym = (value: string): Amqp10Value => ({ type: 'symbol', value });

// ---- constructor codes ------------------------------------------------------------------------

export const enum Code {
  Described = 0x00,
  Null = 0x40, True = 0x41, False = 0x42, Uint0 = 0x43, Ulong0 = 0x44, List0 = 0x45,
  Ubyte = 0x50, Byte = 0x51, SmallUint = 0x52, SmallUlong = 0x53, SmallInt = 0x54, SmallLong = 0x55, Boolean = 0x56,
  Ushort = 0x60, Short = 0x61,
  Uint = 0x70, Int = 0x71, Float = 0x72, Char = 0x73, Decimal32 = 0x74,
  Ulong = 0x80, Long = 0x81, Double = 0x82, Timestamp = 0x83, Decimal64 = 0x84,
  Decimal128 = 0x94, Uuid = 0x98,
  Vbin8 = 0xa0, Str8 = 0xa1, Sym8 = 0xa3,
  Vbin32 = 0xb0, Str32 = 0xb1, Sym32 = 0xb3,
  List8 = 0xc0, Map8 = 0xc1, List32 = 0xd0, Map32 = 0xd1, Array8 = 0xe0, Array32 = 0xf0,
}

const TWO32 = 4294967296;

// ---- decoding -------------------------------------------------------------------------------------

// Nesting limit: a hostile message could nest deeply enough to overflow the stack.
const MAX_DEPTH = 32;

/** A decoder over buf[pos, end): read() returns one value and advances pos. */
export class Amqp10Reader {
  pos: number;
  private depth = 0;

  constructor(readonly buf: Buffer, pos = 0, readonly end = buf.length) {
    this.pos = pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number): number {
    const p = this.pos;
    if (p + n > this.end) throw new Amqp10Error(`AMQP 1.0 value runs past the end (${n} bytes needed at ${p})`);
    this.pos = p + n;
    return p;
  }

  u8(): number {
    return this.buf[this.need(1)];
  }

  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }

  read(): Amqp10Value {
    const code = this.u8();
    if (code === Code.Described) {
      if (++this.depth > MAX_DEPTH) throw new Amqp10Error(`AMQP 1.0 value nested deeper than ${MAX_DEPTH}`);
      const descriptor = this.read();
      const value = this.read();
      this.depth--;
      return { type: 'described', descriptor, value };
    }
    return this.readCode(code);
  }

  /** The value of constructor `code` (already read). */
  readCode(code: number): Amqp10Value {
    const b = this.buf;
    switch (code) {
      case Code.Null: return NULL;
      case Code.True: return { type: 'boolean', value: true };
      case Code.False: return { type: 'boolean', value: false };
      case Code.Boolean: return { type: 'boolean', value: b[this.need(1)] !== 0 };
      case Code.Uint0: return { type: 'uint', value: 0 };
      case Code.Ulong0: return { type: 'ulong', value: 0 };
      case Code.Ubyte: return { type: 'ubyte', value: b[this.need(1)] };
      case Code.Byte: return { type: 'byte', value: b.readInt8(this.need(1)) };
      case Code.SmallUint: return { type: 'uint', value: b[this.need(1)] };
      case Code.SmallUlong: return { type: 'ulong', value: b[this.need(1)] };
      case Code.SmallInt: return { type: 'int', value: b.readInt8(this.need(1)) };
      case Code.SmallLong: return { type: 'long', value: b.readInt8(this.need(1)) };
      case Code.Ushort: return { type: 'ushort', value: b.readUInt16BE(this.need(2)) };
      case Code.Short: return { type: 'short', value: b.readInt16BE(this.need(2)) };
      case Code.Uint: return { type: 'uint', value: b.readUInt32BE(this.need(4)) };
      case Code.Int: return { type: 'int', value: b.readInt32BE(this.need(4)) };
      case Code.Float: return { type: 'float', value: b.readFloatBE(this.need(4)) };
      case Code.Char: return { type: 'char', value: b.readUInt32BE(this.need(4)) };
      case Code.Decimal32: return { type: 'decimal32', value: this.bytes(4) };
      case Code.Ulong: return { type: 'ulong', value: safe(b.readBigUInt64BE(this.need(8))) };
      case Code.Long: return { type: 'long', value: safe(b.readBigInt64BE(this.need(8))) };
      case Code.Double: return { type: 'double', value: b.readDoubleBE(this.need(8)) };
      case Code.Timestamp: return { type: 'timestamp', value: Number(b.readBigInt64BE(this.need(8))) };
      case Code.Decimal64: return { type: 'decimal64', value: this.bytes(8) };
      case Code.Decimal128: return { type: 'decimal128', value: this.bytes(16) };
      case Code.Uuid: return { type: 'uuid', value: this.bytes(16) };
      case Code.Vbin8: return { type: 'binary', value: this.bytes(this.u8()) };
      case Code.Vbin32: return { type: 'binary', value: this.bytes(this.u32()) };
      case Code.Str8: return { type: 'string', value: this.text(this.u8()) };
      case Code.Str32: return { type: 'string', value: this.text(this.u32()) };
      case Code.Sym8: return { type: 'symbol', value: this.text(this.u8()) };
      case Code.Sym32: return { type: 'symbol', value: this.text(this.u32()) };
      case Code.List0: return { type: 'list', value: [] };
      case Code.List8: case Code.List32: {
        const wide = code === Code.List32;
        const { count, end } = this.compound(wide);
        return { type: 'list', value: this.items(count, end) };
      }
      case Code.Map8: case Code.Map32: {
        const wide = code === Code.Map32;
        const { count, end } = this.compound(wide);
        if (count % 2 !== 0) throw new Amqp10Error(`AMQP 1.0 map with an odd number of items (${count})`);
        const items = this.items(count, end);
        const pairs: Array<[Amqp10Value, Amqp10Value]> = [];
        for (let i = 0; i < items.length; i += 2) pairs.push([items[i], items[i + 1]]);
        return { type: 'map', value: pairs };
      }
      case Code.Array8: case Code.Array32: {
        const wide = code === Code.Array32;
        const { count, end } = this.compound(wide);
        const value: Amqp10Value[] = [];
        if (++this.depth > MAX_DEPTH) throw new Amqp10Error(`AMQP 1.0 value nested deeper than ${MAX_DEPTH}`);
        let elem = this.u8();
        let descriptor: Amqp10Value | null = null;
        if (elem === Code.Described) {
          descriptor = this.read();
          elem = this.u8();
        }
        for (let i = 0; i < count; i++) {
          const v = this.readCode(elem);
          value.push(descriptor === null ? v : { type: 'described', descriptor, value: v });
        }
        this.depth--;
        if (this.pos !== end) throw new Amqp10Error('AMQP 1.0 array size does not match its elements');
        return { type: 'array', value };
      }
      default:
        throw new Amqp10Error(`unknown AMQP 1.0 type code 0x${code.toString(16)}`);
    }
  }

  private compound(wide: boolean): { count: number; end: number } {
    const size = wide ? this.u32() : this.u8();
    const start = this.pos;
    const end = start + size;
    if (end > this.end) throw new Amqp10Error('AMQP 1.0 compound value runs past the end');
    const count = wide ? this.u32() : this.u8();
    return { count, end };
  }

  private items(count: number, end: number): Amqp10Value[] {
    if (++this.depth > MAX_DEPTH) throw new Amqp10Error(`AMQP 1.0 value nested deeper than ${MAX_DEPTH}`);
    const out: Amqp10Value[] = [];
    for (let i = 0; i < count; i++) {
      if (this.pos >= end) throw new Amqp10Error('AMQP 1.0 compound value has fewer items than its count');
      out.push(this.read());
    }
    this.depth--;
    if (this.pos !== end) throw new Amqp10Error('AMQP 1.0 compound size does not match its items');
    return out;
  }

  private bytes(n: number): Buffer {
    const p = this.need(n);
    return Buffer.from(this.buf.subarray(p, p + n));
  }

  private text(n: number): string {
    const p = this.need(n);
    return this.buf.toString('utf8', p, p + n);
  }

  /** Skip one value without building it; returns its start. */
  skip(): number {
    const start = this.pos;
    const code = this.u8();
    if (code === Code.Described) {
      this.skip();
      this.skip();
      return start;
    }
    const fixed = fixedWidth(code);
    if (fixed >= 0) { this.need(fixed); return start; }
    switch (code) {
      case Code.Vbin8: case Code.Str8: case Code.Sym8: this.need(this.u8()); return start;
      case Code.Vbin32: case Code.Str32: case Code.Sym32: this.need(this.u32()); return start;
      case Code.List8: case Code.Map8: case Code.Array8: this.need(this.u8()); return start;
      case Code.List32: case Code.Map32: case Code.Array32: this.need(this.u32()); return start;
      default: throw new Amqp10Error(`unknown AMQP 1.0 type code 0x${code.toString(16)}`);
    }
  }
}

/** Bytes after the constructor of a fixed-width type, or -1. */
function fixedWidth(code: number): number {
  switch (code) {
    case Code.Null: case Code.True: case Code.False: case Code.Uint0: case Code.Ulong0: case Code.List0: return 0;
    case Code.Ubyte: case Code.Byte: case Code.SmallUint: case Code.SmallUlong: case Code.SmallInt: case Code.SmallLong: case Code.Boolean: return 1;
    case Code.Ushort: case Code.Short: return 2;
    case Code.Uint: case Code.Int: case Code.Float: case Code.Char: case Code.Decimal32: return 4;
    case Code.Ulong: case Code.Long: case Code.Double: case Code.Timestamp: case Code.Decimal64: return 8;
    case Code.Decimal128: case Code.Uuid: return 16;
    default: return -1;
  }
}

function safe(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

export function decodeValue(buf: Buffer, pos = 0, end = buf.length): Amqp10Value {
  return new Amqp10Reader(buf, pos, end).read();
}

// ---- encoding -------------------------------------------------------------------------------------

/** A growable output buffer for AMQP 1.0 values. */
export class Amqp10Writer {
  buf: Buffer;
  pos = 0;
  private readonly stack: number[] = [];

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** room for n more bytes */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = Buffer.allocUnsafe(size);
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  reset(): void {
    this.pos = 0;
    this.stack.length = 0;
  }

  /** a copy of what was written */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  null(): void { this.u8(Code.Null); }

  boolean(v: boolean): void { this.u8(v ? Code.True : Code.False); }

  ubyte(v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = Code.Ubyte;
    this.buf[this.pos++] = v;
  }

  uint(v: number): void {
    this.ensure(5);
    if (v === 0) { this.buf[this.pos++] = Code.Uint0; return; }
    if (v < 256) { this.buf[this.pos++] = Code.SmallUint; this.buf[this.pos++] = v; return; }
    this.buf[this.pos++] = Code.Uint;
    this.pos = this.buf.writeUInt32BE(v >>> 0, this.pos);
  }

  ulong(v: number | bigint): void {
    this.ensure(9);
    if (typeof v === 'number' && v === 0) { this.buf[this.pos++] = Code.Ulong0; return; }
    if (typeof v === 'number' && v < 256) { this.buf[this.pos++] = Code.SmallUlong; this.buf[this.pos++] = v; return; }
    this.buf[this.pos++] = Code.Ulong;
    this.pos = this.buf.writeBigUInt64BE(BigInt(v), this.pos);
  }

  long(v: number | bigint): void {
    this.ensure(9);
    if (typeof v === 'number' && v >= -128 && v <= 127) { this.buf[this.pos++] = Code.SmallLong; this.pos = this.buf.writeInt8(v, this.pos); return; }
    this.buf[this.pos++] = Code.Long;
    this.pos = this.buf.writeBigInt64BE(BigInt(v), this.pos);
  }

  int(v: number): void {
    this.ensure(5);
    if (v >= -128 && v <= 127) { this.buf[this.pos++] = Code.SmallInt; this.pos = this.buf.writeInt8(v, this.pos); return; }
    this.buf[this.pos++] = Code.Int;
    this.pos = this.buf.writeInt32BE(v, this.pos);
  }

  timestamp(ms: number): void {
    this.ensure(9);
    this.buf[this.pos++] = Code.Timestamp;
    this.pos = this.buf.writeBigInt64BE(BigInt(Math.trunc(ms)), this.pos);
  }

  binary(b: Uint8Array): void {
    if (b.length < 256) {
      this.ensure(2 + b.length);
      this.buf[this.pos++] = Code.Vbin8;
      this.buf[this.pos++] = b.length;
    } else {
      this.ensure(5 + b.length);
      this.buf[this.pos++] = Code.Vbin32;
      this.pos = this.buf.writeUInt32BE(b.length, this.pos);
    }
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void { this.text(s, Code.Str8, Code.Str32); }
  symbol(s: string): void { this.text(s, Code.Sym8, Code.Sym32); }

  private text(s: string, c8: number, c32: number): void {
    const max = s.length * 3;
    this.ensure(5 + max);
    const b = this.buf;
    let p = this.pos;
    if (s.length < 86) {
      // at most 255 bytes whatever its characters: a str8, written after its 1-byte length
      const n = asciiOrUtf8(b, p + 2, s);
      b[p] = c8;
      b[p + 1] = n;
      this.pos = p + 2 + n;
      return;
    }
    const n = b.write(s, p + 5, 'utf8');
    if (n < 256) {
      b.copy(b, p + 2, p + 5, p + 5 + n);
      b[p] = c8;
      b[p + 1] = n;
      p += 2 + n;
    } else {
      b[p] = c32;
      b.writeUInt32BE(n, p + 1);
      p += 5 + n;
    }
    this.pos = p;
  }

  /** Any decoded value, re-encoded. */
  value(v: Amqp10Value): void {
    switch (v.type) {
      case 'null': return this.null();
      case 'boolean': return this.boolean(v.value);
      case 'ubyte': return this.ubyte(v.value);
      case 'ushort': this.ensure(3); this.buf[this.pos++] = Code.Ushort; this.pos = this.buf.writeUInt16BE(v.value, this.pos); return;
      case 'uint': return this.uint(v.value);
      case 'ulong': return this.ulong(v.value);
      case 'byte': this.ensure(2); this.buf[this.pos++] = Code.Byte; this.pos = this.buf.writeInt8(v.value, this.pos); return;
      case 'short': this.ensure(3); this.buf[this.pos++] = Code.Short; this.pos = this.buf.writeInt16BE(v.value, this.pos); return;
      case 'int': return this.int(v.value);
      case 'long': return this.long(v.value);
      case 'float': this.ensure(5); this.buf[this.pos++] = Code.Float; this.pos = this.buf.writeFloatBE(v.value, this.pos); return;
      case 'double': this.ensure(9); this.buf[this.pos++] = Code.Double; this.pos = this.buf.writeDoubleBE(v.value, this.pos); return;
      case 'char': this.ensure(5); this.buf[this.pos++] = Code.Char; this.pos = this.buf.writeUInt32BE(v.value, this.pos); return;
      case 'timestamp': return this.timestamp(v.value);
      case 'decimal32': this.u8(Code.Decimal32); return this.raw(v.value);
      case 'decimal64': this.u8(Code.Decimal64); return this.raw(v.value);
      case 'decimal128': this.u8(Code.Decimal128); return this.raw(v.value);
      case 'uuid': this.u8(Code.Uuid); return this.raw(v.value);
      case 'binary': return this.binary(v.value);
      case 'string': return this.string(v.value);
      case 'symbol': return this.symbol(v.value);
      case 'list':
        if (v.value.length === 0) return this.u8(Code.List0);
        this.begin(Code.List8);
        for (const x of v.value) this.value(x);
        return this.end(v.value.length);
      case 'map':
        this.begin(Code.Map8);
        for (const [k, x] of v.value) { this.value(k); this.value(x); }
        return this.end(v.value.length * 2);
      case 'array': return this.array(v.value);
      case 'described':
        this.u8(Code.Described);
        this.value(v.descriptor);
        return this.value(v.value);
    }
  }

  // Arrays hold values of one type: each element is written in the wide form of its type.
  private array(items: Amqp10Value[]): void {
    this.begin(Code.Array8);
    if (items.length === 0) {
      this.u8(Code.Null);
      return this.end(0);
    }
    const first = items[0];
    const elemCode = arrayCode(first);
    this.u8(elemCode);
    for (const x of items) {
      if (arrayCode(x) !== elemCode) throw new Amqp10Error('AMQP 1.0 array elements must have one type');
      const start = this.pos;
      this.value(x);
      // drop the element's own constructor: an array has one for all
      this.buf.copy(this.buf, start, start + 1, this.pos);
      this.pos--;
      fixArrayElement(this, start, x);
    }
    this.end(items.length);
  }

  /** Start a list8/map8 (switched to the 32-bit form by end() when it does not fit). */
  begin(code8: number): void {
    this.ensure(3);
    this.buf[this.pos] = code8;
    this.stack.push(this.pos);
    this.pos += 3;
  }

  /** End the innermost compound begun with begin(); `count` items were written. */
  end(count: number): void {
    const start = this.stack.pop() as number;
    const size = this.pos - start - 2; // after the size byte: the count byte and the items
    const b = this.buf;
    if (size < 256 && count < 256) {
      b[start + 1] = size;
      b[start + 2] = count;
      return;
    }
    // the 32-bit form needs 6 more bytes in front of the items
    this.ensure(6);
    const buf = this.buf;
    buf.copy(buf, start + 9, start + 3, this.pos);
    buf[start] += 0x10; // list8 0xc0 -> list32 0xd0, map8 0xc1 -> map32 0xd1, array8 0xe0 -> array32 0xf0
    buf.writeUInt32BE(size - 1 + 4, start + 1);
    buf.writeUInt32BE(count, start + 5);
    this.pos += 6;
  }
}

// The element constructor used in arrays: always the wide form, so every element has one width.
function arrayCode(v: Amqp10Value): number {
  switch (v.type) {
    case 'null': return Code.Null;
    case 'boolean': return Code.Boolean;
    case 'ubyte': return Code.Ubyte;
    case 'ushort': return Code.Ushort;
    case 'uint': return Code.Uint;
    case 'ulong': return Code.Ulong;
    case 'byte': return Code.Byte;
    case 'short': return Code.Short;
    case 'int': return Code.Int;
    case 'long': return Code.Long;
    case 'float': return Code.Float;
    case 'double': return Code.Double;
    case 'char': return Code.Char;
    case 'timestamp': return Code.Timestamp;
    case 'decimal32': return Code.Decimal32;
    case 'decimal64': return Code.Decimal64;
    case 'decimal128': return Code.Decimal128;
    case 'uuid': return Code.Uuid;
    case 'binary': return Code.Vbin32;
    case 'string': return Code.Str32;
    case 'symbol': return Code.Sym32;
    case 'list': return Code.List32;
    case 'map': return Code.Map32;
    case 'array': return Code.Array32;
    case 'described': throw new Amqp10Error('arrays of described values are not supported');
  }
}

// value() wrote the compact form of an element; rewrite it in the array's wide form.
function fixArrayElement(w: Amqp10Writer, start: number, v: Amqp10Value): void {
  const wide = Buffer.allocUnsafe(16);
  let n = -1;
  switch (v.type) {
    case 'boolean': w.pos = start; w.u8(v.value ? 1 : 0); return;
    case 'uint': wide.writeUInt32BE(v.value >>> 0, 0); n = 4; break;
    case 'ulong': wide.writeBigUInt64BE(BigInt(v.value), 0); n = 8; break;
    case 'int': wide.writeInt32BE(v.value, 0); n = 4; break;
    case 'long': wide.writeBigInt64BE(BigInt(v.value), 0); n = 8; break;
    case 'binary': case 'string': case 'symbol': {
      const bytes = v.type === 'binary' ? v.value : Buffer.from(v.value as string, 'utf8');
      w.pos = start;
      w.ensure(4 + bytes.length);
      w.pos = w.buf.writeUInt32BE(bytes.length, w.pos);
      w.raw(bytes);
      return;
    }
    case 'list': case 'map': case 'array': {
      // re-encode in the 32-bit form
      const inner = new Amqp10Writer();
      inner.value(v);
      const b = inner.buf.subarray(0, inner.pos);
      w.pos = start;
      if (b[0] === Code.List0) { w.ensure(8); w.pos = w.buf.writeUInt32BE(4, w.pos); w.pos = w.buf.writeUInt32BE(0, w.pos); return; }
      if (b[0] === Code.List8 || b[0] === Code.Map8 || b[0] === Code.Array8) {
        w.ensure(8 + b.length);
        w.pos = w.buf.writeUInt32BE(b[1] + 3, w.pos);
        w.pos = w.buf.writeUInt32BE(b[2], w.pos);
        w.raw(b.subarray(3));
      } else {
        w.raw(b.subarray(1));
      }
      return;
    }
    default: return; // fixed-width types: value() wrote the wide form already
  }
  w.pos = start;
  w.raw(wide.subarray(0, n));
}

/** Write `s` at `p`: ASCII byte by byte, else Buffer.write. Returns the byte length. */
function asciiOrUtf8(b: Buffer, p: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return b.write(s, p, 'utf8');
    b[p + i] = c;
  }
  return n;
}

export function encodeValue(v: Amqp10Value): Buffer {
  const w = new Amqp10Writer(64);
  w.value(v);
  return w.toBuffer();
}

/** Unsigned 64-bit number from two halves (for fields known to stay below 2^53). */
export function u64(hi: number, lo: number): number {
  return hi * TWO32 + lo;
}
