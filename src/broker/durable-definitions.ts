// How the broker's durable definitions are stored: one entry of the metadata store
// (src/store/metadata-store.ts) per object, under the name of its section in a definitions file
// ("vhosts", "users", "permissions", "exchanges", "queues", "bindings", and any section added
// later), its value being the object exactly as a definitions file holds it. Reading the store
// back is therefore reading a definitions file.
//
// Two ways in:
//   - the hot path: a declare, bind or delete records its one change (exchangeDeclared(), ...),
//     at a cost that does not depend on how many objects exist;
//   - reconcile(): makes the store match a whole export of the broker (an import, a change to
//     users or permissions, startup, shutdown). It costs one pass over every object, and it is
//     what makes a new section durable without any change here.
// Replies that promise durability (declare-ok, bind-ok, ... and the HTTP API's 201/204) wait for
// the group commit that covers the change: see syncedSince().
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MetadataStore, type MetadataStoreOptions } from '../store/metadata-store';
import { afterReplicas } from './replica-barrier';
import type { Binding } from './exchange';
import { type Exchange, tableKey } from './exchange';
import type { Queue } from './queue';
import { fromJson, toJson } from './definitions/json-args';

// The definitions file's shape; each section is an array of objects (see broker.ts Definitions).
export type DefinitionItem = Record<string, unknown>;
export type DefinitionSections = Record<string, unknown>;

// Sections in the order an import needs them (what an object refers to comes first); sections
// not named here follow, before exchanges.
const ORDER = ['vhosts', 'users', 'permissions', 'topic_permissions'];
const LAST = ['exchanges', 'queues', 'bindings'];

// The identity of an object within its section.
export function entryKey(kind: string, item: DefinitionItem): string {
  switch (kind) {
    case 'vhosts':
    case 'users':
    case 'global_parameters':
      return String(item.name);
    case 'permissions':
      return JSON.stringify([item.user, item.vhost]);
    case 'topic_permissions':
      return JSON.stringify([item.user, item.vhost, item.exchange]);
    case 'exchanges':
    case 'queues':
    case 'policies':
    case 'operator_policies':
      return JSON.stringify([item.vhost, item.name]);
    case 'parameters':
      return JSON.stringify([item.vhost, item.component, item.name]);
    case 'bindings':
      return JSON.stringify([item.vhost, item.source, item.destination_type, item.destination, item.routing_key,
        tableKey(fromJson(item.arguments as Record<string, unknown> | undefined))]);
    default:
      // An unknown section: the whole object is its identity (a change is a delete and a put).
      return JSON.stringify(item);
  }
}

// ---- objects as definitions-file items ------------------------------------------------------------

export function exchangeItem(vhost: string, x: Exchange): DefinitionItem {
  return { name: x.name, vhost, type: x.type, durable: true, auto_delete: x.autoDelete, internal: x.internal, arguments: toJson(x.args) };
}

export function queueItem(vhost: string, q: Queue): DefinitionItem {
  return { name: q.name, vhost, durable: true, auto_delete: q.autoDelete, arguments: toJson(q.rawArgs) };
}

export function bindingItem(vhost: string, b: Binding): DefinitionItem {
  return { source: b.source.name, vhost, destination: b.dest.name, destination_type: b.dest.kind, routing_key: b.routingKey, arguments: toJson(b.args) };
}

export function isDurableExchange(x: Exchange): boolean {
  return x.durable && x.name !== '' && !x.name.startsWith('amq.');
}

export function isDurableQueue(q: Queue): boolean {
  return q.durable && q.exclusiveOwner === null;
}

export function isDurableBinding(b: Binding): boolean {
  if (!b.source.durable) return false;
  return b.dest.kind === 'queue' ? isDurableQueue(b.dest as Queue) : (b.dest as Exchange).durable;
}

// ---- the store ------------------------------------------------------------------------------------

// What a channel needs to answer a change once it is durable.
export interface DefinitionsSync {
  readonly seq: number;
  syncedSince(mark: number): Promise<void> | null;
}

export class DurableDefinitions implements DefinitionsSync {
  private constructor(readonly store: MetadataStore, private readonly muted: () => boolean) {}

  // muted: true while the broker recreates what the store holds (nothing to record then).
  static open(dir: string, muted: () => boolean, opts: MetadataStoreOptions = {}): DurableDefinitions {
    return new DurableDefinitions(MetadataStore.open(dir, opts), muted);
  }

