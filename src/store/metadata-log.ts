// The append side of the metadata store: records go into a buffer, and one round at a time
// writes everything buffered to the current log file and fdatasyncs it (group commit: one sync
// per batch, however many changes it holds). Callers wait for the round that covers their
// change with whenSynced(seq). A failed round keeps its bytes and is retried at the same file
// position, so a log never holds a gap or a half-written batch followed by good data.
//
// The file can be switched (compaction starts a new log): rounds started after the switch
// write to the new file; the old one is closed once its last round is done.
//
// The file is extended ahead of its data, PREALLOC_BYTES of zeros at a time, written by the
// round that first needs them. A round that only overwrites zeros leaves the file's size and
// blocks as they were, so its fdatasync flushes the data alone; one that grows the file also
// commits the filesystem's journal. Measured on ext4 (virtio disk, 250-byte rounds, 30
// alternating runs): 1,049 us per fdatasync appending, 740 us overwriting (median). A declare
// or bind waits for one such round, and a client declaring queues one at a time waits for
// nothing else. Replay treats a zero tail as the unused end of the file (metadata-store.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeMetadataRecord } from './metadata-record';

export const LOG_SUFFIX = '.log';

export function logFileName(gen: number): string {
  return String(gen).padStart(20, '0') + LOG_SUFFIX;
}

export function logHeader(gen: number): string {
  return JSON.stringify({ warren: 'metadata-log', version: 1, gen });
}

interface LogFile {
  gen: number;
  path: string;
  fd: number;
  size: number;         // bytes durably written (the next round writes here)
  allocated: number;    // the file's length: zeros from size up to here
  dirSynced: boolean;   // the directory entry of a new file is synced by its first round
}

const PREALLOC_BYTES = 1024 * 1024;

interface Round {
  promise: Promise<void>;
  resolve(): void;
  reject(e: Error): void;
}

