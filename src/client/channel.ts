// A channel of the lean client: RPCs through the generated codec, deliveries parsed in place.
import {
  type AnyMethod, type FieldTable, type MethodName,
  encodeMethodFrame, writeBasicAck, BASIC_RETURN, BASIC_GET_OK,
  contentHeaderSize, writeContentHeader, bodyFramesSize, writeBodyFrames,
} from '../protocol';
import type { ClientConnection, Rpc } from './connection';
import { AmqpClientError } from './errors';
import type { PublishTemplate } from './publish-template';
import { nowMs } from './time';

const TWO_32 = 4294967296;
const READ_NONE = 0, READ_DELIVER = 1, READ_RETURN = 2, READ_GET = 3;
/**
 * Receives deliveries. Called once per complete message (after its last body frame), with the
 * channel, its delivery tag and the first 8 bytes of the body read as a big-endian double
 * (the producer's send timestamp, see nowMs), or NaN for a body shorter than 8 bytes.
 * `chunkTime` is the arrival time of the socket chunk that completed the message.
 */
export interface DeliverySink {
  onMessage(ch: ClientChannel, deliveryTag: number, sentAt: number, chunkTime: number): void;
}

/** A whole delivered message (channels with a messageSink): what a shovel or link forwards. */
export interface ClientMessage {
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  /** the content header's property flags and properties, as sent (see decodeProperties) */
  rawProperties: Buffer;
  body: Buffer;
}

export interface ConsumeOptions {
  noAck?: boolean;
  consumerTag?: string;
  exclusive?: boolean;
  arguments?: FieldTable;
}

export class ClientChannel {
  closed = false;
  error: Error | null = null;
  /** called once when the channel ends other than by close(): closed by the server, or its connection ended */
  onClosed: ((err: Error) => void) | null = null;
  private readonly rpcs: Rpc[] = [];

  // ---- consuming
  sink: DeliverySink | null = null;
  /** complete messages received (deliveries only) */
  received = 0;
  /** basic.return messages received */
  returned = 0;
  private reading = READ_NONE;
  private bodyRemaining = 0;
  private bodyFirst = false;
  private sentAt = NaN;
  private deliveryTag = 0;
  private lastTag = 0;
  private ackedTag = 0;
  private ackDirty = false;
  /** manual-ack consumers on this channel ack every message, batched per socket chunk */
  manualAck = false;
  onCancel: ((consumerTag: string) => void) | null = null;
  /**
   * When set, deliveries are read whole (method, properties, body) and handed here, and the
   * channel does not ack them: the receiver acks with ack()/nack() when it is done with them.
   */
  messageSink: ((m: ClientMessage) => void) | null = null;
  private fullRedelivered = false;
  private fullExchange = '';
  private fullRoutingKey = '';
  private fullProps: Buffer = Buffer.alloc(0);
  private fullParts: Buffer[] = [];

  // ---- publishing
  /** messages published on this channel (publish sequence numbers handed out) */
  published = 0;
  confirmMode = false;
  /** publishes acked / nacked by the broker */
  acked = 0;
  nacked = 0;
  private confirmedUpTo = 0;
  private readonly confirmedAbove = new Set<number>();
  /** called after each confirm frame */
  onConfirms: (() => void) | null = null;
  /** called for each confirm frame with its tag, multiple flag and ack (true) or nack */
  onConfirmTag: ((tag: number, multiple: boolean, ack: boolean) => void) | null = null;
  // per-batch send times for confirm latency: parallel arrays used as a ring
  private batchSeq: number[] = [];
  private batchTime: number[] = [];
  private batchHead = 0;
  /** confirm latency sink: (ms, messages) */
  onConfirmLatency: ((ms: number, n: number) => void) | null = null;

  constructor(readonly conn: ClientConnection, readonly id: number) {}

  // ---- rpc ----------------------------------------------------------------------------------

  rpc(m: AnyMethod, expect: readonly MethodName[]): Promise<AnyMethod> {
    if (this.closed) return Promise.reject(this.error ?? new Error(`channel ${this.id} is closed`));
    return new Promise((resolve, reject) => {
      this.rpcs.push({ expect, resolve, reject });
      this.conn.write(encodeMethodFrame(this.id, m));
    });
  }

  send(m: AnyMethod): void {
    this.conn.write(encodeMethodFrame(this.id, m));
  }

