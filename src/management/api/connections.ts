// /api/connections (list, read, close) and /api/channels.
import { ReplyCode } from '../../broker/errors';
import type { Connection } from '../../server/connection';
import { log } from '../../logger';
import { isAdmin, vhostOf, visibleConnections } from './access';
import { listReply } from './listing';
import type { Channel } from '../../server/channel';
import { type ApiReply, type Req, type Route, forbidden, noContent, notFound, ok } from './http';
import { channelName, connectionState, formatChannel, formatConnection } from '../format';
import type { StreamConnection } from '../../stream/connection';
import { closeStreamConnection, formatStreamConnection, visibleStreamConnections } from './streams';

function connectionOf(r: Req): Connection {
  const c = visibleConnections(r).find((x) => x.name === r.params[0]);
  if (!c) throw notFound();
  return c;
}

// /api/connections/{name} names an AMQP connection or, as in RabbitMQ, a Stream protocol one
function streamConnectionOf(r: Req): StreamConnection | undefined {
  return visibleConnections(r).some((x) => x.name === r.params[0]) ? undefined : visibleStreamConnections(r).find((x) => x.name === r.params[0]);
}

function getConnection(r: Req): ApiReply {
  const s = streamConnectionOf(r);
  return ok(s !== undefined ? formatStreamConnection(s, r.ctx.node) : formatConnection(connectionOf(r), r.ctx.node));
}

function deleteConnection(r: Req): ApiReply {
  const s = streamConnectionOf(r);
  if (s !== undefined) return closeStreamConnection(r, s);
  const c = connectionOf(r);
  if (!isAdmin(r.user) && c.user?.name !== r.user.name) throw forbidden(`user '${r.user.name}' may not close connection '${c.name}'`);
  const reason = typeof r.headers['x-reason'] === 'string' ? r.headers['x-reason'] : 'Closed via management plugin';
  log.info(`closing AMQP connection ${c.name} on request of HTTP user '${r.user.name}'`);
  c.closeWithError(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`, 0, 0);
  return noContent;
}

type AnyConnection = { amqp: Connection; stream?: undefined } | { amqp?: undefined; stream: StreamConnection };

// AMQP and Stream protocol connections in one list (RabbitMQ lists both), oldest first
function listConnections(r: Req, conns: Connection[], streams: StreamConnection[]): ApiReply {
  const items: AnyConnection[] = [...conns.map((c) => ({ amqp: c })), ...streams.map((s) => ({ stream: s }))];
  const at = (x: AnyConnection) => (x.amqp ?? x.stream).connectedAt;
  items.sort((a, b) => at(a) - at(b));
  return listReply(r, {
    items, name: (x) => (x.amqp ?? x.stream).name,
    format: (x) => x.amqp !== undefined ? formatConnection(x.amqp, r.ctx.node) : formatStreamConnection(x.stream, r.ctx.node),
  });
}

function channelList(r: Req, conns: Connection[]): ApiReply {
  const items: Array<{ c: Connection; ch: Channel }> = [];
  for (const c of conns) {
    if (connectionState(c) !== 'running') continue;
    for (const ch of c.openChannels) items.push({ c, ch });
  }
  return listReply(r, { items, name: (i) => channelName(i.c, i.ch), format: (i) => formatChannel(i.c, i.ch, r.ctx.node) });
}

function getChannel(r: Req): ApiReply {
  for (const c of visibleConnections(r)) {
    for (const ch of c.openChannels) if (channelName(c, ch) === r.params[0]) return ok(formatChannel(c, ch, r.ctx.node));
  }
  throw notFound();
}

export const connectionRoutes: Route[] = [
  { pattern: ['api', 'connections'], methods: { GET: (r) => listConnections(r, visibleConnections(r), visibleStreamConnections(r)) } },
  { pattern: ['api', 'vhosts', '*', 'connections'], methods: { GET: (r) => {
    const vh = vhostOf(r, r.params[0]);
    return listConnections(r, visibleConnections(r).filter((c) => c.vhost?.name === vh.name), visibleStreamConnections(r, vh.name));
  } } },
  { pattern: ['api', 'vhosts', '*', 'channels'], methods: { GET: (r) => {
    const vh = vhostOf(r, r.params[0]);
    return channelList(r, visibleConnections(r).filter((c) => c.vhost?.name === vh.name));
  } } },
  { pattern: ['api', 'connections', '*'], methods: { GET: getConnection, DELETE: deleteConnection } },
  // a Stream connection has no channels
  { pattern: ['api', 'connections', '*', 'channels'], methods: { GET: (r) => channelList(r, streamConnectionOf(r) !== undefined ? [] : [connectionOf(r)]) } },
  { pattern: ['api', 'channels'], methods: { GET: (r) => channelList(r, visibleConnections(r)) } },
  { pattern: ['api', 'channels', '*'], methods: { GET: getChannel } },
];
