// /api/consumers and /api/consumers/{vhost}, and the consumer_details of a queue.
import type { Queue } from '../../broker/queue';
import type { Connection } from '../../server/connection';
import type { Channel, ConsumerView } from '../../server/channel';
import { vhostOf, visibleConnections } from './access';
import { listReply } from './listing';
import { type Req, type Route } from './http';
import { channelName, connectionDetails } from '../format';
import type { StreamConnection } from '../../stream/connection';
import type { Subscription } from '../../stream/subscriptions';
import { formatSubscriptionAsConsumer, subscriptionRows, visibleStreamConnections } from './streams';

interface AmqpRow { conn: Connection; ch: Channel; c: ConsumerView; sub?: undefined }
interface StreamRow { c: StreamConnection; s: Subscription; sub: true }
type ConsumerRow = AmqpRow | StreamRow;

// AMQP consumers, then Stream protocol subscriptions (RabbitMQ lists both)
export function consumerRows(r: Req, filter?: { vhost?: string; queue?: Queue }): ConsumerRow[] {
  const rows: ConsumerRow[] = [];
  for (const conn of visibleConnections(r)) {
    if (filter?.vhost !== undefined && conn.vhost?.name !== filter.vhost) continue;
    for (const ch of conn.openChannels) {
      for (const c of ch.consumerViews) if (!filter?.queue || c.queue === filter.queue) rows.push({ conn, ch, c });
    }
  }
  const q = filter?.queue;
  for (const { c, s } of subscriptionRows(visibleStreamConnections(r, filter?.vhost), q && { name: q.name, vhost: q.vhost })) rows.push({ c, s, sub: true });
  return rows;
}

const consumerTag = (row: ConsumerRow): string => row.sub ? `stream.subid-${row.s.id}` : row.c.tag;

export function formatConsumer(row: ConsumerRow, node: string): Record<string, unknown> {
  if (row.sub) return formatSubscriptionAsConsumer(row.c, row.s, node);
  const { conn, ch, c } = row;
  const active = c.queue.args.singleActiveConsumer ? c.queue.consumers[0]?.tag === c.tag : true;
  return {
    consumer_tag: c.tag,
    queue: { name: c.queue.name, vhost: c.queue.vhost },
    channel_details: {
      ...connectionDetails(conn),
      name: channelName(conn, ch), number: ch.id, user: conn.user?.name ?? null, connection_name: conn.name,
    },
    ack_required: !c.noAck,
    exclusive: c.exclusive,
    prefetch_count: c.prefetch,
    active,
    activity_status: c.queue.args.singleActiveConsumer ? (active ? 'single_active' : 'waiting') : 'up',
    arguments: c.priority !== 0 ? { 'x-priority': c.priority } : {},
    consumer_timeout: undefined,
    // Warren: deliveries this consumer holds unacked
    messages_unacknowledged: c.unacked,
  };
}

export const consumerRoutes: Route[] = [
  { pattern: ['api', 'consumers'], methods: { GET: (r) => listReply(r, { items: consumerRows(r), name: consumerTag, format: (x) => formatConsumer(x, r.ctx.node) }) } },
  { pattern: ['api', 'consumers', '*'], methods: { GET: (r) => {
    const vh = vhostOf(r, r.params[0]);
    return listReply(r, { items: consumerRows(r, { vhost: vh.name }), name: consumerTag, format: (x) => formatConsumer(x, r.ctx.node) });
  } } },
];
