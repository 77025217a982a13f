// What a queue needs from the place its messages wait (LavinMQ's MessageStore): append, look at
// the next ready message, take it, give it back, settle it for good. Implemented by one log
// (lane-store.ts), by N of them for priorities (priority-store.ts), and wrapped by direct
// delivery (direct-delivery.ts). Queue keeps the policy (TTL, limits, dead-lettering, consumers).
import type { LogRecord, SegmentedLog } from '../store';
import type { Message } from './message';
import type { MessageRef } from './message-ref';
import type { SyncPoints } from './sync-points';

/** The message peek() found: valid until the next call on the store. */
export interface StoreHead {
  rec: LogRecord | undefined;
  redelivered: boolean;
}

export interface MessageStore {
  /** messages waiting to be delivered */
  readonly ready: number;
  /** their body bytes (approximate after a restart: seeded from file sizes) */
  readonly readyBytes: number;
  readonly head: StoreHead;
  /**
   * Append. A persistent message in a durable store adds its (log, offset) to `sync`, which the
   * caller waits on before confirming. Throws when the append fails (the message is refused).
   */
  push(msg: Message, priority: number, sync: SyncPoints | null): void;
  /** Finds the next ready message (into `head`) without taking it. */
  peek(): boolean;
  /** Takes the message the last successful peek() found. */
  shift(): MessageRef;
  /** A taken message goes back, ahead of everything appended after it, redelivered. */
  requeue(ref: MessageRef): void;
  /** A taken message is gone for good (acked, dead-lettered, dropped). */
  settle(ref: MessageRef): void;
  /** The record of a taken message (for dead-lettering), or undefined when it is unreadable. */
  read(ref: MessageRef): LogRecord | undefined;
  /** Drops every ready message; returns how many. */
  purge(): number;
  /** Gives disk space back: fully acked open segments are rolled and deleted. */
  reclaim(force: boolean): void;
  /** The logs behind the store (for statistics and tools). */
  logs(): SegmentedLog[];
  close(): Promise<void>;
  destroy(): void;
}
