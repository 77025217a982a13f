// The management API's users, vhost create/delete, permissions, topic permissions and limits,
// shaped like RabbitMQ 3.10's (same paths, JSON fields, status codes):
//   /api/users, /api/users/without-permissions, /api/users/bulk-delete, /api/users/{u},
//     /api/users/{u}/permissions, /api/users/{u}/topic-permissions
//   /api/vhosts/{v} (PUT, DELETE), /api/vhosts/{v}/permissions, /api/vhosts/{v}/topic-permissions
//   /api/permissions, /api/permissions/{v}/{u}
//   /api/topic-permissions, /api/topic-permissions/{v}/{u}
//   /api/vhost-limits, /api/vhost-limits/{v}, /api/vhost-limits/{v}/{name}
//   /api/user-limits, /api/user-limits/{u}, /api/user-limits/{u}/{name}
// (/api/whoami is overview.ts's; GET /api/vhosts/{v} is vhosts.ts's.)
import { userFromJson, userJson } from '../../broker/auth/users';
import { isLimitName, limitValueProblem, type UserLimitName, type VhostLimitName } from '../../broker/auth/limits';
import { log } from '../../logger';
import { requireAdmin, seesAll } from './access';
import { type ApiReply, type Req, type Route, badRequest, created, noContent, notFound, ok } from './http';

type Call = Req;

async function body(c: Call): Promise<Record<string, unknown>> {
  const text = await c.readBody();
  if (text.trim() === '') return {};
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw badRequest(`invalid JSON: ${(e as Error).message}`); }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('expected a JSON object');
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw badRequest(v === undefined ? `key_missing: ${key}` : `${key}: expected a string`);
  return v;
}

// ---- users ----------------------------------------------------------------------------------------

function getUser(c: Call): ApiReply {
  requireAdmin(c);
  const u = c.ctx.broker.auth.users.get(c.params[0]);
  if (!u) throw notFound();
  return ok(userJson(u));
}

async function putUser(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const name = c.params[0];
  const b = await body(c);
  const u = userFromJson(name, b);
  if (Array.isArray(u)) throw badRequest(u.join('; '));
  const auth = c.ctx.broker.auth;
  const old = auth.users.get(name);
  // Limits are managed with /api/user-limits; a PUT without them keeps the user's.
  if (old && b['limits'] === undefined) u.limits = old.limits;
  const res = auth.putUser(u);
  log.info(`user '${name}' ${res} over HTTP by '${c.user.name}'`);
  return res === 'created' ? created : noContent;
}

function deleteUser(c: Call): ApiReply {
  requireAdmin(c);
  if (!c.ctx.broker.auth.deleteUser(c.params[0])) throw notFound();
  return noContent;
}

async function bulkDeleteUsers(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const b = await body(c);
  const users = b['users'];
  if (!Array.isArray(users) || !users.every((u) => typeof u === 'string')) throw badRequest('users: expected a list of user names');
  for (const u of users as string[]) c.ctx.broker.auth.deleteUser(u);
  return noContent;
}

function usersWithoutPermissions(c: Call): ApiReply {
  requireAdmin(c);
  const auth = c.ctx.broker.auth;
  const withPerms = new Set(auth.permissions.list().map((p) => p.user));
  return ok([...auth.users.values()].filter((u) => !withPerms.has(u.name)).map(userJson));
}

// ---- vhosts ---------------------------------------------------------------------------------------

async function putVhost(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const name = c.params[0];
  const b = await body(c);
  const broker = c.ctx.broker;
  const existed = broker.vhosts.has(name);
  if (!existed) {
    broker.addVhost(name);
    log.info(`vhost '${name}' created over HTTP by '${c.user.name}'`);
  }
  if (typeof b['description'] === 'string') broker.vhostDescriptions.set(name, b['description']);
  broker.saveDefinitions();
  return existed ? noContent : created;
}

function deleteVhost(c: Call): ApiReply {
  requireAdmin(c);
  if (!c.ctx.broker.deleteVhost(c.params[0])) throw notFound();
  log.info(`vhost '${c.params[0]}' deleted over HTTP by '${c.user.name}'`);
  return noContent;
}

