// Policies and operator policies: named, per-vhost rules that set queue and exchange arguments
// for every object whose name matches a pattern, as in RabbitMQ. This module holds the store,
// the validation (with RabbitMQ's reply texts) and the matching; policy-apply.ts computes what a
// queue or exchange ends up with and pushes it into live objects.
//
// Matching follows RabbitMQ 3.10: the pattern is an unanchored regular expression; apply-to is
// queues, exchanges or all; among the policies that match and are applicable to the object, the
// one with the highest priority wins whole (definitions of different policies are never
// merged); a policy with a key that does not apply to a queue's type (max-age on a classic
// queue, message-ttl on a stream) does not match that queue at all. Ties in priority go to the
// policy whose name sorts first (RabbitMQ leaves the order unspecified).

export type PolicyKind = 'policy' | 'operator_policy';
export type ApplyTo = 'queues' | 'exchanges' | 'all';

export interface Policy {
  readonly vhost: string;
  readonly name: string;
  readonly pattern: string;
  readonly applyTo: ApplyTo;
  readonly priority: number;
  readonly definition: Readonly<Record<string, unknown>>;
  readonly re: RegExp;
}

// The JSON shape of /api/policies and of the "policies" section of definitions.
export interface PolicyJson {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': ApplyTo;
  definition: Record<string, unknown>;
  priority: number;
}

export class PolicyError extends Error {}

type Check = (v: unknown) => string | null;

const nonNegInt = (what: string): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? null : `${show(v)} is not a valid ${what}`;
const posInt = (what: string): Check => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 ? null : `${show(v)} is not a valid ${what}`;
const text = (what: string): Check => (v) => (typeof v === 'string' ? null : `${show(v)} is not a valid ${what}`);
const oneOf = (what: string, values: string[]): Check => (v) =>
  typeof v === 'string' && values.includes(v) ? null : `${show(v)} is not a valid ${what}`;
// Stream retention: a number and one unit of Y, M, D, h, m, s ("7D").
const duration: Check = (v) => (typeof v === 'string' && /^\d+[YMDhms]$/.test(v) ? null : `${show(v)} is not a valid max age`);

// The keys Warren applies, with RabbitMQ's value checks.
const POLICY_KEYS: Record<string, Check> = {
  'alternate-exchange': text('alternate exchange name'),
  'dead-letter-exchange': text('dead letter exchange name'),
  'dead-letter-routing-key': text('dead letter routing key'),
  'message-ttl': nonNegInt('message TTL'),
  'expires': posInt('queue TTL'),
  'max-length': nonNegInt('maximum length'),
  'max-length-bytes': nonNegInt('maximum length in bytes'),
  'overflow': oneOf('overflow behaviour', ['drop-head', 'reject-publish', 'reject-publish-dlx']),
  'delivery-limit': nonNegInt('delivery limit'),
  'queue-mode': oneOf('queue mode', ['default', 'lazy']),
  'max-age': duration,
  'stream-max-segment-size-bytes': nonNegInt('maximum segment size'),
  'consumer-timeout': nonNegInt('consumer timeout'),
  'federation-upstream': text('federation upstream name'),
  'federation-upstream-set': text('federation upstream set name'),
};

// Operator policies may only lower limits (RabbitMQ 3.10's list, less the quorum in-memory ones).
const OPERATOR_KEYS = new Set(['expires', 'message-ttl', 'max-length', 'max-length-bytes', 'delivery-limit']);

// Keys that make a policy inapplicable to a queue of a given type (RabbitMQ 3.10's lists, except
// that Warren's classic queues honour delivery-limit: see docs/management.md).
const NOT_APPLICABLE: Record<string, Set<string>> = {
  classic: new Set(['max-age', 'stream-max-segment-size-bytes']),
  quorum: new Set(['max-age', 'stream-max-segment-size-bytes', 'queue-mode']),
};
// Streams take only retention and segment keys (and federation's).
const STREAM_KEYS = new Set(['max-length-bytes', 'max-age', 'stream-max-segment-size-bytes', 'federation-upstream', 'federation-upstream-set']);

function show(v: unknown): string {
  return typeof v === 'string' ? `"${v}"` : JSON.stringify(v) ?? String(v);
}

// Numbers sent as strings (rabbitmqadmin sends JSON, but forms and scripts do not always) are
// accepted for integer-valued keys; the stored definition holds the number.
function normalise(key: string, v: unknown): unknown {
  const check = POLICY_KEYS[key];
  if (typeof v === 'string' && /^-?\d+$/.test(v) && check && check(Number(v)) === null && check(v) !== null) return Number(v);
  return v;
}

export interface PolicySpec { pattern: unknown; 'apply-to'?: unknown; priority?: unknown; definition: unknown }

