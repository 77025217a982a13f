// The Stream protocol in the management API, as RabbitMQ's rabbitmq_stream_management plugin
// shows it (compared field by field with RabbitMQ 3.10.8): /api/stream/connections (list, one,
// close, its publishers and consumers), /api/stream/publishers (all, by vhost, by stream) and
// /api/stream/consumers (all, by vhost). As in RabbitMQ, Stream connections are also listed
// in /api/connections, and their subscriptions in /api/consumers and a queue's consumer_details
// (consumers.ts, connections.ts use the helpers here).
import type { StreamConnection } from '../../stream/connection';
import type { Publisher } from '../../stream/publishers';
import type { Subscription } from '../../stream/subscriptions';
import { log } from '../../logger';
import { Code } from '../../protocol/stream/frames';
import { isAdmin, seesAll, vhostOf } from './access';
import { listReply } from './listing';
import { type ApiReply, type Req, type Route, cmp, forbidden, noContent, notFound, ok } from './http';

/** Open Stream connections the user may see (all for administrators and monitoring), oldest first. */
export function visibleStreamConnections(r: Req, vhost?: string): StreamConnection[] {
  const server = r.ctx.stream;
  if (server === null) return [];
  const all = [...server.connections].filter((c) => c.state === 'opened' && (vhost === undefined || c.vhost?.name === vhost));
  const mine = seesAll(r.user) ? all : all.filter((c) => c.user?.name === r.user.name);
  return mine.sort((a, b) => a.connectedAt - b.connectedAt || cmp(a.name, b.name));
}

export function streamConnectionDetails(c: StreamConnection, node: string): Record<string, unknown> {
  return { name: c.name, node, peer_host: c.socket.remoteAddress ?? null, peer_port: c.socket.remotePort ?? null, user: c.user?.name ?? null };
}

export function formatStreamConnection(c: StreamConnection, node: string): Record<string, unknown> {
  return {
    name: c.name,
    node,
    type: 'network',
    state: 'running',
    protocol: 'stream',
    vhost: c.vhost?.name ?? null,
    user: c.user?.name ?? null,
    user_who_performed_action: c.user?.name ?? null,
    auth_mechanism: 'PLAIN',
    channels: 0,
    channel_max: 0,
    peer_host: c.socket.remoteAddress ?? null,
    peer_port: c.socket.remotePort ?? null,
    host: c.socket.localAddress ?? null,
    port: c.socket.localPort ?? null,
    ssl: c.config.tls,
    connected_at: c.connectedAt,
    timeout: c.heartbeat,
    frame_max: c.frameMax,
    recv_oct: c.socket.bytesRead,
    send_oct: c.socket.bytesWritten,
    client_properties: Object.fromEntries(c.clientProperties),
    // Warren: what the connection has open on the Stream protocol
    publishers: c.publishers.count,
    consumers: c.subscriptions.all.length,
  };
}

function formatPublisher(c: StreamConnection, p: Publisher, node: string): Record<string, unknown> {
  return {
    connection_details: streamConnectionDetails(c, node),
    queue: { name: p.queue.name, vhost: p.queue.vhost },
    publisher_id: p.id,
    reference: p.ref ?? '',
    published: p.published,
    confirmed: p.confirmed,
    errored: p.errored,
  };
}

function formatStreamConsumer(c: StreamConnection, s: Subscription, node: string): Record<string, unknown> {
  const offset = s.lastChunk >= 0 ? s.lastChunk : s.position;
  const out: Record<string, unknown> = {
    connection_details: streamConnectionDetails(c, node),
    queue: { name: s.queue.name, vhost: s.queue.vhost },
    subscription_id: s.id,
    credits: s.credit,
    consumed: s.messagesDelivered,
    // the first offset of the last chunk sent, and how many offsets the stream's last chunk is ahead
    offset,
    offset_lag: Math.max(0, s.queue.stream.lastChunkOffset - offset),
    properties: Object.fromEntries(s.properties),
  };
  // RabbitMQ 3.11+ adds these for single active consumers
  if (s.sac !== null) {
    out.active = s.active;
    out.activity_status = s.active ? 'single_active' : 'waiting';
  }
  return out;
}

/** A subscription as /api/consumers and a queue's consumer_details show it (RabbitMQ's shape). */
export function formatSubscriptionAsConsumer(c: StreamConnection, s: Subscription, node: string): Record<string, unknown> {
  return {
    consumer_tag: `stream.subid-${s.id}`,
    queue: { name: s.queue.name, vhost: s.queue.vhost },
    channel_details: { connection_name: c.name, name: '', node, number: 0, peer_host: c.socket.remoteAddress ?? null, peer_port: c.socket.remotePort ?? null, user: c.user?.name ?? null },
    ack_required: false,
    exclusive: false,
    prefetch_count: 0,
    active: s.active,
    activity_status: s.sac === null ? 'up' : s.active ? 'single_active' : 'waiting',
    arguments: Object.fromEntries(s.properties),
  };
}

