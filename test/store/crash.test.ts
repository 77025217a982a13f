// Crash tests with a real child process killed by SIGKILL at random moments.
import t, { type Test } from 'tap';
import * as fs from 'fs';
import * as path from 'path';
import { spawn } from 'child_process';
import { SegmentedLog } from '../../src/store';
import { diffRecord, payloadFor, prng, tempDir } from '../fixtures/store-helpers';

const CHILD = path.join('test', 'fixtures', 'store-crash-child.ts');
// A child needs ~2 s to start (the TypeScript loader compiles it), far more on a loaded machine:
// 12 cycles keep the file well inside tap's timeout; STORE_CRASH_CYCLES=100 for a longer run.
// (Running two lanes concurrently was slower on 2 cores.)
const CYCLES = Number(process.env.STORE_CRASH_CYCLES ?? 12);
const LANES = Number(process.env.STORE_CRASH_LANES ?? 1);

/** Run the child until it reports `open`, then kill it after `afterMs`; returns the last synced offset it reported. */
function runChild(dir: string, afterMs: number): Promise<{ synced: number; opened: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, CHILD, dir, String(32 * 1024)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
    });
    let out = '';
    let stderr = '';
    let synced = -1;
    let opened = -1;
    let timer: NodeJS.Timeout | null = null;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const [k, v] = line.split(' ');
        if (k === 'synced') synced = Number(v);
        if (k === 'open') {
          opened = Number(v);
          timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code} ${signal}: ${stderr}`));
      else resolve({ synced, opened, stderr });
    });
    setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
  });
}

async function lane(t: Test, lane: number, cycles: number): Promise<void> {
  const dir = tempDir('warren-crash-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = prng(Number(process.env.STORE_CRASH_SEED ?? 12345) + lane);
  let verifiedUpTo = 0;
  let totalSynced = 0;
  for (let cycle = 0; cycle < cycles; cycle++) {
    const { synced, opened } = await runChild(dir, 20 + Math.floor(r() * 400));
    t.ok(opened >= verifiedUpTo, `cycle ${cycle}: child opened at ${opened}`);
    const warnings: string[] = [];
    const log = SegmentedLog.open(dir, { segmentBytes: 32 * 1024, onWarning: (w) => warnings.push(w) });
    const next = log.nextOffset;
    if (next < synced) t.fail(`cycle ${cycle}: nextOffset ${next} < synced ${synced}`);
    // every record present is byte-identical; every synced one not acked by the child is present
    // (records written by earlier cycles were verified then: here all new ones, plus a sample of old ones)
    const errs: string[] = [];
    const from = Math.max(log.startOffset, opened - 100);
    const offsets: number[] = [];
    for (let k = 0; k < 500 && from > log.startOffset; k++) offsets.push(log.startOffset + Math.floor(r() * (from - log.startOffset)));
    for (let o = from; o < next; o++) offsets.push(o);
    for (const o of offsets) {
      const rec = log.read(o);
      if (rec === undefined) {
        if (o < synced && o % 5 !== 0) errs.push(`synced record ${o} missing`);
        continue;
      }
      const d = diffRecord(rec, payloadFor(o), o);
      if (d) errs.push(d);
      if (errs.length > 5) break;
    }
    for (let o = 0; o < Math.min(synced, log.startOffset); o++) {
      if (o % 5 !== 0) {
        errs.push(`synced unacked record ${o} below startOffset ${log.startOffset}`);
        break;
      }
    }
    if (errs.length) t.fail(`cycle ${cycle}: ${errs.join('; ')}`);
    else t.pass(`cycle ${cycle}: ${next} records, ${synced} synced, all intact${warnings.length ? ` (recovery: ${warnings.length} warning(s))` : ''}`);
    // new appends work and survive a clean restart
    const a = log.append(payloadFor(next));
    const b = log.append(payloadFor(next + 1));
    t.equal(b, a + 1);
    await log.close();
    const again = SegmentedLog.open(dir, { segmentBytes: 32 * 1024 });
    t.equal(again.nextOffset, next + 2);
    t.equal(diffRecord(again.read(next + 1), payloadFor(next + 1), next + 1), null, `cycle ${cycle}: new append readable after reopen`);
    await again.close();
    verifiedUpTo = next + 2;
    totalSynced = Math.max(totalSynced, synced);
  }
  t.ok(totalSynced > 1000, `lane ${lane}: the children synced ${totalSynced} records in total`);
}

t.test(`SIGKILL at random moments, ${CYCLES} cycles: every synced record survives intact`, async (t) => {
  const per = Math.ceil(CYCLES / LANES);
  await Promise.all(Array.from({ length: LANES }, (_, i) => t.test(`lane ${i}`, (tt) => lane(tt, i, per))));
});
