// The broker: vhosts, users, and the durable definitions behind them (the data directory's
// layout is named in store/data-dir.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readFileIfExists, writeFileAtomic } from '../store/definitions-file';
import { VHost } from './vhost';
import { DEFINITIONS_FILE, TRANSIENT_DIR, hashName, queuesDirOf, vhostsRoot } from '../store/data-dir';
import type { User } from './auth/users';
import { AuthStore } from './auth/auth-store';
import { checkQueueLimit } from './auth/limits';
import { countLogin } from './auth/mechanisms';
import { type Definitions, exportDefinitions, importDefinitions } from './definitions';
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
  private closed = false;
  readonly disk: DiskMonitor;

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
    const text = readFileIfExists(this.definitionsFile);
    this.loading = true;
    try {
      if (text === null) {
        this.addVhost('/');
        this.auth.addDefaultUser();
      } else {
        let doc: Definitions;
        try {
          doc = JSON.parse(text) as Definitions;
        } catch (e) {
          throw new Error(`cannot read ${this.definitionsFile}: ${(e as Error).message}`);
        }
        this.importDefinitions(doc, true);
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
      dataDir: this.dataDir,
      definitionsChanged: () => this.saveDefinitions(),
      storeFailed: (e) => this.disk.reportWriteError(e),
      applyPolicies: (v, o) => this.runtime.applyTo(v.name, o),
      queueCreating: (v, q) => checkQueueLimit(this.auth.vhostLimit(v.name, 'max-queues'), v.queues.size, q, v.name),
    });
    this.vhosts.set(name, vh);
    this.saveDefinitions();
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

  saveDefinitions(): void {
    if (this.loading || this.closed) return;
    writeFileAtomic(this.definitionsFile, JSON.stringify(this.exportDefinitions(), null, 1));
  }

  // Validates the whole document, then applies it atomically (throws DefinitionsError listing the
  // problems, having changed nothing).
  importDefinitions(d: Definitions, recovering = false): void {
    const wasLoading = this.loading;
    this.loading = true;
    try {
      importDefinitions(this, d, { recovering });
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
