// A follower's side of the file operations: applies them to its copy of the data directory and
// makes them durable on request. Writes go to descriptors kept open per file (closed when the
// file is deleted, renamed or when too many are open).
//
// What sync() makes durable, off the event loop, before the follower acknowledges a position:
// - with a leader that sends SYNC operations (mirrorSyncs), the files the leader fdatasynced
//   (a SYNC names the file when the leader starts its fdatasync), as the leader itself: segment
//   data, the metadata log, atomically replaced files; not the indexes and ack files, which the
//   leader writes without syncing (its recovery rebuilds or tolerates them, and so does a
//   follower's). That is a third of the fdatasyncs per round of a queue's confirms.
// - otherwise (a leader of an earlier version), every file written since the last sync.
// Either way also truncated, replaced and renamed files, and the directories in which files
// were created or renamed (so a new segment's name is as durable as its data).
// syncAll() syncs everything written, for the end of a catch-up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FileOp, T } from './frames';

const MAX_OPEN = 256;

export class DirApplier {
  private readonly fds = new Map<string, number>();
  /** written since the last sync (synced when the leader syncs them, or by syncAll) */
  private written = new Set<number>();
  /** to fdatasync in the next round */
  private wanted = new Set<number>();
  /** directories (or files no longer open) to fsync in the next round, absolute paths */
  private wantedPaths = new Set<string>();
  private readonly dirs = new Set<string>();
  /** sync what the leader syncs (it sends SYNC operations), not every file written */
  mirrorSyncs = false;

  constructor(private readonly root: string) {}

  private abs(rel: string): string {
    const p = path.resolve(this.root, rel);
    if (!p.startsWith(this.root + path.sep)) throw new Error(`replicated path outside the data directory: ${rel}`);
    return p;
  }

  private ensureDir(p: string): void {
    const d = path.dirname(p);
    if (this.dirs.has(d)) return;
    fs.mkdirSync(d, { recursive: true });
    this.dirs.add(d);
  }

  private fd(rel: string): number {
    let fd = this.fds.get(rel);
    if (fd !== undefined) return fd;
    const p = this.abs(rel);
    this.ensureDir(p);
    if (this.fds.size >= MAX_OPEN) this.closeSome();
    try {
      fd = fs.openSync(p, fs.constants.O_RDWR);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      this.wantedPaths.add(path.dirname(p)); // a new name in the directory
    }
    this.fds.set(rel, fd);
    return fd;
  }

  // Descriptors written since the last sync stay open (sync needs them).
  private closeSome(): void {
    for (const [rel, fd] of this.fds) {
      if (this.written.has(fd) || this.wanted.has(fd)) continue;
      fs.closeSync(fd);
      this.fds.delete(rel);
      if (this.fds.size < MAX_OPEN / 2) return;
    }
  }

  private forget(rel: string): void {
    // The file itself and, for a directory, every open file under it.
    for (const [r, fd] of this.fds) {
      if (r === rel || r.startsWith(rel + path.sep)) {
        // its data is going away anyway: nothing to make durable
        this.written.delete(fd);
        this.wanted.delete(fd);
        fs.closeSync(fd);
        this.fds.delete(r);
      }
    }
    this.dirs.clear();
  }

  apply(op: FileOp): void {
    switch (op.t) {
      case T.Write: {
        const fd = this.fd(op.path);
        let done = 0;
        while (done < op.data.length) done += fs.writeSync(fd, op.data, done, op.data.length - done, op.at + done);
        this.written.add(fd);
        if (!this.mirrorSyncs) this.wanted.add(fd);
        return;
      }
      case T.Truncate: {
        const fd = this.fd(op.path);
        fs.ftruncateSync(fd, op.len);
        this.wanted.add(fd);
        return;
      }
      case T.Replace: {
        this.forget(op.path);
        const p = this.abs(op.path);
        this.ensureDir(p);
        const tmp = p + '.repl-tmp';
        fs.writeFileSync(tmp, op.data);
        fs.renameSync(tmp, p);
        this.wanted.add(this.fd(op.path));
        this.wantedPaths.add(path.dirname(p));
        return;
      }
      case T.Delete:
        this.forget(op.path);
        fs.rmSync(this.abs(op.path), { recursive: true, force: true });
        return;
      case T.Rename: {
        this.forget(op.path);
        this.forget(op.to);
        const to = this.abs(op.to);
        this.ensureDir(to);
        try { fs.renameSync(this.abs(op.path), to); } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
          return; // never copied here (or gone already): a later operation says what follows
        }
        this.wanted.add(this.fd(op.to));
        this.wantedPaths.add(path.dirname(to));
        return;
      }
      case T.Mkdir:
        fs.mkdirSync(this.abs(op.path), { recursive: true });
        return;
      case T.Sync: {
        // The leader's own fdatasync (or a directory's fsync): this copy makes it too.
        const fd = this.fds.get(op.path);
        if (fd !== undefined) this.wanted.add(fd);
        else this.wantedPaths.add(op.path === '' ? this.root : this.abs(op.path));
        return;
      }
    }
  }

  /** Makes durable what the rules above say (in libuv's thread pool). */
  sync(): Promise<void> {
    const fds = [...this.wanted];
    for (const fd of fds) this.written.delete(fd);
    this.wanted = new Set();
    const paths = [...this.wantedPaths];
    this.wantedPaths = new Set();
    return Promise.all([...fds.map(syncFd), ...paths.map(syncPath)]).then(() => undefined);
  }

  /** Everything written, whatever the leader synced (a caught-up copy must be whole on disk). */
  syncAll(): Promise<void> {
    for (const fd of this.written) this.wanted.add(fd);
    return this.sync();
  }

  close(): void {
    for (const fd of this.fds.values()) {
      try { fs.closeSync(fd); } catch { /* already closed */ }
    }
    this.fds.clear();
    this.written.clear();
    this.wanted.clear();
    this.wantedPaths.clear();
  }
}

const syncFd = (fd: number) => new Promise<void>((resolve, reject) => {
  fs.fdatasync(fd, (err) => (err === null || err.code === 'EBADF' ? resolve() : reject(err)));
});

// A directory, or a file this applier no longer holds open; gone since: nothing to sync.
const syncPath = (p: string) => new Promise<void>((resolve, reject) => {
  fs.open(p, 'r', (err, fd) => {
    if (err !== null) return resolve();
    fs.fsync(fd, (err2) => fs.close(fd, () => (err2 === null || err2.code === 'EINVAL' ? resolve() : reject(err2))));
  });
});
