// What a queue or exchange ends up with once its arguments, its policy and its operator policy
// are combined, and pushing that into live objects (at declare, and whenever a policy changes).
//
// RabbitMQ 3.10's precedence (rabbit_amqqueue_process, rabbit_policy, rabbit_policies):
// - policy against operator policy, for a key both set: the lower value wins (all operator
//   policy keys are numeric limits);
// - queue argument against the policies' value: for message-ttl, expires, max-length,
//   max-length-bytes, delivery-limit (and consumer-timeout, max-age) the lower wins; for
//   dead-letter-exchange, dead-letter-routing-key, overflow, queue-mode and an exchange's
//   alternate-exchange the argument wins;
// - keys are resolved one by one: a policy's dead-letter-exchange applies to a queue that
//   declared only x-dead-letter-routing-key.
// test/management/policy-precedence.test.ts checks these rules against a table of cases.
import type { FieldTable } from '../protocol';
import type { Exchange } from './exchange';
import type { Queue } from './queue';
import { type QueueArgs, type Overflow, asString, parseQueueArgs } from './queue-args';
import type { Policy, PolicyStore } from './policies';

// Policy merged with operator policy, as /api/queues shows it in effective_policy_definition.
export function mergeDefinitions(policy: Policy | undefined, op: Policy | undefined): Record<string, unknown> {
  const a = policy?.definition ?? {};
  const b = op?.definition ?? {};
  const out: Record<string, unknown> = {};
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const x = a[k], y = b[k];
    if (x === undefined) out[k] = y;
    else if (y === undefined) out[k] = x;
    else out[k] = lower(k, x, y);
  }
  return out;
}

function lower(key: string, x: unknown, y: unknown): unknown {
  if (key === 'max-age') return durationMs(x) <= durationMs(y) ? x : y;
  if (typeof x === 'number' && typeof y === 'number') return Math.min(x, y);
  return y;
}

const UNIT_MS: Record<string, number> = { Y: 365 * 86400e3, M: 30 * 86400e3, D: 86400e3, h: 3600e3, m: 60e3, s: 1e3 };
export function durationMs(v: unknown): number {
  const m = typeof v === 'string' ? /^(\d+)([YMDhms])$/.exec(v) : null;
  return m ? Number(m[1]) * UNIT_MS[m[2]] : Infinity;
}

// The queue's effective arguments: its declared ones with the merged policy definition applied.
export function effectiveQueueArgs(declared: QueueArgs, rawArgs: FieldTable, def: Record<string, unknown>): QueueArgs {
  const out: QueueArgs = { ...declared };
  const num = (key: string, arg: number | null): number | null => {
    const p = def[key];
    if (typeof p !== 'number') return arg;
    return arg === null ? p : Math.min(arg, p);
  };
  const argWins = (key: string, arg: string | null): string | null => {
    if (arg !== null) return arg;
    const p = def[key];
    return typeof p === 'string' ? p : null;
  };
  out.messageTtl = num('message-ttl', declared.messageTtl);
  out.expires = num('expires', declared.expires);
  out.maxLength = num('max-length', declared.maxLength);
  out.maxLengthBytes = num('max-length-bytes', declared.maxLengthBytes);
  out.deliveryLimit = num('delivery-limit', declared.deliveryLimit);
  out.deadLetterExchange = argWins('dead-letter-exchange', declared.deadLetterExchange);
  out.deadLetterRoutingKey = argWins('dead-letter-routing-key', declared.deadLetterRoutingKey);
  // x-overflow absent means "not set" (parseQueueArgs reports drop-head, the default)
  const ovArg = rawArgs['x-overflow'] !== undefined ? asString(rawArgs['x-overflow']) ?? null : null;
  out.overflow = (argWins('overflow', ovArg) ?? 'drop-head') as Overflow;
  return out;
}

// What the management API shows per queue and exchange, and the arguments the queue had before
// any policy (recomputed from rawArgs when policies change).
export interface AppliedPolicy {
  policy: Policy | undefined;
  operatorPolicy: Policy | undefined;
  definition: Record<string, unknown>;
}

const applied = new WeakMap<Queue | Exchange, AppliedPolicy>();
const declaredArgs = new WeakMap<Queue, QueueArgs>();

export function appliedPolicy(o: Queue | Exchange): AppliedPolicy | undefined {
  return applied.get(o);
}

export interface PolicySources {
  policies: PolicyStore;
  operatorPolicies: PolicyStore;
}

// Looks up and applies the policies of one queue or exchange. Cheap when nothing matches and
// nothing was applied before (the common case, at every declare).
export function applyPolicies(src: PolicySources, vhost: string, o: Queue | Exchange): void {
  const before = applied.get(o);
  if (!before && !src.policies.hasAny(vhost) && !src.operatorPolicies.hasAny(vhost)) return;
  if (o.kind === 'queue') {
    const target = { kind: 'queue' as const, name: o.name, queueType: queueTypeOf(o) };
    const policy = src.policies.match(vhost, target);
    const op = src.operatorPolicies.match(vhost, target);
    if (before && before.policy === policy && before.operatorPolicy === op) return;
    let declared = declaredArgs.get(o);
    if (!declared) declaredArgs.set(o, declared = o.args);
    const definition = mergeDefinitions(policy, op);
    if (policy || op) applied.set(o, { policy, operatorPolicy: op, definition });
    else applied.delete(o);
    o.applyPolicy(effectiveQueueArgs(declared, o.rawArgs, definition));
  } else {
    const policy = src.policies.match(vhost, { kind: 'exchange', name: o.name });
    const op = src.operatorPolicies.match(vhost, { kind: 'exchange', name: o.name });
    if (before && before.policy === policy && before.operatorPolicy === op) return;
    const definition = mergeDefinitions(policy, op);
    if (policy || op) applied.set(o, { policy, operatorPolicy: op, definition });
    else applied.delete(o);
    const ae = definition['alternate-exchange'];
    o.policyAlternateExchange = typeof ae === 'string' ? ae : undefined;
  }
}

function queueTypeOf(q: Queue): string {
  return q.args.queueType;
}

// Re-parses a queue's own arguments (for callers that need them without policies).
export function declaredQueueArgs(q: Queue): QueueArgs {
  return declaredArgs.get(q) ?? parseQueueArgs(q.name, q.vhost, q.rawArgs);
}
