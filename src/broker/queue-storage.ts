// Where a classic queue's messages live, built only when the queue first needs it: the log of
// each lane (one, or one per priority level), the lane stores over them, direct delivery in
// front, and the delivered marks of a durable queue. That is a dozen objects and as many
// closures per queue (SegmentedLog, its group commit, tail cache, cursor ...), and a queue that
// is declared and never used should not pay for them: 20,000 idle durable queues held about
// 100 MiB of heap when each built its storage at declare time, and every major GC of a busy
// broker walked all of it (benchmark S1 ran 13% slower beside them, issue 11). An idle queue
// therefore points at EMPTY_STORE, and ClassicQueue opens a QueueStorage when a message arrives,
// a consumer asks for one, or its directory exists on disk (a restart, a redeclare).
import * as fs from 'node:fs';
import { type LogRecord, SegmentedLog } from '../store';
import { laneDir, laneOfDirName } from '../store/data-dir';
import { log as logger } from '../logger';
import { DeliveredMarks } from './delivered-marks';
import { DirectDelivery } from './direct-delivery';
import { LaneStore } from './lane-store';
import { FLAG_PERSISTENT } from './message';
import type { MessageRef } from './message-ref';
import type { MessageStore, StoreHead } from './message-store';
import { PriorityStore } from './priority-store';

export interface StorageSpec {
  readonly dir: string;
  readonly durable: boolean;
  readonly maxPriority: number | null;
  /** how log lines name the queue */
  readonly what: string;
}

export class QueueStorage {
  readonly store: MessageStore;
  /** null for priority queues (no direct delivery there) */
  readonly direct: DirectDelivery | null;
  private readonly marks: DeliveredMarks | null;
  private readonly lanesOf: () => LaneStore[];

  /** Opens (and recovers) what is on disk under spec.dir; creates nothing there. */
  constructor(private readonly spec: StorageSpec) {
    this.marks = spec.durable ? new DeliveredMarks(spec.dir) : null;
    const delivered = this.marks?.load() ?? new Map<number, number>();
    const open = (p: number): LaneStore => this.openLane(p, delivered === null ? Infinity : delivered.get(p) ?? 0);
    if (spec.maxPriority !== null) {
      const max = spec.maxPriority;
      const existing = existingLanes(spec.dir).filter((p) => p <= max).map(open);
      const ps = new PriorityStore(max, existing, open);
      this.store = ps;
      this.direct = null;
      this.lanesOf = () => ps.allLanes();
    } else {
      const lane = open(0);
      this.direct = new DirectDelivery(lane);
      this.store = this.direct;
      this.lanesOf = () => [lane];
    }
  }

  lanes(): LaneStore[] {
    return this.lanesOf();
  }

  /**
   * Nothing ever reached a log (no segment, no offset taken) and direct delivery holds nothing:
   * closing this and opening it again later loses nothing and costs no I/O.
   */
  get unused(): boolean {
    for (const l of this.lanes()) if (l.log.nextOffset !== 0 || l.log.segmentCount !== 0) return false;
    return this.direct === null || this.direct.holdsNothing;
  }

  /** Closes logs that have no files (see unused): nothing is written. */
  release(): void {
    for (const l of this.lanes()) l.log.closeSync();
  }

  /** At a clean stop: how far each lane was handed out, exactly. */
  saveMarks(): void {
    if (this.marks === null) return;
    const exact: number[] = [];
    for (const l of this.lanes()) exact[l.lane] = l.deliveredUpTo;
    this.marks.saveExact(exact);
  }

  private openLane(p: number, redeliverBelow: number): LaneStore {
    const { durable, what } = this.spec;
    let lane: LaneStore | null = null;
    const log = SegmentedLog.open(laneDir(this.spec.dir, p), {
      fsync: durable,
      ephemeral: !durable,
      keepFlag: durable ? FLAG_PERSISTENT : 0,
      onWarning: (m) => logger.warn(`${what}: ${m}`),
      onProgress: (m) => logger.info(`${what}: ${m}`),
      onSyncFailed: (from, to, err) => { if (durable) lane?.dropUnsynced(from, to, err); },
    });
    lane = new LaneStore(log, p, redeliverBelow, this.marks, what);
    return lane;
  }
}

function existingLanes(dir: string): number[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names.map(laneOfDirName).filter((p) => p >= 0);
}

// The store of a queue that has not opened its storage: nothing ready, nothing to take. Only
// push() would need a real store, and ClassicQueue opens one before it pushes; a ref to settle
// or requeue exists only once something was taken from a real store.
const EMPTY_HEAD: StoreHead = Object.freeze({ rec: undefined, redelivered: false }) as StoreHead;

export const EMPTY_STORE: MessageStore = Object.freeze({
  ready: 0,
  readyBytes: 0,
  head: EMPTY_HEAD,
  push(): void { throw new Error('EMPTY_STORE.push: the queue has not opened its storage'); },
  peek: () => false,
  shift(): MessageRef { throw new Error('EMPTY_STORE.shift: nothing was peeked'); },
  requeue: () => undefined,
  settle: () => undefined,
  read: (): LogRecord | undefined => undefined,
  purge: () => 0,
  reclaim: () => undefined,
  logs: () => [],
  close: () => Promise.resolve(),
  destroy: () => undefined,
});
