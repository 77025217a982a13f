// `warren log verify|dump|replay`: read-only tools over the queue logs of a data directory.
//
//   verify  checks every frame, CRC, offset, index entry and ack entry (src/store/verify.ts); one
//           line per problem (segment file, byte position, offset), a summary; exit code 1 when
//           something is corrupt. Safe on a log a running broker has open, or one left by a crash.
//   dump    prints the records of a queue (offset, time, exchange, routing key, properties, body
//           size, acked; --body adds the body), optionally an offset or time range.
//   replay  republishes a queue's records in an offset or time range to a running broker, with
//           publisher confirms (recovery, migration).
//
// Layout (src/broker/broker.ts, vhost.ts, queue.ts): <data>/metadata/ (definitions.json before)
// lists the durable queues; a queue's directory is <data>/vhosts/<hashName(vhost)>/queues/<hashName(queue)>/, with
// one log directory per priority lane: `log` (priority 0) and `log-p<N>`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { type Command, InvalidArgumentError } from 'commander';
import { scanLog, type LogReport, type Problem, type ScanEvent, type ScannedRecord } from '../store/verify';
import { hashName } from '../store/data-dir';
import { readStoredQueues } from '../broker/durable-definitions';
import { decodeProperties, encodeMethodFrame, encodeContentHeaderFrame, encodeBodyFrames, Typed, isDecimal } from '../protocol';
import { ClientConnection, type ClientChannel } from '../client';
import { chunkMessages } from '../broker/stream-dump';

// ------------------------------------------------------------------------------------ options

interface CommonFlags {
  dataDir: string;
  logDir?: string;
  queue?: string;
  vhost: string;
  lane?: number;
  json?: boolean;
}

interface RangeFlags {
  from?: number;
  to?: number;
  since?: number;
  until?: number;
}

function nonNegInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

/** ISO 8601 date/time, or milliseconds since the epoch. */
export function parseTime(v: string): number {
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s);
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`'${v}' is neither an ISO date/time nor milliseconds since the epoch`);
  return t;
}

function addCommon(cmd: Command): Command {
  return cmd
    .option('-d, --data-dir <dir>', 'data directory of the broker', './data')
    .option('--log-dir <dir>', 'one log directory instead of the queues of --data-dir (a SegmentedLog directory)')
    .option('-q, --queue <name>', 'only this queue (default: every durable queue)')
    .option('--vhost <name>', "the queue's virtual host", '/')
    .option('--lane <priority>', 'only this priority lane (0 is the `log` directory, N the `log-pN` one)', nonNegInt('--lane'));
}

function addRange(cmd: Command): Command {
  return cmd
    .option('--from <offset>', 'first offset (inclusive)', nonNegInt('--from'))
    .option('--to <offset>', 'last offset (inclusive)', nonNegInt('--to'))
    .option('--since <time>', 'records stored at or after this time (ISO 8601 or ms since the epoch)', parseTime)
    .option('--until <time>', 'records stored at or before this time (ISO 8601 or ms since the epoch)', parseTime);
}

// ------------------------------------------------------------------------------------ targets

interface Target {
  /** queue name, or null for --log-dir / an orphaned directory */
  queue: string | null;
  vhost: string | null;
  lane: number;
  dir: string;
  label: string;
}

class UserError extends Error {}

function queueLabel(name: string, vhost: string): string {
  return `queue '${name}' (vhost '${vhost}')`;
}

