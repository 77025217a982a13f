// The arguments of a stream queue (queue.declare) and of its consumers (basic.consume), with
// RabbitMQ 3.10's checks, order and reply texts (measured against 3.10.8):
//   1. an argument streams do not take: "invalid arg 'x-message-ttl' for queue 'q' in vhost '/'
//      of queue type rabbit_stream_queue" (before any value is checked)
//   2. the values (generic checks of queue-args.ts, and x-max-age)
//   3. the properties: auto-delete, then exclusive, then non-durable
import { type FieldTable, type FieldValue, Typed } from '../protocol';
import { type AmqpError, preconditionFailed } from './errors';
import { asInteger, asString, parseQueueArgs, typeName } from './queue-args';
import { DEFAULT_FILTER_SIZE, MAX_FILTER_SIZE, MIN_FILTER_SIZE, type StreamFilter } from './stream-bloom';

export interface StreamArgs {
  maxLengthBytes: number | null;
  maxAgeMs: number | null;
  maxSegmentBytes: number;
  filterSize: number;
}

/** RabbitMQ's default x-stream-max-segment-size-bytes */
export const DEFAULT_SEGMENT_BYTES = 500_000_000;

// what a stream accepts; other x- arguments a classic queue knows are refused, unknown ones ignored
const STREAM_ARGS = new Set(['x-queue-type', 'x-max-length-bytes', 'x-max-age', 'x-stream-max-segment-size-bytes',
  'x-stream-filter-size-bytes', 'x-initial-cluster-size', 'x-queue-leader-locator']);
const REFUSED_ARGS = ['x-message-ttl', 'x-expires', 'x-max-length', 'x-overflow', 'x-dead-letter-exchange',
  'x-dead-letter-routing-key', 'x-max-priority', 'x-delivery-limit', 'x-single-active-consumer', 'x-queue-mode',
  'x-max-in-memory-length', 'x-max-in-memory-bytes', 'x-queue-master-locator', 'x-queue-version'];

/** Arguments compared on redeclare (RabbitMQ 3.10 for streams). */
export const STREAM_EQUIV_ARGS = ['x-queue-type', 'x-max-length-bytes', 'x-max-age', 'x-stream-max-segment-size-bytes',
  'x-initial-cluster-size', 'x-queue-leader-locator'];

const AGE_UNITS: Record<string, number> = {
  Y: 365 * 24 * 3600_000, M: 30 * 24 * 3600_000, D: 24 * 3600_000, h: 3600_000, m: 60_000, s: 1000,
};

/** "7D" -> ms; null when not of the form ^[0-9]+(Y|M|D|h|m|s)$ or zero. */
export function parseAge(s: string): number | null {
  const m = /^([0-9]+)(Y|M|D|h|m|s)$/.exec(s);
  if (m === null) return null;
  const n = Number(m[1]) * AGE_UNITS[m[2]];
  return n > 0 && Number.isSafeInteger(n) ? n : null;
}

/** Step 1: arguments a stream does not take. */
export function checkStreamArgNames(queue: string, vhost: string, args: FieldTable): void {
  for (const k of REFUSED_ARGS) {
    if (args[k] !== undefined && !STREAM_ARGS.has(k)) {
      throw preconditionFailed(`invalid arg '${k}' for queue '${queue}' in vhost '${vhost}' of queue type rabbit_stream_queue`);
    }
  }
}

/** Step 2 (after the generic checks): the stream's own values. */
export function parseStreamArgs(queue: string, vhost: string, args: FieldTable): StreamArgs {
  const bad = (key: string, why: string) => preconditionFailed(`invalid arg '${key}' for queue '${queue}' in vhost '${vhost}': ${why}`);
  const int = (key: string): number | null => {
    const v = args[key];
    if (v === undefined) return null;
    const n = asInteger(v);
    if (n === undefined) throw bad(key, `"expected integer, got ${typeName(v)}"`);
    if (n < 0) throw bad(key, `{value_negative,${n}}`);
    return n;
  };
  let maxAgeMs: number | null = null;
  const age = args['x-max-age'];
  if (age !== undefined) {
    const s = asString(age);
    if (s === undefined) throw bad('x-max-age', `{unacceptable_type,${typeName(age)}}`);
    maxAgeMs = parseAge(s);
    if (maxAgeMs === null) throw bad('x-max-age', 'invalid_max_age');
  }
  const seg = int('x-stream-max-segment-size-bytes');
  // accepted whatever its value, as 3.10 does (it does not know the argument); used within 16..255
  const fs = args['x-stream-filter-size-bytes'];
  let filterSize = DEFAULT_FILTER_SIZE;
  const fn = fs === undefined ? undefined : asInteger(fs);
  if (fn !== undefined) filterSize = Math.min(MAX_FILTER_SIZE, Math.max(MIN_FILTER_SIZE, fn));
  return {
    maxLengthBytes: int('x-max-length-bytes'),
    maxAgeMs,
    maxSegmentBytes: seg === null || seg === 0 ? DEFAULT_SEGMENT_BYTES : Math.max(4096, Math.min(seg, 2 ** 31)),
    filterSize,
  };
}

