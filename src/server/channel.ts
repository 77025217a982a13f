// One AMQP channel: its methods, consumers, unacked deliveries, prefetch, publisher confirms and
// transactions. Content assembly is publish-assembly.ts, confirm bookkeeping confirm-tracker.ts,
// routing the vhost's; the channel reaches its connection through ChannelHost.
import * as crypto from 'node:crypto';
import {
  type AnyMethod, type FieldTable, type PropertySummary,
  decodeProperties, encodeProperties, typed,
  CLASS_BASIC, CLASS_TX,
} from '../protocol';
// Hot-path writers come from their modules directly: the index's re-exports are getters (one
// showed up at 13 ns per delivery in a CPU profile of S4).
import { DeliveryNames, encodeShortstr, writeBasicAck, writeBasicNack } from '../protocol/frames';
import { writeDelivery, writeGetOk, writeReturn } from '../protocol/content-frames';
import { scanProperties } from '../protocol/properties';
import type { LogRecord } from '../store';
import {
  AmqpError, ReplyCode, accessRefused, notAllowed, notImplemented, preconditionFailed, commandInvalid,
} from '../broker/errors';
import { type Envelope, type Message, envelopeOf, newMessageWith, parseExpiration } from '../broker/message';
import type { MessageRef } from '../broker/message-ref';
import type { Queue } from '../broker/queue';
import { parseConsumerPriority } from '../broker/queue-args';
import type { Exchange } from '../broker/exchange';
import { Routed, type ReplySink, type VHost } from '../broker/vhost';
import { SyncPoints } from '../broker/sync-points';
import { editProperties } from '../broker/props-edit';
import { UnackedList } from './unacked';
import { counters, received } from '../broker/counters';
import type { ChannelHost } from './channel-host';
import { ConfirmTracker } from './confirm-tracker';
import { Consumer, type ConsumerChannel } from './consumer';
import { PublishAssembly, type PublishTarget } from './publish-assembly';
import { undeliverable } from './last-guard';
import { REPLY_TO, topologyMethod } from './topology-methods';

export const DEFAULT_CONSUMER_TIMEOUT_MS = 30 * 60 * 1000;

interface TxPublish { exchange: Exchange; routingKey: string; mandatory: boolean; msg: Message; priority: number }
interface TxSettle { kind: 'ack' | 'nack' | 'reject'; tag: number; multiple: boolean; requeue: boolean }

export class Channel implements ReplySink, ConsumerChannel, PublishTarget {
  state: 'open' | 'closing' | 'closed' = 'open';
  /** frames of this channel arrived in the current socket read (see endOfChunk) */
  touched = false;
  private nextTag = 1;
  private readonly unacked = new UnackedList();
  private readonly consumers = new Map<string, Consumer>();
  private prefetchConsumer = 0;   // basic.qos global=false: applies to consumers created later
  private prefetchChannel = 0;    // basic.qos global=true: shared by the channel

  private readonly assembly = new PublishAssembly(this, () => this.conn.maxMessageSize);
  private pendingExchange: Exchange | null = null;
  private pendingRoutingKey = '';
  private pendingMandatory = false;
  private lastExchange: Exchange | null = null;
  private lastEnvelope: Envelope | null = null;
  private readonly summary: PropertySummary = { deliveryMode: 0, priority: -1, expiration: undefined, userId: undefined, hasHeaders: false };

  private confirms: ConfirmTracker | null = null;
  // one log line per burst of failed confirm batches (a full disk fails every batch in flight)
  private syncFailLoggedAt = 0;
  private syncFailsUnlogged = 0;

  private txMode = false;
  private txPublishes: TxPublish[] = [];
  private txSettles: TxSettle[] = [];

  /** the last queue declared on this channel */
  lastQueue = '';
  private replyToken: string | null = null;
  private replyConsumerTag: string | null = null;
  private replyTagBytes: Buffer | null = null;
  // the exchange and routing key of the last delivery, encoded (see DeliveryNames)
  private readonly names = new DeliveryNames();
  private confirmedUpTo = 0;
  private readonly getOut = { ref: 0 as MessageRef, rec: undefined as LogRecord | undefined, redelivered: false, count: 0 };

  // Consumer timeout: one timer per channel, set for the oldest unacked delivery.
  private timeoutTimer: NodeJS.Timeout | null = null;

