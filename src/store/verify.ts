/*
 * Read-only verifier and reader of a SegmentedLog directory (see log.ts, segment.ts, record.ts for
 * the files), for `warren log verify|dump|replay`.
 *
 * Nothing here writes, truncates, renames or deletes: every file is opened with 'r', and nothing of
 * SegmentedLog.open (which recovers, truncates and rewrites indexes) is used. So it works on a log
 * that a running broker has open (it then sees a consistent prefix: the .idx and .ack files are
 * read before the .log, and the broker always writes data before the index entries and acks that
 * refer to it), and on a log left by a crash, which it describes as recovery would find it.
 *
 * What is checked, per segment (`<base>.log` with `.idx` and `.ack`):
 *  - every frame: plausible length, the frame fits in the file, magic, internal lengths, CRC;
 *  - offsets: the first record has the segment's base offset, then +1 per record; segments do
 *    not overlap (gaps between segments are normal: fully acked segments are deleted);
 *  - .idx: whole 8-byte entries, strictly increasing, each pointing at the start of a record
 *    with the relative offset it names;
 *  - .ack: whole 4-byte entries, each naming a record of the segment.
 *
 * A damaged frame is reported with the segment file, its byte position and the offset expected
 * there, and the walk resynchronises on the next valid frame (the damaged frame's own length when
 * it leads to a valid frame, else a byte-by-byte search), so one flipped bit costs one record and
 * the rest of the segment is still checked. Damage at the end of the newest segment with no valid
 * record after it is what a crash in the middle of a write leaves: it is reported as a torn tail
 * (severity 'warning'), the bytes recovery would truncate, not as corruption.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HEADER_SIZE, MAX_RECORD_SIZE, checkFrame, decodeFrame, frameCount, frameOffset, frameTimestamp, readU32 } from './record';
import { CLEAN_SHUTDOWN_FILE, COMPANION_NAME_RE, SEGMENT_NAME_RE, isLeftover, segmentFiles } from './data-dir';
import { readRecoveryPoint } from './log-loader';
import { FrameWindow, fdFrameFile, resync as findNextFrame } from './record-walker';

/** 'error': data is damaged (verify fails); 'warning': what recovery repairs by design; 'info': remarks. */
export type Severity = 'error' | 'warning' | 'info';

export type ProblemKind =
  | 'record' // a frame that fails its checks (length, magic, lengths, CRC, offset)
  | 'unreadable' // a byte range with no valid frame in it
  | 'torn-tail' // incomplete data at the end of the newest segment
  | 'overlap' // segments with overlapping offsets
  | 'index'
  | 'ack'
  | 'file'; // a file that cannot be read, an empty closed segment, a stray file

export interface Problem {
  severity: Severity;
  kind: ProblemKind;
  /** path of the file concerned (.log, .idx or .ack), as given by the log directory */
  file: string;
  /** byte position in that file */
  position?: number;
  /** log offset concerned */
  offset?: number;
  message: string;
}

export interface SegmentSummary {
  name: string;
  path: string;
  base: number;
  /** file size when the walk started */
  bytes: number;
  /** end of the last valid record */
  validBytes: number;
  /** valid records */
  records: number;
  /** records lost to damage (offsets skipped by a resync, or after a damaged frame) */
  badRecords: number;
  /** offset after the last valid record */
  nextOffset: number;
  firstTimestamp: number;
  lastTimestamp: number;
  indexEntries: number;
  /** distinct acked records */
  acked: number;
  newest: boolean;
}

export interface LogReport {
  dir: string;
  segments: SegmentSummary[];
  records: number;
  acked: number;
  badRecords: number;
  bytes: number;
  /** the log was closed cleanly (clean-shutdown marker present); false: open by a broker, or crashed */
  cleanShutdown: boolean;
  recoveryPoint: { segment: number; position: number } | null;
  problems: Problem[];
  errors: number;
  warnings: number;
  /** no problem of severity 'error' */
  ok: boolean;
}

