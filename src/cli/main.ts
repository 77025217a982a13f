#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=262144 node --initial-old-space-size=64 --max-semi-space-size=4
// `warren` command line.
import { Command } from 'commander';
import { log } from '../logger';
import { VERSION } from '../server/server';
import { registerCtl } from './ctl-command';

const program = new Command();
program.name('warren').description('Warren: an AMQP 0-9-1 broker on a segmented log').version(VERSION);

registerCtl(program);
// `warren ctl` is run often from scripts: it does not load the broker, bench or log modules.
if (process.argv[2] !== 'ctl') {
  /* eslint-disable @typescript-eslint/no-require-imports */
  (require('./start-command') as typeof import('./start-command')).registerStart(program);
  (require('./bench-command') as typeof import('./bench-command')).registerBench(program);
  (require('./log-command') as typeof import('./log-command')).registerLog(program);
  (require('./cluster-command') as typeof import('./cluster-command')).registerCluster(program);
  /* eslint-enable @typescript-eslint/no-require-imports */
}

program.parseAsync(process.argv).catch((e) => {
  // `warren start` reports its own failures in one line (start-command.ts); this is for the rest
  log.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
