// What a channel needs from its connection. Channels see their connection only through this
// interface (connection.ts implements it), so channel.ts does not import connection.ts.
import type { AnyMethod } from '../protocol';
import type { FrameSink } from '../protocol/content-frames';
import type { VHost } from '../broker/vhost';
import type { Queue } from '../broker/queue';
import type { User } from '../broker/users';
import type { SessionAccess } from '../broker/auth/access-control';
import type { DefinitionsSync } from '../broker/durable-definitions';

export interface ChannelHost {
  /** who owns exclusive queues declared on this channel: the connection */
  readonly owner: object;
  /** the vhost opened by connection.open */
  readonly vhost: VHost;
  readonly user: User;
  /** the connection's output: frames are written here and flushed once per loop turn */
  readonly out: FrameSink;
  readonly frameMax: number;
  /** too much output is waiting for the socket: consumers should not get more */
  readonly outputBlocked: boolean;
  /** an unacked delivery older than this closes its channel (0: never) */
  readonly consumerTimeoutMs: number;
  sendMethod(channel: number, m: AnyMethod): void;
  /** a client capability from connection.start-ok's client properties */
  capability(name: string): boolean;
  /** the user's permission checks in the vhost, one call per operation (broker/auth/access-control.ts) */
  readonly access: SessionAccess;
  /** largest message body accepted */
  readonly maxMessageSize: number;
  /** the connection publishes: it is blocked while a resource alarm is on */
  notePublisher(): void;
  /** publisher flow control: stop reading this connection until `q` drains */
  throttle(q: Queue): void;
  /** a store write or sync failed: publishers are blocked until the disk recovers */
  storeFailed(err: unknown): void;
  logError(msg: string): void;
  /** the channel finished closing */
  channelClosed(id: number): void;
  /** durable definitions: the last change's number, and a wait for its sync */
  readonly definitions: DefinitionsSync;
  /** sends `reply` once `synced` settles; the channel's later frames wait until then */
  replyWhenSynced(channel: number, synced: Promise<void>, reply: AnyMethod): void;
}
