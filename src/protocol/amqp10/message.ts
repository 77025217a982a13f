/**
 * An AMQP 1.0 message (part 3.2): a sequence of described sections. Stream queues store
 * messages in this form, as RabbitMQ does; the Stream protocol carries them as they are.
 *
 *   0x70 header                 list   durable, priority, ttl, first-acquirer, delivery-count
 *   0x71 delivery-annotations   map
 *   0x72 message-annotations    map    symbol keys (x-exchange, x-routing-key, x-basic-* ...)
 *   0x73 properties             list   message-id, user-id, to, subject, reply-to, correlation-id,
 *                                      content-type, content-encoding, absolute-expiry-time,
 *                                      creation-time, group-id, group-sequence, reply-to-group-id
 *   0x74 application-properties map    string keys, simple values
 *   0x75 data                   binary (one or more)
 *   0x76 amqp-sequence          list   (one or more)
 *   0x77 amqp-value             any
 *   0x78 footer                 map
 */
import { Amqp10Error, Amqp10Reader, type Amqp10Value, Amqp10Writer, Code } from './types';

export const enum SectionCode {
  Header = 0x70, DeliveryAnnotations = 0x71, MessageAnnotations = 0x72, Properties = 0x73,
  ApplicationProperties = 0x74, Data = 0x75, AmqpSequence = 0x76, AmqpValue = 0x77, Footer = 0x78,
}

const SECTION_NAMES: Record<string, number> = {
  'amqp:header:list': SectionCode.Header,
  'amqp:delivery-annotations:map': SectionCode.DeliveryAnnotations,
  'amqp:message-annotations:map': SectionCode.MessageAnnotations,
  'amqp:properties:list': SectionCode.Properties,
  'amqp:application-properties:map': SectionCode.ApplicationProperties,
  'amqp:data:binary': SectionCode.Data,
  'amqp:amqp-sequence:list': SectionCode.AmqpSequence,
  'amqp:value:*': SectionCode.AmqpValue,
  'amqp:footer:map': SectionCode.Footer,
};

/** Where one section is: [start, end) is the whole section, its value starts at valueStart. */
export interface SectionSpan {
  code: number;
  start: number;
  valueStart: number;
  end: number;
}

/** Splits an encoded message into its sections. Throws Amqp10Error when it is not one. */
export function scanSections(buf: Buffer, start = 0, end = buf.length): SectionSpan[] {
  const r = new Amqp10Reader(buf, start, end);
  const out: SectionSpan[] = [];
  while (!r.atEnd) {
    const s = r.pos;
    if (r.u8() !== Code.Described) throw new Amqp10Error(`not an AMQP 1.0 message section at byte ${s - start}`);
    const code = sectionCode(r);
    const valueStart = r.pos;
    r.skip();
    out.push({ code, start: s, valueStart, end: r.pos });
  }
  return out;
}

function sectionCode(r: Amqp10Reader): number {
  const c = r.u8();
  let code = -1;
  if (c === Code.SmallUlong) code = r.u8();
  else if (c === Code.Ulong) {
    const hi = r.u32();
    const lo = r.u32();
    if (hi === 0) code = lo;
  } else if (c === Code.Sym8 || c === Code.Sym32) {
    r.pos--;
    const v = r.read();
    code = SECTION_NAMES[v.value as string] ?? -1;
  }
  if (code < SectionCode.Header || code > SectionCode.Footer) throw new Amqp10Error('unknown AMQP 1.0 message section');
  return code;
}

/** The properties section, decoded (absent fields are undefined). */
export interface Amqp10Properties {
  messageId?: Amqp10Value;
  userId?: Buffer;
  to?: string;
  subject?: string;
  replyTo?: string;
  correlationId?: Amqp10Value;
  contentType?: string;
  contentEncoding?: string;
  absoluteExpiryTime?: number;
  creationTime?: number;
  groupId?: string;
  groupSequence?: number;
  replyToGroupId?: string;
}

const PROPERTY_FIELDS: Array<keyof Amqp10Properties> = [
  'messageId', 'userId', 'to', 'subject', 'replyTo', 'correlationId', 'contentType', 'contentEncoding',
  'absoluteExpiryTime', 'creationTime', 'groupId', 'groupSequence', 'replyToGroupId',
];

function sectionValue(buf: Buffer, s: SectionSpan): Amqp10Value {
  return new Amqp10Reader(buf, s.valueStart, s.end).read();
}

