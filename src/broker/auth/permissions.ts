// Permissions as RabbitMQ's internal backend has them: per (user, vhost), a configure, a write
// and a read regular expression, matched anywhere in the resource name (re:run, so "^orders\."
// and "orders" both work); "" means "^$", which matches no resource. Topic permissions: per
// (user, vhost, exchange), a write and a read expression matched against routing keys of topic
// exchanges, with {username} and {vhost} expanded; a user without topic permissions on an
// exchange may use every routing key.

export type PermKind = 'configure' | 'write' | 'read';

export interface Permission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export interface TopicPermission {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

// Compiled expressions, shared by every table and connection. Patterns come only from
// administrators, but a bound keeps a stream of distinct ones from growing the cache forever.
const compiled = new Map<string, RegExp>();
const MAX_COMPILED = 10_000;

export function compilePattern(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RegExp(pattern === '' ? '^$' : pattern);
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    compiled.set(pattern, re);
  }
  return re;
}

// Why a pattern cannot be used, or null. JavaScript's RegExp stands in for PCRE: the common
// syntax is the same; what only PCRE knows (inline flags, possessive quantifiers) is refused
// here rather than misread later.
export function patternProblem(pattern: unknown): string | null {
  if (typeof pattern !== 'string') return `expected a string, got ${JSON.stringify(pattern)}`;
  try {
    compilePattern(pattern);
    return null;
  } catch (e) {
    return `invalid regular expression '${pattern}': ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
}

export function matches(pattern: string, name: string): boolean {
  if (pattern === '.*') return true;
  return compilePattern(pattern).test(name);
}

// {username} and {vhost} in a topic permission stand for the connection's user and vhost.
export function expandTopicPattern(pattern: string, user: string, vhost: string): string {
  if (!pattern.includes('{')) return pattern;
  return pattern.split('{username}').join(user).split('{vhost}').join(vhost);
}

export class PermissionTable {
  private readonly byVhost = new Map<string, Map<string, Permission>>();

  get(user: string, vhost: string): Permission | undefined {
    return this.byVhost.get(vhost)?.get(user);
  }

  set(p: Permission): void {
    let m = this.byVhost.get(p.vhost);
    if (!m) { m = new Map(); this.byVhost.set(p.vhost, m); }
    m.set(p.user, { user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read });
  }

  delete(user: string, vhost: string): boolean {
    const m = this.byVhost.get(vhost);
    if (!m || !m.delete(user)) return false;
    if (m.size === 0) this.byVhost.delete(vhost);
    return true;
  }

  deleteVhost(vhost: string): void { this.byVhost.delete(vhost); }

  deleteUser(user: string): void {
    for (const [v, m] of this.byVhost) { m.delete(user); if (m.size === 0) this.byVhost.delete(v); }
  }

  list(): Permission[] {
    const out: Permission[] = [];
    for (const m of this.byVhost.values()) for (const p of m.values()) out.push({ ...p });
    return out;
  }

  clear(): void { this.byVhost.clear(); }
}

export class TopicPermissionTable {
  // vhost -> user -> exchange -> permission
  private readonly byVhost = new Map<string, Map<string, Map<string, TopicPermission>>>();

  forUser(user: string, vhost: string): Map<string, TopicPermission> | undefined {
    return this.byVhost.get(vhost)?.get(user);
  }

  set(p: TopicPermission): void {
    let users = this.byVhost.get(p.vhost);
    if (!users) { users = new Map(); this.byVhost.set(p.vhost, users); }
    let xs = users.get(p.user);
    if (!xs) { xs = new Map(); users.set(p.user, xs); }
    xs.set(p.exchange, { user: p.user, vhost: p.vhost, exchange: p.exchange, write: p.write, read: p.read });
  }

  // Removes one exchange's entry, or all of the user's in the vhost when exchange is undefined.
  delete(user: string, vhost: string, exchange?: string): boolean {
    const users = this.byVhost.get(vhost);
    const xs = users?.get(user);
    if (!users || !xs) return false;
    let removed: boolean;
    if (exchange === undefined) { removed = xs.size > 0; xs.clear(); } else removed = xs.delete(exchange);
    if (xs.size === 0) users.delete(user);
    if (users.size === 0) this.byVhost.delete(vhost);
    return removed;
  }

  deleteVhost(vhost: string): void { this.byVhost.delete(vhost); }

  deleteUser(user: string): void {
    for (const [v, users] of this.byVhost) { users.delete(user); if (users.size === 0) this.byVhost.delete(v); }
  }

  list(): TopicPermission[] {
    const out: TopicPermission[] = [];
    for (const users of this.byVhost.values()) for (const xs of users.values()) for (const p of xs.values()) out.push({ ...p });
    return out;
  }

  clear(): void { this.byVhost.clear(); }
}
