/*
 * Records of the metadata store (its change logs and its snapshot), framed like the queue logs:
 *
 *   pos  size  field
 *     0     4  length  u32 LE: bytes after this field (= 5 + payload length)
 *     4     4  crc     u32 LE: CRC-32 of bytes [8, 4 + length): the magic and the payload
 *     8     1  magic   0x4d ('M'), format version 1
 *     9     -  payload UTF-8 JSON
 *
 * A flipped bit anywhere is caught by the CRC (in the length field, by the CRC then covering the
 * wrong range, or by an impossible length). Reading a file:
 *   - a bad or short record followed by at least one good record is damage in the middle: the
 *     bytes up to the next good record are skipped and reported, the rest is read;
 *   - a bad or short record with no good record after it is a torn tail (a write cut short by a
 *     crash): everything from it on is cut off.
 */
import { crc32, readU32, writeU32 } from './record';

const MAGIC = 0x4d;
const FRAME_OVERHEAD = 9;
// Far above any one definition; anything larger is a garbage length.
export const MAX_METADATA_RECORD = 64 * 1024 * 1024;

export function encodeMetadataRecord(payload: string): Buffer {
  const n = Buffer.byteLength(payload, 'utf8');
  const b = Buffer.allocUnsafe(FRAME_OVERHEAD + n);
  writeU32(b, 0, 5 + n);
  b[8] = MAGIC;
  b.write(payload, 9, 'utf8');
  writeU32(b, 4, crc32(b.subarray(8)));
  return b;
}

// End of the good record starting at pos, or -1 when there is none there.
function recordAt(b: Buffer, pos: number): number {
  if (pos + FRAME_OVERHEAD > b.length) return -1;
  if (b[pos + 8] !== MAGIC) return -1;
  const length = readU32(b, pos);
  if (length < 5 || length > MAX_METADATA_RECORD || pos + 4 + length > b.length) return -1;
  const end = pos + 4 + length;
  return crc32(b.subarray(pos + 8, end)) === readU32(b, pos + 4) ? end : -1;
}

export interface ScanResult {
  // Where good data ends: the file's length, or the start of a torn tail.
  end: number;
  // Damaged ranges that were skipped, with good records after them.
  skipped: Array<{ from: number; to: number }>;
}

// Calls onRecord(payload, position) for every good record of b, in order.
export function scanMetadataRecords(b: Buffer, onRecord: (payload: string, pos: number) => void): ScanResult {
  const skipped: ScanResult['skipped'] = [];
  let pos = 0;
  while (pos < b.length) {
    const end = recordAt(b, pos);
    if (end > 0) {
      onRecord(b.toString('utf8', pos + 9, end), pos);
      pos = end;
      continue;
    }
    // Damage or a torn tail: is there a good record further on?
    let next = -1;
    for (let q = b.indexOf(MAGIC, pos + 9) - 8; q >= 0 && q < b.length; q = b.indexOf(MAGIC, q + 9) - 8) {
      if (q > pos && recordAt(b, q) > 0) { next = q; break; }
    }
    if (next < 0) return { end: pos, skipped };
    skipped.push({ from: pos, to: next });
    pos = next;
  }
  return { end: pos, skipped };
}
