// /api/overview, /api/nodes, /api/extensions, /api/cluster-name, /api/whoami: broker-wide figures.
import * as os from 'node:os';
import * as v8 from 'node:v8';
import { VERSION } from '../../server/server';
import { counters } from '../../broker/counters';
import { requireAdmin, seesAll, visibleConnections, visibleVhosts } from './access';
import { visibleStreamConnections } from './streams';
import { jsonBody } from './body';
import { type ApiReply, type Req, type Route, ANONYMOUS, badRequest, noContent, notFound, ok } from './http';
import { followerRows, roleFields } from './cluster-nodes';
import { CHURN_FIELDS, FIELD, GLOBAL_RATE_FIELDS, LENGTH_FIELDS, details, sampleQuery } from '../stats';

export function clusterName(r: Req): string {
  return r.ctx.broker.runtime.clusterName ?? r.ctx.node;
}

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
  const streamConns = visibleStreamConnections(r).length;
  const channels = conns.reduce((n, c) => n + c.channelCount, 0);
  const ring = r.ctx.stats.global;
  const rates = sampleQuery(r.query, 'msg_rates');
  const lengths = sampleQuery(r.query, 'lengths');
  const c = counters;
  const current: Record<string, number> = {
    publish: c.received, confirm: c.confirmed, return_unroutable: c.unroutableReturned, drop_unroutable: c.unroutableDropped,
    deliver: c.deliveredConsumeManualAck, deliver_no_ack: c.deliveredConsumeAutoAck, get: c.deliveredGetManualAck,
    get_no_ack: c.deliveredGetAutoAck, get_empty: c.getEmpty,
    deliver_get: c.deliveredConsumeManualAck + c.deliveredConsumeAutoAck + c.deliveredGetManualAck + c.deliveredGetAutoAck,
    redeliver: c.redelivered, ack: c.acknowledged,
    connection_created: c.connectionsOpened, connection_closed: c.connectionsClosed, channel_created: c.channelsOpened,
    channel_closed: c.channelsClosed, queue_declared: c.queuesDeclared, queue_created: c.queuesCreated, queue_deleted: c.queuesDeleted,
    messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked,
  };
  const block = (fields: readonly string[], q: typeof rates, isRate: boolean) => {
    const out: Record<string, unknown> = {};
    for (const f of fields) {
      out[f] = current[f];
      out[`${f}_details`] = details(ring, FIELD.global[f as keyof typeof FIELD.global], current[f], q, isRate);
    }
    return out;
  };
  return ok({
    management_version: VERSION,
    rates_mode: 'basic',
    sample_retention_policies: { global: [600, 3600, 28800, 86400], basic: [600], detailed: [] },
    exchange_types: [
      ...['direct', 'fanout', 'headers', 'topic'].map((name) => ({ name, description: `AMQP ${name} exchange, as per the AMQP specification`, enabled: true })),
      { name: 'x-federation-upstream', description: 'Federation upstream helper exchange', enabled: true },
    ],
    product_name: 'Warren',
    product_version: VERSION,
    rabbitmq_version: VERSION,
    cluster_name: clusterName(r),
    node: r.ctx.node,
    disable_stats: false,
    enable_queue_totals: true,
    statistics_db_event_queue: 0,
    listeners: r.ctx.listeners.map((l) => ({ node: r.ctx.node, ...l })),
    contexts: r.ctx.listeners.filter((l) => l.protocol === 'http').map((l) => ({ node: r.ctx.node, description: 'Warren Management', path: '/', port: String(l.port) })),
    object_totals: { connections: conns.length + streamConns, channels, exchanges, queues, consumers },
    queue_totals: block(LENGTH_FIELDS, lengths, false),
    // publish counts messages received from publishers; deliver_get all deliveries and gets
    message_stats: block(GLOBAL_RATE_FIELDS, rates, true),
    churn_rates: block(CHURN_FIELDS, rates, true),
    disk_free_alarm: r.ctx.broker.disk.alarmed,
  });
}

function node(r: Req): Record<string, unknown> {
  const b = r.ctx.broker;
  let diskFree: number | null = null;
  try { diskFree = b.disk.freeBytes(); } catch { diskFree = null; }
  const mem = process.memoryUsage();
  return {
    name: r.ctx.node,
    type: 'disc',
    running: true,
    being_drained: false,
    uptime: Math.round(process.uptime() * 1000),
    os_pid: String(process.pid),
    processors: os.cpus().length,
    run_queue: 0,
    mem_used: mem.rss,
    mem_limit: v8.getHeapStatistics().heap_size_limit,
    mem_alarm: false,
    disk_free: diskFree,
    disk_free_limit: b.opts.diskFreeLimitBytes ?? 50_000_000,
    disk_free_alarm: b.disk.alarmed,
    sockets_used: r.ctx.amqp.connections.size,
    rates_mode: 'basic',
    applications: [{ name: 'warren', description: 'Warren message broker', version: VERSION }],
    exchange_types: ['direct', 'fanout', 'headers', 'topic', 'x-federation-upstream'].map((name) => ({ name, enabled: true })),
    ...roleFields(),
  };
}

async function putClusterName(r: Req): Promise<ApiReply> {
  requireAdmin(r);
  const body = await jsonBody(r);
  if (typeof body.name !== 'string' || body.name === '') throw badRequest('name: expected a non-empty string');
  r.ctx.broker.runtime.setGlobal('cluster_name', body.name);
  return noContent;
}

export const overviewRoutes: Route[] = [
  { pattern: ['api', 'overview'], methods: { GET: overview } },
  { pattern: ['api', 'whoami'], methods: { GET: (r) => ok({ name: r.user.name, tags: r.user.tags }) } },
  // The console's login check (Warren's own): 200 either way, so a browser logs no error for a
  // visitor who has not logged in yet.
  { pattern: ['api', 'console', 'session'], public: true, methods: { GET: (r) => ok(r.user === ANONYMOUS ? { name: null } : { name: r.user.name, tags: r.user.tags }) } },
  { pattern: ['api', 'nodes'], methods: { GET: (r) => ok([node(r), ...followerRows()]) } },
  { pattern: ['api', 'nodes', '*'], methods: { GET: (r) => { if (r.params[0] !== r.ctx.node) throw notFound(); return ok(node(r)); } } },
  { pattern: ['api', 'extensions'], methods: { GET: () => ok([]) } },
  { pattern: ['api', 'cluster-name'], methods: { GET: (r) => ok({ name: clusterName(r) }), PUT: putClusterName } },
];
