/**
 * Content header frames and basic-class properties.
 *
 * Header frame payload: class-id (u16), weight (u16, 0), body-size (u64), property flags
 * (one or more u16 words; bit 0 of a word = another flags word follows), property list.
 * Basic properties by flag bit: 15 content-type, 14 content-encoding, 13 headers, 12 delivery-mode,
 * 11 priority, 10 correlation-id, 9 reply-to, 8 expiration, 7 message-id, 6 timestamp, 5 type,
 * 4 user-id, 3 app-id, 2 cluster-id (the spec's "reserved").
 *
 * "raw" below always means the flag word(s) plus property list, exactly as received: the broker
 * stores and forwards those bytes untouched, and decodes them only when it needs a value.
 */
import { AmqpError } from './errors';
import { FieldTable, decodeTable, tableSize, validateTable, writeTable } from './field-table';
import { readStr, readU64, shortstrLen, writeShortstr, writeU64 } from './codec';

export interface BasicProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: FieldTable;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  /** seconds since the epoch */
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

export const FLAG_CONTENT_TYPE = 0x8000;
export const FLAG_CONTENT_ENCODING = 0x4000;
export const FLAG_HEADERS = 0x2000;
export const FLAG_DELIVERY_MODE = 0x1000;
export const FLAG_PRIORITY = 0x0800;
export const FLAG_CORRELATION_ID = 0x0400;
export const FLAG_REPLY_TO = 0x0200;
export const FLAG_EXPIRATION = 0x0100;
export const FLAG_MESSAGE_ID = 0x0080;
export const FLAG_TIMESTAMP = 0x0040;
export const FLAG_TYPE = 0x0020;
export const FLAG_USER_ID = 0x0010;
export const FLAG_APP_ID = 0x0008;
export const FLAG_CLUSTER_ID = 0x0004;

/** Property list order with flag bits, wire types and the names used in BasicProperties. */
export const BASIC_PROPERTY_LIST: readonly { key: keyof BasicProperties; flag: number; type: 'shortstr' | 'table' | 'octet' | 'timestamp' }[] = [
  { key: 'contentType', flag: FLAG_CONTENT_TYPE, type: 'shortstr' },
  { key: 'contentEncoding', flag: FLAG_CONTENT_ENCODING, type: 'shortstr' },
  { key: 'headers', flag: FLAG_HEADERS, type: 'table' },
  { key: 'deliveryMode', flag: FLAG_DELIVERY_MODE, type: 'octet' },
  { key: 'priority', flag: FLAG_PRIORITY, type: 'octet' },
  { key: 'correlationId', flag: FLAG_CORRELATION_ID, type: 'shortstr' },
  { key: 'replyTo', flag: FLAG_REPLY_TO, type: 'shortstr' },
  { key: 'expiration', flag: FLAG_EXPIRATION, type: 'shortstr' },
  { key: 'messageId', flag: FLAG_MESSAGE_ID, type: 'shortstr' },
  { key: 'timestamp', flag: FLAG_TIMESTAMP, type: 'timestamp' },
  { key: 'type', flag: FLAG_TYPE, type: 'shortstr' },
  { key: 'userId', flag: FLAG_USER_ID, type: 'shortstr' },
  { key: 'appId', flag: FLAG_APP_ID, type: 'shortstr' },
  { key: 'clusterId', flag: FLAG_CLUSTER_ID, type: 'shortstr' },
];

function bad(text: string): AmqpError {
  return new AmqpError(502, `malformed content header properties: ${text}`);
}

/**
 * Read the flag word(s) at raw[0..]; returns the first flag word and leaves the property list
 * offset in `listStart`. Further flag words (continuation bit 0) carry no basic properties; they
 * are skipped.
 */
let listStart = 0;
function readFlags(raw: Buffer): number {
  if (raw.length < 2) throw bad('missing property flags');
  const flags = raw.readUInt16BE(0);
  let o = 2;
  let w = flags;
  while (w & 1) {
    if (o + 2 > raw.length) throw bad('continuation flag word missing');
    w = raw.readUInt16BE(o);
    o += 2;
  }
  listStart = o;
  return flags;
}

function shortstrAt(raw: Buffer, o: number, what: string): number {
  if (o >= raw.length) throw bad(`${what} truncated`);
  const end = o + 1 + raw[o];
  if (end > raw.length) throw bad(`${what} truncated`);
  return end;
}

