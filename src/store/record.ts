/*
 * Record codec of the segmented log.
 *
 * On-disk layout of one framed record (all integers little-endian):
 *
 *   pos  size  field
 *   ---  ----  -----------------------------------------------------------------
 *     0     4  length     u32: bytes that follow this field (= 36 + envLen + propsLen + bodyLen)
 *     4     4  crc        u32: CRC-32 (IEEE 802.3, the crc-32 / zlib polynomial) of bytes [8, 4 + length)
 *     8     8  offset     u64: the record's log offset (two u32 halves, low first; < 2^53)
 *    16     8  timestamp  u64: ms since the epoch (two u32 halves, low first)
 *    24     2  flags      u16: opaque to the store
 *    26     1  magic      u8:  1 = one record, 2 = a batch (see below)
 *    27     1  attrs      u8:  reserved, 0
 *    28     4  envLen     u32: length of the msgpackr-encoded envelope; 0 = no envelope (undefined)
 *    32     4  propsLen   u32: length of the raw property bytes
 *    36     4  bodyLen    u32: length of the raw body bytes
 *    40     -  envelope bytes, then props bytes, then body bytes
 *
 * The frame's total size on disk is 4 + length = 40 + envLen + propsLen + bodyLen.
 *
 * A batch record (magic 2, Kafka's record batch) holds several messages under consecutive
 * offsets: `offset` is its first and the next record's offset is offset + count. Batches carry no
 * flags: bytes 24-25 (low 16 bits) and 27 (high 8 bits) hold the count (1 to 2^24 - 1). The
 * store does not look inside a batch; stream queues put their chunks there.
 * The CRC covers everything after the CRC field, so a flipped bit in the offset, the timestamp,
 * the flags, any of the lengths or the payload is detected. A flipped bit in the length field
 * itself makes the CRC range wrong and is detected the same way (or as an impossible length).
 *
 * CRC implementation: three implementations of the same IEEE CRC-32, mixed freely (the tests in
 * test/store/record.test.ts check that they agree, also when chained): the crc-32 package (pure JS,
 * ~0.85 GB/s, no call overhead: best below ~200 bytes), @node-rs/crc32 (native, PCLMUL/SIMD:
 * 4 GB/s at 1 KiB, 11 GB/s on large buffers, ~150 ns per call) and, when that native module cannot
 * be loaded on a platform, Node's zlib.crc32 (table-driven, 1.8-2.5 GB/s). At 1 KiB per message the
 * CRC was 11% of the broker's CPU with zlib.crc32; recovery scans are bound by it.
 */
import * as zlib from 'zlib';
import CRC32 from 'crc-32';
import { Packr } from 'msgpackr';

export const HEADER_SIZE = 40;
/** Bytes of the header covered by the CRC (offset .. bodyLen). */
export const CRC_HEADER_SIZE = HEADER_SIZE - 8;
export const MAGIC = 1;
export const MAGIC_BATCH = 2;
/** most offsets one batch record can hold */
export const MAX_BATCH_COUNT = 0xffffff;
/** Largest framed record accepted (sanity bound used by recovery to reject garbage lengths). */
export const MAX_RECORD_SIZE = 512 * 1024 * 1024;

export interface LogRecordInput {
  /** ms since epoch; default Date.now() */
  timestamp?: number;
  /** uint16, opaque to the store (batch records have none) */
  flags?: number;
  /** offsets the record takes: more than 1 makes it a batch record (default 1) */
  count?: number;
  /** small object, msgpackr-encoded; may be undefined */
  envelope?: unknown;
  /** raw bytes, stored verbatim */
  props: Buffer;
  /** raw bytes, stored verbatim */
  body: Buffer;
}

export interface LogRecord extends LogRecordInput {
  offset: number;
  timestamp: number;
  flags: number;
  count: number;
  /** framed bytes on disk */
  size: number;
}

type Crc = (data: Uint8Array, seed?: number) => number;

/** The crc-32 package (pure JS), normalised to an unsigned result. */
export const crc32Js: Crc = (data, seed) => CRC32.buf(data, seed === undefined ? 0 : seed | 0) >>> 0;

