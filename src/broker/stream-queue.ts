// A stream queue (x-queue-type: stream): a log read without consuming. Publishers append (one
// chunk per event-loop turn, stream-writer.ts); every consumer reads from its own position
// (x-stream-offset) and acks only to get credit; retention deletes whole old segments by size
// and age. The same stream is read and written by the Stream protocol server (src/stream/),
// through the methods at the end of this class.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FieldTable } from '../protocol';
import { StreamLog } from '../store/stream-log';
import type { LogRecord, SegmentedLog } from '../store';
import { AmqpError, ReplyCode, preconditionFailed } from './errors';
import type { Message } from './message';
import type { MessageRef } from './message-ref';
import { appliedPolicy, durationMs } from './policy-apply';
import { type BrowseLog, EnqueueResult, type FlowWaiter, type GetResult, type Queue, type QueueConsumer, type QueueOptions } from './queue';
import type { QueueArgs } from './queue-args';
import { AmqpStreamCursor, AmqpView } from './stream-amqp-reader';
import { type OffsetSpec, type StreamArgs, parseConsumerFilter, parseOffsetSpec, parseStreamArgs } from './stream-args';
import { chunkSummary, readChunkExtension } from './stream-chunk';
import { StreamTracking } from './stream-tracking';
import { StreamWriter } from './stream-writer';
import type { SyncPoints } from './sync-points';
import { log as logger } from '../logger';

/** At most this many messages go to one consumer per dispatch pass (fairness between consumers). */
const PASS_BUDGET = 512;
/** How often retention by age runs at most (and at every segment roll). */
const RETENTION_EVERY_MS = 60_000;

/** A Stream protocol subscription (or anything else) waiting for new chunks. */
export interface StreamListener {
  readable(): void;
  /** the stream was deleted */
  deleted(): void;
  /** a Stream protocol subscription, for management: its name and position */
  describe?(): StreamConsumerInfo;
}

/** One reader of a stream, as management shows it. */
export interface StreamConsumerInfo {
  protocol: 'amqp091' | 'stream';
  /** consumer tag (AMQP 0-9-1), subscription id and reference (Stream protocol) */
  tag: string;
  /** the next offset it reads */
  offset: number;
  /** messages delivered to it so far */
  delivered: number;
}

/** What management shows of a stream (see docs/streams.md). */
export interface StreamInfo {
  firstOffset: number;
  /** offset the next message gets */
  nextOffset: number;
  /** first offset of the newest chunk */
  lastChunkOffset: number;
  bytes: number;
  segments: Array<{ baseOffset: number; nextOffset: number; bytes: number; oldestTimestamp: number; newestTimestamp: number }>;
  consumers: StreamConsumerInfo[];
  maxLengthBytes: number | null;
  maxAgeMs: number | null;
  /** named producers (de-duplication) and stored consumer offsets (Stream protocol) */
  producers: number;
  storedOffsets: Record<string, number>;
}

export class StreamQueue implements Queue {
  readonly kind = 'queue' as const;
  readonly name: string;
  readonly vhost: string;
  readonly durable = true;
  readonly autoDelete = false;
  readonly rawArgs: FieldTable;
  args: QueueArgs;
  readonly sargs: StreamArgs;
  /** retention in force: the arguments, lowered by policies (max-length-bytes, max-age) */
  private maxBytes: number | null;
  private maxAgeMs: number | null;
  readonly dir: string;
  exclusiveOwner: object | null = null;
  deleted = false;
  readonly consumers: QueueConsumer[] = [];

  readonly stream: StreamLog;
  readonly writer: StreamWriter;
  readonly tracking: StreamTracking;
  private readonly view: AmqpView;
  private readonly cursors = new Map<QueueConsumer, AmqpStreamCursor>();
  private readonly listeners = new Set<StreamListener>();
  private unacked = 0;
  private rr = 0;
  private dispatchScheduled = false;
  private segmentCount = 0;
  private retentionTimer: NodeJS.Timeout | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;

  publishCount = 0;
  deliverCount = 0;
  ackCount = 0;

