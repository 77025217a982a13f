// Free-disk alarm, like RabbitMQ's disk_free_limit: when the data directory's filesystem has
// less free space than the limit, publishers are blocked until space returns. A write error
// (ENOSPC, EIO) raises the same alarm at once, before the periodic check would notice.
import * as fs from 'node:fs';
import { log } from '../logger';
import { watchWrites } from '../store';

export type AlarmListener = (active: boolean, reason: string) => void;

// After a failed write, free space must be at least this (or the limit, if larger) before the
// alarm clears: with a limit of 0, "free >= 0" would unblock publishers on a still-full disk,
// only for their next write to fail again.
const WRITE_ERROR_HEADROOM = 1024 * 1024;
// Between two checks at most half the room above the limit is written, and at least this.
const MIN_WRITE_WATCH = 1024 * 1024;

export class DiskMonitor {
  private timer: NodeJS.Timeout | null = null;
  private active = false;
  private ioErrorUntil = 0;
  private writeError = false;
  private blockReason = 'low on disk';   // a write failed since the alarm was last clear
  private readonly listeners: AlarmListener[] = [];
  private readonly checkers: Array<() => void> = [];

  // statfs is cheap (a few microseconds): checking often raises the alarm before the disk is full.
  constructor(private readonly dir: string, private readonly limitBytes: number, private readonly intervalMs = 200) {}

  get alarmed(): boolean { return this.active; }

  /** why publishers are blocked, as connection.blocked says it */
  get reason(): string { return this.blockReason; }

  onChange(fn: AlarmListener): void { this.listeners.push(fn); }

  /** Called after every check while the alarm is on (the broker gives space back then). */
  whileAlarmed(fn: () => void): void { this.checkers.push(fn); }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private readonly onWritten = (): void => {
    if (this.timer !== null) this.check();
  };

  freeBytes(): number {
    const s = fs.statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  // A failed write: alarm now, and keep it while writes keep failing (the broker retries its
  // buffered writes every 100 ms), for a few checks after the last failure, and until there is
  // room again (an EIO is not about free space, so it clears once writes stop failing).
  reportWriteError(err: unknown): void {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code === 'EMFILE' || code === 'ENFILE') {
      // out of file descriptors is not a disk problem: blocking every publisher would not help
      log.error(`cannot open a file under ${this.dir}: ${(err as Error).message}`);
      return;
    }
    if (!this.writeError) log.error(`write to ${this.dir} failed: ${(err as Error)?.message ?? err}; blocking publishers`);
    this.writeError = true;
    this.ioErrorUntil = Date.now() + 3 * this.intervalMs;
    this.set(true, (err as NodeJS.ErrnoException)?.code === 'ENOSPC' ? 'disk full' : 'write error');
  }

  check(): void {
    let free: number;
    try {
      free = this.freeBytes();
    } catch (e) {
      log.error(`cannot read free disk space of ${this.dir}: ${(e as Error).message}`);
      return;
    }
    // The next check also comes once half of the room above the limit could have been written.
    watchWrites(Math.max(MIN_WRITE_WATCH, (free - this.limitBytes) / 2), this.onWritten);
    const low = free < this.limitBytes;
    if (this.active) for (const fn of this.checkers) fn();
    if (low) {
      this.set(true, `free disk space ${free} bytes is below the limit of ${this.limitBytes} bytes`);
      return;
    }
    if (this.writeError) {
      if (Date.now() < this.ioErrorUntil || free < Math.max(this.limitBytes, WRITE_ERROR_HEADROOM)) return;
      this.writeError = false;
    }
    this.set(false, `free disk space ${free} bytes`);
  }

  private set(active: boolean, reason: string): void {
    if (active === this.active) return;
    this.active = active;
    // connection.blocked carries a short reason, as RabbitMQ's "low on disk"
    this.blockReason = reason === 'write error' ? 'disk write failed' : 'low on disk';
    if (active) log.warn(`disk alarm set: ${reason}`);
    else log.info(`disk alarm cleared: ${reason}`);
    // A listener can change the state again (unblocking replays held publishes, whose write can
    // fail and raise the alarm): later listeners get the state as it is by then.
    for (const fn of this.listeners) fn(this.active, this.active ? this.blockReason : reason);
  }
}
