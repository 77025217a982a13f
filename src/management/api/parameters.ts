// /api/parameters (per-vhost runtime parameters by component) and /api/global-parameters.
import { ParameterError } from '../../broker/parameters';
import { isAdmin, isPolicymaker, requireAdmin, vhostOf, visibleVhosts } from './access';
import { jsonBody } from './body';
import { type ApiReply, type Req, type Route, badRequest, created, forbidden, noContent, notFound, ok } from './http';

export function requirePolicymaker(r: Req): void {
  if (!isPolicymaker(r.user)) throw forbidden(`user '${r.user.name}' is not a policymaker`);
}

function list(r: Req): ApiReply {
  requirePolicymaker(r);
  const [component, vhost] = r.params;
  if (vhost !== undefined) vhostOf(r, vhost);
  const visible = new Set(visibleVhosts(r).map((v) => v.name));
  return ok(r.ctx.broker.runtime.parameters.list(component, vhost).filter((p) => isAdmin(r.user) || visible.has(p.vhost)));
}

function get(r: Req): ApiReply {
  requirePolicymaker(r);
  const [component, vhost, name] = r.params;
  vhostOf(r, vhost);
  const p = r.ctx.broker.runtime.parameters.get(component, vhost, name);
  if (!p) throw notFound();
  return ok(p);
}

async function put(r: Req): Promise<ApiReply> {
  requirePolicymaker(r);
  const [component, vhost, name] = r.params;
  vhostOf(r, vhost);
  const body = await jsonBody(r);
  if (!('value' in body)) throw badRequest('[{key_missing,value}]');
  try {
    return r.ctx.broker.runtime.parameters.set(component, vhost, name, body.value) ? noContent : created;
  } catch (e) {
    if (e instanceof ParameterError) throw badRequest(e.message);
    throw e;
  }
}

function del(r: Req): ApiReply {
  requirePolicymaker(r);
  const [component, vhost, name] = r.params;
  vhostOf(r, vhost);
  let gone: boolean;
  try { gone = r.ctx.broker.runtime.parameters.clear(component, vhost, name); } catch (e) {
    if (e instanceof ParameterError) throw notFound();
    throw e;
  }
  if (!gone) throw notFound();
  return noContent;
}

function globals(r: Req): ApiReply {
  requireAdmin(r);
  const g = r.ctx.broker.runtime.global;
  return ok([...g.keys()].sort().map((name) => ({ name, value: g.get(name) })));
}

function getGlobal(r: Req): ApiReply {
  requireAdmin(r);
  const g = r.ctx.broker.runtime.global;
  if (!g.has(r.params[0])) throw notFound();
  return ok({ name: r.params[0], value: g.get(r.params[0]) });
}

async function putGlobal(r: Req): Promise<ApiReply> {
  requireAdmin(r);
  const body = await jsonBody(r);
  if (!('value' in body)) throw badRequest('[{key_missing,value}]');
  return r.ctx.broker.runtime.setGlobal(r.params[0], body.value) ? noContent : created;
}

function delGlobal(r: Req): ApiReply {
  requireAdmin(r);
  if (!r.ctx.broker.runtime.clearGlobal(r.params[0])) throw notFound();
  return noContent;
}

export const parameterRoutes: Route[] = [
  { pattern: ['api', 'parameters'], methods: { GET: list } },
  { pattern: ['api', 'parameters', '*'], methods: { GET: list } },
  { pattern: ['api', 'parameters', '*', '*'], methods: { GET: list } },
  { pattern: ['api', 'parameters', '*', '*', '*'], methods: { GET: get, PUT: put, DELETE: del } },
  { pattern: ['api', 'global-parameters'], methods: { GET: globals } },
  { pattern: ['api', 'global-parameters', '*'], methods: { GET: getGlobal, PUT: putGlobal, DELETE: delGlobal } },
];
