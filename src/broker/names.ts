// Names and arguments that Warren later writes into an AMQP shortstr (at most 255 bytes of
// UTF-8): queue and exchange names (declare-ok, deliver, get-ok, return), routing keys,
// consumer tags, and the queue and exchange arguments that become one of those when a message
// is dead-lettered or rerouted (x-dead-letter-exchange, x-dead-letter-routing-key,
// alternate-exchange). They are refused when declared, so that nothing fails at delivery time.
//
// Over AMQP every name is itself a shortstr, so only the arguments (longstr values in a field
// table) can be too long; over HTTP and in imported definitions the names can be too.
import type { FieldTable, FieldValue } from '../protocol';
import { Typed } from '../protocol';
import { preconditionFailed } from './errors';

export const SHORTSTR_MAX = 255;

// UTF-8 byte length, without encoding short strings: a string of n UTF-16 units is at most 3n
// bytes, so anything up to 85 units fits.
export function shortstrBytes(s: string): number {
  return s.length <= 85 ? s.length : Buffer.byteLength(s, 'utf8');
}

export function fitsShortstr(s: string): boolean {
  return s.length <= 85 || Buffer.byteLength(s, 'utf8') <= SHORTSTR_MAX;
}

export type NameKind = 'queue' | 'exchange' | 'routing_key' | 'consumer_tag' | 'vhost' | 'user';

// RabbitMQ's management API refuses a queue name over 255 bytes with this text (400); Warren
// uses the same words for every name it would have to send as a shortstr.
export function nameProblem(kind: NameKind, name: string): string | null {
  if (fitsShortstr(name)) return null;
  return `${kind} should be less than ${SHORTSTR_MAX} bytes, actually was ${Buffer.byteLength(name, 'utf8')}`;
}

export function checkName(kind: NameKind, name: string): void {
  const p = nameProblem(kind, name);
  if (p !== null) throw preconditionFailed(p);
}

// Queue arguments whose string value becomes a message's exchange or routing key.
const QUEUE_SHORTSTR_ARGS = ['x-dead-letter-exchange', 'x-dead-letter-routing-key'];
// Exchange arguments naming another exchange.
const EXCHANGE_SHORTSTR_ARGS = ['alternate-exchange'];

function argProblem(args: FieldTable, keys: string[], what: string, name: string, vhost: string): string | null {
  for (const k of keys) {
    const s = stringValue(args[k]);
    if (s === undefined || fitsShortstr(s)) continue;
    // The shape of RabbitMQ's argument errors ({value_too_large,N,Max} for integers).
    return `invalid arg '${k}' for ${what} '${name}' in vhost '${vhost}': {value_too_long,${Buffer.byteLength(s, 'utf8')},${SHORTSTR_MAX}}`;
  }
  return null;
}

export function queueArgsProblem(queue: string, vhost: string, args: FieldTable): string | null {
  return argProblem(args, QUEUE_SHORTSTR_ARGS, 'queue', queue, vhost);
}

export function exchangeArgsProblem(exchange: string, vhost: string, args: FieldTable): string | null {
  return argProblem(args, EXCHANGE_SHORTSTR_ARGS, 'exchange', exchange, vhost);
}

// A new queue: its name, then its arguments (406 over AMQP, 400 over HTTP).
export function checkQueueDeclare(queue: string, vhost: string, args: FieldTable): void {
  checkName('queue', queue);
  const p = queueArgsProblem(queue, vhost, args);
  if (p !== null) throw preconditionFailed(p);
}

export function checkExchangeDeclare(exchange: string, vhost: string, args: FieldTable): void {
  checkName('exchange', exchange);
  const p = exchangeArgsProblem(exchange, vhost, args);
  if (p !== null) throw preconditionFailed(p);
}

function stringValue(v: FieldValue | undefined): string | undefined {
  if (v instanceof Typed) return stringValue(v.value);
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString();
  return undefined;
}

// Everything a definitions import would declare, checked before anything is created (an import
// is all or nothing). Each problem is one line of text.
export function definitionsNameProblems(d: {
  queues?: Array<{ name: string; vhost: string; arguments?: Record<string, unknown> }>;
  exchanges?: Array<{ name: string; vhost: string; arguments?: Record<string, unknown> }>;
  bindings?: Array<{ routing_key: string }>;
}): string[] {
  const out: string[] = [];
  const add = (p: string | null) => { if (p !== null) out.push(p); };
  for (const q of d.queues ?? []) {
    if (typeof q.name !== 'string') continue;
    add(nameProblem('queue', q.name));
    add(queueArgsProblem(q.name, String(q.vhost), (q.arguments ?? {}) as FieldTable));
  }
  for (const x of d.exchanges ?? []) {
    if (typeof x.name !== 'string') continue;
    add(nameProblem('exchange', x.name));
    add(exchangeArgsProblem(x.name, String(x.vhost), (x.arguments ?? {}) as FieldTable));
  }
  for (const b of d.bindings ?? []) if (typeof b.routing_key === 'string') add(nameProblem('routing_key', b.routing_key));
  return out;
}
