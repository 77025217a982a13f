// The metadata store: durable definitions (vhosts, users, permissions, exchanges, queues,
// bindings, and whatever kinds are added later) as a map of (kind, key) -> JSON value, kept as
//   <dir>/snapshot                 every entry at some point (metadata-snapshot.ts)
//   <dir>/<gen, 20 digits>.log     the changes since that point: put / delete records,
//                                  appended and group-committed (metadata-log.ts)
// One change costs one small record, whatever the number of entries; startup reads the
// snapshot and replays the logs after it. When the logs grow past the snapshot's size (and a
// minimum), the map is written as a new snapshot and a new log begins (compaction). The store
// knows nothing about what the kinds mean: a new kind needs no change here.
//
// Damage: a torn tail (a crash in the middle of a write) is cut off; a damaged record with good
// records after it is skipped and reported, and the rest is read. Either way the store notes
// it in <dir>/DAMAGED, which stays until an operator removes it (the broker then keeps queue
// directories it cannot find in the definitions instead of deleting them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanMetadataRecords } from './metadata-record';
import { MetadataLog, logFileName } from './metadata-log';
import { deletePayload, encodeSnapshot, putPayload, readSnapshot, writeSnapshot } from './metadata-snapshot';
import { encodeMetadataRecord } from './metadata-record';

export interface MetadataStoreOptions {
  // Log bytes below which no compaction happens (default 4 MiB).
  compactMinBytes?: number;
  warn?(msg: string): void;
  error?(msg: string): void;
}

const LOG_NAME_RE = /^(\d{20})\.log$/;
const DAMAGED_FILE = 'DAMAGED';

export class MetadataStore {
  private readonly state = new Map<string, Map<string, string>>();
  private count = 0;
  private log!: MetadataLog; // undefined when read-only
  private snapshotBytes = 0;
  private compacting: Promise<void> | null = null;
  private closed = false;
  // Nothing was stored here before this start (no snapshot, no log).
  fresh = true;
  // What DAMAGED says, when the store has ever been found damaged.
  damageNote: string | null = null;
  compactions = 0;
  private readonly warn: (m: string) => void;
  private readonly error: (m: string) => void;
  private readonly compactMinBytes: number;

  private constructor(readonly dir: string, opts: MetadataStoreOptions) {
    this.warn = opts.warn ?? (() => undefined);
    this.error = opts.error ?? this.warn;
    this.compactMinBytes = opts.compactMinBytes ?? 4 * 1024 * 1024;
  }

  static open(dir: string, opts: MetadataStoreOptions = {}): MetadataStore {
    const s = new MetadataStore(dir, opts);
    s.load(false);
    return s;
  }

  // For tools that look at a data directory a broker may have open: reads what is there and
  // changes nothing (a torn tail is ignored, not cut off); put and delete throw.
  static openReadOnly(dir: string, opts: MetadataStoreOptions = {}): MetadataStore {
    const s = new MetadataStore(dir, opts);
    s.load(true);
    s.closed = true;
    return s;
  }

  // ---- reading -----------------------------------------------------------------------------------

  get size(): number { return this.count; }

  kinds(): string[] { return [...this.state.keys()]; }

  // Parsed values of one kind, in insertion order.
  *values(kind: string): IterableIterator<unknown> {
    const m = this.state.get(kind);
    if (m) for (const v of m.values()) yield JSON.parse(v);
  }

  *keys(kind: string): IterableIterator<string> {
    const m = this.state.get(kind);
    if (m) yield* m.keys();
  }

  valueJson(kind: string, key: string): string | undefined {
    return this.state.get(kind)?.get(key);
  }

  // ---- changing ----------------------------------------------------------------------------------

  // Returns false (and writes nothing) when the entry already holds this value.
  put(kind: string, key: string, value: unknown): boolean {
    if (this.closed) throw new Error(`metadata store ${this.dir} is closed`);
    const json = JSON.stringify(value);
    let m = this.state.get(kind);
    if (m === undefined) { m = new Map(); this.state.set(kind, m); }
    const old = m.get(key);
    if (old === json) return false;
    if (old === undefined) this.count++;
    m.set(key, json);
    this.append(putPayload(kind, key, json));
    return true;
  }

  delete(kind: string, key: string): boolean {
    if (this.closed) throw new Error(`metadata store ${this.dir} is closed`);
    const m = this.state.get(kind);
    if (m === undefined || !m.delete(key)) return false;
    this.count--;
    this.append(deletePayload(kind, key));
    return true;
  }

  private append(payload: string): void {
    this.log.append(encodeMetadataRecord(payload));
    if (this.compacting === null && this.log.size > Math.max(this.compactMinBytes, this.snapshotBytes)) {
      this.compacting = this.compact().catch((e) => this.error(`metadata store ${this.dir}: compaction failed: ${(e as Error).message}`))
        .finally(() => { this.compacting = null; });
    }
  }

  // Sequence number of the last change; whenSynced(seq) resolves once it is on disk.
  get seq(): number { return this.log?.lastSeq ?? 0; }
  get syncedSeq(): number { return this.log?.syncedSeq ?? 0; }

  whenSynced(seq = this.log.lastSeq): Promise<void> | null {
    return this.log.whenSynced(seq);
  }

  // Writes and syncs everything now (startup, migration).
  syncNow(): void {
    this.log.syncNow();
  }

  // ---- compaction --------------------------------------------------------------------------------

