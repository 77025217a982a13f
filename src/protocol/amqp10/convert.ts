/**
 * AMQP 0-9-1 <-> AMQP 1.0 message conversion, as RabbitMQ 3.10 does it for stream queues
 * (rabbit_msg_record and rabbit_stream_queue):
 *
 *   0-9-1                      1.0
 *   exchange, routing key      message-annotations x-exchange, x-routing-key (utf8)
 *   priority, delivery-mode    message-annotations x-basic-priority, x-basic-delivery-mode (ubyte)
 *   expiration                 message-annotations x-basic-expiration (utf8)
 *   message-id, correlation-id properties message-id, correlation-id (utf8)
 *   user-id                    properties user-id (binary)
 *   reply-to                   properties reply-to (utf8)
 *   content-type, -encoding    properties content-type, content-encoding (symbol)
 *   timestamp (s)              properties creation-time (ms)
 *   headers                    application-properties (tables, arrays and decimals are dropped,
 *                              as in RabbitMQ 3.10)
 *   type, app-id               application-properties x-basic-type, x-basic-app-id
 *   body                       one data section (type "amqp-1.0": the body already is 1.0 sections)
 *
 * Headers x-amqp-1.0-properties, x-amqp-1.0-app-properties and x-amqp-1.0-message-annotations
 * (binary) replace the converted section with their bytes. Back to 0-9-1: a body that is not one
 * data section is delivered as its encoded sections with type "amqp-1.0"; message and correlation
 * ids that 0-9-1 cannot carry as a shortstr get an x-message-id-type / x-correlation-id-type
 * header (uuid, ulong, binary) or move to an x-message-id / x-correlation-id header.
 */
import { type FieldTable, type FieldValue, Typed } from '../field-table';
import type { BasicProperties } from '../properties';
import {
  SectionCode, beginSection, dataSectionContent, decodeMapSection, decodePropertiesSection, scanSections, writeDataSection,
} from './message';
import { Amqp10Error, type Amqp10Value, Amqp10Writer, Code } from './types';

const AMQP10_TYPE = 'amqp-1.0';
const H_PROPERTIES = 'x-amqp-1.0-properties';
const H_APP_PROPERTIES = 'x-amqp-1.0-app-properties';
const H_ANNOTATIONS = 'x-amqp-1.0-message-annotations';
export const FILTER_VALUE_HEADER = 'x-stream-filter-value';

const F_CONTENT_TYPE = 0x8000, F_CONTENT_ENCODING = 0x4000, F_HEADERS = 0x2000, F_DELIVERY_MODE = 0x1000,
  F_PRIORITY = 0x0800, F_CORRELATION_ID = 0x0400, F_REPLY_TO = 0x0200, F_EXPIRATION = 0x0100, F_MESSAGE_ID = 0x0080,
  F_TIMESTAMP = 0x0040, F_TYPE = 0x0020, F_USER_ID = 0x0010, F_APP_ID = 0x0008, F_CLUSTER_ID = 0x0004;

// ---- 0-9-1 -> 1.0 ---------------------------------------------------------------------------------

/** What the conversion found out about the message besides its bytes. */
export interface ConvertInfo {
  /** the x-stream-filter-value header (a string), else null */
  filterValue: string | null;
}

// Raw property bytes, located: the string fields as [start, end) pairs in the raw buffer.
class RawProps {
  flags = 0;
  contentType = -1; contentTypeEnd = 0;
  contentEncoding = -1; contentEncodingEnd = 0;
  headers = -1; headersEnd = 0;
  deliveryMode = -1;
  priority = -1;
  correlationId = -1; correlationIdEnd = 0;
  replyTo = -1; replyToEnd = 0;
  expiration = -1; expirationEnd = 0;
  messageId = -1; messageIdEnd = 0;
  timestamp = -1;
  type = -1; typeEnd = 0;
  userId = -1; userIdEnd = 0;
  appId = -1; appIdEnd = 0;

