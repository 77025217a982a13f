// Start a Warren broker for the bench (`warren bench --start-broker`): a child process on a free
// port with a temporary data directory, stopped with SIGTERM afterwards.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './runner';
import { BROKER_ENV, BROKER_NODE_FLAGS } from '../../cli/node-flags';

export interface StartedBroker {
  url: string;
  port: number;
  /** the management HTTP port (0 if the broker did not print it) */
  httpPort: number;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startWarren(opts: { dataDir?: string; logLevel?: string; nodeArgs?: string[]; stopTimeoutMs?: number; readyTimeoutMs?: number; streamPort?: number } = {}): Promise<StartedBroker> {
  const main = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} not found: run npm run build`);
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'warren-bench-'));
  const proc = spawn(process.execPath, [...BROKER_NODE_FLAGS, ...(opts.nodeArgs ?? []), main, 'start', '--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--stream-port', String(opts.streamPort ?? 0),
    '--data-dir', dataDir, '--log-level', opts.logLevel ?? 'warning'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...BROKER_ENV } });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  let httpPort = 0;
  let out = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (s: string) => {
    if (httpPort !== 0 || out.length > 65536) return;
    out += s;
    const h = /warren http_port=(\d+)/.exec(out);
    if (h) httpPort = Number(h[1]);
  });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    const readyMs = opts.readyTimeoutMs ?? 60000;
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`warren did not print "warren ready" within ${readyMs / 1000} s`)); }, readyMs);
    proc.stdout!.on('data', (s: string) => {
      seen += s;
      const m = /warren ready amqp_port=(\d+)/.exec(seen);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`warren exited with code ${code} before it was ready`)); });
  });
  proc.stdout!.resume();
  let stopped: Promise<void> | null = null;
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    port,
    get httpPort() { return httpPort; },
    pid: proc.pid!,
    dataDir,
    stop() {
      stopped ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGTERM');
          const t = setTimeout(() => proc.kill('SIGKILL'), opts.stopTimeoutMs ?? 15000);
          await exited;
          clearTimeout(t);
        }
        if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
