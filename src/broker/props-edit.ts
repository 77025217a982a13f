// Edits raw content-header properties (flag word + property list) without decoding and
// re-encoding what does not change: untouched header entries keep their exact bytes and wire
// types (a byte stays a byte, a float a float), as RabbitMQ keeps them when it adds x-death or
// x-delivery-count. Only the basic class's single flag word is supported (it has 14 properties).
import { encodeTable, type FieldTable } from '../protocol';

const FLAG_HEADERS = 0x2000;
const FLAG_EXPIRATION = 0x0100;

// Property flags in wire order with the shape of each value: s shortstr, t table, o octet,
// T timestamp (u64).
const LAYOUT: ReadonlyArray<readonly [number, 's' | 't' | 'o' | 'T']> = [
  [0x8000, 's'], [0x4000, 's'], [0x2000, 't'], [0x1000, 'o'], [0x0800, 'o'], [0x0400, 's'], [0x0200, 's'],
  [0x0100, 's'], [0x0080, 's'], [0x0040, 'T'], [0x0020, 's'], [0x0010, 's'], [0x0008, 's'], [0x0004, 's'],
];

export interface PropsEdit {
  set?: FieldTable;            // header entries to add or replace; appended after the kept ones
  remove?: readonly string[];  // header entries to remove
  dropExpiration?: boolean;    // remove the expiration property
}

export function editProperties(raw: Buffer, edit: PropsEdit): Buffer {
  if (raw.length < 2) throw new Error('properties too short');
  const flags = raw.readUInt16BE(0);
  if ((flags & 1) !== 0) throw new Error('unexpected second property flag word');
  const setKeys = edit.set ? Object.keys(edit.set) : [];
  const parts: Buffer[] = [Buffer.alloc(2)];
  let newFlags = flags;
  let pos = 2;
  for (const [flag, kind] of LAYOUT) {
    if ((flags & flag) === 0) {
      if (flag === FLAG_HEADERS && setKeys.length > 0) {
        parts.push(encodeTable(edit.set!));
        newFlags |= FLAG_HEADERS;
      }
      continue;
    }
    let end: number;
    switch (kind) {
      case 's': end = pos + 1 + raw[pos]; break;
      case 'o': end = pos + 1; break;
      case 'T': end = pos + 8; break;
      case 't': end = pos + 4 + raw.readUInt32BE(pos); break;
    }
    if (end > raw.length) throw new Error('properties truncated');
    if (flag === FLAG_HEADERS) {
      parts.push(rebuildTable(raw, pos, end, edit, setKeys));
    } else if (flag === FLAG_EXPIRATION && edit.dropExpiration) {
      newFlags &= ~FLAG_EXPIRATION;
    } else {
      parts.push(raw.subarray(pos, end));
    }
    pos = end;
  }
  parts[0].writeUInt16BE(newFlags, 0);
  return Buffer.concat(parts);
}

function rebuildTable(raw: Buffer, start: number, end: number, edit: PropsEdit, setKeys: string[]): Buffer {
  const drop = new Set<string>(setKeys);
  if (edit.remove) for (const k of edit.remove) drop.add(k);
  const kept: Buffer[] = [];
  let size = 0;
  let p = start + 4;
  while (p < end) {
    const keyLen = raw[p];
    const key = raw.toString('utf8', p + 1, p + 1 + keyLen);
    const valueStart = p + 2 + keyLen;
    const valueEnd = valueStart + valueSize(raw, raw[p + 1 + keyLen], valueStart);
    if (valueEnd > end) throw new Error('header table truncated');
    if (!drop.has(key)) {
      kept.push(raw.subarray(p, valueEnd));
      size += valueEnd - p;
    }
    p = valueEnd;
  }
  const added = setKeys.length > 0 ? encodeTable(edit.set!).subarray(4) : null;
  if (added) size += added.length;
  const out = Buffer.allocUnsafe(4 + size);
  out.writeUInt32BE(size, 0);
  let o = 4;
  for (const k of kept) o += k.copy(out, o);
  if (added) added.copy(out, o);
  return out;
}

// Bytes taken by a field value of the given type octet, not counting the type octet.
function valueSize(raw: Buffer, type: number, at: number): number {
  switch (type) {
    case 0x74: case 0x62: case 0x42: return 1;               // t b B
    case 0x73: case 0x75: return 2;                          // s u
    case 0x49: case 0x69: case 0x66: return 4;               // I i f
    case 0x6c: case 0x4c: case 0x64: case 0x54: return 8;    // l L d T
    case 0x44: return 5;                                     // D
    case 0x53: case 0x78: case 0x41: case 0x46: return 4 + raw.readUInt32BE(at); // S x A F
    case 0x56: return 0;                                     // V
    default: throw new Error(`unknown field type 0x${type.toString(16)}`);
  }
}