function loadSimdCrc(): Crc | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const m = require('@node-rs/crc32') as { crc32(data: Uint8Array, seed?: number): number };
    const f: Crc = (data, seed) => m.crc32(data, seed === undefined ? 0 : seed);
    return f(Buffer.from('123456789')) === 0xcbf43926 ? f : undefined;
  } catch {
    return undefined; // no prebuilt binary for this platform: fall back to zlib.crc32
  }
}

const zlibCrc: Crc | undefined =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data, seed) => zlib.crc32(data, seed === undefined ? 0 : seed)
    : undefined;

/** @internal the SIMD implementation, when it loaded (exported for the agreement tests) */
export const crc32Simd: Crc | undefined = loadSimdCrc();

const nativeCrc: Crc | undefined = crc32Simd ?? zlibCrc;

/**
 * CRC-32 of `data`, continuing from `seed`. Below NATIVE_MIN bytes the JS table loop beats the
 * cost of a call into native code (measured: 64 B 83 ns JS vs 169 ns @node-rs/crc32 vs 190 ns
 * zlib; 256 B 304 / 175 / 251 ns; 1 KiB 1196 / 253 / 577 ns).
 */
export const NATIVE_MIN = 192;
export const crc32: Crc =
  nativeCrc === undefined
    ? crc32Js
    : (data, seed) => (data.length < NATIVE_MIN ? crc32Js(data, seed) : (nativeCrc as Crc)(data, seed));
export const crc32IsNative = nativeCrc !== undefined;

const TWO32 = 4294967296;

export function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v;
  b[p + 1] = v >>> 8;
  b[p + 2] = v >>> 16;
  b[p + 3] = v >>> 24;
}

export function readU32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 16777216;
}

export function writeU64(b: Uint8Array, p: number, v: number): void {
  const lo = v % TWO32;
  writeU32(b, p, lo);
  writeU32(b, p + 4, (v - lo) / TWO32);
}

export function readU64(b: Uint8Array, p: number): number {
  return readU32(b, p) + readU32(b, p + 4) * TWO32;
}

const packr = new Packr({ useRecords: false });

// Producers usually publish run after run with the same exchange and routing key, and the broker
// hands the log the same (immutable) envelope object for them: remember the last encoding.
let lastEnvelope: unknown = undefined;
let lastPacked: Buffer | undefined = undefined;

/** msgpackr encoding of an envelope. Envelopes must not be mutated after they are appended. */
export function packEnvelope(envelope: unknown): Buffer {
  if (envelope === lastEnvelope && lastPacked !== undefined) return lastPacked;
  const packed = Buffer.from(packr.pack(envelope));
  lastEnvelope = envelope;
  lastPacked = packed;
  return packed;
}

// Reading back a run of records with the same envelope bytes decodes them once. Envelopes are
// treated as immutable by every reader, so sharing the decoded object is safe.
const lastUnpackedBytes = Buffer.alloc(256);
let lastUnpackedLen = -1;
let lastUnpacked: unknown = undefined;

export function unpackEnvelope(bytes: Uint8Array): unknown {
  const n = bytes.length;
  if (n === lastUnpackedLen) {
    let i = 0;
    while (i < n && lastUnpackedBytes[i] === bytes[i]) i++;
    if (i === n) return lastUnpacked;
  }
  const v = packr.unpack(bytes);
  if (n <= lastUnpackedBytes.length) {
    lastUnpackedBytes.set(bytes, 0);
    lastUnpackedLen = n;
    lastUnpacked = v;
  }
  return v;
}

// Scratch for the CRC-covered header part, so the CRC can be computed without creating a view
// of the destination buffer.
const scratch = Buffer.alloc(CRC_HEADER_SIZE);

/**
 * Frame one record into `dst` at `pos`. `dst` must have room for
 * HEADER_SIZE + env.length + props.length + body.length bytes. Returns the framed size.
 */