interface PublisherRow { c: StreamConnection; p: Publisher }
interface SubscriptionRow { c: StreamConnection; s: Subscription }

function publisherRows(conns: StreamConnection[], stream?: string): PublisherRow[] {
  const rows: PublisherRow[] = [];
  for (const c of conns) for (const p of c.publishers.all) if (stream === undefined || p.queue.name === stream) rows.push({ c, p });
  return rows;
}

export function subscriptionRows(conns: StreamConnection[], queue?: { name: string; vhost: string }): SubscriptionRow[] {
  const rows: SubscriptionRow[] = [];
  for (const c of conns) {
    for (const s of c.subscriptions.all) if (queue === undefined || (s.queue.name === queue.name && s.queue.vhost === queue.vhost)) rows.push({ c, s });
  }
  return rows;
}

/** The Stream connection named by the path (vhost, name), or 404. */
function connectionOf(r: Req): StreamConnection {
  const vh = vhostOf(r, r.params[0]);
  const c = visibleStreamConnections(r, vh.name).find((x) => x.name === r.params[1]);
  if (c === undefined) throw notFound();
  return c;
}

/** Closes a Stream connection on an HTTP user's request (DELETE here or in /api/connections). */
export function closeStreamConnection(r: Req, c: StreamConnection): ApiReply {
  if (!isAdmin(r.user) && c.user?.name !== r.user.name) throw forbidden(`user '${r.user.name}' may not close connection '${c.name}'`);
  log.info(`closing Stream connection ${c.name} on request of HTTP user '${r.user.name}'`);
  c.closeWith(Code.Ok, typeof r.headers['x-reason'] === 'string' ? r.headers['x-reason'] : 'Closed via management plugin');
  return noContent;
}

function listStreamConnections(r: Req, conns: StreamConnection[]): ApiReply {
  return listReply(r, { items: conns, name: (c) => c.name, format: (c) => formatStreamConnection(c, r.ctx.node) });
}

function listPublishers(r: Req, rows: PublisherRow[]): ApiReply {
  return listReply(r, { items: rows, name: (x) => x.c.name, format: (x) => formatPublisher(x.c, x.p, r.ctx.node) });
}

function listConsumers(r: Req, rows: SubscriptionRow[]): ApiReply {
  return listReply(r, { items: rows, name: (x) => x.c.name, format: (x) => formatStreamConsumer(x.c, x.s, r.ctx.node) });
}

const inVhost = (r: Req): StreamConnection[] => visibleStreamConnections(r, vhostOf(r, r.params[0]).name);

export const streamRoutes: Route[] = [
  { pattern: ['api', 'stream', 'connections'], methods: { GET: (r) => listStreamConnections(r, visibleStreamConnections(r)) } },
  { pattern: ['api', 'stream', 'connections', '*'], methods: { GET: (r) => listStreamConnections(r, inVhost(r)) } },
  { pattern: ['api', 'stream', 'connections', '*', '*'], methods: {
    GET: (r) => ok(formatStreamConnection(connectionOf(r), r.ctx.node)),
    DELETE: (r) => closeStreamConnection(r, connectionOf(r)),
  } },
  { pattern: ['api', 'stream', 'connections', '*', '*', 'publishers'], methods: { GET: (r) => listPublishers(r, publisherRows([connectionOf(r)])) } },
  { pattern: ['api', 'stream', 'connections', '*', '*', 'consumers'], methods: { GET: (r) => listConsumers(r, subscriptionRows([connectionOf(r)])) } },
  { pattern: ['api', 'stream', 'publishers'], methods: { GET: (r) => listPublishers(r, publisherRows(visibleStreamConnections(r))) } },
  { pattern: ['api', 'stream', 'publishers', '*'], methods: { GET: (r) => listPublishers(r, publisherRows(inVhost(r))) } },
  { pattern: ['api', 'stream', 'publishers', '*', '*'], methods: { GET: (r) => listPublishers(r, publisherRows(inVhost(r), r.params[1])) } },
  { pattern: ['api', 'stream', 'consumers'], methods: { GET: (r) => listConsumers(r, subscriptionRows(visibleStreamConnections(r))) } },
  { pattern: ['api', 'stream', 'consumers', '*'], methods: { GET: (r) => listConsumers(r, subscriptionRows(inVhost(r))) } },
];
