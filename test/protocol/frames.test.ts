import t from 'tap';
import {
  writeBasicDeliver,
  DeliveryNames,
  encodeShortstr,
  basicDeliverSize,
  writeBasicGetOk,
  basicGetOkSize,
  writeBasicAck,
  writeBasicNack,
  BASIC_ACK_FRAME_SIZE,
  writeContentHeader,
  contentHeaderSize,
  writeBodyFrames,
  bodyFramesSize,
  writeDelivery,
  ZERO_COPY_THRESHOLD,
  type FrameSink,
  encodeMethodFrame,
  encodeProperties,
  decodeContentHeader,
  decodeProperties,
  FrameReader,
  HEARTBEAT_FRAME,
  FRAME_BODY,
  FRAME_METHOD,
  FRAME_HEADER,
  decodeMethod,
} from '../../src/protocol';
import { throwsCode } from './fixtures/helpers';

function at(size: number, write: (buf: Buffer, off: number) => number): Buffer {
  // write at an offset into a dirty buffer, check the returned offset and that nothing else moved
  const buf = Buffer.alloc(size + 10, 0xaa);
  const end = write(buf, 5);
  t.equal(end, 5 + size, 'returned offset = off + size');
  t.equal(buf.subarray(0, 5).toString('hex'), 'aaaaaaaaaa');
  t.equal(buf.subarray(end).toString('hex'), 'aaaaaaaaaa');
  return buf.subarray(5, end);
}

t.test('writeBasicDeliver = generated encoder', async (t) => {
  const cases: [string, number, boolean, string, string][] = [
    ['ctag', 1, false, '', 'q'],
    ['amq.ctag-ÄÖ', 2 ** 32 + 5, true, 'amq.topic', 'a.b.c'],
    ['c'.repeat(255), Number.MAX_SAFE_INTEGER, true, 'e'.repeat(255), 'é'.repeat(127)],
  ];
  for (const [tag, dt, red, ex, rk] of cases) {
    const names = new DeliveryNames();
    names.set(ex, rk);
    const tagBytes = encodeShortstr(tag);
    const size = basicDeliverSize(tagBytes, names);
    const got = at(size, (b, o) => writeBasicDeliver(b, o, 9, tagBytes, dt, red, names));
    const want = encodeMethodFrame(9, { name: 'basic.deliver', consumerTag: tag, deliveryTag: dt, redelivered: red, exchange: ex, routingKey: rk });
    t.equal(got.toString('hex'), want.toString('hex'));
  }
});

t.test('writeBasicGetOk = generated encoder', async (t) => {
  for (const [dt, red, ex, rk, mc] of [[1, false, '', 'q', 0], [2 ** 40, true, 'x', 'ünï', 4294967295]] as [number, boolean, string, string, number][]) {
    const got = at(basicGetOkSize(ex, rk), (b, o) => writeBasicGetOk(b, o, 65535, dt, red, ex, rk, mc));
    const want = encodeMethodFrame(65535, { name: 'basic.get-ok', deliveryTag: dt, redelivered: red, exchange: ex, routingKey: rk, messageCount: mc });
    t.equal(got.toString('hex'), want.toString('hex'));
  }
});

t.test('writeBasicAck / writeBasicNack = generated encoder', async (t) => {
  for (const dt of [0, 1, 2 ** 32, 2 ** 53 - 1]) {
    for (const multiple of [false, true]) {
      t.equal(
        at(BASIC_ACK_FRAME_SIZE, (b, o) => writeBasicAck(b, o, 3, dt, multiple)).toString('hex'),
        encodeMethodFrame(3, { name: 'basic.ack', deliveryTag: dt, multiple }).toString('hex'),
      );
      for (const requeue of [false, true]) {
        t.equal(
          at(BASIC_ACK_FRAME_SIZE, (b, o) => writeBasicNack(b, o, 3, dt, multiple, requeue)).toString('hex'),
          encodeMethodFrame(3, { name: 'basic.nack', deliveryTag: dt, multiple, requeue }).toString('hex'),
        );
      }
    }
  }
});

t.test('writeContentHeader carries the raw property bytes', async (t) => {
  const raw = encodeProperties({ contentType: 'application/json', headers: { a: 1 }, deliveryMode: 2 });
  for (const bodySize of [0, 16, 2 ** 33]) {
    const f = at(contentHeaderSize(raw), (b, o) => writeContentHeader(b, o, 4, 60, bodySize, raw));
    t.equal(f[0], 2);
    t.equal(f.readUInt16BE(1), 4);
    t.equal(f.readUInt32BE(3), f.length - 8);
    t.equal(f[f.length - 1], 0xce);
    const h = decodeContentHeader(f.subarray(7, -1));
    t.equal(h.classId, 60);
    t.equal(h.weight, 0);
    t.equal(h.bodySize, bodySize);
    t.same(h.rawProps, raw);
    t.same(decodeProperties(h.rawProps), { contentType: 'application/json', headers: { a: 1 }, deliveryMode: 2 });
  }
});