export interface ScannedRecord {
  offset: number;
  timestamp: number;
  flags: number;
  /** offsets the record takes (a stream chunk: its messages) */
  count: number;
  envelope: unknown;
  props: Buffer;
  body: Buffer;
  /** framed size on disk */
  size: number;
  /** segment file path and byte position of the frame */
  file: string;
  position: number;
  /** the .ack file has an entry for it */
  acked: boolean;
}

export type ScanEvent =
  | { kind: 'record'; record: ScannedRecord }
  | { kind: 'problem'; problem: Problem }
  | { kind: 'segment'; segment: SegmentSummary };

export interface ScanOptions {
  /** yield decoded records (default false: verify only) */
  records?: boolean;
  /** with records: which ones to decode and yield (cheap pre-filter on offset and timestamp) */
  select?: (offset: number, timestamp: number, count: number) => boolean;
  /**
   * Skip segments that cannot hold offsets in [from, to] (they are neither read nor verified).
   * Decided from the segment file names (a segment ends where the next one begins).
   */
  offsetRange?: { from?: number; to?: number };
  /** read chunk size (default 4 MiB) */
  chunkBytes?: number;
}

const DEFAULT_CHUNK = 4 * 1024 * 1024;

function readIfExists(p: string): Buffer | null {
  try {
    return fs.readFileSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

interface SegFile {
  base: number;
  name: string;
  logPath: string;
  idxPath: string;
  ackPath: string;
}

function listSegments(dir: string): { segs: SegFile[]; stray: string[] } {
  const names = fs.readdirSync(dir);
  const segs: SegFile[] = [];
  const stems = new Set<string>();
  for (const n of names) {
    const m = SEGMENT_NAME_RE.exec(n);
    if (!m) continue;
    stems.add(m[1]);
    const f = segmentFiles(dir, Number(m[1]));
    segs.push({ base: f.base, name: f.name, logPath: f.log, idxPath: f.idx, ackPath: f.ack });
  }
  const stray: string[] = [];
  for (const n of names) {
    const m = COMPANION_NAME_RE.exec(n);
    if ((m && !stems.has(m[1])) || isLeftover(n)) stray.push(n);
  }
  segs.sort((a, b) => a.base - b.base);
  return { segs, stray };
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Walk a log directory read-only. Yields problems as they are found, records when asked
 * (opts.records), and one 'segment' summary after each segment; returns the whole report.
 * Breaking out of the iteration closes every file.
 */
export function* scanLog(dir: string, opts: ScanOptions = {}): Generator<ScanEvent, LogReport, void> {
  const report: LogReport = {
    dir,
    segments: [],
    records: 0,
    acked: 0,
    badRecords: 0,
    bytes: 0,
    cleanShutdown: fs.existsSync(path.join(dir, CLEAN_SHUTDOWN_FILE)),
    recoveryPoint: readRecoveryPoint(dir),
    problems: [],
    errors: 0,
    warnings: 0,
    ok: true,
  };
  const problem = (p: Problem): ScanEvent => {
    report.problems.push(p);
    if (p.severity === 'error') {
      report.errors++;
      report.ok = false;
    } else if (p.severity === 'warning') report.warnings++;
    return { kind: 'problem', problem: p };
  };

  const { segs, stray } = listSegments(dir);
  for (const n of stray)
    yield problem({ severity: 'info', kind: 'file', file: path.join(dir, n), message: 'stray file (removed when the log is opened)' });

  const chunk = Math.max(64 * 1024, opts.chunkBytes ?? DEFAULT_CHUNK);
  const range = opts.offsetRange;
  let prevNext = -1;
  let prevName = '';
  for (let i = 0; i < segs.length; i++) {
    const sf = segs[i];
    const newest = i === segs.length - 1;
    if (range !== undefined) {
      const end = newest ? Infinity : segs[i + 1].base; // exclusive bound of this segment's offsets
      if ((range.from !== undefined && end <= range.from) || (range.to !== undefined && sf.base > range.to)) continue;
    }
    if (prevNext > sf.base)
      yield problem({
        severity: 'error', kind: 'overlap', file: sf.logPath, position: 0, offset: sf.base,
        message: `segment starts at offset ${sf.base} but ${prevName} holds records up to offset ${prevNext - 1}`,
      });
    const nextBase = newest ? -1 : segs[i + 1].base;
    const summary = yield* scanSegment(sf, newest, nextBase, report.cleanShutdown, chunk, opts, problem);
    if (summary === null) continue;
    report.segments.push(summary);
    report.records += summary.records;
    report.acked += summary.acked;
    report.badRecords += summary.badRecords;
    report.bytes += summary.bytes;
    prevNext = summary.nextOffset;
    prevName = sf.name;
    yield { kind: 'segment', segment: summary };
  }
  return report;
}

/** Run scanLog to the end and return the report. */
export function verifyLog(dir: string, opts: ScanOptions = {}): LogReport {
  const it = scanLog(dir, opts);
  for (;;) {
    const r = it.next();
    if (r.done) return r.value;
  }
}

function* scanSegment(
  sf: SegFile,
  newest: boolean,
  nextBase: number,
  clean: boolean,
  chunk: number,
  opts: ScanOptions,
  problem: (p: Problem) => ScanEvent,
): Generator<ScanEvent, SegmentSummary | null, void> {
  // .idx and .ack before the .log: whatever they refer to was written before them
  let idxBuf: Buffer | null;
  let ackBuf: Buffer | null;
  let fd: number;
  try {
    idxBuf = readIfExists(sf.idxPath);
    ackBuf = readIfExists(sf.ackPath);
    fd = fs.openSync(sf.logPath, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      // deleted by a running broker (all acked, or retention) between the listing and now
      yield problem({ severity: 'info', kind: 'file', file: sf.logPath, message: 'segment disappeared while verifying (deleted by the broker)' });
      return null;
    }
    yield problem({ severity: 'error', kind: 'file', file: sf.logPath, message: `cannot read: ${(e as Error).message}` });
    return null;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const s: SegmentSummary = {
      name: sf.name, path: sf.logPath, base: sf.base, bytes: size, validBytes: 0, records: 0, badRecords: 0,
      nextOffset: sf.base, firstTimestamp: 0, lastTimestamp: 0, indexEntries: 0, acked: 0, newest,
    };

    // ---- index entries: matched against the records during the walk (sorted by position),
    // their order checked after it
    let idxRel: number[] = [];
    let idxPos: number[] = [];
    let idxSlot: number[] = []; // entry number in the file, for messages
    let entryBad = new Uint8Array(0); // by entry number: already reported
    if (idxBuf !== null) {
      const n = idxBuf.length >> 3;
      s.indexEntries = n;
      entryBad = new Uint8Array(n);
      if (idxBuf.length & 7)
        yield problem({
          severity: 'warning', kind: 'index', file: sf.idxPath, position: n * 8,
          message: `${idxBuf.length & 7} torn bytes after the last whole entry (the index is rebuilt when invalid)`,
        });
      const order = Array.from({ length: n }, (_, k) => k);
      const relAt = (k: number) => (idxBuf as Buffer).readUInt32LE(k * 8);
      const posAt = (k: number) => (idxBuf as Buffer).readUInt32LE(k * 8 + 4);
      order.sort((a, b) => posAt(a) - posAt(b) || a - b);
      idxRel = order.map(relAt);
      idxPos = order.map(posAt);
      idxSlot = order;
    }

    // ---- ack entries
    let acked: Uint8Array | null = null;
    let maxAckRel = -1;
    let maxAckAt = 0;
    let ackEntries = 0;
    if (ackBuf !== null) {
      ackEntries = ackBuf.length >> 2;
      if (ackBuf.length & 3)
        yield problem({
          severity: 'warning', kind: 'ack', file: sf.ackPath, position: ackEntries * 4,
          message: `${ackBuf.length & 3} torn bytes after the last whole entry (dropped when the log is opened)`,
        });
      // a record is at least HEADER_SIZE bytes: larger relative offsets cannot be in this file
      const bound = Math.floor(size / HEADER_SIZE) + 1;
      acked = new Uint8Array((Math.min(bound, 0xffffffff) + 8) >> 3);
      for (let k = 0; k < ackEntries; k++) {
        const rel = ackBuf.readUInt32LE(k * 4);
        if (rel > maxAckRel) {
          maxAckRel = rel;
          maxAckAt = k * 4;
        }
        if (rel < bound) acked[rel >> 3] |= 1 << (rel & 7);
      }
    }
    const isAcked = (rel: number): boolean => acked !== null && rel >> 3 < acked.length && (acked[rel >> 3] & (1 << (rel & 7))) !== 0;

    // ---- the walk
    const file = fdFrameFile(fd, size);
    const w = new FrameWindow(Math.min(chunk, Math.max(size, HEADER_SIZE)));
    let pos = 0;
    let rel = 0;
    let k = 0; // next index entry to match
    const badRanges: [number, number][] = [];
    const inBad = (p: number): boolean => badRanges.some(([a, b]) => p >= a && p < b);
    const wantRecords = opts.records === true;
    const select = opts.select;
    const expected = (): number => sf.base + rel;

    /** the bytes from `at` on hold no valid frame: torn tail or unreadable rest */
    let tailBad = -1; // start of an unreadable rest / torn tail
    const failRest = (at: number, reason: string): ScanEvent => {
      badRanges.push([at, size]);
      tailBad = at;
      const lost = size - at;
      if (newest)
        return problem({
          severity: 'warning', kind: 'torn-tail', file: sf.logPath, position: at, offset: expected(),
          message: `torn tail: ${plural(lost, 'byte')} at byte ${at} (${reason}) would be truncated at recovery` +
            (rel > 0 ? `; last complete record is offset ${expected() - 1}` : '; the segment has no complete record') +
            (clean ? '' : ' (if a broker is running, it may still be writing them)'),
        });
      const upTo = nextBase > expected() ? ` (up to ${plural(nextBase - expected(), 'record')}: the next segment starts at offset ${nextBase})` : '';
      if (nextBase > expected()) s.badRecords += nextBase - expected();
      return problem({
        severity: 'error', kind: 'unreadable', file: sf.logPath, position: at, offset: expected(),
        message: `${reason}; no valid record in the remaining ${plural(lost, 'byte')} (byte ${at} to the end): records from offset ${expected()} in this segment are lost${upTo}`,
      });
    };

    /**
     * Find the next valid frame after a damaged one at `from`: a frame whose offset is not below
     * `minOffset` and could follow (every record takes at least HEADER_SIZE bytes).
     */
    const resync = (from: number, minOffset: number): { pos: number; offset: number } | null => findNextFrame(w, file, from, -1, minOffset);

    while (pos < size) {
      let i = w.ensure(file, pos, HEADER_SIZE);
      if (i < 0) {
        yield w.shrank ? problem({ severity: 'warning', kind: 'file', file: sf.logPath, position: pos, message: 'file became shorter while being read' })
          : failRest(pos, `${size - pos} bytes are too short for a record header`);
        break;
      }
      const len = readU32(w.buf, i);
      const fsz = len + 4;
      let reason: string | null = null;
      let found = -1;
      if (len < HEADER_SIZE - 4 || len > MAX_RECORD_SIZE) reason = `impossible record length ${len}`;
      else if (pos + fsz > size) reason = `record of ${fsz} bytes extends past the end of the file (${size - pos} bytes left)`;
      else {
        i = w.ensure(file, pos, fsz);
        if (i < 0) {
          yield problem({ severity: 'warning', kind: 'file', file: sf.logPath, position: pos, message: 'file became shorter while being read' });
          break;
        }
        reason = checkFrame(w.buf, i, fsz);
        found = frameOffset(w.buf, i);
        if (reason === null && found !== expected()) {
          // a valid frame in the wrong place
          const at = pos;
          yield problem({
            severity: 'error', kind: 'record', file: sf.logPath, position: at, offset: expected(),
            message: `record with offset ${found} where offset ${expected()} was expected (the frame itself is intact)`,
          });
          if (found > expected()) {
            s.badRecords += found - expected();
            rel = found - sf.base;
          } else {
            // an older offset again: count it as damage, keep expecting the same offset
            badRanges.push([pos, pos + fsz]);
            pos += fsz;
            continue;
          }
        }
      }
      if (reason !== null) {
        const at = pos;
        const inFrame = found >= 0 && found !== expected() ? ` (its offset field says ${found})` : '';
        // the frame's own length leads to the next record: one record lost
        if (fsz >= HEADER_SIZE && at + fsz < size) {
          const j = w.ensure(file, at + fsz, HEADER_SIZE);
          if (j >= 0) {
            const nlen = readU32(w.buf, j);
            const noff = frameOffset(w.buf, j);
            if (nlen >= HEADER_SIZE - 4 && nlen <= MAX_RECORD_SIZE && at + fsz + nlen + 4 <= size && noff === expected() + 1) {
              const jj = w.ensure(file, at + fsz, nlen + 4);
              if (jj >= 0 && checkFrame(w.buf, jj, nlen + 4) === null) {
                yield problem({
                  severity: 'error', kind: 'record', file: sf.logPath, position: at, offset: expected(),
                  message: `${reason} in record at offset ${expected()}${inFrame} (${fsz} bytes; the next record, at byte ${at + fsz}, is intact)`,
                });
                badRanges.push([at, at + fsz]);
                s.badRecords++;
                pos = at + fsz;
                rel++;
                continue;
              }
            }
          }
        }
        // the damaged frame is the last thing in the segment
        if (fsz >= HEADER_SIZE && at + fsz === size) {
          if (newest) {
            // an interrupted write
            yield failRest(at, `${reason} in the last record`);
            break;
          }
          yield problem({
            severity: 'error', kind: 'record', file: sf.logPath, position: at, offset: expected(),
            message: `${reason} in record at offset ${expected()}${inFrame} (${fsz} bytes, the last record of the segment)`,
          });
          badRanges.push([at, size]);
          s.badRecords++;
          rel++;
          pos = size;
          break;
        }
        const next = resync(at, expected());
        if (next === null) {
          yield failRest(at, `${reason} at offset ${expected()}${inFrame}`);
          break;
        }
        const lost = next.offset - expected();
        yield problem({
          severity: 'error', kind: 'unreadable', file: sf.logPath, position: at, offset: expected(),
          message: `${reason} at offset ${expected()}${inFrame}: ${plural(next.pos - at, 'byte')} unreadable up to byte ${next.pos}` +
            (lost === 1 ? `, offset ${expected()} lost` : lost > 1 ? `, offsets ${expected()}..${next.offset - 1} lost (${lost} records)` : '') +
            `; resumed at offset ${next.offset}`,
        });
        badRanges.push([at, next.pos]);
        s.badRecords += lost;
        pos = next.pos;
        rel = next.offset - sf.base;
        continue;
      }

      // ---- a good record at (rel, pos)
      const ts = frameTimestamp(w.buf, i);
      if (s.records === 0) s.firstTimestamp = ts;
      if (ts > s.lastTimestamp) s.lastTimestamp = ts;
      while (k < idxPos.length && idxPos[k] < pos) {
        entryBad[idxSlot[k]] = 1;
        if (!inBad(idxPos[k]))
          yield problem({
            severity: 'error', kind: 'index', file: sf.idxPath, position: idxSlot[k] * 8, offset: sf.base + idxRel[k],
            message: `entry ${idxSlot[k]} (relative offset ${idxRel[k]}) points at byte ${idxPos[k]}, which is not the start of a record`,
          });
        k++;
      }
      while (k < idxPos.length && idxPos[k] === pos) {
        if (idxRel[k] !== rel) {
          entryBad[idxSlot[k]] = 1;
          yield problem({
            severity: 'error', kind: 'index', file: sf.idxPath, position: idxSlot[k] * 8, offset: sf.base + idxRel[k],
            message: `entry ${idxSlot[k]} says relative offset ${idxRel[k]} (offset ${sf.base + idxRel[k]}) at byte ${pos}, but the record there is offset ${sf.base + rel}`,
          });
        }
        k++;
      }
      const offset = sf.base + rel;
      if (wantRecords && (select === undefined || select(offset, ts, frameCount(w.buf, i)))) {
        const r = decodeFrame(w.buf, i, fsz);
        yield {
          kind: 'record',
          record: {
            offset, timestamp: r.timestamp, flags: r.flags, count: r.count, envelope: r.envelope, props: r.props, body: r.body, size: fsz,
            file: sf.logPath, position: pos, acked: isAcked(rel),
          },
        };
      }
      s.records++;
      if (isAcked(rel)) s.acked++;
      pos += fsz;
      rel += frameCount(w.buf, i); // a batch record (a stream chunk) takes several offsets
      s.validBytes = pos;
    }
    s.nextOffset = sf.base + rel;

    // index entries beyond the last record matched
    for (; k < idxPos.length; k++) {
      const p = idxPos[k];
      entryBad[idxSlot[k]] = 1;
      if (tailBad >= 0 && p >= tailBad) {
        if (newest)
          yield problem({
            severity: 'warning', kind: 'index', file: sf.idxPath, position: idxSlot[k] * 8, offset: sf.base + idxRel[k],
            message: `entry ${idxSlot[k]} points at byte ${p}, in the torn tail (dropped at recovery)`,
          });
        continue; // in an unreadable rest already reported
      }
      if (inBad(p)) continue;
      yield problem({
        severity: 'error', kind: 'index', file: sf.idxPath, position: idxSlot[k] * 8, offset: sf.base + idxRel[k],
        message: p >= size
          ? `entry ${idxSlot[k]} (relative offset ${idxRel[k]}) points at byte ${p}, past the end of the segment (${size} bytes)`
          : `entry ${idxSlot[k]} (relative offset ${idxRel[k]}) points at byte ${p}, which is not the start of a record`,
      });
    }

    // entries that each point at the right record but are not in increasing order
    if (idxBuf !== null) {
      let prevRel = 0;
      let prevPos = 0;
      let prevOk = true;
      for (let e = 0; e < entryBad.length; e++) {
        const rel = idxBuf.readUInt32LE(e * 8);
        const pos = idxBuf.readUInt32LE(e * 8 + 4);
        const ok = entryBad[e] === 0;
        if (ok && prevOk && (rel <= prevRel || pos <= prevPos))
          yield problem({
            severity: 'error', kind: 'index', file: sf.idxPath, position: e * 8, offset: sf.base + rel,
            message: e === 0 && rel === 0
              ? 'entry 0 is for the first record, which is implicit and never stored'
              : `entry ${e} (relative offset ${rel} at byte ${pos}) does not come after entry ${e - 1} (relative offset ${prevRel} at byte ${prevPos}): entries must increase`,
          });
        prevRel = rel;
        prevPos = pos;
        prevOk = ok;
      }
    }

    // ack entries naming records the segment does not have
    const count = s.nextOffset - sf.base;
    if (maxAckRel >= count) {
      let past = 0;
      for (let q = 0; q < ackEntries; q++) if ((ackBuf as Buffer).readUInt32LE(q * 4) >= count) past++;
      const tornTail = newest && tailBad >= 0;
      yield problem({
        severity: newest ? 'warning' : 'error', kind: 'ack', file: sf.ackPath, position: maxAckAt, offset: sf.base + maxAckRel,
        message: `${plural(past, 'entry', 'entries')} name records past the data (up to relative offset ${maxAckRel}, the segment has ${plural(count, 'record')})` +
          (newest ? `; dropped when the log is opened${tornTail ? ' (acks of records in the torn tail)' : ''}` : ''),
      });
    }

    if (!newest && size === 0)
      yield problem({ severity: 'info', kind: 'file', file: sf.logPath, message: 'empty closed segment (removed when the log is opened)' });
    return s;
  } finally {
    fs.closeSync(fd);
  }
}
