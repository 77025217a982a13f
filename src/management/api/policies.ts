// /api/policies and /api/operator-policies: list, read, set, clear. Setting a policy applies it
// to the vhost's existing queues and exchanges before the reply.
import { type PolicyKind, PolicyError, parsePolicy, policyJson } from '../../broker/policies';
import { log } from '../../logger';
import { isAdmin, isPolicymaker, vhostOf, visibleVhosts } from './access';
import { jsonBody } from './body';
import { type ApiReply, type Req, type Route, badRequest, created, forbidden, noContent, notFound, ok } from './http';

function requirePolicymaker(r: Req, vhost?: string): void {
  if (!isPolicymaker(r.user)) throw forbidden(`user '${r.user.name}' is not a policymaker`);
  if (vhost !== undefined && !isAdmin(r.user) && !r.ctx.broker.canAccessVhost(r.user, vhost)) {
    throw forbidden(`access to vhost '${vhost}' refused for user '${r.user.name}'`);
  }
}

function list(kind: PolicyKind) {
  return (r: Req): ApiReply => {
    requirePolicymaker(r);
    const store = r.ctx.broker.runtime.store(kind);
    if (r.params[0] !== undefined) return ok(store.list(vhostOf(r, r.params[0]).name).map(policyJson));
    const vhosts = new Set(visibleVhosts(r).map((v) => v.name));
    return ok(store.list().filter((p) => isAdmin(r.user) || vhosts.has(p.vhost)).map(policyJson));
  };
}

function get(kind: PolicyKind) {
  return (r: Req): ApiReply => {
    const vh = vhostOf(r, r.params[0]);
    requirePolicymaker(r, vh.name);
    const p = r.ctx.broker.runtime.store(kind).get(vh.name, r.params[1]);
    if (!p) throw notFound();
    return ok(policyJson(p));
  };
}

function put(kind: PolicyKind) {
  return async (r: Req): Promise<ApiReply> => {
    const vh = vhostOf(r, r.params[0]);
    requirePolicymaker(r, vh.name);
    if (kind === 'operator_policy' && !isAdmin(r.user)) throw forbidden(`user '${r.user.name}' is not an administrator`);
    const body = await jsonBody(r);
    let p;
    try {
      p = parsePolicy(kind, vh.name, r.params[1], body as never);
    } catch (e) {
      if (e instanceof PolicyError) throw badRequest(e.message);
      throw e;
    }
    const existed = r.ctx.broker.runtime.store(kind).put(p);
    log.info(`${kind === 'policy' ? 'policy' : 'operator policy'} '${p.name}' in vhost '${vh.name}' set by HTTP user '${r.user.name}'`);
    return existed ? noContent : created;
  };
}

function del(kind: PolicyKind) {
  return (r: Req): ApiReply => {
    const vh = vhostOf(r, r.params[0]);
    requirePolicymaker(r, vh.name);
    if (kind === 'operator_policy' && !isAdmin(r.user)) throw forbidden(`user '${r.user.name}' is not an administrator`);
    if (!r.ctx.broker.runtime.store(kind).delete(vh.name, r.params[1])) throw notFound();
    return noContent;
  };
}

export const policyRoutes: Route[] = (['policy', 'operator_policy'] as const).flatMap((kind): Route[] => {
  const seg = kind === 'policy' ? 'policies' : 'operator-policies';
  return [
    { pattern: ['api', seg], methods: { GET: list(kind) } },
    { pattern: ['api', seg, '*'], methods: { GET: list(kind) } },
    { pattern: ['api', seg, '*', '*'], methods: { GET: get(kind), PUT: put(kind), DELETE: del(kind) } },
  ];
});
