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
import * as path from 'node:path';
import { isUtf8 } from 'node:buffer';
import { type Command, InvalidArgumentError } from 'commander';
import { scanLog, type LogReport, type ScannedRecord } from '../store/verify';
import { decodeProperties, Typed, isDecimal } from '../protocol';
import { chunkMessages } from '../broker/stream-dump';
import {
  type CommonFlags, type RangeFlags, type Target, type Range, UserError, resolveTargets, rangeOf, checkLanes, recordsIn,
  fmtBytes, plural, problemLine, envelopeOf, out, err,
} from './log-targets';
import { runReplay, type ReplayFlags } from './log-replay';

// ------------------------------------------------------------------------------------ options

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

// ------------------------------------------------------------------------------------ output

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
