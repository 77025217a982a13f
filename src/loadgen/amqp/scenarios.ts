// Run configurations and the S1..S8 presets of issue 6.

export interface RunConfig {
  /** shown in progress lines and tables: 'S1', 'S5@10k', 'S6 fill', 'custom' */
  label: string;
  scenario: string | null;
  producers: number;
  consumers: number;
  queues: number;
  /** message body bytes */
  size: number;
  /** measured seconds (timed runs) */
  duration: number;
  /**
   * seconds run before the measurement starts (timed runs): new client processes and a broker
   * meeting a new workload JIT-compile and size their heaps then, which would otherwise dominate
   * the latency tail of short runs. Applied the same way to every broker compared.
   */
  warmup: number;
  persistent: boolean;
  /** declare the queues (and exchange) durable; defaults to persistent */
  durable: boolean;
  /** confirm window per producer; 0 = no confirms */
  confirm: number;
  /** prefetch per consumer (manual ack); ignored with autoAck */
  prefetch: number;
  autoAck: boolean;
  /** total msg/s over all producers; 0 = unlimited */
  rate: number;
  publishOnly: boolean;
  consumeOnly: boolean;
  /** messages in all (publish-only / consume-only / timed with a cap); 0 = unlimited */
  count: number;
  /** > 0: one fanout exchange bound to this many queues (overrides queues) */
  fanout: number;
  /** connections opened by the producer side (S8); 0 = one per producer */
  connections: number;
  /** msg/s per connection when connections > 0 */
  slowRate: number;
  /** queue names are `${queuePrefix}-${i}` */
  queuePrefix: string;
  /** delete the queues (and exchange) before the run: a clean start */
  cleanBefore: boolean;
  /** delete them after the run */
  cleanAfter: boolean;
}

export const DEFAULTS: RunConfig = {
  label: 'custom',
  scenario: null,
  producers: 1,
  consumers: 1,
  queues: 1,
  size: 16,
  duration: 10,
  warmup: 1,
  persistent: false,
  durable: false,
  confirm: 0,
  prefetch: 1000,
  autoAck: false,
  rate: 0,
  publishOnly: false,
  consumeOnly: false,
  count: 0,
  fanout: 0,
  connections: 0,
  slowRate: 1,
  queuePrefix: 'bench',
  cleanBefore: true,
  cleanAfter: true,
};

type Preset = Partial<RunConfig>;

/** Each scenario is one or more runs, in order. */
export const SCENARIOS: Record<string, { title: string; runs: Preset[] }> = {
  S1: {
    title: 'transient 16 B, 1 producer 1 consumer, auto-ack',
    runs: [{ label: 'S1', size: 16, autoAck: true }],
  },
  S2: {
    title: 'transient 1 KiB, prefetch 1000, manual ack',
    runs: [{ label: 'S2', size: 1024, prefetch: 1000 }],
  },
  S3: {
    title: 'persistent 1 KiB, durable queue, confirm window 512, prefetch 1000',
    runs: [{ label: 'S3', size: 1024, persistent: true, durable: true, confirm: 512, prefetch: 1000 }],
  },
  S4: {
    title: 'persistent 16 B, durable queue, 2 producers 2 consumers, confirm window 512, prefetch 1000',
    runs: [{ label: 'S4', size: 16, persistent: true, durable: true, producers: 2, consumers: 2, confirm: 512, prefetch: 1000 }],
  },
  S5: {
    title: 'end-to-end latency at fixed 5,000, 10,000 and 20,000 msg/s of 1 KiB (transient, prefetch 1000)',
    runs: [5000, 10000, 20000].map((rate) => ({ label: `S5@${rate / 1000}k`, size: 1024, prefetch: 1000, rate })),
  },
  S6: {
    title: '1,000,000-message persistent 1 KiB backlog: fill (confirm window 512), then drain (prefetch 1000)',
    runs: [
      { label: 'S6 fill', size: 1024, persistent: true, durable: true, confirm: 512, publishOnly: true, count: 1_000_000, cleanBefore: true, cleanAfter: false },
      { label: 'S6 drain', size: 1024, persistent: true, durable: true, prefetch: 1000, consumeOnly: true, count: 1_000_000, cleanBefore: false, cleanAfter: true },
    ],
  },
  S7: {
    title: 'fanout of 1 KiB to 10 queues, 1 producer, 2 consumers (5 queues each), prefetch 1000',
    runs: [{ label: 'S7', size: 1024, fanout: 10, consumers: 2, prefetch: 1000 }],
  },
  S8: {
    title: '1,000 connections publishing 1 msg/s each (16 B, transient), 1 consumer auto-ack; broker memory per idle connection',
    runs: [{ label: 'S8', size: 16, connections: 1000, slowRate: 1, autoAck: true }],
  },
};

/**
 * The runs of a scenario: preset values, then the options the user set explicitly on the
 * command line (e.g. --duration 5, --count 50000) on top.
 */
export function scenarioRuns(name: string, base: RunConfig, explicit: Partial<RunConfig>): RunConfig[] {
  const s = SCENARIOS[name.toUpperCase()];
  if (!s) throw new Error(`unknown scenario '${name}' (known: ${Object.keys(SCENARIOS).join(', ')})`);
  return s.runs.map((preset) => {
    const r: RunConfig = { ...base, ...preset, ...explicit, scenario: name.toUpperCase() };
    r.label = preset.label ?? name;
    r.queuePrefix = explicit.queuePrefix ?? `bench-${name.toLowerCase()}`;
    if (explicit.persistent && explicit.durable === undefined) r.durable = true;
    return r;
  });
}

/** Expand 'S1,S3', 'S1-S4' or 'all' into scenario names. */
export function parseScenarioList(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part.toLowerCase() === 'all') { out.push(...Object.keys(SCENARIOS)); continue; }
    const m = /^S(\d)-S?(\d)$/i.exec(part);
    if (m) {
      for (let i = Number(m[1]); i <= Number(m[2]); i++) out.push(`S${i}`);
      continue;
    }
    const name = part.toUpperCase();
    if (!SCENARIOS[name]) throw new Error(`unknown scenario '${part}' (known: ${Object.keys(SCENARIOS).join(', ')}, all)`);
    out.push(name);
  }
  return out;
}
