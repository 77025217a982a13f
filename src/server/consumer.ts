// A basic.consume subscription: the queue's view of a consumer (credit, delivery), the
// channel's bookkeeping (unacked count against its prefetch).
import type { FieldTable } from '../protocol';
import { encodeShortstr } from '../protocol/frames';
import type { LogRecord } from '../store';
import type { MessageRef } from '../broker/message-ref';
import type { Queue, QueueConsumer } from '../broker/queue';
import type { UnackedOwner } from './unacked';

/** What a consumer needs from its channel. */
export interface ConsumerChannel {
  canDeliver(): boolean;
  deliver(c: Consumer, queue: Queue, ref: MessageRef, rec: LogRecord, redelivered: boolean, deliveryCount: number): void;
  serverCancel(c: Consumer): void;
}

export class Consumer implements QueueConsumer, UnackedOwner {
  unacked = 0;
  /** the tag's shortstr bytes, copied into every basic.deliver */
  readonly tagBytes: Buffer;

  constructor(
    private readonly channel: ConsumerChannel,
    readonly queue: Queue,
    readonly tag: string,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    readonly priority: number,
    readonly prefetch: number,
    readonly args: FieldTable = {},
  ) {
    this.tagBytes = encodeShortstr(tag);
  }

  hasCredit(): boolean {
    if (this.prefetch !== 0 && this.unacked >= this.prefetch) return false;
    return this.channel.canDeliver();
  }

  deliver(queue: Queue, ref: MessageRef, rec: LogRecord, redelivered: boolean, deliveryCount: number): void {
    this.channel.deliver(this, queue, ref, rec, redelivered, deliveryCount);
  }

  cancelByServer(): void {
    this.channel.serverCancel(this);
  }
}