/** Decode raw properties (flag words + property list). Absent properties are absent keys. */
export function decodeProperties(raw: Buffer): BasicProperties {
  const flags = readFlags(raw);
  let o = listStart;
  const p: BasicProperties = {};
  if (flags === 0) return p;
  const n = raw.length;
  for (let i = 0; i < BASIC_PROPERTY_LIST.length; i++) {
    const d = BASIC_PROPERTY_LIST[i];
    if ((flags & d.flag) === 0) continue;
    switch (d.type) {
      case 'shortstr': {
        const end = shortstrAt(raw, o, d.key);
        (p as Record<string, unknown>)[d.key] = readStr(raw, o + 1, end);
        o = end;
        break;
      }
      case 'octet':
        if (o + 1 > n) throw bad(`${d.key} truncated`);
        (p as Record<string, unknown>)[d.key] = raw[o];
        o += 1;
        break;
      case 'timestamp':
        if (o + 8 > n) throw bad(`${d.key} truncated`);
        p.timestamp = readU64(raw, o);
        o += 8;
        break;
      case 'table': {
        const t = decodeTable(raw, o);
        p.headers = t.table;
        o = t.end;
        break;
      }
    }
  }
  return p;
}

/** Encoded size of raw properties (flags + list). */
export function propertiesSize(p: BasicProperties): number {
  let n = 2;
  if (p.contentType != null) n += 1 + shortstrLen(p.contentType, 'content-type');
  if (p.contentEncoding != null) n += 1 + shortstrLen(p.contentEncoding, 'content-encoding');
  if (p.headers != null) n += tableSize(p.headers);
  if (p.deliveryMode != null) n += 1;
  if (p.priority != null) n += 1;
  if (p.correlationId != null) n += 1 + shortstrLen(p.correlationId, 'correlation-id');
  if (p.replyTo != null) n += 1 + shortstrLen(p.replyTo, 'reply-to');
  if (p.expiration != null) n += 1 + shortstrLen(p.expiration, 'expiration');
  if (p.messageId != null) n += 1 + shortstrLen(p.messageId, 'message-id');
  if (p.timestamp != null) n += 8;
  if (p.type != null) n += 1 + shortstrLen(p.type, 'type');
  if (p.userId != null) n += 1 + shortstrLen(p.userId, 'user-id');
  if (p.appId != null) n += 1 + shortstrLen(p.appId, 'app-id');
  if (p.clusterId != null) n += 1 + shortstrLen(p.clusterId, 'cluster-id');
  return n;
}

/** Write raw properties at off; returns the new offset. Space: propertiesSize(p). */
export function writeProperties(b: Buffer, off: number, p: BasicProperties): number {
  let flags = 0;
  let o = off + 2;
  if (p.contentType != null) {
    flags |= FLAG_CONTENT_TYPE;
    o = writeShortstr(b, o, p.contentType);
  }
  if (p.contentEncoding != null) {
    flags |= FLAG_CONTENT_ENCODING;
    o = writeShortstr(b, o, p.contentEncoding);
  }
  if (p.headers != null) {
    flags |= FLAG_HEADERS;
    o = writeTable(b, o, p.headers);
  }
  if (p.deliveryMode != null) {
    flags |= FLAG_DELIVERY_MODE;
    b.writeUInt8(p.deliveryMode, o++);
  }
  if (p.priority != null) {
    flags |= FLAG_PRIORITY;
    b.writeUInt8(p.priority, o++);
  }
  if (p.correlationId != null) {
    flags |= FLAG_CORRELATION_ID;
    o = writeShortstr(b, o, p.correlationId);
  }
  if (p.replyTo != null) {
    flags |= FLAG_REPLY_TO;
    o = writeShortstr(b, o, p.replyTo);
  }
  if (p.expiration != null) {
    flags |= FLAG_EXPIRATION;
    o = writeShortstr(b, o, p.expiration);
  }
  if (p.messageId != null) {
    flags |= FLAG_MESSAGE_ID;
    o = writeShortstr(b, o, p.messageId);
  }
  if (p.timestamp != null) {
    flags |= FLAG_TIMESTAMP;
    o = writeU64(b, o, p.timestamp);
  }
  if (p.type != null) {
    flags |= FLAG_TYPE;
    o = writeShortstr(b, o, p.type);
  }
  if (p.userId != null) {
    flags |= FLAG_USER_ID;
    o = writeShortstr(b, o, p.userId);
  }
  if (p.appId != null) {
    flags |= FLAG_APP_ID;
    o = writeShortstr(b, o, p.appId);
  }
  if (p.clusterId != null) {
    flags |= FLAG_CLUSTER_ID;
    o = writeShortstr(b, o, p.clusterId);
  }
  b.writeUInt16BE(flags, off);
  return o;
}

