// Cross-check against an independent codec: amqplib's (a devDependency) generated defs.
import t from 'tap';
import * as path from 'path';
import { METHOD_INFO, MethodInfo, AnyMethod, decodeMethod, encodeMethodFrame, encodeProperties, decodeProperties, FrameReader, BasicProperties } from '../../src/protocol';

interface AmqplibDefs {
  encodeMethod(id: number, channel: number, fields: Record<string, unknown>): Buffer;
  decode(id: number, buf: Buffer): Record<string, unknown>;
  encodeProperties(id: number, channel: number, size: number, fields: Record<string, unknown>): Buffer;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const defs = require(path.join(path.dirname(require.resolve('amqplib')), 'lib', 'defs.js')) as AmqplibDefs;

const theirName = (n: string) => (n === 'noWait' ? 'nowait' : n);

function sample(info: MethodInfo): AnyMethod {
  const m: Record<string, unknown> = { name: info.name };
  info.fields.forEach((f, i) => {
    m[f.name] = {
      bit: i % 2 === 0,
      octet: 7,
      short: 1234,
      long: 70000,
      longlong: 2 ** 40 + 3,
      timestamp: 1700000000,
      shortstr: `${f.name}-é`,
      longstr: Buffer.from([0, 1, 2, 0xce]),
      table: { s: 'str', n: 100000, neg: -3, f: 1.5, b: true, a: [1, 'x'], t: { u: null } },
    }[f.type];
  });
  return m as unknown as AnyMethod;
}

t.test('every method: amqplib encodes, Warren decodes; Warren encodes, amqplib decodes', async (t) => {
  for (const info of METHOD_INFO.values()) {
    const key = info.classId * 65536 + info.methodId;
    const m = sample(info) as unknown as Record<string, unknown>;
    const fields: Record<string, unknown> = {};
    for (const f of info.fields) fields[theirName(f.name)] = m[f.name];
    const theirs = defs.encodeMethod(key, 5, fields);
    t.same(decodeMethod(theirs.subarray(7, -1)), m, `${info.name}: amqplib -> warren`);
    const ours = encodeMethodFrame(5, m as unknown as AnyMethod);
    const back = defs.decode(key, ours.subarray(11, -1));
    for (const f of info.fields) t.same(back[theirName(f.name)], m[f.name], `${info.name}.${f.name}: warren -> amqplib`);
  }
});

t.test('content header properties both ways', async (t) => {
  const props: BasicProperties = {
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    headers: { a: 'b', n: 5, nested: { x: [true, 2.5] } },
    deliveryMode: 2,
    priority: 3,
    correlationId: 'c',
    replyTo: 'r',
    expiration: '1000',
    messageId: 'm',
    timestamp: 1700000000,
    type: 't',
    userId: 'guest',
    appId: 'app',
    clusterId: 'cl',
  };
  const frame = defs.encodeProperties(60, 1, 10, props as Record<string, unknown>);
  let raw: Buffer | undefined;
  new FrameReader(0).push(frame, (_type, _ch, payload) => (raw = payload.subarray(12)));
  t.same(decodeProperties(raw!), props);
  // amqplib picks the smallest integer type (n: 5 -> 'b'), Warren infers 'I': compare values
  const theirs = defs.decode(60, encodeProperties(props));
  for (const k of Object.keys(props) as (keyof BasicProperties)[]) t.same(theirs[k], props[k], `warren -> amqplib: ${k}`);
});