  constructor(opts: QueueOptions) {
    this.name = opts.name;
    this.vhost = opts.vhost;
    this.rawArgs = opts.rawArgs;
    this.args = opts.args;
    this.dir = opts.dir;
    this.sargs = parseStreamArgs(opts.name, opts.vhost, opts.rawArgs);
    this.maxBytes = this.sargs.maxLengthBytes;
    this.maxAgeMs = this.sargs.maxAgeMs;
    const what = this.what;
    this.tracking = new StreamTracking(this.dir, (m) => logger.warn(`${what}: ${m}`));
    const filterSize = this.sargs.filterSize;
    this.stream = new StreamLog(path.join(this.dir, 'stream'), {
      segmentBytes: this.sargs.maxSegmentBytes,
      summarySize: filterSize,
      summaryOf: (props) => chunkSummary(props, filterSize),
      onReadable: () => this.readable(),
      onWarning: (m) => logger.warn(`${what}: ${m}`),
      onProgress: (m) => logger.info(`${what}: ${m}`),
    });
    this.writer = new StreamWriter(this.stream, filterSize, this.tracking, {
      appended: () => this.appended(),
      warn: (m) => logger.warn(`${what}: ${m}`),
    });
    this.view = new AmqpView(this.stream, this.name);
    this.recoverTracking();
    this.segmentCount = this.stream.segments().length;
    this.applyRetention();
    this.armRetention();
  }

  private armRetention(): void {
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    if (this.maxAgeMs === null || this.deleted) return;
    this.retentionTimer = setInterval(() => this.applyRetention(), Math.max(1000, Math.min(RETENTION_EVERY_MS, this.maxAgeMs / 4)));
    this.retentionTimer.unref();
  }

  // Policies: max-length-bytes and max-age lower the stream's own (the lower value wins, as in
  // RabbitMQ); the segment size of an existing stream does not change.
  applyPolicy(args: QueueArgs): void {
    if (this.deleted) return;
    this.args = args;
    this.maxBytes = args.maxLengthBytes;
    const policyAge = durationMs(appliedPolicy(this)?.definition['max-age']);
    const age = Math.min(this.sargs.maxAgeMs ?? Infinity, policyAge);
    this.maxAgeMs = age === Infinity ? null : age;
    this.armRetention();
    this.applyRetention();
  }

  // A stream has no message a management client could take: browsing is for classic queues.
  browseLog(): BrowseLog | undefined { return undefined; }
  peekMessage(_ref: MessageRef): LogRecord | undefined { return undefined; }

  private get what(): string {
    return `queue '${this.name}' in vhost '${this.vhost}'`;
  }

  // Producer ids: the snapshot, then the producers listed by every chunk after it.
  private recoverTracking(): void {
    this.tracking.loadOffsets();
    const from = Math.max(this.tracking.loadProducers(), this.stream.startOffset);
    if (from >= this.stream.nextOffset) return;
    const r = this.stream.reader(from);
    let n = 0;
    for (let rec = r.next(); rec !== undefined; rec = r.next()) {
      this.tracking.noteChunkProducers(readChunkExtension(rec.props).producers);
      n++;
    }
    if (n > 0) logger.info(`${this.what}: de-duplication state read from ${n} chunk(s)`);
  }

  // ---- Queue: counts -----------------------------------------------------------------------------

  /** messages stored (RabbitMQ reports a stream's length as its ready messages) */
  get messageCount(): number { return this.stream.nextOffset - this.stream.startOffset; }
  get unackedCount(): number { return this.unacked; }
  // Stream protocol subscriptions count as consumers too, as in RabbitMQ (management, delete if-unused)
  get consumerCount(): number {
    let n = this.consumers.length;
    for (const l of this.listeners) if (l.describe !== undefined) n++;
    return n;
  }
  get readyBytes(): number { return this.stream.sizeBytes; }

  logs(): SegmentedLog[] { return [this.stream.log]; }

  // ---- Queue: publishing ---------------------------------------------------------------------------

  enqueue(msg: Message, _priority: number, sync: SyncPoints | null): EnqueueResult {
    if (this.deleted) return EnqueueResult.Rejected;
    const env = msg.envelope;
    const target = this.writer.current; // before the add: a full chunk is appended by it
    const offset = this.writer.add091(env[0], env[1], msg.props, msg.body);
    if (offset < 0) return EnqueueResult.Rejected;
    this.publishCount++;
    // every stream message is durable: its confirm waits for the fdatasync of its chunk
    if (sync !== null) sync.add(target, offset);
    return EnqueueResult.Accepted;
  }

