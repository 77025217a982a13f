// The snapshot of the metadata store: every live entry, as one file of records (the same
// framing and the same "put" records as the change logs), after a header naming the log
// generation that continues it and the number of entries. It is replaced atomically (temp file,
// fdatasync, rename, directory fsync), so it is never torn by a crash: a short or damaged
// snapshot is disk damage, reported with the file's name.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeMetadataRecord, scanMetadataRecords } from './metadata-record';
import { syncDirSync } from './metadata-log';

export const SNAPSHOT_FILE = 'snapshot';
const TMP_SUFFIX = '.tmp';

export function putPayload(kind: string, key: string, valueJson: string): string {
  return `{"op":"put","kind":${JSON.stringify(kind)},"key":${JSON.stringify(key)},"value":${valueJson}}`;
}

export function deletePayload(kind: string, key: string): string {
  return `{"op":"delete","kind":${JSON.stringify(kind)},"key":${JSON.stringify(key)}}`;
}

export function encodeSnapshot(gen: number, count: number, entries: Iterable<[string, string, string]>): Buffer {
  const parts: Buffer[] = [encodeMetadataRecord(JSON.stringify({ warren: 'metadata-snapshot', version: 1, gen, entries: count }))];
  let n = 0;
  for (const [kind, key, valueJson] of entries) { parts.push(encodeMetadataRecord(putPayload(kind, key, valueJson))); n++; }
  if (n !== count) throw new Error(`metadata snapshot: ${n} entries, expected ${count}`);
  return Buffer.concat(parts);
}

export async function writeSnapshot(dir: string, data: Buffer): Promise<void> {
  const file = path.join(dir, SNAPSHOT_FILE);
  const tmp = file + TMP_SUFFIX;
  const fh = await fs.promises.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  await new Promise<void>((resolve) => fs.open(dir, 'r', (err, fd) => {
    if (err) return resolve();
    fs.fsync(fd, () => fs.close(fd, () => resolve()));
  }));
}

export function writeSnapshotSync(dir: string, data: Buffer): void {
  const file = path.join(dir, SNAPSHOT_FILE);
  const tmp = file + TMP_SUFFIX;
  const fd = fs.openSync(tmp, 'w');
  try {
    let done = 0;
    while (done < data.length) done += fs.writeSync(fd, data, done, data.length - done);
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDirSync(dir);
}

export interface SnapshotRead {
  gen: number;
  bytes: number;
  damaged: number;   // damaged ranges skipped (the entries in them are lost)
}

// Reads the snapshot, calling onPut for each entry; null when there is none. Throws, naming the
// file, when it cannot be a snapshot at all or is shorter than its header says.
export function readSnapshot(dir: string, onPut: (payload: Record<string, unknown>) => void, warn: (m: string) => void, readOnly = false): SnapshotRead | null {
  const file = path.join(dir, SNAPSHOT_FILE);
  if (!readOnly) fs.rmSync(file + TMP_SUFFIX, { force: true }); // a compaction that did not finish
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  let header: { warren?: string; gen?: number; entries?: number } | null = null;
  let count = 0;
  const r = scanMetadataRecords(data, (payload, pos) => {
    let v: Record<string, unknown>;
    try { v = JSON.parse(payload) as Record<string, unknown>; } catch (e) {
      throw new Error(`metadata snapshot ${file}: record at byte ${pos} is not JSON: ${(e as Error).message}`);
    }
    if (header === null) {
      if (pos !== 0 || v.warren !== 'metadata-snapshot' || typeof v.gen !== 'number') {
        throw new Error(`metadata snapshot ${file} does not start with a snapshot header; it is not a Warren metadata snapshot or its start is damaged`);
      }
      header = v as unknown as typeof header;
      return;
    }
    count++;
    onPut(v);
  });
  const h = header as { gen: number; entries: number } | null;
  if (h === null) throw new Error(`metadata snapshot ${file} (${data.length} bytes) holds no readable record`);
  if (r.end < data.length || (count < h.entries && r.skipped.length === 0)) {
    throw new Error(`metadata snapshot ${file} is truncated or damaged at its end: ${count} of ${h.entries} entries readable, ${data.length - r.end} bytes unreadable`);
  }
  for (const s of r.skipped) warn(`metadata snapshot ${file}: damaged bytes ${s.from}..${s.to} skipped; the entries in them are lost`);
  return { gen: h.gen, bytes: data.length, damaged: r.skipped.length };
}