  async declareQueue(queue: string, opts: { durable?: boolean; exclusive?: boolean; autoDelete?: boolean; passive?: boolean; arguments?: FieldTable } = {}): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    const r = await this.rpc({
      name: 'queue.declare', queue, passive: opts.passive ?? false, durable: opts.durable ?? false, exclusive: opts.exclusive ?? false,
      autoDelete: opts.autoDelete ?? false, noWait: false, arguments: opts.arguments ?? {},
    }, ['queue.declare-ok']);
    if (r.name !== 'queue.declare-ok') throw new Error('expected queue.declare-ok');
    return { queue: r.queue, messageCount: r.messageCount, consumerCount: r.consumerCount };
  }

  async deleteQueue(queue: string): Promise<number> {
    const r = await this.rpc({ name: 'queue.delete', queue, ifUnused: false, ifEmpty: false, noWait: false }, ['queue.delete-ok']);
    return r.name === 'queue.delete-ok' ? r.messageCount : 0;
  }

  async purgeQueue(queue: string): Promise<number> {
    const r = await this.rpc({ name: 'queue.purge', queue, noWait: false }, ['queue.purge-ok']);
    return r.name === 'queue.purge-ok' ? r.messageCount : 0;
  }

  async declareExchange(exchange: string, type: string,
    opts: { durable?: boolean; autoDelete?: boolean; internal?: boolean; passive?: boolean; arguments?: FieldTable } = {}): Promise<void> {
    await this.rpc({
      name: 'exchange.declare', exchange, type, passive: opts.passive ?? false, durable: opts.durable ?? false, autoDelete: opts.autoDelete ?? false,
      internal: opts.internal ?? false, noWait: false, arguments: opts.arguments ?? {},
    }, ['exchange.declare-ok']);
  }

  async bindExchange(destination: string, source: string, routingKey: string, args: FieldTable = {}): Promise<void> {
    await this.rpc({ name: 'exchange.bind', destination, source, routingKey, noWait: false, arguments: args }, ['exchange.bind-ok']);
  }

  async unbindExchange(destination: string, source: string, routingKey: string, args: FieldTable = {}): Promise<void> {
    await this.rpc({ name: 'exchange.unbind', destination, source, routingKey, noWait: false, arguments: args }, ['exchange.unbind-ok']);
  }

  async deleteExchange(exchange: string): Promise<void> {
    await this.rpc({ name: 'exchange.delete', exchange, ifUnused: false, noWait: false }, ['exchange.delete-ok']);
  }

  async bindQueue(queue: string, exchange: string, routingKey: string, args: FieldTable = {}): Promise<void> {
    await this.rpc({ name: 'queue.bind', queue, exchange, routingKey, noWait: false, arguments: args }, ['queue.bind-ok']);
  }

  async qos(prefetchCount: number, global = false): Promise<void> {
    await this.rpc({ name: 'basic.qos', prefetchSize: 0, prefetchCount, global }, ['basic.qos-ok']);
  }

  async confirmSelect(): Promise<void> {
    await this.rpc({ name: 'confirm.select', nowait: false }, ['confirm.select-ok']);
    this.confirmMode = true;
  }

  /** Start a consumer; deliveries go to this.sink. Manual-ack consumers are acked automatically. */
  async consume(queue: string, opts: ConsumeOptions = {}): Promise<string> {
    // set before the request: deliveries can arrive in the same chunk as consume-ok
    if (!opts.noAck && this.messageSink === null) this.manualAck = true;
    const r = await this.rpc({
      name: 'basic.consume', queue, consumerTag: opts.consumerTag ?? '', noLocal: false, noAck: opts.noAck ?? false,
      exclusive: opts.exclusive ?? false, noWait: false, arguments: opts.arguments ?? {},
    }, ['basic.consume-ok']);
    if (r.name !== 'basic.consume-ok') throw new Error('expected basic.consume-ok');
    return r.consumerTag;
  }

  async cancel(consumerTag: string): Promise<void> {
    await this.rpc({ name: 'basic.cancel', consumerTag, noWait: false }, ['basic.cancel-ok']);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushAck();
    await this.rpc({ name: 'channel.close', replyCode: 200, replyText: 'bye', classId: 0, methodId: 0 }, ['channel.close-ok']);
    this.closed = true;
    this.conn.forgetChannel(this);
  }

  // ---- publishing -----------------------------------------------------------------------------

  /**
   * Write n messages of a template in one socket write. With stamp, the current time goes into
   * the first 8 body bytes of each (see nowMs). Returns socket.write's result.
   */
  publishBatch(t: PublishTemplate, n: number, stamp: boolean): boolean {
    const buf = t.batch(n, stamp ? nowMs() : NaN);
    const now = this.confirmMode && this.onConfirmLatency ? nowMs() : 0;
    this.published += n;
    if (now !== 0) {
      this.batchSeq.push(this.published);
      this.batchTime.push(now);
    }
    return this.conn.write(buf);
  }

  /**
   * Publish one message with its properties as raw content-header bytes (property flags and
   * list, as ClientMessage.rawProperties carries them). Returns its publish sequence number
   * (the confirm tag in confirm mode).
   */
  publishRaw(exchange: string, routingKey: string, rawProperties: Buffer, body: Buffer, mandatory = false): number {
    // a link publishes to one place, mostly: its method frame is encoded once
    let method = this.pubFrame;
    if (method === null || exchange !== this.pubExchange || routingKey !== this.pubRoutingKey || mandatory !== this.pubMandatory) {
      method = this.pubFrame = encodeMethodFrame(this.id, { name: 'basic.publish', exchange, routingKey, mandatory, immediate: false });
      this.pubExchange = exchange;
      this.pubRoutingKey = routingKey;
      this.pubMandatory = mandatory;
    }
    const frameMax = this.conn.frameMax;
    const out = Buffer.allocUnsafe(method.length + contentHeaderSize(rawProperties) + bodyFramesSize(body.length, frameMax));
    method.copy(out, 0);
    let pos = writeContentHeader(out, method.length, this.id, 60, body.length, rawProperties);
    pos = writeBodyFrames(out, pos, this.id, body, frameMax);
    this.conn.writeBatched(out.subarray(0, pos));
    return ++this.published;
  }

  private pubFrame: Buffer | null = null;
  private pubExchange = '';
  private pubRoutingKey = '';
  private pubMandatory = false;

  ack(deliveryTag: number, multiple = false): void {
    if (this.closed) return;
    const b = Buffer.allocUnsafe(21);
    writeBasicAck(b, 0, this.id, deliveryTag, multiple);
    this.conn.writeBatched(b);
  }

  nack(deliveryTag: number, multiple = false, requeue = true): void {
    if (this.closed) return;
    this.send({ name: 'basic.nack', deliveryTag, multiple, requeue });
  }

  /** Publishes sent but neither acked nor nacked yet (confirm mode). */
  get unconfirmed(): number {
    return this.published - this.acked - this.nacked;
  }

  /** @internal */
  onConfirm(tag: number, multiple: boolean, ack: boolean): void {
    this.onConfirmTag?.(tag, multiple, ack);
    let n = 0;
    if (multiple) {
      if (tag > this.confirmedUpTo) {
        n = tag - this.confirmedUpTo;
        if (this.confirmedAbove.size > 0) {
          for (const t of this.confirmedAbove) if (t <= tag) { this.confirmedAbove.delete(t); n--; }
        }
        this.confirmedUpTo = tag;
      }
    } else if (tag > this.confirmedUpTo && !this.confirmedAbove.has(tag)) {
      n = 1;
      if (tag === this.confirmedUpTo + 1) this.confirmedUpTo = tag;
      else this.confirmedAbove.add(tag);
    }
    while (this.confirmedAbove.size > 0 && this.confirmedAbove.delete(this.confirmedUpTo + 1)) this.confirmedUpTo++;
    if (ack) this.acked += n;
    else this.nacked += n;
    if (this.onConfirmLatency && this.batchHead < this.batchSeq.length) {
      const upTo = this.confirmedUpTo;
      let now = 0;
      let prev = this.batchHead > 0 ? this.batchSeq[this.batchHead - 1] : 0;
      while (this.batchHead < this.batchSeq.length && this.batchSeq[this.batchHead] <= upTo) {
        if (now === 0) now = this.conn.currentChunkTime();
        const s = this.batchSeq[this.batchHead];
        this.onConfirmLatency(now - this.batchTime[this.batchHead], s - prev);
        prev = s;
        this.batchHead++;
      }
      if (this.batchHead > 4096 && this.batchHead * 2 > this.batchSeq.length) {
        this.batchSeq = this.batchSeq.slice(this.batchHead);
        this.batchTime = this.batchTime.slice(this.batchHead);
        this.batchHead = 0;
      }
    }
    this.onConfirms?.();
  }

  // ---- consuming ------------------------------------------------------------------------------

  /** @internal */
  onDeliver(tag: number): void {
    this.reading = READ_DELIVER;
    this.deliveryTag = tag;
  }

  /** @internal basic.deliver on a channel with a messageSink */
  onDeliverFull(tag: number, redelivered: boolean, exchange: string, routingKey: string): void {
    this.reading = READ_DELIVER;
    this.deliveryTag = tag;
    this.fullRedelivered = redelivered;
    this.fullExchange = exchange;
    this.fullRoutingKey = routingKey;
  }

  /** @internal */
  onHeader(buf: Buffer, p: number, size: number): void {
    const bodySize = buf.readUInt32BE(p + 4) * TWO_32 + buf.readUInt32BE(p + 8);
    if (this.messageSink !== null && this.reading === READ_DELIVER) {
      // copied: the socket chunk is shared with other frames and outlives nothing we control
      this.fullProps = Buffer.from(buf.subarray(p + 12, p + size));
      this.fullParts = [];
    }
    this.bodyRemaining = bodySize;
    this.bodyFirst = true;
    this.sentAt = NaN;
    if (bodySize === 0) this.complete();
  }

  /** @internal */
  onBody(buf: Buffer, p: number, size: number): void {
    if (this.bodyFirst) {
      this.bodyFirst = false;
      if (size >= 8) this.sentAt = buf.readDoubleBE(p);
    }
    if (this.messageSink !== null && this.reading === READ_DELIVER) this.fullParts.push(Buffer.from(buf.subarray(p, p + size)));
    this.bodyRemaining -= size;
    if (this.bodyRemaining <= 0) this.complete();
  }

  private complete(): void {
    const kind = this.reading;
    this.reading = READ_NONE;
    if (kind === READ_DELIVER && this.messageSink !== null) {
      this.received++;
      const parts = this.fullParts;
      this.fullParts = [];
      this.messageSink({
        deliveryTag: this.deliveryTag, redelivered: this.fullRedelivered, exchange: this.fullExchange, routingKey: this.fullRoutingKey,
        rawProperties: this.fullProps, body: parts.length === 1 ? parts[0] : Buffer.concat(parts),
      });
    } else if (kind === READ_DELIVER) {
      this.received++;
      const tag = this.deliveryTag;
      if (this.manualAck) {
        this.lastTag = tag;
        if (!this.ackDirty) { this.ackDirty = true; this.conn.markAckDirty(this); }
      }
      if (this.sink) this.sink.onMessage(this, tag, this.sentAt, this.conn.currentChunkTime());
    } else if (kind === READ_RETURN) {
      this.returned++;
    }
  }

  /** @internal writes basic.ack(lastTag, multiple) at b[o]; returns the new offset */
  fillAck(b: Buffer, o: number): number {
    this.ackDirty = false;
    if (this.lastTag <= this.ackedTag || this.closed) return o;
    const multiple = this.lastTag - this.ackedTag > 1;
    this.ackedTag = this.lastTag;
    return writeBasicAck(b, o, this.id, this.lastTag, multiple);
  }

  private flushAck(): void {
    if (this.lastTag > this.ackedTag) {
      const b = Buffer.allocUnsafe(21);
      const o = this.fillAck(b, 0);
      if (o > 0) this.conn.write(b.subarray(0, o));
    }
  }

  /** @internal */
  onMethod(m: AnyMethod, key: number): void {
    if (key === BASIC_RETURN) { this.reading = READ_RETURN; return; }
    if (key === BASIC_GET_OK) { this.reading = READ_GET; return; }
    if (m.name === 'channel.close') {
      this.conn.write(encodeMethodFrame(this.id, { name: 'channel.close-ok' }));
      const err = new AmqpClientError(`channel ${this.id} closed by the server: ${m.replyCode} ${m.replyText}`, m.replyCode);
      this.teardown(err);
      this.conn.forgetChannel(this);
      return;
    }
    if (m.name === 'basic.cancel') {
      // server-sent cancel (queue deleted)
      this.onCancel?.(m.consumerTag);
      return;
    }
    if (m.name === 'channel.flow') {
      this.send({ name: 'channel.flow-ok', active: m.active });
      return;
    }
    const r = this.rpcs[0];
    if (r && r.expect.includes(m.name)) {
      this.rpcs.shift();
      r.resolve(m);
      return;
    }
    // anything else (e.g. cancel-ok of a no-wait cancel) is ignored
  }

  /** @internal */
  teardown(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.error = err;
    for (const r of this.rpcs.splice(0)) r.reject(err);
    this.onClosed?.(err);
  }
}