  // Writes the whole map as the snapshot of a new generation and continues in a new log; the
  // old logs are deleted once the snapshot is in place. A crash at any point leaves either the
  // old snapshot and every log after it, or the new snapshot and the new log.
  async compact(): Promise<void> {
    const gen = this.log.gen + 1;
    const data = encodeSnapshot(gen, this.count, this.allEntries());
    this.log.switchTo(gen);
    await writeSnapshot(this.dir, data);
    this.snapshotBytes = data.length;
    this.compactions++;
    for (const name of await fs.promises.readdir(this.dir)) {
      const m = LOG_NAME_RE.exec(name);
      if (m && Number(m[1]) < gen) await fs.promises.rm(path.join(this.dir, name), { force: true });
    }
  }

  private *allEntries(): IterableIterator<[string, string, string]> {
    for (const [kind, m] of this.state) for (const [key, json] of m) yield [kind, key, json];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.log === undefined) { this.closed = true; return; }
    while (this.compacting !== null) await this.compacting;
    this.closed = true;
    await this.log.close();
  }

  // ---- startup -----------------------------------------------------------------------------------

  private load(readOnly: boolean): void {
    if (!readOnly) fs.mkdirSync(this.dir, { recursive: true });
    let damaged = 0;
    const snap = readSnapshot(this.dir, (v) => this.apply(v, 'snapshot'), this.warn, readOnly);
    let gen = 0;
    if (snap !== null) {
      this.fresh = false;
      gen = snap.gen;
      this.snapshotBytes = snap.bytes;
      damaged += snap.damaged;
    }
    const logs = fs.readdirSync(this.dir).map((n) => LOG_NAME_RE.exec(n)).filter((m) => m !== null)
      .map((m) => Number(m![1])).sort((a, b) => a - b);
    let lastGen = gen;
    let lastSize = 0;
    for (let i = 0; i < logs.length; i++) {
      const g = logs[i];
      const file = path.join(this.dir, logFileName(g));
      if (g < gen) { if (!readOnly) fs.rmSync(file, { force: true }); continue; } // left by a finished compaction
      this.fresh = false;
      const r = this.replayLog(file, g, i === logs.length - 1, readOnly);
      damaged += r.damaged;
      lastGen = g;
      lastSize = r.size;
    }
    const marker = path.join(this.dir, DAMAGED_FILE);
    if (readOnly) {
      try { this.damageNote = fs.readFileSync(marker, 'utf8').trim(); } catch { this.damageNote = null; }
      return;
    }
    this.log = new MetadataLog(this.dir, lastGen, lastSize, (e) => this.error(`metadata log in ${this.dir}: write failed (retrying): ${e.message}`));
    if (damaged > 0) {
      fs.appendFileSync(marker, `${new Date().toISOString()}: ${damaged} damaged part(s) of the metadata store were skipped at startup; see the broker log\n`);
    }
    try { this.damageNote = fs.readFileSync(marker, 'utf8').trim(); } catch { this.damageNote = null; }
  }

  // Replays one log file; cuts off a torn tail. Returns the good size and the damage found.
  private replayLog(file: string, gen: number, last: boolean, readOnly: boolean): { size: number; damaged: number } {
    const data = fs.readFileSync(file);
    let sawHeader = false;
    const r = scanMetadataRecords(data, (payload, pos) => {
      let v: Record<string, unknown>;
      try { v = JSON.parse(payload) as Record<string, unknown>; } catch (e) {
        throw new Error(`metadata log ${file}: record at byte ${pos} is not JSON: ${(e as Error).message}`);
      }
      if (!sawHeader) {
        sawHeader = true;
        if (v.warren === 'metadata-log') {
          if (v.gen !== gen) throw new Error(`metadata log ${file}: its header says generation ${String(v.gen)}, its name ${gen}`);
          return;
        }
        if (pos === 0) throw new Error(`metadata log ${file} does not start with a metadata log header; it is not a Warren metadata log`);
        // The header itself was damaged (reported below with the other skipped bytes).
      }
      this.apply(v, file);
    });
    if (!sawHeader && data.length > 0 && !last) {
      throw new Error(`metadata log ${file} (${data.length} bytes) holds no readable record`);
    }
    for (const s of r.skipped) {
      this.error(`metadata log ${file}: damaged record(s) at bytes ${s.from}..${s.to} skipped; the changes in them are lost, the ${data.length - s.to} bytes after them were read`);
    }
    if (r.end < data.length && !readOnly) {
      // zeros are the log's preallocated end (metadata-log.ts), not a torn write
      if (!zerosFrom(data, r.end)) this.warn(`metadata log ${file}: torn tail of ${data.length - r.end} bytes at byte ${r.end} cut off (changes that were never confirmed)`);
      fs.truncateSync(file, r.end);
    }
    return { size: r.end, damaged: r.skipped.length };
  }

  private apply(v: Record<string, unknown>, where: string): void {
    const { op, kind, key } = v;
    if (typeof kind !== 'string' || typeof key !== 'string' || (op !== 'put' && op !== 'delete')) {
      throw new Error(`metadata ${where}: unknown record ${JSON.stringify(v).slice(0, 200)}`);
    }
    let m = this.state.get(kind);
    if (op === 'put') {
      if (m === undefined) { m = new Map(); this.state.set(kind, m); }
      if (!m.has(key)) this.count++;
      m.set(key, JSON.stringify(v.value));
    } else if (m?.delete(key)) {
      this.count--;
    }
  }
}

function zerosFrom(b: Buffer, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}
