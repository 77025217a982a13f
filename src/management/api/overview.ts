// /api/overview, /api/nodes, /api/whoami: broker-wide figures.
import { VERSION } from '../../server/server';
import { seesAll, visibleConnections, visibleVhosts } from './access';
import { type ApiReply, type Req, type Route, ok } from './http';

function overview(r: Req): ApiReply {
  const vhs = visibleVhosts(r);
  const names = new Set(vhs.map((v) => v.name));
  let exchanges = 0, queues = 0, consumers = 0, ready = 0, unacked = 0;
  for (const vh of vhs) {
    exchanges += vh.exchanges.size;
    for (const q of vh.queues.values()) {
      queues++;
      consumers += q.consumerCount;
      ready += q.messageCount;
      unacked += q.unackedCount;
    }
  }
  const conns = visibleConnections(r).filter((c) => c.vhost === null || names.has(c.vhost.name) || seesAll(r.user));
  const channels = conns.reduce((n, c) => n + c.channelCount, 0);
  const t = r.ctx.stats.totals();
  const rate = r.ctx.stats.rates();
  return ok({
    management_version: VERSION,
    product_name: 'Warren',
    product_version: VERSION,
    cluster_name: 'warren',
    node: r.ctx.node,
    listeners: r.ctx.listeners.map((l) => ({ node: r.ctx.node, ...l })),
    object_totals: { connections: conns.length, channels, exchanges, queues, consumers },
    queue_totals: { messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked },
    // publish counts messages entering queues (one per destination queue); deliver and
    // deliver_get both count deliveries to consumers and basic.get answers.
    message_stats: {
      publish: t.publish, publish_details: { rate: rate.publish },
      deliver: t.deliver, deliver_details: { rate: rate.deliver },
      deliver_get: t.deliver, deliver_get_details: { rate: rate.deliver },
      ack: t.ack, ack_details: { rate: rate.ack },
    },
    disk_free_alarm: r.ctx.broker.disk.alarmed,
  });
}

function nodes(r: Req): ApiReply {
  const b = r.ctx.broker;
  let diskFree: number | null = null;
  try { diskFree = b.disk.freeBytes(); } catch { diskFree = null; }
  return ok([{
    name: r.ctx.node,
    type: 'disc',
    running: true,
    uptime: Math.round(process.uptime() * 1000),
    mem_used: process.memoryUsage.rss(),
    mem_alarm: false,
    disk_free: diskFree,
    disk_free_limit: b.opts.diskFreeLimitBytes ?? 50_000_000,
    disk_free_alarm: b.disk.alarmed,
    sockets_used: r.ctx.amqp.connections.size,
  }]);
}

export const overviewRoutes: Route[] = [
  { pattern: ['api', 'overview'], methods: { GET: overview } },
  { pattern: ['api', 'whoami'], methods: { GET: (r) => ok({ name: r.user.name, tags: r.user.tags }) } },
  { pattern: ['api', 'nodes'], methods: { GET: nodes } },
];
