// A queue: one or more append-only logs ("lanes", one per priority level) plus the state that
// turns a log into AMQP queue semantics: a read cursor, requeued offsets, counters, consumers,
// TTL expiry from the head, length limits and dead-lettering hooks.
//
// Memory does not grow with queue depth: messages stay in the log, the queue only keeps
// offsets of requeued messages and counters. A message inside the queue is named by a msgId,
// offset * 256 + lane, so channels can track deliveries with plain numbers.
//
// Direct delivery: a message that needs no durability in this queue (transient, or any message
// in a non-durable queue) and arrives while nothing is ready and a consumer has credit goes
// straight to that consumer without touching the log, as RabbitMQ's classic queues do. It is
// held in memory only while unacked (bounded by prefetch and a per-queue cap) under a negative msgId. If it is
// requeued it takes its place in order: ahead of every log record appended after it arrived.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SegmentedLog, type LogCursor, type LogRecord } from '../store';
import type { FieldTable } from '../protocol';
import type { BindTarget } from './exchange';
import { type Message, envelopeOf, isPersistent } from './message';
import type { QueueArgs } from './queue-args';
import { log as logger } from '../logger';
import { loopSaturated } from './load-monitor';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export interface QueueConsumer {
  readonly tag: string;
  readonly noAck: boolean;
  readonly priority: number;
  readonly exclusive: boolean;
  hasCredit(): boolean;
  deliver(queue: Queue, msgId: number, rec: LogRecord, redelivered: boolean, deliveryCount: number): void;
  cancelByServer(queue: Queue): void;
}

// What a queue needs from its vhost; keeps queue.ts free of routing and definitions.
export interface QueueHost {
  deadLetter(queue: Queue, rec: LogRecord, reason: DeathReason): void;
  queueUnused(queue: Queue, why: 'auto-delete' | 'expires'): void;
}

// What the management API may do with a lane's log: read records, never write or ack.
export interface BrowseLog {
  readonly startOffset: number;
  readonly nextOffset: number;
  read(offset: number): LogRecord | undefined;
  isAcked(offset: number): boolean;
}

export const enum EnqueueResult { Rejected = 0, Accepted = 1, AcceptedDurable = 2 }

const LANE_FACTOR = 256;
// Direct deliveries held unacked per queue, at most (beyond, messages go through the log even
// when a consumer has credit): consumers without a prefetch limit must not pin unbounded memory.
const MEM_MAX_COUNT = 10_000;
const MEM_MAX_BYTES = 16 * 1024 * 1024;
const FLOW_HIGH = 100;
const FLOW_LOW = 0;

// A direct delivery held while unacked (or requeued): `key` is the lane-0 offset the message
// would have had, so a requeued one sorts ahead of log records appended after it.
interface MemEntry {
  readonly msgId: number; // negative; -msgId grows with arrival
  readonly key: number;
  readonly rec: LogRecord;
}

export interface FlowWaiter {
  flowReleased(): void;
}

class Lane {
  readonly cursor: LogCursor;
  head: LogRecord | undefined = undefined; // read from the cursor but not yet taken
  readonly requeued: number[] = [];        // offsets, ascending
  readonly bootOffset: number;             // records below this were written before the last start
  redeliverBelow = 0;                      // records below this were delivered before the last stop
  takenUpTo = 0;                           // one past the highest offset taken from the cursor
  constructor(readonly log: SegmentedLog) {
    this.cursor = log.cursor(log.startOffset);
    this.bootOffset = log.nextOffset;
  }
}

export interface QueueOptions {
  name: string;
  vhost: string;
  durable: boolean;
  exclusiveOwner: object | null;
  autoDelete: boolean;
  rawArgs: FieldTable;
  args: QueueArgs;
  dir: string;
  host: QueueHost;
}

export class Queue implements BindTarget {
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
  private readonly lanes: Array<Lane | undefined> = [];
  private readonly dirtyLanes = new Set<Lane>();
  readonly consumers: QueueConsumer[] = [];
  private rr = 0;
  private hadConsumer = false;