function newRound(): Round {
  let resolve!: () => void, reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
  // A round nobody waits on must not become an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

const RETRY_MS = 1000;

export class MetadataLog {
  private file: LogFile;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private seq = 0;             // last sequence number appended
  private synced = 0;          // last sequence number durable
  private running = false;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private current: Round | null = null;   // the round being written
  private currentSeq = 0;
  private next: Round | null = null;      // the round that will take what is pending
  private closed = false;
  lastError: Error | null = null;

  // Continues the log file `gen` at `size` (a new file, size 0, gets its header first).
  constructor(private readonly dir: string, gen: number, size: number, private readonly onError: (e: Error) => void) {
    this.file = this.openFile(gen, size);
  }

  get gen(): number { return this.file.gen; }
  get size(): number { return this.file.size + this.pendingBytes; }
  get lastSeq(): number { return this.seq; }
  get syncedSeq(): number { return this.synced; }

  private openFile(gen: number, size: number): LogFile {
    const p = path.join(this.dir, logFileName(gen));
    const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    // (an existing file was cut to `size` by its replay)
    const f: LogFile = { gen, path: p, fd, size, allocated: size, dirSynced: size > 0 };
    if (size === 0) this.push(encodeMetadataRecord(logHeader(gen)));
    return f;
  }

  // Buffers one record; returns its sequence number.
  append(record: Buffer): number {
    if (this.closed) throw new Error('metadata log is closed');
    this.push(record);
    return this.seq;
  }

  private push(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    this.seq++;
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.scheduled || this.retryTimer !== null) return;
    this.scheduled = true;
    setImmediate(this.startRound);
  }

  // Resolves once every record up to seq is durable; null when it already is.
  whenSynced(seq = this.seq): Promise<void> | null {
    if (seq <= this.synced) return null;
    if (this.running && seq <= this.currentSeq) return this.current!.promise;
    return (this.next ??= newRound()).promise;
  }

  // Later rounds write to a new file `gen`; the current file is closed after its last round.
  switchTo(gen: number): void {
    const old = this.file;
    // What is pending was appended before the switch: it goes to the new file after its header
    // (replay reads old file, then new file, so the order holds).
    const moved = this.pending;
    const movedBytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    this.file = this.openFile(gen, 0);   // pushes the new file's header
    this.pending.push(...moved);
    this.pendingBytes += movedBytes;
    const closeOld = () => fs.close(old.fd, () => undefined);
    if (this.running) this.afterRound.push(closeOld);
    else closeOld();
  }
  private afterRound: Array<() => void> = [];

  private readonly startRound = (): void => {
    this.scheduled = false;
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
    const roundSeq = this.seq;
    this.pending = [];
    this.pendingBytes = 0;
    this.current = this.next ?? newRound();
    this.next = null;
    this.currentSeq = roundSeq;
    const f = this.file;
    // The write itself only copies into the page cache: done here, it saves a trip through
    // libuv's thread pool per round; the fdatasync runs there.
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(f.fd, data, done, data.length - done, f.size + done);
    } catch (err) {
      return this.failRound(data, err as Error);
    }
    if (f.size + data.length > f.allocated) preallocate(f, f.size + data.length);
    {
      fs.fdatasync(f.fd, (err2) => {
        if (err2) return this.failRound(data, err2);
        const done = () => {
          f.size += data.length;
          this.synced = roundSeq;
          this.lastError = null;
          this.endRound();
          this.current!.resolve();
          this.current = null;
        };
        if (f.dirSynced) return done();
        syncDir(this.dir, (err3) => {
          if (err3) return this.failRound(data, err3);
          f.dirSynced = true;
          done();
        });
      });
    }
  };

  // The bytes stay first in line and are written again at the same position after a pause;
  // whoever waits on this round learns of the failure now.
  private failRound(data: Buffer, err: Error): void {
    this.lastError = err;
    this.pending.unshift(data);
    this.pendingBytes += data.length;
    const round = this.current!;
    this.current = null;
    this.endRound();
    round.reject(err);
    this.onError(err);
    if (!this.closed) {
      this.retryTimer = setTimeout(() => { this.retryTimer = null; this.schedule(); }, RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private endRound(): void {
    this.running = false;
    const after = this.afterRound;
    this.afterRound = [];
    for (const fn of after) fn();
    if (this.pending.length > 0) this.schedule();
  }

  // Everything pending, written and synced before returning (shutdown, startup migration).
  syncNow(): void {
    if (this.running) throw new Error('metadata log: syncNow during a round');
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    if (this.pending.length > 0) {
      const data = Buffer.concat(this.pending, this.pendingBytes);
      const f = this.file;
      let done = 0;
      while (done < data.length) done += fs.writeSync(f.fd, data, done, data.length - done, f.size + done);
      fs.fdatasyncSync(f.fd);
      if (!f.dirSynced) { syncDirSync(this.dir); f.dirSynced = true; }
      f.size += data.length;
      if (f.size > f.allocated) f.allocated = f.size;
      this.pending = [];
      this.pendingBytes = 0;
    }
    this.synced = this.seq;
    const r = this.next;
    this.next = null;
    r?.resolve();
  }

  // Waits for the round in flight, then writes and syncs what is left, and closes the file.
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.running) await this.current!.promise.catch(() => undefined);
    this.closed = true;
    if (this.scheduled) this.scheduled = false;
    try {
      this.syncNow();
    } finally {
      fs.closeSync(this.file.fd);
    }
  }
}

// Zeros from `end` (where the round's data ends) on, synced with that data by the round's
// fdatasync. Never over data: a round rewritten after a failure starts at or below `end`. A
// failure (ENOSPC) is no error: the data is written, the file just grows record by record.
function preallocate(f: LogFile, end: number): void {
  const zeros = Buffer.alloc(PREALLOC_BYTES);
  try {
    let done = 0;
    while (done < zeros.length) done += fs.writeSync(f.fd, zeros, done, zeros.length - done, end + done);
    f.allocated = end + zeros.length;
  } catch {
    f.allocated = end;
  }
}

function syncDir(dir: string, cb: (err: Error | null) => void): void {
  fs.open(dir, 'r', (err, fd) => {
    if (err) return cb(null); // some filesystems cannot open directories: nothing to sync
    fs.fsync(fd, () => fs.close(fd, () => cb(null)));
  });
}

export function syncDirSync(dir: string): void {
  let fd = -1;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    /* some filesystems do not support fsync on directories */
  } finally {
    if (fd >= 0) fs.closeSync(fd);
  }
}
