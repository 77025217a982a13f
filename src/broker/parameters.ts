// Runtime parameters, as RabbitMQ names them: per-vhost values of a component (shovel,
// federation-upstream, federation-upstream-set, operator_policy, vhost-limits ...) and global
// parameters (cluster_name ...). Each component has a handler that validates and stores its
// values; components without a handler are refused, never stored silently.
//
// The shovel and federation components are stored and validated here; the links themselves
// (src/links/) watch this store and start and stop with its values.

export class ParameterError extends Error {}

export interface ParameterJson {
  vhost: string;
  component: string;
  name: string;
  value: unknown;
}

export interface ComponentHandler {
  // Throws ParameterError naming what is wrong. Returns whether the parameter existed.
  set(vhost: string, name: string, value: unknown): boolean;
  clear(vhost: string, name: string): boolean;
  list(vhost?: string): Array<{ vhost: string; name: string; value: unknown }>;
}

type Validate = (value: unknown) => string[];

/** Told of every value set (value) or cleared (undefined): the links (src/links/) start and stop on it. */
export type ParameterWatcher = (vhost: string, name: string, value: unknown) => void;

// A component whose values live in this store, checked by `validate`.
export class StoredComponent implements ComponentHandler {
  private readonly values = new Map<string, Map<string, unknown>>();
  watcher: ParameterWatcher | null = null;

  constructor(private readonly component: string, private readonly validate: Validate, private readonly onChange: () => void) {}

  set(vhost: string, name: string, value: unknown): boolean {
    const problems = this.validate(value);
    if (problems.length > 0) throw new ParameterError(`Validation failed\n\n${problems.join('\n')}\n`);
    let m = this.values.get(vhost);
    if (!m) this.values.set(vhost, m = new Map());
    const existed = m.has(name);
    m.set(name, value);
    this.onChange();
    this.watcher?.(vhost, name, value);
    return existed;
  }

  clear(vhost: string, name: string): boolean {
    const ok = this.values.get(vhost)?.delete(name) ?? false;
    if (ok) this.onChange();
    if (ok) this.watcher?.(vhost, name, undefined);
    return ok;
  }

  list(vhost?: string): Array<{ vhost: string; name: string; value: unknown }> {
    const out: Array<{ vhost: string; name: string; value: unknown }> = [];
    const vhosts = vhost === undefined ? [...this.values.keys()].sort() : [vhost];
    for (const v of vhosts) {
      const m = this.values.get(v);
      if (!m) continue;
      for (const name of [...m.keys()].sort()) out.push({ vhost: v, name, value: m.get(name) });
    }
    return out;
  }

  dropVhost(vhost: string): void {
    const m = this.values.get(vhost);
    this.values.delete(vhost);
    if (m && this.watcher) for (const name of m.keys()) this.watcher(vhost, name, undefined);
  }

  toString(): string { return this.component; }
}

export class ParameterStore {
  private readonly components = new Map<string, ComponentHandler>();

  register(component: string, handler: ComponentHandler): void {
    this.components.set(component, handler);
  }

  /** Watch the values of a stored component (one watcher each). */
  watch(component: string, w: ParameterWatcher | null): void {
    const h = this.components.get(component);
    if (h instanceof StoredComponent) h.watcher = w;
  }

  has(component: string): boolean {
    return this.components.has(component);
  }

  private handler(component: string): ComponentHandler {
    const h = this.components.get(component);
    if (!h) throw new ParameterError(`Validation failed\n\ncomponent ${component} not found\n`);
    return h;
  }

  set(component: string, vhost: string, name: string, value: unknown): boolean {
    return this.handler(component).set(vhost, name, value);
  }

  clear(component: string, vhost: string, name: string): boolean {
    return this.handler(component).clear(vhost, name);
  }

  get(component: string, vhost: string, name: string): ParameterJson | undefined {
    const h = this.components.get(component);
    const p = h?.list(vhost).find((x) => x.name === name);
    return p ? { vhost, component, name, value: p.value } : undefined;
  }

  // Every parameter, or those of one component and/or vhost, in RabbitMQ's JSON shape.
  list(component?: string, vhost?: string): ParameterJson[] {
    const comps = component === undefined ? [...this.components.keys()].sort() : [component];
    const out: ParameterJson[] = [];
    for (const c of comps) {
      const h = this.components.get(c);
      if (!h) continue;
      for (const p of h.list(vhost)) out.push({ value: p.value, vhost: p.vhost, component: c, name: p.name });
    }
    return out;
  }

  dropVhost(vhost: string): void {
    for (const h of this.components.values()) if (h instanceof StoredComponent) h.dropVhost(vhost);
  }
}

// ---- shapes of the shovel and federation values (checked before the links exist) --------------

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isUri = (v: unknown) => (typeof v === 'string' && v !== '') || (Array.isArray(v) && v.length > 0 && v.every((u) => typeof u === 'string'));
const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function checkFields(value: Record<string, unknown>, fields: Record<string, (v: unknown) => boolean>): string[] {
  const out: string[] = [];
  for (const [k, ok] of Object.entries(fields)) {
    if (value[k] !== undefined && !ok(value[k])) out.push(`${k} has an invalid value: ${JSON.stringify(value[k])}`);
  }
  return out;
}

// The shovel's checks live with the shovel (src/links/shovel-config.ts).
export { validateShovel } from '../links/shovel-config';

export function validateFederationUpstream(value: unknown): string[] {
  if (!isObj(value)) return ['federation upstream definition must be a JSON object'];
  const out: string[] = [];
  if (value['uri'] === undefined) out.push('Key "uri" not found in federation-upstream');
  out.push(...checkFields(value, {
    uri: isUri, 'prefetch-count': isInt, 'reconnect-delay': isInt, 'max-hops': (v) => isInt(v) && (v as number) >= 1,
    expires: isInt, 'message-ttl': isInt, exchange: (v) => typeof v === 'string', queue: (v) => typeof v === 'string',
    'consumer-tag': (v) => typeof v === 'string', 'trust-user-id': (v) => typeof v === 'boolean',
    'ack-mode': (v) => v === 'on-confirm' || v === 'on-publish' || v === 'no-ack', 'ha-policy': (v) => typeof v === 'string',
  }));
  return out;
}

export function validateFederationUpstreamSet(value: unknown): string[] {
  if (!Array.isArray(value)) return ['federation upstream set must be a JSON array'];
  const out: string[] = [];
  value.forEach((u, i) => {
    if (!isObj(u) || typeof u['upstream'] !== 'string') out.push(`element ${i}: Key "upstream" not found in federation-upstream-set`);
  });
  return out;
}