t.test('writeBodyFrames splits at frameMax edges', async (t) => {
  const frameMax = 4096;
  const p = frameMax - 8;
  for (const len of [0, 1, p - 1, p, p + 1, 2 * p - 1, 2 * p, 2 * p + 1, 5 * p + 3]) {
    const body = Buffer.alloc(len);
    for (let i = 0; i < len; i++) body[i] = (i * 7) & 0xff;
    const size = bodyFramesSize(len, frameMax);
    const out = at(size, (b, o) => writeBodyFrames(b, o, 6, body, frameMax));
    const frames: Buffer[] = [];
    new FrameReader(frameMax).push(out, (type, ch, payload) => {
      t.equal(type, FRAME_BODY);
      t.equal(ch, 6);
      frames.push(Buffer.from(payload));
    });
    t.equal(frames.length, Math.ceil(len / p), `len ${len}: frame count`);
    for (const f of frames.slice(0, -1)) t.equal(f.length, p, 'full frames carry frameMax - 8 bytes');
    for (const f of frames) t.ok(f.length + 8 <= frameMax);
    t.same(Buffer.concat(frames), body, `len ${len}: reassembles`);
  }
  // frameMax 0 = unlimited: one frame
  const big = Buffer.alloc(100000, 1);
  t.equal(bodyFramesSize(big.length, 0), big.length + 8);
  t.throws(() => bodyFramesSize(10, 8), RangeError);
});

// A FrameSink that collects what is committed and what is handed over without a copy, in order.
function collectingSink(): { sink: FrameSink; bytes(): Buffer; zeroCopies: number } {
  let buf = Buffer.alloc(0);
  const parts: Buffer[] = [];
  const state = { zeroCopies: 0 };
  let pos = 0;
  let committed = 0;
  const sink: FrameSink = {
    reserve(n: number) {
      if (buf.length - pos < n) {
        parts.push(buf.subarray(committed, pos));
        buf = Buffer.alloc(n + 1024);
        pos = 0;
        committed = 0;
      }
      return buf;
    },
    get pos() { return pos; },
    commit(p: number) { pos = p; },
    writeZeroCopy(slice: Buffer) {
      parts.push(buf.subarray(committed, pos));
      committed = pos;
      parts.push(slice);
      state.zeroCopies++;
    },
  };
  return { sink, bytes: () => Buffer.concat([...parts, buf.subarray(committed, pos)]), get zeroCopies() { return state.zeroCopies; } };
}

t.test('writeDelivery = deliver + header + body frames, copied or zero-copy', async (t) => {
  const raw = encodeProperties({ deliveryMode: 1 });
  for (const len of [9000, ZERO_COPY_THRESHOLD + 10]) {
    const body = Buffer.alloc(len, 7);
    const c = collectingSink();
    writeDelivery(c.sink, 1, encodeShortstr('ct'), 42, true, new DeliveryNames(), 'ex', 'rk', raw, body, 4096);
    const frames: Array<[number, Buffer]> = [];
    new FrameReader(4096).push(c.bytes(), (type, _ch, payload) => frames.push([type, Buffer.from(payload)]));
    t.equal(frames[0][0], FRAME_METHOD);
    t.same(decodeMethod(frames[0][1]), { name: 'basic.deliver', consumerTag: 'ct', deliveryTag: 42, redelivered: true, exchange: 'ex', routingKey: 'rk' });
    t.equal(frames[1][0], FRAME_HEADER);
    t.same(Buffer.concat(frames.slice(2).map((f) => f[1])), body, `${len} bytes reassemble`);
    t.equal(c.zeroCopies > 0, len >= ZERO_COPY_THRESHOLD, 'large bodies are not copied');
  }
});

t.test('writeDelivery of a routing key longer than a shortstr throws and writes nothing', async (t) => {
  const c = collectingSink();
  const names = new DeliveryNames();
  const deliver = (rk: string) => writeDelivery(c.sink, 1, encodeShortstr('ct'), 1, false, names, 'ex', rk, Buffer.alloc(2), Buffer.from('x'), 4096);
  t.throws(() => deliver('k'.repeat(300)));
  t.equal(c.bytes().length, 0);
  // the pair that did not fit is not kept: the same names fail again, a good pair is encoded afresh
  t.throws(() => deliver('k'.repeat(300)));
  deliver('k'.repeat(200));
  deliver('k');
  // a routing key over 255 bytes behind the longest exchange is refused, not cut to fit
  const names2 = new DeliveryNames();
  t.throws(() => names2.set('x'.repeat(255), 'é'.repeat(200)), RangeError);
  t.throws(() => names2.set('x'.repeat(255), 'k'.repeat(256)), RangeError);
  names2.set('x'.repeat(255), 'k'.repeat(255));
  t.equal(names2.length, 512);
  const frames: Buffer[] = [];
  new FrameReader(4096).push(c.bytes(), (type, _ch, payload) => { if (type === FRAME_METHOD) frames.push(Buffer.from(payload)); });
  t.same(frames.map((f) => (decodeMethod(f) as { routingKey: string }).routingKey), ['k'.repeat(200), 'k']);
});

t.test('DeliveryNames: consecutive deliveries with other names, equal names in other strings', async (t) => {
  const names = new DeliveryNames();
  const decoded = (): string[] => {
    const b = names.bytes;
    const xl = b[0];
    return [b.toString('utf8', 1, 1 + xl), b.toString('utf8', 2 + xl, 2 + xl + b[1 + xl])];
  };
  for (const [ex, rk] of [['', 'q'], ['amq.topic', 'a.b'], ['amq.topic', 'a.b'], ['ünï', ''], [['amq', 'topic'].join('.'), 'a.b'.slice(0)]]) {
    names.set(ex, rk);
    t.same(decoded(), [ex, rk]);
    t.equal(names.length, 2 + Buffer.byteLength(ex) + Buffer.byteLength(rk));
  }
});

t.test('decodeContentHeader rejects short payloads', async (t) => {
  throwsCode(t, () => decodeContentHeader(Buffer.alloc(13)), 502, 'short header');
});

t.test('heartbeat frame bytes', async (t) => {
  t.equal(HEARTBEAT_FRAME.toString('hex'), '08000000000000ce');
});
