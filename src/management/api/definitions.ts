// /api/definitions: export and import.
import type { Definitions } from '../../broker/broker';
import { AmqpError } from '../../broker/errors';
import { DefinitionsError } from '../../broker/runtime-parameters';
import { VERSION } from '../../server/server';
import { log } from '../../logger';
import { requireAdmin } from './access';
import { jsonBody } from './body';
import { type ApiReply, type Req, type Route, badRequest, noContent, ok } from './http';

function getDefinitions(r: Req): ApiReply {
  requireAdmin(r);
  return ok({ product_name: 'Warren', product_version: VERSION, ...r.ctx.broker.exportDefinitions() });
}

async function postDefinitions(r: Req): Promise<ApiReply> {
  requireAdmin(r);
  const body = await jsonBody(r);
  for (const k of ['users', 'vhosts', 'permissions', 'exchanges', 'queues', 'bindings']) {
    if (body[k] !== undefined && !Array.isArray(body[k])) throw badRequest(`${k}: expected an array`);
  }
  try {
    r.ctx.broker.importDefinitions(body as unknown as Definitions);
  } catch (e) {
    if (e instanceof DefinitionsError) throw badRequest(e.message);
    if (e instanceof AmqpError) throw badRequest(`definitions import stopped: ${e.text}`);
    throw badRequest(`definitions import stopped: ${(e as Error).message}`);
  }
  log.info(`definitions imported over HTTP by user '${r.user.name}'`);
  return noContent;
}

export const definitionRoutes: Route[] = [
  { pattern: ['api', 'definitions'], methods: { GET: getDefinitions, POST: postDefinitions } },
];
