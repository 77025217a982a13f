// AMQP 1.0 values, message sections, and the 0-9-1 <-> 1.0 conversion of stream queues.
import t from 'tap';
import {
  type Amqp10Value, Amqp10Writer, amqp091To10, amqp10To091, decodeMapSection, decodePropertiesSection,
  decodeValue, encodeMessage, encodeValue, scanSections, SectionCode, str, sym,
} from '../../src/protocol/amqp10';
import { encodeProperties, typed, decimal, type BasicProperties } from '../../src/protocol';

const v = (type: string, value: unknown): Amqp10Value => ({ type, value } as Amqp10Value);

t.test('every type round-trips, in its compact form where it has one', async (t) => {
  const cases: Array<[Amqp10Value, string]> = [
    [v('null', null), '40'],
    [v('boolean', true), '41'],
    [v('boolean', false), '42'],
    [v('ubyte', 200), '50c8'],
    [v('ushort', 65535), '60ffff'],
    [v('uint', 0), '43'],
    [v('uint', 7), '5207'],
    [v('uint', 70000), '7000011170'],
    [v('ulong', 0), '44'],
    [v('ulong', 255), '53ff'],
    [v('ulong', 2 ** 40), '800000010000000000'],
    [v('ulong', 2n ** 64n - 1n), '80ffffffffffffffff'],
    [v('byte', -5), '51fb'],
    [v('short', -2), '61fffe'],
    [v('int', -1), '54ff'],
    [v('int', 100000), '71000186a0'],
    [v('long', 5), '5505'],
    [v('long', -(2 ** 40)), '81ffffff0000000000'],
    [v('long', -(2n ** 63n)), '818000000000000000'],
    [v('float', 1.5), '723fc00000'],
    [v('double', -0.25), '82bfd0000000000000'],
    [v('char', 0x1f600), '730001f600'],
    [v('timestamp', 1700000000123), '830000018bcfe5687b'],
    [v('uuid', Buffer.alloc(16, 0xab)), '98' + 'ab'.repeat(16)],
    [v('decimal64', Buffer.alloc(8, 1)), '84' + '01'.repeat(8)],
    [v('binary', Buffer.from([1, 2, 3])), 'a003010203'],
    [str('é'), 'a102c3a9'],
    [sym('x-exchange'), 'a30a782d65786368616e6765'],
    [v('list', []), '45'],
    [v('list', [str('a'), v('uint', 1)]), 'c00602a101615201'], // list8: size 6, count 2, str8 "a", smalluint 1
  ];
  for (const [val, hex] of cases) {
    const enc = encodeValue(val);
    t.equal(enc.toString('hex'), hex, `${val.type} ${String(val.value)} encodes as ${hex}`);
    t.same(decodeValue(enc), val, `${val.type} decodes back`);
  }
  const map = v('map', [[sym('k'), str('v')], [str('n'), v('long', 1)]]);
  t.same(decodeValue(encodeValue(map)), map, 'map');
  const described = { type: 'described', descriptor: v('ulong', 0x70), value: v('list', [v('boolean', true)]) } as Amqp10Value;
  t.equal(encodeValue(described).toString('hex'), '005370c0020141', 'described list');
  t.same(decodeValue(encodeValue(described)), described);
  const arr = v('array', [v('int', 1), v('int', -2), v('int', 300)]);
  t.equal(encodeValue(arr).toString('hex'), 'e00e0371' + '00000001fffffffe0000012c', 'array of int, one constructor, wide elements');
  t.same(decodeValue(encodeValue(arr)), arr);
  const arrStr = v('array', [str('ab'), str('')]);
  t.same(decodeValue(encodeValue(arrStr)), arrStr, 'array of strings');
});

t.test('compounds switch to the 32-bit form when they outgrow 255 bytes or items', async (t) => {
  const long = str('x'.repeat(300));
  t.equal(encodeValue(long)[0], 0xb1, 'str32');
  t.same(decodeValue(encodeValue(long)), long);
  const bigList = v('list', Array.from({ length: 300 }, (_, i) => v('uint', i)));
  const enc = encodeValue(bigList);
  t.equal(enc[0], 0xd0, 'list32');
  t.equal(enc.readUInt32BE(1), enc.length - 5, 'size counts the bytes after the size field');
  t.equal(enc.readUInt32BE(5), 300, 'count');
  t.same(decodeValue(enc), bigList);
  const nested = v('map', [[str('outer'), v('list', [str('y'.repeat(250)), str('z'.repeat(10))])]]);
  const e2 = encodeValue(nested);
  t.equal(e2[0], 0xd1, 'map32 around a list32');
  t.same(decodeValue(e2), nested);
  const w = new Amqp10Writer(4);
  for (let i = 0; i < 1000; i++) w.string('grow');
  t.equal(w.pos, 6000, 'the writer grows');
});