  // Streams keep everything: a publisher never waits for consumers.
  shouldThrottle(): boolean { return false; }
  addFlowWaiter(_w: FlowWaiter): void { /* never throttled */ }
  removeFlowWaiter(_w: FlowWaiter): void { /* never throttled */ }

  private appended(): void {
    const n = this.stream.segments().length;
    if (n !== this.segmentCount) {
      this.segmentCount = n;
      this.applyRetention();
      this.snapshotProducers();
    }
  }

  private readable(): void {
    if (this.consumers.length > 0) this.scheduleDispatch();
    for (const l of this.listeners) l.readable();
    if (this.tracking.producers.size > 0 && this.snapshotTimer === null) {
      // the de-duplication snapshot follows the log within seconds, so a restart reads few chunks
      this.snapshotTimer = setTimeout(() => { this.snapshotTimer = null; this.snapshotProducers(); }, 5000);
      this.snapshotTimer.unref();
    }
  }

  private snapshotProducers(): void {
    if (this.deleted || this.tracking.producers.size === 0) return;
    this.writer.flush();
    const upTo = this.stream.nextOffset;
    const snap = this.tracking.captureProducers(upTo);
    if (upTo === 0) return;
    this.stream.whenSynced(upTo - 1).then(() => { if (!this.deleted) this.tracking.saveProducers(snap); }, () => { /* reported by the log */ });
  }

  applyRetention(): void {
    if (this.deleted) return;
    try {
      const n = this.stream.applyRetention(this.maxBytes, this.maxAgeMs);
      if (n > 0) {
        this.segmentCount = this.stream.segments().length;
        logger.info(`${this.what}: retention deleted ${n} segment(s); the stream starts at offset ${this.stream.startOffset}`);
      }
    } catch (e) {
      logger.warn(`${this.what}: retention failed: ${(e as Error).message}`);
    }
  }

  // ---- Queue: consumers --------------------------------------------------------------------------

  addConsumer(c: QueueConsumer): void {
    const what = `queue '${this.name}' in vhost '${this.vhost}'`;
    if (c.noAck) throw new AmqpError(ReplyCode.NOT_IMPLEMENTED, `automatic acknowledgement not supported by stream queues ${what}`);
    if (c.prefetch === 0) throw preconditionFailed(`consumer prefetch count is not set for '${what}'`);
    const spec = parseOffsetSpec(this.name, this.vhost, c.args['x-stream-offset']);
    const filter = parseConsumerFilter(this.name, this.vhost, c.args);
    const start = this.resolveOffset(spec);
    this.cursors.set(c, AmqpStreamCursor.create(this.view, start, filter));
    let i = this.consumers.length;
    while (i > 0 && this.consumers[i - 1].priority < c.priority) i--;
    this.consumers.splice(i, 0, c);
    this.scheduleDispatch();
  }

  /** Where an offset specification starts reading (shared with the Stream protocol). */
  resolveOffset(spec: OffsetSpec): number {
    const s = this.stream;
    switch (spec.kind) {
      case 'first': return s.startOffset;
      case 'last': return s.lastChunkOffset;
      case 'next': return this.writer.nextOffset;
      case 'offset': return Math.max(s.startOffset, spec.offset);
      case 'timestamp': return s.offsetAtTimestamp(spec.ms);
    }
  }

  removeConsumer(c: QueueConsumer): void {
    const i = this.consumers.indexOf(c);
    if (i < 0) return;
    this.consumers.splice(i, 1);
    this.cursors.delete(c);
    if (this.rr > i) this.rr--;
  }

  scheduleDispatch(): void {
    if (this.dispatchScheduled || this.deleted) return;
    this.dispatchScheduled = true;
    setImmediate(this.dispatchCb);
  }

  private readonly dispatchCb = (): void => {
    this.dispatchScheduled = false;
    if (this.deleted) return;
    try {
      if (this.dispatch()) this.scheduleDispatch();
    } catch (e) {
      logger.error(`${this.what}: dispatch failed: ${(e as Error)?.stack ?? e}`);
    }
  };

