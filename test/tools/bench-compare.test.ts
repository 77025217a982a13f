// `warren bench --compare`: the table a benchmark report quotes. The per-round ratio pairs the
// two brokers' runs of the same round, so a machine that slows down over the session does not
// show up as a difference between the brokers.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { compareRows, compareTable, median, type RoundResult } from '../../src/loadgen/amqp/compare';
import type { RunResult } from '../../src/loadgen/amqp/runner';
import { DEFAULTS } from '../../src/loadgen/amqp/scenarios';
import { MAIN } from '../helpers/broker';

function run(broker: string, round: number, rate: number, cpu: number): RoundResult {
  const r: RunResult = {
    label: 'S6 fill', scenario: 'S6', broker, product: broker, url: '', seconds: 1, sent: rate, confirmed: rate, nacked: 0,
    received: 0, missing: 0, queued: 0, send_rate: rate, confirm_rate: rate, recv_rate: 0, mb_s: 0, latency: null,
    confirm_latency: null, cpu_us_per_msg: cpu, config: { ...DEFAULTS, label: 'S6 fill', publishOnly: true, confirm: 512 },
  };
  return { round, result: r };
}

t.test('median of an even and an odd count', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([NaN])));
});

t.test('a machine whose speed swings from round to round: each round still says 1.10x', async (t) => {
  // A is 10% faster than B in every round, while the machine's speed varies 2x between rounds.
  const speeds = [200_000, 100_000, 180_000, 90_000];
  const rs: RoundResult[] = [];
  speeds.forEach((s, i) => {
    rs.push(run('a', i + 1, s * 1.1, 5));
    rs.push(run('b', i + 1, s, 5.5));
  });
  const rows = compareRows(rs, 'a', 'b');
  const rate = rows.find((r) => r.metric === 'publish msg/s')!;
  t.equal(rate.paired.toFixed(3), '1.100', 'every round says 1.10x');
  t.equal(rate.pairedMin.toFixed(3), '1.100');
  t.equal(rate.pairedMax.toFixed(3), '1.100');
  const cpu = rows.find((r) => r.metric === 'broker CPU us/msg')!;
  t.equal(cpu.paired.toFixed(3), '1.100', 'less CPU per message is better');
  const text = compareTable(rows, 'a', 'b');
  t.match(text, /per round \(geo mean\)/);
  t.match(text, /1\.10x\s+1\.10-1\.10/);
});

t.test('opposite rounds average out in the geometric mean', async (t) => {
  const rs = [run('a', 1, 120, 1), run('b', 1, 100, 1), run('a', 2, 100, 1), run('b', 2, 120, 1)];
  const rate = compareRows(rs, 'a', 'b').find((r) => r.metric === 'publish msg/s')!;
  t.equal(rate.paired.toFixed(3), '1.000');
  t.equal(rate.pairedMin.toFixed(3), '0.833');
  t.equal(rate.pairedMax.toFixed(3), '1.200');
});

t.test('one round: no per-round columns', async (t) => {
  const rows = compareRows([run('a', 1, 120, 1), run('b', 1, 100, 1)], 'a', 'b');
  t.ok(Number.isNaN(rows[0].paired));
  t.notMatch(compareTable(rows, 'a', 'b'), /per round/);
});

t.test('compare mode refuses an odd number of rounds above 1', async (t) => {
  let err = '';
  try {
    execFileSync(process.execPath, [MAIN, 'bench', '--compare', 'amqp://127.0.0.1:1', '--rounds', '3'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    err = String((e as { stderr: string }).stderr);
  }
  t.match(err, /--rounds 3: use 1 or an even number in compare mode/);
});
