// One AMQP channel: its methods, content assembly for basic.publish, consumers, unacked
// deliveries, prefetch, publisher confirms and transactions.
import * as crypto from 'node:crypto';
import {
  type AnyMethod, type FieldTable, type PropertySummary,
  decodeContentHeader, decodeMethod, decodeProperties, encodeProperties, typed,
} from '../protocol';
// Hot-path writers come from their modules directly: the index's re-exports are getters.
import {
  writeBasicDeliver, writeBasicGetOk, writeContentHeader, writeBodyFrames, writeBasicAck, writeBasicNack,
  basicGetOkSize, bodyFramesSize, contentHeaderSize,
} from '../protocol/frames';
import { scanProperties } from '../protocol/properties';
import type { LogRecord } from '../store';
import { AmqpError, ReplyCode, accessRefused, notAllowed, notImplemented, preconditionFailed, commandInvalid } from '../broker/errors';
import { type Envelope, type Message, envelopeOf, newMessageWith, parseExpiration } from '../broker/message';
import { type Queue, type QueueConsumer, EnqueueResult } from '../broker/queue';
import { parseConsumerPriority } from '../broker/queue-args';
import type { Exchange } from '../broker/exchange';
import type { ReplySink, VHost } from '../broker/vhost';
import { editProperties } from '../broker/props-edit';
import { UnackedList, type UnackedOwner } from './unacked';
import type { Connection, ServerConfig } from './connection';
import { ZERO_COPY_THRESHOLD } from './out-buffer';
import { undeliverable } from './last-guard';

const REPLY_TO = 'amq.rabbitmq.reply-to';
const REPLY_TO_PREFIX = REPLY_TO + '.';
const EMPTY = Buffer.alloc(0);
// Header names as they appear in a field table (length-prefixed shortstr).
const CC_NAME = Buffer.from('\x02CC', 'latin1');
const BCC_NAME = Buffer.from('\x03BCC', 'latin1');

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

// Settings of the channel layer that travel with the server configuration.
export interface ChannelConfig {
  // An unacked delivery older than this closes its channel with 406, as RabbitMQ's
  // consumer_timeout does (default 30 minutes; 0 turns the check off).
  consumerTimeoutMs?: number;
}
export const DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;
const MAX_MESSAGE_SIZE = 128 * 1024 * 1024;

class Consumer implements QueueConsumer, UnackedOwner {
  unacked = 0;
  readonly tagBytes: number;
  constructor(
    readonly channel: Channel,
    readonly queue: Queue,
    readonly tag: string,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    readonly priority: number,
    readonly prefetch: number,
  ) {
    this.tagBytes = Buffer.byteLength(tag);
  }
  hasCredit(): boolean {
    if (this.prefetch !== 0 && this.unacked >= this.prefetch) return false;
    return this.channel.canDeliver();
  }
  deliver(queue: Queue, msgId: number, rec: LogRecord, redelivered: boolean, deliveryCount: number): void {
    this.channel.deliver(this, queue, msgId, rec, redelivered, deliveryCount);
  }
  cancelByServer(queue: Queue): void {
    this.channel.serverCancel(this, queue);
  }
}

interface PendingPublish {
  exchange: Exchange;
  routingKey: string;
  mandatory: boolean;
  classId: number;
  methodId: number;
}

interface ConfirmBatch { maxSeq: number; minSeq: number; done: boolean; failed: boolean }

interface TxPublish { exchange: Exchange; routingKey: string; mandatory: boolean; msg: Message; summary: PropertySummary }
interface TxSettle { kind: 'ack' | 'nack' | 'reject'; tag: number; multiple: boolean; requeue: boolean }

export class Channel implements ReplySink {
  state: 'open' | 'closing' | 'closed' = 'open';
  touched = false;
  private nextTag = 1;
  private readonly unacked = new UnackedList();
  private readonly consumers = new Map<string, Consumer>();
  private prefetchConsumer = 0;   // basic.qos global=false: applies to consumers created later
  private prefetchChannel = 0;    // basic.qos global=true: shared by the channel
  private flowActive = true;

  // Content assembly for basic.publish.
  private pending: PendingPublish | null = null;
  private pendingProps: Buffer | null = null;
  private bodySize = 0;
  private bodyParts: Buffer[] = [];
  private bodyReceived = 0;

  // Publisher confirms.
  private confirmMode = false;
  private publishSeq = 0;
  private batch: ConfirmBatch | null = null;
  private batchQueues: Set<Queue> | null = null;
  private readonly batches: ConfirmBatch[] = [];

  // Transactions.
  private txMode = false;
  private txPublishes: TxPublish[] = [];
  private txSettles: TxSettle[] = [];

  private lastQueue = '';
  private replyToken: string | null = null;
  private replyConsumerTag: string | null = null;

