// The broker: vhosts, users, and the durable definitions behind them (the data directory's
// layout is named in store/data-dir.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FieldTable, FieldValue } from '../protocol';
import { readFileIfExists, writeFileAtomic } from '../store/definitions-file';
import { VHost, DEFAULT_EXCHANGES } from './vhost';
import { DEFINITIONS_FILE, TRANSIENT_DIR, hashName, queuesDirOf, vhostsRoot } from '../store/data-dir';
import { type ExchangeType } from './exchange';
import { type Permission, type User, checkPassword, hashPassword, isLoopback } from './users';
import { log } from '../logger';
import { DiskMonitor } from './disk-monitor';
import { startLoadMonitor, stopLoadMonitor } from './load-monitor';
import { type PolicySections, DefinitionsError, RuntimeParameters } from './runtime-parameters';
import { checkDefinitions } from './definitions-check';

export interface BrokerOptions {
  dataDir: string;
  // Users allowed only from loopback (RabbitMQ's loopback_users); defaults to ['guest'].
  loopbackUsers?: string[];
  // Publishers are blocked while the data directory's filesystem has less free space.
  diskFreeLimitBytes?: number;
}

export interface Definitions extends PolicySections {
  warren_version?: string;
  users: Array<{ name: string; password_hash: string; hashing_algorithm?: string; tags: string | string[] }>;
  vhosts: Array<{ name: string }>;
  permissions: Array<{ user: string; vhost: string; configure: string; write: string; read: string }>;
  exchanges: Array<{ name: string; vhost: string; type: string; durable: boolean; auto_delete: boolean; internal: boolean; arguments: Record<string, unknown> }>;
  queues: Array<{ name: string; vhost: string; durable: boolean; auto_delete: boolean; arguments: Record<string, unknown> }>;
  bindings: Array<{ source: string; vhost: string; destination: string; destination_type: 'queue' | 'exchange'; routing_key: string; arguments: Record<string, unknown> }>;
}

export class Broker {
  readonly vhosts = new Map<string, VHost>();
  readonly users = new Map<string, User>();
  readonly permissions: Permission[] = [];
  readonly loopbackUsers: Set<string>;
  private loading = false;
  private closed = false;
  readonly disk: DiskMonitor;
  // Policies, operator policies, parameters, global parameters (src/broker/runtime-parameters.ts).
  readonly runtime: RuntimeParameters = new RuntimeParameters(this);

  private constructor(readonly opts: BrokerOptions) {
    this.loopbackUsers = new Set(opts.loopbackUsers ?? ['guest']);
    this.disk = new DiskMonitor(opts.dataDir, opts.diskFreeLimitBytes ?? 50_000_000);
  }

  get dataDir(): string { return this.opts.dataDir; }
  private get definitionsFile(): string { return path.join(this.dataDir, DEFINITIONS_FILE); }

  static open(opts: BrokerOptions): Broker {
    const b = new Broker(opts);
    b.load();
    b.disk.start();
    // Under a disk alarm, fully acked open segments are given back (draining a queue then
    // clears the alarm), whatever their size.
    b.disk.whileAlarmed(() => b.forEachQueue((q) => q.reclaim()));
    startLoadMonitor();
    return b;
  }

