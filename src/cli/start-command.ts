// `warren start`: options from flags, environment and config file (options.ts), checks that
// need no broker (values, the definitions file, free ports) before anything is opened, then the
// broker. A failure to start is one line on stderr and a non-zero exit: 2 for a bad option, 1
// for anything else (a port in use, a data directory that cannot be opened, definitions refused).
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Command } from 'commander';
import { type App, startApp } from '../app';
import { log, setLogLevel } from '../logger';
import { listenOnDefault } from '../server/listen';
import { OptionError, START_OPTIONS, configFileValues, resolveStartOptions } from './options';
import { type StartSecurityFlags, addSecurityOptions, securityOptions } from './security-options';
import { CLUSTER_KEYS, type ClusterFlags, addClusterOptions, clusterOptions } from './cluster-options';
import { ClusterNode } from '../cluster/node';

export class StartupError extends Error {}

export function registerStart(program: Command): void {
  const cmd = program.command('start').description('run the broker');
  for (const o of START_OPTIONS) {
    const flags = `${o.short ? `${o.short}, ` : ''}--${o.key} ${o.arg}`;
    cmd.option(flags, `${o.help}${o.default !== undefined ? ` (default: ${o.default})` : ''}; env ${'WARREN_' + o.key.toUpperCase().replace(/-/g, '_')}`);
  }
  addSecurityOptions(cmd);
  addClusterOptions(cmd);
  cmd.option('--config <file>', 'read options from a file (JSON or "key = value" lines, keys as the flags); env WARREN_CONFIG');
  cmd.action(async (flags: Record<string, string | undefined>) => {
    try {
      await start(flags);
    } catch (e) {
      if (e instanceof OptionError) fail(e.message, 2);
      if (e instanceof StartupError) fail(e.message, 1);
      fail(e instanceof Error ? e.message : String(e), 1);
    }
  });
}

function fail(message: string, code: number): never {
  process.stderr.write(`warren: ${message}\n`);
  process.exit(code);
}

async function start(flags: Record<string, string | undefined>): Promise<void> {
  const o = resolveStartOptions(flags, process.env, flags.config, CLUSTER_KEYS);
  let security;
  try {
    security = securityOptions(flags as StartSecurityFlags);
  } catch (e) {
    throw new OptionError((e as Error).message);
  }
  const cluster = clusterOptions(flags as ClusterFlags, process.env, o.dataDir, configFileValues(process.env, flags.config));
  // A follower listens on these ports to forward clients, and becomes their server when it leads.
  if (cluster !== null && (o.port === 0 || o.httpPort === 0)) throw new OptionError('--cluster needs a fixed --port and --http-port (not 0)');
  if (cluster !== null && (security.tls?.port === 0 || security.httpTls?.port === 0)) throw new OptionError('--cluster needs a fixed --tls-port and --http-tls-port (not 0)');
  setLogLevel(o.logLevel);
  let definitions: unknown;
  if (o.definitions !== undefined) {
    try {
      definitions = JSON.parse(fs.readFileSync(o.definitions, 'utf8'));
    } catch (e) {
      throw new StartupError(`--definitions ${o.definitions}: ${e instanceof SyntaxError ? `invalid JSON: ${e.message}` : (e as Error).message}`);
    }
    if (definitions === null || typeof definitions !== 'object' || Array.isArray(definitions)) {
      throw new StartupError(`--definitions ${o.definitions}: expected a JSON object`);
    }
  }
  await probePort('AMQP', o.host, o.port);
  await probePort('HTTP', o.host, o.httpPort);
  if (o.streamPort !== 0) await probePort('Stream', o.host, o.streamPort);
  if (o.port !== 0 && o.port === o.httpPort) throw new OptionError(`--port and --http-port are both ${o.port}`);
  if (o.streamPort !== 0 && (o.streamPort === o.port || o.streamPort === o.httpPort)) throw new OptionError(`--stream-port ${o.streamPort} is also --port or --http-port`);
  const launch = () => startApp({
    port: o.port, httpPort: o.httpPort, host: o.host, dataDir: o.dataDir, heartbeat: o.heartbeat,
    consumerTimeoutMs: o.consumerTimeoutMs, diskFreeLimitBytes: o.diskFreeLimitBytes, streamPort: o.streamPort,
    definitions: definitions as Record<string, unknown> | undefined, definitionsSource: o.definitions, ...security,
  }).catch((e: unknown) => { throw new StartupError(describeStartError(e)); });
  if (cluster !== null) {
    // A cluster node serves clients only while it leads (docs/clustering.md).
    let leading: App | null = null;
    const node = new ClusterNode({ ...cluster, listen: {
      host: o.host, amqp: o.port, http: o.httpPort, stream: o.streamPort, amqps: security.tls?.port, https: security.httpTls?.port,
      streamTls: security.streamTls?.port,
    } }, async () => {
      const app = await launch().catch((e: Error) => fail(`cannot lead: ${e.message}`, 1));
      announce(app);
      leading = app;
      return app;
    });
    process.on('SIGHUP', () => reloadTls(leading, node));
    await node.start().catch((e: Error) => { throw new StartupError(`cannot join the cluster: ${e.message}`); });
    onStopSignals(() => node.shutdown());
    return;
  }
  const app = await launch();
  announce(app);
  process.on('SIGHUP', () => reloadTls(app));
  onStopSignals(() => app.stop());
}

