// /api/shovels and /api/federation-links: the running links' statuses (src/links/), in
// RabbitMQ's shapes, and restarting a shovel.
import { vhostOf, visibleVhosts } from './access';
import { type ApiReply, type Req, type Route, noContent, notFound, ok } from './http';
import { requirePolicymaker } from './parameters';

function shovels(r: Req): ApiReply {
  requirePolicymaker(r);
  const [vhost] = r.params;
  if (vhost !== undefined) vhostOf(r, vhost);
  const visible = new Set(visibleVhosts(r).map((v) => v.name));
  const all = r.ctx.broker.runtime.links?.shovels() ?? [];
  return ok(all.filter((s) => visible.has(s.vhost as string) && (vhost === undefined || s.vhost === vhost)));
}

function restart(r: Req): ApiReply {
  requirePolicymaker(r);
  const [vhost, name] = r.params;
  vhostOf(r, vhost);
  if (!r.ctx.broker.runtime.links?.restartShovel(vhost, name)) throw notFound();
  return noContent;
}

function federationLinks(r: Req): ApiReply {
  requirePolicymaker(r);
  const [vhost] = r.params;
  if (vhost !== undefined) vhostOf(r, vhost);
  const visible = new Set(visibleVhosts(r).map((v) => v.name));
  const all = r.ctx.broker.runtime.links?.federationLinks() ?? [];
  return ok(all.filter((s) => visible.has(s.vhost as string) && (vhost === undefined || s.vhost === vhost)));
}

export const linkRoutes: Route[] = [
  { pattern: ['api', 'shovels'], methods: { GET: shovels } },
  { pattern: ['api', 'shovels', '*'], methods: { GET: shovels } },
  { pattern: ['api', 'shovels', 'vhost', '*', '*', 'restart'], methods: { DELETE: restart } },
  { pattern: ['api', 'federation-links'], methods: { GET: federationLinks } },
  { pattern: ['api', 'federation-links', '*'], methods: { GET: federationLinks } },
];