  private readonly summary: PropertySummary = { deliveryMode: 0, priority: -1, expiration: undefined, userId: undefined, hasHeaders: false };
  private readonly routed = new Set<Queue>();
  private readonly routable = { routingKey: '', props: null as Buffer | null, decoded: undefined as FieldTable | undefined | null,
    headers(): FieldTable | undefined {
      if (this.decoded === null) this.decoded = decodeProperties(this.props!).headers;
      return this.decoded;
    } };
  private readonly getOut = { msgId: 0, rec: undefined as LogRecord | undefined, redelivered: false, count: 0 };

  // Consumer timeout: one timer per channel, set for the oldest unacked delivery.
  private readonly consumerTimeoutMs: number;
  private timeoutTimer: NodeJS.Timeout | null = null;

  constructor(readonly conn: Connection, readonly id: number) {
    this.consumerTimeoutMs = (conn.config as ServerConfig & ChannelConfig).consumerTimeoutMs ?? DEFAULT_CONSUMER_TIMEOUT_MS;
  }

  private get vhost(): VHost { return this.conn.vhost!; }

  canDeliver(): boolean {
    if (!this.flowActive || this.state !== 'open') return false;
    if (this.prefetchChannel !== 0 && this.unacked.live >= this.prefetchChannel) return false;
    return !this.conn.outputBlocked;
  }

  // ---- frames ---------------------------------------------------------------------------------

