// A classic queue: the AMQP policy over a message store (message-store.ts). The store keeps the
// messages (one log, N logs for priorities, direct delivery in front); the queue decides who
// gets what and when: consumers (round-robin by priority, single active consumer), TTL expiry
// from the head, length limits, dead-lettering, delivery limits, x-expires, publisher flow.
import * as fs from 'node:fs';
import type { LogRecord, SegmentedLog } from '../store';
import type { FieldTable } from '../protocol';
import { EnqueueResult, type DeathReason, type FlowWaiter, type BrowseLog, type GetResult, type Queue, type QueueConsumer, type QueueHost, type QueueOptions } from './queue';
import { DeliveryCounts } from './delivery-counts';
import type { DirectDelivery } from './direct-delivery';
import { FLAG_PERSISTENT, type Message, copyMessage, envelopeOf } from './message';
import { type MessageRef, isHeld } from './message-ref';
import type { MessageStore } from './message-store';
import type { QueueArgs } from './queue-args';
import { EMPTY_STORE, QueueStorage } from './queue-storage';
import { SyncPoints } from './sync-points';
import { log as logger } from '../logger';
import { loopSaturated } from './load-monitor';

const FLOW_HIGH = 100;
const FLOW_LOW = 0;


export class ClassicQueue implements Queue {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly rawArgs: FieldTable;
  args: QueueArgs;               // effective: declared arguments with policies applied
  readonly dir: string;
  exclusiveOwner: object | null;
  deleted = false;

  private readonly host: QueueHost;
  // EMPTY_STORE until the queue first needs its storage (queue-storage.ts says why)
  private store: MessageStore = EMPTY_STORE;
  private storage: QueueStorage | null = null;
  private counts: DeliveryCounts | null;  // replaced when a policy changes delivery-limit
  readonly consumers: QueueConsumer[] = [];
  private rr = 0;
  private hadConsumer = false;
  private unacked = 0;

  private dispatchScheduled = false;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryAt = 0;
  private expiresTimer: NodeJS.Timeout | null = null;
  private zeroTtlGrace = false;

  // Statistics for management/metrics.
  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;

  constructor(opts: QueueOptions) {
    this.name = opts.name;
    this.vhost = opts.vhost;
    this.durable = opts.durable;
    this.exclusiveOwner = opts.exclusiveOwner;
    this.autoDelete = opts.autoDelete;
    this.rawArgs = opts.rawArgs;
    this.args = opts.args;
    this.dir = opts.dir;
    this.host = opts.host;
    // What a durable queue has on disk is recovered now (counts, TTLs, damage are known at
    // start); a queue with no directory has nothing stored and opens its storage when used.
    if (this.durable && fs.existsSync(this.dir)) this.openStorage();
    this.counts = this.args.deliveryLimit !== null ? new DeliveryCounts(this.durable ? this.dir : null) : null;
    this.armExpires();
    // TTLs count from the original publish time, also across a restart.
    this.armExpiry();
  }

  private get what(): string {
    return `queue '${this.name}' in vhost '${this.vhost}'`;
  }

  private openStorage(): QueueStorage {
    if (this.storage !== null) return this.storage;
    const st = new QueueStorage({ dir: this.dir, durable: this.durable, maxPriority: this.args.maxPriority, what: this.what });
    this.storage = st;
    this.store = st.store;
    return st;
  }

  // A queue that used its storage only for direct deliveries (nothing ever reached a log) gives
  // it back once it has no consumer and nothing unacked, and is an idle record again. A queue
  // whose log has files keeps it: reopening one means recovery reads (see queue-storage.ts).
  private releaseIfUnused(): void {
    const st = this.storage;
    if (st === null || this.deleted || this.consumers.length > 0 || this.unacked > 0 || !st.unused) return;
    st.release();
    this.storage = null;
    this.store = EMPTY_STORE;
  }

  get messageCount(): number { return this.store.ready; }
  get unackedCount(): number { return this.unacked; }
  get consumerCount(): number { return this.consumers.length; }
  get readyBytes(): number { return this.store.readyBytes; }

  /** The logs behind the queue (management, tools). */
  logs(): SegmentedLog[] { return this.store.logs(); }

