// A message on the wire: a method frame (basic.deliver, basic.get-ok or basic.return), the
// content header with the raw property bytes as received, and the body frames, written into an
// output sink in one reservation. Bodies of ZERO_COPY_THRESHOLD bytes or more are not copied:
// the sink hands them to the socket as they are, between the frame headers and ends.
import { encodeMethodFrame } from './generated';
import {
  type DeliveryNames, basicDeliverSize, basicGetOkSize, bodyFramesSize, contentHeaderSize, writeBasicDeliver, writeBasicGetOk,
  writeBodyFrames, writeContentHeader,
} from './frames';

export const ZERO_COPY_THRESHOLD = 64 * 1024;

/** Where frames are written: a growable buffer with a write position, and a zero-copy path. */
export interface FrameSink {
  /** a buffer with room for n bytes at `pos` */
  reserve(n: number): Buffer;
  readonly pos: number;
  /** the bytes up to newPos are written */
  commit(newPos: number): void;
  /** a slice handed to the socket as it is, after what is committed */
  writeZeroCopy(slice: Buffer): void;
}

/**
 * basic.deliver + content. `tag`: the consumer tag's shortstr bytes (encodeShortstr); `names`
 * takes the exchange and routing key. Throws (writing nothing) when either does not fit a shortstr.
 */
export function writeDelivery(sink: FrameSink, channel: number, tag: Buffer, deliveryTag: number, redelivered: boolean,
  names: DeliveryNames, exchange: string, routingKey: string, props: Buffer, body: Buffer, frameMax: number): void {
  names.set(exchange, routingKey);
  const zeroCopy = body.length >= ZERO_COPY_THRESHOLD;
  const need = basicDeliverSize(tag, names) + contentHeaderSize(props) + (zeroCopy ? 0 : bodyFramesSize(body.length, frameMax));
  const b = sink.reserve(need);
  const pos = writeBasicDeliver(b, sink.pos, channel, tag, deliveryTag, redelivered, names);
  writeContent(sink, b, pos, channel, props, body, frameMax, zeroCopy);
}

/** basic.get-ok + content. */
export function writeGetOk(sink: FrameSink, channel: number, deliveryTag: number, redelivered: boolean, exchange: string,
  routingKey: string, messageCount: number, props: Buffer, body: Buffer, frameMax: number): void {
  const zeroCopy = body.length >= ZERO_COPY_THRESHOLD;
  const need = basicGetOkSize(exchange, routingKey) + contentHeaderSize(props) + (zeroCopy ? 0 : bodyFramesSize(body.length, frameMax));
  const b = sink.reserve(need);
  const pos = writeBasicGetOk(b, sink.pos, channel, deliveryTag, redelivered, exchange, routingKey, messageCount);
  writeContent(sink, b, pos, channel, props, body, frameMax, zeroCopy);
}

/** basic.return + content (rare: the method goes through the generic encoder). */
export function writeReturn(sink: FrameSink, channel: number, replyCode: number, replyText: string, exchange: string,
  routingKey: string, props: Buffer, body: Buffer, frameMax: number): void {
  const method = encodeMethodFrame(channel, { name: 'basic.return', replyCode, replyText, exchange, routingKey });
  const zeroCopy = body.length >= ZERO_COPY_THRESHOLD;
  const b = sink.reserve(method.length + contentHeaderSize(props) + (zeroCopy ? 0 : bodyFramesSize(body.length, frameMax)));
  method.copy(b, sink.pos);
  writeContent(sink, b, sink.pos + method.length, channel, props, body, frameMax, zeroCopy);
}

function writeContent(sink: FrameSink, b: Buffer, pos: number, channel: number, props: Buffer, body: Buffer, frameMax: number, zeroCopy: boolean): void {
  pos = writeContentHeader(b, pos, channel, 60, body.length, props);
  if (!zeroCopy) {
    sink.commit(writeBodyFrames(b, pos, channel, body, frameMax));
    return;
  }
  sink.commit(pos);
  const max = frameMax - 8;
  for (let off = 0; off < body.length; off += max) {
    const n = Math.min(max, body.length - off);
    const h = sink.reserve(7);
    let p = sink.pos;
    h[p++] = 3;
    h.writeUInt16BE(channel, p);
    p += 2;
    h.writeUInt32BE(n, p);
    sink.commit(p + 4);
    sink.writeZeroCopy(body.subarray(off, off + n));
    const e = sink.reserve(1);
    e[sink.pos] = 0xce;
    sink.commit(sink.pos + 1);
  }
}
