// The broker: vhosts, users, and the durable definitions behind them (the data directory's
// layout is named in store/data-dir.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readFileIfExists } from '../store/definitions-file';
import { VHost, DEFAULT_EXCHANGES } from './vhost';
import { DEFINITIONS_FILE, METADATA_DIR, TRANSIENT_DIR, hashName, queuesDirOf, vhostsRoot } from '../store/data-dir';
import { DurableDefinitions, bindingItem, exchangeItem, fromJson, isDurableBinding, isDurableExchange, isDurableQueue, queueItem } from './definitions';
import { definitionsNameProblems } from './names';
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
  // Metadata log bytes before a compaction is considered (default 4 MiB; tests set it low).
  metadataCompactBytes?: number;
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
  // Recreating what an earlier run stored (see VHostContext.restoring).
  private restoring = false;
  private closed = false;
  readonly disk: DiskMonitor;
  metadata!: DurableDefinitions;
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
    this.metadata = DurableDefinitions.open(path.join(this.dataDir, METADATA_DIR), () => this.loading, {
      compactMinBytes: this.opts.metadataCompactBytes,
      warn: (m) => log.warn(m),
      error: (m) => log.error(m),
    });
    const legacy = this.metadata.fresh ? readFileIfExists(this.definitionsFile) : null;
    const t0 = Date.now();
    this.loading = true;
    try {
      if (!this.metadata.fresh) {
        this.importDefinitions(this.metadata.toDefinitions() as unknown as Definitions, true);
      } else if (legacy !== null) {
        this.importDefinitions(parseDefinitionsFile(legacy, this.definitionsFile), true);
      } else {
        this.addVhost('/');
        this.users.set('guest', { name: 'guest', passwordHash: hashPassword('guest'), tags: ['administrator'] });
        this.permissions.push({ user: 'guest', vhost: '/', configure: '.*', write: '.*', read: '.*' });
      }
    } finally {
      this.loading = false;
    }
    // The store now holds exactly what was recreated (a binding whose queue is gone, say, is
    // dropped from it too), on disk before anything else happens.
    try {
      this.saveDefinitions();
      this.metadata.store.syncNow();
    } catch (e) {
      // a start on a full disk: what is on disk is what was just loaded, so serving goes on
      log.error(`cannot write the definitions at start: ${(e as Error).message}`);
    }
    let queues = 0, messages = 0;
    this.forEachQueue((q) => { if (q.durable) { queues++; messages += q.messageCount; } });
    log.info(`definitions: ${this.metadata.store.size} entries, ${queues} durable queues holding ${messages} messages, recovered in ${((Date.now() - t0) / 1000).toFixed(3)} s`);
    if (legacy !== null && this.metadata.store.syncedSeq === this.metadata.store.seq) {
      fs.renameSync(this.definitionsFile, this.definitionsFile + '.migrated');
      log.info(`definitions: migrated ${this.definitionsFile} to ${path.join(this.dataDir, METADATA_DIR)}; the old file is kept as ${DEFINITIONS_FILE}.migrated`);
    }
    const damage = this.metadata.store.damageNote;
    if (damage !== null) {
      log.error(`definitions: the metadata store was found damaged (${path.join(this.dataDir, METADATA_DIR, 'DAMAGED')}: ${damage.split('\n').pop()}); queue directories not named by the definitions are kept, not deleted, until that file is removed`);
    } else {
      this.removeOrphanQueueDirs();
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
    const isRestoring = () => this.restoring;
    vh = new VHost(name, {
      dataDir: this.dataDir,
      get restoring() { return isRestoring(); },
      definitionsChanged: () => this.saveDefinitions(),
      journal: this.metadata,
      storeFailed: (e) => this.disk.reportWriteError(e),
      applyPolicies: (v, o) => this.runtime.applyTo(v.name, o),
    });
    this.vhosts.set(name, vh);
    this.metadata.put('vhosts', { name });
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
        if (isDurableExchange(x) && !DEFAULT_EXCHANGES.some(([n]) => n === x.name)) d.exchanges.push(exchangeItem(vh.name, x) as Definitions['exchanges'][number]);
      }
      for (const q of vh.queues.values()) {
        if (isDurableQueue(q)) d.queues.push(queueItem(vh.name, q) as Definitions['queues'][number]);
      }
      for (const u of vh.unavailable.values()) {
        d.queues.push(u.definition);
        d.bindings.push(...u.bindings);
      }
      for (const b of vh.allBindings()) {
        // A binding to an object no longer in the vhost is not exported.
        const dest = b.dest.kind === 'queue' ? vh.queues.get(b.dest.name) : vh.exchanges.get(b.dest.name);
        if (dest !== b.dest || !isDurableBinding(b)) continue;
        d.bindings.push(bindingItem(vh.name, b) as Definitions['bindings'][number]);
      }
    }
    return d;
  }

  // Makes the durable definitions match the broker's: one pass over everything, for the
  // changes that are not recorded one by one (users, permissions, imports; see definitions.ts).
  saveDefinitions(): void {
    if (this.loading || this.closed) return;
    const d = this.exportDefinitions() as unknown as Record<string, unknown>;
    delete d.warren_version;
    this.metadata.reconcile(d);
  }

  importDefinitions(d: Definitions, recovering = false): void {
    const problems = checkDefinitions(d, this.runtime);
    // Checked as a declare would be, unless the definitions are this broker's own (names.ts).
    if (!recovering) problems.push(...definitionsNameProblems(d));
    if (problems.length > 0) throw new DefinitionsError(`definitions refused: ${problems.join('; ')}`);
    const wasLoading = this.loading;
    this.loading = true;
    this.restoring = recovering;
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
        const qargs = fromJson(q.arguments);
        let queue;
        try {
          queue = vh.restoreQueue(q.name, qargs, q.auto_delete);
        } catch (e) {
          // One queue that cannot be recovered (an unreadable file) must neither stop the broker
          // nor lose its data: it stays in the definitions, unavailable, with its directory.
          log.error(`queue '${q.name}' in vhost '${q.vhost}': recovery failed, the queue is unavailable until this is fixed and the broker restarted: ${(e as Error).message}`);
          vh.unavailable.set(q.name, { definition: q, reason: (e as Error).message, bindings: [] });
          continue;
        }
        if (recovering) {
          // One line per queue that had something to recover (thousands of empty queues would
          // drown the log); the total follows in load().
          const ms = Date.now() - t0;
          const line = `queue '${q.name}' in vhost '${q.vhost}': ${queue.messageCount} messages recovered in ${(ms / 1000).toFixed(3)} s`;
          if (queue.messageCount > 0 || ms >= 100) log.info(line);
          else log.debug(line);
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
      this.restoring = false;
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
    await this.metadata.close();
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

// Kept here for the modules that import them from the broker.
export { fromJson, toJson } from './definitions';

// A definitions.json written by an earlier version: an error names the file.
function parseDefinitionsFile(text: string, file: string): Definitions {
  try {
    const d = JSON.parse(text) as unknown;
    if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new Error('not a JSON object');
    return d as Definitions;
  } catch (e) {
    throw new Error(`cannot read definitions from ${file}: ${(e as Error).message}`);
  }
}
