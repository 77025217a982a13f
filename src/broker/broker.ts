// The broker: vhosts, users, and the durable definitions behind them (the data directory's
// layout is named in store/data-dir.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readFileIfExists } from '../store/definitions-file';
import { VHost } from './vhost';
import { DEFINITIONS_FILE, METADATA_DIR, TRANSIENT_DIR, hashName, queuesDirOf, vhostsRoot } from '../store/data-dir';
import { DurableDefinitions } from './durable-definitions';
import { definitionsNameProblems } from './names';
import type { User } from './auth/users';
import { AuthStore } from './auth/auth-store';
import { checkQueueLimit } from './auth/limits';
import { countLogin } from './auth/mechanisms';
import { type Definitions, DefinitionsError, exportDefinitions, importDefinitions } from './definitions';
import { log } from '../logger';
import { DiskMonitor } from './disk-monitor';
import { startLoadMonitor, stopLoadMonitor } from './load-monitor';
import { RuntimeParameters } from './runtime-parameters';

export type { Definitions } from './definitions';
export { DefinitionsError } from './definitions';
export { fromJson, toJson } from './definitions/json-args';

export interface BrokerOptions {
  dataDir: string;
  // Users allowed only from loopback (RabbitMQ's loopback_users); defaults to ['guest'].
  loopbackUsers?: string[];
  // Publishers are blocked while the data directory's filesystem has less free space.
  diskFreeLimitBytes?: number;
  // Metadata log bytes before a compaction is considered (default 4 MiB; tests set it low).
  metadataCompactBytes?: number;
}

export class Broker {
  readonly vhosts = new Map<string, VHost>();
  // Users, permissions, topic permissions, limits and the connections they count.
  readonly auth: AuthStore;
  readonly vhostDescriptions = new Map<string, string>();
  readonly version = '0.1.0';
  // Policies, operator policies, parameters, global parameters (src/broker/runtime-parameters.ts).
  readonly runtime: RuntimeParameters = new RuntimeParameters(this);
  private loading = false;
  // Recreating what an earlier run stored (see VHostContext.restoring).
  private restoring = false;
  private closed = false;
  readonly disk: DiskMonitor;
  // How durable definitions are stored: a group-committed log of changes (durable-definitions.ts).
  metadata!: DurableDefinitions;

  private constructor(readonly opts: BrokerOptions) {
    this.auth = new AuthStore({ loopbackUsers: opts.loopbackUsers });
    this.auth.onChange = () => this.saveDefinitions();
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
        this.auth.addDefaultUser();
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
      queueCreating: (v, q) => checkQueueLimit(this.auth.vhostLimit(v.name, 'max-queues'), v.queues.size, q, v.name),
    });
    this.vhosts.set(name, vh);
    this.metadata.put('vhosts', { name });
    return vh;
  }

  // ---- authentication (src/broker/auth) ----------------------------------------------------------

  get users(): Map<string, User> { return this.auth.users; }
  get loopbackUsers(): Set<string> { return this.auth.loopbackUsers; }

  authenticate(username: string, password: string, remoteAddress: string | undefined): User | string {
    const res = this.auth.authenticatePassword(username, password, remoteAddress);
    countLogin(typeof res !== 'string');
    return res;
  }

  canAccessVhost(user: User, vhost: string): boolean {
    return this.auth.canAccessVhost(user.name, vhost);
  }

  // Deleting a vhost closes its connections, deletes its queues (and their data), exchanges,
  // permissions and limits.
  deleteVhost(name: string): boolean {
    const vh = this.vhosts.get(name);
    if (!vh) return false;
    log.info(`deleting vhost '${name}': closing its connections, deleting its queues and exchanges`);
    for (const c of this.auth.tracker.inVhost(name)) c.forceClose(`vhost '${name}' is deleted`);
    for (const q of [...vh.queues.values()]) vh.removeQueue(q);
    vh.unavailable.clear();
    this.vhosts.delete(name);
    this.vhostDescriptions.delete(name);
    fs.rmSync(vh.dir, { recursive: true, force: true });
    this.auth.forgetVhost(name);
    this.runtime.dropVhost(name);
    this.saveDefinitions();
    return true;
  }

  // ---- definitions (src/broker/definitions) ----------------------------------------------------------

  exportDefinitions(): Definitions {
    return exportDefinitions(this);
  }

  // Makes the durable definitions match the broker's: one pass over everything, for the
  // changes that are not recorded one by one (users, permissions, imports; see
  // durable-definitions.ts).
  saveDefinitions(): void {
    if (this.loading || this.closed) return;
    const d = this.exportDefinitions() as unknown as Record<string, unknown>;
    delete d.warren_version;
    this.metadata.reconcile(d);
  }

  // Validates the whole document, then applies it atomically (throws DefinitionsError listing the
  // problems, having changed nothing).
  importDefinitions(d: Definitions, recovering = false): void {
    // Checked as a declare would be, unless the definitions are this broker's own (names.ts).
    if (!recovering) {
      const arr = (v: unknown) => (Array.isArray(v) ? v : []);
      const problems = definitionsNameProblems({ queues: arr(d.queues), exchanges: arr(d.exchanges), bindings: arr(d.bindings) });
      if (problems.length > 0) throw new DefinitionsError(problems);
    }
    const wasLoading = this.loading;
    this.loading = true;
    this.restoring = recovering;
    try {
      importDefinitions(this, d, { recovering });
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
