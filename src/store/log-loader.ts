// Opening a log directory (Kafka's LogLoader): every decision recovery makes lives here.
//
//   recovery-point  JSON {"segment": base, "position": bytes}: every segment before `segment` is
//                   fdatasync'ed and valid (written after the sync that covered a rolled segment,
//                   and at close with the open segment's final size).
//   clean-shutdown  marker written by close() after everything is synced; removed (and the
//                   removal fsynced) at open, so that a later crash is detected.
//
// With the marker and a recovery point matching the last segment's size, nothing is CRC-scanned:
// each segment's index is loaded and its tail (from the last index entry to the end of the file)
// walked by headers. Otherwise every segment from the recovery point on (always the whole open
// segment) is read with CRC checks. A damaged record costs that record only: later records are
// kept, the damaged offsets are acked (so they are never served) and reported once with the
// segment and byte position; only a torn tail of the newest segment is cut off.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CLEAN_SHUTDOWN_FILE, COMPANION_NAME_RE, RECOVERY_POINT_FILE, SEGMENT_NAME_RE, isLeftover,
} from './data-dir';
import { fsyncDir, unlinkQuiet, withPath, writeFileAtomic } from './fd-cache';
import { Segment, type LostRange } from './segment';
import { storeStats } from './store-stats';

const PROGRESS_EVERY = 256 * 1024 * 1024;
const MiB = 1024 * 1024;

export interface LoadOptions {
  indexInterval: number;
  /** records whose flags lack this bit are dropped at open (0: keep all) */
  keepFlag: number;
  fsync: boolean;
  warn(msg: string): void;
  progress?(msg: string): void;
}

export interface Loaded {
  segments: Segment[];
  /** the log was closed cleanly last time */
  clean: boolean;
  /** base of the segment the recovery point names */
  checkpointBase: number;
  /** volatile records dropped at this open */
  droppedVolatile: number;
}

export function readRecoveryPoint(dir: string): { segment: number; position: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, RECOVERY_POINT_FILE), 'utf8');
  } catch {
    return null; // missing or unreadable: recovery scans, which is always safe
  }
  try {
    const j = JSON.parse(text) as { segment?: unknown; position?: unknown };
    if (typeof j.segment === 'number' && typeof j.position === 'number') return { segment: j.segment, position: j.position };
  } catch {
    /* a torn write: scan */
  }
  return null;
}

export function writeRecoveryPoint(dir: string, base: number, position: number): void {
  writeFileAtomic(path.join(dir, RECOVERY_POINT_FILE), JSON.stringify({ version: 1, segment: base, position }), dir, false);
}

