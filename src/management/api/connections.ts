// /api/connections (list, read, close) and /api/channels.
import { ReplyCode } from '../../broker/errors';
import type { Connection } from '../../server/connection';
import { log } from '../../logger';
import { isAdmin, vhostOf, visibleConnections } from './access';
import { listReply } from './listing';
import type { Channel } from '../../server/channel';
import { type ApiReply, type Req, type Route, forbidden, noContent, notFound, ok } from './http';
import { channelName, connectionState, formatChannel, formatConnection } from '../format';

function connectionOf(r: Req): Connection {
  const c = visibleConnections(r).find((x) => x.name === r.params[0]);
  if (!c) throw notFound();
  return c;
}

function deleteConnection(r: Req): ApiReply {
  const c = connectionOf(r);
  if (!isAdmin(r.user) && c.user?.name !== r.user.name) throw forbidden(`user '${r.user.name}' may not close connection '${c.name}'`);
  const reason = typeof r.headers['x-reason'] === 'string' ? r.headers['x-reason'] : 'Closed via management plugin';
  log.info(`closing AMQP connection ${c.name} on request of HTTP user '${r.user.name}'`);
  c.closeWithError(ReplyCode.CONNECTION_FORCED, `CONNECTION_FORCED - ${reason}`, 0, 0);
  return noContent;
}

function listConnections(r: Req, conns: Connection[]): ApiReply {
  return listReply(r, { items: conns, name: (c) => c.name, format: (c) => formatConnection(c, r.ctx.node) });
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
  { pattern: ['api', 'connections'], methods: { GET: (r) => listConnections(r, visibleConnections(r)) } },
  { pattern: ['api', 'vhosts', '*', 'connections'], methods: { GET: (r) => {
    const vh = vhostOf(r, r.params[0]);
    return listConnections(r, visibleConnections(r).filter((c) => c.vhost?.name === vh.name));
  } } },
  { pattern: ['api', 'vhosts', '*', 'channels'], methods: { GET: (r) => {
    const vh = vhostOf(r, r.params[0]);
    return channelList(r, visibleConnections(r).filter((c) => c.vhost?.name === vh.name));
  } } },
  { pattern: ['api', 'connections', '*'], methods: { GET: (r) => ok(formatConnection(connectionOf(r), r.ctx.node)), DELETE: deleteConnection } },
  { pattern: ['api', 'connections', '*', 'channels'], methods: { GET: (r) => channelList(r, [connectionOf(r)]) } },
  { pattern: ['api', 'channels'], methods: { GET: (r) => channelList(r, visibleConnections(r)) } },
  { pattern: ['api', 'channels', '*'], methods: { GET: getChannel } },
];