t.test('malformed input is an Amqp10Error, never a crash', async (t) => {
  const bad: Array<[string, string]> = [
    ['a1', 'str8 without a length'],
    ['a105616263', 'str8 shorter than its length'],
    ['c00301', 'list8 shorter than its size'],
    ['c1030141', 'map with an odd count'],
    ['c0040241', 'list with fewer items than its count'],
    ['ff', 'unknown constructor'],
    ['81000000', 'truncated long'],
    ['00', 'described without descriptor'],
    ['00'.repeat(200) + '40', 'nested too deep'],
  ];
  for (const [hex, what] of bad) {
    t.throws(() => decodeValue(Buffer.from(hex, 'hex')), { name: 'Amqp10Error' }, what);
  }
  t.throws(() => scanSections(Buffer.from('40', 'hex')), { name: 'Amqp10Error' }, 'a section must be described');
  t.throws(() => scanSections(Buffer.from('0053ff40', 'hex')), { name: 'Amqp10Error' }, 'unknown section code');
});

t.test('message sections: scan, properties, maps; symbolic descriptors too', async (t) => {
  const msg = encodeMessage({
    header: [v('boolean', true)],
    messageAnnotations: [[sym('x-opt'), str('a')]],
    properties: { messageId: str('m1'), userId: Buffer.from('guest'), to: 'dest', contentType: 'text/plain', creationTime: 1700000000000, groupSequence: 3 },
    applicationProperties: [[str('k'), v('int', 7)]],
    data: [Buffer.from('hello')],
  });
  const s = scanSections(msg);
  t.same(s.map((x) => x.code), [SectionCode.Header, SectionCode.MessageAnnotations, SectionCode.Properties, SectionCode.ApplicationProperties, SectionCode.Data]);
  const p = decodePropertiesSection(msg, s[2]);
  t.same(p, { messageId: str('m1'), userId: Buffer.from('guest'), to: 'dest', contentType: 'text/plain', creationTime: 1700000000000, groupSequence: 3 });
  t.same(decodeMapSection(msg, s[3]), [[str('k'), v('int', 7)]]);
  // the same data section with a symbolic descriptor
  const symbolic = Buffer.concat([Buffer.from('00a3', 'hex'), Buffer.from([16]), Buffer.from('amqp:data:binary'), Buffer.from('a0026869', 'hex')]);
  const s2 = scanSections(symbolic);
  t.equal(s2[0].code, SectionCode.Data);
  t.same(amqp10To091(symbolic, 0, symbolic.length, 'q').body, Buffer.from('hi'));
});

const ALL: BasicProperties = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: {
    s: 'text', l: typed('l', -5), big: typed('l', 2n ** 40n), I: typed('I', -70000), i: typed('i', 70000),
    b: typed('b', -3), B: typed('B', 3), sh: typed('s', -300), u: typed('u', 300), f: typed('f', 0.5), d: typed('d', 2.25),
    t: true, x: Buffer.from([0, 255]), T: typed('T', 1700000000), V: typed('V', null),
    arr: ['dropped'], tab: { dropped: 1 }, dec: decimal(2, 314),
  },
  deliveryMode: 2,
  priority: 7,
  correlationId: 'corr-1',
  replyTo: 'reply',
  expiration: '60000',
  messageId: 'msg-ü',
  timestamp: 1700000000,
  type: 'order.created',
  userId: 'guest',
  appId: 'app',
};

function to10(props: BasicProperties, body: Buffer, exchange = 'ex', rk = 'rk'): { bytes: Buffer; filter: string | null } {
  const w = new Amqp10Writer(16);
  const info = { filterValue: null as string | null };
  amqp091To10(w, exchange, rk, encodeProperties(props), body, info);
  return { bytes: w.toBuffer(), filter: info.filterValue };
}

