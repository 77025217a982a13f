// Free-disk alarm, like RabbitMQ's disk_free_limit: when the data directory's filesystem has
// less free space than the limit, publishers are blocked until space returns. A write error
// (ENOSPC, EIO) raises the same alarm at once, before the periodic check would notice.
import * as fs from 'node:fs';
import { log } from '../logger';

export type AlarmListener = (active: boolean, reason: string) => void;

export class DiskMonitor {
  private timer: NodeJS.Timeout | null = null;
  private active = false;
  private ioErrorUntil = 0;
  private readonly listeners: AlarmListener[] = [];

  constructor(private readonly dir: string, private readonly limitBytes: number, private readonly intervalMs = 1000) {}

  get alarmed(): boolean { return this.active; }

  onChange(fn: AlarmListener): void { this.listeners.push(fn); }

  start(): void {
    this.check();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  freeBytes(): number {
    const s = fs.statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  // A failed write: alarm now, and keep it for a few checks even if statfs looks fine (an
  // EIO is not about free space).
  reportWriteError(err: unknown): void {
    log.error(`write to ${this.dir} failed: ${(err as Error)?.message ?? err}; blocking publishers`);
    this.ioErrorUntil = Date.now() + 3 * this.intervalMs;
    this.set(true, 'write error');
  }

  check(): void {
    let free: number;
    try {
      free = this.freeBytes();
    } catch (e) {
      log.error(`cannot read free disk space of ${this.dir}: ${(e as Error).message}`);
      return;
    }
    const low = free < this.limitBytes;
    if (low) this.set(true, `free disk space ${free} bytes is below the limit of ${this.limitBytes} bytes`);
    else if (Date.now() >= this.ioErrorUntil) this.set(false, `free disk space ${free} bytes`);
  }

  private set(active: boolean, reason: string): void {
    if (active === this.active) return;
    this.active = active;
    if (active) log.warn(`disk alarm set: ${reason}`);
    else log.info(`disk alarm cleared: ${reason}`);
    for (const fn of this.listeners) fn(active, active ? 'low on disk' : reason);
  }
}
