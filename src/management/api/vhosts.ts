// GET /api/vhosts and /api/vhosts/{name} (creating and deleting vhosts is access control's).
import type { VHost } from '../../broker/vhost';
import { vhostOf, visibleVhosts } from './access';
import { type Route, ok } from './http';
import { listReply } from './listing';

export function formatVhost(vh: VHost): Record<string, unknown> {
  let ready = 0, unacked = 0;
  for (const q of vh.queues.values()) { ready += q.messageCount; unacked += q.unackedCount; }
  return {
    name: vh.name, description: '', tags: [], tracing: false,
    messages: ready + unacked, messages_ready: ready, messages_unacknowledged: unacked,
  };
}

export const vhostRoutes: Route[] = [
  { pattern: ['api', 'vhosts'], methods: { GET: (r) => listReply(r, { items: visibleVhosts(r), name: (v) => v.name, format: formatVhost }) } },
  { pattern: ['api', 'vhosts', '*'], methods: { GET: (r) => ok(formatVhost(vhostOf(r, r.params[0]))) } },
];
