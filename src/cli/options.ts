// `warren start` options from three places, with this precedence: command-line flags, then
// WARREN_* environment variables, then a config file (--config FILE or WARREN_CONFIG), then
// defaults. The file uses the flags' names as keys, either as JSON ({"port": 5673}) or as
// "key = value" lines (# starts a comment), like rabbitmq.conf.
//
// Every value is checked here, before the broker opens anything; a bad one is reported as one
// line naming the option and where it came from.
import * as fs from 'node:fs';
import type { LogLevel } from '../logger';

export class OptionError extends Error {}

type Kind = 'port' | 'uint' | 'string' | 'level' | 'file';

export interface OptionSpec {
  key: string;            // the flag without dashes: "http-port"
  kind: Kind;
  help: string;
  default?: string;
  short?: string;         // "-p"
  arg: string;            // "<port>"
}

export const START_OPTIONS: OptionSpec[] = [
  { key: 'port', short: '-p', arg: '<port>', kind: 'port', default: '5672', help: 'AMQP port (0 picks a free one)' },
  { key: 'http-port', arg: '<port>', kind: 'port', default: '15672', help: 'HTTP management port (0 picks a free one)' },
  { key: 'stream-port', arg: '<port>', kind: 'port', default: '5552', help: 'RabbitMQ Stream protocol port (0: no Stream listener)' },
  { key: 'host', arg: '<address>', kind: 'string', help: 'listen address (default: all IPv4 and IPv6 addresses)' },
  { key: 'data-dir', short: '-d', arg: '<dir>', kind: 'string', default: './data', help: 'data directory' },
  { key: 'heartbeat', arg: '<seconds>', kind: 'uint', default: '60', help: 'heartbeat interval proposed to clients' },
  { key: 'consumer-timeout', arg: '<ms>', kind: 'uint', default: '1800000', help: 'close a channel whose oldest unacked delivery is older than this (0: never)' },
  { key: 'disk-free-limit', arg: '<bytes>', kind: 'uint', default: '50000000', help: 'block publishers when free disk space falls below this' },
  { key: 'log-level', arg: '<level>', kind: 'level', default: 'info', help: 'log level: debug, info, warning, error, none' },
  { key: 'definitions', arg: '<file>', kind: 'file', help: 'definitions (JSON, as exported by RabbitMQ or Warren) to import at start' },
];

export interface StartOptions {
  port: number;
  httpPort: number;
  /** 0: no Stream listener */
  streamPort: number;
  host?: string;
  dataDir: string;
  heartbeat: number;
  consumerTimeoutMs: number;
  diskFreeLimitBytes: number;
  logLevel: LogLevel;
  definitions?: string;
}

export const envName = (key: string) => `WARREN_${key.toUpperCase().replace(/-/g, '_')}`;

type Source = 'the command line' | 'the environment' | 'the config file' | 'the default';

/** The config file's values (--config FILE, else WARREN_CONFIG, else none). */
export function configFileValues(env: NodeJS.ProcessEnv, configPath?: string): Record<string, string> {
  return configPath !== undefined ? readConfigFile(configPath) : env.WARREN_CONFIG ? readConfigFile(env.WARREN_CONFIG) : {};
}

/**
 * `otherKeys`: keys of the file that other option groups read (the cluster's), so that they
 * are not refused as unknown here.
 */
export function resolveStartOptions(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv, configPath?: string, otherKeys: readonly string[] = []): StartOptions {
  const file = configFileValues(env, configPath);
  const known = new Set([...START_OPTIONS.map((o) => o.key), ...otherKeys]);
  for (const k of Object.keys(file)) {
    if (!known.has(k)) throw new OptionError(`unknown option '${k}' in config file ${configPath ?? env.WARREN_CONFIG}`);
  }
  const values: Record<string, unknown> = {};
  for (const o of START_OPTIONS) {
    const camel = o.key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    let raw: string | undefined;
    let from: Source;
    if (flags[camel] !== undefined) { raw = flags[camel]; from = 'the command line'; }
    else if (env[envName(o.key)] !== undefined) { raw = env[envName(o.key)]; from = 'the environment'; }
    else if (file[o.key] !== undefined) { raw = file[o.key]; from = 'the config file'; }
    else { raw = o.default; from = 'the default'; }
    if (raw === undefined) continue;
    values[camel] = check(o, raw, from);
  }
  return {
    port: values.port as number,
    httpPort: values.httpPort as number,
    streamPort: values.streamPort as number,
    host: values.host as string | undefined,
    dataDir: values.dataDir as string,
    heartbeat: values.heartbeat as number,
    consumerTimeoutMs: values.consumerTimeout as number,
    diskFreeLimitBytes: values.diskFreeLimit as number,
    logLevel: values.logLevel as LogLevel,
    definitions: values.definitions as string | undefined,
  };
}

function where(o: OptionSpec, from: Source): string {
  if (from === 'the environment') return `${envName(o.key)} (from the environment)`;
  if (from === 'the config file') return `'${o.key}' (from the config file)`;
  return `--${o.key}`;
}

function check(o: OptionSpec, raw: string, from: Source): unknown {
  const bad = (expected: string) => new OptionError(`invalid value '${raw}' for ${where(o, from)}: expected ${expected}`);
  const v = raw.trim();
  switch (o.kind) {
    case 'port': {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw bad('a port number from 0 to 65535');
      return Number(v);
    }
    case 'uint': {
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw bad('a non-negative integer');
      return Number(v);
    }
    case 'level': {
      if (!['debug', 'info', 'warning', 'error', 'none'].includes(v)) throw bad('one of debug, info, warning, error, none');
      return v;
    }
    case 'file': {
      if (v === '' || !fs.existsSync(v)) throw new OptionError(`${where(o, from)}: no such file '${raw}'`);
      return v;
    }
    default:
      if (v === '') throw bad('a non-empty value');
      return v;
  }
}

export function readConfigFile(p: string): Record<string, string> {
  let text: string;
  try { text = fs.readFileSync(p, 'utf8'); } catch (e) {
    throw new OptionError(`cannot read config file ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const out: Record<string, string> = {};
  if (text.trimStart().startsWith('{')) {
    let o: unknown;
    try { o = JSON.parse(text); } catch (e) { throw new OptionError(`config file ${p}: invalid JSON: ${(e as Error).message}`); }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new OptionError(`config file ${p}: expected a JSON object`);
    for (const [k, v] of Object.entries(o as Record<string, unknown>)) {
      if (v === null || typeof v === 'object') throw new OptionError(`config file ${p}: '${k}' must be a string or a number`);
      out[k] = String(v);
    }
    return out;
  }
  text.split('\n').forEach((line, i) => {
    const s = line.replace(/#.*$/, '').trim();
    if (s === '') return;
    const m = /^([A-Za-z0-9_.-]+)\s*=\s*(.*)$/.exec(s);
    if (!m) throw new OptionError(`config file ${p}, line ${i + 1}: expected "key = value"`);
    out[m[1]] = m[2].trim();
  });
  return out;
}
