#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=4
// `warren` command line.
import { Command } from 'commander';
import { log } from '../logger';
import { VERSION } from '../server/server';
import { registerBench } from './bench-command';
import { registerLog } from './log-command';
import { registerStart } from './start-command';

const program = new Command();
program.name('warren').description('Warren: an AMQP 0-9-1 broker on a segmented log').version(VERSION);

registerStart(program);
registerBench(program);
registerLog(program);

program.parseAsync(process.argv).catch((e) => {
  log.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
