// What `warren log verify|dump|replay` work on: the log directories of a data directory (or one
// --log-dir), an offset or time range within them, the records in that range, and the small
// output helpers the three verbs share.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { scanLog, type LogReport, type Problem, type ScanEvent, type ScannedRecord } from '../store/verify';
import { hashName } from '../store/data-dir';
import { readStoredQueues } from '../broker/durable-definitions';

export interface CommonFlags {
  dataDir: string;
  logDir?: string;
  queue?: string;
  vhost: string;
  lane?: number;
  json?: boolean;
}

export interface RangeFlags {
  from?: number;
  to?: number;
  since?: number;
  until?: number;
}


// ------------------------------------------------------------------------------------ targets

export interface Target {
  /** queue name, or null for --log-dir / an orphaned directory */
  queue: string | null;
  vhost: string | null;
  lane: number;
  dir: string;
  label: string;
}

export class UserError extends Error {}

export function queueLabel(name: string, vhost: string): string {
  return `queue '${name}' (vhost '${vhost}')`;
}

export function lanesOf(qdir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(qdir);
  } catch {
    return [];
  }
  const lanes: number[] = [];
  for (const n of names) {
    if (n === 'log' || n === 'stream') lanes.push(0); // a stream queue's log is `stream`
    else {
      const m = /^log-p(\d+)$/.exec(n);
      if (m) lanes.push(Number(m[1]));
    }
  }
  return lanes.sort((a, b) => a - b);
}

export function laneDir(qdir: string, lane: number): string {
  if (lane === 0 && fs.existsSync(path.join(qdir, 'stream'))) return path.join(qdir, 'stream');
  return path.join(qdir, lane === 0 ? 'log' : `log-p${lane}`);
}

/** The log directories the command works on. */
export function resolveTargets(o: CommonFlags): { targets: Target[]; root: string; queues: number; orphans: string[] } {
  if (o.logDir !== undefined) {
    if (!fs.existsSync(o.logDir)) throw new UserError(`--log-dir ${o.logDir}: no such directory`);
    return { targets: [{ queue: null, vhost: null, lane: o.lane ?? 0, dir: o.logDir, label: `log ${o.logDir}` }], root: path.dirname(o.logDir), queues: 0, orphans: [] };
  }
  const root = o.dataDir;
  if (!fs.existsSync(root)) throw new UserError(`--data-dir ${root}: no such directory`);
  let queues: { name: string; vhost: string }[] = [];
  let stored: typeof queues | null;
  try {
    stored = readStoredQueues(root);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  if (stored !== null) queues = stored;
  else if (!fs.existsSync(path.join(root, 'vhosts'))) {
    throw new UserError(`${root} is not a Warren data directory (no metadata/, no definitions.json, no vhosts/)`);
  }
  const qdir = (vhost: string, name: string) => path.join(root, 'vhosts', hashName(vhost), 'queues', hashName(name));
  const targets: Target[] = [];
  const addQueue = (name: string | null, vhost: string | null, dir: string, label: string) => {
    for (const lane of lanesOf(dir)) {
      if (o.lane !== undefined && lane !== o.lane) continue;
      targets.push({ queue: name, vhost, lane, dir: laneDir(dir, lane), label: `${label} lane ${lane}` });
    }
  };
  if (o.queue !== undefined) {
    const known = queues.some((q) => q.name === o.queue && q.vhost === o.vhost);
    const dir = qdir(o.vhost, o.queue);
    if (!known && !fs.existsSync(dir)) throw new UserError(`${queueLabel(o.queue, o.vhost)} is not a durable queue of ${root}`);
    addQueue(o.queue, o.vhost, dir, queueLabel(o.queue, o.vhost));
    if (targets.length === 0 && o.lane !== undefined) throw new UserError(`${queueLabel(o.queue, o.vhost)} has no lane ${o.lane}`);
    return { targets, root, queues: 1, orphans: [] };
  }
  const seen = new Set<string>();
  for (const q of queues) {
    const dir = qdir(q.vhost, q.name);
    seen.add(dir);
    addQueue(q.name, q.vhost, dir, queueLabel(q.name, q.vhost));
  }
  // queue directories no definition names (a declare that never completed, a deleted queue)
  const orphans: string[] = [];
  const vroot = path.join(root, 'vhosts');
  for (const v of safeReaddir(vroot)) {
    for (const q of safeReaddir(path.join(vroot, v, 'queues'))) {
      const dir = path.join(vroot, v, 'queues', q);
      if (seen.has(dir)) continue;
      orphans.push(dir);
      addQueue(null, null, dir, `orphaned queue directory ${path.relative(root, dir)}`);
    }
  }
  return { targets, root, queues: queues.length, orphans };
}

export function safeReaddir(p: string): string[] {
  try {
    return fs.readdirSync(p);
  } catch {
    return [];
  }
}


// ------------------------------------------------------------------------------------ ranges

export interface Range {
  from: number;
  to: number;
  since: number;
  until: number;
  offsets: boolean;
}

export function rangeOf(o: RangeFlags): Range {
  const r: Range = {
    from: o.from ?? 0, to: o.to ?? Number.MAX_SAFE_INTEGER, since: o.since ?? -Infinity, until: o.until ?? Infinity,
    offsets: o.from !== undefined || o.to !== undefined,
  };
  if (r.from > r.to) throw new UserError(`--from ${r.from} is after --to ${r.to}`);
  if (r.since > r.until) throw new UserError('--since is after --until');
  return r;
}

/** Offset ranges only make sense within one lane: each priority lane has its own offsets. */
export function checkLanes(targets: Target[], range: Range): void {
  if (!range.offsets) return;
  const lanes = new Map<string, Target[]>(); // by queue directory
  for (const t of targets) {
    const q = path.dirname(t.dir);
    lanes.set(q, [...(lanes.get(q) ?? []), t]);
  }
  for (const ts of lanes.values()) {
    if (ts.length > 1 && ts[0].queue !== null) {
      throw new UserError(`${queueLabel(ts[0].queue, ts[0].vhost as string)} has ${ts.length} priority lanes (${ts.map((x) => x.lane).join(', ')}), ` +
        'each with its own offsets: choose one with --lane for --from/--to');
    }
  }
}

/** Records of one log in the range (problems go to onProblem), in offset order. */
export function* recordsIn(t: Target, range: Range, onProblem: (p: Problem) => void): Generator<ScannedRecord, LogReport, void> {
  const it: Generator<ScanEvent, LogReport, void> = scanLog(t.dir, {
    records: true,
    select: (off, ts, count) => off + count - 1 >= range.from && off <= range.to && ts >= range.since && ts <= range.until,
    offsetRange: range.offsets ? { from: range.from, to: range.to } : undefined,
  });
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
    const ev = r.value;
    if (ev.kind === 'record') yield ev.record;
    else if (ev.kind === 'problem') onProblem(ev.problem);
  }
}


// ------------------------------------------------------------------------------------ output

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function problemLine(p: Problem, t: Target, root: string): string {
  const where = [path.relative(root, p.file) || p.file];
  if (p.position !== undefined) where.push(`byte ${p.position}`);
  if (p.offset !== undefined) where.push(`offset ${p.offset}`);
  return `${p.severity}: ${t.label}: ${where.join(' ')}: ${p.message}`;
}


export function envelopeOf(r: ScannedRecord): [string, string, number | null] {
  const e = r.envelope;
  if (Array.isArray(e)) return [String(e[0] ?? ''), String(e[1] ?? ''), typeof e[2] === 'number' ? e[2] : null];
  return ['', '', null];
}


export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function err(line: string): void {
  process.stderr.write(line + '\n');
}

