// Valid AMQP 0-9-1 conversations for the frame fuzzer to mutate: the handshake, then random
// channel work (declares, binds, publishes with content, gets, consumes, acks, qos, tx, confirm,
// purges, deletes, closes) over a few channels, as a list of frames. Names come from small sets
// so that conversations on different connections meet on the same queues and exchanges.
import {
  type AnyMethod, type BasicProperties, type FieldTable, PROTOCOL_HEADER,
  encodeMethodFrame, encodeContentHeaderFrame, encodeProperties, encodeBodyFrames, typed,
} from '../../src/protocol';
import type { Rng } from './rng';

export interface Frame { bytes: Buffer; kind: 'header' | 'method' | 'content-header' | 'body' | 'heartbeat'; channel: number }

export const FUZZ_QUEUES = Array.from({ length: 8 }, (_, i) => `fz-q-${i}`);
export const FUZZ_EXCHANGES = Array.from({ length: 4 }, (_, i) => `fz-x-${i}`);
const TYPES = ['direct', 'fanout', 'topic', 'headers', 'x-unknown', ''];
const FRAME_MAX = 131072;

const method = (channel: number, m: AnyMethod): Frame => ({ bytes: encodeMethodFrame(channel, m), kind: 'method', channel });

export function handshake(vhost: string, user = 'guest', password = 'guest'): Frame[] {
  return [
    { bytes: PROTOCOL_HEADER, kind: 'header', channel: 0 },
    method(0, {
      name: 'connection.start-ok', clientProperties: { product: 'warren-fuzz', capabilities: { authentication_failure_close: true, 'connection.blocked': true, consumer_cancel_notify: true } },
      mechanism: 'PLAIN', response: Buffer.from(`\0${user}\0${password}`), locale: 'en_US',
    }),
    method(0, { name: 'connection.tune-ok', channelMax: 16, frameMax: FRAME_MAX, heartbeat: 0 }),
    method(0, { name: 'connection.open', virtualHost: vhost }),
  ];
}

// A field table with random values of every type the codec knows, nested a little.
export function randomTable(r: Rng, depth = 0): FieldTable {
  const t: FieldTable = {};
  const n = r.int(4);
  for (let i = 0; i < n; i++) {
    const k = r.pick(['a', 'x-match', 'x-message-ttl', 'x-max-length', 'x-dead-letter-exchange', 'x-priority', 'CC', 'kind', 'k' + r.int(9)]);
    switch (r.int(10)) {
      case 0: t[k] = r.int(1000); break;
      case 1: t[k] = 'v' + r.int(99); break;
      case 2: t[k] = r.bool(); break;
      case 3: t[k] = typed('l', BigInt(r.int(1 << 30))); break;
      case 4: t[k] = typed('d', r.next() * 1000); break;
      case 5: t[k] = depth < 3 ? randomTable(r, depth + 1) : 1; break;
      case 6: t[k] = [1, 'two', r.bool()]; break;
      case 7: t[k] = Buffer.from('bytes'); break;
      case 8: t[k] = new Date(1_700_000_000_000); break;
      default: t[k] = null; break;
    }
  }
  return t;
}

function randomProps(r: Rng): BasicProperties {
  const p: BasicProperties = {};
  if (r.bool()) p.deliveryMode = r.pick([1, 2]);
  if (r.chance(0.3)) p.headers = randomTable(r);
  if (r.chance(0.2)) p.expiration = r.pick(['0', '10', '1000', 'bad', '-1']);
  if (r.chance(0.2)) p.priority = r.int(12);
  if (r.chance(0.2)) p.contentType = 'text/plain';
  if (r.chance(0.1)) p.userId = r.pick(['guest', 'someone']);
  if (r.chance(0.1)) p.replyTo = r.pick(['amq.rabbitmq.reply-to', 'x']);
  return p;
}

function publish(r: Rng, ch: number): Frame[] {
  const body = Buffer.alloc(r.chance(0.02) ? 140000 : r.pick([0, 1, 10, 100, 1000, 5000]), 0x61 + r.int(20));
  const exchange = r.pick(['', 'amq.direct', 'amq.topic', 'amq.fanout', 'amq.headers', ...FUZZ_EXCHANGES]);
  const out: Frame[] = [method(ch, { name: 'basic.publish', exchange, routingKey: r.pick(FUZZ_QUEUES.concat(['a.b', '#', ''])), mandatory: r.bool(), immediate: false })];
  out.push({ bytes: encodeContentHeaderFrame(ch, 60, body.length, encodeProperties(randomProps(r))), kind: 'content-header', channel: ch });
  if (body.length > 0) {
    // One frame per body piece, so mutations can drop, reorder and interleave them.
    const all = encodeBodyFrames(ch, body, r.chance(0.5) ? FRAME_MAX : 4096);
    let off = 0;
    while (off < all.length) {
      const size = all.readUInt32BE(off + 3);
      out.push({ bytes: all.subarray(off, off + size + 8), kind: 'body', channel: ch });
      off += size + 8;
    }
  }
  return out;
}

