// /api/connections (list, read, close) and /api/channels.
import { ReplyCode } from '../../broker/errors';
import type { Connection } from '../../server/connection';
import { log } from '../../logger';
import { isAdmin, visibleConnections } from './access';
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

function listChannels(r: Req, conns = visibleConnections(r)): unknown[] {
  const out: unknown[] = [];
  for (const c of conns) {
    if (connectionState(c) !== 'running') continue;
    for (const ch of c.openChannels.sort((a, b) => a.id - b.id)) out.push(formatChannel(c, ch, r.ctx.node));
  }
  return out;
}

function getChannel(r: Req): ApiReply {
  for (const c of visibleConnections(r)) {
    for (const ch of c.openChannels) if (channelName(c, ch) === r.params[0]) return ok(formatChannel(c, ch, r.ctx.node));
  }
  throw notFound();
}

export const connectionRoutes: Route[] = [
  { pattern: ['api', 'connections'], methods: { GET: (r) => ok(visibleConnections(r).map((c) => formatConnection(c, r.ctx.node))) } },
  { pattern: ['api', 'connections', '*'], methods: { GET: (r) => ok(formatConnection(connectionOf(r), r.ctx.node)), DELETE: deleteConnection } },
  { pattern: ['api', 'connections', '*', 'channels'], methods: { GET: (r) => ok(listChannels(r, [connectionOf(r)])) } },
  { pattern: ['api', 'channels'], methods: { GET: (r) => ok(listChannels(r)) } },
  { pattern: ['api', 'channels', '*'], methods: { GET: getChannel } },
];
