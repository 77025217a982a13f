// Validation of queue.declare arguments, with RabbitMQ's wording for the 406 reply text.
import { type FieldTable, type FieldValue, Typed, isDecimal } from '../protocol';
import { preconditionFailed } from './errors';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
export type QueueType = 'classic' | 'quorum' | 'stream';

export interface QueueArgs {
  messageTtl: number | null;
  expires: number | null;
  maxLength: number | null;
  maxLengthBytes: number | null;
  overflow: Overflow;
  deadLetterExchange: string | null;
  deadLetterRoutingKey: string | null;
  maxPriority: number | null;
  deliveryLimit: number | null;
  singleActiveConsumer: boolean;
  queueType: QueueType;
  /** from a consumer-timeout policy (ms): overrides the broker's --consumer-timeout for this queue */
  consumerTimeout: number | null;
}

// AMQP type names as RabbitMQ prints them in error texts. Integers decode to plain numbers, so
// the exact wire width (byte, short, signedint) is not known here: they are reported as long.
export function typeName(v: FieldValue): string {
  if (v === null || v === undefined) return 'void';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'long' : 'double';
  if (typeof v === 'bigint') return 'long';
  if (typeof v === 'string') return 'longstr';
  if (Buffer.isBuffer(v)) return 'binary';
  if (v instanceof Date) return 'timestamp';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Typed) return TYPE_NAMES[v.type] ?? typeName(v.value);
  if (isDecimal(v)) return 'decimal';
  return 'table';
}

const TYPE_NAMES: Record<string, string> = {
  t: 'bool', b: 'byte', B: 'unsignedbyte', s: 'short', u: 'unsignedshort', I: 'signedint', i: 'unsignedint',
  l: 'long', L: 'long', f: 'float', d: 'double', D: 'decimal', S: 'longstr', x: 'binary', A: 'array',
  T: 'timestamp', F: 'table', V: 'void',
};

// RabbitMQ groups integer types into one class when comparing arguments on redeclare.
export function typeClass(v: FieldValue): string {
  const t = typeName(v);
  return INTEGER_TYPES.has(t) ? 'integer' : t;
}
const INTEGER_TYPES = new Set(['byte', 'unsignedbyte', 'short', 'unsignedshort', 'signedint', 'unsignedint', 'long']);

export function asInteger(v: FieldValue): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Typed) return asInteger(v.value);
  return undefined;
}

export function asString(v: FieldValue): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString();
  return undefined;
}

// Checks the arguments RabbitMQ checks, with its reply texts: "invalid arg 'x-message-ttl' for
// queue 'q' in vhost '/': {value_negative,-1}".
export function parseQueueArgs(queue: string, vhost: string, args: FieldTable): QueueArgs {
  const bad = (key: string, why: string) =>
    preconditionFailed(`invalid arg '${key}' for queue '${queue}' in vhost '${vhost}': ${why}`);
  const int = (key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | null => {
    const v = args[key];
    if (v === undefined) return null;
    const n = asInteger(v);
    if (n === undefined) throw bad(key, `"expected integer, got ${typeName(v)}"`);
    if (n < 0) throw bad(key, `{value_negative,${n}}`);
    if (n < min) throw bad(key, `{value_zero,${n}}`);
    if (n > max) throw bad(key, `{value_too_large,${n},${max}}`);
    return n;
  };
  const str = (key: string): string | null => {
    const v = args[key];
    if (v === undefined) return null;
    const s = asString(v);
    if (s === undefined) throw bad(key, `{unacceptable_type,${typeName(v)}}`);
    return s;
  };
  const dlxValue = args['x-dead-letter-exchange'];
  if (dlxValue !== undefined && asString(dlxValue) === undefined) {
    throw preconditionFailed(`invalid type '${typeName(dlxValue)}' for arg 'x-dead-letter-exchange' in queue '${queue}' in vhost '${vhost}'`);
  }
  const out: QueueArgs = {
    messageTtl: int('x-message-ttl', 0, 0xffffffff),
    expires: int('x-expires', 1, 0xffffffff),
    maxLength: int('x-max-length', 0),
    maxLengthBytes: int('x-max-length-bytes', 0),
    overflow: 'drop-head',
    deadLetterExchange: str('x-dead-letter-exchange'),
    deadLetterRoutingKey: str('x-dead-letter-routing-key'),
    maxPriority: null,
    deliveryLimit: int('x-delivery-limit', 0),
    singleActiveConsumer: false,
    queueType: 'classic',
    consumerTimeout: null,
  };
  const mp = int('x-max-priority', 0);
  if (mp !== null && mp > MAX_PRIORITY) throw bad('x-max-priority', `{max_value_exceeded,${mp}}`);
  out.maxPriority = mp;
  const ov = str('x-overflow');
  if (ov !== null) {
    if (ov !== 'drop-head' && ov !== 'reject-publish' && ov !== 'reject-publish-dlx') throw bad('x-overflow', 'invalid_overflow');
    out.overflow = ov;
  }
  if (out.deadLetterRoutingKey !== null && out.deadLetterExchange === null) {
    throw bad('x-dead-letter-routing-key', 'routing_key_but_no_dlx_defined');
  }
  const sac = args['x-single-active-consumer'];
  if (sac !== undefined) {
    const b = sac instanceof Typed ? sac.value : sac;
    if (typeof b !== 'boolean') throw bad('x-single-active-consumer', `{unacceptable_type,${typeName(sac)}}`);
    out.singleActiveConsumer = b;
  }
  const qt = str('x-queue-type');
  if (qt !== null) {
    if (qt !== 'classic' && qt !== 'quorum' && qt !== 'stream') throw bad('x-queue-type', `"unsupported queue type '${qt}'"`);
    out.queueType = qt;
  }
  const mode = str('x-queue-mode');
  if (mode !== null && mode !== 'default' && mode !== 'lazy') throw bad('x-queue-mode', `"unsupported queue mode '${mode}'"`);
  return out;
}

// Priorities 0..255 as RabbitMQ's classic queues support them.
export const MAX_PRIORITY = 255;

// The x-priority consume argument: any integer.
export function parseConsumerPriority(queue: string, vhost: string, v: FieldValue | undefined): number {
  if (v === undefined) return 0;
  const n = asInteger(v);
  if (n === undefined) {
    throw preconditionFailed(`invalid arg 'x-priority' for queue '${queue}' in vhost '${vhost}': "expected integer, got ${typeName(v)}"`);
  }
  return n;
}
