import t from 'tap';
import {
  FrameReader,
  encodeMethodFrame,
  encodeContentHeaderFrame,
  encodeBodyFrames,
  encodeProperties,
  encodeFrame,
  HEARTBEAT_FRAME,
  checkProtocolHeader,
  PROTOCOL_HEADER,
  FRAME_METHOD,
  FRAME_HEADER,
  FRAME_BODY,
  FRAME_HEARTBEAT,
} from '../../src/protocol';
import { throwsCode, hex } from './fixtures/helpers';

type Frame = [number, number, string];

function stream(): Buffer {
  return Buffer.concat([
    encodeMethodFrame(1, { name: 'basic.publish', exchange: 'amq.direct', routingKey: 'k', mandatory: false, immediate: false }),
    encodeContentHeaderFrame(1, 60, 10, encodeProperties({ contentType: 'text/plain', deliveryMode: 2 })),
    encodeBodyFrames(1, Buffer.from('0123456789'), 13), // two 5-byte body frames
    HEARTBEAT_FRAME,
    encodeMethodFrame(2, { name: 'basic.ack', deliveryTag: 5, multiple: true }),
    encodeFrame(FRAME_BODY, 3, Buffer.alloc(0)), // empty body frame is legal
  ]);
}

function collect(chunks: Buffer[], max = 4096): Frame[] {
  const r = new FrameReader(max);
  const out: Frame[] = [];
  for (const c of chunks) r.push(c, (type, ch, payload) => out.push([type, ch, payload.toString('hex')]));
  t.equal(r.pendingBytes, 0);
  return out;
}

t.test('frames of a multi-frame stream', async (t) => {
  const s = stream();
  const frames = collect([s]);
  t.equal(frames.length, 7);
  t.same(frames.map((f) => f[0]), [FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_BODY, FRAME_HEARTBEAT, FRAME_METHOD, FRAME_BODY]);
  t.same(frames.map((f) => f[1]), [1, 1, 1, 1, 0, 2, 3]);
  t.equal(Buffer.from(frames[2][2] + frames[3][2], 'hex').toString(), '0123456789');
});

t.test('split at every byte boundary gives the same frames', async (t) => {
  const s = stream();
  const whole = collect([s]);
  for (let i = 0; i <= s.length; i++) {
    t.same(collect([s.subarray(0, i), s.subarray(i)]), whole, `split at ${i}`);
  }
  // three pieces, every pair of cut points
  for (let i = 1; i < s.length; i += 3) {
    for (let j = i; j <= s.length; j += 5) {
      t.same(collect([s.subarray(0, i), s.subarray(i, j), s.subarray(j)]), whole, `split at ${i}, ${j}`);
    }
  }
  // one byte at a time
  const bytes: Buffer[] = [];
  for (let i = 0; i < s.length; i++) bytes.push(s.subarray(i, i + 1));
  t.same(collect(bytes), whole, 'byte by byte');
});

t.test('zero-copy: a frame inside a chunk is a subarray of it', async (t) => {
  const s = Buffer.from(stream()); // own copy so we can scribble on it
  const r = new FrameReader(4096);
  const payloads: Buffer[] = [];
  r.push(s, (_t, _c, p) => payloads.push(p));
  for (const p of payloads) {
    t.equal(p.buffer, s.buffer);
    t.ok(p.byteOffset >= s.byteOffset && p.byteOffset + p.length <= s.byteOffset + s.length);
  }
  s[7] = 0x99; // first payload byte
  t.equal(payloads[0][0], 0x99, 'aliases the chunk');
  // a split frame is assembled into its own buffer
  const s2 = Buffer.from(stream());
  const r2 = new FrameReader(4096);
  const got: Buffer[] = [];
  const a = s2.subarray(0, 15);
  r2.push(a, (_t, _c, p) => got.push(p));
  t.equal(got.length, 0);
  r2.push(s2.subarray(15), (_t, _c, p) => got.push(p));
  const before = got[0].toString('hex');
  const size = s2.readUInt32BE(3);
  a.fill(0);
  t.equal(got[0].toString('hex'), before, 'does not alias the first chunk');
  t.equal(got[0].length, size);
});

t.test('bad frame-end', async (t) => {
  const f = Buffer.from(HEARTBEAT_FRAME);
  f[7] = 0;
  throwsCode(t, () => new FrameReader(4096).push(f, () => {}), 501, 'in one chunk', /frame end/);
  throwsCode(t, () => {
    const r = new FrameReader(4096);
    r.push(f.subarray(0, 3), () => {});
    r.push(f.subarray(3), () => {});
  }, 501, 'split header');
  const m = encodeMethodFrame(1, { name: 'basic.ack', deliveryTag: 1, multiple: false });
  m[m.length - 1] = 0xcd;
  throwsCode(t, () => {
    const r = new FrameReader(4096);
    r.push(m.subarray(0, 12), () => {});
    r.push(m.subarray(12), () => {});
  }, 501, 'split payload', /0xcd/);
});

t.test('oversized frame', async (t) => {
  const ok = encodeFrame(FRAME_BODY, 1, Buffer.alloc(4096 - 8));
  t.same(collect([ok]).length, 1, 'exactly frame_max is fine');
  const big = encodeFrame(FRAME_BODY, 1, Buffer.alloc(4096 - 7));
  throwsCode(t, () => new FrameReader(4096).push(big, () => {}), 501, 'one byte over', /frame too large.*4089-byte payload.*frame_max is 4096/);
  // detected from the header alone, before the payload arrives
  throwsCode(t, () => new FrameReader(4096).push(big.subarray(0, 7), () => {}), 501, 'from the header');
  // setMaxFrameSize after tune
  const r = new FrameReader(4096);
  r.setMaxFrameSize(131072);
  let n = 0;
  r.push(big, () => n++);
  t.equal(n, 1);
  // 0 = no limit
  const r0 = new FrameReader(0);
  r0.push(encodeFrame(FRAME_BODY, 1, Buffer.alloc(200000)), () => n++);
  t.equal(n, 2);
});

t.test('unknown frame type', async (t) => {
  throwsCode(t, () => new FrameReader(4096).push(hex('04 0000 00000000 ce'), () => {}), 501, 'type 4', /unknown frame type 4/);
});

t.test('a failed reader stays failed', async (t) => {
  const r = new FrameReader(4096);
  throwsCode(t, () => r.push(hex('09 0000 00000000 ce'), () => {}), 501, 'first');
  throwsCode(t, () => r.push(HEARTBEAT_FRAME, () => {}), 501, 'again');
});

t.test('protocol header', async (t) => {
  t.equal(PROTOCOL_HEADER.toString('hex'), '414d515000000901');
  t.equal(checkProtocolHeader(PROTOCOL_HEADER), 'ok');
  t.equal(checkProtocolHeader(Buffer.concat([PROTOCOL_HEADER, Buffer.from([1])])), 'ok');
  t.equal(checkProtocolHeader(PROTOCOL_HEADER.subarray(0, 5)), 'need-more');
  t.equal(checkProtocolHeader(Buffer.alloc(0)), 'need-more');
  t.equal(checkProtocolHeader(Buffer.from('AMQP\x01\x01\x00\x09', 'latin1')), 'mismatch');
  t.equal(checkProtocolHeader(Buffer.from('AMQP\x00\x00\x09\x00', 'latin1')), 'mismatch');
  t.equal(checkProtocolHeader(Buffer.from('GET')), 'mismatch', 'early mismatch');
});
