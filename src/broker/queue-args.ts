// Validation of queue.declare arguments, with RabbitMQ's wording for the 406 reply text.
import type { FieldTable, FieldValue } from '../protocol';
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
}

export function typeName(v: FieldValue): string {
  if (v === null || v === undefined) return 'void';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'long' : 'double';
  if (typeof v === 'bigint') return 'long';
  if (typeof v === 'string') return 'longstr';
  if (Buffer.isBuffer(v)) return 'binary';
  if (v instanceof Date) return 'timestamp';
  if (Array.isArray(v)) return 'array';
  return 'table';
}

export function asInteger(v: FieldValue): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'type' in v && 'value' in v) return asInteger((v as { value: FieldValue }).value);
  return undefined;
}

export function asString(v: FieldValue): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString();
  return undefined;
}

export function parseQueueArgs(queue: string, vhost: string, args: FieldTable): QueueArgs {
  const bad = (key: string, why: string) =>
    preconditionFailed(`invalid arg '${key}' for queue '${queue}' in vhost '${vhost}': ${why}`);
  const int = (key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | null => {
    const v = args[key];
    if (v === undefined) return null;
    const n = asInteger(v);
    if (n === undefined) throw bad(key, `{unacceptable_type,${typeName(v)}}`);
    if (n < min) throw bad(key, n < 0 ? `{value_negative,${n}}` : `{value_zero,${n}}`);
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
  const out: QueueArgs = {
    messageTtl: int('x-message-ttl', 0, 0xffffffff),
    expires: int('x-expires', 1, 0xffffffff),
    maxLength: int('x-max-length', 0),
    maxLengthBytes: int('x-max-length-bytes', 0),
    overflow: 'drop-head',
    deadLetterExchange: str('x-dead-letter-exchange'),
    deadLetterRoutingKey: str('x-dead-letter-routing-key'),
    maxPriority: int('x-max-priority', 0, 255),
    deliveryLimit: int('x-delivery-limit', 0),
    singleActiveConsumer: false,
    queueType: 'classic',
  };
  const ov = str('x-overflow');
  if (ov !== null) {
    if (ov !== 'drop-head' && ov !== 'reject-publish' && ov !== 'reject-publish-dlx') {
      throw bad('x-overflow', `{invalid_value,<<"${ov}">>}; expected drop-head, reject-publish or reject-publish-dlx`);
    }
    out.overflow = ov;
  }
  if (out.deadLetterRoutingKey !== null && out.deadLetterExchange === null) {
    throw bad('x-dead-letter-routing-key', 'x-dead-letter-routing-key requires x-dead-letter-exchange');
  }
  const sac = args['x-single-active-consumer'];
  if (sac !== undefined) {
    if (typeof sac !== 'boolean') throw bad('x-single-active-consumer', `{unacceptable_type,${typeName(sac)}}`);
    out.singleActiveConsumer = sac;
  }
  const qt = str('x-queue-type');
  if (qt !== null) {
    if (qt !== 'classic' && qt !== 'quorum' && qt !== 'stream') {
      throw bad('x-queue-type', `{invalid_value,<<"${qt}">>}; expected classic, quorum or stream`);
    }
    out.queueType = qt;
  }
  const mode = str('x-queue-mode');
  if (mode !== null && mode !== 'default' && mode !== 'lazy') {
    throw bad('x-queue-mode', `{invalid_value,<<"${mode}">>}; expected default or lazy`);
  }
  return out;
}
