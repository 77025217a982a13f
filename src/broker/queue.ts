// What the rest of the broker sees of a queue, whatever its type: the vhost routes to it, the
// channel consumes from and settles with it, management reads it. Two implementations:
// classic-queue.ts (the AMQP queue over a message store) and stream-queue.ts (x-queue-type
// stream: a log read without consuming, from any offset).
import type { FieldTable } from '../protocol';
import type { LogRecord, SegmentedLog } from '../store';
import type { BindTarget } from './exchange';
import type { Message } from './message';
import type { MessageRef } from './message-ref';
import type { QueueArgs } from './queue-args';
import type { SyncPoints } from './sync-points';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export interface QueueConsumer {
  readonly tag: string;
  readonly noAck: boolean;
  readonly priority: number;
  readonly exclusive: boolean;
  /** per-consumer prefetch (basic.qos global=false at consume time; 0 = unlimited) */
  readonly prefetch: number;
  /** the basic.consume arguments */
  readonly args: FieldTable;
  hasCredit(): boolean;
  deliver(queue: Queue, ref: MessageRef, rec: LogRecord, redelivered: boolean, deliveryCount: number): void;
  cancelByServer(queue: Queue): void;
}

// What a queue needs from its vhost; keeps the queues free of routing and definitions.
export interface QueueHost {
  /** Republish through the queue's dead-letter exchange; durable copies are added to `sync`. */
  deadLetter(queue: Queue, rec: LogRecord, reason: DeathReason, sync: SyncPoints | null): void;
  queueUnused(queue: Queue, why: 'auto-delete' | 'expires'): void;
}

// What the management API may do with a lane's log: read records, never write or ack.
export interface BrowseLog {
  readonly startOffset: number;
  readonly nextOffset: number;
  read(offset: number): LogRecord | undefined;
  isAcked(offset: number): boolean;
}

export const enum EnqueueResult { Rejected = 0, Accepted = 1 }

export interface FlowWaiter {
  flowReleased(): void;
}

/** What a queue is created from (vhost.ts, at declare and at recovery). */
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

/** basic.get's answer, filled in place (one object per channel). */
export interface GetResult {
  ref: MessageRef;
  rec: LogRecord | undefined;
  redelivered: boolean;
  count: number;
}

export interface Queue extends BindTarget {
  readonly kind: 'queue';
  readonly name: string;
  readonly vhost: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly rawArgs: FieldTable;
  /** effective: declared arguments with policies applied */
  args: QueueArgs;
  readonly dir: string;
  exclusiveOwner: object | null;
  readonly deleted: boolean;
  readonly consumers: readonly QueueConsumer[];

  readonly messageCount: number;
  readonly unackedCount: number;
  readonly consumerCount: number;
  readonly readyBytes: number;
  // statistics for management and metrics
  readonly publishCount: number;
  readonly deliverCount: number;
  readonly ackCount: number;

  /** The logs behind the queue (management, tools). */
  logs(): SegmentedLog[];

  /**
   * Takes a message. A persistent message in a durable queue adds its log offset to `sync`: the
   * publisher's confirm waits for it. Throws when the store cannot append (disk full, I/O error).
   */
  enqueue(msg: Message, priority: number, sync: SyncPoints | null): EnqueueResult;

  // publisher flow control (see ClassicQueue)
  shouldThrottle(): boolean;
  addFlowWaiter(w: FlowWaiter): void;
  removeFlowWaiter(w: FlowWaiter): void;

  /** Adds a consumer; throws an AmqpError (before basic.consume-ok) when it cannot consume. */
  addConsumer(c: QueueConsumer): void;
  removeConsumer(c: QueueConsumer): void;
  scheduleDispatch(): void;

  /** basic.get: takes one message into `out` or returns false; throws when not supported. */
  get(noAck: boolean, out: GetResult): boolean;
  ack(ref: MessageRef): void;
  /** an unacked message goes back (nack/reject with requeue, a closed channel) */
  requeue(ref: MessageRef): void;
  /** nack/reject without requeue */
  discard(ref: MessageRef): void;
  /** queue.purge: drops what is ready, returns how many; throws when not supported. */
  purge(): number;
  /** Give disk space back (a disk alarm is on). */
  reclaim(): void;
  // read-only views for the management API (browsing without consuming)
  /** the log of priority lane p (0 for a queue without priorities), or undefined */
  browseLog(p?: number): BrowseLog | undefined;
  /** the message behind a ref a channel holds unacked */
  peekMessage(ref: MessageRef): LogRecord | undefined;
  /** a policy change replaced the effective arguments (src/broker/policy-apply.ts) */
  applyPolicy(args: QueueArgs): void;

  /** declare/passive declare: restarts the x-expires timer */
  touch(): void;
  delete(): void;
  close(): Promise<void>;
}