function announce(app: App): void {
  // Tests and scripts read the ports from these lines.
  process.stdout.write(`warren ready amqp_port=${app.port}${app.tlsPort !== null ? ` amqps_port=${app.tlsPort}` : ''}` +
    `${app.streamPort > 0 ? ` stream_port=${app.streamPort}` : ''}${app.streamTlsPort !== null ? ` stream_tls_port=${app.streamTlsPort}` : ''}\n`);
  process.stdout.write(`warren http_port=${app.httpPort}${app.httpTlsPort !== null ? ` https_port=${app.httpTlsPort}` : ''}\n`);
}

function reloadTls(app: App | null, node: ClusterNode | null = null): void {
  const done: string[] = [];
  try {
    if (app !== null) {
      app.reloadTls();
      done.push('TLS certificate, key and CA files reloaded');
    }
    if (node !== null && node.reloadTls()) done.push('replication stream certificate and key reloaded');
    if (done.length > 0) log.info(`received SIGHUP: ${done.join('; ')}`);
  } catch (e) {
    log.error(`received SIGHUP: ${done.length > 0 ? `${done.join('; ')}, but ` : ''}TLS files not reloaded, the old ones stay in use: ${(e as Error).message}`);
  }
}

function onStopSignals(stop: () => Promise<void>): void {
  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = true;
    log.info(`received ${sig}`);
    stop().then(() => process.exit(0), (e) => { log.error(`shutdown failed: ${e}`); process.exit(1); });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
}

function describeStartError(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { listener?: string };
  if (err?.code === 'EADDRINUSE') return `cannot start the ${err.listener ?? ''} listener: port ${(err as { port?: number }).port ?? ''} is already in use`.replace('  ', ' ');
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return `${err.message} (permission denied)`;
  return err instanceof Error ? err.message : String(e);
}

// Binds and releases the port, so that a port in use is reported before the data directory is
// opened. (A race with another process remains; the listener then fails with the same text.)
async function probePort(listener: string, host: string | undefined, port: number): Promise<void> {
  try {
    await listenOnDefault(host, port, (h, p) => new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen({ host: h, port: p, ipv6Only: false, exclusive: true }, () => srv.close(() => resolve(p)));
    }));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new StartupError(`cannot start the ${listener} listener: port ${port} is already in use`);
    if (code === 'EACCES') throw new StartupError(`cannot start the ${listener} listener: no permission to listen on port ${port}`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      throw new OptionError(`invalid value '${host}' for --host: the ${listener} listener cannot listen on that address (${code})`);
    }
    throw new StartupError(`cannot start the ${listener} listener on port ${port}: ${(e as Error).message}`);
  }
}
