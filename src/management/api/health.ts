// Health checks: /api/healthchecks/node and /api/health/checks/*.
import { type ApiReply, type Req, type Route, ok } from './http';

function healthAlarms(r: Req): ApiReply {
  if (r.ctx.broker.disk.alarmed) return { status: 503, body: { status: 'failed', reason: 'resource alarm(s) in effect: disk' } };
  return ok({ status: 'ok' });
}

export const healthRoutes: Route[] = [
  { pattern: ['api', 'healthchecks', 'node'], methods: { GET: () => ok({ status: 'ok' }) } },
  { pattern: ['api', 'health', 'checks', 'alarms'], methods: { GET: healthAlarms } },
  { pattern: ['api', 'health', 'checks', 'local-alarms'], methods: { GET: healthAlarms } },
];