  onMethod(m: AnyMethod): void {
    if (this.state === 'closing') {
      // After we sent channel.close, only close/close-ok matter (spec 2.2.4).
      if (m.name === 'channel.close-ok') this.conn.channelClosed(this);
      else if (m.name === 'channel.close') this.conn.sendMethod(this.id, { name: 'channel.close-ok' });
      return;
    }
    if (this.pending) {
      throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `expected content header for class 60, got non content header frame instead`);
    }
    this.definitionsMark = this.conn.broker.metadata.seq;
    this.handle(m);
  }

  // Frames that arrived while a reply waits for durable definitions to be synced (see
  // replyWhenDurable); the connection replays them afterwards, in order.
  held: Array<[number, Buffer]> | null = null;
  private definitionsMark = 0;

  // The reply to a method that changed durable definitions goes out once the change is on
  // disk (group commit: metadata-log.ts); meanwhile this channel processes nothing else, as a
  // RabbitMQ channel waits for its metadata transaction, so replies stay in order.
  private replyWhenDurable(m: AnyMethod): void {
    const synced = this.conn.broker.metadata.syncedSince(this.definitionsMark);
    if (synced === null) this.conn.sendMethod(this.id, m);
    else this.conn.holdChannel(this, synced, m);
  }

  // Content header: class-id(2) weight(2) body-size(8) property flags and list.
  onHeader(buf: Buffer, start: number, end: number): void {
    if (this.state === 'closing') return;
    if (!this.pending || this.pendingProps) {
      throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `unexpected content header frame on channel ${this.id}`);
    }
    if (end - start < 14) decodeContentHeader(buf.subarray(start, end)); // throws the syntax error with its text
    const classId = buf.readUInt16BE(start);
    if (classId !== 60) {
      throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `content header for class ${classId} does not match method class 60`);
    }
    const bodySize = buf.readUInt32BE(start + 4) * 0x100000000 + buf.readUInt32BE(start + 8);
    if (bodySize > MAX_MESSAGE_SIZE) {
      const p = this.pending;
      this.pending = null;
      this.channelError(preconditionFailed(`message size ${bodySize} is larger than configured max size ${MAX_MESSAGE_SIZE}`), p.classId, p.methodId);
      return;
    }
    this.pendingProps = buf.subarray(start + 12, end);
    this.bodySize = bodySize;
    this.bodyReceived = 0;
    if (bodySize === 0) this.completePublish(EMPTY);
  }

  // basic.publish without going through the generic decoder: ticket(2) exchange(shortstr)
  // routing-key(shortstr) bits(mandatory, immediate). Publishing is the hottest method, and
  // producers repeat the same exchange and key, so the strings are reused when the bytes match.
  onPublish(buf: Buffer, start: number, end: number): void {
    if (this.state === 'closing') return;
    if (this.pending) {
      throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `expected content header for class 60, got non content header frame instead`);
    }
    let p = start + 6;
    const xl = buf[p++];
    if (p + xl + 1 > end) { this.handle(decodeMethod(buf.subarray(start, end))); return; }
    const xname = this.exchangeStr.get(buf, p, xl);
    p += xl;
    const rl = buf[p++];
    if (p + rl + 1 !== end) { this.handle(decodeMethod(buf.subarray(start, end))); return; }
    const rk = this.routingKeyStr.get(buf, p, rl);
    p += rl;
    const bits = buf[p];
    this.publishMethod(xname, rk, (bits & 1) !== 0, (bits & 2) !== 0);
  }

  private publishMethod(exchange: string, routingKey: string, mandatory: boolean, immediate: boolean): void {
    this.conn.notePublisher();
    if (immediate) throw notImplemented(`immediate=true`);
    let x = this.lastExchange;
    if (x === null || x.name !== exchange || this.vhost.exchanges.get(exchange) !== x) {
      this.conn.checkPermission('write', exchange);
      x = this.vhost.getExchange(exchange);
      if (x.internal) throw accessRefused(`cannot publish to internal exchange '${exchange}' in vhost '${this.vhost.name}'`);
      this.lastExchange = x;
    }
    const pp = this.pendingBuf;
    pp.exchange = x;
    pp.routingKey = routingKey;
    pp.mandatory = mandatory;
    this.pending = pp;
    this.pendingProps = null;
  }
  private lastExchange: Exchange | null = null;
  private readonly pendingBuf: PendingPublish = { exchange: null as unknown as Exchange, routingKey: '', mandatory: false, classId: 60, methodId: 40 };
  private readonly exchangeStr = new ShortStrCache();
  private readonly routingKeyStr = new ShortStrCache();
  private lastEnvelope: Envelope | null = null;

  onBody(payload: Buffer): void {
    if (this.state === 'closing') return;
    if (!this.pending || !this.pendingProps) {
      throw new AmqpError(ReplyCode.UNEXPECTED_FRAME, `unexpected content body frame on channel ${this.id}`);
    }
    this.bodyReceived += payload.length;
    if (this.bodyReceived > this.bodySize) {
      throw new AmqpError(ReplyCode.FRAME_ERROR, `content body exceeds declared size ${this.bodySize}`);
    }
    if (this.bodyReceived === this.bodySize && this.bodyParts.length === 0) {
      this.completePublish(payload);
      return;
    }
    this.bodyParts.push(payload);
    if (this.bodyReceived === this.bodySize) {
      const body = Buffer.concat(this.bodyParts, this.bodySize);
      this.bodyParts = [];
      this.completePublish(body);
    }
  }

  // Called once per socket chunk, after all its frames: closes the confirm batch so one
  // group commit covers every publish in the chunk.
  endOfChunk(): void {
    if (this.batch) this.closeBatch();
  }

  // ---- method dispatch ----------------------------------------------------------------------------

  private handle(m: AnyMethod): void {
    const vh = this.vhost;
    const owner = this.conn;
    switch (m.name) {
      case 'channel.open':
        throw new AmqpError(ReplyCode.CHANNEL_ERROR, `second 'channel.open' seen`);
      case 'channel.flow':
        this.flowActive = m.active;
        this.conn.sendMethod(this.id, { name: 'channel.flow-ok', active: m.active });
        if (m.active) this.kickConsumers();
        return;
      case 'channel.flow-ok':
        return;
      case 'channel.close':
        this.teardown();
        this.conn.sendMethod(this.id, { name: 'channel.close-ok' });
        this.conn.channelClosed(this);
        return;
      case 'channel.close-ok':
        return;

      case 'exchange.declare': {
        this.conn.checkPermission('configure', m.exchange);
        vh.declareExchange(m.exchange, { type: m.type, passive: m.passive, durable: m.durable, autoDelete: m.autoDelete, internal: m.internal, args: m.arguments });
        if (!m.noWait) this.replyWhenDurable({ name: 'exchange.declare-ok' });
        return;
      }
      case 'exchange.delete':
        vh.deleteExchange(m.exchange, m.ifUnused);
        if (!m.noWait) this.replyWhenDurable({ name: 'exchange.delete-ok' });
        return;
      case 'exchange.bind':
        vh.bindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (!m.noWait) this.replyWhenDurable({ name: 'exchange.bind-ok' });
        return;
      case 'exchange.unbind':
        vh.unbindExchange(m.destination, m.source, m.routingKey, m.arguments);
        if (!m.noWait) this.replyWhenDurable({ name: 'exchange.unbind-ok' });
        return;

      case 'queue.declare': {
        if (m.queue === REPLY_TO || m.queue.startsWith(REPLY_TO + '.')) {
          if (!m.noWait) this.conn.sendMethod(this.id, { name: 'queue.declare-ok', queue: m.queue, messageCount: 0, consumerCount: 0 });
          return;
        }
        const q = vh.declareQueue(m.queue, { passive: m.passive, durable: m.durable, exclusive: m.exclusive, autoDelete: m.autoDelete, args: m.arguments }, owner);
        this.lastQueue = q.name;
        if (!m.noWait) this.replyWhenDurable({ name: 'queue.declare-ok', queue: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount });
        return;
      }
      case 'queue.bind':
        vh.bindQueue(this.queueName(m.queue), m.exchange, m.routingKey, m.arguments, owner);
        if (!m.noWait) this.replyWhenDurable({ name: 'queue.bind-ok' });
        return;
      case 'queue.unbind':
        vh.unbindQueue(this.queueName(m.queue), m.exchange, m.routingKey, m.arguments, owner);
        this.replyWhenDurable({ name: 'queue.unbind-ok' });
        return;
      case 'queue.purge': {
        const n = vh.purgeQueue(this.queueName(m.queue), owner);
        if (!m.noWait) this.conn.sendMethod(this.id, { name: 'queue.purge-ok', messageCount: n });
        return;
      }
      case 'queue.delete': {
        const n = vh.deleteQueue(this.queueName(m.queue), m.ifUnused, m.ifEmpty, owner);
        if (!m.noWait) this.replyWhenDurable({ name: 'queue.delete-ok', messageCount: n });
        return;
      }

      case 'basic.qos':
        if (m.prefetchSize !== 0) throw notImplemented(`prefetch_size!=0 (${m.prefetchSize})`);
        if (m.global) this.prefetchChannel = m.prefetchCount;
        else this.prefetchConsumer = m.prefetchCount;
        this.conn.sendMethod(this.id, { name: 'basic.qos-ok' });
        this.kickConsumers();
        return;
      case 'basic.consume':
        this.consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.noWait, m.arguments);
        return;
      case 'basic.cancel': {
        const c = this.consumers.get(m.consumerTag);
        if (c) this.removeConsumer(c);
        else if (m.consumerTag === this.replyConsumerTag) this.stopReplyConsumer();
        if (!m.noWait) this.conn.sendMethod(this.id, { name: 'basic.cancel-ok', consumerTag: m.consumerTag });
        return;
      }
      case 'basic.publish':
        this.publishMethod(m.exchange, m.routingKey, m.mandatory, m.immediate);
        return;
      case 'basic.get':
        this.basicGet(this.queueName(m.queue), m.noAck);
        return;
      case 'basic.ack':
        if (this.txMode) { this.txSettles.push({ kind: 'ack', tag: m.deliveryTag, multiple: m.multiple, requeue: false }); return; }
        this.settle(m.deliveryTag, m.multiple, 'ack', false);
        return;
      case 'basic.reject':
        if (this.txMode) { this.txSettles.push({ kind: 'reject', tag: m.deliveryTag, multiple: false, requeue: m.requeue }); return; }
        this.settle(m.deliveryTag, false, 'reject', m.requeue);
        return;
      case 'basic.nack':
        if (this.txMode) { this.txSettles.push({ kind: 'nack', tag: m.deliveryTag, multiple: m.multiple, requeue: m.requeue }); return; }
        this.settle(m.deliveryTag, m.multiple, 'nack', m.requeue);
        return;
      case 'basic.recover-async':
      case 'basic.recover':
        this.requeueAll();
        if (m.name === 'basic.recover') this.conn.sendMethod(this.id, { name: 'basic.recover-ok' });
        return;

      case 'confirm.select':
        if (this.txMode) throw preconditionFailed(`cannot switch from tx to confirm mode`);
        this.confirmMode = true;
        if (!m.nowait) this.conn.sendMethod(this.id, { name: 'confirm.select-ok' });
        return;

      case 'tx.select':
        if (this.confirmMode) throw preconditionFailed(`cannot switch from confirm to tx mode`);
        this.txMode = true;
        this.conn.sendMethod(this.id, { name: 'tx.select-ok' });
        return;
      case 'tx.commit':
        if (!this.txMode) throw preconditionFailed(`channel is not transactional`);
        this.txCommit();
        return;
      case 'tx.rollback':
        if (!this.txMode) throw preconditionFailed(`channel is not transactional`);
        this.txPublishes = [];
        this.txSettles = [];
        this.conn.sendMethod(this.id, { name: 'tx.rollback-ok' });
        return;

      default:
        throw commandInvalid(`unexpected method ${m.name} on channel ${this.id}`);
    }
  }

  private queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueue === '') throw new AmqpError(ReplyCode.NOT_FOUND, `no previously declared queue`);
    return this.lastQueue;
  }

  // ---- errors -----------------------------------------------------------------------------------

  // A soft error closes only this channel: channel.close goes out, and frames are ignored until
  // the client answers with close-ok.
  channelError(e: AmqpError, classId: number, methodId: number): void {
    if (this.state !== 'open') return;
    this.teardown();
    this.state = 'closing';
    this.conn.sendMethod(this.id, { name: 'channel.close', replyCode: e.code, replyText: e.replyText, classId, methodId });
  }

  // Requeues unacked messages, cancels consumers, nacks nothing (the client sees the close).
  teardown(): void {
    if (this.state === 'closed') return;
    this.pending = null;
    this.pendingProps = null;
    this.bodyParts = [];
    for (const c of [...this.consumers.values()]) this.removeConsumer(c);
    this.stopReplyConsumer();
    this.requeueAll();
    if (this.timeoutTimer) { clearTimeout(this.timeoutTimer); this.timeoutTimer = null; }
    this.state = 'closed';
  }

  // ---- publishing -------------------------------------------------------------------------------

  private completePublish(body: Buffer): void {
    const p = this.pending!;
    const props = this.pendingProps!;
    this.pending = null;
    this.pendingProps = null;
    const s = this.summary;
    scanProperties(props, s);
    let expiration: number | null = null;
    if (s.expiration !== undefined) {
      const e = parseExpiration(s.expiration);
      if (e === 'invalid') return this.channelError(preconditionFailed(`invalid expiration '${s.expiration}' for message`), 60, 40);
      expiration = e;
    }
    if (s.userId !== undefined && s.userId !== this.conn.user!.name) {
      return this.channelError(preconditionFailed(`user_id property set to '${s.userId}' but authenticated user was '${this.conn.user!.name}'`), 60, 40);
    }
    let propsOut = props;
    if (this.replyToken !== null) propsOut = this.rewriteReplyTo(props);
    let env = this.lastEnvelope;
    if (env === null || env[0] !== p.exchange.name || env[1] !== p.routingKey || env[2] !== expiration) {
      env = [p.exchange.name, p.routingKey, expiration];
      this.lastEnvelope = env;
    }
    const msg = newMessageWith(env, propsOut, body, s.deliveryMode === 2);
    if (this.txMode) {
      this.txPublishes.push({ exchange: p.exchange, routingKey: p.routingKey, mandatory: p.mandatory, msg, summary: { ...s } });
      return;
    }
    this.routeAndStore(p.exchange, p.routingKey, p.mandatory, msg, s.priority);
  }

  private rewriteReplyTo(props: Buffer): Buffer {
    const decoded = decodeProperties(props);
    if (decoded.replyTo !== REPLY_TO) return props;
    decoded.replyTo = `${REPLY_TO}.${this.replyToken}`;
    return encodeProperties(decoded);
  }

  // Routes and enqueues; in confirm mode records what must be synced before the ack.
  private routeAndStore(x: Exchange, routingKey: string, mandatory: boolean, msg: Message, priority: number): Set<Queue> | null {
    const vh = this.vhost;
    const seq = this.confirmMode ? ++this.publishSeq : 0;
    if (x.name === '' && routingKey.startsWith(REPLY_TO_PREFIX)) {
      const sink = vh.replySinks.get(routingKey);
      if (sink) sink.deliverReply(x.name, routingKey, msg.props, msg.body);
      else if (mandatory) this.basicReturn(ReplyCode.NO_ROUTE, 'NO_ROUTE', x.name, routingKey, msg);
      if (seq) this.confirmNow(seq, true);
      return null;
    }
    const extraKeys = (msg.props[0] & 0x20) !== 0 ? this.senderSelectedKeys(msg) : null;
    if (x.name === '' && extraKeys === null) {
      // The default exchange: at most one queue, found by name, no set needed.
      const q = vh.queues.get(routingKey);
      if (q === undefined) {
        if (mandatory) this.basicReturn(ReplyCode.NO_ROUTE, 'NO_ROUTE', x.name, routingKey, msg);
        if (seq) this.confirmNow(seq, true);
        return null;
      }
      const res = this.enqueueOne(q, msg, priority, seq);
      if (seq) {
        if (res === EnqueueResult.Rejected) this.confirmNow(seq, false);
        else if (res === EnqueueResult.AcceptedDurable) this.addToBatch(seq);
        else this.confirmNow(seq, true);
      }
      const single = this.routed;
      single.clear();
      single.add(q);
      return single;
    }
    const out = this.routed;
    out.clear();
    const r = this.routable;
    r.routingKey = routingKey;
    r.props = msg.props;
    r.decoded = null;
    vh.route(x, r, out);
    if (extraKeys !== null) {
      for (const k of extraKeys) { r.routingKey = k; vh.route(x, r, out); }
      r.routingKey = routingKey;
    }
    if (out.size === 0) {
      if (mandatory) this.basicReturn(ReplyCode.NO_ROUTE, 'NO_ROUTE', x.name, routingKey, msg);
      if (seq) this.confirmNow(seq, true);
      return out;
    }
    let rejected = false;
    let durable = false;
    for (const q of out) {
      const res = this.enqueueOne(q, msg, priority, seq);
      if (res === EnqueueResult.Rejected) rejected = true;
      else if (res === EnqueueResult.AcceptedDurable) durable = true;
    }
    if (seq) {
      if (rejected) this.confirmNow(seq, false);
      else if (durable) this.addToBatch(seq);
      else this.confirmNow(seq, true);
    }
    return out;
  }

  // Sender-selected distribution, as RabbitMQ does it: routing keys in the CC and BCC headers
  // (arrays of strings) route the message too, and BCC is removed before anyone sees it.
  // Returns null when there are no extra keys; looks for the header names in the raw bytes
  // before decoding anything.
  private senderSelectedKeys(msg: Message): string[] | null {
    const raw = msg.props;
    if (raw.indexOf(CC_NAME) < 0 && raw.indexOf(BCC_NAME) < 0) return null;
    const h = decodeProperties(raw).headers;
    if (!h) return null;
    const keys: string[] = [];
    for (const name of ['CC', 'BCC']) {
      const v = h[name];
      if (!Array.isArray(v)) continue;
      for (const k of v) {
        if (typeof k === 'string') keys.push(k);
        else if (Buffer.isBuffer(k)) keys.push(k.toString());
      }
    }
    if (Object.prototype.hasOwnProperty.call(h, 'BCC')) msg.props = editProperties(raw, { remove: ['BCC'] });
    return keys.length > 0 ? keys : null;
  }

  private enqueueOne(q: Queue, msg: Message, priority: number, seq: number): EnqueueResult {
    let res: EnqueueResult;
    try {
      res = q.enqueue(msg, priority < 0 ? 0 : priority);
    } catch (e) {
      // A failed write (disk full, I/O error): never confirm, block publishers.
      this.conn.broker.disk.reportWriteError(e);
      return EnqueueResult.Rejected;
    }
    if (res === EnqueueResult.AcceptedDurable && seq) (this.batchQueues ??= new Set()).add(q);
    if (res !== EnqueueResult.Rejected && q.shouldThrottle()) this.conn.throttle(q);
    return res;
  }

  private basicReturn(code: number, text: string, exchange: string, routingKey: string, msg: Message): void {
    this.conn.sendMethod(this.id, { name: 'basic.return', replyCode: code, replyText: text, exchange, routingKey });
    this.sendContent(msg.props, msg.body);
  }

  private sendContent(props: Buffer, body: Buffer): void {
    const out = this.conn.out;
    const fm = this.conn.frameMax;
    const zeroCopy = body.length >= ZERO_COPY_THRESHOLD;
    const need = contentHeaderSize(props) + (zeroCopy ? 0 : bodyFramesSize(body.length, fm));
    const b = out.reserve(need);
    let pos = writeContentHeader(b, out.pos, this.id, 60, body.length, props);
    if (!zeroCopy) {
      pos = writeBodyFrames(b, pos, this.id, body, fm);
      out.commit(pos);
    } else {
      out.commit(pos);
      this.writeBodyZeroCopy(body);
    }
  }

  private writeBodyZeroCopy(body: Buffer): void {
    const out = this.conn.out;
    const max = this.conn.frameMax - 8;
    for (let off = 0; off < body.length; off += max) {
      const n = Math.min(max, body.length - off);
      const b = out.reserve(7);
      let p = out.pos;
      b[p++] = 3;
      b.writeUInt16BE(this.id, p); p += 2;
      b.writeUInt32BE(n, p); p += 4;
      out.commit(p);
      out.writeZeroCopy(body.subarray(off, off + n));
      const e = out.reserve(1);
      e[out.pos] = 0xce;
      out.commit(out.pos + 1);
    }
  }

  // ---- confirms ---------------------------------------------------------------------------------

  private confirmNow(seq: number, ack: boolean): void {
    if (this.batches.length === 0 && !this.batch) {
      this.writeConfirm(seq, false, ack);
      return;
    }
    // Keep confirms in order behind batches still waiting for their fsync.
    const b: ConfirmBatch = { minSeq: seq, maxSeq: seq, done: true, failed: !ack };
    if (this.batch) this.closeBatch();
    this.batches.push(b);
    this.drainBatches();
  }

  private addToBatch(seq: number): void {
    if (!this.batch) this.batch = { minSeq: seq, maxSeq: seq, done: false, failed: false };
    else this.batch.maxSeq = seq;
  }

  private closeBatch(): void {
    const b = this.batch!;
    const qs = this.batchQueues;
    this.batch = null;
    this.batchQueues = null;
    this.batches.push(b);
    const all: Promise<void>[] = [];
    if (qs) for (const q of qs) all.push(q.sync());
    Promise.all(all).then(() => { b.done = true; }, (err) => {
      b.done = true;
      b.failed = true;
      this.conn.logError(`fsync for publisher confirms failed: ${err instanceof Error ? err.message : err}`);
      // Disk full or an I/O error: these confirms become nacks, and publishers are blocked
      // (connection.blocked) until the disk monitor sees writes can succeed again.
      this.conn.broker.disk.reportWriteError(err);
    }).then(() => this.drainBatches());
  }

  private drainBatches(): void {
    while (this.batches.length > 0 && this.batches[0].done) {
      const b = this.batches.shift()!;
      if (this.state !== 'open') continue;
      if (b.failed) {
        for (let s = b.minSeq; s <= b.maxSeq; s++) this.writeConfirm(s, false, false);
      } else {
        this.writeConfirm(b.maxSeq, b.maxSeq > b.minSeq, true);
      }
    }
  }

  private writeConfirm(seq: number, multiple: boolean, ack: boolean): void {
    const out = this.conn.out;
    const b = out.reserve(32);
    out.commit(ack ? writeBasicAck(b, out.pos, this.id, seq, multiple) : writeBasicNack(b, out.pos, this.id, seq, multiple, false));
  }

  // ---- transactions -----------------------------------------------------------------------------

  private txCommit(): void {
    const pubs = this.txPublishes;
    const settles = this.txSettles;
    this.txPublishes = [];
    this.txSettles = [];
    const toSync = new Set<Queue>();
    for (const p of pubs) {
      const out = this.routeAndStore(p.exchange, p.routingKey, p.mandatory, p.msg, p.summary.priority);
      if (out) for (const q of out) if (q.durable) toSync.add(q);
    }
    for (const s of settles) this.settle(s.tag, s.multiple, s.kind, s.requeue);
    const syncs = [...toSync].map((q) => q.sync());
    Promise.all(syncs).then(() => {
      if (this.state === 'open') this.conn.sendMethod(this.id, { name: 'tx.commit-ok' });
    }, (err) => {
      this.conn.broker.disk.reportWriteError(err);
      this.channelError(new AmqpError(ReplyCode.INTERNAL_ERROR, `commit failed: ${err}`), 90, 20);
    });
  }

  // ---- consuming --------------------------------------------------------------------------------

  private consume(queueName: string, tag: string, noAck: boolean, exclusive: boolean, noWait: boolean, args: FieldTable): void {
    if (tag === '') tag = `amq.ctag-${crypto.randomBytes(16).toString('base64url').slice(0, 22)}`;
    if (this.consumers.has(tag) || tag === this.replyConsumerTag) throw notAllowed(`attempt to reuse consumer tag '${tag}'`);
    if (queueName === REPLY_TO) {
      if (!noAck) throw preconditionFailed(`reply consumer cannot acknowledge`);
      if (this.replyToken !== null) throw preconditionFailed(`reply consumer already set`);
      this.replyToken = crypto.randomBytes(18).toString('base64url');
      this.replyConsumerTag = tag;
      this.vhost.replySinks.set(`${REPLY_TO}.${this.replyToken}`, this);
      if (!noWait) this.conn.sendMethod(this.id, { name: 'basic.consume-ok', consumerTag: tag });
      return;
    }
    const name = this.queueName(queueName);
    this.conn.checkPermission('read', name);
    const q = this.vhost.getQueue(name, this.conn);
    if (q.consumers.some((c) => c.exclusive) || (exclusive && q.consumerCount > 0)) {
      throw accessRefused(`queue '${q.name}' in vhost '${this.vhost.name}' in exclusive use`);
    }
    const priority = parseConsumerPriority(q.name, this.vhost.name, args['x-priority']);
    const c = new Consumer(this, q, tag, noAck, exclusive, priority, this.prefetchConsumer);
    this.consumers.set(tag, c);
    if (!noWait) this.conn.sendMethod(this.id, { name: 'basic.consume-ok', consumerTag: tag });
    q.addConsumer(c);
  }

  private removeConsumer(c: Consumer): void {
    this.consumers.delete(c.tag);
    c.queue.removeConsumer(c);
  }

  private stopReplyConsumer(): void {
    if (this.replyToken !== null) {
      this.vhost.replySinks.delete(`${REPLY_TO}.${this.replyToken}`);
      this.replyToken = null;
      this.replyConsumerTag = null;
    }
  }

  // The queue was deleted under the consumer: tell the client, if it understands basic.cancel.
  serverCancel(c: Consumer, _queue: Queue): void {
    this.consumers.delete(c.tag);
    if (this.state === 'open' && this.conn.capability('consumer_cancel_notify')) {
      this.conn.sendMethod(this.id, { name: 'basic.cancel', consumerTag: c.tag, noWait: true });
    }
  }

  kickConsumers(): void {
    for (const c of this.consumers.values()) c.queue.scheduleDispatch();
  }

  deliver(c: Consumer, q: Queue, msgId: number, rec: LogRecord, redelivered: boolean, deliveryCount: number): void {
    const tag = this.nextTag;
    try {
      const env = envelopeOf(rec);
      let props = rec.props;
      if (deliveryCount > 0 && q.args.deliveryLimit !== null) props = withDeliveryCount(props, deliveryCount);
      this.writeDelivery(c.tag, c.tagBytes, tag, redelivered, env[0], env[1], props, rec.body);
    } catch (e) {
      undeliverable(this, q, c.noAck ? null : msgId, e, 60, 60);
      return;
    }
    this.nextTag++;
    if (!c.noAck) {
      this.unacked.push(tag, msgId, q, c, Date.now());
      c.unacked++;
      if (this.timeoutTimer === null) this.armConsumerTimeout(this.consumerTimeoutMs);
    }
  }

  deliverReply(exchange: string, routingKey: string, props: Buffer, body: Buffer): void {
    if (this.state !== 'open' || this.replyConsumerTag === null) return;
    const tag = this.nextTag++;
    this.writeDelivery(this.replyConsumerTag, Buffer.byteLength(this.replyConsumerTag), tag, false, exchange, routingKey, props, body);
  }

  private writeDelivery(ctag: string, ctagBytes: number, tag: number, redelivered: boolean,
    exchange: string, routingKey: string, props: Buffer, body: Buffer): void {
    const out = this.conn.out;
    const fm = this.conn.frameMax;
    const zeroCopy = body.length >= ZERO_COPY_THRESHOLD;
    const methodSize = 7 + 4 + 1 + ctagBytes + 8 + 1 + 1 + Buffer.byteLength(exchange) + 1 + Buffer.byteLength(routingKey) + 1;
    const need = methodSize + contentHeaderSize(props) + (zeroCopy ? 0 : bodyFramesSize(body.length, fm));
    const b = out.reserve(need);
    let pos = writeBasicDeliver(b, out.pos, this.id, ctag, tag, redelivered, exchange, routingKey);
    pos = writeContentHeader(b, pos, this.id, 60, body.length, props);
    if (zeroCopy) {
      out.commit(pos);
      this.writeBodyZeroCopy(body);
    } else {
      out.commit(writeBodyFrames(b, pos, this.id, body, fm));
    }
  }

  private basicGet(queueName: string, noAck: boolean): void {
    this.conn.checkPermission('read', queueName);
    const q = this.vhost.getQueue(queueName, this.conn);
    const o = this.getOut;
    if (!q.get(noAck, o)) {
      this.conn.sendMethod(this.id, { name: 'basic.get-empty' });
      return;
    }
    const rec = o.rec!;
    o.rec = undefined;
    const tag = this.nextTag;
    try {
      const env = envelopeOf(rec);
      let props = rec.props;
      if (o.count > 0 && q.args.deliveryLimit !== null) props = withDeliveryCount(props, o.count);
      const out = this.conn.out;
      const fm = this.conn.frameMax;
      const size = basicGetOkSize(env[0], env[1]) + contentHeaderSize(props) + bodyFramesSize(rec.body.length, fm);
      const b = out.reserve(size);
      let pos = writeBasicGetOk(b, out.pos, this.id, tag, o.redelivered, env[0], env[1], q.messageCount);
      pos = writeContentHeader(b, pos, this.id, 60, rec.body.length, props);
      out.commit(writeBodyFrames(b, pos, this.id, rec.body, fm));
    } catch (e) {
      undeliverable(this, q, noAck ? null : o.msgId, e, 60, 70);
      return;
    }
    this.nextTag++;
    if (!noAck) {
      this.unacked.push(tag, o.msgId, q, null, Date.now());
      if (this.timeoutTimer === null) this.armConsumerTimeout(this.consumerTimeoutMs);
    }
  }

  // ---- consumer timeout ---------------------------------------------------------------------------

  private armConsumerTimeout(ms: number): void {
    if (this.consumerTimeoutMs <= 0 || this.state !== 'open') return;
    this.timeoutTimer = setTimeout(() => this.checkConsumerTimeout(), ms);
    this.timeoutTimer.unref();
  }

  private checkConsumerTimeout(): void {
    this.timeoutTimer = null;
    if (this.state !== 'open') return;
    const oldest = this.unacked.oldestTime();
    if (oldest === undefined) return;
    const age = Date.now() - oldest;
    if (age < this.consumerTimeoutMs) {
      this.armConsumerTimeout(this.consumerTimeoutMs - age);
      return;
    }
    const limit = this.consumerTimeoutMs;
    this.conn.logError(`channel ${this.id}: consumer ack timed out (an unacked delivery is older than ${limit} ms); closing the channel`);
    this.channelError(preconditionFailed(`delivery acknowledgement on channel ${this.id} timed out. Timeout value used: ${limit} ms. This timeout value can be configured, see consumers doc guide to learn more`), 0, 0);
  }

  // ---- settling ---------------------------------------------------------------------------------

  private settle(tag: number, multiple: boolean, kind: 'ack' | 'nack' | 'reject', requeue: boolean): void {
    const touched = this.touchedQueues;
    touched.clear();
    const fn = kind === 'ack'
      ? (q: Queue, id: number) => { q.ack(id); touched.add(q); }
      : requeue
        ? (q: Queue, id: number) => { q.requeue(id); touched.add(q); }
        : (q: Queue, id: number) => { q.discard(id); touched.add(q); };
    if (tag === 0 && multiple) {
      this.unacked.settleAll(fn);
    } else if (!this.unacked.settle(tag, multiple, fn)) {
      const methodId = kind === 'ack' ? 80 : kind === 'reject' ? 90 : 120;
      this.channelError(preconditionFailed(`unknown delivery tag ${tag}`), 60, methodId);
      return;
    }
    // Settling frees prefetch credit; let the affected queues dispatch again.
    for (const q of touched) if (q.consumerCount > 0) q.scheduleDispatch();
    if (this.prefetchChannel !== 0) this.kickConsumers();
  }
  private readonly touchedQueues = new Set<Queue>();

  private requeueAll(): void {
    const touched = new Set<Queue>();
    this.unacked.settleAll((q, id) => { q.requeue(id); touched.add(q); });
    for (const q of touched) q.scheduleDispatch();
  }

  // ---- read-only view for the management API (src/management) ----------------------------------
  get info(): ChannelInfo {
    return {
      consumers: this.consumers.size, unacked: this.unacked.live, prefetch: this.prefetchConsumer,
      globalPrefetch: this.prefetchChannel, confirm: this.confirmMode, transactional: this.txMode,
    };
  }
}

export interface ChannelInfo {
  consumers: number; unacked: number; prefetch: number; globalPrefetch: number; confirm: boolean; transactional: boolean;
}

// Quorum-queue style x-delivery-count header on redeliveries of queues with a delivery limit.
// Other header entries keep their bytes; the count is a long, as in RabbitMQ.
function withDeliveryCount(raw: Buffer, count: number): Buffer {
  return editProperties(raw, { set: { 'x-delivery-count': typed('l', count) } });
}
