// Content assembly for basic.publish: the method, then a content header, then body frames until
// the declared size is reached. basic.publish is most of the traffic, so its arguments are read
// without the generic decoder, and the exchange and routing-key strings are reused when the
// bytes repeat (producers publish run after run to the same place).
import { AmqpError, UNEXPECTED_FRAME, FRAME_ERROR, decodeContentHeader, decodeMethod, type AnyMethod } from '../protocol';
import { admitContent, releaseContent } from './content-limits';

const EMPTY = Buffer.alloc(0);

// Decodes a short string, returning the previous string object when the bytes are the same.
class ShortStrCache {
  private bytes = Buffer.alloc(256);
  private len = -1;
  private str = '';
  get(buf: Buffer, start: number, len: number): string {
    if (len === this.len) {
      const b = this.bytes;
      let i = 0;
      while (i < len && b[i] === buf[start + i]) i++;
      if (i === len) return this.str;
    }
    buf.copy(this.bytes, 0, start, start + len);
    this.len = len;
    this.str = buf.toString('utf8', start, start + len);
    return this.str;
  }
}

export interface PublishTarget {
  /** basic.publish arrived (its content follows) */
  publishMethod(exchange: string, routingKey: string, mandatory: boolean, immediate: boolean): void;
  /** the content is complete */
  publishContent(props: Buffer, body: Buffer): void;
  /** the declared body size cannot be taken (content-limits.ts): the publish is dropped with this text */
  publishRefused(text: string): void;
  /** a method frame that is not basic.publish, decoded */
  method(m: AnyMethod): void;
}

export class PublishAssembly {
  private active = false;
  private props: Buffer | null = null;
  private bodySize = 0;
  private bodyReceived = 0;
  private parts: Buffer[] = [];
  private readonly exchangeStr = new ShortStrCache();
  private readonly routingKeyStr = new ShortStrCache();

  constructor(private readonly target: PublishTarget, private readonly maxMessageSize: () => number) {}

  /** a publish is waiting for its content */
  get pending(): boolean {
    return this.active;
  }

  /** basic.publish: ticket(2) exchange(shortstr) routing-key(shortstr) bits(mandatory, immediate). */
  onPublish(buf: Buffer, start: number, end: number): void {
    if (this.active) throw new AmqpError(UNEXPECTED_FRAME, 'expected content header for class 60, got non content header frame instead');
    let p = start + 6;
    const xl = buf[p++];
    if (p + xl + 1 > end) return this.target.method(decodeMethod(buf.subarray(start, end)));
    const exchange = this.exchangeStr.get(buf, p, xl);
    p += xl;
    const rl = buf[p++];
    if (p + rl + 1 !== end) return this.target.method(decodeMethod(buf.subarray(start, end)));
    const routingKey = this.routingKeyStr.get(buf, p, rl);
    p += rl;
    const bits = buf[p];
    this.target.publishMethod(exchange, routingKey, (bits & 1) !== 0, (bits & 2) !== 0);
  }

  /** The generic decoder met a basic.publish (unusual framing): same as onPublish. */
  begin(): void {
    this.active = true;
    this.props = null;
  }

  /** Any method frame while content is expected is an error (spec 4.2.6). */
  checkNoContentPending(): void {
    if (this.active) throw new AmqpError(UNEXPECTED_FRAME, 'expected content header for class 60, got non content header frame instead');
  }

  /** Content header: class-id(2) weight(2) body-size(8) property flags and list. */
  onHeader(buf: Buffer, start: number, end: number, channel: number): void {
    if (!this.active || this.props !== null) throw new AmqpError(UNEXPECTED_FRAME, `unexpected content header frame on channel ${channel}`);
    if (end - start < 14) decodeContentHeader(buf.subarray(start, end)); // throws the syntax error with its text
    const classId = buf.readUInt16BE(start);
    if (classId !== 60) throw new AmqpError(UNEXPECTED_FRAME, `content header for class ${classId} does not match method class 60`);
    const size = buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8);
    // Checked against the declared size, before any of the body is buffered; the size is then
    // held in the broker-wide budget until the message is complete or dropped (reset()).
    const refused = admitContent(size, this.maxMessageSize());
    if (refused !== null) {
      this.reset();
      this.target.publishRefused(refused);
      return;
    }
    this.props = buf.subarray(start + 12, end);
    this.bodySize = size;
    this.bodyReceived = 0;
    if (size === 0) this.complete(EMPTY);
  }

  onBody(payload: Buffer, channel: number): void {
    if (!this.active || this.props === null) throw new AmqpError(UNEXPECTED_FRAME, `unexpected content body frame on channel ${channel}`);
    this.bodyReceived += payload.length;
    if (this.bodyReceived > this.bodySize) throw new AmqpError(FRAME_ERROR, `content body exceeds declared size ${this.bodySize}`);
    if (this.bodyReceived === this.bodySize && this.parts.length === 0) {
      this.complete(payload);
      return;
    }
    this.parts.push(payload);
    if (this.bodyReceived === this.bodySize) {
      const body = Buffer.concat(this.parts, this.bodySize);
      this.parts = [];
      this.complete(body);
    }
  }

  private complete(body: Buffer): void {
    const props = this.props as Buffer;
    this.reset();
    this.target.publishContent(props, body);
  }

  reset(): void {
    if (this.props !== null) releaseContent(this.bodySize);
    this.active = false;
    this.props = null;
    this.parts = [];
  }
}
