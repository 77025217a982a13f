import t from 'tap';
import {
  decodeTable,
  encodeTable,
  tableSize,
  writeTable,
  typed,
  decimal,
  validateTable,
  encodeArray,
  decodeArray,
  FieldTable,
  FieldValue,
} from '../../src/protocol';

import { throwsCode, hex } from './fixtures/helpers';

/** A one-entry table with key k (ASCII) whose encoded value (type octet + value) is valueHex. */
function oneEntry(k: string, valueHex: string): Buffer {
  const v = hex(valueHex);
  const body = Buffer.concat([Buffer.from([k.length]), Buffer.from(k, 'latin1'), v]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

t.test('the example from the brief: {a: 1} as I (length written out: 7 bytes)', async (t) => {
  const expected = hex('00000007 01 61 49 00000001');
  t.same(encodeTable({ a: 1 }), expected);
  t.same(decodeTable(expected, 0), { table: { a: 1 }, end: 11 });
});

// Every type against byte strings written out by hand from the spec / RabbitMQ's field types.
const cases: { name: string; value: FieldValue; bytes: string; decoded?: unknown }[] = [
  { name: 't true', value: true, bytes: '74 01' },
  { name: 't false', value: false, bytes: '74 00' },
  { name: 'b int8', value: typed('b', -2), bytes: '62 fe', decoded: -2 },
  { name: 'B uint8', value: typed('B', 200), bytes: '42 c8', decoded: 200 },
  { name: 's int16', value: typed('s', -2), bytes: '73 fffe', decoded: -2 },
  { name: 'u uint16', value: typed('u', 65535), bytes: '75 ffff', decoded: 65535 },
  { name: 'I int32 (inferred)', value: -1, bytes: '49 ffffffff' },
  { name: 'I int32 max (inferred)', value: 2147483647, bytes: '49 7fffffff' },
  { name: 'i uint32', value: typed('i', 4294967295), bytes: '69 ffffffff', decoded: 4294967295 },
  { name: 'l int64 (inferred from a large integer)', value: 2 ** 40, bytes: '6c 0000010000000000' },
  { name: 'l int64 just past int32 (inferred)', value: 2147483648, bytes: '6c 0000000080000000' },
  { name: 'l forced for a small number (x-death count)', value: typed('l', 1), bytes: '6c 0000000000000001', decoded: 1 },
  { name: 'l negative', value: typed('l', -5), bytes: '6c fffffffffffffffb', decoded: -5 },
  { name: 'l bigint beyond 2^53', value: -(2n ** 63n), bytes: '6c 8000000000000000' },
  { name: 'l bigint max', value: 2n ** 63n - 1n, bytes: '6c 7fffffffffffffff' },
  { name: 'l bigint small decodes to number', value: 7n, bytes: '6c 0000000000000007', decoded: 7 },
  { name: 'f float32', value: typed('f', 1.5), bytes: '66 3fc00000', decoded: 1.5 },
  { name: 'd float64 (inferred)', value: 1.5, bytes: '64 3ff8000000000000' },
  { name: 'd NaN-free negative', value: -0.25, bytes: '64 bfd0000000000000' },
  { name: 'D decimal', value: decimal(2, 12345), bytes: '44 02 00003039' },
  { name: 'S longstr utf8', value: 'hé', bytes: '53 00000003 68c3a9' },
  { name: 'S empty', value: '', bytes: '53 00000000' },
  { name: 'x byte array', value: Buffer.from([1, 2, 0xff]), bytes: '78 00000003 0102ff' },
  { name: 'A array', value: [1, 'a'], bytes: '41 0000000b 49 00000001 53 00000001 61' },
  { name: 'A empty', value: [], bytes: '41 00000000' },
  { name: 'T timestamp', value: new Date(1700000000 * 1000), bytes: '54 000000006553f100' },
  { name: 'F nested table', value: { b: true }, bytes: '46 00000004 01 62 74 01' },
  { name: 'F empty', value: {}, bytes: '46 00000000' },
  { name: 'V void (null)', value: null, bytes: '56', decoded: null },
  { name: 'V void (undefined)', value: undefined, bytes: '56', decoded: null },
  { name: 'V forced', value: typed('V', 'ignored'), bytes: '56', decoded: null },
  { name: 'S forced from a Buffer', value: typed('S', Buffer.from('ab')), bytes: '53 00000002 6162', decoded: 'ab' },
  { name: 'x forced from a string', value: typed('x', 'ab'), bytes: '78 00000002 6162', decoded: Buffer.from('ab') },
  { name: 'T forced from seconds', value: typed('T', 1), bytes: '54 0000000000000001', decoded: new Date(1000) },
];

for (const c of cases) {
  t.test(`type ${c.name}`, async (t) => {
    const wire = oneEntry('k', c.bytes);
    const enc = encodeTable({ k: c.value });
    t.equal(enc.toString('hex'), wire.toString('hex'), 'encodes to the hand-written bytes');
    t.equal(tableSize({ k: c.value }), wire.length, 'tableSize');
    const { table, end } = decodeTable(wire, 0);
    t.equal(end, wire.length);
    const expected = 'decoded' in c ? c.decoded : c.value;
    t.same(table.k, expected, 'decodes');
    if (typeof expected === 'bigint') t.equal(typeof table.k, 'bigint');
    if (typeof expected === 'number') t.equal(typeof table.k, 'number');
    t.equal(validateTable(wire, 0), wire.length, 'validateTable accepts it');
  });
}

t.test('L (RabbitMQ decodes it as signed 64-bit too)', async (t) => {
  t.same(decodeTable(oneEntry('k', '4c fffffffffffffffe'), 0).table, { k: -2 });
  t.same(encodeTable({ k: typed('L', 3) }), oneEntry('k', '4c 0000000000000003'));
});

t.test('i is unsigned, I is signed', async (t) => {
  t.equal(decodeTable(oneEntry('k', '69 80000000'), 0).table.k, 2147483648);
  t.equal(decodeTable(oneEntry('k', '49 80000000'), 0).table.k, -2147483648);
});

t.test('l decodes to number when safe, bigint otherwise', async (t) => {
  t.equal(decodeTable(oneEntry('k', '6c 001fffffffffffff'), 0).table.k, Number.MAX_SAFE_INTEGER);
  t.equal(decodeTable(oneEntry('k', '6c ffe0000000000001'), 0).table.k, -Number.MAX_SAFE_INTEGER);
  t.equal(decodeTable(oneEntry('k', '6c 0020000000000000'), 0).table.k, 2n ** 53n);
  t.equal(decodeTable(oneEntry('k', '6c ffe0000000000000'), 0).table.k, -(2n ** 53n));
});

t.test('a table with every type round-trips', async (t) => {
  const table: FieldTable = {
    bool: true,
    byte: typed('b', -128),
    ubyte: typed('B', 255),
    short: typed('s', -32768),
    ushort: typed('u', 40000),
    int: -123456,
    uint: typed('i', 3000000000),
    long: 2 ** 50,
    big: 2n ** 62n,
    float: typed('f', 0.5),
    double: Math.PI,
    dec: decimal(3, 42),
    str: 'x-dead-letter-exchange ✓',
    bytes: Buffer.from([0, 1, 2, 255]),
    arr: [1, 'two', [3], { four: 4 }, null, true, new Date(86400000)],
    ts: new Date(1234567890000),
    nested: { deeper: { deepest: 'yes' }, empty: {} },
    void: null,
    '': 'empty key',
  };
  const enc = encodeTable(table);
  t.equal(enc.length, tableSize(table));
  const { table: back } = decodeTable(enc, 0);
  t.same(back, {
    ...table,
    byte: -128,
    ubyte: 255,
    short: -32768,
    ushort: 40000,
    uint: 3000000000,
    float: 0.5,
  });
  // re-encoding the decoded table with the same wire types gives the same bytes
  const retyped = { ...back, byte: typed('b', -128), ubyte: typed('B', 255), short: typed('s', -32768), ushort: typed('u', 40000), uint: typed('i', 3000000000), float: typed('f', 0.5) };
  t.same(encodeTable(retyped), enc);
});

t.test('writeTable at an offset, arrays on their own', async (t) => {
  const tbl = { a: 'b' };
  const buf = Buffer.alloc(3 + tableSize(tbl));
  t.equal(writeTable(buf, 3, tbl), buf.length);
  t.same(decodeTable(buf, 3), { table: tbl, end: buf.length });
  const arr = encodeArray([1, 'x']);
  t.same(decodeArray(arr, 0), { array: [1, 'x'], end: arr.length });
});

t.test('__proto__ and constructor keys do not pollute prototypes', async (t) => {
  const inner = hex('00000004 01 61 74 01'); // {a: true}
  const body = Buffer.concat([Buffer.from([9]), Buffer.from('__proto__'), Buffer.from('F'), inner]);
  const wire = Buffer.concat([Buffer.from([0, 0, 0, body.length]), body]);
  const { table } = decodeTable(wire, 0);
  t.equal(Object.getPrototypeOf(table), Object.prototype);
  t.equal(({} as Record<string, unknown>).a, undefined, 'Object.prototype untouched');
  t.equal((table as Record<string, unknown>).a, undefined, 'not inherited either');
  t.ok(Object.prototype.hasOwnProperty.call(table, '__proto__'));
  t.same(Object.getOwnPropertyDescriptor(table, '__proto__')?.value, { a: true });
  // and it re-encodes
  t.same(encodeTable(table), wire);
});

t.test('malformed tables throw AmqpError 502', async (t) => {
  const bad: [string, string][] = [
    ['unknown type letter', '00000003 01 61 5a'],
    ['length past the end', '00000010 01 61 74 01'],
    ['no length prefix', '0000'],
    ['key runs past the end', '00000002 05 61'],
    ['missing type octet', '00000002 01 61'],
    ['value past the end (I)', '00000005 01 61 49 0000'],
    ['S length past the end', '0000000a 01 61 53 000000ff 6161 6161'],
    ['nested table length past its parent', '00000008 01 61 46 00000009 00'],
    ['array element unknown type', '00000009 01 61 41 00000002 49 00'],
    ['x length past the end', '00000007 01 61 78 00000005'],
  ];
  for (const [what, h] of bad) {
    const buf = hex(h);
    throwsCode(t, () => decodeTable(buf, 0), 502, what);
    throwsCode(t, () => validateTable(buf, 0), 502, `${what} (validateTable)`);
  }
});

t.test('absurd nesting is refused, not a stack overflow', async (t) => {
  let inner = hex('00000000');
  for (let i = 0; i < 5000; i++) {
    const body = Buffer.concat([hex('00 46'), inner]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    inner = Buffer.concat([len, body]);
  }
  throwsCode(t, () => decodeTable(inner, 0), 502, 'decodeTable', /nested deeper/);
  throwsCode(t, () => validateTable(inner, 0), 502, 'validateTable', /nested deeper/);
});

t.test('encoding errors', async (t) => {
  t.throws(() => encodeTable({ ['k'.repeat(256)]: 1 }), RangeError);
  t.throws(() => encodeTable({ k: typed('b', 200) }), RangeError);
  t.throws(() => encodeTable({ k: typed('l', 1.5) }), RangeError);
  t.throws(() => typed('Z', 1), TypeError);
  t.throws(() => encodeTable({ k: (() => 1) as unknown as FieldValue }), TypeError);
  t.throws(() => encodeTable({ k: typed('A', 'nope') }), TypeError);
});
