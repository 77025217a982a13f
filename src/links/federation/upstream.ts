// A federation upstream (the value of a `federation-upstream` parameter) read with RabbitMQ's
// defaults, and the upstreams a policy names (one upstream, a set, or the set "all").
import type { ParameterStore } from '../../broker/parameters';
import type { AckMode } from '../shovel-config';

export interface UpstreamConfig {
  name: string;
  uris: string[];
  prefetch: number;
  /** milliseconds */
  reconnectDelay: number;
  ackMode: AckMode;
  trustUserId: boolean;
  /** the upstream's exchange or queue name, when it differs from the federated one's */
  exchange?: string;
  queue?: string;
  maxHops: number;
  expires?: number;
  messageTtl?: number;
}

export function parseUpstream(name: string, v: Record<string, unknown>): UpstreamConfig {
  const num = (k: string) => (typeof v[k] === 'number' ? v[k] : undefined);
  return {
    name,
    uris: (Array.isArray(v.uri) ? v.uri : [v.uri]) as string[],
    prefetch: num('prefetch-count') ?? 1000,
    reconnectDelay: (num('reconnect-delay') ?? 5) * 1000,
    ackMode: (v['ack-mode'] ?? 'on-confirm') as AckMode,
    trustUserId: v['trust-user-id'] === true,
    exchange: typeof v.exchange === 'string' ? v.exchange : undefined,
    queue: typeof v.queue === 'string' ? v.queue : undefined,
    maxHops: num('max-hops') ?? 1,
    expires: num('expires'),
    messageTtl: num('message-ttl'),
  };
}

/** The upstreams a policy definition points at in a vhost (none when they do not exist). */
export function upstreamsOf(params: ParameterStore, vhost: string, def: Record<string, unknown>): UpstreamConfig[] {
  const one = def['federation-upstream'];
  const set = def['federation-upstream-set'];
  const get = (name: string) => {
    const p = params.get('federation-upstream', vhost, name);
    return p ? parseUpstream(name, p.value as Record<string, unknown>) : undefined;
  };
  if (typeof one === 'string') {
    const u = get(one);
    return u ? [u] : [];
  }
  if (typeof set !== 'string') return [];
  if (set === 'all') return params.list('federation-upstream', vhost).map((p) => parseUpstream(p.name, p.value as Record<string, unknown>));
  const members = params.get('federation-upstream-set', vhost, set)?.value;
  if (!Array.isArray(members)) return [];
  const out: UpstreamConfig[] = [];
  for (const m of members as Array<Record<string, unknown>>) {
    const u = get(String(m.upstream));
    // a set member may override the upstream's keys, as in RabbitMQ
    if (u) out.push(parseUpstream(u.name, { ...paramsValue(params, vhost, u.name), ...m }));
  }
  return out;
}

function paramsValue(params: ParameterStore, vhost: string, name: string): Record<string, unknown> {
  return (params.get('federation-upstream', vhost, name)?.value ?? {}) as Record<string, unknown>;
}
