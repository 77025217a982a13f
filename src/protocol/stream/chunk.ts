/**
 * Osiris chunks, the unit the Stream protocol delivers (RabbitMQ's osiris_log): a 48-byte header
 * and the data entries. Integers are big-endian.
 *
 *   0  u8   magic (5) << 4 | version (0)      24 u64  chunk id = first offset
 *   1  u8   chunk type (0 = user data)        32 u32  CRC-32 of the data entries
 *   2  u16  number of entries                 36 u32  data length
 *   4  u32  number of records (offsets)       40 u32  trailer length
 *   8  i64  timestamp (ms)                    44 u8   Bloom filter size, 3 bytes reserved
 *   16 u64  epoch
 *
 * Entries: a simple entry is [0 bit + 31-bit size][message]; a sub-batch entry is
 * [1 bit, 3-bit compression, 4 reserved bits][u16 records][u32 uncompressed size][u32 size][data],
 * its data holding `records` simple entries (compressed when the compression is not 0).
 */

export const CHUNK_HEADER_SIZE = 48;
export const CHUNK_MAGIC_VERSION = 0x50;
export const CHUNK_TYPE_USER = 0;
export const SUBBATCH_HEADER_SIZE = 11;

export interface ChunkHeader {
  type: number;
  numEntries: number;
  numRecords: number;
  timestamp: number;
  epoch: number;
  chunkId: number;
  crc: number;
  dataLength: number;
  trailerLength: number;
}

const TWO32 = 4294967296;

export function writeChunkHeader(b: Buffer, p: number, h: ChunkHeader): void {
  b[p] = CHUNK_MAGIC_VERSION;
  b[p + 1] = h.type;
  b.writeUInt16BE(h.numEntries, p + 2);
  b.writeUInt32BE(h.numRecords, p + 4);
  writeU64BE(b, p + 8, h.timestamp);
  writeU64BE(b, p + 16, h.epoch);
  writeU64BE(b, p + 24, h.chunkId);
  b.writeUInt32BE(h.crc >>> 0, p + 32);
  b.writeUInt32BE(h.dataLength, p + 36);
  b.writeUInt32BE(h.trailerLength, p + 40);
  b.writeUInt32BE(0, p + 44);
}

export function readChunkHeader(b: Buffer, p = 0): ChunkHeader {
  return {
    type: b[p + 1],
    numEntries: b.readUInt16BE(p + 2),
    numRecords: b.readUInt32BE(p + 4),
    timestamp: readU64BE(b, p + 8),
    epoch: readU64BE(b, p + 16),
    chunkId: readU64BE(b, p + 24),
    crc: b.readUInt32BE(p + 32),
    dataLength: b.readUInt32BE(p + 36),
    trailerLength: b.readUInt32BE(p + 40),
  };
}

export function writeU64BE(b: Buffer, p: number, v: number): void {
  const hi = Math.floor(v / TWO32);
  b.writeUInt32BE(hi >>> 0, p);
  b.writeUInt32BE((v - hi * TWO32) >>> 0, p + 4);
}

export function readU64BE(b: Buffer, p: number): number {
  return b.readUInt32BE(p) * TWO32 + b.readUInt32BE(p + 4);
}

/** One entry of a chunk's data, as walkEntries reports it. */
export interface EntryView {
  /** byte range of the entry's body (for a sub-batch, its possibly compressed data) */
  start: number;
  end: number;
  /** offsets the entry takes (1 for a simple entry) */
  records: number;
  /** -1 for a simple entry, else the sub-batch's compression (0 = none) */
  compression: number;
}

/**
 * Walks the entries of data[start, end), calling fn for each; returns the number of entries, or
 * -1 when the data is not a well-formed entry list.
 */
export function walkEntries(data: Buffer, start: number, end: number, fn: ((e: EntryView) => void) | null): number {
  const e: EntryView = { start: 0, end: 0, records: 1, compression: -1 };
  let p = start;
  let n = 0;
  while (p < end) {
    if (p + 4 > end) return -1;
    const b0 = data[p];
    if ((b0 & 0x80) === 0) {
      const size = data.readUInt32BE(p);
      e.start = p + 4;
      e.end = p + 4 + size;
      e.records = 1;
      e.compression = -1;
    } else {
      if (p + SUBBATCH_HEADER_SIZE > end) return -1;
      e.compression = (b0 >> 4) & 0x07;
      e.records = data.readUInt16BE(p + 1);
      const size = data.readUInt32BE(p + 7);
      e.start = p + SUBBATCH_HEADER_SIZE;
      e.end = e.start + size;
    }
    if (e.end > end) return -1;
    if (fn !== null) fn(e);
    p = e.end;
    n++;
  }
  return n;
}
