/**
 * AMQP field tables and arrays, with every type RabbitMQ sends and accepts:
 *
 *   t boolean (octet)        b int8            B uint8           s int16 (RabbitMQ's meaning)
 *   u uint16                 I int32           i uint32          l int64 (L is accepted too)
 *   f float32                d float64         D decimal (scale octet + uint32 value)
 *   S longstr (u32 + bytes)  x byte array (u32 + bytes)          A array (u32 + values)
 *   T timestamp (u64 secs)   F table (u32 + entries)            V void (no value)
 *
 * A table on the wire: u32 byte length, then entries: shortstr key, type octet, value.
 */
import { AmqpError } from './errors';

export interface Decimal {
  $decimal: true;
  scale: number;
  value: number;
}

export type FieldValue =
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | Date
  | null
  | undefined
  | FieldValue[]
  | FieldTable
  | Decimal
  | Typed;

export interface FieldTable {
  [key: string]: FieldValue;
}

const TYPE_LETTERS = 'tbBsuIilLfdDSxATFV';

/** Forces an exact wire type when encoding, e.g. new Typed('l', 1) for RabbitMQ's x-death count. */
export class Typed {
  constructor(
    readonly type: string,
    readonly value: FieldValue,
  ) {
    if (type.length !== 1 || !TYPE_LETTERS.includes(type)) {
      throw new TypeError(`unknown field type letter '${type}'`);
    }
  }
}

export function typed(type: string, value: FieldValue): Typed {
  return new Typed(type, value);
}

export function decimal(scale: number, value: number): Decimal {
  return { $decimal: true, scale, value };
}