// ---- permissions ----------------------------------------------------------------------------------

function checkUserAndVhost(c: Call, vhost: string, user: string): void {
  const b = c.ctx.broker;
  if (!b.vhosts.has(vhost) || !b.auth.users.has(user)) throw badRequest('vhost_or_user_not_found');
}

function getPermission(c: Call): ApiReply {
  requireAdmin(c);
  const p = c.ctx.broker.auth.permissions.get(c.params[1], c.params[0]);
  if (!p) throw notFound();
  return ok(p);
}

async function putPermission(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const [vhost, user] = c.params;
  const b = await body(c);
  checkUserAndVhost(c, vhost, user);
  const auth = c.ctx.broker.auth;
  const existed = auth.permissions.get(user, vhost) !== undefined;
  const problem = auth.setPermission({ user, vhost, configure: str(b, 'configure'), write: str(b, 'write'), read: str(b, 'read') });
  if (problem) throw badRequest(problem);
  return existed ? noContent : created;
}

function deletePermission(c: Call): ApiReply {
  requireAdmin(c);
  if (!c.ctx.broker.auth.clearPermission(c.params[1], c.params[0])) throw notFound();
  return noContent;
}

function getTopicPermissions(c: Call): ApiReply {
  requireAdmin(c);
  const [vhost, user] = c.params;
  const xs = c.ctx.broker.auth.topicPermissions.forUser(user, vhost);
  if (!xs || xs.size === 0) throw notFound();
  return ok([...xs.values()].map((p) => ({ ...p })));
}

async function putTopicPermission(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const [vhost, user] = c.params;
  const b = await body(c);
  checkUserAndVhost(c, vhost, user);
  const auth = c.ctx.broker.auth;
  const exchange = str(b, 'exchange');
  const existed = auth.topicPermissions.forUser(user, vhost)?.has(exchange) === true;
  const problem = auth.setTopicPermission({ user, vhost, exchange, write: str(b, 'write'), read: str(b, 'read') });
  if (problem) throw badRequest(problem);
  return existed ? noContent : created;
}

function deleteTopicPermissions(c: Call): ApiReply {
  requireAdmin(c);
  const exchange = c.query.get('exchange') ?? undefined;
  if (!c.ctx.broker.auth.clearTopicPermissions(c.params[1], c.params[0], exchange)) throw notFound();
  return noContent;
}

// ---- limits ---------------------------------------------------------------------------------------

function vhostLimitsList(c: Call, only?: string): ApiReply {
  const b = c.ctx.broker;
  if (only !== undefined && !b.vhosts.has(only)) throw notFound();
  const visible = (v: string) => seesAll(c.user) || b.auth.canAccessVhost(c.user.name, v);
  const out = [...b.auth.vhostLimits]
    .filter(([v]) => (only === undefined || v === only) && visible(v))
    .map(([vhost, value]) => ({ vhost, value: { ...value } }));
  return ok(out);
}

async function limitValue(c: Call, kind: 'vhost' | 'user', name: string): Promise<number> {
  if (!isLimitName(kind, name)) throw badRequest(`unknown ${kind} limit '${name}'`);
  const b = await body(c);
  const problem = limitValueProblem(name, b['value']);
  if (problem) throw badRequest(problem);
  return b['value'] as number;
}

async function putVhostLimit(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const [vhost, name] = c.params;
  if (!c.ctx.broker.vhosts.has(vhost)) throw notFound();
  c.ctx.broker.auth.setVhostLimit(vhost, name as VhostLimitName, await limitValue(c, 'vhost', name));
  return noContent;
}

function deleteVhostLimit(c: Call): ApiReply {
  requireAdmin(c);
  const [vhost, name] = c.params;
  if (!c.ctx.broker.vhosts.has(vhost)) throw notFound();
  if (!isLimitName('vhost', name)) throw badRequest(`unknown vhost limit '${name}'`);
  c.ctx.broker.auth.clearVhostLimit(vhost, name as VhostLimitName);
  return noContent;
}

