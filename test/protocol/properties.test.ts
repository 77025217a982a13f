import t from 'tap';
import {
  BasicProperties,
  decodeProperties,
  encodeProperties,
  scanProperties,
  newPropertySummary,
  propertiesSize,
  writeProperties,
  BASIC_PROPERTY_LIST,
  CLASS_PROPERTIES,
  CLASS_BASIC,
  typed,
} from '../../src/protocol';
import { throwsCode, hex } from './fixtures/helpers';

const ALL: BasicProperties = {
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: { 'x-death': [{ count: typed('l', 1), reason: 'expired', queue: 'q', time: new Date(1700000000000), exchange: '', 'routing-keys': ['q'] }], h: 'v' },
  deliveryMode: 2,
  priority: 9,
  correlationId: 'corr-1',
  replyTo: 'amq.rabbitmq.reply-to.g1h2AA==',
  expiration: '60000',
  messageId: 'msg-ü',
  timestamp: 1700000000,
  type: 'order.created',
  userId: 'guest',
  appId: 'warren-test',
  clusterId: 'c1',
};

function summaryFromDecoded(p: BasicProperties) {
  return {
    deliveryMode: p.deliveryMode ?? 0,
    priority: p.priority ?? -1,
    expiration: p.expiration,
    userId: p.userId,
    hasHeaders: p.headers !== undefined,
  };
}

t.test('order and names agree with the spec XML', async (t) => {
  const gen = CLASS_PROPERTIES[CLASS_BASIC];
  t.equal(gen.length, 14);
  t.equal(BASIC_PROPERTY_LIST.length, 14);
  gen.forEach((g, i) => {
    const mine = BASIC_PROPERTY_LIST[i];
    t.equal(mine.key, g.name === 'reserved' ? 'clusterId' : g.name);
    t.equal(mine.type, g.type);
    t.equal(mine.flag, 1 << (15 - i));
  });
});

t.test('all 14 properties', async (t) => {
  const raw = encodeProperties(ALL);
  t.equal(raw.readUInt16BE(0), 0xfffc, 'flags: bits 15..2');
  t.equal(raw.length, propertiesSize(ALL));
  const back = decodeProperties(raw);
  t.same(back, { ...ALL, headers: { ...ALL.headers, 'x-death': [{ ...(ALL.headers!['x-death'] as object[])[0], count: 1 }] } });
  const s = newPropertySummary();
  scanProperties(raw, s);
  t.same(s, summaryFromDecoded(back));
});

t.test('no properties', async (t) => {
  const raw = encodeProperties({});
  t.equal(raw.toString('hex'), '0000');
  t.same(decodeProperties(raw), {});
  const s = newPropertySummary();
  s.priority = 5;
  s.hasHeaders = true;
  scanProperties(raw, s);
  t.same(s, { deliveryMode: 0, priority: -1, expiration: undefined, userId: undefined, hasHeaders: false });
});

t.test('headers only, bytes by hand', async (t) => {
  const raw = encodeProperties({ headers: { a: 1 } });
  t.equal(raw.toString('hex'), hex('2000 00000007 01 61 49 00000001').toString('hex'));
  t.same(decodeProperties(raw), { headers: { a: 1 } });
  const s = newPropertySummary();
  scanProperties(raw, s);
  t.ok(s.hasHeaders);
});

t.test('a few single properties, bytes by hand', async (t) => {
  t.equal(encodeProperties({ contentType: 'a' }).toString('hex'), '80000161');
  t.equal(encodeProperties({ deliveryMode: 2 }).toString('hex'), '100002');
  t.equal(encodeProperties({ deliveryMode: 2, priority: 1 }).toString('hex'), '18000201');
  t.equal(encodeProperties({ timestamp: 1 }).toString('hex'), '00400000000000000001');
  t.equal(encodeProperties({ clusterId: 'c' }).toString('hex'), '00040163');
  t.equal(encodeProperties({ expiration: '10', userId: 'u' }).toString('hex'), '0110023130' + '0175');
});

t.test('scanProperties agrees with decodeProperties on every subset of a few fields', async (t) => {
  const keys = Object.keys(ALL) as (keyof BasicProperties)[];
  let count = 0;
  // all single fields, all pairs, and a sweep of larger subsets
  for (let mask = 0; mask < 1 << keys.length; mask += mask < 512 ? 1 : 97) {
    const p: Record<string, unknown> = {};
    keys.forEach((k, i) => {
      if (mask & (1 << i)) p[k] = ALL[k];
    });
    const raw = encodeProperties(p as BasicProperties);
    const s = newPropertySummary();
    scanProperties(raw, s);
    if (JSON.stringify(s) !== JSON.stringify(summaryFromDecoded(decodeProperties(raw)))) t.fail(`mask ${mask}`);
    count++;
  }
  t.ok(count > 600);
});

t.test('continuation flag word is skipped', async (t) => {
  // flags: content-type + continuation bit; second word 0; then the list
  const raw = hex('8001 0000 01 61');
  t.same(decodeProperties(raw), { contentType: 'a' });
  const s = newPropertySummary();
  scanProperties(raw, s);
  t.equal(s.priority, -1);
});

t.test('writeProperties at an offset', async (t) => {
  const b = Buffer.alloc(propertiesSize(ALL) + 4);
  t.equal(writeProperties(b, 4, ALL), b.length);
  t.same(b.subarray(4), encodeProperties(ALL));
});

t.test('malformed properties throw 502 from decode and scan', async (t) => {
  const bad: [string, string][] = [
    ['empty', ''],
    ['one byte', '80'],
    ['content-type missing', '8000'],
    ['content-type truncated', '8000 05 6161'],
    ['delivery-mode missing', '1000'],
    ['timestamp truncated', '0040 000000'],
    ['headers truncated', '2000 00000010 0161'],
    ['headers malformed', '2000 00000003 01 61 5a'],
    ['continuation word missing', '8001'],
    ['user-id truncated', '0010 03 61'],
    ['cluster-id truncated', '0004 02 61'],
  ];
  for (const [what, h] of bad) {
    throwsCode(t, () => decodeProperties(hex(h)), 502, `decode: ${what}`);
    throwsCode(t, () => scanProperties(hex(h), newPropertySummary()), 502, `scan: ${what}`);
  }
});
