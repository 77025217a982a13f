// The replication stream's frames. Every frame: u32 length (of what follows), u32 CRC-32 of
// the type byte and body, u8 type, body. File operations name a path relative to the data
// directory and carry `pos`: the leader's replication position after this operation (0 for
// catch-up copies, which are not part of the live stream). Control messages are small JSON
// bodies. A frame whose CRC does not match ends the connection: the follower reconnects and
// compares files again, so a damaged frame costs a resync, never a wrong byte on disk.
import { crc32 } from '../store/record';

export const enum T {
  Write = 1,     // path, pos, u64 file position, data
  Truncate = 2,  // path, pos, u64 length
  Replace = 3,   // path, pos, data: the whole file
  Delete = 4,    // path, pos (recursive: a directory and everything under it)
  Rename = 5,    // path, pos, u16 + target path
  Mkdir = 6,     // path, pos
  Sync = 7,      // path, pos: the leader fdatasyncs (or fsyncs) this file or directory
  Control = 32,  // JSON
}

export type FileOp =
  | { t: T.Write; path: string; at: number; data: Buffer }
  | { t: T.Truncate; path: string; len: number }
  | { t: T.Replace; path: string; data: Buffer }
  | { t: T.Delete; path: string }
  | { t: T.Rename; path: string; to: string }
  | { t: T.Mkdir; path: string }
  | { t: T.Sync; path: string };

export interface DecodedOp { op: FileOp; pos: number }

const HEAD = 9; // length, crc, type

function frame(type: number, bodyLen: number): Buffer {
  const b = Buffer.allocUnsafe(HEAD + bodyLen);
  b.writeUInt32BE(5 + bodyLen, 0);
  b[8] = type;
  return b;
}

function seal(b: Buffer): Buffer {
  b.writeUInt32BE(crc32(b.subarray(8)), 4);
  return b;
}

function writeU64(b: Buffer, p: number, v: number): void {
  b.writeUInt32BE(Math.floor(v / 0x100000000), p);
  b.writeUInt32BE(v >>> 0, p + 4);
}

function readU64(b: Buffer, p: number): number {
  return b.readUInt32BE(p) * 0x100000000 + b.readUInt32BE(p + 4);
}

/**
 * Encodes a file operation; the data is copied (the caller's buffer may be reused at once).
 * `base`: the stream position before this frame; the frame carries base + its own length (the
 * position a follower acknowledges once it has synced it), 0 for a catch-up copy.
 */
export function encodeOp(op: FileOp, base: number | null): Buffer {
  const pathBytes = Buffer.from(op.path);
  let extra = 0;
  let tail: Buffer | null = null;
  switch (op.t) {
    case T.Write: extra = 8; tail = op.data; break;
    case T.Truncate: extra = 8; break;
    case T.Replace: tail = op.data; break;
    case T.Rename: tail = Buffer.from(op.to); extra = 2; break;
    default: break;
  }
  const bodyLen = 2 + pathBytes.length + 8 + extra + (tail?.length ?? 0);
  const b = frame(op.t, bodyLen);
  let p = HEAD;
  b.writeUInt16BE(pathBytes.length, p); p += 2;
  pathBytes.copy(b, p); p += pathBytes.length;
  writeU64(b, p, base === null ? 0 : base + b.length); p += 8;
  if (op.t === T.Write) { writeU64(b, p, op.at); p += 8; }
  else if (op.t === T.Truncate) { writeU64(b, p, op.len); p += 8; }
  else if (op.t === T.Rename) { b.writeUInt16BE(tail!.length, p); p += 2; }
  if (tail !== null) tail.copy(b, p);
  return seal(b);
}

export function encodeControl(msg: object): Buffer {
  const body = Buffer.from(JSON.stringify(msg));
  const b = frame(T.Control, body.length);
  body.copy(b, HEAD);
  return seal(b);
}

export type Frame = { type: T.Control; msg: Record<string, unknown> } | { type: Exclude<T, T.Control>; op: DecodedOp };

function decodeOp(type: T, b: Buffer): DecodedOp {
  let p = 0;
  const n = b.readUInt16BE(p); p += 2;
  const path = b.toString('utf8', p, p + n); p += n;
  const pos = readU64(b, p); p += 8;
  switch (type) {
    case T.Write: return { pos, op: { t: T.Write, path, at: readU64(b, p), data: b.subarray(p + 8) } };
    case T.Truncate: return { pos, op: { t: T.Truncate, path, len: readU64(b, p) } };
    case T.Replace: return { pos, op: { t: T.Replace, path, data: b.subarray(p) } };
    case T.Delete: return { pos, op: { t: T.Delete, path } };
    case T.Rename: { const m = b.readUInt16BE(p); return { pos, op: { t: T.Rename, path, to: b.toString('utf8', p + 2, p + 2 + m) } }; }
    case T.Mkdir: return { pos, op: { t: T.Mkdir, path } };
    case T.Sync: return { pos, op: { t: T.Sync, path } };
    default: throw new Error(`unknown replication frame type ${type}`);
  }
}

/**
 * Slices frames out of a byte stream; throws on a damaged frame. The chunks of a frame larger
 * than one socket read (a sync round's segment write: hundreds of KiB) are gathered and joined
 * once, when the frame is complete, not re-joined at every read.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private have = 0;
  /** bytes the frame at the head needs (0: not known yet) */
  private need = 0;

  push(chunk: Buffer, out: (f: Frame) => void): void {
    this.chunks.push(chunk);
    this.have += chunk.length;
    if (this.have < Math.max(this.need, 8)) return;
    let b = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.have);
    this.chunks = [];
    this.have = 0;
    this.need = 0;
    while (b.length >= 8) {
      const len = b.readUInt32BE(0);
      if (len > 1024 * 1024 * 1024) throw new Error(`replication frame of ${len} bytes`);
      if (b.length < 4 + len) { this.need = 4 + len; break; }
      const crc = b.readUInt32BE(4);
      const covered = b.subarray(8, 4 + len);
      if (crc32(covered) !== crc) throw new Error('replication frame failed its CRC check');
      const type = covered[0] as T;
      const body = covered.subarray(1);
      if (type === T.Control) out({ type, msg: JSON.parse(body.toString('utf8')) as Record<string, unknown> });
      else out({ type, op: decodeOp(type, body) } as Frame);
      b = b.subarray(4 + len);
    }
    if (b.length > 0) { this.chunks.push(b); this.have = b.length; }
  }
}
