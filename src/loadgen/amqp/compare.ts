// Compare mode's figures: each metric's median per broker, and the ratio of the two runs of each
// round (the brokers run back to back in a round, so a machine that drifts over the session
// slows both alike). On these shared machines a single run of a disk-bound scenario varies by
// 15-30%; the per-round ratios show how far a comparison can be trusted.
import { fmtInt, fmtMs, type RunResult, table } from './runner';

export interface CompareRow {
  run: string;
  metric: string;
  warren: number;
  other: number;
  /** how many times better Warren is (> 1: Warren better), medians against medians */
  ratio: number;
  better: 'higher' | 'lower';
  /** geometric mean of the rounds' ratios (NaN with fewer than two rounds) */
  paired: number;
  /** the lowest and highest round ratio */
  pairedMin: number;
  pairedMax: number;
}

/** A run and the round it belonged to (1-based). */
export interface RoundResult {
  round: number;
  result: RunResult;
}

type Metric = { metric: string; value: number; better: 'higher' | 'lower' };

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function metricsOf(r: RunResult): Metric[] {
  const c = r.config;
  const m: Metric[] = [];
  if (c.publishOnly) m.push({ metric: 'publish msg/s', value: r.send_rate, better: 'higher' });
  else if (c.consumeOnly) m.push({ metric: 'drain msg/s', value: r.recv_rate, better: 'higher' });
  else if (c.connections > 0) {
    m.push({ metric: 'KiB per idle conn', value: r.kib_per_conn ?? NaN, better: 'lower' });
    m.push({ metric: 'connect s', value: r.connect_s ?? NaN, better: 'lower' });
    m.push({ metric: 'p99 ms', value: r.latency?.p99 ?? NaN, better: 'lower' });
  } else if (c.rate > 0) {
    m.push({ metric: 'recv msg/s', value: r.recv_rate, better: 'higher' });
    m.push({ metric: 'p50 ms', value: r.latency?.p50 ?? NaN, better: 'lower' });
    m.push({ metric: 'p99 ms', value: r.latency?.p99 ?? NaN, better: 'lower' });
  } else {
    m.push({ metric: 'recv msg/s', value: r.recv_rate, better: 'higher' });
    if (c.confirm > 0) m.push({ metric: 'confirmed msg/s', value: r.confirm_rate, better: 'higher' });
  }
  if (c.connections === 0) m.push({ metric: 'broker CPU us/msg', value: r.cpu_us_per_msg ?? NaN, better: 'lower' });
  return m;
}

function advantage(w: number, o: number, better: 'higher' | 'lower'): number {
  return better === 'higher' ? w / o : o / w;
}

export function compareRows(results: RoundResult[], warren: string, other: string): CompareRow[] {
  const labels = [...new Set(results.map((r) => r.result.label))];
  const rows: CompareRow[] = [];
  for (const label of labels) {
    const w = results.filter((r) => r.result.label === label && r.result.broker === warren);
    const o = results.filter((r) => r.result.label === label && r.result.broker === other);
    if (w.length === 0 || o.length === 0) continue;
    const names = metricsOf(w[0].result);
    for (let i = 0; i < names.length; i++) {
      const better = names[i].better;
      const wv = median(w.map((r) => metricsOf(r.result)[i].value));
      const ov = median(o.map((r) => metricsOf(r.result)[i].value));
      const perRound: number[] = [];
      for (const a of w) {
        const b = o.find((x) => x.round === a.round);
        if (b === undefined) continue;
        const q = advantage(metricsOf(a.result)[i].value, metricsOf(b.result)[i].value, better);
        if (Number.isFinite(q) && q > 0) perRound.push(q);
      }
      const paired = perRound.length >= 2 ? Math.exp(perRound.reduce((s, q) => s + Math.log(q), 0) / perRound.length) : NaN;
      rows.push({
        run: label, metric: names[i].metric, warren: wv, other: ov, ratio: advantage(wv, ov, better), better,
        paired, pairedMin: perRound.length >= 2 ? Math.min(...perRound) : NaN, pairedMax: perRound.length >= 2 ? Math.max(...perRound) : NaN,
      });
    }
  }
  return rows;
}

export function compareTable(rows: CompareRow[], warren: string, other: string): string {
  const f = (v: number, metric: string) => (!Number.isFinite(v) ? '-' : metric.includes('msg/s') ? fmtInt(v) : metric.includes('KiB') || metric.includes('us/msg') ? v.toFixed(2) : fmtMs(v));
  const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '-');
  const withRounds = rows.some((r) => Number.isFinite(r.paired));
  const head = ['run', 'metric', warren, other, `${warren} advantage`];
  if (withRounds) head.push('per round (geo mean)', 'round range');
  const body = rows.map((r) => {
    const cells = [r.run, r.metric, f(r.warren, r.metric), f(r.other, r.metric), x(r.ratio)];
    if (withRounds) cells.push(x(r.paired), Number.isFinite(r.pairedMin) ? `${r.pairedMin.toFixed(2)}-${r.pairedMax.toFixed(2)}` : '-');
    return cells;
  });
  return table(head, body) +
    `\n(advantage = ${warren}/${other} for rates, ${other}/${warren} for latency, time and memory: above 1 means ${warren} is better;` +
    (withRounds ? ' "per round" compares the two runs of each round, back to back, and averages those ratios)' : ')');
}
