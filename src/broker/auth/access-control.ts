// Access control for an open AMQP connection: every permission check of the channel methods, in
// the order rabbit_channel makes them and with its reply texts, and the checks of connection.open
// (limits, vhost access) and channel.open (the user's channel limit).
//
//   exchange.declare   configure on the exchange; when it is created with an alternate-exchange,
//                      also read on it and write on the alternate exchange
//   exchange.delete    configure on the exchange (never the default or an amq.* exchange)
//   queue.declare      configure on the queue (the generated name for a server-named one); when it
//                      is created with a dead-letter exchange, also read on it and write on the DLX
//   queue.delete       configure on the queue
//   queue.bind/unbind, exchange.bind/unbind
//                      write on the destination, read on the source, and for a topic source the
//                      topic read permission on the binding key
//   queue.purge, basic.get, basic.consume
//                      read on the queue
//   basic.publish      write on the exchange; for a topic exchange the topic write permission on
//                      the routing key
// Passive declares need no permission. The default exchange is checked as "amq.default".
import * as crypto from 'node:crypto';
import type { FieldTable, FieldValue } from '../../protocol';
import { AmqpError, ReplyCode, accessRefused } from '../errors';
import type { AuthStore } from './auth-store';
import { type PermKind, expandTopicPattern, matches } from './permissions';
import {
  type TrackedConnection, checkNodeConnectionLimit, checkUserChannelLimit, checkUserConnectionLimit, checkVhostConnectionLimit,
} from './limits';

// What the checks need to know of a vhost.
export interface VhostView {
  readonly name: string;
  readonly exchanges: ReadonlyMap<string, unknown>;
  readonly queues: ReadonlyMap<string, unknown>;
}

type ResourceKind = 'exchange' | 'queue';

const DEFAULT_EXCHANGE_REFUSED = 'operation not permitted on the default exchange';

export class SessionAccess {
  private publishChecked: string | null = null;
  private publishEpoch = -1;
  private channels = 0;

  constructor(private readonly store: AuthStore, readonly user: string, readonly vhost: string) {}

  // ---- primitives ------------------------------------------------------------------------------

  permits(kind: PermKind, resource: ResourceKind, name: string): boolean {
    const p = this.store.permissions.get(this.user, this.vhost);
    if (p === undefined) return false;
    return matches(p[kind], resource === 'exchange' && name === '' ? 'amq.default' : name);
  }

  check(kind: PermKind, resource: ResourceKind, name: string): void {
    if (this.permits(kind, resource, name)) return;
    const n = resource === 'exchange' && name === '' ? 'amq.default' : name;
    throw accessRefused(`${kind} access to ${resource} '${n}' in vhost '${this.vhost}' refused for user '${this.user}'`);
  }

  // Topic permissions apply to topic exchanges only, and only when the user has some for the
  // exchange in this vhost.
  checkTopic(kind: 'write' | 'read', exchange: string, routingKey: string): void {
    const xs = this.store.topicPermissions.forUser(this.user, this.vhost);
    if (xs === undefined) return;
    const p = xs.get(exchange);
    if (p === undefined) return;
    if (matches(expandTopicPattern(p[kind], this.user, this.vhost), routingKey)) return;
    throw accessRefused(`${kind} access to topic '${routingKey}' in exchange '${exchange}' in vhost '${this.vhost}' refused for user '${this.user}'`);
  }

  // ---- per method ------------------------------------------------------------------------------

  exchangeDeclare(vh: VhostView, name: string, args: FieldTable): void {
    if (name === '') return; // the vhost refuses it with RabbitMQ's text
    this.check('configure', 'exchange', name);
    if (vh.exchanges.has(name) || name.startsWith('amq.')) return;
    const ae = nameArg(args['alternate-exchange']);
    if (ae !== undefined) {
      this.check('read', 'exchange', name);
      this.check('write', 'exchange', ae);
    }
  }

  exchangeDelete(name: string): void {
    if (name === '') throw accessRefused(DEFAULT_EXCHANGE_REFUSED);
    if (name.startsWith('amq.')) throw accessRefused(`deletion of system exchange '${name}' in vhost '${this.vhost}' not allowed`);
    this.check('configure', 'exchange', name);
  }

