// How far each lane of a durable queue has been handed to consumers, so that after a restart the
// messages that may have been delivered come back with redelivered=true. The mark on disk is
// written AHEAD of delivery: before a lane delivers past it, it moves a stride further (a small
// write, no fsync: a killed process loses nothing the kernel has). So after a crash every
// message that was delivered, and a few that were not, come back redelivered (the flag means
// "may have been delivered"); after a clean stop the exact marks are written.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DELIVERED_MARKS_FILE } from '../store/data-dir';
import { log } from '../logger';

const STRIDE = 16384;

export class DeliveredMarks {
  private readonly file: string;
  private readonly onDisk: number[] = [];
  private failedOnce = false;

  constructor(dir: string) {
    this.file = path.join(dir, DELIVERED_MARKS_FILE);
  }

  /** The marks on disk by lane (an unreadable file: null, meaning "assume all delivered"). */
  load(): Map<number, number> | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      log.warn(`cannot read ${this.file}: ${(e as Error).message}; every recovered message counts as redelivered`);
      return null;
    }
    try {
      const j = JSON.parse(text) as Record<string, number>;
      const m = new Map<number, number>();
      for (const [k, v] of Object.entries(j)) {
        m.set(Number(k), Number(v));
        this.onDisk[Number(k)] = Number(v);
      }
      return m;
    } catch {
      return null;
    }
  }

  /** Lane `lane` is about to deliver offsets below `upTo`. */
  advance(lane: number, upTo: number): void {
    if (upTo <= (this.onDisk[lane] ?? 0)) return;
    this.onDisk[lane] = upTo + STRIDE;
    this.write(this.onDisk);
  }

  /** At a clean stop: the exact marks. */
  saveExact(marks: number[]): void {
    this.write(marks);
  }

  private write(marks: number[]): void {
    const j: Record<string, number> = {};
    marks.forEach((v, lane) => { if (v > 0) j[lane] = v; });
    try {
      // through a temporary file: a failed write (disk full) must not leave an empty file
      fs.writeFileSync(this.file + '.tmp', JSON.stringify(j));
      fs.renameSync(this.file + '.tmp', this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // the queue directory is gone
      if (!this.failedOnce) log.warn(`cannot write ${this.file}: ${(e as Error).message}`);
      this.failedOnce = true;
    }
  }
}
