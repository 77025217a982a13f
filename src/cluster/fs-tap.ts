// Every change the leader makes to its data directory, as file operations, in the order the
// process made them. The store and the broker change files from some thirty places (segments,
// indexes, ack files, the metadata log and snapshot, stream tracking, delivered marks, ...);
// rather than asking each of them to report, and having a forgotten one silently diverge a
// follower, the tap wraps the few `fs` functions they all go through (module `fs` is one
// shared object, and TypeScript's compiled imports read its properties at each call). Only
// paths under the data directory are reported; the lock file and the transient directory
// (non-durable queues, wiped at every start) are not.
//
// A write's bytes are copied by the encoder before the call returns, so the store may reuse
// its pooled write buffers at once. A new way of changing files in the store (fs.writev,
// copyFile, link, FileHandle writes outside a rename) must be added here: the byte-for-byte
// test in test/cluster/replication.test.ts lists the ways covered. fdatasync and fsync on
// descriptors opened with openSync are reported too (SYNC): followers sync what the leader
// syncs; a sync the tap does not see (a FileHandle's, a directory opened asynchronously) is
// covered by the follower's own rules (apply.ts).
// The module object itself (not TypeScript's import wrapper, whose properties are getters).
// eslint-disable-next-line @typescript-eslint/no-require-imports
import fs = require('node:fs');
import * as path from 'node:path';
import { TRANSIENT_DIR } from '../store/data-dir';
import { type FileOp, T } from './frames';

type Emit = (op: FileOp) => void;

interface Tracked { rel: string; pos: number }

// `fs` as a plain object whose functions the tap may replace.
const F = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
const P = fs.promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;

export interface FsTap { remove(): void }