  // ---- publisher flow control -------------------------------------------------------------------
  // A publisher adding to a backlog that consumers are draining, while the event loop is
  // saturated, is paused (its socket stops being read, TCP pushes back) until the backlog is
  // drained or a short time has passed. The threshold is low on purpose: a saturated broker does
  // best by keeping consumers fed and the queue empty, because a message that arrives at an empty
  // queue with a consumer that has credit goes straight out without the log (direct delivery).
  // Measured (warren bench S2 / S7, msg/s, two rounds): pause above 4000 ready until 1000:
  // 179k-216k / 259k-267k; above 100 until empty: 267k-282k / 531k-579k.
  private flowWaiters: Set<FlowWaiter> | null = null;

  shouldThrottle(): boolean {
    return this.consumers.length > 0 && this.store.ready > FLOW_HIGH && loopSaturated();
  }

  addFlowWaiter(w: FlowWaiter): void {
    (this.flowWaiters ??= new Set()).add(w);
  }

  removeFlowWaiter(w: FlowWaiter): void {
    this.flowWaiters?.delete(w);
  }

  private releaseFlow(): void {
    const ws = this.flowWaiters;
    if (ws === null) return;
    this.flowWaiters = null;
    for (const w of ws) w.flowReleased();
  }

  // ---- publishing -------------------------------------------------------------------------

  /**
   * Takes a message. A persistent message in a durable queue adds its log offset to `sync`: the
   * publisher's confirm waits for it. Throws when the store cannot append (disk full, I/O error).
   */
  enqueue(msg: Message, priority: number, sync: SyncPoints | null): EnqueueResult {
    if (this.deleted) return EnqueueResult.Rejected;
    const a = this.args;
    if (a.overflow !== 'drop-head' && this.wouldOverflow(msg.body.length)) {
      if (a.overflow === 'reject-publish-dlx') this.host.deadLetter(this, asRecord(msg), 'maxlen', null);
      return EnqueueResult.Rejected;
    }
    const ttl = this.effectiveTtl(msg);
    if (ttl === 0 && !this.anyConsumerHasCredit()) {
      // TTL 0 means "deliver now or never".
      this.host.deadLetter(this, asRecord(msg), 'expired', sync);
      return EnqueueResult.Accepted;
    }
    const direct = (this.storage ?? this.openStorage()).direct;
    if (direct !== null && this.consumers.length > 0 && !(this.durable && (msg.flags & FLAG_PERSISTENT) !== 0) && direct.canHold()) {
      const c = this.pickConsumer();
      if (c !== null) {
        this.deliverDirect(direct, c, msg);
        return EnqueueResult.Accepted;
      }
    }
    // The log stamps its offset on the record it keeps in its tail cache, so a message routed
    // to several queues needs one record object per queue.
    if (msg.offset !== undefined) {
      msg = copyMessage(msg);
    }
    this.store.push(msg, priority, sync);
    this.publishCount++;
    if (a.overflow === 'drop-head' && (a.maxLength !== null || a.maxLengthBytes !== null)) {
      while (this.overLimit() && this.store.peek()) this.dropHead('maxlen');
    }
    if (ttl === 0) {
      this.zeroTtlGrace = true;
      this.dispatchNow();
      this.zeroTtlGrace = false;
    } else if (this.consumers.length > 0) {
      this.scheduleDispatch();
    } else if (ttl !== null) {
      this.armExpiry();
    }
    return EnqueueResult.Accepted;
  }

  private deliverDirect(direct: DirectDelivery, c: QueueConsumer, msg: Message): void {
    const ref = direct.hold(msg, !c.noAck);
    this.publishCount++;
    this.deliverCount++;
    if (c.noAck) this.ackCount++;
    else this.unacked++;
    this.deliverGuarded(c, ref, asRecord(msg), false, 0);
  }

  private wouldOverflow(bytes: number): boolean {
    const a = this.args;
    if (a.maxLength !== null && this.store.ready + 1 > a.maxLength) return true;
    if (a.maxLengthBytes !== null && this.store.readyBytes + bytes > a.maxLengthBytes) return true;
    return false;
  }

  private overLimit(): boolean {
    const a = this.args;
    if (a.maxLength !== null && this.store.ready > a.maxLength) return true;
    if (a.maxLengthBytes !== null && this.store.readyBytes > a.maxLengthBytes) return true;
    return false;
  }

