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

// Built by a constructor, not an object literal. V8 pretenures a literal's allocation site once
// nearly all of its objects survive a young-generation GC, and the first messages of a run often
// wait in a queue for a moment, so they do. From then on every message of the process was
// allocated in the old generation and held its young props and body slices alive until the next
// full GC: S1 ran at 2-2.5 us/msg instead of 1 in about half of the runs, in the old version too.
// Objects made with `new` have no allocation site and are never pretenured.
class MessageObject implements Message {
  declare timestamp: number;
  declare flags: number;
  declare envelope: Envelope;
  declare props: Buffer;
  declare body: Buffer;
  declare offset: number | undefined;
  declare count: number;
  declare size: number;
  constructor(timestamp: number, flags: number, envelope: Envelope, props: Buffer, body: Buffer) {
    this.timestamp = timestamp;
    this.flags = flags;
    this.envelope = envelope;
    this.props = props;
    this.body = body;
    this.offset = undefined;
    this.count = 1;
    this.size = 0;
  }
}

export function newMessageWith(envelope: Envelope, props: Buffer, body: Buffer, persistent: boolean, timestamp = Date.now()): Message {
  return new MessageObject(timestamp, persistent ? FLAG_PERSISTENT : 0, envelope, props, body);
}

/** Another record object for the same message (a log stamps its offset on the one it keeps). */
export function copyMessage(m: Message): Message {
  return new MessageObject(m.timestamp, m.flags, m.envelope, m.props, m.body);
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