t.test('0-9-1 -> 1.0 as RabbitMQ 3.10: annotations, properties, application properties, data', async (t) => {
  const { bytes } = to10(ALL, Buffer.from('body'));
  const s = scanSections(bytes);
  t.same(s.map((x) => x.code), [SectionCode.MessageAnnotations, SectionCode.Properties, SectionCode.ApplicationProperties, SectionCode.Data]);
  t.same(decodeMapSection(bytes, s[0]), [
    [sym('x-exchange'), str('ex')], [sym('x-routing-key'), str('rk')], [sym('x-basic-priority'), v('ubyte', 7)],
    [sym('x-basic-delivery-mode'), v('ubyte', 2)], [sym('x-basic-expiration'), str('60000')],
  ]);
  t.same(decodePropertiesSection(bytes, s[1]), {
    messageId: str('msg-ü'), userId: Buffer.from('guest'), replyTo: 'reply', correlationId: str('corr-1'),
    contentType: 'application/json', contentEncoding: 'gzip', creationTime: 1700000000000,
  });
  const app = new Map(decodeMapSection(bytes, s[2]).map(([k, x]) => [k.value as string, x]));
  t.same([...app.keys()], ['s', 'l', 'big', 'I', 'i', 'b', 'B', 'sh', 'u', 'f', 'd', 't', 'x', 'T', 'V', 'x-basic-type', 'x-basic-app-id'],
    'arrays, tables and decimals are dropped (RabbitMQ 3.10); type and app-id are added');
  t.same(app.get('l'), v('long', -5));
  t.same(app.get('big'), v('long', 2 ** 40));
  t.same(app.get('I'), v('int', -70000));
  t.same(app.get('i'), v('uint', 70000));
  t.same(app.get('B'), v('ubyte', 3));
  t.same(app.get('T'), v('timestamp', 1700000000000));
  t.same(app.get('x'), v('binary', Buffer.from([0, 255])));
  t.same(app.get('V'), v('null', null));
  t.same(app.get('x-basic-type'), str('order.created'));
  t.equal(bytes.subarray(s[3].start).toString('hex'), '005375a004626f6479', 'one data section');

  const minimal = to10({}, Buffer.from('x')).bytes;
  t.same(scanSections(minimal).map((x) => x.code), [SectionCode.MessageAnnotations, SectionCode.Data], 'no properties: only annotations and data');
  t.equal(to10({ headers: { 'x-stream-filter-value': 'blue' } }, Buffer.alloc(0)).filter, 'blue', 'the filter value is reported');
});

t.test('1.0 -> 0-9-1 gives back what 0-9-1 -> 1.0 kept', async (t) => {
  const { bytes } = to10(ALL, Buffer.from('body'));
  const back = amqp10To091(bytes, 0, bytes.length, 'stream-q', { 'x-stream-offset': typed('l', 42) });
  t.equal(back.exchange, 'ex');
  t.equal(back.routingKey, 'rk');
  t.same(back.body, Buffer.from('body'));
  const h = back.props.headers as Record<string, unknown>;
  t.same(Object.keys(h)[0], 'x-stream-offset', 'the caller\'s headers come first');
  const { arr: _a, tab: _t, dec: _d, ...kept } = ALL.headers as Record<string, unknown>;
  t.same(h, { 'x-stream-offset': typed('l', 42), ...kept, big: typed('l', 2 ** 40), x: typed('x', Buffer.from([0, 255])) });
  const { headers: _h, ...rest } = ALL;
  t.same({ ...back.props, headers: undefined }, { ...rest, headers: undefined });
  // and the 0-9-1 properties encode
  t.ok(encodeProperties(back.props).length > 0);
});

t.test('1.0 messages from Stream protocol clients, to 0-9-1', async (t) => {
  const uuid = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
  const m = encodeMessage({
    properties: { messageId: v('uuid', uuid), correlationId: v('ulong', 99), replyTo: 'r' },
    applicationProperties: [[str('k'), str('v')], [str('n'), v('ulong', 5)], [str('sym'), sym('s')]],
    data: [Buffer.from('a'), Buffer.from('b')],
  });
  const f = amqp10To091(m, 0, m.length, 'my-stream');
  t.equal(f.exchange, '', 'no x-exchange annotation: the default exchange');
  t.equal(f.routingKey, 'my-stream', 'and the stream\'s name as routing key');
  t.equal(f.props.messageId, '01234567-89ab-cdef-0123-456789abcdef');
  t.equal(f.props.correlationId, '99');
  t.same(f.props.headers, { 'x-message-id-type': 'uuid', 'x-correlation-id-type': 'ulong', k: 'v', n: typed('l', 5), sym: 's' });
  t.equal(f.props.type, 'amqp-1.0', 'two data sections: delivered as 1.0 sections');
  t.same(scanSections(f.body).map((x) => x.code), [SectionCode.Data, SectionCode.Data]);
  const value = encodeMessage({ value: str('just a value') });
  const g = amqp10To091(value, 0, value.length, 's');
  t.equal(g.props.type, 'amqp-1.0');
  t.same(g.body, value);
  const empty = amqp10To091(Buffer.alloc(0), 0, 0, 's');
  t.same(empty.body, Buffer.alloc(0), 'no sections: an empty body');
  // a 0-9-1 body of type amqp-1.0 is stored as the sections it holds
  const { bytes } = to10({ type: 'amqp-1.0' }, value);
  t.same(scanSections(bytes).map((x) => x.code), [SectionCode.MessageAnnotations, SectionCode.AmqpValue]);
  const long = 'i'.repeat(300);
  const lm = encodeMessage({ properties: { messageId: str(long) }, data: [Buffer.alloc(0)] });
  const lf = amqp10To091(lm, 0, lm.length, 's');
  t.equal(lf.props.messageId, undefined, 'a message id longer than a shortstr ...');
  t.equal(lf.props.headers?.['x-message-id'], long, '... moves to a header');
});
