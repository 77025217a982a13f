// `warren bench`: runs one configuration or scenarios against a broker, or, with --compare,
// the same scenarios against Warren and another broker alternately, and prints the tables.
import { ClientConnection } from '../../client';
import { startWarren, type StartedBroker } from './broker';
import { waitQuiet } from './procfs';
import { type Reporter, type RunResult, type Target, fmtInt, fmtMs, makeReporter, redact, runOne, table } from './runner';
import { DEFAULTS, type RunConfig, SCENARIOS, parseScenarioList, scenarioRuns } from './scenarios';
import { type RoundResult, compareRows, compareTable } from './compare';

export interface BenchOptions {
  url: string;
  compare?: string;
  scenario?: string;
  startBroker: boolean;
  brokerPid?: number;
  otherPid?: number;
  rounds: number;
  json: boolean;
  /** the run configuration from the flags (without scenario) */
  base: RunConfig;
  /** only the flags given on the command line: they override scenario presets */
  explicit: Partial<RunConfig>;
  out?: NodeJS.WritableStream;
}

interface Group {
  name: string;
  runs: RunConfig[];
}

export async function benchMain(o: BenchOptions): Promise<RunResult[]> {
  const out = o.out ?? process.stdout;
  const rep = makeReporter(o.json, out);
  const groups: Group[] = o.scenario
    ? parseScenarioList(o.scenario).map((name) => ({ name, runs: scenarioRuns(name, o.base, o.explicit) }))
    : [{ name: 'custom', runs: [o.base] }];

  let started: StartedBroker | null = null;
  const stopOnSignal = () => { void started?.stop().finally(() => process.exit(130)); };
  try {
    let warrenUrl = o.url;
    let warrenPid = o.brokerPid;
    if (o.startBroker) {
      started = await startWarren();
      process.once('SIGINT', stopOnSignal);
      warrenUrl = started.url;
      warrenPid = started.pid;
      rep.info(`started Warren on ${warrenUrl} (pid ${started.pid}, data ${started.dataDir})`);
    }
    const targets: Target[] = [{ url: warrenUrl, name: await brokerName(warrenUrl, 'warren'), pid: warrenPid }];
    if (o.compare) targets.push({ url: o.compare, name: await brokerName(o.compare, 'other'), pid: o.otherPid });
    if (targets.length === 2 && targets[0].name === targets[1].name) { targets[0].name += '-A'; targets[1].name += '-B'; }

    const results: RunResult[] = [];
    const byRound: RoundResult[] = [];
    const rounds = o.compare ? Math.max(1, o.rounds) : 1;
    for (let round = 0; round < rounds; round++) {
      for (const g of groups) {
        // alternate which broker goes first, round by round
        const order = round % 2 === 0 ? targets : [...targets].reverse();
        for (const t of order) {
          if (g.name !== 'custom') rep.info(`${t.name} ${g.name}: ${SCENARIOS[g.name].title}` + (rounds > 1 ? ` (round ${round + 1}/${rounds})` : ''));
          for (const cfg of g.runs) {
            if (started !== null && t === targets[0] && cfg.connections > 0 && results.length > 0) {
              // Memory per connection is an RSS difference: on a broker that ran earlier
              // scenarios, V8 returning their garbage during the run made it meaningless
              // (even negative). The memory run gets a fresh Warren.
              await started.stop();
              started = await startWarren();
              t.url = started.url;
              t.pid = started.pid;
              rep.info(`restarted Warren for the memory measurement on ${t.url} (pid ${started.pid})`);
            }
            const waited = await waitQuiet();
            if (waited > 1000) rep.info(`  waited ${(waited / 1000).toFixed(1)} s for the machine to go quiet`);
            const r = await runOne(cfg, t, rep);
            results.push(r);
            byRound.push({ round: round + 1, result: r });
            if (o.json) out.write(JSON.stringify({ type: 'result', round: round + 1, ...r }) + '\n');
            else out.write(resultLine(r) + '\n');
          }
        }
      }
    }
    if (!o.json) {
      out.write('\n' + resultTable(results) + '\n');
    }
    if (o.compare) {
      const rows = compareRows(byRound, targets[0].name, targets[1].name);
      if (o.json) for (const r of rows) out.write(JSON.stringify({ type: 'compare', ...r }) + '\n');
      else out.write('\n' + compareTable(rows, targets[0].name, targets[1].name) + '\n');
    }
    return results;
  } finally {
    process.off('SIGINT', stopOnSignal);
    if (started) await started.stop();
  }
}

