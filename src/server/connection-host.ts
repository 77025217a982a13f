// A connection as its channels see it (the ChannelHost interface of channel-host.ts).
import type { AnyMethod } from '../protocol';
import type { VHost } from '../broker/vhost';
import type { Queue } from '../broker/queue';
import type { User } from '../broker/users';
import type { SessionAccess } from '../broker/auth/access-control';
import type { DefinitionsSync } from '../broker/durable-definitions';
import type { ChannelHost } from './channel-host';
import type { Connection } from './connection';
import type { OutBuffer } from './out-buffer';
import { DEFAULT_MAX_MESSAGE_SIZE } from './content-limits';

// A connection as its channels see it (channel-host.ts): the vhost and user are set once the
// connection is open, which is the only time channels exist.
export class ConnectionAsHost implements ChannelHost {
  constructor(private readonly c: Connection) {}
  get owner(): object { return this.c; }
  get vhost(): VHost { return this.c.vhost as VHost; }
  get user(): User { return this.c.user as User; }
  get out(): OutBuffer { return this.c.out; }
  get frameMax(): number { return this.c.frameMax; }
  get outputBlocked(): boolean { return this.c.outputBlocked; }
  get consumerTimeoutMs(): number { return this.c.config.consumerTimeoutMs; }
  sendMethod(channel: number, m: AnyMethod): void { this.c.sendMethod(channel, m); }
  capability(name: string): boolean { return this.c.capability(name); }
  get access(): SessionAccess { return this.c.access; }
  get maxMessageSize(): number { return this.c.config.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE; }
  notePublisher(): void { this.c.notePublisher(); }
  throttle(q: Queue): void { this.c.throttle(q); }
  storeFailed(err: unknown): void { this.c.broker.disk.reportWriteError(err); }
  logError(msg: string): void { this.c.logError(msg); }
  channelClosed(id: number): void { this.c.channelClosed(id); }
  get definitions(): DefinitionsSync { return this.c.broker.metadata; }
  replyWhenSynced(channel: number, synced: Promise<void>, reply: AnyMethod): void { this.c.holdChannel(channel, synced, reply); }
}
