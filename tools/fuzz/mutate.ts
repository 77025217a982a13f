// Mutations of a valid conversation, at the frame level: lengths, frame types, channel numbers,
// class/method ids, field-table type tags, frame-end octets, truncated and oversized frames,
// interleaved content, duplicated, dropped and swapped frames, random frames. Applied to copies;
// the input frames are left alone.
import type { Frame } from './conversation';
import type { Rng } from './rng';

const TYPES = [0, 1, 2, 3, 4, 7, 8, 9, 0xce, 255];
const CHANNELS = [0, 1, 2, 3, 15, 16, 17, 2047, 65535];
const TAGS = Buffer.from('tbBsuIiLlfdDFVASTxUm');
// Class/method pairs, real ones (some in the wrong place) and unknown ones.
const METHODS: Array<[number, number]> = [
  [10, 11], [10, 31], [10, 40], [10, 50], [10, 51], [10, 60], [10, 70], [20, 10], [20, 20], [20, 40],
  [40, 10], [40, 20], [50, 10], [50, 20], [50, 30], [50, 40], [60, 10], [60, 20], [60, 30], [60, 40],
  [60, 70], [60, 80], [60, 90], [60, 110], [60, 120], [85, 10], [90, 10], [90, 20], [0, 0], [999, 1], [60, 999], [65535, 65535],
];

export const MUTATIONS = [
  'flip-bytes', 'frame-type', 'channel', 'size-field', 'frame-end', 'class-method', 'truncate', 'oversize', 'table-tag',
  'interleave', 'duplicate', 'drop', 'swap', 'random-frame', 'heartbeat-on-channel', 'short-method', 'protocol-header', 'body-size',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

function randomFrame(r: Rng, type: number, channel: number, size: number): Buffer {
  const b = Buffer.alloc(size + 8);
  b[0] = type;
  b.writeUInt16BE(channel, 1);
  b.writeUInt32BE(size, 3);
  for (let i = 7; i < 7 + size; i++) b[i] = r.int(256);
  b[size + 7] = 0xce;
  return b;
}

// Applies one mutation at a random place; returns its name.
export function mutate(r: Rng, frames: Frame[]): Mutation {
  const m = r.pick(MUTATIONS);
  // Rarely touch the protocol header: most mutations should get past the handshake.
  const lo = r.chance(0.1) ? 0 : Math.min(4, frames.length - 1);
  const i = lo + r.int(Math.max(1, frames.length - lo));
  const f = frames[i];
  const b = Buffer.from(f.bytes);
  const payload = b.length - 8;
  switch (m) {
    case 'flip-bytes':
      for (let k = 1 + r.int(4); k > 0; k--) b[r.int(b.length)] = r.int(256);
      break;
    case 'frame-type':
      b[0] = r.pick(TYPES);
      break;
    case 'channel':
      if (b.length >= 3) b.writeUInt16BE(r.pick(CHANNELS), 1);
      break;
    case 'size-field':
      if (b.length >= 7) b.writeUInt32BE(r.pick([0, Math.max(0, payload - 1), payload + 1, payload + 100, 4096, 131072, 131073, 0x7fffffff, 0xffffffff]), 3);
      break;
    case 'frame-end':
      b[b.length - 1] = r.int(256);
      break;
    case 'class-method':
      if (f.kind === 'method' && b.length >= 11) {
        const [c, mm] = r.pick(METHODS);
        b.writeUInt16BE(c, 7);
        b.writeUInt16BE(mm, 9);
      }
      break;
    case 'truncate':
      frames[i] = { ...f, bytes: b.subarray(0, r.int(b.length)) };
      return m;
    case 'oversize':
      frames[i] = { ...f, bytes: r.bool() ? randomFrame(r, f.kind === 'body' ? 3 : 1, f.channel, r.pick([4089, 131065, 131073, 200000])) : Buffer.concat([b, Buffer.alloc(r.int(300))]) };
      return m;
    case 'table-tag': {
      const at: number[] = [];
      for (let k = 7; k < b.length - 1; k++) if (TAGS.includes(b[k])) at.push(k);
      if (at.length > 0) for (let k = 1 + r.int(3); k > 0; k--) b[r.pick(at)] = r.bool() ? r.pick([...TAGS]) : r.int(256);
      break;
    }
    case 'interleave': {
      // Move a content frame behind a later frame, or put a frame of another channel in between.
      const j = frames.findIndex((x, k) => k >= lo && (x.kind === 'body' || x.kind === 'content-header'));
      if (j >= 0 && j + 1 < frames.length) {
        const [moved] = frames.splice(j, 1);
        frames.splice(j + 1 + r.int(Math.min(3, frames.length - j)), 0, moved);
      } else {
        frames.splice(i, 0, { bytes: randomFrame(r, 3, r.pick(CHANNELS), r.int(50)), kind: 'body', channel: 0 });
      }
      return m;
    }
    case 'duplicate':
      frames.splice(i, 0, f);
      return m;
    case 'drop':
      frames.splice(i, 1);
      return m;
    case 'swap':
      if (i + 1 < frames.length) [frames[i], frames[i + 1]] = [frames[i + 1], frames[i]];
      return m;
    case 'random-frame':
      frames.splice(i, 0, { bytes: randomFrame(r, r.pick(TYPES), r.pick(CHANNELS), r.pick([0, 1, 4, 12, 100, 4000])), kind: 'method', channel: 0 });
      return m;
    case 'heartbeat-on-channel':
      frames.splice(i, 0, { bytes: randomFrame(r, 8, r.pick(CHANNELS), r.pick([0, 0, 3])), kind: 'heartbeat', channel: 0 });
      return m;
    case 'short-method':
      frames.splice(i, 0, { bytes: randomFrame(r, 1, r.pick(CHANNELS), r.int(4)), kind: 'method', channel: 0 });
      return m;
    case 'protocol-header':
      frames.splice(i, 0, { bytes: Buffer.from(r.bool() ? 'AMQP\x00\x00\x09\x01' : 'AMQP\x01\x01\x00\x09'), kind: 'header', channel: 0 });
      return m;
    case 'body-size':
      if (f.kind === 'content-header' && b.length >= 19) {
        b.writeUInt32BE(r.pick([0, 0x7fffffff, 0xffffffff]), 11);
        b.writeUInt32BE(r.pick([0, 1, 0x8000001, 0xffffffff]), 15);
      } else {
        b[r.int(b.length)] ^= 0xff;
      }
      break;
  }
  frames[i] = { ...f, bytes: b };
  return m;
}