  constructor(private readonly conn: ChannelHost, readonly id: number) {}

  private get vhost(): VHost { return this.conn.vhost; }

  canDeliver(): boolean {
    if (this.state !== 'open') return false;
    if (this.prefetchChannel !== 0 && this.unacked.live >= this.prefetchChannel) return false;
    return !this.conn.outputBlocked;
  }

  // ---- frames ---------------------------------------------------------------------------------

  onMethod(m: AnyMethod): void {
    if (this.state === 'closing') {
      // After we sent channel.close, only close/close-ok matter (spec 2.2.4).
      if (m.name === 'channel.close-ok') this.conn.channelClosed(this.id);
      else if (m.name === 'channel.close') this.conn.sendMethod(this.id, { name: 'channel.close-ok' });
      return;
    }
    this.assembly.checkNoContentPending();
    this.definitionsMark = this.conn.definitions.seq;
    this.method(m);
  }

  // Frames that arrived while a reply waits for durable definitions to be synced (see
  // replyWhenDurable); the connection replays them afterwards, in order.
  held: Array<[number, Buffer]> | null = null;
  private definitionsMark = 0;

  // The reply to a method that changed durable definitions goes out once the change is on
  // disk (group commit: store/metadata-log.ts); meanwhile this channel processes nothing else,
  // as a RabbitMQ channel waits for its metadata transaction, so replies stay in order.
  replyWhenDurable(m: AnyMethod): void {
    const synced = this.conn.definitions.syncedSince(this.definitionsMark);
    if (synced === null) this.conn.sendMethod(this.id, m);
    else this.conn.replyWhenSynced(this.id, synced, m);
  }

  onPublish(buf: Buffer, start: number, end: number): void {
    if (this.state === 'closing') return;
    this.assembly.onPublish(buf, start, end);
  }

  onHeader(buf: Buffer, start: number, end: number): void {
    if (this.state === 'closing') return;
    this.assembly.onHeader(buf, start, end, this.id);
  }

  onBody(payload: Buffer): void {
    if (this.state === 'closing') return;
    this.assembly.onBody(payload, this.id);
  }

  // Called once per socket read, after all its frames: one group commit covers every publish in it.
  endOfChunk(): void {
    this.confirms?.endOfChunk();
  }

  // ---- method dispatch ----------------------------------------------------------------------------

  method(m: AnyMethod): void {
    const conn = this.conn;
    switch (m.name) {
      case 'channel.open':
        throw new AmqpError(ReplyCode.CHANNEL_ERROR, `second 'channel.open' seen`);
      case 'channel.flow':
        // RabbitMQ 3.x does not pause deliveries on request; clients' tests expect this answer.
        if (!m.active) throw notImplemented('active=false');
        conn.sendMethod(this.id, { name: 'channel.flow-ok', active: true });
        return;
      case 'channel.flow-ok':
        return;
      case 'channel.close':
        this.teardown();
        conn.sendMethod(this.id, { name: 'channel.close-ok' });
        conn.channelClosed(this.id);
        return;
      case 'channel.close-ok':
        return;

      case 'basic.qos':
        if (m.prefetchSize !== 0) throw notImplemented(`prefetch_size!=0 (${m.prefetchSize})`);
        if (m.global) this.prefetchChannel = m.prefetchCount;
        else this.prefetchConsumer = m.prefetchCount;
        conn.sendMethod(this.id, { name: 'basic.qos-ok' });
        this.kickConsumers();
        return;
      case 'basic.consume':
        this.consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.noWait, m.arguments);
        return;
      case 'basic.cancel': {
        const c = this.consumers.get(m.consumerTag);
        if (c) this.removeConsumer(c);
        else if (m.consumerTag === this.replyConsumerTag) this.stopReplyConsumer();
        if (!m.noWait) conn.sendMethod(this.id, { name: 'basic.cancel-ok', consumerTag: m.consumerTag });
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
        if (m.name === 'basic.recover') conn.sendMethod(this.id, { name: 'basic.recover-ok' });
        return;

      case 'confirm.select':
        if (this.txMode) throw preconditionFailed(`cannot switch from tx to confirm mode`);
        this.confirms ??= new ConfirmTracker({
          confirm: (seq, multiple, ack) => this.writeConfirm(seq, multiple, ack),
          syncFailed: (err) => {
            // Disk full or an I/O error: these confirms become nacks, and publishers are blocked
            // (connection.blocked) until the disk monitor sees writes can succeed again. (A queue
            // deleted before its sync also fails its waiters: nacks, but no alarm.)
            if (!isIoError(err)) return;
            const now = Date.now();
            if (now - this.syncFailLoggedAt >= 5000) {
              const more = this.syncFailsUnlogged > 0 ? ` (and ${this.syncFailsUnlogged} more batches since the last report)` : '';
              this.conn.logError(`fsync for publisher confirms failed, the batch is nacked${more}: ${err.message}`);
              this.syncFailLoggedAt = now;
              this.syncFailsUnlogged = 0;
            } else this.syncFailsUnlogged++;
            this.conn.storeFailed(err);
          },
        });
        if (!m.nowait) conn.sendMethod(this.id, { name: 'confirm.select-ok' });
        return;

      case 'tx.select':
        if (this.confirms !== null) throw preconditionFailed(`cannot switch from confirm to tx mode`);
        this.txMode = true;
        conn.sendMethod(this.id, { name: 'tx.select-ok' });
        return;
      case 'tx.commit':
        if (!this.txMode) throw preconditionFailed(`channel is not transactional`);
        this.txCommit();
        return;
      case 'tx.rollback':
        if (!this.txMode) throw preconditionFailed(`channel is not transactional`);
        this.txPublishes = [];
        this.txSettles = [];
        conn.sendMethod(this.id, { name: 'tx.rollback-ok' });
        return;

      default:
        if (topologyMethod(this, conn, m)) return;
        throw commandInvalid(`unexpected method ${m.name} on channel ${this.id}`);
    }
  }

