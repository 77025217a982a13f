// Health checks, shaped as RabbitMQ 3.10's: 200 {"status":"ok"} or 503 {"status":"failed",
// "reason": ...}.
import { checkPermission, vhostOf } from './access';
import { type ApiReply, type Req, type Route, badRequest, ok } from './http';
import { HTTP_OWNER } from './queues';
import { newMessage } from '../../broker/message';
import type { LogRecord } from '../../store';
import type { MessageRef } from '../../broker/message-ref';

const failed = (reason: string, extra: Record<string, unknown> = {}): ApiReply => ({ status: 503, body: { status: 'failed', reason, ...extra } });

function alarms(r: Req): ApiReply {
  if (!r.ctx.broker.disk.alarmed) return ok({ status: 'ok' });
  return failed('resource alarm(s) in effect', { alarms: [{ node: r.ctx.node, resource: 'disk' }] });
}

function portListener(r: Req): ApiReply {
  const port = Number(r.params[0]);
  if (!Number.isInteger(port)) throw badRequest(`invalid port '${r.params[0]}'`);
  const ports = r.ctx.listeners.map((l) => l.port);
  if (ports.includes(port)) return ok({ status: 'ok', port });
  return failed(`No active listener on port ${port}`, { missing: port, ports });
}

const PROTOCOL_ALIASES: Record<string, string> = { amqp: 'amqp', amqp091: 'amqp', 'amqp0.9.1': 'amqp', 'amqp0-9-1': 'amqp', http: 'http', management: 'http' };

function protocolListener(r: Req): ApiReply {
  const want = PROTOCOL_ALIASES[r.params[0].toLowerCase()] ?? r.params[0].toLowerCase();
  const protocols = [...new Set(r.ctx.listeners.map((l) => l.protocol))];
  if (protocols.includes(want)) return ok({ status: 'ok', protocol: want });
  return failed(`No active listener for protocol ${r.params[0]}`, { missing: r.params[0], protocols });
}

// Declares the queue aliveness-test, publishes a message to it and gets it back.
function aliveness(r: Req): ApiReply {
  const vh = vhostOf(r, r.params[0]);
  checkPermission(r, vh.name, 'configure', 'aliveness-test', 'queue');
  checkPermission(r, vh.name, 'read', 'aliveness-test', 'queue');
  const q = vh.declareQueue('aliveness-test', { passive: false, durable: false, exclusive: false, autoDelete: false, args: {} }, HTTP_OWNER);
  q.enqueue(newMessage('', 'aliveness-test', Buffer.from([0, 0]), Buffer.from('test_message'), false, null), 0, null);
  const o = { ref: 0 as MessageRef, rec: undefined as LogRecord | undefined, redelivered: false, count: 0 };
  if (!q.get(true, o)) return failed('aliveness test failed: no message came back');
  return ok({ status: 'ok' });
}

export const healthRoutes: Route[] = [
  { pattern: ['api', 'healthchecks', 'node'], methods: { GET: alarms } },
  { pattern: ['api', 'healthchecks', 'node', '*'], methods: { GET: alarms } },
  { pattern: ['api', 'aliveness-test', '*'], methods: { GET: aliveness } },
  { pattern: ['api', 'health', 'checks', 'alarms'], methods: { GET: alarms } },
  { pattern: ['api', 'health', 'checks', 'local-alarms'], methods: { GET: alarms } },
  { pattern: ['api', 'health', 'checks', 'port-listener', '*'], methods: { GET: portListener } },
  { pattern: ['api', 'health', 'checks', 'protocol-listener', '*'], methods: { GET: protocolListener } },
  { pattern: ['api', 'health', 'checks', 'virtual-hosts'], methods: { GET: () => ok({ status: 'ok' }) } },
  // a single node: no quorum or mirror to lose
  { pattern: ['api', 'health', 'checks', 'node-is-quorum-critical'], methods: { GET: () => ok({ status: 'ok' }) } },
  { pattern: ['api', 'health', 'checks', 'node-is-mirror-sync-critical'], methods: { GET: () => ok({ status: 'ok' }) } },
  { pattern: ['api', 'health', 'checks', 'certificate-expiration', '*', '*'], methods: { GET: () => ok({ status: 'ok' }) } },
];
