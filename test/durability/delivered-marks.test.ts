// The delivered marks file (src/broker/delivered-marks.ts): rewritten in place, padded to its
// previous length, so that a shorter text leaves no stale tail; a file that does not parse means
// "everything may have been delivered".
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeliveredMarks } from '../../src/broker/delivered-marks';
import { tempDir } from '../helpers/broker';

t.test('marks written ahead, then exact ones shorter than them, read back exactly', async (t) => {
  const dir = tempDir('warren-marks-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const m = new DeliveredMarks(dir);
  t.same([...(m.load() ?? new Map())], [], 'no file: no marks');
  m.advance(0, 1);
  m.advance(3, 100_000);
  const file = path.join(dir, 'delivered.json');
  const ahead = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, number>;
  t.ok(ahead['0'] > 1 && ahead['3'] > 100_000, `written ahead of delivery: ${JSON.stringify(ahead)}`);
  const sizeBefore = fs.statSync(file).size;
  m.advance(0, 2); // within the stride: no write
  t.equal(fs.statSync(file).size, sizeBefore);
  m.saveExact([7]);
  t.equal(fs.statSync(file).size, sizeBefore, 'the shorter text is padded, not truncated');
  const again = new DeliveredMarks(dir).load();
  t.same(again && [...again], [[0, 7]], 'read back: the exact mark, nothing of the longer text before it');
  t.notOk(fs.existsSync(file + '.tmp'), 'no temporary file');
});

t.test('a torn file counts as everything delivered', async (t) => {
  const dir = tempDir('warren-marks-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'delivered.json'), '{"0":163');
  t.equal(new DeliveredMarks(dir).load(), null);
});