async function brokerName(url: string, fallback: string): Promise<string> {
  try {
    const c = await ClientConnection.connect(url, { connectionName: 'bench-probe', timeoutMs: 10000 });
    const p = String(c.serverProperties['product'] ?? fallback).toLowerCase().replace(/[^a-z0-9]+/g, '');
    await c.close();
    return p || fallback;
  } catch (e) {
    throw new Error(`cannot connect to ${redact(url)}: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------------------------- tables

function latencyText(r: RunResult): string {
  const l = r.latency;
  return l ? `latency p50 ${fmtMs(l.p50)} p95 ${fmtMs(l.p95)} p99 ${fmtMs(l.p99)} max ${fmtMs(l.max)} ms` : '';
}

/** The one-line summary of a run. */
export function resultLine(r: RunResult): string {
  const c = r.config;
  const parts = [`${r.label} ${r.broker}:`];
  if (c.publishOnly) parts.push(`published ${fmtInt(r.sent)} in ${r.seconds.toFixed(2)} s = ${fmtInt(r.send_rate)} msg/s`);
  else if (c.consumeOnly) parts.push(`drained ${fmtInt(r.received)} in ${r.seconds.toFixed(2)} s = ${fmtInt(r.recv_rate)} msg/s`);
  else parts.push(`sent ${fmtInt(r.send_rate)} msg/s, received ${fmtInt(r.recv_rate)} msg/s`);
  if (c.confirm > 0) parts.push(`confirmed ${fmtInt(r.confirm_rate)} msg/s`);
  parts[parts.length - 1] += ` (${r.mb_s.toFixed(1)} MB/s of bodies)`;
  const lat = latencyText(r);
  if (lat) parts.push(lat);
  if (r.confirm_latency) parts.push(`confirm p50 ${fmtMs(r.confirm_latency.p50)} p99 ${fmtMs(r.confirm_latency.p99)} ms`);
  if (r.kib_per_conn !== undefined) parts.push(`${r.kib_per_conn.toFixed(1)} KiB broker RSS per idle connection`);
  if (r.cpu_us_per_msg !== undefined) parts.push(`broker CPU ${r.cpu_us_per_msg.toFixed(2)} us/msg`);
  if (r.queued > 0) parts.push(`${fmtInt(r.queued)} still queued after the drain`);
  if (r.missing > 0) parts.push(`MISSING ${fmtInt(r.missing)} messages`);
  if (r.nacked > 0) parts.push(`NACKED ${fmtInt(r.nacked)}`);
  return parts.join(', ').replace(':,', ':');
}

export function resultTable(results: RunResult[]): string {
  const head = ['run', 'broker', 'sent/s', 'recv/s', 'confirmed/s', 'MB/s', 'p50 ms', 'p95 ms', 'p99 ms', 'max ms', 'missing', 'KiB/conn', 'CPU us/msg'];
  const rows = results.map((r) => [
    r.label, r.broker, r.config.consumeOnly ? '-' : fmtInt(r.send_rate), r.config.publishOnly ? '-' : fmtInt(r.recv_rate),
    r.config.confirm > 0 ? fmtInt(r.confirm_rate) : '-', r.mb_s.toFixed(1),
    fmtMs(r.latency?.p50), fmtMs(r.latency?.p95), fmtMs(r.latency?.p99), fmtMs(r.latency?.max),
    r.config.publishOnly ? '-' : fmtInt(r.missing), r.kib_per_conn !== undefined ? r.kib_per_conn.toFixed(1) : '-',
    r.cpu_us_per_msg !== undefined ? r.cpu_us_per_msg.toFixed(2) : '-',
  ]);
  return table(head, rows);
}

export { DEFAULTS, SCENARIOS };
export type { Reporter };