  parse(raw: Buffer): void {
    const n = raw.length;
    if (n < 2) throw new Amqp10Error('property flags truncated');
    let flags = raw.readUInt16BE(0);
    let p = 2;
    let word = flags;
    while ((word & 1) !== 0) {
      if (p + 2 > n) throw new Amqp10Error('property flags truncated');
      word = raw.readUInt16BE(p);
      p += 2;
    }
    this.flags = flags;
    flags &= ~1;
    const str = (): [number, number] => {
      if (p >= n) throw new Amqp10Error('properties truncated');
      const s = p + 1;
      const e = s + raw[p];
      if (e > n) throw new Amqp10Error('properties truncated');
      p = e;
      return [s, e];
    };
    this.contentType = this.contentEncoding = this.headers = this.deliveryMode = this.priority = -1;
    this.correlationId = this.replyTo = this.expiration = this.messageId = this.timestamp = -1;
    this.type = this.userId = this.appId = -1;
    if (flags & F_CONTENT_TYPE) [this.contentType, this.contentTypeEnd] = str();
    if (flags & F_CONTENT_ENCODING) [this.contentEncoding, this.contentEncodingEnd] = str();
    if (flags & F_HEADERS) {
      if (p + 4 > n) throw new Amqp10Error('headers truncated');
      this.headers = p + 4;
      this.headersEnd = p + 4 + raw.readUInt32BE(p);
      if (this.headersEnd > n) throw new Amqp10Error('headers truncated');
      p = this.headersEnd;
    }
    if (flags & F_DELIVERY_MODE) { if (p >= n) throw new Amqp10Error('properties truncated'); this.deliveryMode = raw[p++]; }
    if (flags & F_PRIORITY) { if (p >= n) throw new Amqp10Error('properties truncated'); this.priority = raw[p++]; }
    if (flags & F_CORRELATION_ID) [this.correlationId, this.correlationIdEnd] = str();
    if (flags & F_REPLY_TO) [this.replyTo, this.replyToEnd] = str();
    if (flags & F_EXPIRATION) [this.expiration, this.expirationEnd] = str();
    if (flags & F_MESSAGE_ID) [this.messageId, this.messageIdEnd] = str();
    if (flags & F_TIMESTAMP) { if (p + 8 > n) throw new Amqp10Error('properties truncated'); this.timestamp = p; p += 8; }
    if (flags & F_TYPE) [this.type, this.typeEnd] = str();
    if (flags & F_USER_ID) [this.userId, this.userIdEnd] = str();
    if (flags & F_APP_ID) [this.appId, this.appIdEnd] = str();
    if (flags & F_CLUSTER_ID) str();
  }
}

const rp = new RawProps();

/** Raw string bytes written as a utf8 (or symbol) value, without decoding them. */
function rawText(w: Amqp10Writer, raw: Buffer, s: number, e: number, symbol = false): void {
  const n = e - s;
  if (n < 256) {
    w.ensure(2 + n);
    w.buf[w.pos++] = symbol ? Code.Sym8 : Code.Str8;
    w.buf[w.pos++] = n;
  } else {
    w.ensure(5 + n);
    w.buf[w.pos++] = symbol ? Code.Sym32 : Code.Str32;
    w.pos = w.buf.writeUInt32BE(n, w.pos);
  }
  raw.copy(w.buf, w.pos, s, e);
  w.pos += n;
}

function rawBinary(w: Amqp10Writer, raw: Buffer, s: number, e: number): void {
  w.binary(raw.subarray(s, e));
}

function symbolKey(w: Amqp10Writer, key: string): void {
  w.symbol(key);
}

/** Headers table entries: calls fn(keyStart, keyEnd, type, valueStart, valueEnd) for each. */
function walkTable(raw: Buffer, start: number, end: number, fn: (ks: number, ke: number, type: number, vs: number, ve: number) => void): void {
  let p = start;
  while (p < end) {
    const ks = p + 1;
    const ke = ks + raw[p];
    if (ke >= end) throw new Amqp10Error('header table entry truncated');
    const type = raw[ke];
    const vs = ke + 1;
    let ve: number;
    switch (type) {
      case 0x74: case 0x62: case 0x42: ve = vs + 1; break;            // t b B
      case 0x73: case 0x75: ve = vs + 2; break;                       // s u
      case 0x49: case 0x69: case 0x66: ve = vs + 4; break;            // I i f
      case 0x6c: case 0x4c: case 0x64: case 0x54: ve = vs + 8; break; // l L d T
      case 0x44: ve = vs + 5; break;                                  // D
      case 0x56: ve = vs; break;                                      // V
      case 0x53: case 0x78: case 0x41: case 0x46:                     // S x A F
        if (vs + 4 > end) throw new Amqp10Error('header value truncated');
        ve = vs + 4 + raw.readUInt32BE(vs);
        break;
      default: throw new Amqp10Error(`unknown field type 0x${type.toString(16)}`);
    }
    if (ve > end) throw new Amqp10Error('header value truncated');
    fn(ks, ke, type, vs, ve);
    p = ve;
  }
}