function userLimitsList(c: Call, only?: string): ApiReply {
  requireAdmin(c);
  const users = c.ctx.broker.auth.users;
  if (only !== undefined && !users.has(only)) throw notFound();
  const out = [...users.values()]
    .filter((u) => (only === undefined || u.name === only) && Object.keys(u.limits).length > 0)
    .map((u) => ({ user: u.name, value: { ...u.limits } }));
  return ok(out);
}

async function putUserLimit(c: Call): Promise<ApiReply> {
  requireAdmin(c);
  const [user, name] = c.params;
  if (!c.ctx.broker.auth.users.has(user)) throw notFound();
  c.ctx.broker.auth.setUserLimit(user, name as UserLimitName, await limitValue(c, 'user', name));
  return noContent;
}

function deleteUserLimit(c: Call): ApiReply {
  requireAdmin(c);
  const [user, name] = c.params;
  if (!c.ctx.broker.auth.users.has(user)) throw notFound();
  if (!isLimitName('user', name)) throw badRequest(`unknown user limit '${name}'`);
  c.ctx.broker.auth.clearUserLimit(user, name as UserLimitName);
  return noContent;
}

// ---- the table --------------------------------------------------------------------------------------

export const accessControlRoutes: Route[] = [
  { pattern: ['api', 'users'], methods: { GET: (c) => { requireAdmin(c); return ok([...c.ctx.broker.auth.users.values()].map(userJson)); } } },
  { pattern: ['api', 'users', 'without-permissions'], methods: { GET: usersWithoutPermissions } },
  { pattern: ['api', 'users', 'bulk-delete'], methods: { POST: bulkDeleteUsers } },
  { pattern: ['api', 'users', '*'], methods: { GET: getUser, PUT: putUser, DELETE: deleteUser } },
  { pattern: ['api', 'users', '*', 'permissions'], methods: {
    GET: (c) => { requireAdmin(c); return ok(c.ctx.broker.auth.permissions.list().filter((p) => p.user === c.params[0])); },
  } },
  { pattern: ['api', 'users', '*', 'topic-permissions'], methods: {
    GET: (c) => { requireAdmin(c); return ok(c.ctx.broker.auth.topicPermissions.list().filter((p) => p.user === c.params[0])); },
  } },

  { pattern: ['api', 'vhosts', '*'], methods: { PUT: putVhost, DELETE: deleteVhost } },
  { pattern: ['api', 'vhosts', '*', 'permissions'], methods: {
    GET: (c) => { requireAdmin(c); return ok(c.ctx.broker.auth.permissions.list().filter((p) => p.vhost === c.params[0])); },
  } },
  { pattern: ['api', 'vhosts', '*', 'topic-permissions'], methods: {
    GET: (c) => { requireAdmin(c); return ok(c.ctx.broker.auth.topicPermissions.list().filter((p) => p.vhost === c.params[0])); },
  } },

  { pattern: ['api', 'permissions'], methods: { GET: (c) => { requireAdmin(c); return ok(c.ctx.broker.auth.permissions.list()); } } },
  { pattern: ['api', 'permissions', '*', '*'], methods: { GET: getPermission, PUT: putPermission, DELETE: deletePermission } },
  { pattern: ['api', 'topic-permissions'], methods: { GET: (c) => { requireAdmin(c); return ok(c.ctx.broker.auth.topicPermissions.list()); } } },
  { pattern: ['api', 'topic-permissions', '*', '*'], methods: { GET: getTopicPermissions, PUT: putTopicPermission, DELETE: deleteTopicPermissions } },

  { pattern: ['api', 'vhost-limits'], methods: { GET: (c) => vhostLimitsList(c) } },
  { pattern: ['api', 'vhost-limits', '*'], methods: { GET: (c) => vhostLimitsList(c, c.params[0]) } },
  { pattern: ['api', 'vhost-limits', '*', '*'], methods: { PUT: putVhostLimit, DELETE: deleteVhostLimit } },
  { pattern: ['api', 'user-limits'], methods: { GET: (c) => userLimitsList(c) } },
  { pattern: ['api', 'user-limits', '*'], methods: { GET: (c) => userLimitsList(c, c.params[0]) } },
  { pattern: ['api', 'user-limits', '*', '*'], methods: { PUT: putUserLimit, DELETE: deleteUserLimit } },
];
