import t from 'tap';
import {
  AnyMethod,
  METHOD_INFO,
  METHOD_ID,
  MethodInfo,
  decodeMethod,
  encodeMethodFrame,
  methodKey,
  BASIC_PUBLISH,
  QUEUE_DECLARE,
  CLASS_BASIC,
  FRAME_END,
  FRAME_METHOD,
  AmqpError,
  FieldTable,
  typed,
} from '../../src/protocol';
import { throwsCode, hex } from './fixtures/helpers';

/** Non-default values for each field type; variant changes them so bits take both values. */
function sample(info: MethodInfo, variant: number): AnyMethod {
  const m: Record<string, unknown> = { name: info.name };
  info.fields.forEach((f, i) => {
    switch (f.type) {
      case 'bit':
        m[f.name] = variant === 0 ? true : variant === 1 ? i % 2 === 0 : i % 2 === 1;
        break;
      case 'octet':
        m[f.name] = 200 + variant;
        break;
      case 'short':
        m[f.name] = 0xbeef - variant;
        break;
      case 'long':
        m[f.name] = 0xdeadbeef - variant;
        break;
      case 'longlong':
      case 'timestamp':
        m[f.name] = variant === 0 ? Number.MAX_SAFE_INTEGER : 0x100000001 + variant;
        break;
      case 'shortstr':
        m[f.name] = variant === 2 ? 'é'.repeat(127) : `${f.name}-${variant}-ü`;
        break;
      case 'longstr':
        m[f.name] = Buffer.from([0, 0xff, variant, 0x0a, 0xce]);
        break;
      case 'table':
        m[f.name] = { 'x-match': 'all', n: variant, nested: { deep: [1, 'a'] } } as FieldTable;
        break;
      default:
        throw new Error(`unexpected field type ${f.type}`);
    }
  });
  return m as unknown as AnyMethod;
}

t.test('METHOD_INFO / METHOD_ID cover every method of every class in the spec', async (t) => {
  const names = [...METHOD_INFO.values()].map((i) => i.name);
  t.equal(names.length, 60, 'method count (60 <method> elements in the XML)');
  for (const info of METHOD_INFO.values()) {
    t.equal(METHOD_ID[info.name], methodKey(info.classId, info.methodId), info.name);
    t.equal(METHOD_INFO.get(methodKey(info.classId, info.methodId)), info);
  }
  const classes = new Set([...METHOD_INFO.values()].map((i) => i.name.split('.')[0]));
  t.same([...classes].sort(), ['basic', 'channel', 'confirm', 'connection', 'exchange', 'queue', 'tx']);
  t.equal(methodKey(60, 40), BASIC_PUBLISH);
  t.equal(BASIC_PUBLISH, (CLASS_BASIC << 16) | 40);
  t.ok(METHOD_INFO.get(BASIC_PUBLISH)?.hasContent);
  t.notOk(METHOD_INFO.get(BASIC_PUBLISH)?.synchronous);
  t.ok(METHOD_INFO.get(QUEUE_DECLARE)?.synchronous);
  t.same(METHOD_INFO.get(methodKey(60, 70))?.responses, ['basic.get-ok', 'basic.get-empty']);
});

t.test('every method round-trips with non-default values', async (t) => {
  for (const info of METHOD_INFO.values()) {
    for (let variant = 0; variant < 3; variant++) {
      const m = sample(info, variant);
      const frame = encodeMethodFrame(7, m);
      t.equal(frame[0], FRAME_METHOD, `${info.name}: type`);
      t.equal(frame.readUInt16BE(1), 7, `${info.name}: channel`);
      t.equal(frame.readUInt32BE(3), frame.length - 8, `${info.name}: size`);
      t.equal(frame[frame.length - 1], FRAME_END, `${info.name}: frame-end`);
      t.equal(frame.readUInt16BE(7), info.classId);
      t.equal(frame.readUInt16BE(9), info.methodId);
      const back = decodeMethod(frame.subarray(7, frame.length - 1));
      t.same(back, m, `${info.name} variant ${variant}`);
      t.same(Object.keys(back).sort(), Object.keys(m).sort(), `${info.name}: no extra keys`);
    }
  }
});

t.test('bit packing: queue.declare has 5 bits in one octet, LSB first', async (t) => {
  const base = { name: 'queue.declare' as const, queue: 'q', passive: false, durable: false, exclusive: false, autoDelete: false, noWait: false, arguments: {} };
  const bitsOf = (m: AnyMethod) => {
    const f = encodeMethodFrame(1, m);
    // 7 header + 4 ids + 2 ticket + 2 shortstr 'q' -> bits octet at 15
    return f[15];
  };
  t.equal(bitsOf(base), 0);
  t.equal(bitsOf({ ...base, passive: true }), 0x01);
  t.equal(bitsOf({ ...base, durable: true }), 0x02);
  t.equal(bitsOf({ ...base, exclusive: true }), 0x04);
  t.equal(bitsOf({ ...base, autoDelete: true }), 0x08);
  t.equal(bitsOf({ ...base, noWait: true }), 0x10);
  t.equal(bitsOf({ ...base, passive: true, durable: true, exclusive: true, autoDelete: true, noWait: true }), 0x1f);
  // every combination decodes back
  for (let mask = 0; mask < 32; mask++) {
    const m = { ...base, passive: !!(mask & 1), durable: !!(mask & 2), exclusive: !!(mask & 4), autoDelete: !!(mask & 8), noWait: !!(mask & 16) };
    const f = encodeMethodFrame(1, m);
    t.equal(f[15], mask);
    t.same(decodeMethod(f.subarray(7, -1)), m);
  }
});

