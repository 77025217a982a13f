// Publishing in batches: one message pre-encoded, copied out N times per socket write.
import {
  type BasicProperties, encodeMethodFrame, encodeProperties,
  writeContentHeader, writeBodyFrames, contentHeaderSize, bodyFramesSize,
} from '../protocol';
export interface TemplateOptions {
  channel: number;
  exchange: string;
  routingKey: string;
  bodySize: number;
  properties?: BasicProperties;
  frameMax: number;
  mandatory?: boolean;
  /** how many messages one batch may hold at most */
  maxBatch: number;
}

/** One message pre-encoded, repeated maxBatch times, ready to be copied out in batches. */
export class PublishTemplate {
  readonly messageBytes: number;
  /** offset of the body's first byte inside one message */
  readonly bodyOffset: number;
  readonly maxBatch: number;
  private readonly block: Buffer;

  constructor(o: TemplateOptions) {
    const publish = encodeMethodFrame(o.channel, {
      name: 'basic.publish', exchange: o.exchange, routingKey: o.routingKey, mandatory: o.mandatory ?? false, immediate: false,
    });
    const props = encodeProperties(o.properties ?? {});
    const body = Buffer.alloc(o.bodySize, 0x2e); // '.'
    const one = Buffer.allocUnsafe(publish.length + contentHeaderSize(props) + bodyFramesSize(body.length, o.frameMax));
    publish.copy(one, 0);
    let pos = writeContentHeader(one, publish.length, o.channel, 60, body.length, props);
    this.bodyOffset = pos + 7; // first body frame header
    pos = writeBodyFrames(one, pos, o.channel, body, o.frameMax);
    if (pos !== one.length) throw new Error(`template size mismatch: ${pos} != ${one.length}`);
    this.messageBytes = one.length;
    this.maxBatch = Math.max(1, o.maxBatch);
    this.block = Buffer.allocUnsafe(one.length * this.maxBatch);
    for (let i = 0; i < this.maxBatch; i++) one.copy(this.block, i * one.length);
    this.stampable = o.bodySize >= 8;
  }

  private readonly stampable: boolean;

  /** A fresh buffer with n (<= maxBatch) messages; ts (when not NaN) in each body's first 8 bytes. */
  batch(n: number, ts: number): Buffer {
    const len = n * this.messageBytes;
    const out = Buffer.allocUnsafe(len);
    this.block.copy(out, 0, 0, len);
    if (this.stampable && ts === ts) {
      const step = this.messageBytes;
      for (let o = this.bodyOffset; o < len; o += step) out.writeDoubleBE(ts, o);
    }
    return out;
  }
}

/** Messages per batch so one write is about `targetBytes` long. */
export function batchSizeFor(messageBytes: number, targetBytes = 64 * 1024): number {
  return Math.max(1, Math.floor(targetBytes / messageBytes));
}