function keyIs(raw: Buffer, ks: number, ke: number, name: string): boolean {
  if (ke - ks !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (raw[ks + i] !== name.charCodeAt(i)) return false;
  return true;
}

function isOverrideHeader(raw: Buffer, ks: number, ke: number): boolean {
  return ke - ks > 11 && raw[ks] === 0x78 && raw[ks + 1] === 0x2d && raw[ks + 6] === 0x31 && // x-amq p-1
    (keyIs(raw, ks, ke, H_PROPERTIES) || keyIs(raw, ks, ke, H_APP_PROPERTIES) || keyIs(raw, ks, ke, H_ANNOTATIONS));
}

/** One header value as a 1.0 value; false when the type has no 1.0 counterpart here (dropped). */
function headerValue(w: Amqp10Writer, raw: Buffer, type: number, vs: number, ve: number): boolean {
  switch (type) {
    case 0x74: w.boolean(raw[vs] !== 0); return true;
    case 0x62: w.value({ type: 'byte', value: raw.readInt8(vs) }); return true;
    case 0x42: w.ubyte(raw[vs]); return true;
    case 0x73: w.value({ type: 'short', value: raw.readInt16BE(vs) }); return true;
    case 0x75: w.value({ type: 'ushort', value: raw.readUInt16BE(vs) }); return true;
    case 0x49: w.value({ type: 'int', value: raw.readInt32BE(vs) }); return true;
    case 0x69: w.value({ type: 'uint', value: raw.readUInt32BE(vs) }); return true;
    case 0x6c: case 0x4c: {
      const big = raw.readBigInt64BE(vs);
      w.long(big >= -128n && big <= 127n ? Number(big) : big);
      return true;
    }
    case 0x66: w.value({ type: 'float', value: raw.readFloatBE(vs) }); return true;
    case 0x64: w.value({ type: 'double', value: raw.readDoubleBE(vs) }); return true;
    case 0x54: w.timestamp(Number(raw.readBigUInt64BE(vs)) * 1000); return true;
    case 0x53: rawText(w, raw, vs + 4, ve); return true;
    case 0x78: rawBinary(w, raw, vs + 4, ve); return true;
    case 0x56: w.null(); return true;
    default: return false; // A, F, D: as RabbitMQ 3.10, not carried
  }
}

/**
 * Writes the 1.0 form of a 0-9-1 message (raw property bytes as received) into `w`.
 * Throws Amqp10Error when the properties are malformed.
 */
export function amqp091To10(w: Amqp10Writer, exchange: string, routingKey: string, raw: Buffer, body: Buffer, info: ConvertInfo): void {
  const r = rp;
  r.parse(raw);
  info.filterValue = null;
  let overrideProps = -1, overridePropsEnd = 0, overrideApp = -1, overrideAppEnd = 0, overrideMa = -1, overrideMaEnd = 0;
  if (r.headers >= 0) {
    walkTable(raw, r.headers, r.headersEnd, (ks, ke, type, vs, ve) => {
      if (type === 0x53 || type === 0x78) {
        if (keyIs(raw, ks, ke, FILTER_VALUE_HEADER)) info.filterValue = raw.toString('utf8', vs + 4, ve);
        else if (isOverrideHeader(raw, ks, ke)) {
          if (keyIs(raw, ks, ke, H_PROPERTIES)) { overrideProps = vs + 4; overridePropsEnd = ve; }
          else if (keyIs(raw, ks, ke, H_APP_PROPERTIES)) { overrideApp = vs + 4; overrideAppEnd = ve; }
          else { overrideMa = vs + 4; overrideMaEnd = ve; }
        }
      }
    });
  }

  // message-annotations
  if (overrideMa >= 0) w.raw(raw.subarray(overrideMa, overrideMaEnd));
  else {
    beginSection(w, SectionCode.MessageAnnotations);
    w.begin(Code.Map8);
    let n = 4;
    symbolKey(w, 'x-exchange'); w.string(exchange);
    symbolKey(w, 'x-routing-key'); w.string(routingKey);
    if (r.priority >= 0) { symbolKey(w, 'x-basic-priority'); w.ubyte(r.priority); n += 2; }
    if (r.deliveryMode >= 0) { symbolKey(w, 'x-basic-delivery-mode'); w.ubyte(r.deliveryMode); n += 2; }
    if (r.expiration >= 0) { symbolKey(w, 'x-basic-expiration'); rawText(w, raw, r.expiration, r.expirationEnd); n += 2; }
    w.end(n);
  }

  // properties
  if (overrideProps >= 0) w.raw(raw.subarray(overrideProps, overridePropsEnd));
  else {
    let last = -1;
    if (r.messageId >= 0) last = 0;
    if (r.userId >= 0) last = 1;
    if (r.replyTo >= 0) last = 4;
    if (r.correlationId >= 0) last = 5;
    if (r.contentType >= 0) last = 6;
    if (r.contentEncoding >= 0) last = 7;
    if (r.timestamp >= 0) last = 9;
    if (last >= 0) {
      beginSection(w, SectionCode.Properties);
      w.begin(Code.List8);
      for (let i = 0; i <= last; i++) {
        switch (i) {
          case 0: if (r.messageId >= 0) rawText(w, raw, r.messageId, r.messageIdEnd); else w.null(); break;
          case 1: if (r.userId >= 0) rawBinary(w, raw, r.userId, r.userIdEnd); else w.null(); break;
          case 4: if (r.replyTo >= 0) rawText(w, raw, r.replyTo, r.replyToEnd); else w.null(); break;
          case 5: if (r.correlationId >= 0) rawText(w, raw, r.correlationId, r.correlationIdEnd); else w.null(); break;
          case 6: if (r.contentType >= 0) rawText(w, raw, r.contentType, r.contentTypeEnd, true); else w.null(); break;
          case 7: if (r.contentEncoding >= 0) rawText(w, raw, r.contentEncoding, r.contentEncodingEnd, true); else w.null(); break;
          case 9: if (r.timestamp >= 0) w.timestamp(Number(raw.readBigUInt64BE(r.timestamp)) * 1000); else w.null(); break;
          default: w.null();
        }
      }
      w.end(last + 1);
    }
  }

  // application-properties
  const isAmqp10 = r.type >= 0 && keyIs(raw, r.type, r.typeEnd, AMQP10_TYPE);
  if (overrideApp >= 0) w.raw(raw.subarray(overrideApp, overrideAppEnd));
  else if (r.headers >= 0 || (r.type >= 0 && !isAmqp10) || r.appId >= 0) {
    const mark = w.pos;
    beginSection(w, SectionCode.ApplicationProperties);
    w.begin(Code.Map8);
    let n = 0;
    if (r.headers >= 0) {
      walkTable(raw, r.headers, r.headersEnd, (ks, ke, type, vs, ve) => {
        if ((type === 0x53 || type === 0x78) && isOverrideHeader(raw, ks, ke)) return;
        if (type === 0x41 || type === 0x46 || type === 0x44) return;
        rawText(w, raw, ks, ke);
        headerValue(w, raw, type, vs, ve);
        n += 2;
      });
    }
    if (r.type >= 0 && !isAmqp10) { w.string('x-basic-type'); rawText(w, raw, r.type, r.typeEnd); n += 2; }
    if (r.appId >= 0) { w.string('x-basic-app-id'); rawText(w, raw, r.appId, r.appIdEnd); n += 2; }
    if (n === 0) w.pos = mark; // only dropped headers: no section, as RabbitMQ (empty content)
    else w.end(n);
  }

  // body
  if (isAmqp10) w.raw(body);
  else writeDataSection(w, body);
}

// ---- 1.0 -> 0-9-1 ---------------------------------------------------------------------------------

/** A 1.0 message as a 0-9-1 delivery would carry it. */
export interface Amqp091Form {
  exchange: string;
  routingKey: string;
  props: BasicProperties;
  body: Buffer;
}

function asText(v: Amqp10Value | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (v.type === 'string' || v.type === 'symbol') return v.value;
  return undefined;
}

function asNumber(v: Amqp10Value | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v.value === 'number' ? v.value : undefined;
}

function uuidString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// RabbitMQ's message_id/3: ids that are not short strings travel as strings plus a type header.
function idTo091(v: Amqp10Value | undefined, typeHeader: string, headers: FieldTable): string | undefined {
  if (v === undefined) return undefined;
  const longHeader = typeHeader.replace('-type', '');
  switch (v.type) {
    case 'uuid': headers[typeHeader] = 'uuid'; return uuidString(v.value);
    case 'ulong': headers[typeHeader] = 'ulong'; return String(v.value);
    case 'binary': {
      const e = v.value.toString('base64');
      if (e.length > 255) { headers[longHeader] = v.value.toString('latin1'); return undefined; }
      headers[typeHeader] = 'binary';
      return e;
    }
    case 'string': case 'symbol':
      if (Buffer.byteLength(v.value) > 255) { headers[longHeader] = v.value; return undefined; }
      return v.value;
    default: return undefined;
  }
}

/** An application-properties value as a field-table value (undefined: not carried). */
function appValueTo091(v: Amqp10Value): FieldValue | undefined {
  switch (v.type) {
    case 'string': case 'symbol': return v.value;
    case 'long': case 'ulong': return new Typed('l', v.value);
    case 'byte': return new Typed('b', v.value);
    case 'ubyte': return new Typed('B', v.value);
    case 'short': return new Typed('s', v.value);
    case 'ushort': return new Typed('u', v.value);
    case 'uint': return new Typed('i', v.value);
    case 'int': return new Typed('I', v.value);
    case 'double': return new Typed('d', v.value);
    case 'float': return new Typed('f', v.value);
    case 'timestamp': return new Typed('T', Math.floor(v.value / 1000));
    case 'binary': return new Typed('x', v.value);
    case 'boolean': return v.value;
    case 'null': return new Typed('V', null);
    case 'uuid': return uuidString(v.value);
    default: return undefined;
  }
}

/**
 * The 0-9-1 form of the 1.0 message in buf[start, end). Without x-exchange / x-routing-key
 * annotations (a message from the Stream protocol) the exchange is "" and the routing key
 * `defaultRoutingKey` (the stream's name), as RabbitMQ. Throws Amqp10Error when malformed.
 */
export function amqp10To091(buf: Buffer, start: number, end: number, defaultRoutingKey: string, firstHeaders?: FieldTable): Amqp091Form {
  const sections = scanSections(buf, start, end);
  const props: BasicProperties = {};
  const headers: FieldTable = firstHeaders === undefined ? {} : { ...firstHeaders };
  let exchange = '';
  let routingKey = defaultRoutingKey;
  let typeFromApp: string | undefined;
  const bodies: typeof sections = [];
  let appProps: Array<[Amqp10Value, Amqp10Value]> = [];
  for (const s of sections) {
    switch (s.code) {
      case SectionCode.MessageAnnotations:
        for (const [k, v] of decodeMapSection(buf, s)) {
          switch (asText(k)) {
            case 'x-exchange': exchange = asText(v) ?? exchange; break;
            case 'x-routing-key': routingKey = asText(v) ?? routingKey; break;
            case 'x-basic-priority': props.priority = asNumber(v); break;
            case 'x-basic-delivery-mode': props.deliveryMode = asNumber(v); break;
            case 'x-basic-expiration': props.expiration = asText(v); break;
          }
        }
        break;
      case SectionCode.Properties: {
        const p = decodePropertiesSection(buf, s);
        props.messageId = idTo091(p.messageId, 'x-message-id-type', headers);
        props.correlationId = idTo091(p.correlationId, 'x-correlation-id-type', headers);
        if (p.userId !== undefined) props.userId = p.userId.toString('utf8');
        props.replyTo = p.replyTo;
        props.contentType = p.contentType;
        props.contentEncoding = p.contentEncoding;
        if (p.creationTime !== undefined) props.timestamp = Math.floor(p.creationTime / 1000);
        break;
      }
      case SectionCode.ApplicationProperties:
        appProps = decodeMapSection(buf, s);
        break;
      case SectionCode.Data: case SectionCode.AmqpSequence: case SectionCode.AmqpValue:
        bodies.push(s);
        break;
      default: // header, delivery-annotations, footer: not carried (as RabbitMQ 3.10)
    }
  }
  for (const [k, v] of appProps) {
    const key = asText(k);
    if (key === undefined) continue;
    if (key === 'x-basic-type') { typeFromApp = asText(v); continue; }
    if (key === 'x-basic-app-id') { props.appId = asText(v); continue; }
    const x = appValueTo091(v);
    if (x !== undefined) headers[key] = x;
  }
  let body: Buffer;
  if (bodies.length === 0) body = Buffer.alloc(0);
  else if (bodies.length === 1 && bodies[0].code === SectionCode.Data) body = Buffer.from(dataSectionContent(buf, bodies[0]));
  else {
    body = Buffer.from(buf.subarray(bodies[0].start, bodies[bodies.length - 1].end));
    typeFromApp ??= AMQP10_TYPE;
  }
  if (typeFromApp !== undefined) props.type = typeFromApp;
  for (const k of Object.keys(props) as Array<keyof BasicProperties>) if (props[k] === undefined) delete props[k];
  if (Object.keys(headers).length > 0) props.headers = headers;
  return { exchange, routingKey, props, body };
}
