// The management API under /api: the route table assembled from one module per resource, and
// the dispatch (match, method check, authentication, AMQP errors as HTTP errors). Request and
// reply are plain objects; http-server.ts does the socket side.
//
// Shaped like RabbitMQ's management plugin: the same paths (vhost names URL-encoded, "%2F" for
// "/"), the same JSON field names, 201 for a created object and 204 for an update or delete,
// errors as {"error": ..., "reason": ...}.
//
// To add a resource: export a Route[] from its module and list it in MODULES. Routes with the
// same pattern in different modules are merged (one module may own GET, another PUT/DELETE).
import { AmqpError, ReplyCode } from '../../broker/errors';
import { authenticate } from './access';
import type { ManagementContext } from './context';
import { type ApiReply, type ApiRequest, type Route, ANONYMOUS, HttpError, badRequest, forbidden, notFound } from './http';
import { overviewRoutes } from './overview';
import { vhostRoutes } from './vhosts';
import { queueRoutes } from './queues';
import { exchangeRoutes } from './exchanges';
import { bindingRoutes } from './bindings';
import { connectionRoutes } from './connections';
import { definitionRoutes } from './definitions';
import { healthRoutes } from './health';
import { policyRoutes } from './policies';
import { parameterRoutes } from './parameters';
import { linkRoutes } from './links';
import { consumerRoutes } from './consumers';
import { messageRoutes } from './messages';
import { accessControlRoutes } from './access-control';
import { streamRoutes } from './streams';
import { checkCrossSite } from '../csrf';

const MODULES: Route[][] = [
  overviewRoutes, vhostRoutes, queueRoutes, exchangeRoutes, bindingRoutes, connectionRoutes, definitionRoutes, healthRoutes,
  policyRoutes, parameterRoutes, consumerRoutes, messageRoutes, accessControlRoutes, linkRoutes, streamRoutes,
];

function buildTable(modules: Route[][]): Route[] {
  const byKey = new Map<string, Route>();
  for (const routes of modules) {
    for (const r of routes) {
      const key = r.pattern.join('/');
      const have = byKey.get(key);
      if (!have) { byKey.set(key, { pattern: r.pattern, methods: { ...r.methods }, public: r.public }); continue; }
      for (const [m, h] of Object.entries(r.methods)) {
        if (have.methods[m]) throw new Error(`management API: ${m} /${key} defined twice`);
        have.methods[m] = h;
      }
    }
  }
  // A literal segment beats '*' at the same position (/api/queues/x/y/get before .../{name}).
  return [...byKey.values()].sort((a, b) => specificity(b) - specificity(a));
}

function specificity(r: Route): number {
  let s = 0;
  for (const p of r.pattern) s = s * 2 + (p === '*' ? 0 : 1);
  return s;
}

const ROUTES = buildTable(MODULES);

export async function handleApi(ctx: ManagementContext, req: ApiRequest): Promise<ApiReply> {
  checkCrossSite(req.method, req.headers, req.tls === true);
  const route = match(req.path);
  if (!route) throw notFound();
  const method = req.method === 'HEAD' ? 'GET' : req.method;
  const handler = route.methods[method];
  if (!handler) {
    const allow = Object.keys(route.methods).join(', ');
    throw new HttpError(405, 'method_not_allowed', `${req.method} not allowed here; allowed: ${allow}`, { Allow: allow });
  }
  let user;
  try {
    user = authenticate(ctx, req);
  } catch (e) {
    if (!route.public || !(e instanceof HttpError) || e.status !== 401) throw e;
    user = ANONYMOUS;
  }
  const params = route.pattern.flatMap((p, i) => (p === '*' ? [req.path[i]] : []));
  try {
    // A change to durable definitions is answered once it is on disk (broker/definitions.ts).
    const mark = ctx.broker.metadata.seq;
    const reply = await handler({ ...req, user, params, ctx });
    await ctx.broker.metadata.syncedSince(mark);
    return reply;
  } catch (e) {
    if (e instanceof AmqpError) throw fromAmqp(e);
    throw e;
  }
}

function match(path: string[]): Route | undefined {
  return ROUTES.find((r) => r.pattern.length === path.length && r.pattern.every((p, i) => p === '*' || p === path[i]));
}

function fromAmqp(e: AmqpError): HttpError {
  if (e.code === ReplyCode.NOT_FOUND) return new HttpError(404, 'not_found', e.text);
  if (e.code === ReplyCode.ACCESS_REFUSED) return forbidden(e.text);
  return badRequest(e.text);
}