export function decodePropertiesSection(buf: Buffer, s: SectionSpan): Amqp10Properties {
  const v = sectionValue(buf, s);
  if (v.type !== 'list') throw new Amqp10Error('AMQP 1.0 properties section is not a list');
  const p: Amqp10Properties = {};
  const n = Math.min(v.value.length, PROPERTY_FIELDS.length);
  for (let i = 0; i < n; i++) {
    const f = v.value[i];
    if (f.type === 'null') continue;
    const key = PROPERTY_FIELDS[i];
    switch (key) {
      case 'messageId': case 'correlationId': p[key] = f; break;
      case 'userId': if (f.type === 'binary') p.userId = f.value; break;
      case 'absoluteExpiryTime': case 'creationTime': if (f.type === 'timestamp') p[key] = f.value; break;
      case 'groupSequence': if (typeof f.value === 'number') p.groupSequence = f.value; break;
      default: if (f.type === 'string' || f.type === 'symbol') p[key] = f.value;
    }
  }
  return p;
}

/** A map section (annotations, application properties, footer) as [key, value] pairs. */
export function decodeMapSection(buf: Buffer, s: SectionSpan): Array<[Amqp10Value, Amqp10Value]> {
  const v = sectionValue(buf, s);
  if (v.type !== 'map') throw new Amqp10Error('AMQP 1.0 map section is not a map');
  return v.value;
}

/** The content of a data section (a view of `buf`). */
export function dataSectionContent(buf: Buffer, s: SectionSpan): Buffer {
  const c = buf[s.valueStart];
  if (c === Code.Vbin8) return buf.subarray(s.valueStart + 2, s.end);
  if (c === Code.Vbin32) return buf.subarray(s.valueStart + 5, s.end);
  throw new Amqp10Error('AMQP 1.0 data section is not binary');
}

// ---- encoding -------------------------------------------------------------------------------------

export function beginSection(w: Amqp10Writer, code: SectionCode): void {
  w.ensure(3);
  w.buf[w.pos++] = Code.Described;
  w.buf[w.pos++] = Code.SmallUlong;
  w.buf[w.pos++] = code;
}

export function writeDataSection(w: Amqp10Writer, body: Uint8Array): void {
  beginSection(w, SectionCode.Data);
  w.binary(body);
}

/** A properties section (nothing when every field is absent); trailing absent fields are left out. */
export function writePropertiesSection(w: Amqp10Writer, p: Amqp10Properties): void {
  let last = -1;
  for (let i = 0; i < PROPERTY_FIELDS.length; i++) if (p[PROPERTY_FIELDS[i]] !== undefined) last = i;
  if (last < 0) return;
  beginSection(w, SectionCode.Properties);
  w.begin(Code.List8);
  for (let i = 0; i <= last; i++) {
    const key = PROPERTY_FIELDS[i];
    const v = p[key];
    if (v === undefined) { w.null(); continue; }
    switch (key) {
      case 'messageId': case 'correlationId': w.value(v as Amqp10Value); break;
      case 'userId': w.binary(v as Buffer); break;
      case 'contentType': case 'contentEncoding': w.symbol(v as string); break;
      case 'absoluteExpiryTime': case 'creationTime': w.timestamp(v as number); break;
      case 'groupSequence': w.uint(v as number); break;
      default: w.string(v as string);
    }
  }
  w.end(last + 1);
}

/** A map section with the given pairs (nothing when empty). */
export function writeMapSection(w: Amqp10Writer, code: SectionCode, pairs: Array<[Amqp10Value, Amqp10Value]>): void {
  if (pairs.length === 0) return;
  beginSection(w, code);
  w.begin(Code.Map8);
  for (const [k, v] of pairs) { w.value(k); w.value(v); }
  w.end(pairs.length * 2);
}

/** A message built from parts (tests, tools): sections in the specification's order. */
export interface Amqp10MessageParts {
  header?: Amqp10Value[];
  messageAnnotations?: Array<[Amqp10Value, Amqp10Value]>;
  properties?: Amqp10Properties;
  applicationProperties?: Array<[Amqp10Value, Amqp10Value]>;
  /** data sections */
  data?: Buffer[];
  /** an amqp-value body instead of data */
  value?: Amqp10Value;
  footer?: Array<[Amqp10Value, Amqp10Value]>;
}

export function encodeMessage(m: Amqp10MessageParts): Buffer {
  const w = new Amqp10Writer(256);
  if (m.header !== undefined) {
    beginSection(w, SectionCode.Header);
    w.value({ type: 'list', value: m.header });
  }
  if (m.messageAnnotations !== undefined) writeMapSection(w, SectionCode.MessageAnnotations, m.messageAnnotations);
  if (m.properties !== undefined) writePropertiesSection(w, m.properties);
  if (m.applicationProperties !== undefined) writeMapSection(w, SectionCode.ApplicationProperties, m.applicationProperties);
  for (const d of m.data ?? []) writeDataSection(w, d);
  if (m.value !== undefined) {
    beginSection(w, SectionCode.AmqpValue);
    w.value(m.value);
  }
  if (m.footer !== undefined) writeMapSection(w, SectionCode.Footer, m.footer);
  return w.toBuffer();
}
