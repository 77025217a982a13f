import t from 'tap';
import * as zlib from 'zlib';
import CRC32 from 'crc-32';
import {
  HEADER_SIZE,
  checkFrame,
  crc32,
  crc32IsNative,
  crc32Js,
  crc32Simd,
  decodeFrame,
  encodeInto,
  frameSize,
  readU64,
  writeU64,
} from '../../src/store/record';
import { prng } from '../fixtures/store-helpers';

t.test('@node-rs/crc32, zlib.crc32 and the crc-32 package compute the same CRC, also chained', (t) => {
  t.ok(crc32IsNative, 'a native CRC is available');
  t.ok(crc32Simd, '@node-rs/crc32 loaded (prebuilt for this platform)');
  const simd = crc32Simd!;
  const r = prng(42);
  for (const size of [0, 1, 3, 15, 16, 17, 255, 256, 257, 1000, 4096, 65536, 100_003]) {
    const b = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) b[i] = Math.floor(r() * 256);
    const js = CRC32.buf(b) >>> 0;
    t.equal(zlib.crc32(b), js, `zlib == crc-32 for ${size} bytes`);
    t.equal(crc32(b), js, `crc32() == crc-32 for ${size} bytes`);
    const cut = size >> 1;
    const chained = crc32(b.subarray(cut), crc32(b.subarray(0, cut)));
    t.equal(chained, js, `chained crc32 for ${size} bytes`);
    t.equal(zlib.crc32(b.subarray(cut), CRC32.buf(b.subarray(0, cut)) >>> 0), js, `mixed chaining for ${size} bytes`);
    t.equal(crc32Js(b.subarray(cut), zlib.crc32(b.subarray(0, cut))), js, `mixed chaining (other way) for ${size} bytes`);
    t.equal(simd(b), js, `@node-rs/crc32 == crc-32 for ${size} bytes`);
    t.equal(simd(b.subarray(cut), crc32Js(b.subarray(0, cut))), js, `@node-rs/crc32 chained after crc-32 for ${size} bytes`);
    t.equal(crc32Js(b.subarray(cut), simd(b.subarray(0, cut))), js, `crc-32 chained after @node-rs/crc32 for ${size} bytes`);
  }
  t.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'IEEE check value');
  t.end();
});

t.test('u64 fields round-trip up to 2^53', (t) => {
  const b = Buffer.alloc(8);
  for (const v of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 1_700_000_000_123, Number.MAX_SAFE_INTEGER]) {
    writeU64(b, 0, v);
    t.equal(readU64(b, 0), v);
    t.equal(b.readBigUInt64LE(0), BigInt(v), 'little-endian u64 layout');
  }
  t.end();
});

for (const [what, text] of [['small record (JS CRC over the pieces)', 'hello body'], ['large record (one native CRC call)', 'hello body '.repeat(100)]]) t.test(`encode / decode round trip and layout: ${what}`, (t) => {
  const buf = Buffer.alloc(4096);
  const props = Buffer.from([1, 2, 3]);
  const body = Buffer.from(text);
  const env = Buffer.from([0x91, 0xa1, 0x78]); // msgpack ["x"]
  const size = encodeInto(buf, 100, 2 ** 40 + 5, 1_700_000_000_000, 0xbeef, env, props, body);
  t.equal(size, HEADER_SIZE + env.length + props.length + body.length);
  t.equal(frameSize(buf, 100), size);
  t.equal(buf.readUInt32LE(100), size - 4, 'length field');
  t.equal(buf.readUInt32LE(104), CRC32.buf(buf.subarray(108, 100 + size)) >>> 0, 'CRC over the rest');
  t.equal(buf.readUInt16LE(124), 0xbeef, 'flags at 24');
  t.equal(checkFrame(buf, 100, size), null);
  const rec = decodeFrame(buf, 100, size);
  t.equal(rec.offset, 2 ** 40 + 5);
  t.equal(rec.timestamp, 1_700_000_000_000);
  t.equal(rec.flags, 0xbeef);
  t.same(rec.envelope, ['x']);
  t.same([...rec.props], [1, 2, 3]);
  t.equal(rec.body.toString(), text);
  t.equal(rec.size, size);
  // decoded buffers do not alias the read buffer
  buf.fill(0);
  t.equal(rec.body.toString(), text);
  t.end();
});

t.test('every single-bit flip in a frame is detected', (t) => {
  const buf = Buffer.alloc(256);
  const size = encodeInto(buf, 0, 7, 123, 1, undefined, Buffer.from('pp'), Buffer.from('some body bytes'));
  let undetected = 0;
  for (let byte = 0; byte < size; byte++) {
    for (let bit = 0; bit < 8; bit++) {
      buf[byte] ^= 1 << bit;
      const fs = frameSize(buf, 0);
      const ok = fs === size && checkFrame(buf, 0, fs) === null;
      if (ok) undetected++;
      buf[byte] ^= 1 << bit;
    }
  }
  t.equal(undetected, 0, 'no flipped bit passes the checks');
  t.equal(checkFrame(buf, 0, size), null, 'restored frame is good');
  t.end();
});
