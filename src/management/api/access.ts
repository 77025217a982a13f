// Authentication (HTTP Basic against the broker's users) and what a user may see and do:
// RabbitMQ's management tags decide visibility, the AMQP permissions decide actions.
import { permits, type User } from '../../broker/users';
import type { VHost } from '../../broker/vhost';
import type { Connection } from '../../server/connection';
import { log } from '../../logger';
import type { ManagementContext } from './context';
import { type ApiRequest, type Req, HttpError, cmp, forbidden, notFound } from './http';

const MANAGEMENT_TAGS = new Set(['administrator', 'monitoring', 'policymaker', 'management']);

// HTTP Basic against the broker's users, with the same loopback-only rule for guest as AMQP.
// The console page sends X-Warren-Console so that a failed login shows its own form rather than
// the browser's password dialog.
export function authenticate(ctx: ManagementContext, req: ApiRequest): User {
  const challenge: Record<string, string> = req.headers['x-warren-console'] ? {} : { 'WWW-Authenticate': 'Basic realm="Warren Management"' };
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h) : null;
  if (!m) throw new HttpError(401, 'not_authorised', 'Not_Authorized', challenge);
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new HttpError(401, 'not_authorised', 'Not_Authorized', challenge);
  const res = ctx.broker.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1), req.remoteAddress);
  if (typeof res === 'string') {
    log.warn(`HTTP access denied: ${res}`);
    throw new HttpError(401, 'not_authorised', 'Login failed', challenge);
  }
  if (!res.tags.some((t) => MANAGEMENT_TAGS.has(t))) {
    log.warn(`HTTP access denied: user '${res.name}' has no management tag`);
    throw new HttpError(401, 'not_authorised', 'Not management user', challenge);
  }
  return res;
}

export const isAdmin = (u: User) => u.tags.includes('administrator');
export const seesAll = (u: User) => isAdmin(u) || u.tags.includes('monitoring');
export const isPolicymaker = (u: User) => isAdmin(u) || u.tags.includes('policymaker');

export function visibleVhosts(r: Req): VHost[] {
  const all = [...r.ctx.broker.vhosts.values()].filter((vh) => seesAll(r.user) || r.ctx.broker.canAccessVhost(r.user, vh.name));
  return all.sort((a, b) => cmp(a.name, b.name));
}

// The vhosts a list covers: one named in the path (which must exist and be visible), or all.
export function vhostScope(r: Req, name: string | undefined): VHost[] {
  if (name === undefined) return visibleVhosts(r);
  return [vhostOf(r, name)];
}

export function vhostOf(r: Req, name: string): VHost {
  const vh = r.ctx.broker.vhosts.get(name);
  if (!vh) throw notFound();
  if (!seesAll(r.user) && !r.ctx.broker.canAccessVhost(r.user, name)) throw forbidden(`access to vhost '${name}' refused for user '${r.user.name}'`);
  return vh;
}

// The user's configure/write/read pattern for a resource, as for AMQP (administrators too).
export function checkPermission(r: Req, vhost: string, kind: 'configure' | 'write' | 'read', resource: string, what: string): void {
  if (!permits(r.ctx.broker, r.user.name, vhost, kind, resource)) throw forbidden(`${kind} access to ${what} '${resource}' in vhost '${vhost}' refused for user '${r.user.name}'`);
}

export function requireAdmin(r: Req): void {
  if (!isAdmin(r.user)) throw forbidden(`user '${r.user.name}' is not an administrator`);
}

export function visibleConnections(r: Req): Connection[] {
  const all = [...r.ctx.amqp.connections].filter((c) => c.connectionState !== 'closed');
  const mine = seesAll(r.user) ? all : all.filter((c) => c.user?.name === r.user.name);
  return mine.sort((a, b) => a.connectedAt - b.connectedAt || cmp(a.name, b.name));
}
