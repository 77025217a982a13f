// The Bloom filter of a stream chunk's filter values (x-stream-filter-value, Stream protocol
// publish v2): a reader with a filter skips a chunk whose filter cannot hold any of its values,
// without reading it (the filter sits in the chunk index). Entries without a value count as the
// empty string, as Osiris does, so "match unfiltered" is a lookup of "". Three bit positions per
// value from two 32-bit hashes (double hashing); false positives are removed by the exact match.

export const DEFAULT_FILTER_SIZE = 16;
export const MIN_FILTER_SIZE = 16;
export const MAX_FILTER_SIZE = 255;
const K = 3;

function hashes(s: string): [number, number] {
  // FNV-1a and a multiplicative mix over the UTF-16 code units: stable across restarts
  let h1 = 0x811c9dc5;
  let h2 = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    h2 ^= h2 >>> 15;
  }
  h1 ^= h1 >>> 13;
  h2 = Math.imul(h2, 0x27d4eb2d) | 1;
  return [h1 >>> 0, h2 >>> 0];
}

export function bloomAdd(bloom: Uint8Array, value: string): void {
  const bits = bloom.length * 8;
  const [h1, h2] = hashes(value);
  for (let i = 0; i < K; i++) {
    const b = (h1 + i * h2) % bits;
    bloom[b >>> 3] |= 1 << (b & 7);
  }
}

export function bloomHas(bloom: Uint8Array, value: string): boolean {
  const bits = bloom.length * 8;
  if (bits === 0) return true;
  const [h1, h2] = hashes(value);
  for (let i = 0; i < K; i++) {
    const b = (h1 + i * h2) % bits;
    if ((bloom[b >>> 3] & (1 << (b & 7))) === 0) return false;
  }
  return true;
}

/** What a filtered reader wants: any of `values`, and entries without a value if `unfiltered`. */
export interface StreamFilter {
  values: string[];
  matchUnfiltered: boolean;
}

export function bloomMatches(bloom: Uint8Array, f: StreamFilter): boolean {
  for (const v of f.values) if (bloomHas(bloom, v)) return true;
  return f.matchUnfiltered && bloomHas(bloom, '');
}