t.test('basic.publish bytes, written out by hand', async (t) => {
  const f = encodeMethodFrame(1, { name: 'basic.publish', exchange: 'ex', routingKey: 'rk', mandatory: true, immediate: false });
  t.equal(f.toString('hex'), hex('01 0001 0000000d 003c 0028 0000 02 6578 02 726b 01 ce').toString('hex'));
  // a client's frame with ticket != 0 still decodes (reserved fields are skipped)
  const fromClient = hex('003c 0028 0005 00 01 71 03');
  t.same(decodeMethod(fromClient), { name: 'basic.publish', exchange: '', routingKey: 'q', mandatory: true, immediate: true });
});

t.test('connection.open: reserved shortstr and reserved bit are written as zero and skipped', async (t) => {
  const f = encodeMethodFrame(0, { name: 'connection.open', virtualHost: '/' });
  t.equal(f.toString('hex'), hex('01 0000 00000008 000a 0028 01 2f 00 00 ce').toString('hex'));
  // pika/amqplib send capabilities='' and insist=false; older clients may send insist=true
  t.same(decodeMethod(hex('000a 0028 01 2f 03 616263 01')), { name: 'connection.open', virtualHost: '/' });
});

t.test('connection.start-ok SASL response is binary-safe', async (t) => {
  const response = Buffer.from('\u0000guest\u0000guest', 'latin1');
  const m: AnyMethod = { name: 'connection.start-ok', clientProperties: { product: 'x', capabilities: { publisher_confirms: true } }, mechanism: 'PLAIN', response, locale: 'en_US' };
  const back = decodeMethod(encodeMethodFrame(0, m).subarray(7, -1));
  t.same(back, m);
  t.ok(Buffer.isBuffer((back as { response: Buffer }).response));
});

t.test('close reply-text longer than 255 bytes is truncated at a character boundary', async (t) => {
  const text = "NOT_FOUND - no queue '" + 'é'.repeat(200) + "'";
  const f = encodeMethodFrame(1, { name: 'channel.close', replyCode: 404, replyText: text, classId: 50, methodId: 10 });
  const back = decodeMethod(f.subarray(7, -1)) as { replyText: string };
  t.ok(Buffer.byteLength(back.replyText) <= 255);
  t.ok(text.startsWith(back.replyText));
  t.notOk(back.replyText.includes('\ufffd'));
});

t.test('other shortstrs longer than 255 bytes are refused when encoding', async (t) => {
  t.throws(() => encodeMethodFrame(1, { name: 'queue.declare-ok', queue: 'q'.repeat(256), messageCount: 0, consumerCount: 0 }), RangeError);
});

t.test('integer fields are range-checked when encoding', async (t) => {
  t.throws(() => encodeMethodFrame(0, { name: 'connection.tune', channelMax: 70000, frameMax: 0, heartbeat: 0 }));
  t.throws(() => encodeMethodFrame(1, { name: 'basic.ack', deliveryTag: -1, multiple: false }));
});

t.test('truncated, trailing and garbage payloads throw 502 with the method ids', async (t) => {
  for (const info of METHOD_INFO.values()) {
    const payload = encodeMethodFrame(3, sample(info, 1)).subarray(7, -1);
    for (let cut = 4; cut < payload.length; cut++) {
      const e = throwsCode(t, () => decodeMethod(payload.subarray(0, cut)), 502, `${info.name} cut at ${cut}`);
      if (e && (e.classId !== info.classId || e.methodId !== info.methodId)) t.fail(`${info.name}: error carries ${e.classId}.${e.methodId}`);
    }
    throwsCode(t, () => decodeMethod(Buffer.concat([payload, Buffer.from([0])])), 502, `${info.name} + trailing byte`, /trailing/);
  }
  throwsCode(t, () => decodeMethod(hex('003c')), 502, 'payload shorter than the ids');
  throwsCode(t, () => decodeMethod(Buffer.alloc(0)), 502, 'empty payload');
  // a bad table inside a method is reported with the method
  const e = throwsCode(t, () => decodeMethod(hex('0032 000a 0000 01 71 00 00000003 01 61 5a')), 502, 'bad table in queue.declare', /queue\.declare/);
  t.equal(e?.classId, 50);
  t.equal(e?.methodId, 10);
});

t.test('unknown class or method throws 540 naming it', async (t) => {
  const e1 = throwsCode(t, () => decodeMethod(hex('0063 000a')), 540, 'unknown class', /unknown class 99/);
  t.equal(e1?.classId, 99);
  const e2 = throwsCode(t, () => decodeMethod(hex('003c 03e7')), 540, 'unknown method', /unknown method 999 of class basic/);
  t.equal(e2?.methodId, 999);
  t.ok(e2 instanceof AmqpError && e2.hard);
});

t.test('confirm.select keeps its XML field name (nowait)', async (t) => {
  const m: AnyMethod = { name: 'confirm.select', nowait: true };
  t.same(decodeMethod(encodeMethodFrame(1, m).subarray(7, -1)), m);
});

t.test('typed values survive inside method tables', async (t) => {
  const m: AnyMethod = { name: 'queue.declare', queue: 'q', passive: false, durable: true, exclusive: false, autoDelete: false, noWait: false, arguments: { 'x-max-priority': typed('b', 10), 'x-message-ttl': typed('l', 1000) } };
  const f = encodeMethodFrame(1, m);
  t.same((decodeMethod(f.subarray(7, -1)) as { arguments: FieldTable }).arguments, { 'x-max-priority': 10, 'x-message-ttl': 1000 });
});
