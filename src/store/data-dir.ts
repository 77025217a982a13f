// Every file and directory Warren keeps under its data directory is named here, so that the
// broker, recovery, `warren log verify|dump|replay` and (later) replication agree on one layout:
//
//   <data>/warren.lock                 pid of the broker holding the directory (see dir-lock.ts)
//   <data>/metadata/                   durable definitions: snapshot + change logs
//                                      (metadata-store.ts, broker/definitions.ts)
//   <data>/definitions.json            where earlier versions kept them: migrated at the first
//                                      start, then renamed definitions.json.migrated
//   <data>/vhosts/<h(vhost)>/queues/<h(queue)>/           one directory per durable queue
//       log/ , log-p<N>/               one segmented log per priority lane (0 = log/)
//       delivered.json                 how far each lane was handed out, written at a clean stop
//       delivery-counts                x-delivery-limit counts (delivery-counts.ts)
//   <data>/transient/                  logs of non-durable queues, wiped at every start
//
// Inside a log directory:
//   <base>.log  records (record.ts)      <base>.idx  sparse offset index (offset-index.ts)
//   <base>.ack  acked offsets (ack-file.ts)
//   <base>.vol  offsets of records that do not survive a restart (volatile-list.ts)
//   recovery-point, clean-shutdown      (log-loader.ts)
// where <base> is the segment's first offset, zero-padded to 20 digits.
import * as crypto from 'node:crypto';
import * as path from 'node:path';

export const LOCK_FILE = 'warren.lock';
export const DEFINITIONS_FILE = 'definitions.json';
export const METADATA_DIR = 'metadata';
export const TRANSIENT_DIR = 'transient';
const VHOSTS_DIR = 'vhosts';
const QUEUES_DIR = 'queues';

export const DELIVERED_MARKS_FILE = 'delivered.json';
export const DELIVERY_COUNTS_FILE = 'delivery-counts';

export const RECOVERY_POINT_FILE = 'recovery-point';
export const CLEAN_SHUTDOWN_FILE = 'clean-shutdown';

export const SEGMENT_NAME_RE = /^(\d{20})\.log$/;
/** a segment's companion files (.idx, .ack, .vol) */
export const COMPANION_NAME_RE = /^(\d{20})\.(idx|ack|vol)$/;
/** left by an interrupted atomic rewrite or a background deletion; removed when a log opens */
export function isLeftover(name: string): boolean {
  return name.endsWith('.tmp') || name.endsWith('.deleted');
}

/** Directory names are hashes: queue and vhost names may hold any character. */
export function hashName(name: string): string {
  return crypto.createHash('sha256').update(name).digest('hex').slice(0, 24);
}

export function vhostsRoot(dataDir: string): string {
  return path.join(dataDir, VHOSTS_DIR);
}

export function vhostDir(dataDir: string, vhost: string): string {
  return path.join(dataDir, VHOSTS_DIR, hashName(vhost));
}

export function queuesDirOf(vhostDirectory: string): string {
  return path.join(vhostDirectory, QUEUES_DIR);
}

export function durableQueueDir(dataDir: string, vhost: string, queue: string): string {
  return path.join(vhostDir(dataDir, vhost), QUEUES_DIR, hashName(queue));
}

/** A non-durable queue's directory: unique per declaration, wiped at the next start. */
export function transientQueueDir(dataDir: string, vhost: string, queue: string, seq: number): string {
  return path.join(dataDir, TRANSIENT_DIR, `${hashName(vhost + '\0' + queue)}-${process.pid}-${seq}`);
}

/** The log directory of a queue's priority lane. */
export function laneDir(queueDir: string, lane: number): string {
  return path.join(queueDir, lane === 0 ? 'log' : `log-p${lane}`);
}

/** The lane a queue subdirectory holds, or -1 when it is not a lane directory. */
export function laneOfDirName(name: string): number {
  if (name === 'log') return 0;
  const m = /^log-p(\d+)$/.exec(name);
  return m ? Number(m[1]) : -1;
}

export interface SegmentFiles {
  base: number;
  name: string;
  log: string;
  idx: string;
  ack: string;
  vol: string;
}

export function segmentStem(base: number): string {
  return String(base).padStart(20, '0');
}

export function segmentFiles(dir: string, base: number): SegmentFiles {
  const stem = path.join(dir, segmentStem(base));
  return { base, name: segmentStem(base) + '.log', log: stem + '.log', idx: stem + '.idx', ack: stem + '.ack', vol: stem + '.vol' };
}
