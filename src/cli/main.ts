#!/usr/bin/env -S node --initial-old-space-size=64 --max-semi-space-size=4
// `warren` command line.
import { Command, Option } from 'commander';
import { startApp } from '../app';
import { log, setLogLevel, type LogLevel } from '../logger';
import { VERSION } from '../server/server';
import { registerBench } from './bench-command';
import { registerLog } from './log-command';
import { DirLockedError } from '../store/dir-lock';

const program = new Command();
program.name('warren').description('Warren: an AMQP 0-9-1 broker on a segmented log').version(VERSION);

program.command('start')
  .description('run the broker')
  .option('-p, --port <port>', 'AMQP port (0 picks a free one)', '5672')
  .option('--http-port <port>', 'HTTP management port', '15672')
  .option('--stream-port <port>', 'RabbitMQ Stream protocol port (0: no Stream listener)', '5552')
  .option('--host <address>', 'listen address (default: all IPv4 and IPv6 addresses)')
  .option('-d, --data-dir <dir>', 'data directory', './data')
  .option('--heartbeat <seconds>', 'heartbeat interval proposed to clients', '60')
  .option('--consumer-timeout <ms>', 'close a channel whose oldest unacked delivery is older than this (0: never)', '1800000')
  .option('--disk-free-limit <bytes>', 'block publishers when free disk space falls below this', '50000000')
  .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warning', 'error', 'none']).default('info'))
  .action(async (o: { port: string; httpPort: string; streamPort: string; host?: string; dataDir: string; heartbeat: string; consumerTimeout: string; diskFreeLimit: string; logLevel: LogLevel }) => {
    setLogLevel(o.logLevel);
    const app = await startApp({ port: Number(o.port), httpPort: Number(o.httpPort), host: o.host, dataDir: o.dataDir, heartbeat: Number(o.heartbeat), consumerTimeoutMs: parseConsumerTimeout(o.consumerTimeout), diskFreeLimitBytes: Number(o.diskFreeLimit), streamPort: Number(o.streamPort) });
    // Tests and scripts read the port from this line.
    process.stdout.write(`warren ready amqp_port=${app.port}${app.streamPort > 0 ? ` stream_port=${app.streamPort}` : ''}\n`);
    process.stdout.write(`warren http_port=${app.httpPort}\n`);
    let signalled = false;
    const onSignal = (sig: string) => {
      if (signalled) return;
      signalled = true;
      log.info(`received ${sig}`);
      app.stop().then(() => process.exit(0), (e) => { log.error(`shutdown failed: ${e}`); process.exit(1); });
    };
    process.on('SIGTERM', () => onSignal('SIGTERM'));
    process.on('SIGINT', () => onSignal('SIGINT'));
  });

registerBench(program);
registerLog(program);

function parseConsumerTimeout(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--consumer-timeout: expected milliseconds (a non-negative integer), got '${v}'`);
  return n;
}

program.parseAsync(process.argv).catch((e) => {
  // an expected refusal is one line; anything else gets its stack
  log.error(e instanceof DirLockedError ? e.message : e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