/** Encode raw properties (flag word + property list). */
export function encodeProperties(p: BasicProperties): Buffer {
  const b = Buffer.allocUnsafe(propertiesSize(p));
  writeProperties(b, 0, p);
  return b;
}

/** Raw properties of a message without any property set (a single zero flag word). */
export const EMPTY_PROPERTIES: Buffer = Buffer.from([0, 0]);

export interface ContentHeader {
  classId: number;
  /** weight, always 0 in 0-9-1 */
  weight: number;
  bodySize: number;
  /** flag words + property list: a zero-copy subarray of the payload */
  rawProps: Buffer;
}

/** Split a header frame payload. Throws AmqpError 502 when it is too short. */
export function decodeContentHeader(payload: Buffer): ContentHeader {
  if (payload.length < 14) {
    throw new AmqpError(502, `content header frame payload too short (${payload.length} bytes, at least 14 needed)`);
  }
  return {
    classId: payload.readUInt16BE(0),
    weight: payload.readUInt16BE(2),
    bodySize: readU64(payload, 4),
    rawProps: payload.subarray(12),
  };
}

/** What the broker needs from every published message, without decoding the rest. */
export interface PropertySummary {
  /** 0 when absent (transient); 2 = persistent */
  deliveryMode: number;
  /** -1 when absent */
  priority: number;
  expiration: string | undefined;
  userId: string | undefined;
  hasHeaders: boolean;
}

export function newPropertySummary(): PropertySummary {
  return { deliveryMode: 0, priority: -1, expiration: undefined, userId: undefined, hasHeaders: false };
}

/**
 * Fast scan of raw properties into out. Allocates only the expiration and user-id strings
 * when present. Walks the whole property list and validates the headers table without decoding
 * it, so malformed properties throw AmqpError 502 here, at publish time, as in RabbitMQ.
 */
export function scanProperties(raw: Buffer, out: PropertySummary): void {
  out.deliveryMode = 0;
  out.priority = -1;
  out.expiration = undefined;
  out.userId = undefined;
  out.hasHeaders = false;
  const flags = readFlags(raw);
  if ((flags & 0xfffc) === 0) return;
  let o = listStart;
  const n = raw.length;
  if (flags & FLAG_CONTENT_TYPE) o = shortstrAt(raw, o, 'contentType');
  if (flags & FLAG_CONTENT_ENCODING) o = shortstrAt(raw, o, 'contentEncoding');
  if (flags & FLAG_HEADERS) {
    o = validateTable(raw, o);
    out.hasHeaders = true;
  }
  if (flags & FLAG_DELIVERY_MODE) {
    if (o >= n) throw bad('deliveryMode truncated');
    out.deliveryMode = raw[o++];
  }
  if (flags & FLAG_PRIORITY) {
    if (o >= n) throw bad('priority truncated');
    out.priority = raw[o++];
  }
  if (flags & FLAG_CORRELATION_ID) o = shortstrAt(raw, o, 'correlationId');
  if (flags & FLAG_REPLY_TO) o = shortstrAt(raw, o, 'replyTo');
  if (flags & FLAG_EXPIRATION) {
    const end = shortstrAt(raw, o, 'expiration');
    out.expiration = readStr(raw, o + 1, end);
    o = end;
  }
  if (flags & FLAG_MESSAGE_ID) o = shortstrAt(raw, o, 'messageId');
  if (flags & FLAG_TIMESTAMP) {
    if (o + 8 > n) throw bad('timestamp truncated');
    o += 8;
  }
  if (flags & FLAG_TYPE) o = shortstrAt(raw, o, 'type');
  if (flags & FLAG_USER_ID) {
    const end = shortstrAt(raw, o, 'userId');
    out.userId = readStr(raw, o + 1, end);
    o = end;
  }
  if (flags & FLAG_APP_ID) o = shortstrAt(raw, o, 'appId');
  if (flags & FLAG_CLUSTER_ID) shortstrAt(raw, o, 'clusterId');
}