  // One pass: each consumer with credit gets up to PASS_BUDGET messages. Returns true when a
  // consumer still had credit and messages (another pass follows, after other work).
  private dispatch(): boolean {
    const cs = this.consumers;
    const n = cs.length;
    let more = false;
    const out = this.view.out;
    for (let k = 0; k < n; k++) {
      const c = cs[(this.rr + k) % n];
      const cur = this.cursors.get(c);
      if (cur === undefined) continue;
      let budget = PASS_BUDGET;
      while (budget > 0 && c.hasCredit()) {
        if (!cur.next()) break;
        budget--;
        this.unacked++;
        this.deliverCount++;
        cur.delivered++;
        try {
          c.deliver(this, out.offset as MessageRef, out as unknown as LogRecord, false, 0);
        } catch (e) {
          this.unacked--;
          logger.error(`${this.what}: cannot deliver the message at offset ${out.offset} to consumer '${c.tag}' (${(e as Error).message}); skipped`);
        }
        if (this.deleted || !this.cursors.has(c)) break;
      }
      if (budget === 0) more = true;
    }
    if (n > 0) this.rr = (this.rr + 1) % n;
    return more;
  }

  get(_noAck: boolean, _out: GetResult): boolean {
    throw new AmqpError(ReplyCode.NOT_IMPLEMENTED, `basic.get not supported by stream queues queue '${this.name}' in vhost '${this.vhost}'`);
  }

  // Settling only gives credit back: a stream keeps every message.
  ack(_ref: MessageRef): void { this.unacked--; this.ackCount++; }
  requeue(_ref: MessageRef): void { this.unacked--; }
  discard(_ref: MessageRef): void { this.unacked--; }

  purge(): number {
    throw new AmqpError(ReplyCode.NOT_IMPLEMENTED, `queue.purge not supported by stream queues queue '${this.name}' in vhost '${this.vhost}'`);
  }

  reclaim(): void { this.applyRetention(); }
  touch(): void { /* no x-expires */ }

  // ---- lifecycle ----------------------------------------------------------------------------------

  delete(): void {
    if (this.deleted) return;
    this.writer.flush();
    this.deleted = true;
    this.stopTimers();
    const cs = this.consumers.splice(0);
    this.cursors.clear();
    for (const c of cs) c.cancelByServer(this);
    for (const l of [...this.listeners]) l.deleted();
    this.listeners.clear();
    this.tracking.dispose();
    this.view.clear();
    this.stream.destroy();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.stopTimers();
    if (this.deleted) return;
    this.writer.flush();
    const upTo = this.stream.nextOffset;
    const snap = this.tracking.producers.size > 0 ? this.tracking.captureProducers(upTo) : null;
    this.view.clear();
    await this.stream.close();
    if (snap !== null) this.tracking.saveProducers(snap);
    this.tracking.close();
  }

  private stopTimers(): void {
    if (this.retentionTimer !== null) clearInterval(this.retentionTimer);
    if (this.snapshotTimer !== null) clearTimeout(this.snapshotTimer);
    this.retentionTimer = null;
    this.snapshotTimer = null;
  }

  // ---- for management ---------------------------------------------------------------------------

  streamInfo(): StreamInfo {
    const s = this.stream;
    const consumers: StreamConsumerInfo[] = [];
    for (const [c, cur] of this.cursors) consumers.push({ protocol: 'amqp091', tag: c.tag, offset: cur.position, delivered: cur.delivered });
    for (const l of this.listeners) { const d = l.describe?.(); if (d !== undefined) consumers.push(d); }
    return {
      firstOffset: s.startOffset, nextOffset: s.nextOffset, lastChunkOffset: s.lastChunkOffset, bytes: s.sizeBytes,
      segments: s.segments().map((g) => ({ baseOffset: g.baseOffset, nextOffset: g.nextOffset, bytes: g.bytes, oldestTimestamp: g.oldestTimestamp, newestTimestamp: g.newestTimestamp })),
      consumers, maxLengthBytes: this.maxBytes, maxAgeMs: this.maxAgeMs,
      producers: this.tracking.producers.size, storedOffsets: Object.fromEntries(this.tracking.offsets),
    };
  }

  // ---- for the Stream protocol server --------------------------------------------------------------

  addListener(l: StreamListener): void { this.listeners.add(l); }
  removeListener(l: StreamListener): void { this.listeners.delete(l); }
}