  /** '' means the queue this channel declared last (AMQP 0-9-1's queue name shortcut) */
  queueName(name: string): string {
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

  // Requeues unacked messages, cancels consumers, stops confirms (the client sees the close).
  teardown(): void {
    if (this.state === 'closed') return;
    this.assembly.reset();
    for (const c of [...this.consumers.values()]) this.removeConsumer(c);
    this.stopReplyConsumer();
    this.requeueAll();
    this.confirms?.close();
    if (this.timeoutTimer) { clearTimeout(this.timeoutTimer); this.timeoutTimer = null; }
    this.state = 'closed';
  }

  // ---- publishing -------------------------------------------------------------------------------

  publishMethod(exchange: string, routingKey: string, mandatory: boolean, immediate: boolean): void {
    this.conn.notePublisher();
    if (immediate) throw notImplemented(`immediate=true`);
    this.conn.access.publish(exchange);
    let x = this.lastExchange;
    if (x === null || x.name !== exchange || this.vhost.exchanges.get(exchange) !== x) {
      x = this.vhost.getExchange(exchange);
      if (x.internal) throw accessRefused(`cannot publish to internal exchange '${exchange}' in vhost '${this.vhost.name}'`);
      this.lastExchange = x;
    }
    this.conn.access.publishTopic(x, routingKey);
    this.pendingExchange = x;
    this.pendingRoutingKey = routingKey;
    this.pendingMandatory = mandatory;
    this.assembly.begin();
  }

  publishRefused(text: string): void {
    this.channelError(preconditionFailed(text), CLASS_BASIC, 40);
  }

  publishContent(props: Buffer, body: Buffer): void {
    const x = this.pendingExchange as Exchange;
    const s = this.summary;
    scanProperties(props, s);
    let expiration: number | null = null;
    if (s.expiration !== undefined) {
      const e = parseExpiration(s.expiration);
      if (e === 'invalid') return this.channelError(preconditionFailed(`invalid expiration '${s.expiration}' for message`), CLASS_BASIC, 40);
      expiration = e;
    }
    if (s.userId !== undefined && !this.conn.access.mayClaimUserId(s.userId)) {
      return this.channelError(preconditionFailed(`user_id property set to '${s.userId}' but authenticated user was '${this.conn.user.name}'`), CLASS_BASIC, 40);
    }
    const propsOut = this.replyToken !== null ? this.rewriteReplyTo(props) : props;
    let env = this.lastEnvelope;
    if (env === null || env[0] !== x.name || env[1] !== this.pendingRoutingKey || env[2] !== expiration) {
      env = [x.name, this.pendingRoutingKey, expiration];
      this.lastEnvelope = env;
    }
    const msg = newMessageWith(env, propsOut, body, s.deliveryMode === 2);
    if (this.txMode) {
      this.txPublishes.push({ exchange: x, routingKey: this.pendingRoutingKey, mandatory: this.pendingMandatory, msg, priority: s.priority });
      return;
    }
    const confirms = this.confirms;
    const seq = confirms === null ? 0 : confirms.next();
    const r = this.route(x, this.pendingRoutingKey, this.pendingMandatory, msg, s.priority, confirms === null ? null : confirms.sync);
    if (r === Routed.Rejected && confirms !== null) confirms.refused(seq);
  }

  private route(x: Exchange, routingKey: string, mandatory: boolean, msg: Message, priority: number, sync: SyncPoints | null): Routed {
    const vh = this.vhost;
    received(msg.body.length, this.confirms !== null);
    const r = vh.publish(x, routingKey, msg, priority, sync);
    if (r === Routed.Unroutable) {
      if (mandatory) {
        counters.unroutableReturned++;
        writeReturn(this.conn.out, this.id, ReplyCode.NO_ROUTE, 'NO_ROUTE', x.name, routingKey, msg.props, msg.body, this.conn.frameMax);
      } else {
        counters.unroutableDropped++;
      }
      return r;
    }
    const thr = vh.throttled;
    for (let i = 0; i < vh.throttledCount; i++) this.conn.throttle(thr[i] as Queue);
    return r;
  }

  private rewriteReplyTo(props: Buffer): Buffer {
    const decoded = decodeProperties(props);
    if (decoded.replyTo !== REPLY_TO) return props;
    decoded.replyTo = `${REPLY_TO}.${this.replyToken}`;
    return encodeProperties(decoded);
  }

  private writeConfirm(seq: number, multiple: boolean, ack: boolean): void {
    if (this.state !== 'open') return;
    // for rabbitmq_global_messages_confirmed_total: a multiple ack covers everything above the last confirm
    if (ack) counters.confirmed += multiple ? Math.max(1, seq - this.confirmedUpTo) : 1;
    if (seq > this.confirmedUpTo) this.confirmedUpTo = seq;
    const out = this.conn.out;
    const b = out.reserve(32);
    out.commit(ack ? writeBasicAck(b, out.pos, this.id, seq, multiple) : writeBasicNack(b, out.pos, this.id, seq, multiple, false));
  }

  // ---- transactions -----------------------------------------------------------------------------

  // Publishes and settles of the transaction happen now; commit-ok waits until its persistent
  // messages are durable. A failed sync fails the commit (the channel is closed with 541).
  private txCommit(): void {
    const pubs = this.txPublishes;
    const settles = this.txSettles;
    this.txPublishes = [];
    this.txSettles = [];
    const sync = new SyncPoints();
    for (const p of pubs) this.route(p.exchange, p.routingKey, p.mandatory, p.msg, p.priority, sync);
    for (const s of settles) this.settle(s.tag, s.multiple, s.kind, s.requeue);
    if (sync.empty) {
      this.conn.sendMethod(this.id, { name: 'tx.commit-ok' });
      return;
    }
    sync.whenSynced().then(() => {
      if (this.state === 'open') this.conn.sendMethod(this.id, { name: 'tx.commit-ok' });
    }, (err: Error) => {
      if (isIoError(err)) this.conn.storeFailed(err);
      this.channelError(new AmqpError(ReplyCode.INTERNAL_ERROR, `commit failed: ${err.message}`), CLASS_TX, 20);
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
      this.replyTagBytes = encodeShortstr(tag);
      this.vhost.replySinks.set(`${REPLY_TO}.${this.replyToken}`, this);
      if (!noWait) this.conn.sendMethod(this.id, { name: 'basic.consume-ok', consumerTag: tag });
      return;
    }
    const name = this.queueName(queueName);
    this.conn.access.queueRead(name);
    const q = this.vhost.getQueue(name, this.conn.owner);
    if (q.consumers.some((c) => c.exclusive) || (exclusive && q.consumerCount > 0)) {
      throw accessRefused(`queue '${q.name}' in vhost '${this.vhost.name}' in exclusive use`);
    }
    const priority = parseConsumerPriority(q.name, this.vhost.name, args['x-priority']);
    const c = new Consumer(this, q, tag, noAck, exclusive, priority, this.prefetchConsumer, args);
    // the queue may refuse the consumer (a stream's checks); its first delivery is scheduled, so
    // consume-ok still goes out first
    q.addConsumer(c);
    this.consumers.set(tag, c);
    if (!noWait) this.conn.sendMethod(this.id, { name: 'basic.consume-ok', consumerTag: tag });
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
      this.replyTagBytes = null;
    }
  }

  // The queue was deleted under the consumer: tell the client, if it understands basic.cancel.
  serverCancel(c: Consumer): void {
    this.consumers.delete(c.tag);
    if (this.state === 'open' && this.conn.capability('consumer_cancel_notify')) {
      this.conn.sendMethod(this.id, { name: 'basic.cancel', consumerTag: c.tag, noWait: true });
    }
  }

  kickConsumers(): void {
    for (const c of this.consumers.values()) c.queue.scheduleDispatch();
  }

  // The frames go out first: a message that cannot be framed throws before the channel counts
  // it as delivered (the queue then dead-letters or drops it).
  deliver(c: Consumer, q: Queue, ref: MessageRef, rec: LogRecord, redelivered: boolean, deliveryCount: number): void {
    const tag = this.nextTag;
    const env = envelopeOf(rec);
    let props = rec.props;
    if (deliveryCount > 0 && q.args.deliveryLimit !== null) props = withDeliveryCount(props, deliveryCount);
    writeDelivery(this.conn.out, this.id, c.tagBytes, tag, redelivered, this.names, env[0], env[1], props, rec.body, this.conn.frameMax);
    this.nextTag++;
    if (c.noAck) counters.deliveredConsumeAutoAck++;
    else counters.deliveredConsumeManualAck++;
    if (redelivered) counters.redelivered++;
    if (!c.noAck) {
      this.unacked.push(tag, ref, q, c, Date.now());
      c.unacked++;
      if (this.timeoutTimer === null) this.armConsumerTimeout(this.timeoutOf(q));
    }
  }

  deliverReply(exchange: string, routingKey: string, props: Buffer, body: Buffer): void {
    if (this.state !== 'open' || this.replyTagBytes === null) return;
    writeDelivery(this.conn.out, this.id, this.replyTagBytes, this.nextTag, false, this.names, exchange, routingKey, props, body, this.conn.frameMax);
    this.nextTag++;
  }

  private basicGet(queueName: string, noAck: boolean): void {
    this.conn.access.queueRead(queueName);
    const q = this.vhost.getQueue(queueName, this.conn.owner);
    const o = this.getOut;
    if (!q.get(noAck, o)) {
      counters.getEmpty++;
      this.conn.sendMethod(this.id, { name: 'basic.get-empty' });
      return;
    }
    const rec = o.rec as LogRecord;
    o.rec = undefined;
    const tag = this.nextTag;
    try {
      const env = envelopeOf(rec);
      let props = rec.props;
      if (o.count > 0 && q.args.deliveryLimit !== null) props = withDeliveryCount(props, o.count);
      writeGetOk(this.conn.out, this.id, tag, o.redelivered, env[0], env[1], q.messageCount, props, rec.body, this.conn.frameMax);
    } catch (e) {
      // Framed before it counts as delivered: a message that cannot be sent (last-guard.ts) is
      // never requeued to fail again.
      undeliverable(this, this.conn, q, noAck ? null : o.ref, e, 60, 70);
      return;
    }
    this.nextTag++;
    if (noAck) counters.deliveredGetAutoAck++;
    else counters.deliveredGetManualAck++;
    if (o.redelivered) counters.redelivered++;
    if (!noAck) {
      this.unacked.push(tag, o.ref, q, null, Date.now());
      if (this.timeoutTimer === null) this.armConsumerTimeout(this.timeoutOf(q));
    }
  }

  // ---- consumer timeout ---------------------------------------------------------------------------

  // The consumer timeout of deliveries from `q`: its consumer-timeout policy, else the broker's.
  private timeoutOf(q: Queue): number {
    return q.args.consumerTimeout ?? this.conn.consumerTimeoutMs;
  }

  private armConsumerTimeout(ms: number): void {
    if (ms <= 0 || this.state !== 'open') return;
    this.timeoutTimer = setTimeout(() => this.checkConsumerTimeout(), ms);
    this.timeoutTimer.unref();
  }

  // Deliveries are in time order, but queues may have timeouts of their own (a policy): the
  // first deadline is found by a pass over the unacked deliveries, once per deadline.
  private checkConsumerTimeout(): void {
    this.timeoutTimer = null;
    if (this.state !== 'open') return;
    const now = Date.now();
    let first = Infinity;
    let limit = 0;
    this.unacked.forEach((_tag, _ref, q, _owner, at) => {
      const ms = this.timeoutOf(q);
      if (ms > 0 && at + ms < first) { first = at + ms; limit = ms; }
    });
    if (first === Infinity) return;
    if (now < first) {
      this.armConsumerTimeout(first - now);
      return;
    }
    this.conn.logError(`channel ${this.id}: consumer ack timed out (an unacked delivery is older than ${limit} ms); closing the channel`);
    this.channelError(preconditionFailed(`delivery acknowledgement on channel ${this.id} timed out. Timeout value used: ${limit} ms. This timeout value can be configured, see consumers doc guide to learn more`), 0, 0);
  }

  // ---- settling ---------------------------------------------------------------------------------

  private settle(tag: number, multiple: boolean, kind: 'ack' | 'nack' | 'reject', requeue: boolean): void {
    const touched = this.touchedQueues;
    touched.clear();
    const fn = kind === 'ack'
      ? (q: Queue, ref: MessageRef) => { q.ack(ref); touched.add(q); counters.acknowledged++; }
      : requeue
        ? (q: Queue, ref: MessageRef) => { q.requeue(ref); touched.add(q); }
        : (q: Queue, ref: MessageRef) => { q.discard(ref); touched.add(q); };
    if (tag === 0 && multiple) {
      this.unacked.settleAll(fn);
    } else if (!this.unacked.settle(tag, multiple, fn)) {
      const methodId = kind === 'ack' ? 80 : kind === 'reject' ? 90 : 120;
      this.channelError(preconditionFailed(`unknown delivery tag ${tag}`), CLASS_BASIC, methodId);
      return;
    }
    // Settling frees prefetch credit; let the affected queues dispatch again.
    for (const q of touched) if (q.consumerCount > 0) q.scheduleDispatch();
    if (this.prefetchChannel !== 0) this.kickConsumers();
  }
  private readonly touchedQueues = new Set<Queue>();

  private requeueAll(): void {
    const touched = new Set<Queue>();
    this.unacked.settleAll((q, ref) => { q.requeue(ref); touched.add(q); });
    for (const q of touched) q.scheduleDispatch();
  }

  // ---- read-only view for the management API (src/management) ----------------------------------
  get consumerViews(): ConsumerView[] {
    return [...this.consumers.values()].map((c) => ({
      tag: c.tag, queue: c.queue, noAck: c.noAck, exclusive: c.exclusive, prefetch: c.prefetch, priority: c.priority, unacked: c.unacked,
    }));
  }

  forEachUnacked(fn: (tag: number, ref: MessageRef, q: Queue, consumerTag: string | null, deliveredAt: number) => void): void {
    this.unacked.forEach((tag, ref, q, owner, at) => fn(tag, ref, q, owner instanceof Consumer ? owner.tag : null, at));
  }

  get info(): ChannelInfo {
    return {
      consumers: this.consumers.size, unacked: this.unacked.live, prefetch: this.prefetchConsumer,
      globalPrefetch: this.prefetchChannel, confirm: this.confirms !== null, transactional: this.txMode,
    };
  }
}

export interface ConsumerView {
  tag: string; queue: Queue; noAck: boolean; exclusive: boolean; prefetch: number; priority: number; unacked: number;
}

export interface ChannelInfo {
  consumers: number; unacked: number; prefetch: number; globalPrefetch: number; confirm: boolean; transactional: boolean;
}

function isIoError(err: Error): boolean {
  return typeof (err as NodeJS.ErrnoException).code === 'string';
}

// Quorum-queue style x-delivery-count header on redeliveries of queues with a delivery limit.
// Other header entries keep their bytes; the count is a long, as in RabbitMQ.
function withDeliveryCount(raw: Buffer, count: number): Buffer {
  return editProperties(raw, { set: { 'x-delivery-count': typed('l', count) } });
}
