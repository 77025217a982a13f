// The raw property editor used for x-death and x-delivery-count: untouched header entries and
// properties keep their exact bytes (wire types included).
import t from 'tap';
import { decimal, decodeProperties, encodeProperties, typed, type BasicProperties } from '../../src/protocol';
import { editProperties } from '../../src/broker/props-edit';

const typedHeaders = {
  b: typed('b', -5), s: typed('s', 300), f: typed('f', 0.5), u: typed('B', 200),
  dec: decimal(2, 12345), nested: { inner: typed('b', 1), list: [typed('s', 2), 'x'] },
  BCC: ['secret'], CC: ['copy'], str: 'text',
};

t.test('kept header entries and properties are byte-identical; edits applied', async (t) => {
  const orig: BasicProperties = {
    contentType: 'application/json', headers: typedHeaders, deliveryMode: 2, priority: 4,
    correlationId: 'c1', replyTo: 'r', expiration: '60000', messageId: 'm', timestamp: 1700000000, type: 'ty', appId: 'app',
  };
  const raw = encodeProperties(orig);
  const set = { 'x-death': [{ count: typed('l', 1), reason: 'rejected' }], 'x-first-death-queue': 'q' };
  const out = editProperties(raw, { set, remove: ['BCC'], dropExpiration: true });
  const { BCC: _bcc, ...kept } = typedHeaders;
  const { expiration: _e, ...rest } = orig;
  const expected = encodeProperties({ ...rest, headers: { ...kept, ...set } });
  t.same(out, expected, 'same bytes as encoding the expected properties with the original wire types');
  const d = decodeProperties(out);
  t.equal(d.expiration, undefined);
  t.equal(d.headers?.BCC, undefined);
  t.same(d.headers?.CC, ['copy']);
  t.equal(d.messageId, 'm');
});

t.test('replacing an existing entry, adding headers where there were none, no-op edit', async (t) => {
  const raw = encodeProperties({ headers: { 'x-delivery-count': typed('l', 1), a: typed('b', 1) }, messageId: 'x' });
  const out = editProperties(raw, { set: { 'x-delivery-count': typed('l', 2) } });
  t.same(out, encodeProperties({ headers: { a: typed('b', 1), 'x-delivery-count': typed('l', 2) }, messageId: 'x' }));
  const none = encodeProperties({ deliveryMode: 1, expiration: '5' });
  t.same(editProperties(none, { set: { k: 'v' } }), encodeProperties({ headers: { k: 'v' }, deliveryMode: 1, expiration: '5' }));
  t.same(editProperties(none, { dropExpiration: true }), encodeProperties({ deliveryMode: 1 }));
  t.same(editProperties(raw, {}), raw, 'no edit, same bytes');
  t.same(editProperties(Buffer.from([0, 0]), {}), Buffer.from([0, 0]));
});

t.test('malformed properties throw instead of producing garbage', async (t) => {
  const raw = encodeProperties({ headers: { a: 'b' } });
  t.throws(() => editProperties(raw.subarray(0, raw.length - 1), { set: { x: 1 } }));
});