  // ---- the head -----------------------------------------------------------------------------

  // Takes the peeked head and dead-letters it. Its removal from the log waits until the
  // dead-lettered copies are durable: a crash in between finds the message still here.
  private dropHead(reason: DeathReason): void {
    const rec = this.store.head.rec as LogRecord;
    const ref = this.store.shift();
    this.deadLetterAndSettle(ref, rec, reason);
  }

  private deadLetterAndSettle(ref: MessageRef, rec: LogRecord, reason: DeathReason): void {
    this.counts?.delete(ref);
    if (this.args.deadLetterExchange === null || isHeld(ref)) {
      this.host.deadLetter(this, rec, reason, null);
      this.store.settle(ref);
      return;
    }
    const sync = new SyncPoints();
    this.host.deadLetter(this, rec, reason, sync);
    if (sync.empty) {
      this.store.settle(ref);
      return;
    }
    sync.whenSynced().then(() => {
      if (!this.deleted) this.store.settle(ref);
    }, (e: Error) => {
      logger.warn(`${this.what}: a dead-lettered copy could not be made durable (${e.message}); the message stays in this queue until the next restart`);
    });
  }

  private effectiveTtl(rec: { envelope?: unknown }): number | null {
    const exp = envelopeOf(rec as LogRecord)[2];
    const qttl = this.args.messageTtl;
    if (exp === null || exp === undefined) return qttl;
    return qttl === null ? exp : Math.min(exp, qttl);
  }

  private deadlineOf(rec: LogRecord): number {
    const ttl = this.effectiveTtl(rec);
    return ttl === null ? Infinity : rec.timestamp + ttl;
  }

  private headExpired(now: number): boolean {
    const rec = this.store.head.rec as LogRecord;
    const ttl = this.effectiveTtl(rec);
    if (ttl === null) return false;
    if (ttl === 0) return !this.zeroTtlGrace;
    return now >= rec.timestamp + ttl;
  }

  // Expired messages leave from the head only (as in RabbitMQ, also with priorities: a message
  // behind an unexpired one waits until it reaches the head, and is never delivered expired).
  private expireHead(now: number): void {
    while (this.store.peek() && this.headExpired(now)) this.dropHead('expired');
    this.armExpiry();
  }