function lanesOf(qdir: string): number[] {
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

function laneDir(qdir: string, lane: number): string {
  if (lane === 0 && fs.existsSync(path.join(qdir, 'stream'))) return path.join(qdir, 'stream');
  return path.join(qdir, lane === 0 ? 'log' : `log-p${lane}`);
}

/** The log directories the command works on. */
function resolveTargets(o: CommonFlags): { targets: Target[]; root: string; queues: number; orphans: string[] } {
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

function safeReaddir(p: string): string[] {
  try {
    return fs.readdirSync(p);
  } catch {
    return [];
  }
}

// ------------------------------------------------------------------------------------ output

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

function problemLine(p: Problem, t: Target, root: string): string {
  const where = [path.relative(root, p.file) || p.file];
  if (p.position !== undefined) where.push(`byte ${p.position}`);
  if (p.offset !== undefined) where.push(`offset ${p.offset}`);
  return `${p.severity}: ${t.label}: ${where.join(' ')}: ${p.message}`;
}

/** Field values as JSON: Buffers as text when UTF-8 (else base64), bigints, dates, typed values. */
export function jsonSafe(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return isUtf8(v) ? v.toString('utf8') : { base64: v.toString('base64') };
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (v instanceof Typed) return jsonSafe(v.value);
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (isDecimal(v)) return { decimal: v.value / 10 ** v.scale };
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = jsonSafe(x);
    return out;
  }
  return v;
}

function envelopeOf(r: ScannedRecord): [string, string, number | null] {
  const e = r.envelope;
  if (Array.isArray(e)) return [String(e[0] ?? ''), String(e[1] ?? ''), typeof e[2] === 'number' ? e[2] : null];
  return ['', '', null];
}

function propsOf(r: ScannedRecord): unknown {
  try {
    return jsonSafe(decodeProperties(r.props));
  } catch (e) {
    return { undecodable: (e as Error).message, base64: r.props.toString('base64') };
  }
}

function recordJson(r: ScannedRecord, t: Target, body: boolean): Record<string, unknown> {
  const [exchange, routingKey, expirationMs] = envelopeOf(r);
  const o: Record<string, unknown> = {
    queue: t.queue, vhost: t.vhost, lane: t.lane, offset: r.offset, timestamp: r.timestamp, time: new Date(r.timestamp).toISOString(),
    exchange, routing_key: routingKey, persistent: (r.flags & 1) !== 0, acked: r.acked, properties: propsOf(r), body_size: r.body.length,
  };
  if (expirationMs !== null) o.expiration_ms = expirationMs;
  if (body) {
    if (isUtf8(r.body)) o.body = r.body.toString('utf8');
    else o.body_base64 = r.body.toString('base64');
  }
  return o;
}

function recordLine(r: ScannedRecord, body: boolean): string {
  const [exchange, routingKey, expirationMs] = envelopeOf(r);
  const parts = [
    `offset=${r.offset}`,
    `time=${new Date(r.timestamp).toISOString()}`,
    `exchange=${JSON.stringify(exchange)}`,
    `routing_key=${JSON.stringify(routingKey)}`,
    `properties=${JSON.stringify(propsOf(r))}`,
    `body_size=${r.body.length}`,
    (r.flags & 1) !== 0 ? 'persistent' : 'transient',
    r.acked ? 'acked' : 'unacked',
  ];
  if (expirationMs !== null) parts.push(`expiration_ms=${expirationMs}`);
  if (body) parts.push(isUtf8(r.body) ? `body=${JSON.stringify(r.body.toString('utf8'))}` : `body_base64=${r.body.toString('base64')}`);
  return parts.join(' ');
}

// A stream chunk: one line per message (sub-batches of the Stream protocol as one line).
function streamRecordLines(r: ScannedRecord, t: Target, range: Range, json: boolean, body: boolean): string[] {
  return chunkMessages(r, t.queue ?? '').filter((m) => m.offset >= range.from && m.offset <= range.to).map((m) => {
    const f = m.message;
    const o: Record<string, unknown> = {
      queue: t.queue, vhost: t.vhost, offset: m.offset, timestamp: m.timestamp, time: new Date(m.timestamp).toISOString(),
      exchange: f?.exchange ?? null, routing_key: f?.routingKey ?? null, properties: f === null ? null : jsonSafe(f.props),
      body_size: f?.body.length ?? m.size,
    };
    if (m.filterValue !== null) o.filter_value = m.filterValue;
    if (m.subBatch > 0) o.sub_batch_records = m.subBatch;
    if (f === null && m.subBatch === 0) o.error = 'not an AMQP 1.0 message';
    if (body && f !== null) {
      if (isUtf8(f.body)) o.body = f.body.toString('utf8');
      else o.body_base64 = f.body.toString('base64');
    }
    if (json) return JSON.stringify(o);
    return Object.entries(o).filter(([k, v]) => k !== 'queue' && k !== 'vhost' && k !== 'timestamp' && v !== null)
      .map(([k, v]) => `${k}=${typeof v === 'number' && k === 'offset' ? v : k === 'time' ? v : JSON.stringify(v)}`).join(' ');
  });
}

function logSummary(rep: LogReport): string {
  const parts = [
    plural(rep.segments.length, 'segment'),
    `${plural(rep.records, 'record')} (${rep.acked} acked)`,
    fmtBytes(rep.bytes),
    rep.cleanShutdown ? 'closed cleanly' : 'open by a broker or not closed cleanly',
  ];
  const verdict = rep.ok ? 'OK' : 'CORRUPT';
  const counts = [plural(rep.errors, 'error'), plural(rep.warnings, 'warning')];
  if (rep.badRecords > 0) counts.push(`${plural(rep.badRecords, 'record')} lost`);
  return `${parts.join(', ')}: ${verdict} (${counts.join(', ')})`;
}

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function err(line: string): void {
  process.stderr.write(line + '\n');
}

// ------------------------------------------------------------------------------------ verify

function runVerify(o: CommonFlags): number {
  const { targets, root, queues, orphans } = resolveTargets(o);
  if (!o.json)
    for (const d of orphans)
      out(`info: orphaned queue directory ${path.relative(root, d)}: no durable queue definition names it (the broker removes it at its next start)`);
  const reports: { target: Target; report: LogReport }[] = [];
  const total = { segments: 0, records: 0, acked: 0, bytes: 0, errors: 0, warnings: 0, lost: 0 };
  for (const t of targets) {
    const it = scanLog(t.dir);
    let r = it.next();
    while (!r.done) {
      const ev = r.value;
      if (ev.kind === 'problem' && !o.json) out(problemLine(ev.problem, t, root));
      r = it.next();
    }
    const rep = r.value;
    reports.push({ target: t, report: rep });
    total.segments += rep.segments.length;
    total.records += rep.records;
    total.acked += rep.acked;
    total.bytes += rep.bytes;
    total.errors += rep.errors;
    total.warnings += rep.warnings;
    total.lost += rep.badRecords;
    if (!o.json) out(`${t.label}: ${logSummary(rep)}`);
  }
  const ok = total.errors === 0;
  if (o.json) {
    out(JSON.stringify({
      ok, ...total, queues, logs: targets.length, orphaned_queue_dirs: orphans.map((d) => path.relative(root, d)),
      logs_detail: reports.map(({ target, report }) => ({ queue: target.queue, vhost: target.vhost, lane: target.lane, ...report })),
    }, null, 1));
  } else {
    const what = o.logDir !== undefined ? '' : `${plural(queues, 'queue')}, `;
    out(`verify: ${ok ? 'OK' : 'CORRUPT'}: ${what}${plural(targets.length, 'log')}, ${plural(total.segments, 'segment')}, ` +
      `${plural(total.records, 'record')} (${total.acked} acked), ${fmtBytes(total.bytes)}; ` +
      `${plural(total.errors, 'error')}, ${plural(total.warnings, 'warning')}` + (total.lost > 0 ? `, ${plural(total.lost, 'record')} lost` : ''));
  }
  return ok ? 0 : 1;
}

// ------------------------------------------------------------------------------------ ranges

interface Range {
  from: number;
  to: number;
  since: number;
  until: number;
  offsets: boolean;
}

function rangeOf(o: RangeFlags): Range {
  const r: Range = {
    from: o.from ?? 0, to: o.to ?? Number.MAX_SAFE_INTEGER, since: o.since ?? -Infinity, until: o.until ?? Infinity,
    offsets: o.from !== undefined || o.to !== undefined,
  };
  if (r.from > r.to) throw new UserError(`--from ${r.from} is after --to ${r.to}`);
  if (r.since > r.until) throw new UserError('--since is after --until');
  return r;
}

/** Offset ranges only make sense within one lane: each priority lane has its own offsets. */
function checkLanes(targets: Target[], range: Range): void {
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
function* recordsIn(t: Target, range: Range, onProblem: (p: Problem) => void): Generator<ScannedRecord, LogReport, void> {
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

// ------------------------------------------------------------------------------------ dump

interface DumpFlags extends CommonFlags, RangeFlags {
  body?: boolean;
  limit?: number;
}

function runDump(o: DumpFlags): number {
  const range = rangeOf(o);
  const { targets, root } = resolveTargets(o);
  checkLanes(targets, range);
  let n = 0;
  let errors = 0;
  outer: for (const t of targets) {
    if (!o.json) out(`# ${t.label}: ${path.relative(root, t.dir) || t.dir}`);
    const it = recordsIn(t, range, (p) => {
      if (p.severity === 'error') errors++;
      if (p.severity !== 'info') err(problemLine(p, t, root));
    });
    const stream = path.basename(t.dir) === 'stream';
    for (const rec of it) {
      if (stream) {
        for (const line of streamRecordLines(rec, t, range, o.json ?? false, o.body ?? false)) out(line);
      } else out(o.json ? JSON.stringify(recordJson(rec, t, o.body ?? false)) : recordLine(rec, o.body ?? false));
      if (o.limit !== undefined && ++n >= o.limit) break outer; // leaving the loop closes the files
    }
  }
  return errors > 0 ? 1 : 0;
}

// ------------------------------------------------------------------------------------ replay

interface ReplayFlags extends CommonFlags, RangeFlags {
  url?: string;
  exchange?: string;
  routingKey?: string;
  onlyUnacked?: boolean;
  confirmWindow: number;
  dryRun?: boolean;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait until cond() holds; checked after each confirm frame and every 50 ms (channel or connection loss). */
async function waitUntil(ch: ClientChannel, cond: () => boolean): Promise<void> {
  while (!cond()) {
    if (ch.closed || ch.conn.closed || ch.conn.error) throw ch.error ?? ch.conn.error ?? new Error('channel closed');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 50);
      function done(): void {
        clearTimeout(timer);
        if (ch.onConfirms === done) ch.onConfirms = null;
        resolve();
      }
      ch.onConfirms = done;
    });
  }
}

async function runReplay(o: ReplayFlags): Promise<number> {
  if (o.queue === undefined && o.logDir === undefined) throw new UserError('replay needs --queue (or --log-dir)');
  if (o.url === undefined && !o.dryRun) throw new UserError('replay needs --url of the broker to publish to (or --dry-run)');
  const range = rangeOf(o);
  const { targets, root } = resolveTargets(o);
  checkLanes(targets, range);
  // highest priority lane first, as a consumer would have received them
  targets.sort((a, b) => b.lane - a.lane);

  let conn: ClientConnection | null = null;
  let ch: ClientChannel | null = null;
  const stats = { selected: 0, published: 0, skippedAcked: 0, corrupt: 0 };
  const exchanges = new Set<string>();
  let failure: Error | null = null;
  try {
    if (!o.dryRun) {
      conn = await ClientConnection.connect(o.url as string, { connectionName: 'warren log replay' });
      ch = await conn.openChannel();
      if (o.exchange !== undefined && o.exchange !== '') {
        // passive declare on a channel of its own: a missing exchange closes that one only
        const probe = await conn.openChannel();
        try {
          await probe.rpc({ name: 'exchange.declare', exchange: o.exchange, type: '', passive: true, durable: false, autoDelete: false, internal: false, noWait: false, arguments: {} }, ['exchange.declare-ok']);
        } catch (e) {
          throw new UserError(`exchange '${o.exchange}' on ${redactUrl(o.url as string)}: ${(e as Error).message}`);
        }
        await probe.close().catch(() => undefined);
      }
      await ch.confirmSelect();
    }
    const window = Math.max(1, o.confirmWindow);
    for (const t of targets) {
      const it = recordsIn(t, range, (p) => {
        if (p.severity === 'error') stats.corrupt++;
        if (p.severity !== 'info') err(problemLine(p, t, root));
      });
      for (const rec of it) {
        stats.selected++;
        if (o.onlyUnacked && rec.acked) {
          stats.skippedAcked++;
          continue;
        }
        const [origExchange, origKey] = envelopeOf(rec);
        const exchange = o.exchange ?? origExchange;
        const routingKey = o.routingKey ?? origKey;
        exchanges.add(exchange);
        if (ch === null || conn === null) {
          stats.published++;
          continue;
        }
        const c = ch;
        const frames = Buffer.concat([
          encodeMethodFrame(c.id, { name: 'basic.publish', exchange, routingKey, mandatory: true, immediate: false }),
          encodeContentHeaderFrame(c.id, 60, rec.body.length, rec.props),
          encodeBodyFrames(c.id, rec.body, conn.frameMax),
        ]);
        const flowing = conn.write(frames);
        c.published++;
        stats.published++;
        if (!flowing) await new Promise<void>((r) => (conn as ClientConnection).socket.once('drain', () => r()));
        if (c.unconfirmed >= window) await waitUntil(c, () => c.unconfirmed < window);
      }
    }
    if (ch !== null) {
      const c = ch;
      await waitUntil(c, () => c.unconfirmed === 0);
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    failure = e as Error;
  } finally {
    if (conn !== null) await conn.close().catch(() => undefined);
    // give an aborted connection's socket a moment to settle before exiting
    if (failure !== null) await sleep(10);
  }

  const scope = [o.logDir !== undefined ? `log ${o.logDir}` : queueLabel(o.queue as string, o.vhost)];
  if (o.lane !== undefined) scope.push(`lane ${o.lane}`);
  if (range.offsets) scope.push(`offsets ${range.from}..${range.to === Number.MAX_SAFE_INTEGER ? 'end' : range.to}`);
  if (o.since !== undefined || o.until !== undefined)
    scope.push(`time ${o.since !== undefined ? new Date(o.since).toISOString() : 'start'}..${o.until !== undefined ? new Date(o.until).toISOString() : 'end'}`);
  const dest = `exchange${exchanges.size === 1 ? '' : 's'} ${[...exchanges].map((x) => `'${x}'`).join(', ') || (o.exchange !== undefined ? `'${o.exchange}'` : '(none)')}`;
  if (o.dryRun) {
    out(`replay (dry run): ${stats.published} messages would be replayed from ${scope.join(', ')} to ${dest}` +
      (stats.skippedAcked > 0 ? `; ${stats.skippedAcked} acked skipped` : '') + (stats.corrupt > 0 ? `; ${plural(stats.corrupt, 'corruption problem')} (see above)` : ''));
    return stats.corrupt > 0 ? 1 : 0;
  }
  const c = ch as ClientChannel | null;
  const acked = c?.acked ?? 0;
  const nacked = c?.nacked ?? 0;
  const returned = c?.returned ?? 0;
  const replayed = Math.max(0, acked - returned);
  const notes: string[] = [];
  if (returned > 0) notes.push(`${returned} unroutable (returned)`);
  if (nacked > 0) notes.push(`${nacked} nacked by the broker`);
  if (stats.skippedAcked > 0) notes.push(`${stats.skippedAcked} acked skipped`);
  if (stats.corrupt > 0) notes.push(`${plural(stats.corrupt, 'corruption problem')} (damaged records skipped, see above)`);
  const unconfirmed = stats.published - acked - nacked;
  if (unconfirmed > 0) notes.push(`${unconfirmed} not confirmed`);
  out(`replay: ${replayed} messages replayed from ${scope.join(', ')} to ${dest} at ${redactUrl(o.url as string)}` +
    (notes.length > 0 ? `; ${notes.join('; ')}` : '; all confirmed'));
  if (failure !== null) err(`replay: stopped: ${failure.message}`);
  return failure !== null || returned > 0 || nacked > 0 || unconfirmed > 0 || stats.corrupt > 0 ? 1 : 0;
}

// ------------------------------------------------------------------------------------ register

function guard(cmd: Command, fn: () => number | Promise<number>): Promise<void> {
  return Promise.resolve()
    .then(fn)
    .then((code) => {
      process.exitCode = code;
    })
    .catch((e: unknown) => {
      if (e instanceof UserError || e instanceof InvalidArgumentError) cmd.error(`error: ${(e as Error).message}`, { exitCode: 2 });
      throw e;
    });
}

export function registerLog(program: Command): void {
  const log = program.command('log')
    .description('inspect the queue logs of a data directory: verify, dump, replay (read-only; safe while a broker runs)');

  addCommon(log.command('verify'))
    .description('check every record (length, CRC, offsets), index and ack file; one line per problem, a summary; exit code 1 when corrupt')
    .option('--json', 'the reports as JSON')
    .action((flags: CommonFlags, cmd: Command) => guard(cmd, () => runVerify(flags)));

  addRange(addCommon(log.command('dump')))
    .description('print records: offset, time, exchange, routing key, properties, body size, acked state')
    .option('--body', 'also print the body (text when UTF-8, else base64)')
    .option('--limit <n>', 'at most this many records', nonNegInt('--limit'))
    .option('--json', 'one JSON object per record')
    .action((flags: DumpFlags, cmd: Command) => guard(cmd, () => runDump(flags)));

  addRange(addCommon(log.command('replay')))
    .description("republish a queue's records (an offset or time range) to a running broker, with publisher confirms")
    .option('--url <url>', 'broker to publish to, e.g. amqp://guest:guest@127.0.0.1:5672/')
    .option('--exchange <name>', "exchange to publish to (default: each record's original exchange)")
    .option('--routing-key <key>', "routing key (default: each record's original routing key)")
    .option('--only-unacked', 'skip records that were acked')
    .option('--confirm-window <n>', 'unconfirmed messages in flight at most', nonNegInt('--confirm-window'), 1000)
    .option('--dry-run', 'count what would be replayed; do not connect')
    .action((flags: ReplayFlags, cmd: Command) => guard(cmd, () => runReplay(flags)));
}
