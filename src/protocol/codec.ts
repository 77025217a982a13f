/**
 * Low-level primitives shared by the generated method codecs, the field-table codec, the
 * property codec and the hot-path frame writers. Not re-exported from index.ts except where noted.
 */
import { AmqpError } from './errors';

const TWO_32 = 4294967296;

type Latin1Slicer = { latin1Slice?: (start: number, end: number) => string };
const HAS_LATIN1_SLICE = typeof (Buffer.prototype as unknown as Latin1Slicer).latin1Slice === 'function';

/**
 * Decode a UTF-8 string from b[start, end). Short all-ASCII strings (the usual exchange names,
 * routing keys, consumer tags) take Node's latin1 slicer, which skips UTF-8 validation.
 */
export function readStr(b: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n === 0) return '';
  if (n <= 64 && HAS_LATIN1_SLICE) {
    for (let i = start; i < end; i++) if (b[i] > 127) return b.toString('utf8', start, end);
    return (b as unknown as Required<Latin1Slicer>).latin1Slice(start, end);
  }
  return b.toString('utf8', start, end);
}

/** Byte length of a shortstr, throwing when it does not fit in 255 bytes. */
export function shortstrLen(s: string, what = 'shortstr'): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > 255) throw new RangeError(`${what} is ${n} bytes long, the maximum is 255`);
  return n;
}

/**
 * Write a shortstr (length octet + UTF-8 bytes) at off; returns the new offset. The caller
 * guarantees space (1 + byte length). Throws RangeError when the string exceeds 255 bytes.
 */
export function writeShortstr(b: Buffer, off: number, s: string): number {
  const len = s.length;
  if (len <= 32) {
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) break;
      b[off + 1 + i] = c;
    }
    if (i === len) {
      b[off] = len;
      return off + 1 + len;
    }
  }
  const n = b.write(s, off + 1, 'utf8');
  if (n > 255) throw new RangeError(`shortstr is ${n} bytes long, the maximum is 255`);
  b[off] = n;
  return off + 1 + n;
}

/**
 * Truncate a string so that its UTF-8 form fits in 255 bytes, without splitting a character
 * (for reply texts that embed client-supplied names).
 */
export function truncateShortstr(s: string): string {
  if (s.length <= 85) return s;
  if (Buffer.byteLength(s, 'utf8') <= 255) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > 255) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** Write an unsigned 64-bit integer given as a non-negative safe integer. */
export function writeU64(b: Buffer, off: number, n: number): number {
  if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER) || Math.floor(n) !== n) {
    throw new RangeError(`longlong value out of range: ${n}`);
  }
  const hi = Math.floor(n / TWO_32);
  b.writeUInt32BE(hi, off);
  b.writeUInt32BE(n - hi * TWO_32, off + 4);
  return off + 8;
}

/** Read an unsigned 64-bit integer as a number (exact up to 2^53). */
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * TWO_32 + b.readUInt32BE(off + 4);
}

export function truncated(what: string, classId = 0, methodId = 0): AmqpError {
  return new AmqpError(502, `truncated or malformed ${what}`, classId, methodId);
}