// Validates a policy as PUT /api/policies or a definitions file gives it; throws PolicyError
// with RabbitMQ's "Validation failed" text.
export function parsePolicy(kind: PolicyKind, vhost: string, name: string, spec: PolicySpec): Policy {
  const problems: string[] = [];
  if (typeof spec.pattern !== 'string') throw new PolicyError('[{key_missing,pattern}]');
  if (spec.definition === undefined) throw new PolicyError('[{key_missing,definition}]');
  let re: RegExp | null = null;
  try { re = new RegExp(spec.pattern); } catch (e) {
    problems.push(`pattern should be regular expression but is invalid: ${(e as Error).message}`);
  }
  const applyTo = spec['apply-to'] ?? 'all';
  if (applyTo !== 'queues' && applyTo !== 'exchanges' && applyTo !== 'all') {
    problems.push(`apply-to '${String(applyTo)}' unrecognised; should be 'queues', 'exchanges' or 'all'`);
  }
  let priority = spec.priority ?? 0;
  if (typeof priority === 'string' && /^-?\d+$/.test(priority.trim())) priority = Number(priority);
  if (typeof priority !== 'number' || !Number.isInteger(priority)) problems.push(`priority should be a number, actually was ${show(priority)}`);
  const def = spec.definition;
  const definition: Record<string, unknown> = {};
  if (def === null || typeof def !== 'object' || Array.isArray(def)) {
    problems.push(`definition must be a dictionary: ${show(def)}`);
  } else {
    const entries = Object.entries(def as Record<string, unknown>);
    if (entries.length === 0) problems.push('no policy provided');
    const unknown: string[] = [];
    for (const [k, raw] of entries) {
      const check = POLICY_KEYS[k];
      if (!check || (kind === 'operator_policy' && !OPERATOR_KEYS.has(k))) { unknown.push(`${k}=${show(raw)}`); continue; }
      const v = normalise(k, raw);
      const err = check(v);
      if (err) problems.push(err);
      definition[k] = v;
    }
    if (unknown.length > 0) {
      problems.push(`${unknown.join(', ')}: not recognised ${kind === 'policy' ? 'policy' : 'operator policy'} settings`);
    }
  }
  if (problems.length > 0) throw new PolicyError(`Validation failed\n\n${problems.join('\n')}\n`);
  return { vhost, name, pattern: spec.pattern, applyTo: applyTo as ApplyTo, priority: priority as number, definition: sortKeys(definition), re: re! };
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

export function policyJson(p: Policy): PolicyJson {
  return { vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p.applyTo, definition: { ...p.definition }, priority: p.priority };
}

export interface PolicyTarget {
  kind: 'queue' | 'exchange';
  name: string;
  queueType?: string;   // for queues: classic, quorum or stream
}

function applicable(p: Policy, t: PolicyTarget): boolean {
  if (p.applyTo !== 'all' && p.applyTo !== (t.kind === 'queue' ? 'queues' : 'exchanges')) return false;
  if (t.kind === 'queue') {
    const type = t.queueType ?? 'classic';
    for (const k of Object.keys(p.definition)) {
      if (type === 'stream' ? !STREAM_KEYS.has(k) : NOT_APPLICABLE[type]?.has(k)) return false;
    }
  }
  return p.re.test(t.name);
}

// The policies of one kind, per vhost. Changes are reported through onChange (the broker
// re-applies policies to the vhost's objects and saves its definitions).
export class PolicyStore {
  private readonly byVhost = new Map<string, Map<string, Policy>>();
  // Sorted by priority (highest first), then name: what match() walks.
  private readonly sorted = new Map<string, Policy[]>();

  constructor(readonly kind: PolicyKind, private readonly onChange: (vhost: string) => void) {}

  put(p: Policy): boolean {
    let m = this.byVhost.get(p.vhost);
    if (!m) this.byVhost.set(p.vhost, m = new Map());
    const existed = m.has(p.name);
    m.set(p.name, p);
    this.resort(p.vhost);
    this.onChange(p.vhost);
    return existed;
  }

  delete(vhost: string, name: string): boolean {
    const m = this.byVhost.get(vhost);
    if (!m || !m.delete(name)) return false;
    this.resort(vhost);
    this.onChange(vhost);
    return true;
  }

  // Forgets a deleted vhost's policies (no onChange: its objects are gone).
  dropVhost(vhost: string): void {
    this.byVhost.delete(vhost);
    this.sorted.delete(vhost);
  }

  get(vhost: string, name: string): Policy | undefined {
    return this.byVhost.get(vhost)?.get(name);
  }

  list(vhost?: string): Policy[] {
    const vhosts = vhost === undefined ? [...this.byVhost.keys()].sort() : [vhost];
    const out: Policy[] = [];
    for (const v of vhosts) {
      const m = this.byVhost.get(v);
      if (m) out.push(...[...m.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    }
    return out;
  }

  hasAny(vhost: string): boolean {
    return (this.sorted.get(vhost)?.length ?? 0) > 0;
  }

  match(vhost: string, t: PolicyTarget): Policy | undefined {
    const ps = this.sorted.get(vhost);
    if (!ps) return undefined;
    for (const p of ps) if (applicable(p, t)) return p;
    return undefined;
  }

  private resort(vhost: string): void {
    const m = this.byVhost.get(vhost);
    if (!m || m.size === 0) { this.sorted.delete(vhost); return; }
    this.sorted.set(vhost, [...m.values()].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
  }
}
