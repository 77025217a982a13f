/*
 * The cost of one write of a queue's delivered marks (src/broker/delivered-marks.ts), made on the
 * event loop every 16,384 deliveries per lane, against the temporary file and rename it replaced,
 * on the same filesystem in the same run.
 *
 *   node dist/bench/durability/delivered-marks.js [--dir=PATH] [--writes=N]
 *
 * PATH defaults to <repo>/data/bench-tmp (deleted afterwards).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeliveredMarks } from '../../src/broker/delivered-marks';

const arg = (name: string): string | undefined => process.argv.slice(2).find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const repoRoot = path.resolve(__dirname, '..', '..', '..');
const dir = path.resolve(arg('dir') ?? path.join(repoRoot, 'data', 'bench-tmp'), `marks-${process.pid}`);
const writes = Number(arg('writes') ?? 2000);

// f(i) with i growing from call to call (the warm-up's 50 first): every call must write.
function perWriteUs(f: (i: number) => void): number {
  for (let i = 0; i < 50; i++) f(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 50; i < 50 + writes; i++) f(i);
  return Number(process.hrtime.bigint() - t0) / writes / 1000;
}

fs.mkdirSync(dir, { recursive: true });
try {
  const file = path.join(dir, 'delivered.json');
  const renamed = perWriteUs((i) => {
    fs.writeFileSync(file + '.tmp', JSON.stringify({ 0: (i + 1) * 16384 }));
    fs.renameSync(file + '.tmp', file);
  });
  fs.rmSync(file, { force: true });
  const marks = new DeliveredMarks(dir);
  marks.load();
  // each advance past the mark on disk writes the file once
  const inPlace = perWriteUs((i) => marks.advance(0, (i + 1) * 3 * 16384));
  console.log(`delivered marks, one write (${writes} writes, ${dir}):`);
  console.log(`  temporary file + rename: ${renamed.toFixed(1)} us`);
  console.log(`  in place (DeliveredMarks): ${inPlace.toFixed(1)} us  (${(renamed / inPlace).toFixed(1)}x less)`);
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