export function loadLog(dir: string, opts: LoadOptions): Loaded {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (e) {
    throw withPath(e, dir);
  }
  const bases: number[] = [];
  const stems = new Set<string>();
  for (const n of names) {
    const m = SEGMENT_NAME_RE.exec(n);
    if (m) {
      bases.push(Number(m[1]));
      stems.add(m[1]);
    } else if (isLeftover(n)) unlinkQuiet(path.join(dir, n));
  }
  for (const n of names) {
    const m = COMPANION_NAME_RE.exec(n);
    if (m && !stems.has(m[1])) unlinkQuiet(path.join(dir, n));
  }
  bases.sort((a, b) => a - b);
  const clean = fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_FILE));
  const cp = readRecoveryPoint(dir);
  const segs = bases.map((b) => Segment.existing(dir, b, opts.indexInterval));

  // where the CRC scan starts
  let scanFrom = 0;
  if (segs.length > 0 && cp !== null) {
    const last = segs[segs.length - 1];
    if (clean && cp.segment === last.base && cp.position === last.size) scanFrom = segs.length;
    else {
      scanFrom = segs.length - 1;
      for (let i = 0; i < segs.length; i++) {
        if (segs[i].base >= cp.segment) {
          scanFrom = i;
          break;
        }
      }
    }
  }
  const total = segs.slice(scanFrom).reduce((a, s) => a + s.size, 0);
  let done = 0;
  let reported = 0;
  const onBytes = (n: number): void => {
    done += n;
    if (total >= PROGRESS_EVERY && done - reported >= PROGRESS_EVERY && opts.progress) {
      reported = done;
      opts.progress(`recovery of ${dir}: ${(done / MiB).toFixed(0)} of ${(total / MiB).toFixed(0)} MiB scanned`);
    }
  };
  if (total >= PROGRESS_EVERY && opts.progress)
    opts.progress(`recovery of ${dir}: scanning ${segs.length - scanFrom} segment(s), ${(total / MiB).toFixed(0)} MiB`);

  const scanned = new Set<Segment>();
  const lost = new Map<Segment, LostRange[]>();
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const isLast = i === segs.length - 1;
    if (i < scanFrom && s.walkFromIndex()) {
      if (opts.keepFlag !== 0) s.volatile.load(s.count);
      continue;
    }
    if (i < scanFrom) opts.warn(`${s.name}: data after the last index entry does not match the index; checking the segment record by record`);
    const r = s.scan({ truncateTail: isLast, keepFlag: opts.keepFlag, onBytes });
    scanned.add(s);
    if (r.lost.length > 0) lost.set(s, r.lost);
    if (r.tailPos >= 0) {
      if (isLast)
        opts.warn(`${s.name}: recovery truncated ${r.truncated} bytes at byte position ${r.tailPos} (${r.tailReason}); last good offset ${s.next - 1}`);
      else {
        const gap = i + 1 < segs.length ? segs[i + 1].base - s.next : 0;
        storeStats.corruptRecords += Math.max(gap, 1);
        opts.warn(`${s.name}: unreadable from byte ${r.tailPos} to the end (${r.tailReason}); ` +
          (gap > 0 ? `offsets ${s.next}..${s.next + gap - 1} are lost` : 'no record after it is lost'));
      }
    }
  }
  if (total >= PROGRESS_EVERY && opts.progress) opts.progress(`recovery of ${dir}: done, ${(done / MiB).toFixed(0)} MiB scanned`);

  // empty closed segments go; overlapping ones are reported
  const kept: Segment[] = [];
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (i < segs.length - 1 && s.count === 0) {
      s.delete(false, opts.warn);
      continue;
    }
    kept.push(s);
  }
  for (let i = 0; i + 1 < kept.length; i++) {
    if (kept[i].next > kept[i + 1].base)
      opts.warn(`${kept[i].name}: records up to ${kept[i].next - 1} overlap segment ${kept[i + 1].name}`);
  }
  if (kept.length === 0) {
    // a new log: its first segment is created by the first append
    unlinkQuiet(path.join(dir, CLEAN_SHUTDOWN_FILE));
    return { segments: [], clean, checkpointBase: -1, droppedVolatile: 0 };
  }
  const open = kept[kept.length - 1];
  for (const s of kept) {
    if (s !== open) s.seal();
    if (s.index.dirty) {
      try {
        s.index.flush();
      } catch (e) {
        opts.warn(`cannot write the rebuilt index: ${(e as Error).message}`);
      }
    }
  }

  // acks: what consumers settled, then what recovery itself settles (damaged and volatile records)
  let droppedVolatile = 0;
  for (const s of kept) {
    const growable = s === open;
    const note = s.acks.load(s.count, growable, opts.warn);
    if (note !== null) opts.warn(`${s.files.ack}: ${note}`);
    const capacity = growable ? 0 : s.count;
    for (const r of lost.get(s) ?? []) {
      const n = r.to - r.from;
      storeStats.corruptRecords += n;
      opts.warn(`${s.name}: ${n === 1 ? `record ${r.from} is` : `records ${r.from}..${r.to - 1} are`} damaged at byte ${r.pos} (${r.reason}); skipped, the records after it are kept`);
      for (let off = r.from; off < r.to; off++) s.acks.add(off - s.base, capacity);
    }
    s.volatile.forEach((rel) => {
      if (s.acks.add(rel, capacity)) droppedVolatile++;
    });
    // only the open segment keeps its list (rewritten at its roll or close)
    if (s !== open) s.volatile.clear();
  }

  // make what recovery validated durable before it becomes the recovery point
  if (scanned.size > 0 && opts.fsync) for (const s of scanned) if (kept.includes(s)) s.syncNow();
  let checkpointBase = cp?.segment ?? -1;
  // The marker goes without a directory fsync: a log is trusted as clean only when the recovery
  // point also names the newest segment's exact size, which any later append changes.
  unlinkQuiet(path.join(dir, CLEAN_SHUTDOWN_FILE));
  if (scanned.size > 0 || cp === null || cp.segment !== open.base) {
    try {
      writeRecoveryPoint(dir, open.base, open.size);
      checkpointBase = open.base;
    } catch (e) {
      opts.warn(`cannot write the recovery point: ${(e as Error).message}`);
    }
    fsyncDir(dir);
  }
  return { segments: kept, clean, checkpointBase, droppedVolatile };
}