  // Returns the name to declare: the given one, or a generated one for a server-named queue (the
  // permission applies to the generated name, as in RabbitMQ).
  queueDeclare(vh: VhostView, name: string, args: FieldTable): string {
    const actual = name === '' ? serverQueueName() : name;
    if (name.startsWith('amq.') && !vh.queues.has(name)) {
      throw accessRefused(`queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    this.check('configure', 'queue', actual);
    if (!vh.queues.has(actual)) {
      const dlx = nameArg(args['x-dead-letter-exchange']);
      if (dlx !== undefined) {
        this.check('read', 'queue', actual);
        this.check('write', 'exchange', dlx);
      }
    }
    return actual;
  }

  queueDelete(name: string): void { this.check('configure', 'queue', name); }

  // queue.purge, basic.get, basic.consume.
  queueRead(name: string): void { this.check('read', 'queue', name); }

  bind(vh: VhostView & { exchanges: ReadonlyMap<string, unknown> }, destKind: ResourceKind, dest: string, source: string, routingKey: string): void {
    this.check('write', destKind, dest);
    if (source === '' || (destKind === 'exchange' && dest === '')) throw accessRefused(DEFAULT_EXCHANGE_REFUSED);
    this.check('read', 'exchange', source);
    const x = vh.exchanges.get(source) as { type?: string } | undefined;
    if (x?.type === 'topic') this.checkTopic('read', source, routingKey);
  }

  // basic.publish: the write check is remembered for the last exchange until a permission changes.
  publish(exchange: string): void {
    if (exchange === this.publishChecked && this.publishEpoch === this.store.epoch) return;
    this.check('write', 'exchange', exchange);
    this.publishChecked = exchange;
    this.publishEpoch = this.store.epoch;
  }

  publishTopic(exchange: { readonly name: string; readonly type: string }, routingKey: string): void {
    if (exchange.type === 'topic') this.checkTopic('write', exchange.name, routingKey);
  }

  // A user_id property other than the user's own name needs the impersonator tag.
  mayClaimUserId(userId: string): boolean {
    return userId === this.user || (this.store.users.get(this.user)?.tags.includes('impersonator') ?? false);
  }

  // ---- channels --------------------------------------------------------------------------------

  channelOpening(): void {
    checkUserChannelLimit(this.store.userLimit(this.user, 'max-channels'), this.store.tracker.channelsOfUser(this.user), this.user);
    this.channels++;
    this.store.tracker.channelsChanged(this.user, 1);
  }

  channelsClosed(n = 1): void {
    const k = Math.min(n, this.channels);
    if (k <= 0) return;
    this.channels -= k;
    this.store.tracker.channelsChanged(this.user, -k);
  }

  // ---- connection lifetime ---------------------------------------------------------------------

  // connection.open, in RabbitMQ's order: the node's connection limit (`connections` counts
  // this one), the vhost's and the user's connection limits, then access to the vhost. Throws
  // 530 NOT_ALLOWED; on success the connection is tracked until close().
  static open(store: AuthStore, conn: TrackedConnection, vhostExists: boolean, nodeLimit: number | null, connections: number): SessionAccess {
    const { userName: user, vhostName: vhost } = conn;
    const t = store.tracker;
    checkNodeConnectionLimit(nodeLimit, connections);
    checkVhostConnectionLimit(store.vhostLimit(vhost, 'max-connections'), t.connectionsInVhost(vhost), vhost, user);
    checkUserConnectionLimit(store.userLimit(user, 'max-connections'), t.connectionsOfUser(user), user);
    if (!vhostExists || !store.canAccessVhost(user, vhost)) {
      throw new AmqpError(ReplyCode.NOT_ALLOWED, `access to vhost '${vhost}' refused for user '${user}'`);
    }
    t.add(conn);
    return new SessionAccess(store, user, vhost);
  }

  close(conn: TrackedConnection): void {
    this.channelsClosed(this.channels);
    this.store.tracker.remove(conn);
  }
}

export function serverQueueName(): string {
  return `amq.gen-${crypto.randomBytes(16).toString('base64url').slice(0, 22)}`;
}

// An exchange name given as a queue or exchange argument (longstr, or a string).
function nameArg(v: FieldValue | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString();
  return undefined;
}
