// Everything in a definitions document that Warren cannot apply, named, before anything is
// applied: an import either applies whole or is refused with this list (HTTP 400), never
// applied in part or with parts silently dropped.
//
// Sections are RabbitMQ's. Those Warren handles are listed in HANDLED; a non-empty section
// not listed there is refused. (Access control adds topic_permissions and user/vhost limits.)
import type { Definitions } from './broker';
import { checkStreamDeclare, isStreamDeclare } from './stream-args';
import { fromJson } from './broker';
import { parseQueueArgs } from './queue-args';
import { EXCHANGE_TYPES } from './exchange';
import { AmqpError } from './errors';
import type { RuntimeParameters } from './runtime-parameters';

export const HANDLED = new Set(['users', 'vhosts', 'permissions', 'policies', 'parameters', 'global_parameters', 'queues', 'exchanges', 'bindings']);
// Sections RabbitMQ exports that Warren does not apply yet.
const KNOWN_UNHANDLED = ['topic_permissions'];

export function checkDefinitions(d: Definitions, runtime: RuntimeParameters): string[] {
  const problems: string[] = [];
  const doc = d as unknown as Record<string, unknown>;
  for (const k of [...HANDLED, ...KNOWN_UNHANDLED]) {
    if (doc[k] !== undefined && !Array.isArray(doc[k])) problems.push(`${k}: expected an array`);
  }
  for (const k of KNOWN_UNHANDLED) {
    if (!HANDLED.has(k) && Array.isArray(doc[k]) && (doc[k] as unknown[]).length > 0) {
      problems.push(`${k}: not supported by Warren yet (${(doc[k] as unknown[]).length} entries)`);
    }
  }
  if (problems.length > 0) return problems;
  const vhostsInFile = new Set((d.vhosts ?? []).map((v) => v.name));
  for (const q of d.queues ?? []) {
    const what = `queue '${q.name}' in vhost '${q.vhost}'`;
    if (typeof q.name !== 'string' || typeof q.vhost !== 'string') { problems.push(`queues: name and vhost must be strings`); continue; }
    try {
      const args = fromJson(q.arguments);
      // a stream's own checks (refused arguments, x-max-age) come first, as at declare
      if (isStreamDeclare(args)) checkStreamDeclare(q.name, q.vhost, { durable: q.durable !== false, exclusive: false, autoDelete: q.auto_delete === true, args });
      else parseQueueArgs(q.name, q.vhost, args);
    } catch (e) {
      problems.push(`${what}: ${e instanceof AmqpError ? e.text : (e as Error).message}`);
    }
    if (q.durable === false) problems.push(`${what}: non-durable queues are not part of definitions`);
  }
  for (const x of d.exchanges ?? []) {
    if (!EXCHANGE_TYPES.has(x.type)) problems.push(`exchange '${x.name}' in vhost '${x.vhost}': unknown exchange type '${x.type}'`);
  }
  problems.push(...runtime.check(d, vhostsInFile));
  return problems;
}
