// Per-file size and CRC-32 of a data directory, computed asynchronously (a leader keeps serving
// clients while a follower joins: no synchronous scan of a gigabyte on its event loop). The
// follower sends its manifest; the leader compares each file with its own and sends only what
// differs: the tail when the follower's copy is a prefix of the leader's file, else the whole.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { crc32 } from '../store/record';
import { TRANSIENT_DIR } from '../store/data-dir';

export interface FileEntry { path: string; size: number; crc: number }

const CHUNK = 1024 * 1024;

/** Relative paths of the regular files under `root` that are replicated. */
export async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    let ents: fs.Dirent[];
    try { ents = await fs.promises.readdir(dir, { withFileTypes: true }); } catch { return; }
    for (const e of ents) {
      const r = rel === '' ? e.name : path.join(rel, e.name);
      if (rel === '' && (e.name === 'warren.lock' || e.name === TRANSIENT_DIR || e.name === '.cluster')) continue;
      if (e.name.endsWith('.repl-tmp')) continue;
      if (e.isDirectory()) await walk(path.join(dir, e.name), r);
      else if (e.isFile()) out.push(r);
    }
  };
  await walk(root, '');
  return out;
}

/** CRC-32 of the first `limit` bytes of a file (all of it by default) and the bytes read. */
export async function fileCrc(file: string, limit = Infinity): Promise<{ size: number; crc: number }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let crc = 0;
    let pos = 0;
    while (pos < limit) {
      const want = Math.min(CHUNK, limit - pos);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      crc = crc32(buf.subarray(0, bytesRead), crc);
      pos += bytesRead;
    }
    return { size: pos, crc };
  } finally {
    await fh.close();
  }
}

export async function manifest(root: string): Promise<FileEntry[]> {
  const out: FileEntry[] = [];
  for (const rel of await listFiles(root)) {
    try {
      const { size, crc } = await fileCrc(path.join(root, rel));
      out.push({ path: rel, size, crc });
    } catch { /* removed meanwhile */ }
  }
  return out;
}
