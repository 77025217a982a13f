// Vhost limits (max-connections, max-queues) and user limits (max-connections, max-channels),
// as RabbitMQ has them: integers, a negative value meaning "no limit", 0 allowing nothing. The
// tracker counts open AMQP connections per vhost and per user and channels per user, and knows
// the connections so that deleting a vhost or a user can close them.
import { AmqpError, ReplyCode } from '../errors';

export type VhostLimitName = 'max-connections' | 'max-queues';
export type UserLimitName = 'max-connections' | 'max-channels';
export type VhostLimits = Partial<Record<VhostLimitName, number>>;
export type UserLimits = Partial<Record<UserLimitName, number>>;

const NAMES = { vhost: ['max-connections', 'max-queues'], user: ['max-connections', 'max-channels'] } as const;

export function isLimitName(kind: 'vhost' | 'user', name: string): boolean {
  return (NAMES[kind] as readonly string[]).includes(name);
}

export function limitValueProblem(name: string, v: unknown): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `${name} should be an integer, got ${JSON.stringify(v)}`;
  return null;
}

// Why a limits object cannot be used, or null.
export function limitsProblem(kind: 'vhost' | 'user', o: unknown): string | null {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) return `${kind} limits must be an object`;
  for (const [k, v] of Object.entries(o)) {
    if (!isLimitName(kind, k)) return `unrecognised ${kind} limit '${k}' (known: ${NAMES[kind].join(', ')})`;
    const p = limitValueProblem(k, v);
    if (p) return p;
  }
  return null;
}

// The limit in force, or null for none (absent or negative).
export function limitOf(limits: Partial<Record<string, number>> | undefined, name: string): number | null {
  const v = limits?.[name];
  return v === undefined || v < 0 ? null : v;
}

// What the tracker needs of an open AMQP connection.
export interface TrackedConnection {
  readonly userName: string;
  readonly vhostName: string;
  // Closes the connection with 320 CONNECTION_FORCED and this explanation.
  forceClose(explanation: string): void;
}

export class ConnectionTracker {
  private readonly byVhost = new Map<string, Set<TrackedConnection>>();
  private readonly byUser = new Map<string, Set<TrackedConnection>>();
  private readonly channelsByUser = new Map<string, number>();

  add(c: TrackedConnection): void {
    setOf(this.byVhost, c.vhostName).add(c);
    setOf(this.byUser, c.userName).add(c);
  }

  remove(c: TrackedConnection): void {
    dropFrom(this.byVhost, c.vhostName, c);
    dropFrom(this.byUser, c.userName, c);
  }

  inVhost(vhost: string): TrackedConnection[] { return [...(this.byVhost.get(vhost) ?? [])]; }
  ofUser(user: string): TrackedConnection[] { return [...(this.byUser.get(user) ?? [])]; }
  connectionsInVhost(vhost: string): number { return this.byVhost.get(vhost)?.size ?? 0; }
  connectionsOfUser(user: string): number { return this.byUser.get(user)?.size ?? 0; }
  channelsOfUser(user: string): number { return this.channelsByUser.get(user) ?? 0; }

  channelsChanged(user: string, delta: number): void {
    const n = (this.channelsByUser.get(user) ?? 0) + delta;
    if (n <= 0) this.channelsByUser.delete(user);
    else this.channelsByUser.set(user, n);
  }
}

function setOf<K, V>(m: Map<K, Set<V>>, k: K): Set<V> {
  let s = m.get(k);
  if (!s) { s = new Set(); m.set(k, s); }
  return s;
}

function dropFrom<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const s = m.get(k);
  if (!s) return;
  s.delete(v);
  if (s.size === 0) m.delete(k);
}

// ---- the checks, with RabbitMQ's reply texts --------------------------------------------------

const notAllowed = (text: string) => new AmqpError(ReplyCode.NOT_ALLOWED, text);

export function checkNodeConnectionLimit(limit: number | null, current: number): void {
  if (limit !== null && current > limit) throw notAllowed(`connection refused: node connection limit (${limit}) is reached`);
}

export function checkVhostConnectionLimit(limit: number | null, current: number, vhost: string, user: string): void {
  if (limit !== null && current >= limit) {
    throw notAllowed(`access to vhost '${vhost}' refused for user '${user}': connection limit (${limit}) is reached`);
  }
}

export function checkUserConnectionLimit(limit: number | null, current: number, user: string): void {
  if (limit !== null && current >= limit) throw notAllowed(`connection refused for user '${user}': user connection limit (${limit}) is reached`);
}

export function checkUserChannelLimit(limit: number | null, current: number, user: string): void {
  if (limit !== null && current >= limit) {
    throw notAllowed(`number of channels opened for user '${user}' has reached the maximum allowed user limit of (${limit})`);
  }
}

export function checkQueueLimit(limit: number | null, current: number, queue: string, vhost: string): void {
  if (limit !== null && current >= limit) {
    throw new AmqpError(ReplyCode.PRECONDITION_FAILED, `cannot declare queue '${queue}': queue limit in vhost '${vhost}' (${limit}) is reached`);
  }
}