export function encodeInto(
  dst: Buffer,
  pos: number,
  offset: number,
  timestamp: number,
  flags: number,
  env: Uint8Array | undefined,
  props: Uint8Array,
  body: Uint8Array,
  count = 1,
): number {
  const envLen = env === undefined ? 0 : env.length;
  const propsLen = props.length;
  const bodyLen = body.length;
  const size = HEADER_SIZE + envLen + propsLen + bodyLen;
  const s = scratch;
  writeU64(s, 0, offset);
  writeU64(s, 8, timestamp);
  if (count === 1) {
    s[16] = flags;
    s[17] = flags >>> 8;
    s[18] = MAGIC;
    s[19] = 0;
  } else {
    s[16] = count;
    s[17] = count >>> 8;
    s[18] = MAGIC_BATCH;
    s[19] = count >>> 16;
  }
  writeU32(s, 20, envLen);
  writeU32(s, 24, propsLen);
  writeU32(s, 28, bodyLen);
  writeU32(dst, pos, size - 4);
  dst.set(s, pos + 8);
  let p = pos + HEADER_SIZE;
  if (envLen !== 0) { dst.set(env as Uint8Array, p); p += envLen; }
  if (propsLen !== 0) { dst.set(props, p); p += propsLen; }
  if (bodyLen !== 0) dst.set(body, p);
  let crc: number;
  if (size - 8 >= NATIVE_MIN && nativeCrc !== undefined) {
    // large record: one native call over the contiguous CRC-covered range
    crc = nativeCrc(dst.subarray(pos + 8, pos + size));
  } else {
    // small: the JS loop over the source pieces, without creating a view of dst
    crc = crc32Js(s);
    if (envLen !== 0) crc = crc32Js(env as Uint8Array, crc);
    if (propsLen !== 0) crc = crc32Js(props, crc);
    if (bodyLen !== 0) crc = crc32Js(body, crc);
  }
  writeU32(dst, pos + 4, crc);
  return size;
}

/** Framed size of a record, or -1 when the header at `pos` is not plausible. Needs 4 bytes. */
export function frameSize(b: Uint8Array, pos: number): number {
  const len = readU32(b, pos);
  if (len < HEADER_SIZE - 4 || len > MAX_RECORD_SIZE) return -1;
  return len + 4;
}

/**
 * Check a complete frame at `pos` (caller guarantees `size` bytes are present, size from frameSize):
 * magic, internal lengths and CRC. Returns null when good, else the reason.
 */
export function checkFrame(b: Buffer, pos: number, size: number): string | null {
  if (b[pos + 26] !== MAGIC && b[pos + 26] !== MAGIC_BATCH) return 'bad magic';
  const envLen = readU32(b, pos + 28);
  const propsLen = readU32(b, pos + 32);
  const bodyLen = readU32(b, pos + 36);
  if (HEADER_SIZE + envLen + propsLen + bodyLen !== size) return 'inconsistent lengths';
  const crc = crc32(b.subarray(pos + 8, pos + size));
  if (crc !== readU32(b, pos + 4)) return 'CRC mismatch';
  return null;
}

/** Offsets the frame at `pos` takes (1, or a batch's count). Needs its header. */
export function frameCount(b: Uint8Array, pos: number): number {
  return b[pos + 26] === MAGIC_BATCH ? b[pos + 24] | (b[pos + 25] << 8) | (b[pos + 27] << 16) : 1;
}

export function frameOffset(b: Uint8Array, pos: number): number {
  return readU64(b, pos + 8);
}

export function frameTimestamp(b: Uint8Array, pos: number): number {
  return readU64(b, pos + 16);
}

/**
 * Decode a frame already checked with checkFrame. The props and body are copied out (one
 * allocation shared by both) so that the returned record does not pin the read buffer.
 */
export function decodeFrame(b: Buffer, pos: number, size: number): LogRecord {
  const envLen = readU32(b, pos + 28);
  const propsLen = readU32(b, pos + 32);
  const bodyLen = readU32(b, pos + 36);
  const p = pos + HEADER_SIZE;
  const envelope = envLen === 0 ? undefined : unpackEnvelope(b.subarray(p, p + envLen));
  const data = Buffer.allocUnsafe(propsLen + bodyLen);
  b.copy(data, 0, p + envLen, p + envLen + propsLen + bodyLen);
  return {
    offset: readU64(b, pos + 8),
    timestamp: readU64(b, pos + 16),
    flags: b[pos + 26] === MAGIC ? b[pos + 24] | (b[pos + 25] << 8) : 0,
    count: frameCount(b, pos),
    envelope,
    props: data.subarray(0, propsLen),
    body: data.subarray(propsLen),
    size,
  };
}