  get fresh(): boolean { return this.store.fresh; }

  // Sequence number of the last change recorded.
  get seq(): number { return this.store.seq; }

  // null when nothing was recorded since `mark` (a seq read earlier) or it is all on disk
  // already; otherwise resolves when it is.
  syncedSince(mark: number): Promise<void> | null {
    if (this.store.seq === mark) return null;
    const p = this.store.whenSynced();
    return p === null ? null : afterReplicas(p);
  }

  // What the store holds, as a definitions file (sections in import order).
  toDefinitions(): DefinitionSections {
    const kinds = this.store.kinds();
    const order = [...ORDER.filter((k) => kinds.includes(k)),
      ...kinds.filter((k) => !ORDER.includes(k) && !LAST.includes(k)), ...LAST.filter((k) => kinds.includes(k))];
    const d: DefinitionSections = {};
    for (const k of order) d[k] = [...this.store.values(k)];
    for (const k of ['vhosts', 'users', 'permissions', ...LAST]) d[k] ??= [];
    return d;
  }

  // ---- the hot path ----

  put(kind: string, item: DefinitionItem): void {
    if (!this.muted() && !this.closed) this.store.put(kind, entryKey(kind, item), item);
  }

  remove(kind: string, item: DefinitionItem): void {
    if (!this.muted() && !this.closed) this.store.delete(kind, entryKey(kind, item));
  }

  exchangeDeclared(vhost: string, x: Exchange): void {
    if (isDurableExchange(x)) this.put('exchanges', exchangeItem(vhost, x));
  }

  exchangeDeleted(vhost: string, x: Exchange): void {
    if (isDurableExchange(x)) this.remove('exchanges', exchangeItem(vhost, x));
  }

  queueDeclared(vhost: string, q: Queue): void {
    if (isDurableQueue(q)) this.put('queues', queueItem(vhost, q));
  }

  queueDeleted(vhost: string, q: Queue): void {
    if (isDurableQueue(q)) this.remove('queues', queueItem(vhost, q));
  }

  bindingAdded(vhost: string, b: Binding): void {
    if (isDurableBinding(b)) this.put('bindings', bindingItem(vhost, b));
  }

  bindingsRemoved(vhost: string, bs: Iterable<Binding>): void {
    for (const b of bs) if (isDurableBinding(b)) this.remove('bindings', bindingItem(vhost, b));
  }

  // ---- everything at once ----

  // Makes the store hold exactly the objects of `d` (every array-valued section). Returns the
  // number of entries written or deleted.
  reconcile(d: DefinitionSections): number {
    let changes = 0;
    const seen = new Map<string, Set<string>>();
    for (const [kind, items] of Object.entries(d)) {
      if (!Array.isArray(items)) continue;
      const keys = new Set<string>();
      seen.set(kind, keys);
      for (const item of items as DefinitionItem[]) {
        const key = entryKey(kind, item);
        keys.add(key);
        if (this.store.put(kind, key, item)) changes++;
      }
    }
    for (const kind of this.store.kinds()) {
      const keys = seen.get(kind);
      for (const key of [...this.store.keys(kind)]) {
        if (keys === undefined || !keys.has(key)) { this.store.delete(kind, key); changes++; }
      }
    }
    return changes;
  }

  // After close, changes are no longer recorded (the broker is shutting down; what it still
  // tears down, it tears down in memory only).
  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    await this.store.close();
  }
}

// The durable queues a data directory names, for tools that run beside (or without) a broker;
// read-only. Null when the directory holds no definitions at all. Errors name the file.
export function readStoredQueues(dataDir: string): Array<{ name: string; vhost: string }> | null {
  const metaDir = path.join(dataDir, 'metadata');
  let items: unknown[];
  if (fs.existsSync(metaDir)) {
    const s = MetadataStore.openReadOnly(metaDir);
    items = [...s.values('queues')];
  } else {
    const file = path.join(dataDir, 'definitions.json');
    if (!fs.existsSync(file)) return null;
    try {
      items = (JSON.parse(fs.readFileSync(file, 'utf8')) as { queues?: unknown[] }).queues ?? [];
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  }
  return (items as Array<{ name?: unknown; vhost?: unknown }>)
    .filter((q) => typeof q.name === 'string')
    .map((q) => ({ name: q.name as string, vhost: typeof q.vhost === 'string' ? q.vhost : '/' }));
}

export { fromJson, toJson } from './definitions/json-args';