  private load(): void {
    fs.mkdirSync(this.dataDir, { recursive: true });
    fs.rmSync(path.join(this.dataDir, TRANSIENT_DIR), { recursive: true, force: true });
    const text = readFileIfExists(this.definitionsFile);
    this.loading = true;
    try {
      if (text === null) {
        this.addVhost('/');
        this.users.set('guest', { name: 'guest', passwordHash: hashPassword('guest'), tags: ['administrator'] });
        this.permissions.push({ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' });
      } else {
        this.importDefinitions(JSON.parse(text) as Definitions, true);
      }
    } finally {
      this.loading = false;
    }
    this.removeOrphanQueueDirs();
    try {
      this.saveDefinitions();
    } catch (e) {
      // a start on a full disk: the file on disk is what was just loaded, so serving goes on
      log.error(`cannot rewrite the definitions at start: ${(e as Error).message}`);
    }
  }

  // Queue directories not named by the definitions belong to queues whose declare never
  // completed (a crash before definitions.json was replaced) or that were deleted.
  private removeOrphanQueueDirs(): void {
    const root = vhostsRoot(this.dataDir);
    if (!fs.existsSync(root)) return;
    const known = new Map<string, Set<string>>();
    for (const vh of this.vhosts.values()) {
      const names = [...vh.queues.values()].filter((q) => q.durable).map((q) => q.name).concat([...vh.unavailable.keys()]);
      known.set(hashName(vh.name), new Set(names.map(hashName)));
    }
    for (const vdir of fs.readdirSync(root)) {
      const qs = known.get(vdir);
      const qroot = queuesDirOf(path.join(root, vdir));
      if (!fs.existsSync(qroot)) continue;
      for (const qdir of fs.readdirSync(qroot)) {
        if (!qs?.has(qdir)) {
          log.warn(`removing orphaned queue directory ${path.join(qroot, qdir)}`);
          fs.rmSync(path.join(qroot, qdir), { recursive: true, force: true });
        }
      }
    }
  }

  addVhost(name: string): VHost {
    let vh = this.vhosts.get(name);
    if (vh) return vh;
    vh = new VHost(name, {
      dataDir: this.dataDir, definitionsChanged: () => this.saveDefinitions(), storeFailed: (e) => this.disk.reportWriteError(e),
      applyPolicies: (v, o) => this.runtime.applyTo(v.name, o),
    });
    this.vhosts.set(name, vh);
    this.saveDefinitions();
    return vh;
  }

  // ---- authentication ---------------------------------------------------------------------------

  authenticate(username: string, password: string, remoteAddress: string | undefined): User | string {
    const u = this.users.get(username);
    if (!u || !checkPassword(u, password)) return `user '${username}' - invalid credentials`;
    if (this.loopbackUsers.has(username) && !isLoopback(remoteAddress)) {
      return `user '${username}' can only connect via localhost`;
    }
    return u;
  }

  canAccessVhost(user: User, vhost: string): boolean {
    return this.permissions.some((p) => p.user === user.name && p.vhost === vhost);
  }

  // ---- definitions ------------------------------------------------------------------------------

  exportDefinitions(): Definitions {
    const d: Definitions = {
      warren_version: '0.1.0',
      users: [...this.users.values()].map((u) => ({
        name: u.name, password_hash: u.passwordHash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: u.tags,
      })),
      vhosts: [...this.vhosts.keys()].map((name) => ({ name })),
      permissions: this.permissions.map((p) => ({ ...p })),
      ...this.runtime.exportSections(),
      exchanges: [], queues: [], bindings: [],
    };
    for (const vh of this.vhosts.values()) {
      for (const x of vh.exchanges.values()) {
        if (x.name === '' || !x.durable || DEFAULT_EXCHANGES.some(([n]) => n === x.name)) continue;
        d.exchanges.push({ name: x.name, vhost: vh.name, type: x.type, durable: true, auto_delete: x.autoDelete, internal: x.internal, arguments: toJson(x.args) });
      }
      for (const q of vh.queues.values()) {
        if (!q.durable || q.exclusiveOwner !== null) continue;
        d.queues.push({ name: q.name, vhost: vh.name, durable: true, auto_delete: q.autoDelete, arguments: toJson(q.rawArgs) });
      }
      for (const u of vh.unavailable.values()) {
        d.queues.push(u.definition);
        d.bindings.push(...u.bindings);
      }
      for (const b of vh.allBindings()) {
        if (!b.source.durable) continue;
        const dest = b.dest;
        if (dest.kind === 'queue') {
          const q = vh.queues.get(dest.name);
          if (!q || !q.durable || q.exclusiveOwner !== null) continue;
        } else {
          const x = vh.exchanges.get(dest.name);
          if (!x || !x.durable) continue;
        }
        d.bindings.push({ source: b.source.name, vhost: vh.name, destination: dest.name, destination_type: dest.kind, routing_key: b.routingKey, arguments: toJson(b.args) });
      }
    }
    return d;
  }

  saveDefinitions(): void {
    if (this.loading || this.closed) return;
    writeFileAtomic(this.definitionsFile, JSON.stringify(this.exportDefinitions(), null, 1));
  }

  importDefinitions(d: Definitions, recovering = false): void {
    const problems = checkDefinitions(d, this.runtime);
    if (problems.length > 0) throw new DefinitionsError(`definitions refused: ${problems.join('; ')}`);
    const wasLoading = this.loading;
    this.loading = true;
    try {
      for (const u of d.users ?? []) {
        const tags = Array.isArray(u.tags) ? u.tags : String(u.tags ?? '').split(',').filter(Boolean);
        this.users.set(u.name, { name: u.name, passwordHash: u.password_hash, tags });
      }
      for (const v of d.vhosts ?? []) this.addVhost(v.name);
      for (const p of d.permissions ?? []) {
        const i = this.permissions.findIndex((o) => o.user === p.user && o.vhost === p.vhost);
        if (i >= 0) this.permissions.splice(i, 1);
        this.permissions.push({ user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read });
      }
      this.runtime.apply(d);
      for (const x of d.exchanges ?? []) {
        const vh = this.addVhost(x.vhost);
        if (vh.exchanges.has(x.name)) continue;
        vh.declareExchange(x.name, { type: x.type as ExchangeType, passive: false, durable: x.durable, autoDelete: x.auto_delete, internal: x.internal, args: fromJson(x.arguments) });
      }
      for (const q of d.queues ?? []) {
        const vh = this.addVhost(q.vhost);
        if (vh.queues.has(q.name)) continue;
        const t0 = Date.now();
        let queue;
        try {
          queue = vh.restoreQueue(q.name, fromJson(q.arguments), q.auto_delete);
        } catch (e) {
          // One queue that cannot be recovered (an unreadable file) must neither stop the broker
          // nor lose its data: it stays in the definitions, unavailable, with its directory.
          log.error(`queue '${q.name}' in vhost '${q.vhost}': recovery failed, the queue is unavailable until this is fixed and the broker restarted: ${(e as Error).message}`);
          vh.unavailable.set(q.name, { definition: q, reason: (e as Error).message, bindings: [] });
          continue;
        }
        if (recovering) {
          const s = ((Date.now() - t0) / 1000).toFixed(3);
          log.info(`queue '${q.name}' in vhost '${q.vhost}': ${queue.messageCount} messages recovered in ${s} s`);
        }
      }
      for (const b of d.bindings ?? []) {
        const vh = this.addVhost(b.vhost);
        const down = b.destination_type === 'queue' ? vh.unavailable.get(b.destination) : undefined;
        if (down !== undefined) { down.bindings.push(b); continue; }
        try {
          if (b.destination_type === 'queue') vh.bindQueue(b.destination, b.source, b.routing_key, fromJson(b.arguments), null);
          else vh.bindExchange(b.destination, b.source, b.routing_key, fromJson(b.arguments));
        } catch (e) {
          log.warn(`definitions: skipping binding ${b.source} -> ${b.destination}: ${(e as Error).message}`);
        }
      }
    } finally {
      this.loading = wasLoading;
    }
    this.saveDefinitions();
  }

  forEachQueue(fn: (q: import('./queue').Queue) => void): void {
    for (const vh of this.vhosts.values()) for (const q of vh.queues.values()) fn(q);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.disk.stop();
    stopLoadMonitor();
    this.saveDefinitions();
    this.closed = true;
    const all: Promise<void>[] = [];
    for (const vh of this.vhosts.values()) {
      for (const q of vh.queues.values()) {
        if (q.durable) all.push(q.close());
        else q.delete();
      }
    }
    await Promise.all(all);
    fs.rmSync(path.join(this.dataDir, TRANSIENT_DIR), { recursive: true, force: true });
  }
}

function toJson(t: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) out[k] = jsonValue(v);
  return out;
}

function jsonValue(v: FieldValue): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Buffer.isBuffer(v)) return v.toString();
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v && typeof v === 'object') {
    if ('type' in v && 'value' in v && Object.keys(v).length === 2) return jsonValue((v as { value: FieldValue }).value);
    return toJson(v as FieldTable);
  }
  return v;
}

export function fromJson(o: Record<string, unknown> | undefined): FieldTable {
  const out: FieldTable = {};
  if (!o) return out;
  for (const [k, v] of Object.entries(o)) out[k] = fromJsonValue(v);
  return out;
}

function fromJsonValue(v: unknown): FieldValue {
  if (Array.isArray(v)) return v.map(fromJsonValue);
  if (v && typeof v === 'object') return fromJson(v as Record<string, unknown>);
  return v as FieldValue;
}
