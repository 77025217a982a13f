// How far each lane of a durable queue has been handed to consumers, so that after a restart the
// messages that may have been delivered come back with redelivered=true. The mark on disk is
// written AHEAD of delivery: before a lane delivers past it, it moves a stride further (a small
// write, no fsync: a killed process loses nothing the kernel has). So after a crash every
// message that was delivered, and a few that were not, come back redelivered (the flag means
// "may have been delivered"); after a clean stop the exact marks are written.
//
// The file is rewritten in place with one positional write, padded with spaces to its previous
// length (JSON allows trailing whitespace): one small write() reaches the page cache whole or not
// at all, and it costs about 8 us where a temporary file and a rename cost 180-800 us on the event
// loop, every 16,384 deliveries of each lane. A file that does not parse (a torn write after a
// power loss) counts as "everything may have been delivered", as an unreadable one does.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DELIVERED_MARKS_FILE } from '../store/data-dir';
import { closeQuiet, writeFully } from '../store/fd-cache';
import { log } from '../logger';

const STRIDE = 16384;

export class DeliveredMarks {
  private readonly file: string;
  private readonly onDisk: number[] = [];
  private failedOnce = false;
  /** bytes in the file now: a shorter text is padded to this */
  private fileLength = 0;

  constructor(dir: string) {
    this.file = path.join(dir, DELIVERED_MARKS_FILE);
  }

  /** The marks on disk by lane (an unreadable file: null, meaning "assume all delivered"). */
  load(): Map<number, number> | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
      this.fileLength = Buffer.byteLength(text);
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
    const text = JSON.stringify(j);
    const bytes = Buffer.from(text.length < this.fileLength ? text.padEnd(this.fileLength, ' ') : text);
    // counted before the write: after a short write (disk full) the next text still covers it all
    if (bytes.length > this.fileLength) this.fileLength = bytes.length;
    let fd = -1;
    try {
      // no O_TRUNC: a failed write (disk full) leaves the previous marks, not an empty file
      fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
      writeFully(fd, bytes, 0, bytes.length, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // the queue directory is gone
      if (!this.failedOnce) log.warn(`cannot write ${this.file}: ${(e as Error).message}`);
      this.failedOnce = true;
    } finally {
      if (fd >= 0) closeQuiet(fd);
    }
  }
}