export function isDecimal(v: unknown): v is Decimal {
  return typeof v === 'object' && v !== null && (v as Decimal).$decimal === true;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function malformed(text: string): AmqpError {
  return new AmqpError(502, `malformed field table: ${text}`);
}

const TWO_32 = 4294967296;

/**
 * Decode a table whose u32 length prefix is at buf[offset]. Returns the table and the offset
 * just past it. Throws AmqpError(502) on malformed input.
 */
export function decodeTable(buf: Buffer, offset: number): { table: FieldTable; end: number } {
  if (offset + 4 > buf.length) throw malformed('length prefix past the end');
  const len = buf.readUInt32BE(offset);
  const start = offset + 4;
  const end = start + len;
  if (end > buf.length) throw malformed(`length ${len} runs past the end of the data`);
  return { table: parseEntries(buf, start, end), end };
}

/** Decode a field array whose u32 length prefix is at buf[offset]. */
export function decodeArray(buf: Buffer, offset: number): { array: FieldValue[]; end: number } {
  if (offset + 4 > buf.length) throw malformed('array length prefix past the end');
  const len = buf.readUInt32BE(offset);
  const start = offset + 4;
  const end = start + len;
  if (end > buf.length) throw malformed(`array length ${len} runs past the end of the data`);
  return { array: parseArray(buf, start, end), end };
}

function setKey(t: FieldTable, key: string, v: FieldValue): void {
  if (key === '__proto__') {
    Object.defineProperty(t, key, { value: v, enumerable: true, writable: true, configurable: true });
  } else {
    t[key] = v;
  }
}

// Nesting limit for F and A values: a hostile frame could otherwise nest thousands of levels
// deep and overflow the stack.
const MAX_DEPTH = 64;
let depth = 0;

function parseEntries(buf: Buffer, p: number, end: number): FieldTable {
  if (depth > MAX_DEPTH) throw malformed(`nested deeper than ${MAX_DEPTH} levels`);
  const t: FieldTable = {};
  while (p < end) {
    const klen = buf[p];
    const kstart = p + 1;
    p = kstart + klen;
    if (p >= end) throw malformed('entry key or type past the end');
    const key = buf.toString('utf8', kstart, p);
    // parseValue leaves the end offset in `pos`
    const v = parseValue(buf, p, end);
    setKey(t, key, v);
    p = pos;
  }
  return t;
}

function parseArray(buf: Buffer, p: number, end: number): FieldValue[] {
  if (depth > MAX_DEPTH) throw malformed(`nested deeper than ${MAX_DEPTH} levels`);
  const a: FieldValue[] = [];
  while (p < end) {
    a.push(parseValue(buf, p, end));
    p = pos;
  }
  return a;
}

// Module-level cursor: parseValue returns the value and leaves the next offset here.
let pos = 0;

function need(p: number, n: number, end: number, type: string): void {
  if (p + n > end) throw malformed(`value of type '${type}' runs past the end`);
}

function parseValue(buf: Buffer, p: number, end: number): FieldValue {
  const type = buf[p++];
  let v: FieldValue;
  switch (type) {
    case 0x74: // t
      need(p, 1, end, 't');
      v = buf[p] !== 0;
      p += 1;
      break;
    case 0x62: // b
      need(p, 1, end, 'b');
      v = buf.readInt8(p);
      p += 1;
      break;
    case 0x42: // B
      need(p, 1, end, 'B');
      v = buf[p];
      p += 1;
      break;
    case 0x73: // s
      need(p, 2, end, 's');
      v = buf.readInt16BE(p);
      p += 2;
      break;
    case 0x75: // u
      need(p, 2, end, 'u');
      v = buf.readUInt16BE(p);
      p += 2;
      break;
    case 0x49: // I
      need(p, 4, end, 'I');
      v = buf.readInt32BE(p);
      p += 4;
      break;
    case 0x69: // i
      need(p, 4, end, 'i');
      v = buf.readUInt32BE(p);
      p += 4;
      break;
    case 0x6c: // l
    case 0x4c: {
      // L: RabbitMQ decodes both as signed 64-bit
      need(p, 8, end, 'l');
      const hi = buf.readInt32BE(p);
      const n = hi * TWO_32 + buf.readUInt32BE(p + 4);
      v = hi >= -2097152 && hi < 2097152 && Number.isSafeInteger(n) ? n : buf.readBigInt64BE(p);
      p += 8;
      break;
    }
    case 0x66: // f
      need(p, 4, end, 'f');
      v = buf.readFloatBE(p);
      p += 4;
      break;
    case 0x64: // d
      need(p, 8, end, 'd');
      v = buf.readDoubleBE(p);
      p += 8;
      break;
    case 0x44: // D
      need(p, 5, end, 'D');
      v = { $decimal: true, scale: buf[p], value: buf.readUInt32BE(p + 1) };
      p += 5;
      break;
    case 0x53: {
      // S
      need(p, 4, end, 'S');
      const len = buf.readUInt32BE(p);
      p += 4;
      need(p, len, end, 'S');
      v = buf.toString('utf8', p, p + len);
      p += len;
      break;
    }
    case 0x78: {
      // x: copied, so a stored table does not pin the socket chunk
      need(p, 4, end, 'x');
      const len = buf.readUInt32BE(p);
      p += 4;
      need(p, len, end, 'x');
      v = Buffer.from(buf.subarray(p, p + len));
      p += len;
      break;
    }
    case 0x41: {
      // A
      need(p, 4, end, 'A');
      const len = buf.readUInt32BE(p);
      p += 4;
      need(p, len, end, 'A');
      depth++;
      try {
        v = parseArray(buf, p, p + len);
      } finally {
        depth--;
      }
      p += len;
      break;
    }
    case 0x54: // T
      need(p, 8, end, 'T');
      v = new Date((buf.readUInt32BE(p) * TWO_32 + buf.readUInt32BE(p + 4)) * 1000);
      p += 8;
      break;
    case 0x46: {
      // F
      need(p, 4, end, 'F');
      const len = buf.readUInt32BE(p);
      p += 4;
      need(p, len, end, 'F');
      depth++;
      try {
        v = parseEntries(buf, p, p + len);
      } finally {
        depth--;
      }
      p += len;
      break;
    }
    case 0x56: // V
      v = null;
      break;
    default:
      throw malformed(
        type === undefined
          ? 'missing type octet'
          : `unknown field type '${String.fromCharCode(type)}' (0x${type.toString(16)})`,
      );
  }
  pos = p;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Encoding

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const INT64_LIMIT = 9223372036854775808; // 2^63

/** Wire type letter (char code) that encoding would use for v. */
function inferType(v: FieldValue): number {
  switch (typeof v) {
    case 'boolean':
      return 0x74; // t
    case 'number':
      if (Number.isInteger(v)) {
        if (v >= INT32_MIN && v <= INT32_MAX) return 0x49; // I
        if (v >= -INT64_LIMIT && v < INT64_LIMIT) return 0x6c; // l
      }
      return 0x64; // d
    case 'bigint':
      return 0x6c; // l
    case 'string':
      return 0x53; // S
    case 'undefined':
      return 0x56; // V
    case 'object':
      if (v === null) return 0x56;
      if (v instanceof Typed) return v.type.charCodeAt(0);
      if (Buffer.isBuffer(v)) return 0x78; // x
      if (v instanceof Date) return 0x54; // T
      if (Array.isArray(v)) return 0x41; // A
      if ((v as Decimal).$decimal === true) return 0x44; // D
      return 0x46; // F
    default:
      throw new TypeError(`cannot encode a ${typeof v} in a field table`);
  }
}

function unwrap(v: FieldValue): FieldValue {
  return v instanceof Typed ? v.value : v;
}

function bytesOf(v: FieldValue, type: string): number {
  if (typeof v === 'string') return Buffer.byteLength(v, 'utf8');
  if (Buffer.isBuffer(v)) return v.length;
  throw new TypeError(`field type '${type}' needs a string or a Buffer, got ${describe(v)}`);
}

function describe(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Encoded size of a value including its type octet. */
function valueSize(v: FieldValue): number {
  const type = inferType(v);
  const x = unwrap(v);
  switch (type) {
    case 0x74:
    case 0x62:
    case 0x42:
      return 2;
    case 0x73:
    case 0x75:
      return 3;
    case 0x49:
    case 0x69:
    case 0x66:
      return 5;
    case 0x6c:
    case 0x4c:
    case 0x64:
    case 0x54:
      return 9;
    case 0x44:
      return 6;
    case 0x53:
      return 5 + bytesOf(x, 'S');
    case 0x78:
      return 5 + bytesOf(x, 'x');
    case 0x41:
      if (!Array.isArray(x)) throw new TypeError(`field type 'A' needs an array, got ${describe(x)}`);
      return 1 + arraySize(x);
    case 0x46:
      if (typeof x !== 'object' || x === null || Array.isArray(x) || Buffer.isBuffer(x) || x instanceof Date) {
        throw new TypeError(`field type 'F' needs a plain object, got ${describe(x)}`);
      }
      return 1 + tableSize(x as FieldTable);
    case 0x56:
      return 1;
    default:
      throw new TypeError(`unknown field type 0x${type.toString(16)}`);
  }
}

/** Encoded size of a table including its u32 length prefix. */
export function tableSize(t: FieldTable): number {
  let n = 4;
  const keys = Object.keys(t);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const klen = Buffer.byteLength(k, 'utf8');
    if (klen > 255) throw new RangeError(`field table key is ${klen} bytes long, the maximum is 255`);
    n += 1 + klen + valueSize(t[k]);
  }
  return n;
}

/** Encoded size of an array including its u32 length prefix. */
export function arraySize(a: FieldValue[]): number {
  let n = 4;
  for (let i = 0; i < a.length; i++) n += valueSize(a[i]);
  return n;
}

function toNumber(v: FieldValue, type: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new TypeError(`field type '${type}' needs a number, got ${describe(v)}`);
}

function writeValue(b: Buffer, o: number, v: FieldValue): number {
  const type = inferType(v);
  const x = unwrap(v);
  b[o++] = type;
  switch (type) {
    case 0x74: // t
      b[o] = x ? 1 : 0;
      return o + 1;
    case 0x62:
      b.writeInt8(toNumber(x, 'b'), o);
      return o + 1;
    case 0x42:
      b.writeUInt8(toNumber(x, 'B'), o);
      return o + 1;
    case 0x73:
      b.writeInt16BE(toNumber(x, 's'), o);
      return o + 2;
    case 0x75:
      b.writeUInt16BE(toNumber(x, 'u'), o);
      return o + 2;
    case 0x49:
      b.writeInt32BE(toNumber(x, 'I'), o);
      return o + 4;
    case 0x69:
      b.writeUInt32BE(toNumber(x, 'i'), o);
      return o + 4;
    case 0x6c:
    case 0x4c: {
      let big: bigint;
      if (typeof x === 'bigint') big = x;
      else {
        const n = toNumber(x, 'l');
        if (!Number.isInteger(n)) throw new RangeError(`field type 'l' needs an integer, got ${n}`);
        big = BigInt(n);
      }
      b.writeBigInt64BE(big, o);
      return o + 8;
    }
    case 0x66:
      b.writeFloatBE(toNumber(x, 'f'), o);
      return o + 4;
    case 0x64:
      b.writeDoubleBE(toNumber(x, 'd'), o);
      return o + 8;
    case 0x44: {
      if (!isDecimal(x)) throw new TypeError(`field type 'D' needs a Decimal, got ${describe(x)}`);
      b.writeUInt8(x.scale, o);
      b.writeUInt32BE(x.value, o + 1);
      return o + 5;
    }
    case 0x53:
    case 0x78: {
      if (typeof x === 'string') {
        const n = b.write(x, o + 4, 'utf8');
        b.writeUInt32BE(n, o);
        return o + 4 + n;
      }
      const buf = x as Buffer;
      b.writeUInt32BE(buf.length, o);
      buf.copy(b, o + 4);
      return o + 4 + buf.length;
    }
    case 0x41:
      return writeArray(b, o, x as FieldValue[]);
    case 0x54: {
      let secs: number;
      if (x instanceof Date) secs = Math.floor(x.getTime() / 1000);
      else secs = toNumber(x, 'T');
      if (!(secs >= 0 && Number.isSafeInteger(secs))) throw new RangeError(`timestamp out of range: ${secs}`);
      const hi = Math.floor(secs / TWO_32);
      b.writeUInt32BE(hi, o);
      b.writeUInt32BE(secs - hi * TWO_32, o + 4);
      return o + 8;
    }
    case 0x46:
      return writeTable(b, o, x as FieldTable);
    case 0x56:
      return o;
    default:
      throw new TypeError(`unknown field type 0x${type.toString(16)}`);
  }
}

/** Write a table (with its u32 length prefix) at off; returns the new offset. Space: tableSize(t). */
export function writeTable(b: Buffer, off: number, t: FieldTable): number {
  let o = off + 4;
  const keys = Object.keys(t);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const klen = b.write(k, o + 1, 'utf8');
    if (klen > 255) throw new RangeError(`field table key is ${klen} bytes long, the maximum is 255`);
    b[o] = klen;
    o = writeValue(b, o + 1 + klen, t[k]);
  }
  b.writeUInt32BE(o - off - 4, off);
  return o;
}

/** Write an array (with its u32 length prefix) at off; returns the new offset. */
export function writeArray(b: Buffer, off: number, a: FieldValue[]): number {
  let o = off + 4;
  for (let i = 0; i < a.length; i++) o = writeValue(b, o, a[i]);
  b.writeUInt32BE(o - off - 4, off);
  return o;
}

/** Encode a table with its u32 length prefix. */
export function encodeTable(t: FieldTable): Buffer {
  const b = Buffer.allocUnsafe(tableSize(t));
  const end = writeTable(b, 0, t);
  if (end !== b.length) throw new Error(`internal: table size ${b.length} != written ${end}`);
  return b;
}

/** Encode an array with its u32 length prefix. */
export function encodeArray(a: FieldValue[]): Buffer {
  const b = Buffer.allocUnsafe(arraySize(a));
  writeArray(b, 0, a);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Validation without decoding (no allocation)

const FIXED_SIZES: Int8Array = (() => {
  const a = new Int8Array(128).fill(-1);
  const set = (c: string, n: number) => (a[c.charCodeAt(0)] = n);
  set('t', 1); set('b', 1); set('B', 1); set('s', 2); set('u', 2); set('I', 4); set('i', 4);
  set('l', 8); set('L', 8); set('f', 4); set('d', 8); set('D', 5); set('T', 8); set('V', 0);
  set('S', -2); set('x', -2); set('A', -3); set('F', -4);
  return a;
})();

function skipValue(buf: Buffer, p: number, end: number, d: number): number {
  const type = buf[p++];
  const k = type < 128 ? FIXED_SIZES[type] : -1;
  if (k >= 0) {
    if (p + k > end) throw malformed(`value of type '${String.fromCharCode(type)}' runs past the end`);
    return p + k;
  }
  if (k === -1) throw malformed(`unknown field type '${String.fromCharCode(type)}' (0x${type.toString(16)})`);
  if (p + 4 > end) throw malformed(`value of type '${String.fromCharCode(type)}' runs past the end`);
  const vend = p + 4 + buf.readUInt32BE(p);
  if (vend > end) throw malformed(`value of type '${String.fromCharCode(type)}' runs past the end`);
  if (k === -3 || k === -4) {
    if (d >= MAX_DEPTH) throw malformed(`nested deeper than ${MAX_DEPTH} levels`);
    if (k === -3) {
      for (let q = p + 4; q < vend; ) q = skipValue(buf, q, vend, d + 1);
    } else {
      skipEntries(buf, p + 4, vend, d + 1);
    }
  }
  return vend;
}

function skipEntries(buf: Buffer, p: number, end: number, d: number): void {
  while (p < end) {
    p = p + 1 + buf[p];
    if (p >= end) throw malformed('entry key or type past the end');
    p = skipValue(buf, p, end, d);
  }
}

/**
 * Check that a table (u32 length prefix at offset) is well formed without decoding it.
 * Returns the offset just past it; throws AmqpError(502) like decodeTable.
 */
export function validateTable(buf: Buffer, offset: number): number {
  if (offset + 4 > buf.length) throw malformed('length prefix past the end');
  const end = offset + 4 + buf.readUInt32BE(offset);
  if (end > buf.length) throw malformed(`length ${end - offset - 4} runs past the end of the data`);
  skipEntries(buf, offset + 4, end, 0);
  return end;
}
