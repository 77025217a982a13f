// `warren bench`: the load generator (src/loadgen/amqp/), in the spirit of RabbitMQ's PerfTest.
import { type Command, InvalidArgumentError } from 'commander';
import { benchMain } from '../loadgen/amqp/bench';
import { DEFAULTS, type RunConfig, SCENARIOS } from '../loadgen/amqp/scenarios';
import { STREAM_SCENARIOS, streamBenchMain } from '../loadgen/stream/runner';

function int(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive number`);
    return n;
  };
}

interface Flags {
  url: string;
  producers: number;
  consumers: number;
  queues: number;
  size: number;
  duration: number;
  warmup: number;
  persistent?: boolean;
  confirm?: number;
  prefetch: number;
  autoAck?: boolean;
  rate?: number;
  publishOnly?: boolean;
  consumeOnly?: boolean;
  count?: number;
  fanout?: number;
  connections?: number;
  slowRate: number;
  queuePrefix?: string;
  scenario?: string;
  json?: boolean;
  compare?: string;
  rounds: number;
  startBroker?: boolean;
  brokerPid?: number;
  otherBrokerPid?: number;
  compareStreamPort?: number;
}

// flag name -> RunConfig field it sets
const FIELDS: [keyof Flags, keyof RunConfig][] = [
  ['producers', 'producers'], ['consumers', 'consumers'], ['queues', 'queues'], ['size', 'size'], ['duration', 'duration'],
  ['warmup', 'warmup'],
  ['persistent', 'persistent'], ['confirm', 'confirm'], ['prefetch', 'prefetch'], ['autoAck', 'autoAck'], ['rate', 'rate'],
  ['publishOnly', 'publishOnly'], ['consumeOnly', 'consumeOnly'], ['count', 'count'], ['fanout', 'fanout'],
  ['connections', 'connections'], ['slowRate', 'slowRate'], ['queuePrefix', 'queuePrefix'],
];

export function registerBench(program: Command): void {
  const scenarioHelp = Object.entries(SCENARIOS).map(([k, s]) => `${k} ${s.title}`).join('; ') +
    '; stream scenarios (src/loadgen/stream/runner.ts): S9, S10, catchup, attach, memory, filter';
  program.command('bench')
    .description('load generator (PerfTest-like): producers and consumers in separate processes; scenarios S1..S8; compare mode')
    .option('--url <url>', 'broker URL', 'amqp://guest:guest@127.0.0.1:5672')
    .option('-x, --producers <n>', 'producer processes', int('--producers'), DEFAULTS.producers)
    .option('-y, --consumers <n>', 'consumer processes', int('--consumers'), DEFAULTS.consumers)
    .option('--queues <n>', 'queues (producer i publishes to queue i % n)', int('--queues', 1), DEFAULTS.queues)
    .option('-s, --size <bytes>', 'message body size', int('--size'), DEFAULTS.size)
    .option('-z, --duration <seconds>', 'run time of timed runs', num('--duration'), DEFAULTS.duration)
    .option('--warmup <seconds>', 'timed runs: run this long before measuring (rates and latencies exclude it)', num('--warmup'), DEFAULTS.warmup)
    .option('--persistent', 'persistent messages (delivery-mode 2) to durable queues')
    .option('-c, --confirm <window>', 'publisher confirms with this many unconfirmed messages at most', int('--confirm', 1))
    .option('-q, --prefetch <n>', 'consumer prefetch (manual acks, one multiple-ack per read)', int('--prefetch'), DEFAULTS.prefetch)
    .option('-a, --auto-ack', 'consume with no-ack')
    .option('-r, --rate <msg/s>', 'fixed publish rate over all producers; end-to-end latency from a timestamp in each body', num('--rate'))
    .option('--publish-only', 'only publish (build a backlog); with --count')
    .option('--consume-only', 'only consume (drain a backlog); with --count')
    .option('-C, --count <n>', 'messages in all (publish-only / consume-only)', int('--count', 1))
    .option('--fanout <n>', 'publish to one fanout exchange bound to n queues', int('--fanout', 1))
    .option('--connections <n>', 'producer connections, each publishing --slow-rate msg/s (many idle connections)', int('--connections', 1))
    .option('--slow-rate <msg/s>', 'per-connection rate with --connections', num('--slow-rate'), DEFAULTS.slowRate)
    .option('--queue-prefix <name>', 'queue names are <name>-<i>')
    .option('--scenario <list>', `preset scenarios, e.g. S1 or S1,S3 or S1-S4 or all: ${scenarioHelp}`)
    .option('--json', 'JSON lines instead of text')
    .option('--compare <url>', 'run the same scenarios against Warren (--url) and this broker, alternately, and print ratios')
    .option('--rounds <n>', 'compare mode: rounds, 1 or an even number (order alternates each round; medians and per-round ratios are compared)', int('--rounds', 1), 1)
    .option('--start-broker', 'start a Warren broker for the run (temporary data directory), stop it afterwards')
    .option('--broker-pid <pid>', "Warren's pid for memory figures (default: found from the port)", int('--broker-pid', 1))
    .option('--other-broker-pid <pid>', "the compared broker's pid (default: found from the port)", int('--other-broker-pid', 1))
    .option('--compare-stream-port <port>', "stream scenarios: the compared broker's Stream protocol port", int('--compare-stream-port', 1))
    .action(async (flags: Flags, cmd: Command) => {
      // the stream scenarios (issues 14 and 15) have their own runner: src/loadgen/stream/runner.ts
      const names = (flags.scenario ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
      if (names.length > 0 && names.every((n) => STREAM_SCENARIOS.includes(n))) {
        await streamBenchMain({
          scenarios: names, duration: flags.duration, warmup: flags.warmup, count: flags.count ?? 10_000_000,
          filterCount: flags.count !== undefined ? Math.min(flags.count, 2_000_000) : 1_000_000,
          compareUrl: flags.compare, compareStreamPort: flags.compareStreamPort, json: flags.json ?? false,
        });
        return;
      }
      const explicit: Partial<RunConfig> = {};
      for (const [flag, field] of FIELDS) {
        const src = cmd.getOptionValueSource(flag as string);
        if (src !== undefined && src !== 'default' && flags[flag] !== undefined) (explicit as Record<string, unknown>)[field] = flags[flag];
      }
      if (flags.autoAck && cmd.getOptionValueSource('prefetch') === 'cli') throw new InvalidArgumentError('--auto-ack and --prefetch exclude each other');
      if (explicit.prefetch !== undefined) explicit.autoAck = false;
      // The order alternates each round: with an odd count one broker would go first once more
      // than the other, and in a round the first run can gain or lose several percent.
      if (flags.compare && flags.rounds > 1 && flags.rounds % 2 === 1) throw new InvalidArgumentError(`--rounds ${flags.rounds}: use 1 or an even number in compare mode, so that each broker runs first equally often`);
      if (flags.publishOnly && flags.consumeOnly) throw new InvalidArgumentError('--publish-only and --consume-only exclude each other');
      if (explicit.persistent) explicit.durable = true;
      const base: RunConfig = { ...DEFAULTS, ...explicit };
      if (!flags.scenario && (base.publishOnly || base.consumeOnly)) {
        base.cleanBefore = false;
        base.cleanAfter = false;
        base.queuePrefix = flags.queuePrefix ?? 'bench-backlog';
      }
      const results = await benchMain({
        url: flags.url, compare: flags.compare, scenario: flags.scenario, startBroker: flags.startBroker ?? false,
        brokerPid: flags.brokerPid, otherPid: flags.otherBrokerPid, rounds: flags.rounds, json: flags.json ?? false,
        base, explicit,
      });
      // harness self-check: a run that lost messages fails the command
      if (results.some((r) => r.missing > 0)) process.exitCode = 2;
    });
}