/** Step 3: the queue's properties. */
export function checkStreamProperties(queue: string, vhost: string, d: { durable: boolean; exclusive: boolean; autoDelete: boolean }): void {
  const what = `for queue '${queue}' in vhost '${vhost}'`;
  if (d.autoDelete) throw preconditionFailed(`invalid property 'auto-delete' ${what}`);
  if (d.exclusive) throw preconditionFailed(`invalid property 'exclusive-owner' ${what}`);
  if (!d.durable) throw preconditionFailed(`invalid property 'non-durable' ${what}`);
}

/** Whether a queue.declare asks for a stream. */
export function isStreamDeclare(args: FieldTable): boolean {
  const t = args['x-queue-type'];
  return t !== undefined && asString((t instanceof Typed ? t.value : t) as FieldValue) === 'stream';
}

/** Every check of a new stream's declaration, in RabbitMQ's order (see the top of this file). */
export function checkStreamDeclare(queue: string, vhost: string, d: { durable: boolean; exclusive: boolean; autoDelete: boolean; args: FieldTable }): void {
  checkStreamArgNames(queue, vhost, d.args);
  parseQueueArgs(queue, vhost, d.args);
  parseStreamArgs(queue, vhost, d.args);
  checkStreamProperties(queue, vhost, d);
}

export function serverNamedStream(): AmqpError {
  return preconditionFailed('Cannot declare a server-named queue for type rabbit_stream_queue');
}

// ---- consumers ------------------------------------------------------------------------------------

export type OffsetSpec =
  | { kind: 'first' }
  | { kind: 'last' }
  | { kind: 'next' }
  | { kind: 'offset'; offset: number }
  | { kind: 'timestamp'; ms: number };

/**
 * x-stream-offset: first, last, next, an offset, a timestamp ('T', seconds) or an interval
 * ("1h"). Anything else is a 406 with RabbitMQ's text (3.10 answers some with 541: see
 * docs/streams.md).
 */
export function parseOffsetSpec(queue: string, vhost: string, v: FieldValue | undefined, now = Date.now()): OffsetSpec {
  if (v === undefined) return { kind: 'next' };
  const bad = (shown: string) =>
    preconditionFailed(`invalid arg 'x-stream-offset' for queue '${queue}' in vhost '${vhost}': {invalid_stream_offset_arg,${shown}}`);
  const x = v instanceof Typed ? v.value : v;
  if (v instanceof Typed && v.type === 'T') {
    const secs = asInteger(x as FieldValue);
    if (secs !== undefined) return { kind: 'timestamp', ms: secs * 1000 };
  }
  if (x instanceof Date) return { kind: 'timestamp', ms: Math.floor(x.getTime() / 1000) * 1000 };
  const n = asInteger(x as FieldValue);
  if (n !== undefined) return { kind: 'offset', offset: Math.max(0, n) };
  const s = asString(x as FieldValue);
  if (s !== undefined) {
    if (s === 'first' || s === 'last' || s === 'next') return { kind: s };
    const age = parseAge(s);
    if (age !== null) return { kind: 'timestamp', ms: now - age };
    throw bad(`{longstr,<<"${s}">>}`);
  }
  throw bad(`{${typeName(v)},${showValue(x as FieldValue)}}`);
}

function showValue(v: FieldValue): string {
  if (typeof v === 'boolean' || typeof v === 'number') return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** x-stream-filter (a string or an array of strings) and x-stream-match-unfiltered; null: no filter. */
export function parseConsumerFilter(queue: string, vhost: string, args: FieldTable): StreamFilter | null {
  const f = args['x-stream-filter'];
  const mu = args['x-stream-match-unfiltered'];
  const matchUnfiltered = (mu instanceof Typed ? mu.value : mu) === true;
  if (f === undefined) return null;
  const bad = () => preconditionFailed(`invalid arg 'x-stream-filter' for queue '${queue}' in vhost '${vhost}': expected a string or an array of strings`);
  const raw = f instanceof Typed ? f.value : f;
  const list = Array.isArray(raw) ? raw : [raw];
  const values: string[] = [];
  for (const x of list) {
    const s = asString((x instanceof Typed ? x.value : x) as FieldValue);
    if (s === undefined) throw bad();
    values.push(s);
  }
  if (values.length === 0) throw bad();
  return { values, matchUnfiltered };
}

