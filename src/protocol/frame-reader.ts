/**
 * Incremental frame reader: slices frames out of socket chunks.
 *
 * Frames lying inside one chunk are handed out as zero-copy subarrays of the chunk. Only a
 * frame split across chunks is assembled, into one allocation of its exact size (no
 * Buffer.concat of whole chunks). The 7-byte frame header itself may be split; it is collected
 * in a small reusable buffer.
 *
 * Errors (AmqpError 501 FRAME_ERROR, as RabbitMQ's reader uses for all of these):
 *  - frame-end octet is not 0xCE,
 *  - a frame larger than maxFrameSize (header + payload + end, i.e. payload > max - 8),
 *  - an unknown frame type (RabbitMQ: frame_error "unknown_frame"; checked at the header,
 *    before the payload arrives).
 * After an error the reader is poisoned: the connection must be closed; further pushes rethrow.
 */
import { AmqpError } from './errors';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;
const FRAME_END = 0xce;

export type FrameHandler = (type: number, channel: number, payload: Buffer) => void;
/** Like FrameHandler, but the payload is buf[start, end): no subarray is created per frame. */
export type FrameRangeHandler = (type: number, channel: number, buf: Buffer, start: number, end: number) => void;

export class FrameReader {
  private maxFrameSize: number;
  /** collects a split 7-byte header */
  private readonly hdr = Buffer.allocUnsafe(7);
  private hdrLen = 0;
  /** a frame split across chunks: payload + frame-end octet, being filled */
  private partial: Buffer | null = null;
  private partialLen = 0;
  private partialType = 0;
  private partialChannel = 0;
  private error: AmqpError | null = null;

  /** maxFrameSize: total frame size limit including the 8 bytes of framing; 0 = no limit. */
  constructor(maxFrameSize: number) {
    this.maxFrameSize = maxFrameSize;
  }

  /** Change the limit, e.g. after connection.tune-ok. */
  setMaxFrameSize(n: number): void {
    this.maxFrameSize = n;
  }

  getMaxFrameSize(): number {
    return this.maxFrameSize;
  }

  /** Bytes of an incomplete frame being held (header or payload). */
  get pendingBytes(): number {
    return this.hdrLen + this.partialLen;
  }

  push(chunk: Buffer, onFrame: FrameHandler): void {
    this.pushRange(chunk, (type, channel, buf, start, end) => onFrame(type, channel, buf.subarray(start, end)));
  }

  /** The allocation-free form of push(), for the server's hot path. */
  pushRange(chunk: Buffer, onFrame: FrameRangeHandler): void {
    if (this.error) throw this.error;
    try {
      this.consume(chunk, onFrame);
    } catch (e) {
      if (e instanceof AmqpError && e.code === 501) this.error = e;
      throw e;
    }
  }

  private consume(chunk: Buffer, onFrame: FrameRangeHandler): void {
    const len = chunk.length;
    let pos = 0;

    // 1. finish a frame whose payload is split
    if (this.partial !== null) {
      const buf = this.partial;
      const want = buf.length - this.partialLen;
      const take = want <= len ? want : len;
      chunk.copy(buf, this.partialLen, 0, take);
      this.partialLen += take;
      pos = take;
      if (this.partialLen < buf.length) return;
      this.partial = null;
      this.partialLen = 0;
      const end = buf.length - 1;
      if (buf[end] !== FRAME_END) throw badEnd(buf[end], this.partialType, this.partialChannel);
      onFrame(this.partialType, this.partialChannel, buf, 0, end);
    }

    // 2. finish a split header
    if (this.hdrLen > 0) {
      const want = 7 - this.hdrLen;
      const take = want <= len - pos ? want : len - pos;
      chunk.copy(this.hdr, this.hdrLen, pos, pos + take);
      this.hdrLen += take;
      pos += take;
      if (this.hdrLen < 7) return;
      this.hdrLen = 0;
      const h = this.hdr;
      const type = h[0];
      const channel = (h[1] << 8) | h[2];
      const size = h.readUInt32BE(3);
      this.checkHeader(type, channel, size);
      if (pos + size + 1 <= len) {
        if (chunk[pos + size] !== FRAME_END) throw badEnd(chunk[pos + size], type, channel);
        const start = pos;
        pos += size + 1;
        onFrame(type, channel, chunk, start, start + size);
      } else {
        this.startPartial(type, channel, size, chunk, pos);
        return;
      }
    }

    // 3. whole frames inside the chunk
    while (pos + 7 <= len) {
      const type = chunk[pos];
      const channel = (chunk[pos + 1] << 8) | chunk[pos + 2];
      const size = chunk.readUInt32BE(pos + 3);
      this.checkHeader(type, channel, size);
      const start = pos + 7;
      const endPos = start + size;
      if (endPos < len) {
        if (chunk[endPos] !== FRAME_END) throw badEnd(chunk[endPos], type, channel);
        pos = endPos + 1;
        onFrame(type, channel, chunk, start, endPos);
      } else {
        this.startPartial(type, channel, size, chunk, start);
        return;
      }
    }

    // 4. keep a partial header
    if (pos < len) {
      chunk.copy(this.hdr, 0, pos, len);
      this.hdrLen = len - pos;
    }
  }

  private startPartial(type: number, channel: number, size: number, chunk: Buffer, from: number): void {
    const buf = Buffer.allocUnsafe(size + 1);
    const n = chunk.copy(buf, 0, from, chunk.length);
    this.partial = buf;
    this.partialLen = n;
    this.partialType = type;
    this.partialChannel = channel;
  }

  private checkHeader(type: number, channel: number, size: number): void {
    if (type !== FRAME_METHOD && type !== FRAME_HEADER && type !== FRAME_BODY && type !== FRAME_HEARTBEAT) {
      throw new AmqpError(501, `unknown frame type ${type} on channel ${channel}`);
    }
    const max = this.maxFrameSize;
    if (max > 0 && size > max - 8) {
      throw new AmqpError(
        501,
        `frame too large: type ${type} on channel ${channel} has a ${size}-byte payload (${size + 8} bytes with framing), frame_max is ${max} (payload at most ${max - 8})`,
      );
    }
  }
}

function badEnd(octet: number, type: number, channel: number): AmqpError {
  return new AmqpError(
    501,
    `invalid frame end marker 0x${octet.toString(16).padStart(2, '0')} (expected 0xce) in frame of type ${type} on channel ${channel}`,
  );
}