  private ready = 0;
  private readyBytesApprox = 0;
  private unacked = 0;
  private deliveryCounts: Map<number, number> | null = null;

  private dispatchScheduled = false;
  private expiryTimer: NodeJS.Timeout | null = null;
  private expiryAt = 0;
  private expiresTimer: NodeJS.Timeout | null = null;
  private zeroTtlGrace = false;

  // Head slot filled by peek(): avoids allocating a result object per delivery.
  private hLane: Lane | null = null;
  private hIndex = 0;
  private hRecord: LogRecord | undefined = undefined;
  private hRedelivered = false;
  private hRequeued = false;
  private hMem = false;
  private savedMarks = '';

  // Direct deliveries (see the top of this file).
  private memSeq = 0;
  private readonly mem = new Map<number, MemEntry>();
  private memRequeued: MemEntry[] = [];
  private memBytes = 0;

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
    if (this.args.deliveryLimit !== null) this.deliveryCounts = new Map();
    // Lane 0 always exists; priority lanes are opened when present on disk or first used.
    this.openLane(0);
    if (this.args.maxPriority !== null) {
      for (let p = 1; p <= this.args.maxPriority; p++) {
        if (fs.existsSync(this.laneDir(p))) this.openLane(p);
      }
    }
    this.loadDeliveredMarks();
    for (const lane of this.lanes) {
      if (!lane) continue;
      this.ready += lane.log.liveCount;
      this.readyBytesApprox += lane.log.sizeBytes;
    }
    this.armExpires();
    // TTLs count from the original publish time, also across a restart.
    this.armExpiry();
  }

  private laneDir(p: number): string {
    return p === 0 ? path.join(this.dir, 'log') : path.join(this.dir, `log-p${p}`);
  }

  private openLane(p: number): Lane {
    const what = `queue '${this.name}' in vhost '${this.vhost}'`;
    const log = SegmentedLog.open(this.laneDir(p), {
      fsync: this.durable,
      ephemeral: !this.durable,
      onWarning: (m) => logger.warn(`${what}: ${m}`),
      onProgress: (m) => logger.info(`${what}: ${m}`),
      onSyncFailed: (from, to, err) => this.dropUnsynced(lane, from, to, err),
    });
    const lane = new Lane(log);
    this.lanes[p] = lane;
    return lane;
  }

  get messageCount(): number { return this.ready; }

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
    return this.ready > FLOW_HIGH && this.consumers.length > 0 && loopSaturated();
  }

  addFlowWaiter(w: FlowWaiter): void {
    (this.flowWaiters ??= new Set()).add(w);
  }

  removeFlowWaiter(w: FlowWaiter): void {
    this.flowWaiters?.delete(w);
  }

  private releaseFlow(): void {
    const ws = this.flowWaiters!;
    this.flowWaiters = null;
    for (const w of ws) w.flowReleased();
  }
  get unackedCount(): number { return this.unacked; }
  get consumerCount(): number { return this.consumers.length; }
  get readyBytes(): number { return this.readyBytesApprox; }

  // ---- publishing -------------------------------------------------------------------------

  enqueue(msg: Message, priority: number): EnqueueResult {
    if (this.deleted) return EnqueueResult.Rejected;
    const a = this.args;
    if (a.overflow !== 'drop-head' && this.wouldOverflow(msg.body.length)) {
      if (a.overflow === 'reject-publish-dlx') this.host.deadLetter(this, asRecord(msg), 'maxlen');
      return EnqueueResult.Rejected;
    }
    const ttl = this.effectiveTtl(msg);
    if (ttl === 0 && !this.anyConsumerHasCredit()) {
      // TTL 0 means "deliver now or never".
      this.host.deadLetter(this, asRecord(msg), 'expired');
      return EnqueueResult.Accepted;
    }
    if (this.ready === 0 && this.consumers.length > 0 && a.maxPriority === null && !(this.durable && isPersistent(msg))
      && this.nothingPending() && this.mem.size < MEM_MAX_COUNT && this.memBytes < MEM_MAX_BYTES) {
      const c = this.pickConsumer();
      if (c !== null) {
        this.deliverDirect(c, msg);
        return EnqueueResult.Accepted;
      }
    }
    let p = 0;
    if (a.maxPriority !== null && priority > 0) p = priority > a.maxPriority ? a.maxPriority : priority;
    const lane = this.lanes[p] ?? this.openLane(p);
    // The log stamps its offset on the record it keeps in its tail cache, so a message routed
    // to several queues needs one record object per queue.
    if (msg.offset !== undefined) {
      msg = { timestamp: msg.timestamp, flags: msg.flags, envelope: msg.envelope, props: msg.props, body: msg.body, offset: undefined, size: 0 };
    }
    lane.log.append(msg);
    this.dirtyLanes.add(lane);
    this.ready++;
    this.readyBytesApprox += msg.body.length;
    this.publishCount++;
    if (a.overflow === 'drop-head' && (a.maxLength !== null || a.maxLengthBytes !== null)) {
      while (this.overLimit() && this.peek()) this.dropHead('maxlen');
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
    return this.durable && isPersistent(msg) ? EnqueueResult.AcceptedDurable : EnqueueResult.Accepted;
  }

  // Nothing waits in lane 0: no requeued message and the cursor is at the log's end (stricter
  // than ready === 0, which is approximate after a restart), so a direct delivery keeps order.
  private nothingPending(): boolean {
    const lane = this.lanes[0]!;
    return this.memRequeued.length === 0 && lane.requeued.length === 0 && lane.head === undefined
      && lane.cursor.position >= lane.log.nextOffset;
  }

  private memDelete(msgId: number): void {
    const e = this.mem.get(msgId);
    if (e === undefined) return;
    this.mem.delete(msgId);
    this.memBytes -= e.rec.body.length;
  }

  private deliverDirect(c: QueueConsumer, msg: Message): void {
    const rec = msg as unknown as LogRecord;
    const msgId = -++this.memSeq;
    this.publishCount++;
    this.deliverCount++;
    if (c.noAck) this.ackCount++;
    else {
      this.mem.set(msgId, { msgId, key: this.lanes[0]!.log.nextOffset, rec });
      this.memBytes += rec.body.length;
      this.unacked++;
    }
    c.deliver(this, msgId, rec, false, 0);
  }

  private wouldOverflow(bytes: number): boolean {
    const a = this.args;
    if (a.maxLength !== null && this.ready + 1 > a.maxLength) return true;
    if (a.maxLengthBytes !== null && this.readyBytesApprox + bytes > a.maxLengthBytes) return true;
    return false;
  }

  private overLimit(): boolean {
    const a = this.args;
    if (a.maxLength !== null && this.ready > a.maxLength) return true;
    if (a.maxLengthBytes !== null && this.readyBytesApprox > a.maxLengthBytes) return true;
    return false;
  }

  // A sync failed (disk full, I/O error) before records [from, to) of a lane reached the disk.
  // Its waiters are about to be rejected, so publishers waiting for confirms get basic.nack: the
  // persistent messages among them must then never be delivered or recovered. They are acked in
  // the log (which still writes them, and the acks, once it can) and leave the ready count.
  // Messages a consumer already has are left alone; transient ones (and everything in a
  // non-durable queue) were confirmed on arrival and are kept.
  private dropUnsynced(lane: Lane, from: number, to: number, err: Error): void {
    if (!this.durable) return; // confirmed on arrival: they stay buffered until they can be written
    let n = 0;
    for (let off = Math.max(from, lane.takenUpTo); off < to; off++) {
      if (lane.log.isAcked(off)) continue;
      const rec = lane.log.read(off);
      if (rec === undefined || !isPersistent(rec)) continue;
      lane.log.ack(off);
      if (lane.head !== undefined && lane.head.offset === off) lane.head = undefined;
      this.ready--;
      this.readyBytesApprox = this.ready === 0 ? 0 : Math.max(0, this.readyBytesApprox - rec.body.length);
      n++;
    }
    if (n > 0) logger.warn(`queue '${this.name}' in vhost '${this.vhost}': ${n} persistent message(s) dropped, not written (${err.message}); publishers get basic.nack`);
  }

  // Resolves when every durable record appended so far is on disk.
  sync(): Promise<void> {
    if (this.dirtyLanes.size === 0) return Promise.resolve();
    const lanes = [...this.dirtyLanes];
    this.dirtyLanes.clear();
    if (lanes.length === 1) return lanes[0].log.sync();
    return Promise.all(lanes.map((l) => l.log.sync())).then(() => undefined);
  }

  // ---- the head -----------------------------------------------------------------------------

  // Finds the next ready message (highest priority lane first) without taking it.
  private peek(): boolean {
    for (let p = this.lanes.length - 1; p >= 0; p--) {
      const lane = this.lanes[p];
      if (!lane) continue;
      const memFirst = p === 0 ? this.memRequeued[0] : undefined;
      while (lane.requeued.length > 0) {
        const off = lane.requeued[0];
        const rec = lane.log.read(off);
        if (rec && !lane.log.isAcked(off)) {
          if (memFirst !== undefined && memFirst.key <= off) return this.peekMem(lane, memFirst);
          this.hLane = lane; this.hIndex = p; this.hRecord = rec; this.hRedelivered = true; this.hRequeued = true; this.hMem = false;
          return true;
        }
        lane.requeued.shift();
      }
      // a requeued direct delivery precedes every record still behind the cursor (they were
      // appended after it arrived: it was delivered directly only when nothing was pending)
      if (memFirst !== undefined) return this.peekMem(lane, memFirst);
      if (lane.head === undefined) lane.head = this.nextFromCursor(lane);
      if (lane.head !== undefined) {
        this.hLane = lane; this.hIndex = p; this.hRecord = lane.head; this.hRequeued = false; this.hMem = false;
        this.hRedelivered = lane.head.offset < lane.redeliverBelow;
        return true;
      }
    }
    this.hLane = null; this.hRecord = undefined;
    return false;
  }

  private peekMem(lane: Lane, e: MemEntry): true {
    this.hLane = lane; this.hIndex = 0; this.hRecord = e.rec; this.hRedelivered = true; this.hRequeued = false; this.hMem = true;
    return true;
  }

  private nextFromCursor(lane: Lane): LogRecord | undefined {
    for (;;) {
      const rec = lane.cursor.next();
      if (rec === undefined) return undefined;
      if (lane.log.isAcked(rec.offset)) {
        // Skip the rest of an acked run through the ack bitmap, without reading each record
        // (after a restart the cursor starts at the log's first segment, which consumers may
        // have acked most of: decoding those cost ~1.5 us per record, 1 s per 64 MiB of 16 B).
        const to = lane.log.nextUnacked(rec.offset + 1);
        if (to > rec.offset + 1) lane.cursor.seek(to);
        continue;
      }
      if (rec.offset < lane.bootOffset && this.durable && !isPersistent(rec)) {
        // Transient messages do not survive a restart, as in RabbitMQ.
        lane.log.ack(rec.offset);
        this.ready--;
        this.readyBytesApprox -= rec.body.length;
        continue;
      }
      return rec;
    }
  }

  // Removes the peeked message from the ready set; returns its msgId.
  private take(): number {
    const lane = this.hLane!;
    const rec = this.hRecord!;
    let memId = 0;
    if (this.hMem) memId = this.memRequeued.shift()!.msgId;
    else if (this.hRequeued) lane.requeued.shift();
    else {
      lane.head = undefined;
      if (rec.offset >= lane.takenUpTo) lane.takenUpTo = rec.offset + 1;
    }
    this.ready--;
    if (this.flowWaiters !== null && this.ready <= FLOW_LOW) this.releaseFlow();
    // Byte counts are approximate after a restart (seeded from file sizes); never let them go negative.
    this.readyBytesApprox = this.ready === 0 ? 0 : Math.max(0, this.readyBytesApprox - rec.body.length);
    return memId !== 0 ? memId : rec.offset * LANE_FACTOR + this.hIndex;
  }

  // The message msgId is gone for good (acked, dead-lettered, dropped): its log record is acked,
  // or, for a direct delivery, the held copy released.
  private forget(msgId: number): void {
    if (msgId < 0) this.memDelete(msgId);
    else this.lanes[msgId % LANE_FACTOR]?.log.ack(Math.floor(msgId / LANE_FACTOR));
  }

  private dropHead(reason: DeathReason): void {
    const rec = this.hRecord!;
    const msgId = this.take();
    this.host.deadLetter(this, rec, reason);
    this.forget(msgId);
    this.deliveryCounts?.delete(msgId);
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
    const rec = this.hRecord!;
    const ttl = this.effectiveTtl(rec);
    if (ttl === null) return false;
    if (ttl === 0) return !this.zeroTtlGrace;
    return now >= rec.timestamp + ttl;
  }

  // Expired messages leave from the head only (as in RabbitMQ, also with priorities: a message
  // behind an unexpired one waits until it reaches the head, and is never delivered expired).
  private expireHead(now: number): void {
    while (this.peek() && this.headExpired(now)) this.dropHead('expired');
    this.armExpiry();
  }

  private armExpiry(): void {
    if (this.deleted || this.ready === 0) return this.clearExpiry();
    if (!this.peek()) return this.clearExpiry();
    const at = this.deadlineOf(this.hRecord!);
    if (at === Infinity) return this.clearExpiry();
    if (this.expiryTimer && this.expiryAt <= at) return;
    this.clearExpiry();
    this.expiryAt = at;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      this.expireHead(Date.now());
      if (this.consumers.length > 0) this.dispatchNow();
    }, Math.max(0, at - Date.now()) + 1);
    this.expiryTimer.unref?.();
  }

  private clearExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }

  // ---- read-only view for the management API (browsing without consuming) ---------------------

  // The log of priority lane p (0 for a queue without priorities), or undefined.
  browseLog(p = 0): BrowseLog | undefined { return this.lanes[p]?.log; }
  get laneCount(): number { return this.lanes.length; }

  // The message behind a msgId a channel holds unacked (a log record or a held direct delivery).
  peekMessage(msgId: number): LogRecord | undefined {
    if (msgId < 0) return this.mem.get(msgId)?.rec;
    return this.lanes[msgId % LANE_FACTOR]?.log.read(Math.floor(msgId / LANE_FACTOR));
  }

  // ---- policies -------------------------------------------------------------------------------

  // A policy change replaced the effective arguments (src/broker/policy-apply.ts). New limits
  // and TTLs take effect at once, as in RabbitMQ: excess messages leave from the head (drop-head
  // only), expired ones are dropped or dead-lettered, the x-expires timer restarts.
  applyPolicy(args: QueueArgs): void {
    if (this.deleted) return;
    this.args = args;
    // the requeue paths read deliveryLimit whenever deliveryCounts exists
    this.deliveryCounts = args.deliveryLimit === null ? null : this.deliveryCounts ?? new Map();
    if (args.overflow === 'drop-head' && (args.maxLength !== null || args.maxLengthBytes !== null)) {
      while (this.overLimit() && this.peek()) this.dropHead('maxlen');
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
    if (this.consumers.length === 0 && this.flowWaiters !== null) this.releaseFlow();
    if (this.rr > i) this.rr--;
    if (this.consumers.length === 0) {
      if (this.autoDelete && this.hadConsumer) {
        this.host.queueUnused(this, 'auto-delete');
        return;
      }
      this.armExpires();
    } else if (this.args.singleActiveConsumer && i === 0) {
      this.scheduleDispatch();
    }
  }

  get activeConsumer(): QueueConsumer | undefined {
    return this.args.singleActiveConsumer ? this.consumers[0] : undefined;
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
    let now = 0;
    const checkTtl = this.args.messageTtl !== null;
    while (this.ready > 0 && this.consumers.length > 0) {
      const c = this.pickConsumer();
      if (c === null) break;
      if (!this.peek()) break;
      const rec = this.hRecord!;
      if (checkTtl || envelopeOf(rec)[2] !== null) {
        if (now === 0) now = Date.now();
        if (this.headExpired(now)) { this.dropHead('expired'); continue; }
      }
      const redelivered = this.hRedelivered;
      const msgId = this.take();
      const count = this.deliveryCounts?.get(msgId) ?? 0;
      if (c.noAck) {
        this.forget(msgId);
        this.deliveryCounts?.delete(msgId);
        this.ackCount++;
      } else {
        this.unacked++;
      }
      this.deliverCount++;
      c.deliver(this, msgId, rec, redelivered, count);
    }
    this.armExpiry();
  }

  // basic.get: takes one message or returns undefined.
  get(noAck: boolean, out: { msgId: number; rec: LogRecord | undefined; redelivered: boolean; count: number }): boolean {
    const now = Date.now();
    this.clearExpires();
    this.armExpires();
    while (this.peek()) {
      if (this.headExpired(now)) { this.dropHead('expired'); continue; }
      const rec = this.hRecord!;
      out.redelivered = this.hRedelivered;
      out.msgId = this.take();
      out.rec = rec;
      out.count = this.deliveryCounts?.get(out.msgId) ?? 0;
      if (noAck) {
        this.forget(out.msgId);
        this.deliveryCounts?.delete(out.msgId);
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

  ack(msgId: number): void {
    if (this.deleted) return;
    this.forget(msgId);
    this.deliveryCounts?.delete(msgId);
    this.unacked--;
    this.ackCount++;
  }

  // Returns an unacked message to the queue ahead of the cursor, in offset order.
  requeue(msgId: number): void {
    if (this.deleted) return;
    if (msgId < 0) return this.requeueMem(msgId);
    const p = msgId % LANE_FACTOR;
    const offset = Math.floor(msgId / LANE_FACTOR);
    const lane = this.lanes[p];
    this.unacked--;
    if (!lane) return;
    if (this.deliveryCounts) {
      const n = (this.deliveryCounts.get(msgId) ?? 0) + 1;
      if (n >= this.args.deliveryLimit! + 1) {
        const rec = lane.log.read(offset);
        if (rec) this.host.deadLetter(this, rec, 'delivery_limit');
        lane.log.ack(offset);
        this.deliveryCounts.delete(msgId);
        return;
      }
      this.deliveryCounts.set(msgId, n);
    }
    insertSorted(lane.requeued, offset, (a) => a < offset);
    this.ready++;
    const rec = lane.log.read(offset);
    if (rec) this.readyBytesApprox += rec.body.length;
    if (this.consumers.length > 0) this.scheduleDispatch();
    else this.armExpiry();
  }

  private requeueMem(msgId: number): void {
    this.unacked--;
    const e = this.mem.get(msgId);
    if (e === undefined) return;
    if (this.deliveryCounts) {
      const n = (this.deliveryCounts.get(msgId) ?? 0) + 1;
      if (n >= this.args.deliveryLimit! + 1) {
        this.memDelete(msgId);
        this.deliveryCounts.delete(msgId);
        this.host.deadLetter(this, e.rec, 'delivery_limit');
        return;
      }
      this.deliveryCounts.set(msgId, n);
    }
    // in arrival order: by key, then by sequence (-msgId)
    insertSorted(this.memRequeued, e, (a) => a.key < e.key || (a.key === e.key && a.msgId > msgId));
    this.ready++;
    this.readyBytesApprox += e.rec.body.length;
    if (this.consumers.length > 0) this.scheduleDispatch();
    else this.armExpiry();
  }

  // reject/nack with requeue=false: dead-letter (when configured) and drop.
  discard(msgId: number): void {
    if (this.deleted) return;
    if (msgId < 0) {
      this.unacked--;
      const e = this.mem.get(msgId);
      this.memDelete(msgId);
      this.deliveryCounts?.delete(msgId);
      if (e !== undefined) this.host.deadLetter(this, e.rec, 'rejected');
      return;
    }
    const lane = this.lanes[msgId % LANE_FACTOR];
    const offset = Math.floor(msgId / LANE_FACTOR);
    this.unacked--;
    if (!lane) return;
    const rec = lane.log.read(offset);
    if (rec) this.host.deadLetter(this, rec, 'rejected');
    lane.log.ack(offset);
    this.deliveryCounts?.delete(msgId);
  }

  purge(): number {
    const n = this.ready;
    for (const e of this.memRequeued) this.memDelete(e.msgId);
    this.memRequeued = [];
    for (const lane of this.lanes) {
      if (!lane) continue;
      for (const off of lane.requeued) if (!lane.log.isAcked(off)) lane.log.ack(off);
      lane.requeued.length = 0;
      if (lane.head !== undefined) { lane.log.ack(lane.head.offset); lane.head = undefined; }
      const end = lane.log.nextOffset;
      for (let off = Math.max(lane.cursor.position, lane.log.startOffset); off < end; off++) {
        if (!lane.log.isAcked(off)) lane.log.ack(off);
      }
      lane.cursor.seek(end);
    }
    this.ready = 0;
    this.readyBytesApprox = 0;
    this.clearExpiry();
    return n;
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

  flush(): void {
    for (const lane of this.lanes) lane?.log.flush();
    if (this.durable) this.saveDeliveredMarks();
  }

  // How far each lane has been handed to consumers, so that after a restart the messages that
  // were delivered but not acked come back with redelivered=true. Written without fsync on the
  // flush timer: losing the last update only loses the redelivered hint, never a message.
  private get marksFile(): string { return path.join(this.dir, 'delivered.json'); }

  private loadDeliveredMarks(): void {
    if (!this.durable) return;
    let marks: Record<string, number> = {};
    try {
      marks = JSON.parse(fs.readFileSync(this.marksFile, 'utf8')) as Record<string, number>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        // Unreadable: assume everything recovered may have been delivered.
        this.lanes.forEach((l) => { if (l) l.redeliverBelow = l.bootOffset; });
        return;
      }
    }
    this.lanes.forEach((l, p) => {
      if (!l) return;
      const m = Number(marks[p] ?? 0);
      l.redeliverBelow = Math.min(m, l.bootOffset);
      l.takenUpTo = l.redeliverBelow;
    });
    this.savedMarks = JSON.stringify(marks);
  }

  private saveDeliveredMarks(): void {
    if (this.deleted) return; // the directory is gone; writing would leave an orphan
    const marks: Record<string, number> = {};
    this.lanes.forEach((l, p) => { if (l && l.takenUpTo > 0) marks[p] = l.takenUpTo; });
    const text = JSON.stringify(marks);
    if (text === this.savedMarks) return;
    // Through a temporary file: a write that fails (disk full) must not leave an empty file,
    // which would make every recovered message look redelivered after a restart.
    fs.writeFileSync(this.marksFile + '.tmp', text);
    fs.renameSync(this.marksFile + '.tmp', this.marksFile);
    this.savedMarks = text;
  }

  // Consumers are told (basic.cancel) by their channels; the log directory goes away.
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    this.clearExpiry();
    this.clearExpires();
    const cs = this.consumers.splice(0);
    for (const c of cs) c.cancelByServer(this);
    if (this.flowWaiters !== null) this.releaseFlow();
    this.mem.clear();
    this.memBytes = 0;
    this.memRequeued = [];
    for (const lane of this.lanes) lane?.log.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.clearExpiry();
    this.clearExpires();
    if (this.durable && !this.deleted) this.saveDeliveredMarks();
    for (const lane of this.lanes) if (lane) await lane.log.close();
  }
}

function runDispatch(q: Queue): void { q.dispatchNow(); }

// Inserts x into the sorted array a after every element for which before() holds. Requeues
// mostly come back in order, so the end is tried first.
function insertSorted<T>(a: T[], x: T, before: (el: T) => boolean): void {
  const n = a.length;
  if (n === 0 || before(a[n - 1])) { a.push(x); return; }
  let lo = 0, hi = n;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (before(a[mid])) lo = mid + 1; else hi = mid; }
  a.splice(lo, 0, x);
}

function asRecord(msg: Message): LogRecord {
  return msg as unknown as LogRecord;
}
