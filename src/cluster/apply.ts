// A follower's side of the file operations: applies them to its copy of the data directory and
// makes them durable on request. Writes go to descriptors kept open per file (closed when the
// file is deleted, renamed or when too many are open); sync() fdatasyncs every file written
// since the last sync, off the event loop, before the follower acknowledges a position.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FileOp, T } from './frames';

const MAX_OPEN = 256;

export class DirApplier {
  private readonly fds = new Map<string, number>();
  private dirty = new Set<number>();
  private readonly dirs = new Set<string>();

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
    fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    this.fds.set(rel, fd);
    return fd;
  }

  // Descriptors written since the last sync stay open (sync needs them).
  private closeSome(): void {
    for (const [rel, fd] of this.fds) {
      if (this.dirty.has(fd)) continue;
      fs.closeSync(fd);
      this.fds.delete(rel);
      if (this.fds.size < MAX_OPEN / 2) return;
    }
  }

  private forget(rel: string): void {
    // The file itself and, for a directory, every open file under it.
    for (const [r, fd] of this.fds) {
      if (r === rel || r.startsWith(rel + path.sep)) {
        if (this.dirty.has(fd)) {
          // its data is going away anyway: nothing to make durable
          this.dirty.delete(fd);
        }
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
        this.dirty.add(fd);
        return;
      }
      case T.Truncate: {
        const fd = this.fd(op.path);
        fs.ftruncateSync(fd, op.len);
        this.dirty.add(fd);
        return;
      }
      case T.Replace: {
        this.forget(op.path);
        const p = this.abs(op.path);
        this.ensureDir(p);
        const tmp = p + '.repl-tmp';
        fs.writeFileSync(tmp, op.data);
        fs.renameSync(tmp, p);
        const fd = this.fd(op.path);
        this.dirty.add(fd);
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
        this.dirty.add(this.fd(op.to));
        return;
      }
      case T.Mkdir:
        fs.mkdirSync(this.abs(op.path), { recursive: true });
        return;
    }
  }

  /** fdatasync of everything written since the last call (in libuv's thread pool). */
  sync(): Promise<void> {
    const fds = [...this.dirty];
    this.dirty = new Set();
    return Promise.all(fds.map((fd) => new Promise<void>((resolve, reject) => {
      fs.fdatasync(fd, (err) => (err === null || err.code === 'EBADF' ? resolve() : reject(err)));
    }))).then(() => undefined);
  }

  close(): void {
    for (const fd of this.fds.values()) {
      try { fs.closeSync(fd); } catch { /* already closed */ }
    }
    this.fds.clear();
    this.dirty.clear();
  }
}
