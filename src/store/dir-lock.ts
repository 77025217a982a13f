// One broker per data directory. Two brokers appending to the same logs corrupt them, so the
// first takes an exclusive lock and a second exits at once, naming the directory and the owner.
//
// The lock is a Linux abstract-namespace Unix socket named after the directory's device and
// inode: the kernel owns it, so it is released the moment its process dies, SIGKILL included,
// and a crashed broker never leaves a stale lock behind. The lock file beside the data holds the
// owner's pid for the message (and for operators); it is not the lock itself. Readers such as
// `warren log verify` do not take the lock: they only read.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { LOCK_FILE } from './data-dir';

export class DirLockedError extends Error {}

export interface DirLock {
  release(): void;
}

export async function lockDataDir(dir: string): Promise<DirLock> {
  fs.mkdirSync(dir, { recursive: true });
  const st = fs.statSync(dir);
  const name = `\0warren-data-dir-${st.dev}-${st.ino}`;
  const lockFile = path.join(dir, LOCK_FILE);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EADDRINUSE') return reject(e);
      let owner = '';
      try {
        owner = fs.readFileSync(lockFile, 'utf8').trim();
      } catch {
        /* no pid recorded */
      }
      reject(new DirLockedError(`data directory ${dir} is in use by another Warren broker${owner ? ` (pid ${owner})` : ''}`));
    });
    server.listen(name, () => resolve());
  });
  server.unref();
  try {
    fs.writeFileSync(lockFile, `${process.pid}\n`);
  } catch {
    /* a full disk: the lock itself is the socket; the pid file is only for the message */
  }
  return {
    release(): void {
      try {
        if (fs.readFileSync(lockFile, 'utf8').trim() === String(process.pid)) fs.unlinkSync(lockFile);
      } catch {
        /* gone already */
      }
      server.close();
    },
  };
}