export function tapDataDir(dataDir: string, emit: Emit): FsTap {
  const root = path.resolve(dataDir) + path.sep;
  const fds = new Map<number, Tracked>();
  let depth = 0; // writeFileSync calls openSync/writeSync itself: report the outer call only

  const rel = (p: unknown): string | null => {
    if (typeof p !== 'string' && !(p instanceof Buffer) && !(p instanceof URL)) return null;
    const abs = path.resolve(p instanceof URL ? p.pathname : String(p));
    if (!abs.startsWith(root)) return null;
    const r = abs.slice(root.length);
    if (r === 'warren.lock' || r === TRANSIENT_DIR || r.startsWith(TRANSIENT_DIR + path.sep) || r.startsWith('.cluster')) return null;
    return r;
  };
  const flagsOf = (f: unknown): { trunc: boolean; create: boolean; append: boolean } => {
    if (typeof f === 'number') {
      const c = fs.constants;
      return { trunc: (f & c.O_TRUNC) !== 0, create: (f & c.O_CREAT) !== 0, append: (f & c.O_APPEND) !== 0 };
    }
    const s = typeof f === 'string' ? f : 'r';
    return { trunc: s.startsWith('w'), create: s.startsWith('w') || s.startsWith('a'), append: s.startsWith('a') };
  };
  const toBuf = (d: unknown, enc?: unknown): Buffer =>
    Buffer.isBuffer(d) ? d : d instanceof Uint8Array ? Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      : Buffer.from(String(d), typeof enc === 'string' ? enc as BufferEncoding : 'utf8');

  const saved: Array<[Record<string, unknown>, string, unknown]> = [];
  const wrap = (obj: Record<string, (...a: unknown[]) => unknown>, name: string, make: (orig: (...a: unknown[]) => unknown) => (...a: unknown[]) => unknown) => {
    const orig = obj[name];
    saved.push([obj, name, orig]);
    obj[name] = make(orig);
  };
  const outer = <R>(fn: () => R, report: (r: R) => void): R => {
    depth++;
    let r: R;
    try { r = fn(); } finally { depth--; }
    if (depth === 0) report(r);
    return r;
  };

  wrap(F, 'openSync', (orig) => (...a) => outer(() => orig(...a) as number, (fd) => {
    const r = rel(a[0]);
    if (r === null) { fds.delete(fd); return; } // a reused number of a descriptor closed asynchronously
    const fl = flagsOf(a[1]);
    fds.set(fd, { rel: r, pos: fl.append ? -1 : 0 });
    if (fl.trunc) emit({ t: T.Truncate, path: r, len: 0 });
    else if (fl.create) emit({ t: T.Write, path: r, at: 0, data: Buffer.alloc(0) });
  }));
  wrap(F, 'closeSync', (orig) => (...a) => { fds.delete(a[0] as number); return orig(...a); });
  wrap(F, 'close', (orig) => (...a) => { fds.delete(a[0] as number); return orig(...a); });
  // writeSync(fd, buffer, offset?, length?, position?) or writeSync(fd, string, position?, encoding?)
  wrap(F, 'writeSync', (orig) => (...a) => outer(() => orig(...a) as number, (n) => {
    const t = fds.get(a[0] as number);
    if (t === undefined) return;
    let data: Buffer;
    let at: unknown;
    if (typeof a[1] === 'string') { data = Buffer.from(a[1], typeof a[3] === 'string' ? a[3] as BufferEncoding : 'utf8'); at = a[2]; }
    else {
      const b = toBuf(a[1]);
      const off = typeof a[2] === 'number' ? a[2] : 0;
      data = b.subarray(off, off + n);
      at = a[4];
    }
    data = data.subarray(0, n);
    let p: number;
    if (t.pos < 0) p = fs.fstatSync(a[0] as number).size - n; // O_APPEND (Linux ignores the position): it ended at the end
    else if (typeof at === 'number' && at >= 0) p = at;
    else { p = t.pos; t.pos += n; }
    emit({ t: T.Write, path: t.rel, at: p, data });
  }));
  wrap(F, 'ftruncateSync', (orig) => (...a) => outer(() => orig(...a), () => {
    const t = fds.get(a[0] as number);
    if (t !== undefined) emit({ t: T.Truncate, path: t.rel, len: typeof a[1] === 'number' ? a[1] : 0 });
  }));
  wrap(F, 'truncateSync', (orig) => (...a) => outer(() => orig(...a), () => {
    const r = rel(a[0]);
    if (r !== null) emit({ t: T.Truncate, path: r, len: typeof a[1] === 'number' ? a[1] : 0 });
  }));
  wrap(F, 'writeFileSync', (orig) => (...a) => outer(() => orig(...a), () => {
    const r = typeof a[0] === 'number' ? null : rel(a[0]);
    if (r !== null) emit({ t: T.Replace, path: r, data: toBuf(a[1], typeof a[2] === 'object' && a[2] !== null ? (a[2] as { encoding?: string }).encoding : a[2]) });
  }));
  wrap(F, 'appendFileSync', (orig) => (...a) => outer(() => orig(...a), () => {
    const r = typeof a[0] === 'number' ? null : rel(a[0]);
    if (r === null) return;
    const data = toBuf(a[1]);
    emit({ t: T.Write, path: r, at: fs.statSync(a[0] as string).size - data.length, data });
  }));
  // The leader's fdatasyncs and fsyncs, reported when they start (after every write they cover):
  // a follower makes the same files durable before it acknowledges (apply.ts), and no others.
  const synced = (fd: unknown) => {
    const t = fds.get(fd as number);
    if (t !== undefined) emit({ t: T.Sync, path: t.rel });
  };
  for (const name of ['fdatasync', 'fsync', 'fdatasyncSync', 'fsyncSync']) {
    wrap(F, name, (orig) => (...a) => { synced(a[0]); return orig(...a); });
  }
  wrap(F, 'renameSync', (orig) => (...a) => outer(() => orig(...a), () => renamed(a[0], a[1])));
  wrap(F, 'unlinkSync', (orig) => (...a) => outer(() => orig(...a), () => deleted(a[0])));
  wrap(F, 'rmSync', (orig) => (...a) => outer(() => orig(...a), () => deleted(a[0])));
  wrap(F, 'mkdirSync', (orig) => (...a) => outer(() => orig(...a), () => {
    const r = rel(a[0]);
    if (r !== null && r !== '') emit({ t: T.Mkdir, path: r });
  }));
  // Asynchronous removals (segments deleted off the event loop): reported when requested, so
  // the operation keeps its place in the order of the stream.
  wrap(F, 'unlink', (orig) => (...a) => { deleted(a[0]); return orig(...a); });
  wrap(P, 'rm', (orig) => (...a) => { deleted(a[0]); return orig(...a); });
  // The metadata snapshot is written through a FileHandle and renamed into place: the tap sees
  // the rename only, and ships the finished file (read once, at compaction).
  wrap(P, 'rename', (orig) => (...a) => (orig(...a) as Promise<unknown>).then((v) => {
    const to = rel(a[1]);
    if (to !== null) {
      deleted(a[0]);
      try { emit({ t: T.Replace, path: to, data: fs.readFileSync(a[1] as string) }); } catch { /* gone again */ }
    }
    return v;
  }));

  function renamed(from: unknown, to: unknown): void {
    const a = rel(from);
    const b = rel(to);
    if (a !== null && b !== null) emit({ t: T.Rename, path: a, to: b });
    else if (b !== null) {
      try { emit({ t: T.Replace, path: b, data: fs.readFileSync(to as string) }); } catch { /* gone again */ }
    } else if (a !== null) emit({ t: T.Delete, path: a });
  }
  function deleted(p: unknown): void {
    const r = rel(p);
    if (r !== null && r !== '') emit({ t: T.Delete, path: r });
  }

  return {
    remove() {
      for (const [obj, name, orig] of saved.reverse()) obj[name] = orig;
      fds.clear();
    },
  };
}