function step(r: Rng, ch: number, tag: () => number): Frame[] {
  const q = r.pick(FUZZ_QUEUES);
  const x = r.pick(FUZZ_EXCHANGES);
  switch (r.int(22)) {
    case 0: return [method(ch, { name: 'exchange.declare', exchange: x, type: r.pick(TYPES), passive: r.chance(0.2), durable: false, autoDelete: r.bool(), internal: r.chance(0.1), noWait: r.bool(), arguments: r.chance(0.3) ? randomTable(r) : {} })];
    case 1: { const named = r.chance(0.8); return [method(ch, { name: 'queue.declare', queue: named ? q : '', passive: r.chance(0.2), durable: false, exclusive: !named || r.chance(0.2), autoDelete: r.bool(), noWait: r.bool(), arguments: r.chance(0.3) ? { 'x-max-length': 100, ...randomTable(r) } : { 'x-max-length': 100 } })]; }
    case 2: return [method(ch, { name: 'queue.bind', queue: q, exchange: r.pick([x, 'amq.direct', 'amq.topic', 'amq.headers', '']), routingKey: r.pick(['', q, '#', '*.b']), noWait: r.bool(), arguments: r.chance(0.3) ? randomTable(r) : {} })];
    case 3: return [method(ch, { name: 'exchange.bind', destination: r.pick(FUZZ_EXCHANGES), source: x, routingKey: '#', noWait: r.bool(), arguments: {} })];
    case 4: case 5: case 6: case 7: return publish(r, ch);
    case 8: return [method(ch, { name: 'basic.get', queue: q, noAck: r.bool() })];
    case 9: return [method(ch, { name: 'basic.consume', queue: q, consumerTag: r.chance(0.5) ? '' : `c${r.int(5)}`, noLocal: false, noAck: r.bool(), exclusive: r.chance(0.1), noWait: r.bool(), arguments: r.chance(0.2) ? { 'x-priority': r.int(5) } : {} })];
    case 10: return [method(ch, { name: 'basic.ack', deliveryTag: r.chance(0.2) ? 0 : tag(), multiple: r.bool() })];
    case 11: return [method(ch, { name: 'basic.nack', deliveryTag: tag(), multiple: r.bool(), requeue: r.bool() })];
    case 12: return [method(ch, { name: 'basic.reject', deliveryTag: tag(), requeue: r.bool() })];
    case 13: return [method(ch, { name: 'basic.qos', prefetchSize: r.chance(0.05) ? 1 : 0, prefetchCount: r.int(20), global: r.bool() })];
    case 14: return [method(ch, { name: 'basic.cancel', consumerTag: `c${r.int(5)}`, noWait: r.bool() })];
    case 15: return [method(ch, r.bool() ? { name: 'confirm.select', nowait: r.bool() } : { name: 'tx.select' })];
    case 16: return [method(ch, r.pick<AnyMethod>([{ name: 'tx.commit' }, { name: 'tx.rollback' }]))];
    case 17: return [method(ch, { name: 'queue.purge', queue: q, noWait: r.bool() })];
    case 18: return [method(ch, { name: 'queue.delete', queue: q, ifUnused: r.bool(), ifEmpty: r.bool(), noWait: r.bool() })];
    case 19: return [method(ch, { name: 'exchange.delete', exchange: x, ifUnused: r.bool(), noWait: r.bool() })];
    case 20: return [method(ch, { name: 'basic.recover', requeue: true })];
    default: return [method(ch, { name: 'channel.flow', active: r.chance(0.8) })];
  }
}

// A conversation: the handshake, then `steps` operations spread over up to three channels,
// each channel opened first and (sometimes) closed at the end, then (sometimes) connection.close.
export function conversation(r: Rng, steps: number, vhost: string): Frame[] {
  const frames = handshake(vhost);
  const channels = Array.from({ length: 1 + r.int(3) }, (_, i) => i + 1);
  let t = 0;
  const tag = () => (t = Math.max(1, t + r.int(3) - 1));
  for (const ch of channels) frames.push(method(ch, { name: 'channel.open' }));
  for (let i = 0; i < steps; i++) frames.push(...step(r, r.pick(channels), tag));
  for (const ch of channels) if (r.chance(0.5)) frames.push(method(ch, { name: 'channel.close', replyCode: 200, replyText: '', classId: 0, methodId: 0 }));
  if (r.chance(0.5)) frames.push(method(0, { name: 'connection.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }));
  return frames;
}
