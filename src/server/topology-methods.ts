// The exchange.* and queue.* methods of a channel: permission check, the vhost's operation, and
// the reply once the change to durable definitions is on disk.
import type { AnyMethod } from '../protocol';
import type { ChannelHost } from './channel-host';

/** direct reply-to: the pseudo-queue RPC clients consume from */
export const REPLY_TO = 'amq.rabbitmq.reply-to';

/** What these methods need of their channel. */
export interface TopologyChannel {
  readonly id: number;
  lastQueue: string;
  queueName(name: string): string;
  replyWhenDurable(m: AnyMethod): void;
}

/** Handles `m` if it is an exchange.* or queue.* method; false for any other method. */
export function topologyMethod(ch: TopologyChannel, conn: ChannelHost, m: AnyMethod): boolean {
  const vh = conn.vhost;
  const owner = conn.owner;
  switch (m.name) {
    case 'exchange.declare':
      if (!m.passive) conn.access.exchangeDeclare(vh, m.exchange, m.arguments);
      vh.declareExchange(m.exchange, { type: m.type, passive: m.passive, durable: m.durable, autoDelete: m.autoDelete, internal: m.internal, args: m.arguments });
      if (!m.noWait) ch.replyWhenDurable({ name: 'exchange.declare-ok' });
      return true;
    case 'exchange.delete':
      conn.access.exchangeDelete(m.exchange);
      vh.deleteExchange(m.exchange, m.ifUnused);
      if (!m.noWait) ch.replyWhenDurable({ name: 'exchange.delete-ok' });
      return true;
    case 'exchange.bind':
      conn.access.bind(vh, 'exchange', m.destination, m.source, m.routingKey);
      vh.bindExchange(m.destination, m.source, m.routingKey, m.arguments);
      if (!m.noWait) ch.replyWhenDurable({ name: 'exchange.bind-ok' });
      return true;
    case 'exchange.unbind':
      conn.access.bind(vh, 'exchange', m.destination, m.source, m.routingKey);
      vh.unbindExchange(m.destination, m.source, m.routingKey, m.arguments);
      if (!m.noWait) ch.replyWhenDurable({ name: 'exchange.unbind-ok' });
      return true;

    case 'queue.declare': {
      if (m.queue === REPLY_TO || m.queue.startsWith(REPLY_TO + '.')) {
        if (!m.noWait) conn.sendMethod(ch.id, { name: 'queue.declare-ok', queue: m.queue, messageCount: 0, consumerCount: 0 });
        return true;
      }
      const serverName = m.passive ? undefined : conn.access.queueDeclare(vh, m.queue, m.arguments);
      const q = vh.declareQueue(m.queue, { passive: m.passive, durable: m.durable, exclusive: m.exclusive, autoDelete: m.autoDelete, args: m.arguments, serverName }, owner);
      ch.lastQueue = q.name;
      if (!m.noWait) ch.replyWhenDurable({ name: 'queue.declare-ok', queue: q.name, messageCount: q.messageCount, consumerCount: q.consumerCount });
      return true;
    }
    case 'queue.bind':
      conn.access.bind(vh, 'queue', ch.queueName(m.queue), m.exchange, m.routingKey);
      vh.bindQueue(ch.queueName(m.queue), m.exchange, m.routingKey, m.arguments, owner);
      if (!m.noWait) ch.replyWhenDurable({ name: 'queue.bind-ok' });
      return true;
    case 'queue.unbind':
      conn.access.bind(vh, 'queue', ch.queueName(m.queue), m.exchange, m.routingKey);
      vh.unbindQueue(ch.queueName(m.queue), m.exchange, m.routingKey, m.arguments, owner);
      ch.replyWhenDurable({ name: 'queue.unbind-ok' });
      return true;
    case 'queue.purge': {
      conn.access.queueRead(ch.queueName(m.queue));
      const n = vh.purgeQueue(ch.queueName(m.queue), owner);
      if (!m.noWait) conn.sendMethod(ch.id, { name: 'queue.purge-ok', messageCount: n });
      return true;
    }
    case 'queue.delete': {
      conn.access.queueDelete(ch.queueName(m.queue));
      const n = vh.deleteQueue(ch.queueName(m.queue), m.ifUnused, m.ifEmpty, owner);
      if (!m.noWait) ch.replyWhenDurable({ name: 'queue.delete-ok', messageCount: n });
      return true;
    }
    default:
      return false;
  }
}