  private armExpiry(): void {
    if (this.deleted || this.store.ready === 0 || !this.store.peek()) return this.clearExpiry();
    const at = this.deadlineOf(this.store.head.rec as LogRecord);
    if (at === Infinity) return this.clearExpiry();
    if (this.expiryTimer && this.expiryAt <= at) return;
    this.clearExpiry();
    this.expiryAt = at;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      this.guarded('expiry', () => {
        this.expireHead(Date.now());
        if (this.consumers.length > 0) this.dispatchNow();
      });
    }, Math.max(0, at - Date.now()) + 1);
    this.expiryTimer.unref?.();
  }

  private clearExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  // ---- read-only view for the management API (browsing without consuming) ---------------------

  // The log of priority lane p (0 for a queue without priorities), or undefined.
  browseLog(p = 0): BrowseLog | undefined {
    if (this.deleted) return undefined;
    return this.openStorage().lanes().find((l) => l.lane === p)?.log;
  }

  // The message behind a ref a channel holds unacked (a log record or a held direct delivery).
  peekMessage(ref: MessageRef): LogRecord | undefined { return this.store.read(ref); }

  // ---- policies -------------------------------------------------------------------------------

  // A policy change replaced the effective arguments (src/broker/policy-apply.ts). New limits
  // and TTLs take effect at once, as in RabbitMQ: excess messages leave from the head (drop-head
  // only), expired ones are dropped or dead-lettered, the x-expires timer restarts.
  applyPolicy(args: QueueArgs): void {
    if (this.deleted) return;
    this.args = args;
    // the requeue path reads deliveryLimit whenever counts exist
    if (args.deliveryLimit === null && this.counts !== null) { this.counts.dispose(); this.counts = null; }
    else if (args.deliveryLimit !== null && this.counts === null) this.counts = new DeliveryCounts(this.durable ? this.dir : null);
    if (args.overflow === 'drop-head' && (args.maxLength !== null || args.maxLengthBytes !== null)) {
      while (this.overLimit() && this.store.peek()) this.dropHead('maxlen');
    }
    this.clearExpiry();
    this.expireHead(Date.now());
    if (this.consumers.length === 0) this.armExpires();
  }

  // ---- consumers ------------------------------------------------------------------------------

  addConsumer(c: QueueConsumer): void {
    // Keep consumers ordered by priority (highest first), FIFO within a priority.
    let i = this.consumers.length;
    while (i > 0 && this.consumers[i - 1].priority < c.priority) i--;
    this.consumers.splice(i, 0, c);
    this.hadConsumer = true;
    this.clearExpires();
    this.scheduleDispatch();
  }

  removeConsumer(c: QueueConsumer): void {
    const i = this.consumers.indexOf(c);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    if (this.consumers.length === 0) this.releaseFlow();
    if (this.rr > i) this.rr--;
    if (this.consumers.length === 0) {
      if (this.autoDelete && this.hadConsumer) {
        this.host.queueUnused(this, 'auto-delete');
        return;
      }
      this.armExpires();
      this.releaseIfUnused();
    } else if (this.args.singleActiveConsumer && i === 0) {
      this.scheduleDispatch();
    }
  }

  private anyConsumerHasCredit(): boolean {
    if (this.args.singleActiveConsumer) return this.consumers.length > 0 && this.consumers[0].hasCredit();
    for (const c of this.consumers) if (c.hasCredit()) return true;
    return false;
  }

  // Round-robin among the highest-priority consumers that have credit.
  private pickConsumer(): QueueConsumer | null {
    const cs = this.consumers;
    const n = cs.length;
    if (n === 0) return null;
    if (this.args.singleActiveConsumer) return cs[0].hasCredit() ? cs[0] : null;
    const top = cs[0].priority;
    let best = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.rr + k) % n;
      const c = cs[i];
      if (!c.hasCredit()) continue;
      if (best < 0 || c.priority > cs[best].priority) best = i;
      if (c.priority === top) break;
    }
    if (best < 0) return null;
    this.rr = best + 1 >= n ? 0 : best + 1;
    return cs[best];
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.deleted) return;
    this.dispatchScheduled = true;
    process.nextTick(runDispatch, this);
  }

  dispatchNow(): void {
    this.dispatchScheduled = false;
    if (this.deleted) return;
    this.guarded('dispatch', () => this.dispatch());
  }

  private dispatch(): void {
    const store = this.store;
    let now = 0;
    const checkTtl = this.args.messageTtl !== null;
    while (store.ready > 0 && this.consumers.length > 0) {
      const c = this.pickConsumer();
      if (c === null) break;
      if (!store.peek()) break;
      const rec = store.head.rec as LogRecord;
      if (checkTtl || envelopeOf(rec)[2] !== null) {
        if (now === 0) now = Date.now();
        if (this.headExpired(now)) { this.dropHead('expired'); continue; }
      }
      const redelivered = store.head.redelivered;
      const ref = store.shift();
      const count = this.counts?.get(ref) ?? 0;
      if (c.noAck) {
        this.forget(ref);
        this.ackCount++;
      } else {
        this.unacked++;
      }
      this.deliverCount++;
      this.deliverGuarded(c, ref, rec, redelivered, count);
    }
    if (this.flowWaiters !== null && store.ready <= FLOW_LOW) this.releaseFlow();
    this.armExpiry();
  }

  // A message that cannot be written to its consumer (a bug, or a record stored before a rule
  // existed) must not be retried forever: it is dead-lettered when the queue has a dead-letter
  // exchange, else dropped, with a log line.
  private deliverGuarded(c: QueueConsumer, ref: MessageRef, rec: LogRecord, redelivered: boolean, count: number): void {
    try {
      c.deliver(this, ref, rec, redelivered, count);
    } catch (e) {
      logger.error(`${this.what}: cannot deliver a message to consumer '${c.tag}' (${(e as Error).message}); ` +
        (this.args.deadLetterExchange !== null ? 'dead-lettering it' : 'dropping it'));
      if (!c.noAck) this.unacked--;
      try {
        if (c.noAck) this.host.deadLetter(this, rec, 'rejected', null);
        else this.deadLetterAndSettle(ref, rec, 'rejected');
      } catch (e2) {
        logger.error(`${this.what}: dead-lettering failed too (${(e2 as Error).message}); message dropped`);
        if (!c.noAck) this.store.settle(ref);
      }
    }
  }

  // An exception in the queue's own timers and dispatch is logged with the queue's name and never
  // ends the process.
  private guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      logger.error(`${this.what}: ${what} failed: ${(e as Error)?.stack ?? e}`);
    }
  }

  // basic.get: takes one message or returns false.
  get(noAck: boolean, out: GetResult): boolean {
    const now = Date.now();
    this.clearExpires();
    this.armExpires();
    const store = this.store;
    while (store.peek()) {
      if (this.headExpired(now)) { this.dropHead('expired'); continue; }
      out.rec = store.head.rec;
      out.redelivered = store.head.redelivered;
      out.ref = store.shift();
      out.count = this.counts?.get(out.ref) ?? 0;
      if (noAck) {
        this.forget(out.ref);
        this.ackCount++;
      } else {
        this.unacked++;
      }
      this.deliverCount++;
      this.armExpiry();
      return true;
    }
    this.armExpiry();
    return false;
  }

  // ---- settling -------------------------------------------------------------------------------

  private forget(ref: MessageRef): void {
    this.store.settle(ref);
    this.counts?.delete(ref);
  }

  ack(ref: MessageRef): void {
    if (this.deleted) return;
    this.forget(ref);
    this.unacked--;
    this.ackCount++;
    if (this.unacked === 0 && this.consumers.length === 0) this.releaseIfUnused();
  }

  // Returns an unacked message to the queue ahead of the cursor, in offset order.
  requeue(ref: MessageRef): void {
    if (this.deleted) return;
    this.unacked--;
    if (this.counts !== null && this.counts.increment(ref) > (this.args.deliveryLimit as number)) {
      const rec = this.store.read(ref);
      if (rec !== undefined) this.deadLetterAndSettle(ref, rec, 'delivery_limit');
      else this.forget(ref);
      return;
    }
    this.store.requeue(ref);
    if (this.consumers.length > 0) this.scheduleDispatch();
    else this.armExpiry();
  }

  // reject/nack with requeue=false: dead-letter (when configured) and drop.
  discard(ref: MessageRef): void {
    if (this.deleted) return;
    this.unacked--;
    const rec = this.store.read(ref);
    if (rec !== undefined) this.deadLetterAndSettle(ref, rec, 'rejected');
    else this.forget(ref);
    if (this.unacked === 0 && this.consumers.length === 0) this.releaseIfUnused();
  }

  purge(): number {
    const n = this.store.purge();
    this.clearExpiry();
    this.releaseFlow();
    return n;
  }

  /** Give disk space back (a disk alarm is on): fully acked open segments are deleted. */
  reclaim(): void {
    this.store.reclaim(true);
  }

  // ---- x-expires ------------------------------------------------------------------------------

  touch(): void {
    if (this.expiresTimer) this.armExpires();
  }

  private armExpires(): void {
    this.clearExpires();
    const ms = this.args.expires;
    if (ms === null || this.deleted || this.consumers.length > 0) return;
    this.expiresTimer = setTimeout(() => {
      this.expiresTimer = null;
      if (!this.deleted && this.consumers.length === 0) this.host.queueUnused(this, 'expires');
    }, ms);
    this.expiresTimer.unref?.();
  }

  private clearExpires(): void {
    if (this.expiresTimer) clearTimeout(this.expiresTimer);
    this.expiresTimer = null;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  // Consumers are told (basic.cancel) by their channels; the directory goes away.
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.clearExpiry();
    this.clearExpires();
    this.counts?.dispose();
    const cs = this.consumers.splice(0);
    for (const c of cs) c.cancelByServer(this);
    this.releaseFlow();
    this.store.destroy();
    // channels may still name the queue (unacked deliveries): its storage need not live on
    this.store = EMPTY_STORE;
    this.storage = null;
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.clearExpiry();
    this.clearExpires();
    if (this.deleted) return;
    this.counts?.save();
    this.storage?.saveMarks();
    await this.store.close();
  }
}

function runDispatch(q: ClassicQueue): void { q.dispatchNow(); }

function asRecord(msg: Message): LogRecord {
  return msg as unknown as LogRecord;
}
