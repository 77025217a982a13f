// /api/definitions (the whole broker) and /api/definitions/{vhost} (one vhost's queues,
// exchanges, bindings, policies and parameters), export and import. An import that holds
// anything Warren cannot apply is refused whole with a 400 naming it (src/broker/definitions).
import type { Definitions } from '../../broker/broker';
import { AmqpError } from '../../broker/errors';
import { DefinitionsError } from '../../broker/broker';
import { VERSION } from '../../server/server';
import { log } from '../../logger';
import { requireAdmin, vhostOf } from './access';
import { jsonBody } from './body';
import { type ApiReply, type Req, type Route, badRequest, noContent, ok } from './http';

const VHOST_SECTIONS = ['parameters', 'policies', 'queues', 'exchanges', 'bindings'] as const;
const BROKER_ONLY = ['users', 'vhosts', 'permissions', 'topic_permissions', 'global_parameters'];

export function exportAll(r: Req): Record<string, unknown> {
  const d = r.ctx.broker.exportDefinitions() as unknown as Record<string, unknown>;
  delete d.warren_version;
  return { rabbit_version: VERSION, rabbitmq_version: VERSION, product_name: 'Warren', product_version: VERSION, ...d };
}

function getDefinitions(r: Req): ApiReply {
  requireAdmin(r);
  if (r.params[0] === undefined) return download(r, exportAll(r));
  const vh = vhostOf(r, r.params[0]);
  const all = r.ctx.broker.exportDefinitions() as unknown as Record<string, Array<{ vhost: string }>>;
  const out: Record<string, unknown> = { rabbit_version: VERSION, rabbitmq_version: VERSION, product_name: 'Warren', product_version: VERSION };
  for (const k of VHOST_SECTIONS) {
    out[k] = (all[k] ?? []).filter((o) => o.vhost === vh.name).map((o) => {
      const { vhost: _v, ...rest } = o;
      return rest;
    });
  }
  return download(r, out);
}

// ?download=<file name> makes browsers save the reply, as RabbitMQ's console link does.
function download(r: Req, body: unknown): ApiReply {
  const name = r.query.get('download');
  if (!name) return ok(body);
  return { status: 200, body, headers: { 'Content-Disposition': `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"` } };
}

async function postDefinitions(r: Req): Promise<ApiReply> {
  requireAdmin(r);
  let body = await jsonBody(r);
  if (r.params[0] !== undefined) {
    const vh = vhostOf(r, r.params[0]);
    const foreign = BROKER_ONLY.filter((k) => Array.isArray(body[k]) && (body[k] as unknown[]).length > 0);
    if (foreign.length > 0) throw badRequest(`definitions for one vhost cannot hold ${foreign.join(', ')}`);
    const scoped: Record<string, unknown> = {};
    for (const k of VHOST_SECTIONS) {
      const v = body[k];
      if (v === undefined) continue;
      if (!Array.isArray(v)) throw badRequest(`${k}: expected an array`);
      scoped[k] = v.map((o) => ({ ...(o as object), vhost: vh.name }));
    }
    body = scoped;
  }
  try {
    r.ctx.broker.importDefinitions(body as unknown as Definitions);
  } catch (e) {
    if (e instanceof DefinitionsError) throw badRequest(e.message);
    if (e instanceof AmqpError) throw badRequest(`definitions import stopped: ${e.text}`);
    throw badRequest(`definitions import stopped: ${(e as Error).message}`);
  }
  log.info(`definitions imported over HTTP by user '${r.user.name}'${r.params[0] !== undefined ? ` into vhost '${r.params[0]}'` : ''}`);
  return noContent;
}

export const definitionRoutes: Route[] = [
  { pattern: ['api', 'definitions'], methods: { GET: getDefinitions, POST: postDefinitions } },
  { pattern: ['api', 'definitions', '*'], methods: { GET: getDefinitions, POST: postDefinitions } },
];
