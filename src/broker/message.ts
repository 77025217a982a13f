// A message as the broker keeps it: the log record input itself, so the object handed to each
// destination queue's log is the one the queue later reads back from the tail cache.
import type { LogRecordInput, LogRecord } from '../store';

export const FLAG_PERSISTENT = 1;

// envelope: [exchange, routingKey, expirationMs | null]. An array keeps the msgpack small.
export type Envelope = [string, string, number | null];

export interface Message extends LogRecordInput {
  timestamp: number;
  flags: number;
  envelope: Envelope;
  props: Buffer;
  body: Buffer;
  // Set by the log on append. Declared up front so every message object has one shape (count
  // was added by the log, so messages that went through a log had a hidden class of their own).
  offset: number | undefined;
  count: number;
  size: number;
}

export function newMessage(exchange: string, routingKey: string, props: Buffer, body: Buffer,
  persistent: boolean, expirationMs: number | null, timestamp = Date.now()): Message {
  return newMessageWith([exchange, routingKey, expirationMs], props, body, persistent, timestamp);
}

export function newMessageWith(envelope: Envelope, props: Buffer, body: Buffer, persistent: boolean, timestamp = Date.now()): Message {
  return { timestamp, flags: persistent ? FLAG_PERSISTENT : 0, envelope, props, body, offset: undefined, count: 1, size: 0 };
}

export function envelopeOf(rec: LogRecord | LogRecordInput): Envelope {
  const e = rec.envelope as Envelope | undefined;
  return e ?? ['', '', null];
}

export function isPersistent(rec: { flags?: number }): boolean {
  return ((rec.flags ?? 0) & FLAG_PERSISTENT) !== 0;
}

// RabbitMQ accepts an expiration property that is a non-negative integer in decimal text.
export function parseExpiration(s: string): number | null | 'invalid' {
  if (!/^\d{1,15}$/.test(s)) return 'invalid';
  return Number(s);
}
