// Starts a real Warren broker as a child process on a free port with a temporary data
// directory, for integration tests over TCP.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BROKER_ENV } from '../../src/cli/node-flags';
import { freePort } from '../../src/loadgen/free-port';

/** A port nothing listens on right now. */
export { freePort };

export const ROOT = path.resolve(__dirname, '..', '..');
export const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface RunningBroker {
  port: number;
  /** the Stream protocol port (0 unless started with stream: true) */
  streamPort: number;
  httpPort: number;
  tlsPort?: number;       // with --tls-port
  httpsPort?: number;     // with --http-tls-port
  streamTlsPort?: number; // with --stream-tls-port
  url: string;
  dataDir: string;
  proc: ChildProcess;
  logs: string[];
  stop(): Promise<number | null>;
  kill(): Promise<void>;
}


export function tempDir(prefix = 'warren-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startBroker(opts: { dataDir?: string; extraArgs?: string[]; logLevel?: string; nodeArgs?: string[]; env?: Record<string, string>; stream?: boolean | number } = {}): Promise<RunningBroker> {
  const dataDir = opts.dataDir ?? tempDir();
  // the Stream listener only for the tests that ask (a fixed port: restarts keep it)
  const streamPort = opts.stream === undefined || opts.stream === false ? 0 : opts.stream === true ? await freePort() : opts.stream;
  // As the warren command runs it: the same glibc settings (src/cli/node-flags.ts).
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), MAIN, 'start', '--port', '0', '--http-port', '0', '--host', '127.0.0.1', '--data-dir', dataDir,
    '--log-level', opts.logLevel ?? 'info', '--stream-port', String(streamPort), ...(opts.extraArgs ?? [])], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...BROKER_ENV, ...(opts.env ?? {}) } });
  const logs: string[] = [];
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (s: string) => { logs.push(...s.split('\n').filter(Boolean)); });
  let tlsPort: number | undefined;
  let httpsPort: number | undefined;
  let streamTlsPort: number | undefined;
  const [port, httpPort] = await new Promise<[number, number]>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start: ${logs.join('\n')}`)), 20000);
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => {
      out += s;
      const m = /warren ready amqp_port=(\d+)/.exec(out);
      const h = /warren http_port=(\d+)/.exec(out);
      if (m && h) {
        clearTimeout(timer);
        const tp = / amqps_port=(\d+)/.exec(out);
        const hp = / https_port=(\d+)/.exec(out);
        if (tp) tlsPort = Number(tp[1]);
        if (hp) httpsPort = Number(hp[1]);
        const sp = / stream_tls_port=(\d+)/.exec(out);
        if (sp) streamTlsPort = Number(sp[1]);
        resolve([Number(m[1]), Number(h[1])]);
      }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`broker exited with ${code}: ${logs.join('\n')}`)); });
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    port, httpPort, streamPort, tlsPort, httpsPort, streamTlsPort, dataDir, proc, logs,
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
